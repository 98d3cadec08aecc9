//! `POST /card/getStripe` (admin or owner): the Stripe settings a UI needs to tokenize cards (the
//! publishable key and the connected account), never a secret key.

use cardvault::deps::{SecretsManager, Unwired, Uses};
use cardvault::dialect::embedthis::{self, StripeConfigJson};
use cardvault::domain::Role;
use cardvault::Error;
use lambda_http::{http::StatusCode, Request};

/// Built from the table and Secrets Manager: no other port's client is built or linked
/// (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Unwired, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { embedthis::render(config(app, &req).await) }).await
}

async fn config(app: &App, req: &Request) -> Result<(StatusCode, StripeConfigJson), Error> {
    let user = app.user(req).await?;
    app.vault.account_with_role(&user, Role::Admin).await?;
    let config = app.vault.stripe_config(&user.tenant).await?;
    Ok((StatusCode::OK, config.into()))
}
