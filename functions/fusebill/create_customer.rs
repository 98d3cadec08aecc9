//! `POST /v1/customers`: creates a customer of the caller's tenant.

use cardvault::deps::Uses;
use cardvault::dialect::fusebill::{self, CustomerJson, CustomerRequest};
use cardvault::{caller, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        caller::Merchant,
        fusebill::render_error,
        |app, req| async move { fusebill::render(create(app, &req).await) },
    )
    .await
}

async fn create(app: &App, req: &Request) -> Result<(StatusCode, CustomerJson), Error> {
    let tenant = app.merchant(req).await?;
    let details = fusebill::json_body::<CustomerRequest>(req)?.parse()?;
    let customer = app.vault.create_customer(&tenant, details).await?;
    Ok((StatusCode::OK, customer.into()))
}
