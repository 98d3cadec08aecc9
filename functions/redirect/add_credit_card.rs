//! `POST /api/paymentsv2` (and `/api/paymentsv2/`): Fusebill's transparent redirect "Add
//! Credit Card", posted by the cardholder's browser. Public API key, an allowed Origin and
//! a reCAPTCHA v2 token; the card is verified with Stripe and kept encrypted in the vault.

use cardvault::dialect::fusebill::{
    self,
    redirect::{Params, RedirectResponse},
};
use cardvault::{cors, http, App, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve(|app, req| async move {
        let mut origin = None;
        let result = add(app, &req, &mut origin).await;
        cors::allow(fusebill::render(result), origin.as_deref())
    })
    .await
}

async fn add(
    app: &App,
    req: &Request,
    allowed_origin: &mut Option<String>,
) -> Result<(StatusCode, RedirectResponse), Error> {
    let params = Params::from_request(req)?;
    let (public_key, customer) = params.identity()?;
    let tenant = app
        .vault
        .tenant_by_public_key(&public_key)
        .await?
        .ok_or_else(|| Error::not_found("Customer", customer))?;
    *allowed_origin = Some(cors::check(req, &tenant)?);
    let ip = http::source_ip(req);
    app.vault
        .verify_human(&tenant, params.recaptcha().as_deref(), ip.as_deref())
        .await?;
    let entry = params.card_entry(&tenant, app.vault.today())?;
    let added = app.vault.add_entered_card(&tenant, customer, entry).await?;
    Ok((StatusCode::OK, added.into()))
}
