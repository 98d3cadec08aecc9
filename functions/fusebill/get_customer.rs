//! `GET /v1/customers/{id}`: one customer of the caller's tenant.

use cardvault::deps::Uses;
use cardvault::dialect::fusebill::{self, CustomerJson};
use cardvault::domain::CustomerId;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { fusebill::render(get(app, &req).await) }).await
}

async fn get(app: &App, req: &Request) -> Result<(StatusCode, CustomerJson), Error> {
    let tenant = app.merchant(req).await?;
    let raw = http::path_param(req, "id").unwrap_or_default();
    // A malformed id can name no customer: the same 404 as an absent one.
    let id = CustomerId::parse(raw).ok_or_else(|| Error::not_found("Customer", raw))?;
    let customer = app.vault.customer(&tenant, id).await?;
    Ok((StatusCode::OK, customer.into()))
}
