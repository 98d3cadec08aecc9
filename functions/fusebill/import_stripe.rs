//! `POST /v1/paymentMethodImport/Stripe`: imports a card or bank account from a Stripe
//! customer of the tenant's own Stripe account (its own secret key).

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::fusebill::{self, ImportRequestJson, PaymentMethodJson};
use cardvault::vault::StripeRoute;
use cardvault::{caller, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table, Stripe and Secrets Manager: no other port's client is built or
/// linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Stripe, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        caller::Merchant,
        fusebill::render_error,
        |app, req| async move { fusebill::render(import(app, &req).await) },
    )
    .await
}

async fn import(app: &App, req: &Request) -> Result<(StatusCode, PaymentMethodJson), Error> {
    let tenant = app.merchant(req).await?;
    let request = fusebill::json_body::<ImportRequestJson>(req)?.parse()?;
    let imported = app
        .vault
        .import_card(&tenant, StripeRoute::OwnKey, request)
        .await?;
    Ok((StatusCode::OK, imported.into()))
}
