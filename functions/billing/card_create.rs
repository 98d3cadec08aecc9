//! `POST /card/create` (owner): attaches a Stripe token's card to the owner's account and
//! keeps the last four digits of its number.

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::embedthis::{self, CardJson, CreateRequest};
use cardvault::domain::Role;
use cardvault::{caller, http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table, Stripe and Secrets Manager: no other port's client is built or
/// linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Stripe, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        caller::User,
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
