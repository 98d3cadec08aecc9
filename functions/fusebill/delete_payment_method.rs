//! `DELETE /v1/paymentMethods/{id}/creditCard`: deletes a card; 204 on success.

use cardvault::deps::{Deps, SecretsManager, Stripe, Unwired};
use cardvault::dialect::fusebill;
use cardvault::domain::PaymentMethodId;
use cardvault::{http, Caller, Error};
use lambda_http::Request;

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
        Caller::Merchant,
        fusebill::render_error,
        |app, req| async move {
            match delete(app, &req).await {
                Ok(()) => cardvault::dialect::no_content(),
                Err(e) => fusebill::render_error(&e),
            }
        },
    )
    .await
}

async fn delete(app: &App, req: &Request) -> Result<(), Error> {
    let tenant = app.merchant(req).await?;
    let raw = http::path_param(req, "id").unwrap_or_default();
    let id = PaymentMethodId::parse(raw).ok_or_else(|| Error::not_found("Payment method", raw))?;
    app.vault.delete_card(&tenant, id).await
}
