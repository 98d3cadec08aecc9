//! `POST /v1/webhooks/stripe` (the platform's events, Connect events among them) and
//! `POST /v1/webhooks/stripe/{tenantId}` (a tenant with its own Stripe account): Stripe's
//! signed events keep the vault's cards in step (`cardvault::vault::webhooks`). The raw
//! body and `Stripe-Signature` go to the vault as they came: nothing is read from the body
//! before its signature holds. 200 when received; 400 for a bad signature.

use cardvault::deps::{SecretsManager, Unwired, Uses};
use cardvault::dialect::stripe_webhook;
use cardvault::domain::TenantId;
use cardvault::vault::webhooks::{Handled, WebhookRoute, BAD_SIGNATURE, MAX_EVENT_BYTES};
use cardvault::{http, Error};
use lambda_http::Request;

/// Built from the table and Secrets Manager: no other port's client is built or linked
/// (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses<Unwired, Unwired, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { stripe_webhook::render(receive(app, &req).await) }).await
}

async fn receive(app: &App, req: &Request) -> Result<Handled, Error> {
    // A tenant id that cannot exist answers as a tenant without a secret does.
    let route = match http::path_param(req, "tenantId") {
        None => WebhookRoute::Platform,
        Some(raw) => WebhookRoute::Tenant(
            TenantId::try_from(raw.to_owned())
                .map_err(|_| Error::BadRequest(BAD_SIGNATURE.into()))?,
        ),
    };
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let payload = http::body_bytes_up_to(req, MAX_EVENT_BYTES)?;
    app.vault.stripe_webhook(&route, signature, payload).await
}
