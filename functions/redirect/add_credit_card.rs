//! `POST /api/paymentsv2` (and `/api/paymentsv2/`): Fusebill's transparent redirect "Add
//! Credit Card", posted by the cardholder's browser. Public API key, an allowed Origin (or
//! none: a call from a server) and a reCAPTCHA v2 token; the card is verified with Stripe
//! and kept encrypted in the vault. Attempts are counted against the tenant's card-testing
//! limits before Stripe sees them (`vault::velocity`), and each outcome is a metric line.
//! Every answer, errors included, carries the CORS headers for an origin some tenant allows.
//!
//! A card whose issuer asks for 3-D Secure answers 402 with `RequiresAction` (the
//! SetupIntent's client secret); the page finishes it with Stripe.js and posts
//! `setupIntentClientSecret` (with `publicApiKey` and `customerId`) back here, which makes
//! the card active.

use cardvault::deps::{KeyRings, Kms, Recaptcha, SecretsManager, Stripe, Uses};
use cardvault::dialect::fusebill::{
    self,
    redirect::{Params, RedirectResponse},
};
use cardvault::domain::{CardFlow, Origin};
use cardvault::vault::Outcome;
use cardvault::{caller, cors, http, telemetry, Error};
use lambda_http::{http::StatusCode, Request};

/// Built from the table, Stripe, the key rings, KMS, Secrets Manager and reCAPTCHA: no
/// other port's client is built or linked (`Uses<gateway, keys, secrets, captcha>`, each
/// `Unwired` unless named).
type App = cardvault::App<Uses<Stripe, KeyRings<Kms>, SecretsManager, Recaptcha>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_write(
        caller::Redirect,
        fusebill::render_error,
        |app, req| async move {
            let mut origin = None;
            let result = add(app, &req, &mut origin).await;
            if origin.is_none() {
                origin = listed_origin(app, &req).await;
            }
            cors::allow(fusebill::render(result), origin.as_deref())
        },
    )
    .await
}

async fn add(
    app: &App,
    req: &Request,
    allowed_origin: &mut Option<String>,
) -> Result<(StatusCode, RedirectResponse), Error> {
    let params = Params::of(req)?;
    let (public_key, customer) = params.identity()?;
    let tenant = app
        .vault
        .tenant_by_public_key(&public_key)
        .await?
        .ok_or_else(|| Error::not_found("Customer", customer))?;
    params.refuse_secrets_in_url(&tenant)?;
    *allowed_origin = cors::check(req, &tenant, app.vault.stage())?;
    // The page coming back after 3-D Secure: the SetupIntent's client secret is its proof
    // (no reCAPTCHA, no card fields), and the card it names becomes active.
    let ip = http::source_ip(req);
    if let Some(secret) = params.setup_intent_client_secret() {
        let view = app
            .vault
            .confirm_from_redirect(&tenant, customer, &secret, ip.as_deref())
            .await?;
        return Ok((StatusCode::OK, RedirectResponse::confirmed(view)));
    }
    app.vault
        .verify_human(&tenant, params.recaptcha().as_deref(), ip.as_deref())
        .await?;
    // The tenant's page sends the card itself, or only a PaymentMethod Stripe.js made.
    let result = match tenant.card_flow {
        CardFlow::Server => {
            let entry = params.card_entry(&tenant, app.vault.today())?;
            app.vault
                .add_from_redirect(&tenant, customer, entry, ip.as_deref())
                .await
        }
        CardFlow::StripeJs => {
            let entry = params.stripe_js_entry(&tenant)?;
            app.vault
                .add_stripe_js_from_redirect(&tenant, customer, entry, ip.as_deref())
                .await
        }
    };
    let o = Outcome::of(&result);
    telemetry::card_metrics(tenant.id.as_str(), o.adds, o.declines, o.refused);
    Ok((StatusCode::OK, result?.into()))
}

/// The request's `Origin` when some tenant allows it (the preflight's origin index), for
/// the answers given before, or instead of, the tenant's own check. One read, on those
/// answers only.
async fn listed_origin(app: &App, req: &Request) -> Option<String> {
    let origin = cors::origin(req)?;
    match app.vault.origin_allowed(&Origin::new(origin)).await {
        Ok(allowed) => allowed.then(|| origin.to_owned()),
        // Logged; the answer goes out without CORS headers, as it would have before.
        Err(e) => {
            cardvault::dialect::log_internal(&e);
            None
        }
    }
}
