//! `POST /card/create` (owner): attaches a Stripe token's card to the owner's account and
//! keeps the last four digits of its number.

use cardvault::deps::{Deps, SecretsManager, Stripe, Unwired};
use cardvault::dialect::embedthis::{self, CardJson, CreateRequest};
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
        |app, req| async move { embedthis::render(create(app, &req).await) },
    )
    .await
}

async fn create(app: &App, req: &Request) -> Result<(StatusCode, CardJson), Error> {
    let user = app.user(req).await?;
    let account = app.vault.account_with_role(&user, Role::Owner).await?;
    let new = http::json_body::<CreateRequest>(req)?.parse(app.vault.today())?;
    let card = app
        .vault
        .attach_token_card(&user.tenant, account, new)
        .await?;
    Ok((StatusCode::OK, card.into()))
}
