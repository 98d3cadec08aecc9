//! Stripe's webhook wire format (`webhook`): the `Stripe-Signature` check and an event's JSON
//! read into its change. Moved here from the core's `domain/stripe_event/tests.rs` with the
//! code they test; included from `lib.rs`, not from `webhook.rs`, which the core compiles
//! into its own tests too.

use secrecy::SecretString;
use serde_json::json;

use crate::domain::stripe_event::{NotAnEvent, SignatureError, SigningSecrets, StripeCardRef};
use crate::domain::{CardBrand, CardDetails, EventChange, StripeEvent};
use crate::ports::WebhookFormat;
use crate::webhook::*;

/// The port's `verify`, called as the vault calls it, on the secrets it checks with.
trait Verify {
    fn verify(&self, header: Option<&str>, payload: &[u8], now: i64)
        -> Result<i64, SignatureError>;
}

impl Verify for SigningSecrets {
    fn verify(
        &self,
        header: Option<&str>,
        payload: &[u8],
        now: i64,
    ) -> Result<i64, SignatureError> {
        StripeWebhooks.verify(self, header, payload, now)
    }
}

/// The port's `read`.
fn read(payload: &[u8]) -> Result<StripeEvent, NotAnEvent> {
    StripeWebhooks.read(payload)
}

const NOW: i64 = 1_800_000_000;

fn secrets(list: &[&str]) -> SigningSecrets {
    SigningSecrets::parse(&SecretString::from(json!({ "secrets": list }).to_string()))
}

#[test]
fn a_signature_made_with_the_secret_verifies() {
    let body = br#"{"id":"evt_1"}"#;
    let header = sign("whsec_a", NOW, body);
    assert_eq!(
        secrets(&["whsec_a"]).verify(Some(&header), body, NOW),
        Ok(NOW)
    );
    // A plain string secret, as a first `set-webhook-secret` might leave it.
    let plain = SigningSecrets::parse(&SecretString::from("whsec_a".to_owned()));
    assert_eq!(plain.verify(Some(&header), body, NOW + 299), Ok(NOW));
}

/// A known answer from outside: this header was made once by Stripe's own Node library,
/// `stripe@23.2.0` (infra/tools.sh), with
/// `node tests/stripe_sign.cjs KAT_SECRET KAT_T < payload` (its
/// `webhooks.generateTestHeaderString`), and written down here. Our verifier must accept it
/// and our `sign` must make it byte for byte. The payload is pretty-printed, multi-line and
/// not ASCII, so a change in what is hashed (the bytes as sent, UTF-8) shows.
const KAT_SECRET: &str = "whsec_cardvaultKnownAnswer0123456789abcdef";
const KAT_T: i64 = 1_767_225_600;
const KAT_PAYLOAD: &str = "{\n  \"id\": \"evt_1KatVector00000001\",\n  \"object\": \"event\",\n  \"type\": \"customer.source.updated\",\n  \"created\": 1767225600,\n  \"data\": {\"object\": {\"id\": \"card_1Kat\", \"object\": \"card\", \"customer\": \"cus_Kat\", \"name\": \"Zoë Ångström ✓\", \"exp_month\": 7, \"exp_year\": 2033}}\n}";
const KAT_HEADER: &str =
    "t=1767225600,v1=05b7edc4ca1cd1259408e8cc9333d22ddfd270f214122a21006685e6e13d53b8";

