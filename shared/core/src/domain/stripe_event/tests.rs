use super::*;
use serde_json::json;

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
    StripeEvent::parse(body.to_string().as_bytes()).unwrap()
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
        StripeEvent::parse(body.to_string().as_bytes())
            .unwrap()
            .change,
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
        EventChange::ChargeFailed(card_ref(), "Your card was declined.".into())
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
        EventChange::ChargeFailed(pm_ref.clone(), "Insufficient funds.".into())
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
    let e = StripeEvent::parse(deauth.to_string().as_bytes()).unwrap();
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
        assert!(
            StripeEvent::parse(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_message_never_carries_a_card_number() {
    assert_eq!(
        safe_message("Your card was declined."),
        "Your card was declined."
    );
    assert_eq!(
        safe_message("Card 4242424242424242 declined"),
        "Card [redacted] declined"
    );
    assert_eq!(
        safe_message("Card 4242 4242 4242 4242 declined, code 51 on 2026-12-01"),
        "Card [redacted] declined, code 51 on 2026-12-01"
    );
    assert_eq!(safe_message("5555-5555-5555-4444"), "[redacted]");
    // Other ways of writing one, separators kept outside the run.
    for written in [
        "4242.4242.4242.4242",
        "4242 - 4242 - 4242 - 4242",
        "4242/4242/4242/4242",
        "4242\t4242\t4242\t4242",
        "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",
    ] {
        assert_eq!(
            safe_message(&format!("card {written}.")),
            "card [redacted].",
            "{written}"
        );
    }
    // Invisible separators, and digits of other scripts.
    assert_eq!(
        safe_message("card 4242\u{200B}4242\u{00AD}4242\u{2060}4242"),
        "card [redacted]"
    );
    assert_eq!(
        safe_message("card \u{FF14}\u{FF12}\u{FF14}\u{FF12}4242424242424242"),
        "card [redacted]"
    );
    // A number across the length limit is masked before the message is cut, and no digits
    // of it are left at the cut.
    let long = format!("{}4242424242424242 and more", "x".repeat(ERROR_MAX - 10));
    let shown = safe_message(&long);
    assert!(!shown.contains("4242"), "{shown}");
    assert!(shown.chars().count() <= ERROR_MAX);
    let longer = format!("{} 4242 4242", "x".repeat(2 * ERROR_MAX - 6));
    assert!(!safe_message(&longer).contains("42"));
    // Short numbers stay, with their separators, at the end too.
    assert_eq!(safe_message("declined, code 51"), "declined, code 51");
    assert_eq!(
        safe_message("Amount 1,234.56 at 12:30"),
        "Amount 1,234.56 at 12:30"
    );
    assert_eq!(safe_message(&"x".repeat(2000)).len(), ERROR_MAX);
    // Past twice the limit the rest is not read: a short run at that cut may be the start of
    // a number and is masked; a short number before it is not.
    let cut = format!(
        "code 7 card {}x1234567890123 more",
        "4".repeat(2 * ERROR_MAX - 12 - 6)
    );
    assert_eq!(safe_message(&cut), "code 7 card [redacted]x[redacted]");
}

#[test]
fn brands_are_spelled_as_stripe_spells_them_on_a_card() {
    // Stripe's card object's `brand` values (what the user API shows for a source).
    for (brand, stripe) in [
        (CardBrand::Visa, "Visa"),
        (CardBrand::MasterCard, "MasterCard"),
        (CardBrand::AmericanExpress, "American Express"),
        (CardBrand::Discover, "Discover"),
        (CardBrand::Diners, "Diners Club"),
        (CardBrand::Jcb, "JCB"),
        (CardBrand::UnionPay, "UnionPay"),
    ] {
        assert_eq!(brand.stripe_name(), stripe);
        assert_eq!(CardBrand::from_stripe(stripe), brand, "{stripe}");
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

#[test]
fn an_event_clock_admits_newer_events_and_unseen_ones_of_its_second() {
    assert_eq!(EventClock::admits(None, "evt_a", 100), Applied::Changed);
    let clock = EventClock::advanced(None, "evt_a", 100);
    assert_eq!(
        EventClock::admits(Some(&clock), "evt_a", 100),
        Applied::Taken
    );
    assert_eq!(
        EventClock::admits(Some(&clock), "evt_old", 99),
        Applied::Stale
    );
    assert_eq!(
        EventClock::admits(Some(&clock), "evt_b", 100),
        Applied::Changed
    );
    let clock = EventClock::advanced(Some(clock), "evt_b", 100);
    assert_eq!(clock.ids, ["evt_a", "evt_b"]);
    // A newer second starts afresh.
    let clock = EventClock::advanced(Some(clock), "evt_c", 101);
    assert_eq!(
        (clock.at, clock.ids.as_slice()),
        (101, &["evt_c".to_owned()][..])
    );
    // At most CLOCK_IDS ids are kept, the oldest dropped first.
    let mut clock = Some(clock);
    for i in 0..CLOCK_IDS + 3 {
        clock = Some(EventClock::advanced(clock, &format!("evt_{i}"), 101));
    }
    let clock = clock.unwrap();
    assert_eq!(clock.ids.len(), CLOCK_IDS);
    assert_eq!(clock.ids.last().map(String::as_str), Some("evt_18"));
}

/// A card that took events before there were two clocks (`stripeEventAt`).
fn legacy_card(at: i64) -> crate::domain::PaymentMethod {
    serde_json::from_value(json!({
        "id": 7, "customerId": 1, "tenantId": "t1",
        "instrument": {"kind": "card", "brand": "Visa", "expMonth": 1, "expYear": 2030},
        "last4": "4242", "holder": {}, "status": "Active", "failures": 2,
        "stripeEventAt": at,
        "createdAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-01T00:00:00Z"
    }))
    .expect("a card")
}

#[test]
fn failures_count_once_each_in_any_order_and_a_success_resets_only_what_came_before() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let failed = |m: &str| CardChange::Failed(m.into());
    let mut pm = legacy_card(0);
    pm.failures = 0;
    // Two failures, the newer first: both count; the newer's message stays.
    assert_eq!(
        pm.apply_stripe(&failed("newer"), "evt_f2", 100, now),
        Applied::Changed
    );
    assert_eq!(
        pm.apply_stripe(&failed("older"), "evt_f1", 90, now),
        Applied::Changed
    );
    assert_eq!((pm.failures, pm.last_error.as_deref()), (2, Some("newer")));
    // A redelivery counts nothing.
    assert_eq!(
        pm.apply_stripe(&failed("older"), "evt_f1", 90, now),
        Applied::Taken
    );
    assert_eq!(pm.failures, 2);
    // A success between them resets the older only.
    assert_eq!(
        pm.apply_stripe(&CardChange::Succeeded, "evt_s1", 95, now),
        Applied::Changed
    );
    assert_eq!((pm.failures, pm.last_error.as_deref()), (1, Some("newer")));
    // A newer one resets all; a failure from before it is history.
    assert_eq!(
        pm.apply_stripe(&CardChange::Succeeded, "evt_s2", 110, now),
        Applied::Changed
    );
    assert_eq!((pm.failures, pm.last_error.as_deref()), (0, None));
    assert_eq!(
        pm.apply_stripe(&failed("late"), "evt_f0", 105, now),
        Applied::Stale
    );
    assert_eq!(pm.failures, 0);
}

/// The same events in every order leave the same count: failures at 100 and 120, a
/// success at 110.
#[test]
fn the_failure_count_does_not_depend_on_arrival_order() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let events = [
        ("evt_a", CardChange::Failed("a".into()), 100),
        ("evt_b", CardChange::Failed("b".into()), 120),
        ("evt_s", CardChange::Succeeded, 110),
    ];
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let mut pm = legacy_card(0);
        pm.failures = 0;
        for i in order {
            let (id, change, at) = &events[i];
            pm.apply_stripe(change, id, *at, now);
        }
        assert_eq!(
            (pm.failures, pm.last_error.as_deref()),
            (1, Some("b")),
            "{order:?}"
        );
    }
}

#[test]
fn a_legacy_clock_is_a_floor_for_both_kinds_of_news() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut pm = legacy_card(100);
    let update = CardChange::Details(CardDetails {
        brand: None,
        last4: None,
        exp_month: Some(5),
        exp_year: Some(2031),
    });
    assert_eq!(pm.apply_stripe(&update, "evt_u0", 99, now), Applied::Stale);
    assert_eq!(pm.legacy_stripe_event_at, None, "folded into the clocks");
    assert_eq!(
        pm.apply_stripe(&CardChange::Failed("x".into()), "evt_f0", 99, now),
        Applied::Stale
    );
    assert_eq!(
        pm.apply_stripe(&update, "evt_u1", 101, now),
        Applied::Changed
    );
    // Kept through writes that are not Stripe's until then.
    let kept = serde_json::to_value(legacy_card(100)).unwrap();
    assert_eq!(kept["stripeEventAt"], 100);
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

/// What a card's Stripe status is stored and shown as: a renamed variant must not change it.
#[test]
fn stripe_statuses_keep_their_names() {
    assert_eq!(
        [
            StripeStatus::Active,
            StripeStatus::Expiring,
            StripeStatus::RemovedAtStripe
        ]
        .map(StripeStatus::as_str),
        ["Active", "Expiring", "RemovedAtStripe"]
    );
}

#[test]
fn signing_secrets_are_empty_only_when_none_is_set() {
    assert!(SigningSecrets::none().is_empty());
    assert!(secrets(&[]).is_empty());
    let one = secrets(&["whsec_1"]);
    assert!(!one.is_empty());
    assert_eq!(one.len(), 1);
    assert_eq!(secrets(&["whsec_1", "whsec_2"]).len(), 2);
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

/// A message no longer than twice the limit is read whole: a short run of digits that the
/// cut ends is dropped with the cut, not taken for a number and masked.
#[test]
fn a_message_under_twice_the_limit_is_read_whole() {
    let lead = "a".repeat(ERROR_MAX - 5);
    assert_eq!(safe_message(&format!("{lead}1234567890")), lead);
    // Exactly the limit is not cut: its last digits stay.
    let full = format!("{}123", "a".repeat(ERROR_MAX - 3));
    assert_eq!(safe_message(&full), full);
}

/// A success at the very second of a failure does not make the failure history: only what
/// came strictly before a reset is stale.
#[test]
fn a_failure_at_the_second_of_a_success_still_counts() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut pm = legacy_card(0);
    pm.failures = 0;
    assert_eq!(
        pm.apply_stripe(&CardChange::Succeeded, "evt_s", 100, now),
        Applied::Changed
    );
    assert_eq!(
        pm.apply_stripe(&CardChange::Failed("x".into()), "evt_f", 100, now),
        Applied::Changed
    );
    assert_eq!(pm.failures, 1);
}

/// `modifiedAt` moves with a change, and only then.
#[test]
fn only_a_change_moves_modified_at() {
    let later = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
    let mut pm = legacy_card(100);
    let before = pm.modified_at;
    let update = CardChange::Details(CardDetails {
        brand: None,
        last4: None,
        exp_month: Some(5),
        exp_year: Some(2031),
    });
    assert_eq!(
        pm.apply_stripe(&update, "evt_old", 99, later),
        Applied::Stale
    );
    assert_eq!(pm.modified_at, before);
    assert_eq!(
        pm.apply_stripe(&update, "evt_new", 101, later),
        Applied::Changed
    );
    assert_eq!(pm.modified_at, later);
}

/// A new expiry from Stripe is shown back in the width the client first wrote it.
#[test]
fn a_new_expiry_keeps_the_width_it_was_sent_in() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let update = CardChange::Details(CardDetails {
        brand: None,
        last4: None,
        exp_month: Some(9),
        exp_year: Some(2031),
    });
    for (sent, shown) in [(("08", "30"), ("09", "31")), (("8", "2030"), ("9", "2031"))] {
        let mut pm = legacy_card(0);
        pm.expiry_as_sent = Some(crate::domain::ExpiryAsSent {
            month: sent.0.into(),
            year: sent.1.into(),
        });
        pm.apply_stripe(&update, "evt_u", 1, now);
        let after = pm.expiry_as_sent.expect("kept");
        assert_eq!(
            (after.month.as_str(), after.year.as_str()),
            shown,
            "{sent:?}"
        );
    }
}

