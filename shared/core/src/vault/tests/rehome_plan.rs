//! The re-homing plan on its own: what becomes of each card of one customer, decided from
//! the records alone, and the limits of a batch. No adapter, no vault: the records are
//! built here (`tests/rehome.rs` runs the same rules end to end).

use time::macros::datetime;

use super::tid;
use crate::domain::{
    AtStripe, CardBrand, Customer, CustomerId, EncryptedPan, Holder, Instrument, PaymentMethod,
    PaymentMethodId, StripeRef, Timestamp,
};
use crate::ports::{Card, RehomeCustomer, CARD_METADATA_KEY};
use crate::vault::rehome::plan::{plan_customer, take_match, CustomerPlan, Homes, Limits, Step};
use crate::vault::rehome::{CardRef, FailedCard, MovedCard, RehomeReport, Stop, REPORT_MAX};

const TARGET: &str = "acct_1NewHome";
const OLD: &str = "acct_1Connect";
const AT: Timestamp = datetime!(2026-01-01 0:00 UTC);

fn cid() -> CustomerId {
    CustomerId::try_from(7).unwrap()
}

fn pmid(n: u64) -> PaymentMethodId {
    PaymentMethodId::try_from(n).unwrap()
}

/// A card Stripe holds and the vault does not (imported, or attached from a token).
fn imported(n: u64) -> PaymentMethod {
    PaymentMethod::at_stripe(AtStripe {
        id: pmid(n),
        at: AT,
        customer_id: cid(),
        tenant_id: tid("shop-connect"),
        instrument: Instrument::Card {
            brand: CardBrand::Visa,
            first6: None,
            exp_month: 12,
            exp_year: 2030,
        },
        last4: "4242".into(),
        holder: Holder::default(),
        stripe: StripeRef {
            customer_id: "cus_old".into(),
            source_id: format!("card_{n}"),
        },
        fingerprint: None,
    })
}

/// A card entered through the redirect: its PAN sealed in the vault.
fn held(n: u64) -> PaymentMethod {
    PaymentMethod {
        stored_in_vault: true,
        encrypted_pan: Some(EncryptedPan {
            key_id: "k1".into(),
            encrypted_data_key: Some("dk".into()),
            nonce: "n".into(),
            ciphertext: "c".into(),
        }),
        ..imported(n)
    }
}

fn homed(pm: PaymentMethod, home: &str) -> PaymentMethod {
    PaymentMethod {
        stripe_home: Some(home.into()),
        ..pm
    }
}

fn removed(pm: PaymentMethod) -> PaymentMethod {
    PaymentMethod {
        removed_at_stripe: Some(AT),
        ..pm
    }
}

fn found(
    methods: Vec<PaymentMethod>,
    target_customer: Option<&str>,
    own: Option<&str>,
) -> RehomeCustomer {
    RehomeCustomer {
        customer: Customer {
            id: cid(),
            tenant_id: tid("shop-connect"),
            details: Default::default(),
            default_payment_method_id: None,
            external_ref: None,
            stripe_customer_id: own.map(str::to_owned),
            created_at: AT,
            modified_at: AT,
        },
        payment_methods: methods,
        target_customer: target_customer.map(str::to_owned),
    }
}

/// The tenant is connected through [`OLD`] now, and moves to [`TARGET`].
fn homes() -> Homes<'static> {
    Homes {
        target: TARGET,
        current: Some(OLD),
    }
}

fn steps(methods: Vec<PaymentMethod>, dry_run: bool) -> Vec<String> {
    steps_at(methods, homes(), dry_run)
}

/// The steps, each as its kind and card id (a [`Step`] borrows what was read).
fn steps_at(methods: Vec<PaymentMethod>, homes: Homes<'_>, dry_run: bool) -> Vec<String> {
    let read = found(methods, None, None);
    let plan = plan_customer(&read, homes, dry_run);
    assert_eq!(
        plan.steps.len(),
        read.payment_methods.len(),
        "one step per card"
    );
    plan.steps
        .iter()
        .zip(&read.payment_methods)
        .map(|(step, pm)| describe(step, pm))
        .collect()
}

