//! `POST /payments/stripe/customers` (user API, Rechat style): `{"token": "tok_…"}` becomes a
//! Stripe customer of the signed-in user, and its card a payment method of the user's
//! vault customer.

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::rechat::{self, CreateStripeCustomerRequest, Data, StripeCustomerJson};
use cardvault::{caller, http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table, Stripe and Secrets Manager: no other port's client is built or
/// linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Stripe, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(caller::User, rechat::render_error, |app, req| async move {
        rechat::render(create(app, &req).await)
    })
    .await
}

async fn create(app: &App, req: &Request) -> Result<(StatusCode, Data<StripeCustomerJson>), Error> {
    let user = app.user(req).await?;
    let token = http::json_body::<CreateStripeCustomerRequest>(req)?.parse()?;
    let link = app.vault.create_stripe_customer(&user, token).await?;
    Ok((StatusCode::OK, rechat::data(link.into())))
}