/// What the user API shows of a card's Stripe news: details and removal, nothing else.
#[test]
fn users_see_details_and_removal_only() {
    let details = CardChange::Details(CardDetails {
        brand: None,
        last4: None,
        exp_month: None,
        exp_year: None,
    });
    assert!(details.shown_to_users());
    assert!(CardChange::Removed.shown_to_users());
    for hidden in [
        CardChange::Expiring,
        CardChange::Failed("x".into()),
        CardChange::Succeeded,
    ] {
        assert!(!hidden.shown_to_users(), "{hidden:?}");
    }
}

/// A run of digits at the very start, then separators up to the limit and a letter: the
/// run ends at its last digit.
#[test]
fn separators_after_a_leading_digit_end_the_run() {
    assert_eq!(safe_message("1   x"), "1   x");
    assert_eq!(safe_message("12 - x"), "12 - x");
}

/// An event may be dated up to the tolerance after its signature (two clocks at Stripe),
/// never later.
#[test]
fn an_event_dated_past_its_signature_and_the_tolerance_is_after_it() {
    let e = event("customer.source.updated", json!({}));
    assert!(!e.dated_after(NOW));
    assert!(!e.dated_after(NOW - SIGNATURE_TOLERANCE_SECS));
    assert!(e.dated_after(NOW - SIGNATURE_TOLERANCE_SECS - 1));
    assert!(!e.dated_after(i64::MAX));
}