fn describe(step: &Step<'_>, pm: &PaymentMethod) -> String {
    let card = CardRef {
        customer_id: pm.customer_id,
        payment_method_id: pm.id,
        last4: pm.last4.clone(),
    };
    let kind = match step {
        Step::AlreadyThere { vault_held: true } => "there",
        Step::AlreadyThere { vault_held: false } => "there, not held",
        Step::NeedsReimport(c) => listed(c, &card, "reimport"),
        Step::RemovedAtStripe(c) => listed(c, &card, "removed"),
        Step::WouldMove(c) => listed(c, &card, "would move"),
        Step::Move(p) => {
            assert_eq!(*p, pm, "a move carries its own card");
            "move"
        }
    };
    format!("{kind} {}", pm.id)
}

fn listed<'k>(c: &CardRef, expected: &CardRef, kind: &'k str) -> &'k str {
    assert_eq!(c, expected, "a listed card is named by its ids and last 4");
    kind
}

#[test]
fn a_vault_held_card_elsewhere_moves() {
    assert_eq!(steps(vec![held(1)], false), ["move 1"]);
    assert_eq!(
        steps(vec![homed(held(1), "acct_1Elsewhere")], false),
        ["move 1"]
    );
}

#[test]
fn a_card_at_the_target_is_already_there_and_counted_only_when_the_vault_holds_it() {
    let methods = vec![
        homed(held(1), TARGET),
        homed(imported(2), TARGET),
        // At the target already: neither to re-import nor removed, whatever else.
        homed(removed(held(3)), TARGET),
    ];
    assert_eq!(
        steps(methods, false),
        ["there 1", "there, not held 2", "there 3"]
    );
}

#[test]
fn a_card_with_no_home_of_its_own_is_where_the_tenant_is_connected_now() {
    let already = Homes {
        target: TARGET,
        current: Some(TARGET),
    };
    assert_eq!(steps_at(vec![held(1)], already, false), ["there 1"]);
    let unconnected = Homes {
        target: TARGET,
        current: None,
    };
    assert_eq!(steps_at(vec![held(1)], unconnected, false), ["move 1"]);
    // A card's own home wins over the tenant's connection.
    assert_eq!(
        steps_at(vec![homed(held(1), OLD)], already, false),
        ["move 1"]
    );
}

#[test]
fn a_card_whose_number_the_vault_never_held_needs_reimport() {
    let no_pan = PaymentMethod {
        encrypted_pan: None,
        ..held(2)
    };
    let not_flagged = PaymentMethod {
        stored_in_vault: false,
        ..held(3)
    };
    let bank = PaymentMethod {
        instrument: Instrument::Ach {
            bank_name: None,
            routing_number: None,
        },
        ..held(4)
    };
    let methods = vec![imported(1), no_pan, not_flagged, bank, removed(imported(5))];
    assert_eq!(
        steps(methods, false),
        [
            "reimport 1",
            "reimport 2",
            "reimport 3",
            "reimport 4",
            "reimport 5"
        ]
    );
}

#[test]
fn a_vault_held_card_removed_at_stripe_is_listed_not_moved() {
    assert_eq!(steps(vec![removed(held(1))], false), ["removed 1"]);
    assert_eq!(steps(vec![removed(held(1))], true), ["removed 1"]);
}

#[test]
fn a_dry_run_lists_what_would_move_and_classifies_the_rest_alike() {
    let methods = || {
        vec![
            held(1),
            imported(2),
            removed(held(3)),
            homed(held(4), TARGET),
            held(5),
        ]
    };
    assert_eq!(
        steps(methods(), true),
        [
            "would move 1",
            "reimport 2",
            "removed 3",
            "there 4",
            "would move 5"
        ]
    );
    assert_eq!(
        steps(methods(), false),
        ["move 1", "reimport 2", "removed 3", "there 4", "move 5"]
    );
}

