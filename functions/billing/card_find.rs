//! `POST /card/find` (admin): the tenant's cards, newest first, paged with `limit` and
//! signed `next`/`prev` cursors in the query string.

use cardvault::dialect::embedthis::{self, PageJson};
use cardvault::{App, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve(|app, req| async move { embedthis::render(find(app, &req).await) }).await
}

async fn find(app: &App, req: &Request) -> Result<(StatusCode, PageJson), Error> {
    let user = app.user(req).await?;
    user.require_admin()?;
    let (limit, from) = embedthis::find_options(req)?;
    let page = app.vault.find_cards(&user.tenant, limit, from).await?;
    Ok((StatusCode::OK, page.into()))
}
