//! `POST /v1/customers`: creates a customer of the caller's tenant.

use cardvault::deps::{Deps, Unwired};
use cardvault::dialect::fusebill::{self, CustomerJson, CustomerRequest};
use cardvault::{Caller, Error};
use lambda_http::{http::StatusCode, Request};

/// What this function is built from: the table, and only these (an unwired port's client
/// is neither built nor linked).
struct Uses;
impl Deps for Uses {
    type Gateway = Unwired;
    type Keys = Unwired;
    type Secrets = Unwired;
    type Captcha = Unwired;
}
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
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