#[test]
fn a_dry_run_lists_every_card_of_a_customer_whatever_the_batch_size() {
    let many: Vec<_> = (1..=5).map(held).collect();
    let planned = steps(many, true);
    assert_eq!(planned.len(), 5);
    assert!(planned.iter().all(|s| s.starts_with("would move")));
}

#[test]
fn steps_keep_the_stores_order() {
    let methods = vec![held(9), imported(3), held(5), homed(held(1), TARGET)];
    assert_eq!(
        steps(methods, false),
        ["move 9", "reimport 3", "move 5", "there 1"]
    );
}

#[test]
fn a_customer_without_cards_has_no_steps() {
    assert!(steps(Vec::new(), false).is_empty());
}

#[test]
fn the_plan_carries_the_target_customer_and_the_own_one() {
    let read = found(vec![held(1)], Some("cus_target"), Some("cus_old"));
    let plan = plan_customer(&read, homes(), false);
    assert_eq!(plan.target_customer, Some("cus_target"));
    assert_eq!(plan.own, Some("cus_old"));
    assert!(!plan.dry_run);
    let read = found(vec![], None, None);
    let plan = plan_customer(&read, homes(), true);
    assert_eq!((plan.target_customer, plan.own), (None, None));
    assert!(plan.dry_run);
}

fn at_target(id: &str, names: Option<PaymentMethodId>) -> Card {
    Card {
        id: id.into(),
        last4: Some("4242".into()),
        exp_month: Some(12),
        exp_year: Some(2030),
        metadata: names
            .map(|pm| (CARD_METADATA_KEY.to_owned(), pm.to_string()))
            .into_iter()
            .collect(),
        ..Card::default()
    }
}

fn ids(cards: &[Card]) -> Vec<&str> {
    cards.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn a_card_some_record_points_at_is_never_an_unclaimed_copy() {
    // held(1) points at card_1, imported(2) at card_2; one without a Stripe card at all.
    let unreferenced = PaymentMethod {
        stripe: None,
        ..held(3)
    };
    let read = found(
        vec![held(1), imported(2), unreferenced],
        Some("cus_t"),
        None,
    );
    let plan = plan_customer(&read, homes(), false);
    assert_eq!(
        plan.referenced.iter().copied().collect::<Vec<_>>(),
        ["card_1", "card_2"]
    );
    let listed = ["card_2", "card_x", "card_1", "card_y"]
        .map(|id| at_target(id, None))
        .to_vec();
    assert_eq!(ids(&plan.unclaimed(listed)), ["card_x", "card_y"]);
}

#[test]
fn an_earlier_copy_is_taken_only_when_it_names_the_card_and_matches_it_once() {
    let pm = held(1);
    let look_alikes = vec![
        at_target("card_other", Some(pmid(2))),
        at_target("card_unnamed", None),
        Card {
            last4: Some("4444".into()),
            ..at_target("card_last4", Some(pm.id))
        },
        Card {
            exp_year: Some(2031),
            ..at_target("card_expiry", Some(pm.id))
        },
    ];
    let mut cards = look_alikes.clone();
    assert!(take_match(&mut cards, &pm).is_none());
    assert_eq!(ids(&cards), ids(&look_alikes), "nothing taken");

    cards.push(at_target("card_copy", Some(pm.id)));
    let taken = take_match(&mut cards, &pm).expect("the copy");
    assert_eq!(taken.id, "card_copy");
    assert_eq!(ids(&cards), ids(&look_alikes));
    assert!(take_match(&mut cards, &pm).is_none(), "taken once");
}

#[test]
fn a_bank_account_never_takes_a_copy() {
    let bank = PaymentMethod {
        instrument: Instrument::Ach {
            bank_name: None,
            routing_number: None,
        },
        ..held(1)
    };
    let mut cards = vec![at_target("card_copy", Some(bank.id))];
    assert!(take_match(&mut cards, &bank).is_none());
    assert_eq!(cards.len(), 1);
}

fn plan_of(read: &RehomeCustomer, dry_run: bool) -> CustomerPlan<'_> {
    plan_customer(read, homes(), dry_run)
}

