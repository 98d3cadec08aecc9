//! `POST /card/remove` (owner) with `{id}`: detaches the card from Stripe and removes it;
//! if it was current, the newest other card becomes current.

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::embedthis::{self, CardJson, IdRequest};
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
        |app, req| async move { embedthis::render(remove(app, &req).await) },
    )
    .await
}

async fn remove(app: &App, req: &Request) -> Result<(StatusCode, CardJson), Error> {
    let user = app.user(req).await?;
    let account = app.vault.account_with_role(&user, Role::Owner).await?;
    let id = http::json_body::<IdRequest>(req)?.id()?;
    let card = app
        .vault
        .remove_account_card(&user.tenant, account, id)
        .await?;
    Ok((StatusCode::OK, card.into()))
}
