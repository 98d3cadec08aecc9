//! `GET /v1/customers/{id}/paymentMethods/creditCard`: a customer's cards, newest first,
//! paged with `pageSize` and `pageNumber`; `X-Total-Count` carries the total.

use cardvault::deps::{KeyRings, SecretsManager, Unwired, Uses};
use cardvault::dialect::fusebill::{self, PaymentMethodJson};
use cardvault::domain::CustomerId;
use cardvault::{http, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table, the key rings (no KMS) and Secrets Manager: no other port's client
/// is built or linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless
/// named).
type App = cardvault::App<Uses<Unwired, KeyRings<Unwired>, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move {
        match list(app, &req).await {
            Ok((cards, total)) => {
                let mut resp = fusebill::render(Ok((StatusCode::OK, cards)));
                resp.headers_mut().insert("X-Total-Count", total.into());
                resp
            }
            Err(e) => fusebill::render_error(&e),
        }
    })
    .await
}

async fn list(app: &App, req: &Request) -> Result<(Vec<PaymentMethodJson>, usize), Error> {
    let tenant = app.merchant(req).await?;
    let raw = http::path_param(req, "id").unwrap_or_default();
    let customer = CustomerId::parse(raw).ok_or_else(|| Error::not_found("Customer", raw))?;
    let page = fusebill::page(req)?;
    let (cards, total) = app.vault.list_cards(&tenant, customer, page).await?;
    Ok((cards.into_iter().map(Into::into).collect(), total))
}