#[test]
fn stripes_own_library_and_ours_agree_on_a_known_answer() {
    let s = SigningSecrets::parse(&SecretString::from(KAT_SECRET.to_owned()));
    assert_eq!(
        s.verify(Some(KAT_HEADER), KAT_PAYLOAD.as_bytes(), KAT_T),
        Ok(KAT_T)
    );
    assert_eq!(sign(KAT_SECRET, KAT_T, KAT_PAYLOAD.as_bytes()), KAT_HEADER);
    // And it is the payload's bytes that are signed: one byte less does not verify.
    let cut = &KAT_PAYLOAD.as_bytes()[..KAT_PAYLOAD.len() - 1];
    assert_eq!(
        s.verify(Some(KAT_HEADER), cut, KAT_T),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn a_forged_or_altered_delivery_is_refused() {
    let body = br#"{"id":"evt_1","type":"charge.failed"}"#;
    let header = sign("whsec_a", NOW, body);
    let s = secrets(&["whsec_a"]);
    // Another secret, another body, another timestamp than the one signed.
    assert_eq!(
        s.verify(Some(&sign("whsec_b", NOW, body)), body, NOW),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        s.verify(
            Some(&header),
            br#"{"id":"evt_1","type":"charge.succeeded"}"#,
            NOW
        ),
        Err(SignatureError::NoMatch)
    );
    let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
    assert_eq!(
        s.verify(Some(&moved), body, NOW),
        Err(SignatureError::NoMatch)
    );
    // Missing, empty, without v1, without t, not hex.
    assert_eq!(s.verify(None, body, NOW), Err(SignatureError::Missing));
    assert_eq!(s.verify(Some(" "), body, NOW), Err(SignatureError::Missing));
    for bad in [
        format!("t={NOW}"),
        format!("t={NOW},v0=abcd"),
        "v1=abcd".to_owned(),
        format!("t=soon,v1={}", "ab".repeat(32)),
        format!("t={NOW},v1=zz"),
    ] {
        assert_eq!(
            s.verify(Some(&bad), body, NOW),
            Err(SignatureError::Malformed),
            "{bad}"
        );
    }
    // No secret set: nothing verifies.
    assert_eq!(
        SigningSecrets::none().verify(Some(&header), body, NOW),
        Err(SignatureError::NoSecret)
    );
}

#[test]
fn a_timestamp_older_or_newer_than_five_minutes_is_refused() {
    let body = b"{}";
    let s = secrets(&["whsec_a"]);
    for (t, ok) in [
        (NOW - 300, true),
        (NOW - 301, false),
        (NOW + 300, true),
        (NOW + 301, false),
        (0, false),
    ] {
        let r = s.verify(Some(&sign("whsec_a", t, body)), body, NOW);
        assert_eq!(r.is_ok(), ok, "{t}: {r:?}");
        if !ok {
            assert_eq!(r, Err(SignatureError::Stale));
        }
    }
}

#[test]
fn any_v1_matching_any_active_secret_passes_while_a_secret_rolls() {
    let body = br#"{"id":"evt_2"}"#;
    let old = sign("whsec_old", NOW, body);
    let new = sign("whsec_new", NOW, body);
    let new_sig = new.split_once("v1=").unwrap().1;
    // Stripe sends one v1 per secret of the endpoint; ours may hold the old, the new or both.
    let both = format!("{old},v1={new_sig}");
    for (ours, header, ok) in [
        (&["whsec_old"][..], &both, true),
        (&["whsec_new"][..], &both, true),
        (&["whsec_new", "whsec_old"][..], &old, true),
        (&["whsec_new", "whsec_old"][..], &new, true),
        (&["whsec_new"][..], &old, false),
        (&["whsec_other"][..], &both, false),
    ] {
        assert_eq!(
            secrets(ours).verify(Some(header), body, NOW).is_ok(),
            ok,
            "{ours:?} {header}"
        );
    }
    // A v0 (test-mode scheme) beside it is ignored, as Stripe's libraries ignore it.
    let with_v0 = format!("{new},v0={}", "00".repeat(32));
    assert!(secrets(&["whsec_new"])
        .verify(Some(&with_v0), body, NOW)
        .is_ok());
}

fn event(kind: &str, object: serde_json::Value) -> StripeEvent {
    let body = json!({"id": "evt_9", "type": kind, "created": NOW, "data": {"object": object}});
    read(body.to_string().as_bytes()).unwrap()
}

fn card_ref() -> StripeCardRef {
    StripeCardRef {
        customer: "cus_1".into(),
        source: "card_1".into(),
    }
}

#[test]
fn each_handled_event_reads_into_its_change() {
    let card = json!({"id": "card_1", "object": "card", "customer": "cus_1", "brand": "MasterCard",
                      "last4": "4444", "exp_month": 3, "exp_year": 2031});
    assert_eq!(
        event("customer.source.updated", card.clone()).change,
        EventChange::CardUpdated(
            card_ref(),
            CardDetails {
                brand: Some(CardBrand::MasterCard),
                last4: Some("4444".into()),
                exp_month: Some(3),
                exp_year: Some(2031)
            }
        )
    );
    let pm = json!({"id": "pm_1", "object": "payment_method", "customer": "cus_1",
                    "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2032}});
    let pm_ref = StripeCardRef {
        customer: "cus_1".into(),
        source: "pm_1".into(),
    };
    for kind in [
        "payment_method.updated",
        "payment_method.automatically_updated",
    ] {
        let EventChange::CardUpdated(r, d) = event(kind, pm.clone()).change else {
            panic!("{kind}")
        };
        assert_eq!(r, pm_ref);
        assert_eq!((d.exp_month, d.exp_year), (Some(12), Some(2032)));
        assert_eq!(d.brand, Some(CardBrand::Visa));
    }
    assert_eq!(
        event("customer.source.expiring", card.clone()).change,
        EventChange::CardExpiring(card_ref())
    );
    assert_eq!(
        event("customer.source.deleted", card).change,
        EventChange::CardRemoved(card_ref())
    );
    // A detached PaymentMethod names its former customer in previous_attributes.
    let body = json!({"id": "evt_9", "type": "payment_method.detached", "created": NOW,
        "data": {"object": {"id": "pm_1", "object": "payment_method", "customer": null},
                 "previous_attributes": {"customer": "cus_1"}}});
    assert_eq!(
        read(body.to_string().as_bytes()).unwrap().change,
        EventChange::CardRemoved(pm_ref.clone())
    );
    assert_eq!(
        event(
            "customer.deleted",
            json!({"id": "cus_1", "object": "customer"})
        )
        .change,
        EventChange::CustomerDeleted {
            customer: "cus_1".into()
        }
    );
    assert_eq!(
        event("charge.failed", json!({"id": "ch_1", "customer": "cus_1",
            "source": {"id": "card_1", "object": "card"}, "failure_message": "Your card was declined."}))
        .change,
        EventChange::ChargeFailed(card_ref(), "Your card was declined.".into(), None)
    );
    assert_eq!(
        event(
            "charge.succeeded",
            json!({"id": "ch_1", "customer": "cus_1", "payment_method": "card_1"})
        )
        .change,
        EventChange::ChargeSucceeded(card_ref())
    );
    assert_eq!(
        event(
            "payment_intent.payment_failed",
            json!({"id": "pi_1", "customer": "cus_1",
            "payment_method": "pm_1", "last_payment_error": {"message": "Insufficient funds.",
            "payment_method": {"id": "pm_1"}}})
        )
        .change,
        EventChange::ChargeFailed(pm_ref.clone(), "Insufficient funds.".into(), None)
    );
    assert_eq!(
        event(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "customer": {"id": "cus_1"},
            "payment_method": "pm_1"})
        )
        .change,
        EventChange::ChargeSucceeded(pm_ref)
    );
    let deauth = json!({"id": "evt_9", "type": "account.application.deauthorized",
        "created": NOW, "account": "acct_1", "data": {"object": {"id": "ca_1"}}});
    let e = read(deauth.to_string().as_bytes()).unwrap();
    assert_eq!(
        (e.change, e.account.as_deref()),
        (EventChange::Deauthorized, Some("acct_1"))
    );
}

#[test]
fn other_events_and_unnamed_cards_change_nothing() {
    for (kind, object) in [
        (
            "invoice.created",
            json!({"id": "in_1", "customer": "cus_1"}),
        ),
        (
            "customer.source.created",
            json!({"id": "card_1", "customer": "cus_1"}),
        ),
        // A charge without a customer names no stored card.
        (
            "charge.failed",
            json!({"id": "ch_1", "payment_method": "card_1"}),
        ),
        ("customer.source.updated", json!({"id": "card_1"})),
        (
            "payment_intent.succeeded",
            json!({"id": "pi_1", "customer": "cus_1"}),
        ),
    ] {
        assert_eq!(event(kind, object).change, EventChange::Ignored, "{kind}");
    }
}

#[test]
fn a_verified_body_that_is_not_an_event_is_refused() {
    for body in [
        &b"not json"[..],
        br#"{"type":"charge.failed","created":1}"#,
        br#"{"id":"ch_1","type":"charge.failed","created":1}"#,
        br#"{"id":"evt_1","created":1}"#,
        br#"{"id":"evt_1","type":"charge.failed"}"#,
        br#"{"id":"evt_1#x","type":"charge.failed","created":1}"#,
    ] {
        assert!(read(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn card_details_that_are_not_stripes_are_left_out() {
    // A last4 that is not four digits, a month or year out of range: not stored.
    for (last4, month, year) in [("12345", 13, 1999), ("4a42", 0, 2100), ("424", 12, 2099)] {
        let card = json!({"id": "card_1", "object": "card", "customer": "cus_1",
                          "brand": "Visa", "last4": last4, "exp_month": month, "exp_year": year});
        let EventChange::CardUpdated(_, d) = event("customer.source.updated", card).change else {
            panic!("{last4}")
        };
        let valid = (month == 12).then_some(12u8);
        assert_eq!((d.last4, d.exp_month), (None, valid), "{last4}");
        assert_eq!(d.exp_year, (year == 2099).then_some(2099u16), "{last4}");
    }
}

#[test]
fn only_the_first_eight_sha256_sized_v1_values_are_tried() {
    // A header stuffed with v1 values must not buy a caller one HMAC each: values that are
    // not 32 bytes are not signatures, and past eight the rest are not read.
    let body = br#"{"id":"evt_3"}"#;
    let good = sign("whsec_a", NOW, body);
    let good_sig = good.split_once("v1=").unwrap().1;
    let s = secrets(&["whsec_a"]);
    let padded = format!("t={NOW},{}v1={good_sig}", "v1=,v1=ab,".repeat(100));
    assert_eq!(s.verify(Some(&padded), body, NOW), Ok(NOW));
    let late = format!(
        "t={NOW},{}v1={good_sig}",
        format!("v1={},", "00".repeat(32)).repeat(8)
    );
    assert_eq!(
        s.verify(Some(&late), body, NOW),
        Err(SignatureError::NoMatch)
    );
}

/// A charge of a PaymentIntent fails with it: only the PaymentIntent's event counts the
/// decline, so the charge's own changes nothing.
#[test]
fn a_failed_charge_of_a_payment_intent_is_left_to_the_payment_intents_event() {
    let charge = json!({"id": "ch_1", "customer": "cus_1", "payment_intent": "pi_1",
        "payment_method": "card_1", "failure_message": "Your card was declined."});
    assert_eq!(event("charge.failed", charge).change, EventChange::Ignored);
}

/// The redirect's own collection counted its decline when it happened: Stripe's event of
/// that PaymentIntent (named by its metadata) changes nothing more.
#[test]
fn a_failed_collection_of_the_redirect_is_not_counted_twice() {
    let pi = json!({"id": "pi_1", "customer": "cus_1", "payment_method": "pm_1",
        "metadata": {COLLECTION_METADATA_KEY: "1"},
        "last_payment_error": {"message": "Insufficient funds.", "payment_method": {"id": "pm_1"}}});
    assert_eq!(
        event("payment_intent.payment_failed", pi).change,
        EventChange::Ignored
    );
}

/// The same signature offered twice (a proxy repeating a header part) still verifies: one
/// match is enough, however many there are.
#[test]
fn a_signature_offered_twice_still_verifies() {
    let body = br#"{"id":"evt_1"}"#;
    let header = sign("whsec_a", NOW, body);
    let v1 = header.split_once(",v1=").unwrap().1;
    let twice = format!("{header},v1={v1}");
    assert_eq!(
        secrets(&["whsec_a"]).verify(Some(&twice), body, NOW),
        Ok(NOW)
    );
}

/// The first `t` is the signed one; a second one appended cannot move the clock.
#[test]
fn only_the_first_timestamp_counts() {
    let body = br#"{"id":"evt_1"}"#;
    let header = format!("{},t=1", sign("whsec_a", NOW, body));
    assert_eq!(
        secrets(&["whsec_a"]).verify(Some(&header), body, NOW),
        Ok(NOW)
    );
}

/// A collection's failed 3-D Secure happens after the redirect answered (it counted
/// nothing): Stripe's event of it is counted.
#[test]
fn a_collections_failed_authentication_is_counted_by_the_webhook() {
    let pi = json!({"id": "pi_1", "customer": "cus_1", "payment_method": "pm_1",
        "metadata": {COLLECTION_METADATA_KEY: "1"},
        "last_payment_error": {"code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication.",
            "payment_method": {"id": "pm_1"}}});
    assert!(matches!(
        event("payment_intent.payment_failed", pi).change,
        EventChange::ChargeFailed(..)
    ));
}

/// A SetupIntent's end names its customer, itself, how it ended and the PaymentMethod it
/// was confirmed with (which must be the pending card's own).
#[test]
fn setup_intent_events_read_into_a_settled_setup() {
    for (kind, status, pm) in [
        ("setup_intent.succeeded", "succeeded", Some("pm_1")),
        ("setup_intent.setup_failed", "setup_failed", None),
        ("setup_intent.canceled", "canceled", None),
    ] {
        let si = json!({"id": "seti_1", "object": "setup_intent", "customer": "cus_1",
            "payment_method": pm, "status": "whatever"});
        assert_eq!(
            event(kind, si).change,
            EventChange::SetupSettled {
                customer: "cus_1".into(),
                setup_intent: "seti_1".into(),
                status: status.into(),
                payment_method: pm.map(str::to_owned),
            },
            "{kind}"
        );
    }
    // No customer: nothing of the vault's.
    let si = json!({"id": "seti_1", "object": "setup_intent", "status": "succeeded"});
    assert_eq!(
        event("setup_intent.succeeded", si).change,
        EventChange::Ignored
    );
}
