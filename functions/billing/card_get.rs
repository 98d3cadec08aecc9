//! `POST /card/get` (admin or owner) with `{id}`: one card of the caller's account.

use cardvault::deps::{Deps, SecretsManager, Unwired};
use cardvault::dialect::embedthis::{self, CardJson, IdRequest};
use cardvault::domain::Role;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// What this function is built from: the table, and only these (an unwired port's client
/// is neither built nor linked).
struct Uses;
impl Deps for Uses {
    type Gateway = Unwired;
    type Keys = Unwired;
    type Secrets = SecretsManager;
    type Captcha = Unwired;
}
type App = cardvault::App<Uses>;

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
