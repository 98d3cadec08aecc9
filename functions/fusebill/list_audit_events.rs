//! `GET /v1/customers/{id}/auditEvents`: one customer's audit events, newest first, a page
//! at a time (`limit`, and `before` from the last page's `nextBefore`). Another tenant's
//! customer answers exactly like a missing one.

use cardvault::deps::Uses;
use cardvault::dialect::fusebill::{
    self,
    audit::{audit_page, AuditEventsJson},
};
use cardvault::domain::CustomerId;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { fusebill::render(list(app, &req).await) }).await
}

async fn list(app: &App, req: &Request) -> Result<(StatusCode, AuditEventsJson), Error> {
    let tenant = app.merchant(req).await?;
    let raw = http::path_param(req, "id").unwrap_or_default();
    let customer = CustomerId::parse(raw).ok_or_else(|| Error::not_found("Customer", raw))?;
    let page = audit_page(req)?;
    let events = app
        .vault
        .customer_audit_events(&tenant, customer, page.before, page.limit)
        .await?;
    Ok((StatusCode::OK, AuditEventsJson::page(events, page.limit)))
}
