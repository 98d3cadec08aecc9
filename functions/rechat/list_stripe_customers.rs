//! `GET /payments/stripe/customers` (user API, Rechat style): the signed-in user's own Stripe
//! customers, oldest first, paged with `start` and `limit`; `info` has `count` and `total`.

use cardvault::deps::{SecretsManager, Unwired, Uses};
use cardvault::dialect::rechat::{self, Data, StripeCustomerJson};
use cardvault::Error;
use lambda_http::{http::StatusCode, Request};

/// Built from the table and Secrets Manager: no other port's client is built or linked
/// (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Unwired, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { rechat::render(list(app, &req).await) }).await
}

async fn list(
    app: &App,
    req: &Request,
) -> Result<(StatusCode, Data<Vec<StripeCustomerJson>>), Error> {
    let user = app.user(req).await?;
    let page = rechat::page(req)?;
    let (links, total) = app.vault.list_stripe_customers(&user, page).await?;
    Ok((
        StatusCode::OK,
        rechat::list(links.into_iter().map(Into::into).collect(), total),
    ))
}
