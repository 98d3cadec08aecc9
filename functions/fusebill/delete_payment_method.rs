//! `DELETE /v1/paymentMethods/{id}/creditCard`: deletes a card; 204 on success.

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::fusebill;
use cardvault::domain::PaymentMethodId;
use cardvault::{caller, http, Error};
use lambda_http::Request;

/// Built from the table, Stripe and Secrets Manager: no other port's client is built or
/// linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Stripe, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        caller::Merchant,
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
