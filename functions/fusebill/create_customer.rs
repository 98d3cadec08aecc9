//! `POST /v1/customers`: creates a customer of the caller's tenant.

use cardvault::dialect::fusebill::{self, CustomerJson, CustomerRequest};
use cardvault::{App, Caller, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve_write(
        Caller::Merchant,
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
