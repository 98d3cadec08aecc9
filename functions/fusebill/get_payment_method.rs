//! `GET /v1/paymentMethods/{id}`: one payment method of the caller's tenant.

use cardvault::deps::Uses;
use cardvault::dialect::fusebill::{self, PaymentMethodJson};
use cardvault::domain::PaymentMethodId;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { fusebill::render(get(app, &req).await) }).await
}

async fn get(app: &App, req: &Request) -> Result<(StatusCode, PaymentMethodJson), Error> {
    let tenant = app.merchant(req).await?;
    let raw = http::path_param(req, "id").unwrap_or_default();
    let id = PaymentMethodId::parse(raw).ok_or_else(|| Error::not_found("Payment method", raw))?;
    let view = app.vault.payment_method(&tenant, id).await?;
    Ok((StatusCode::OK, view.into()))
}
