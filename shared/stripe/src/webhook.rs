//! Stripe's webhook wire format, the adapter of the
//! [`WebhookFormat`](crate::ports::WebhookFormat) port: the `Stripe-Signature` check, and an
//! event's JSON read into the one change it makes to the vault (`domain::stripe_event`).
//!
//! The signature is checked as Stripe specifies (stripe.com/docs/webhooks/signatures): an
//! HMAC-SHA256, keyed with the endpoint's signing secret, of `<t>.<raw body>`; the header
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` may carry several `v1` values (Stripe sends one
//! per active secret while a secret rolls), and any one matching any of our secrets passes.
//! The compare is constant-time (`subtle`). A timestamp more than
//! [`SIGNATURE_TOLERANCE_SECS`] from now, either way, is refused: a captured delivery cannot
//! be replayed later. Nothing is read from the body before the check passes.
//!
//! Written against `crate::domain` and `crate::ports` alone: the core compiles this same
//! source into its own unit tests (its `lib.rs`, `stripe_webhook`), which sign and send
//! real bodies through the vault's rules.

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::stripe_event::{
    safe_message, NotAnEvent, SignatureError, SigningSecrets, StripeCardRef,
    SIGNATURE_TOLERANCE_SECS,
};
use crate::domain::{CardBrand, CardDetails, EventChange, StripeEvent};
use crate::ports::WebhookFormat;

/// Stripe's webhooks: stateless, built for nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct StripeWebhooks;

impl WebhookFormat for StripeWebhooks {
    fn verify(
        &self,
        secrets: &SigningSecrets,
        header: Option<&str>,
        payload: &[u8],
        now: i64,
    ) -> Result<i64, SignatureError> {
        if secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(SignatureError::Missing)?;
        let (t, raw_t, signatures) = parse_header(header)?;
        // The clock first: a stale delivery costs no HMAC (every refusal answers the same).
        if now.abs_diff(t) > SIGNATURE_TOLERANCE_SECS as u64 {
            return Err(SignatureError::Stale);
        }
        // One MAC per secret over the body, compared with each offered v1: the body is
        // hashed at most once per active secret, however many v1 values a caller sends.
        let matched = secrets.iter().any(|secret| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(raw_t.as_bytes());
            mac.update(b".");
            mac.update(payload);
            let expected = mac.finalize().into_bytes();
            signatures
                .iter()
                .fold(subtle::Choice::from(0), |any, sig| {
                    any | expected.as_slice().ct_eq(sig.as_slice())
                })
                .into()
        });
        if !matched {
            return Err(SignatureError::NoMatch);
        }
        Ok(t)
    }

    fn read(&self, payload: &[u8]) -> Result<StripeEvent, NotAnEvent> {
        let v: Value = serde_json::from_slice(payload).map_err(|_| NotAnEvent("invalid JSON"))?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| {
                id.starts_with("evt_")
                    && id.len() <= 255
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .ok_or(NotAnEvent("no event id"))?
            .to_owned();
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or(NotAnEvent("no type"))?
            .to_owned();
        let created = v
            .get("created")
            .and_then(Value::as_i64)
            .ok_or(NotAnEvent("no created"))?;
        let account = v.get("account").and_then(Value::as_str).map(str::to_owned);
        let object = v.pointer("/data/object").unwrap_or(&Value::Null);
        let previous = v.pointer("/data/previous_attributes");
        let change = change_of(&kind, object, previous);
        Ok(StripeEvent {
            id,
            kind,
            created,
            account,
            change,
        })
    }
}

/// At most this many `v1` values are considered (Stripe sends one per active secret).
const MAX_SIGNATURES: usize = 8;

/// `t=…` (the first) and every `v1=…` that is hex; other schemes (`v0`) are ignored, as
/// Stripe's libraries ignore them.
fn parse_header(header: &str) -> Result<(i64, &str, Vec<Vec<u8>>), SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" if t.is_none() => t = Some(v.trim()),
            // Only a SHA-256-sized value can match; anything else is not a signature.
            "v1" if v1.len() < MAX_SIGNATURES => {
                if let Ok(bytes) = hex::decode(v.trim()) {
                    if bytes.len() == 32 {
                        v1.push(bytes);
                    }
                }
            }
            _ => {}
        }
    }
    let raw_t = t.ok_or(SignatureError::Malformed)?;
    let t = raw_t
        .parse::<i64>()
        .map_err(|_| SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok((t, raw_t, v1))
}

/// Every event type the vault acts on: what to subscribe an endpoint to.
pub const HANDLED_EVENTS: &[&str] = &[
    "customer.source.updated",
    "customer.source.expiring",
    "customer.source.deleted",
    "customer.deleted",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "payment_method.detached",
    "charge.failed",
    "charge.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.succeeded",
    "account.application.deauthorized",
    "setup_intent.succeeded",
    "setup_intent.setup_failed",
    "setup_intent.canceled",
];

/// The metadata key of the PaymentIntents the transparent redirect makes (its
/// collections), which count their declines on the card themselves.
pub const COLLECTION_METADATA_KEY: &str = "cardvault_collection";
pub const COLLECTION_METADATA_FORM: &str = "metadata[cardvault_collection]";

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An id that is either a string or an expanded object's `id`.
fn id_of<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    let field = v.pointer(pointer)?;
    field
        .as_str()
        .or_else(|| field.get("id").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

fn card_ref(customer: Option<&str>, source: Option<&str>) -> Option<StripeCardRef> {
    Some(StripeCardRef {
        customer: customer?.to_owned(),
        source: source?.to_owned(),
    })
}

/// The card details of a card (`card_…`), a card source (`src_…`: under `card`) or a
/// PaymentMethod (`pm_…`: under `card`).
fn details(object: &Value) -> CardDetails {
    let card = match object.get("object").and_then(Value::as_str) {
        Some("card") => object,
        _ => object.get("card").unwrap_or(&Value::Null),
    };
    let num = |k: &str| card.get(k).and_then(Value::as_u64);
    CardDetails {
        brand: card
            .get("brand")
            .and_then(Value::as_str)
            .map(CardBrand::from_stripe),
        last4: card
            .get("last4")
            .and_then(Value::as_str)
            .filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned),
        exp_month: num("exp_month")
            .filter(|m| (1..=12).contains(m))
            .map(|m| m as u8),
        exp_year: num("exp_year")
            .filter(|y| (2000..=2099).contains(y))
            .map(|y| y as u16),
    }
}

fn change_of(kind: &str, object: &Value, previous: Option<&Value>) -> EventChange {
    let own = || card_ref(text(object, "/customer"), text(object, "/id"));
    let changed = match kind {
        "customer.source.updated"
        | "payment_method.updated"
        | "payment_method.automatically_updated" => {
            own().map(|r| EventChange::CardUpdated(r, details(object)))
        }
        "customer.source.expiring" => own().map(EventChange::CardExpiring),
        "customer.source.deleted" => own().map(EventChange::CardRemoved),
        // A detached PaymentMethod has no customer any more; Stripe names the one it left
        // in `previous_attributes`.
        "payment_method.detached" => card_ref(
            text(object, "/customer").or_else(|| previous.and_then(|p| text(p, "/customer"))),
            text(object, "/id"),
        )
        .map(EventChange::CardRemoved),
        "customer.deleted" => text(object, "/id").map(|c| EventChange::CustomerDeleted {
            customer: c.to_owned(),
        }),
        // A charge of a PaymentIntent fails with it: the PaymentIntent's event counts it.
        "charge.failed" if text(object, "/payment_intent").is_some() => None,
        // The redirect's collection counted its decline already; not a failed 3-D Secure,
        // which happens after the redirect answered.
        "payment_intent.payment_failed"
            if object
                .pointer(&format!("/metadata/{COLLECTION_METADATA_KEY}"))
                .is_some()
                && text(object, "/last_payment_error/code")
                    != Some("payment_intent_authentication_failure") =>
        {
            None
        }
        "charge.failed" | "charge.succeeded" => card_ref(
            id_of(object, "/customer"),
            id_of(object, "/payment_method").or_else(|| id_of(object, "/source")),
        )
        .map(|r| {
            if kind == "charge.failed" {
                let message = text(object, "/failure_message")
                    .or_else(|| text(object, "/outcome/seller_message"))
                    .unwrap_or("The charge failed.");
                EventChange::ChargeFailed(
                    r,
                    safe_message(message),
                    code_of(object, "/failure_code"),
                )
            } else {
                EventChange::ChargeSucceeded(r)
            }
        }),
        "payment_intent.payment_failed" => card_ref(
            id_of(object, "/customer"),
            id_of(object, "/last_payment_error/payment_method")
                .or_else(|| id_of(object, "/last_payment_error/source"))
                .or_else(|| id_of(object, "/payment_method")),
        )
        .map(|r| {
            let message =
                text(object, "/last_payment_error/message").unwrap_or("The payment failed.");
            let code = code_of(object, "/last_payment_error/decline_code")
                .or_else(|| code_of(object, "/last_payment_error/code"));
            EventChange::ChargeFailed(r, safe_message(message), code)
        }),
        "payment_intent.succeeded" => {
            card_ref(id_of(object, "/customer"), id_of(object, "/payment_method"))
                .map(EventChange::ChargeSucceeded)
        }
        "account.application.deauthorized" => Some(EventChange::Deauthorized),
        "setup_intent.succeeded" | "setup_intent.setup_failed" | "setup_intent.canceled" => {
            match (id_of(object, "/customer"), text(object, "/id")) {
                (Some(customer), Some(id)) => Some(EventChange::SetupSettled {
                    customer: customer.to_owned(),
                    setup_intent: id.to_owned(),
                    // A failed setup's status is `requires_payment_method`: said plainly.
                    status: match kind {
                        "setup_intent.succeeded" => "succeeded",
                        "setup_intent.canceled" => "canceled",
                        _ => "setup_failed",
                    }
                    .to_owned(),
                    payment_method: id_of(object, "/payment_method").map(str::to_owned),
                }),
                _ => None,
            }
        }
        _ => None,
    };
    changed.unwrap_or(EventChange::Ignored)
}

/// A Stripe error code (`authentication_required`, `card_declined`, …): short, lower-case
/// letters and underscores, or none (anything else is not Stripe's, and not kept).
fn code_of(v: &Value, pointer: &str) -> Option<String> {
    text(v, pointer)
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_owned)
}

/// Signs `payload` at `t` as Stripe does: the header a test or script sends.
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}