#[test]
fn the_customer_switches_to_the_target_only_once_every_move_succeeded() {
    let read = found(vec![held(1)], None, Some("cus_old"));
    let plan = plan_of(&read, false);
    assert_eq!(plan.switch_own_to(Some("cus_t"), true), Some("cus_t"));
    assert_eq!(
        plan.switch_own_to(Some("cus_t"), false),
        None,
        "a card failed"
    );
    assert_eq!(plan.switch_own_to(None, true), None, "no target customer");
    assert_eq!(
        plan.switch_own_to(Some("cus_old"), true),
        None,
        "there already"
    );
    assert_eq!(
        plan_of(&read, true).switch_own_to(Some("cus_t"), true),
        None,
        "a dry run changes nothing"
    );
}

#[test]
fn a_customer_with_nothing_left_to_move_switches_to_a_recorded_target() {
    // An earlier run moved every card and stopped before the switch.
    let read = found(vec![homed(held(1), TARGET)], Some("cus_t"), Some("cus_old"));
    let plan = plan_of(&read, false);
    assert_eq!(
        plan.switch_own_to(plan.target_customer, true),
        Some("cus_t")
    );
    let unknown = found(vec![held(1)], None, None);
    assert_eq!(
        plan_of(&unknown, false).switch_own_to(Some("cus_t"), true),
        Some("cus_t"),
        "a customer with no own Stripe customer gets the target's"
    );
}

fn card() -> CardRef {
    CardRef {
        customer_id: cid(),
        payment_method_id: pmid(1),
        last4: "4242".into(),
    }
}

/// A report that moved `moved` cards and failed `failed`.
fn report(moved: usize, failed: usize) -> RehomeReport {
    RehomeReport {
        moved: vec![
            MovedCard {
                card: card(),
                stripe: None
            };
            moved
        ],
        failed: vec![
            FailedCard {
                card: card(),
                reason: "declined".into()
            };
            failed
        ],
        ..RehomeReport::default()
    }
}

fn limits(dry_run: bool, max_cards: Option<usize>) -> Limits {
    Limits { dry_run, max_cards }
}

#[test]
fn a_real_run_stops_at_its_batch_size_before_a_move_not_before_a_customer() {
    let batch = limits(false, Some(2));
    assert_eq!(batch.before_move(1), None);
    assert_eq!(batch.before_move(2), Some(Stop::Batch));
    assert_eq!(batch.before_customer(&report(2, 0)), None);
    // Failed cards moved nothing: they leave the batch room.
    assert_eq!(batch.before_customer(&report(1, 5)), None);
    assert_eq!(limits(false, Some(0)).before_move(0), Some(Stop::Batch));
    assert_eq!(limits(false, None).before_move(REPORT_MAX * 10), None);
}

#[test]
fn a_dry_run_stops_at_its_batch_size_between_customers() {
    let batch = limits(true, Some(2));
    assert_eq!(batch.before_customer(&report(1, 0)), None);
    assert_eq!(batch.before_customer(&report(2, 0)), Some(Stop::Batch));
    assert_eq!(batch.before_customer(&report(3, 0)), Some(Stop::Batch));
    assert_eq!(limits(true, None).before_customer(&report(500, 0)), None);
}

#[test]
fn the_report_cap_stops_before_a_customer_before_the_batch_size_does() {
    for dry_run in [false, true] {
        let l = limits(dry_run, Some(REPORT_MAX * 2));
        assert_eq!(l.before_customer(&report(REPORT_MAX - 1, 0)), None);
        assert_eq!(
            l.before_customer(&report(REPORT_MAX - 1, 1)),
            Some(Stop::Full)
        );
        let both = limits(dry_run, Some(1));
        assert_eq!(
            both.before_customer(&report(REPORT_MAX, 0)),
            Some(Stop::Full)
        );
    }
}
