//! `PUT /v1/customerbillingsetting` with `{id, defaultPaymentMethodId}`: sets a
//! customer's default payment method, in one transaction.

use cardvault::deps::{SecretsManager, Stripe, Unwired, Uses};
use cardvault::dialect::fusebill::{self, BillingSettingJson, BillingSettingRequest};
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
        |app, req| async move { fusebill::render(update(app, &req).await) },
    )
    .await
}

async fn update(app: &App, req: &Request) -> Result<(StatusCode, BillingSettingJson), Error> {
    let tenant = app.merchant(req).await?;
    let (customer, pm) = fusebill::json_body::<BillingSettingRequest>(req)?.parse()?;
    app.vault.make_default(&tenant, customer, pm).await?;
    Ok((
        StatusCode::OK,
        BillingSettingJson {
            id: customer.get(),
            default_payment_method_id: pm.get(),
            has_payment_method: true,
        },
    ))
}
