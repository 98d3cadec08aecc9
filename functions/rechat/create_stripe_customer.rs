//! `POST /payments/stripe/customers` (user API, Rechat style): `{"token": "tok_…"}` becomes a
//! Stripe customer of the signed-in user, and its card a payment method of the user's
//! vault customer.

use cardvault::deps::{Deps, SecretsManager, Stripe, Unwired};
use cardvault::dialect::rechat::{self, CreateStripeCustomerRequest, Data, StripeCustomerJson};
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
    App::serve_write(Caller::User, rechat::render_error, |app, req| async move {
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
