//! `POST /card/get` (admin or owner) with `{id}`: one card of the caller's account.

use cardvault::deps::{SecretsManager, Unwired, Uses};
use cardvault::dialect::embedthis::{self, CardJson, IdRequest};
use cardvault::domain::Role;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table and Secrets Manager: no other port's client is built or linked
/// (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Unwired, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { embedthis::render(get(app, &req).await) }).await
}

async fn get(app: &App, req: &Request) -> Result<(StatusCode, CardJson), Error> {
    let user = app.user(req).await?;
    let account = app.vault.account_with_role(&user, Role::Admin).await?;
    let id = http::json_body::<IdRequest>(req)?.id()?;
    let card = app
        .vault
        .account_card_view(&user.tenant, account, id)
        .await?;
    Ok((StatusCode::OK, card.into()))
}
