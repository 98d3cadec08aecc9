//! `PUT /v1/customerbillingsetting` with `{id, defaultPaymentMethodId}`: sets a
//! customer's default payment method, in one transaction.

use cardvault::deps::{Deps, SecretsManager, Stripe, Unwired};
use cardvault::dialect::fusebill::{self, BillingSettingJson, BillingSettingRequest};
use cardvault::{Caller, Error};
use lambda_http::{http::StatusCode, Request};

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
