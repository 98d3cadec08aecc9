//! `POST /card/getStripe` (admin or owner): the Stripe settings a UI needs to tokenize cards (the
//! publishable key and the connected account), never a secret key.

use cardvault::deps::{Deps, SecretsManager, Unwired};
use cardvault::dialect::embedthis::{self, StripeConfigJson};
use cardvault::domain::Role;
use cardvault::Error;
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
    App::serve(|app, req| async move { embedthis::render(config(app, &req).await) }).await
}

async fn config(app: &App, req: &Request) -> Result<(StatusCode, StripeConfigJson), Error> {
    let user = app.user(req).await?;
    app.vault.account_with_role(&user, Role::Admin).await?;
    let config = app.vault.stripe_config(&user.tenant).await?;
    Ok((StatusCode::OK, config.into()))
}
