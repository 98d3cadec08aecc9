//! The domain's rules for Stripe's events. Stripe's wire format (signatures, an event's
//! JSON read) is tested with its adapter: shared/stripe/src/webhook_tests.rs.

use super::*;
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn secrets(list: &[&str]) -> SigningSecrets {
    SigningSecrets::parse(&SecretString::from(json!({ "secrets": list }).to_string()))
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
    let failed = |m: &str| CardChange::Failed(m.into(), None);
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
        ("evt_a", CardChange::Failed("a".into(), None), 100),
        ("evt_b", CardChange::Failed("b".into(), None), 120),
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
        pm.apply_stripe(&CardChange::Failed("x".into(), None), "evt_f0", 99, now),
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

/// What a card's Stripe status is stored and shown as: a renamed variant must not change it.
#[test]
fn stripe_statuses_keep_their_names() {
    assert_eq!(
        [
            StripeStatus::Active,
            StripeStatus::Expiring,
            StripeStatus::RemovedAtStripe,
            StripeStatus::AuthenticationRequired
        ]
        .map(StripeStatus::as_str),
        [
            "Active",
            "Expiring",
            "RemovedAtStripe",
            "AuthenticationRequired"
        ]
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
        pm.apply_stripe(&CardChange::Failed("x".into(), None), "evt_f", 100, now),
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
        CardChange::Failed("x".into(), None),
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
    let e = StripeEvent {
        id: "evt_9".into(),
        kind: "customer.source.updated".into(),
        created: NOW,
        account: None,
        change: EventChange::Ignored,
    };
    assert!(!e.dated_after(NOW));
    assert!(!e.dated_after(NOW - SIGNATURE_TOLERANCE_SECS));
    assert!(e.dated_after(NOW - SIGNATURE_TOLERANCE_SECS - 1));
    assert!(!e.dated_after(i64::MAX));
}

/// An off-session charge the issuer wants authenticated: the card says so until a charge
/// succeeds (the cardholder authenticated one on-session); any other decline does not.
#[test]
fn a_charge_needing_authentication_marks_the_card_until_one_succeeds() {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut pm = legacy_card(0);
    let needs = CardChange::Failed(
        "This transaction requires authentication.".into(),
        Some("authentication_required".into()),
    );
    pm.apply_stripe(&needs, "evt_1", 100, now);
    assert_eq!(pm.stripe_status(), StripeStatus::AuthenticationRequired);
    pm.apply_stripe(&CardChange::Succeeded, "evt_2", 110, now);
    assert_eq!(pm.stripe_status(), StripeStatus::Active);
    pm.apply_stripe(
        &CardChange::Failed(
            "Insufficient funds.".into(),
            Some("insufficient_funds".into()),
        ),
        "evt_3",
        120,
        now,
    );
    assert_eq!(pm.stripe_status(), StripeStatus::Active);
}
