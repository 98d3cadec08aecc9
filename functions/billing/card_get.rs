//! `POST /card/get` (admin) with `{id}`: one card of the tenant.

use cardvault::dialect::embedthis::{self, CardJson, IdRequest};
use cardvault::{http, App, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve(|app, req| async move { embedthis::render(get(app, &req).await) }).await
}

async fn get(app: &App, req: &Request) -> Result<(StatusCode, CardJson), Error> {
    let user = app.user(req).await?;
    user.require_admin()?;
    let id = http::json_body::<IdRequest>(req)?.id()?;
    let card = app.vault.card(&user.tenant, id).await?;
    Ok((StatusCode::OK, card.into()))
}
