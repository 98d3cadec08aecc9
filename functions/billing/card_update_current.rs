//! `POST /card/updateCurrent` (owner) with `{id, current}`: one current card per account,
//! set in one transaction; Stripe's default source follows.

use cardvault::deps::{Deps, SecretsManager, Stripe, Unwired};
use cardvault::dialect::embedthis::{self, CardJson, IdRequest};
use cardvault::domain::Role;
use cardvault::{http, Caller, Error};
use lambda_http::{http::StatusCode, Request};

/// What this function is built from: the table, and only these (an unwired port's client
/// is neither built nor linked).
struct Uses;
impl Deps for Uses {
    type Gateway = Stripe;
    type Keys = Unwired;
    type Secrets = SecretsManager;
    type Captcha = Unwired;
}
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        Caller::User,
        embedthis::render_error,
        |app, req| async move { embedthis::render(update(app, &req).await) },
    )
    .await
}

async fn update(app: &App, req: &Request) -> Result<(StatusCode, CardJson), Error> {
    let user = app.user(req).await?;
    let account = app.vault.account_with_role(&user, Role::Owner).await?;
    let body = http::json_body::<IdRequest>(req)?;
    let card = app
        .vault
        .set_current(&user.tenant, account, body.id()?, body.current())
        .await?;
    Ok((StatusCode::OK, card.into()))
}
