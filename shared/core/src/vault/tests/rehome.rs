//! Re-homing vault-held cards to a tenant's new Stripe connection.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::domain::{Deadline, Instrument, StripeRef};
use crate::vault::rehome::{
    register_target, RehomeCursor, RehomeReport, RehomeRequest, PROOF_STRIPE_OAUTH, START,
};

const NEW_ACCOUNT: &str = "acct_1NewHome";
/// The invoking principal, as STS named it.
const INVOKER: &str = "arn:aws:sts::123456789012:assumed-role/cardvault-operator/alice";

fn to_new_account() -> StripeConnection {
    StripeConnection::parse_account_id(NEW_ACCOUNT).unwrap()
}

/// The test vault with [`NEW_ACCOUNT`] registered as the Connect tenant's target.
async fn registered_vault() -> Vault<Memory> {
    let v = vault();
    ok(register_target(&v.store, &tid(CONNECT), NEW_ACCOUNT, PROOF_STRIPE_OAUTH).await);
    v.store.take_calls();
    v
}

fn request(tenant: &str, dry_run: bool) -> RehomeRequest {
    RehomeRequest {
        tenant: tid(tenant),
        to: to_new_account(),
        cursor: None,
        dry_run,
        max_cards: None,
        invoker: INVOKER.into(),
    }
}

/// A card entered through the redirect for `c` (of the Connect tenant unless `tenant`).
async fn redirect_card(
    v: &Vault<Memory>,
    tenant: &Tenant,
    c: &Customer,
    pan: &str,
) -> PaymentMethod {
    let added = ok(v
        .add_entered_card(tenant, c.id, card(pan).holder("Karen", "Wood").build())
        .await);
    v.store.take_calls();
    v.gateway.take_calls();
    added.view.payment_method
}

async fn run(v: &Vault<Memory>, r: &RehomeRequest) -> RehomeReport {
    ok(v.rehome_cards(r).await)
}

/// Batches until the cursor says done; answers every report.
async fn run_to_end(v: &Vault<Memory>, mut r: RehomeRequest) -> Vec<RehomeReport> {
    let mut reports = Vec::new();
    for _ in 0..50 {
        let report = run(v, &r).await;
        let next = report.cursor.clone();
        reports.push(report);
        match next {
            None => return reports,
            Some(c) => r.cursor = RehomeCursor::parse(&c),
        }
    }
    panic!("re-homing never finished");
}

fn stored(v: &Vault<Memory>, pm: &PaymentMethod) -> PaymentMethod {
    stored_of(v, pm.customer_id)
        .into_iter()
        .find(|p| p.id == pm.id)
        .expect("still stored")
}

fn count(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| *o == op).count()
}

#[tokio::test]
async fn vault_held_cards_move_to_the_new_account_and_imported_ones_are_listed() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let (c1, c2) = (customer(&v, CONNECT).await, customer(&v, CONNECT).await);
    let visa = redirect_card(&v, &t, &c1, VISA).await;
    let mc = redirect_card(&v, &t, &c2, MASTERCARD).await;
    let imported = imported(&v, &c1, "1881").await.payment_method;
    let old_own = reread(&v, &c1).await.stripe_customer_id;

    let report = run(&v, &request(CONNECT, false)).await;

    assert_eq!(report.cursor, None, "one batch was enough");
    assert_eq!(report.stopped, None);
    assert_eq!(report.customers, 2);
    assert_eq!(report.moved.len(), 2);
    assert_eq!(report.target, NEW_ACCOUNT);
    assert_eq!(
        report
            .needs_reimport
            .iter()
            .map(|c| c.payment_method_id)
            .collect::<Vec<_>>(),
        vec![imported.id]
    );
    assert!(report.failed.is_empty());
    // Decrypted once per card, no more.
    assert_eq!(v.keys.data_keys().decrypted.load(Ordering::SeqCst), 2);

    for (before, pan_last4) in [(&visa, "4242"), (&mc, "4444")] {
        let after = stored(&v, before);
        let StripeRef {
            customer_id,
            source_id,
        } = after.stripe.clone().unwrap();
        assert_ne!(
            Some(&customer_id),
            before.stripe.as_ref().map(|s| &s.customer_id)
        );
        assert_ne!(
            Some(&source_id),
            before.stripe.as_ref().map(|s| &s.source_id)
        );
        assert_eq!(after.stripe_home.as_deref(), Some(NEW_ACCOUNT));
        // Made at the new account, with the same last 4 and expiry.
        assert_eq!(
            v.gateway.account_of(&customer_id).as_deref(),
            Some(NEW_ACCOUNT)
        );
        assert_eq!(
            v.gateway.account_of(&source_id).as_deref(),
            Some(NEW_ACCOUNT)
        );
        let at_stripe = v
            .gateway
            .card_of(&customer_id, &source_id)
            .expect("held at Stripe");
        assert_eq!(at_stripe.last4.as_deref(), Some(pan_last4));
        assert_eq!(
            (at_stripe.exp_month, at_stripe.exp_year),
            (Some(12), Some(2030))
        );
        assert_eq!(at_stripe.name.as_deref(), Some("Karen Wood"));
        // Everything else about the card is as it was.
        assert_eq!(after.encrypted_pan, before.encrypted_pan);
        assert_eq!(after.fingerprint, before.fingerprint);
        assert_eq!(after.instrument, before.instrument);
        // New cards of the customer go to its customer at the new account.
        let own = reread(
            &v,
            &Customer {
                id: before.customer_id,
                ..c1.clone()
            },
        )
        .await;
        assert_eq!(own.stripe_customer_id, Some(customer_id));
    }
    assert_ne!(reread(&v, &c1).await.stripe_customer_id, old_own);
    // The imported card is untouched.
    assert_eq!(stored(&v, &imported), imported);
    // Each move is in the audit trail, naming the new card, never a number.
    let rehomed: Vec<_> = v
        .store
        .audit_events(&tid(CONNECT))
        .into_iter()
        .filter(|e| e.event.action == "card.rehomed")
        .collect();
    assert_eq!(rehomed.len(), 2);
    assert!(rehomed
        .iter()
        .all(|e| e.event.actor == format!("operator:{INVOKER}")));
}

#[tokio::test]
async fn a_second_run_creates_nothing_and_reports_the_cards_already_there() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    redirect_card(&v, &t, &c, VISA).await;
    redirect_card(&v, &t, &c, MASTERCARD).await;
    run(&v, &request(CONNECT, false)).await;
    let customers = v.gateway.live_customers();
    v.gateway.take_calls();
    let decrypted = v.keys.data_keys().decrypted.load(Ordering::SeqCst);

    let again = run(&v, &request(CONNECT, false)).await;

    assert!(again.moved.is_empty());
    assert_eq!(again.already_there, 2);
    assert_eq!(
        stripe_ops(&v),
        Vec::<String>::new(),
        "no Stripe call at all"
    );
    assert_eq!(v.gateway.live_customers(), customers);
    assert_eq!(
        v.keys.data_keys().decrypted.load(Ordering::SeqCst),
        decrypted
    );
}

#[tokio::test]
async fn a_dry_run_counts_and_opens_creates_and_changes_nothing() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    redirect_card(&v, &t, &c, VISA).await;
    redirect_card(&v, &t, &c, MASTERCARD).await;
    imported(&v, &c, "1881").await;
    let before = v.store.payment_methods();

    let report = run(&v, &request(CONNECT, true)).await;

    assert!(report.dry_run);
    assert_eq!(report.moved.len(), 2);
    assert!(report.moved.iter().all(|m| m.stripe.is_none()));
    assert_eq!(report.needs_reimport.len(), 1);
    assert_eq!(report.cursor, None);
    assert_eq!(stripe_ops(&v), Vec::<String>::new());
    assert_eq!(v.keys.data_keys().decrypted.load(Ordering::SeqCst), 0);
    assert_eq!(v.store.payment_methods(), before);
}

/// The crash the design is for: the card is added at the target, then the record's write
/// fails (the function dies in between). Stripe's idempotency keys are forgotten too (as
/// after 24 hours, or on localstripe): the resume still adds nothing twice.
#[tokio::test]
async fn a_crash_between_the_stripe_add_and_the_write_resumes_without_a_second_card() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;
    v.store.fail("rehome_payment_method");

    let crashed = run(&v, &request(CONNECT, false)).await;

    assert!(crashed.moved.is_empty());
    assert_eq!(
        crashed.cursor.as_deref(),
        Some(START),
        "the customer is done again"
    );
    assert!(crashed.stopped.is_some());
    assert_eq!(
        stored(&v, &pm),
        pm,
        "the record still points at the old account"
    );
    let ops = stripe_ops(&v);
    assert_eq!(count(&ops, "add_card_on_file"), 1);
    let customers = v.gateway.live_customers();

    v.store.heal("rehome_payment_method");
    v.gateway.forget_idempotency_keys();
    let resumed = run(&v, &request(CONNECT, false)).await;

    assert_eq!(resumed.moved.len(), 1);
    let ops = stripe_ops(&v);
    assert_eq!(
        count(&ops, "add_card_on_file"),
        0,
        "the earlier copy was reused: {ops:?}"
    );
    assert_eq!(count(&ops, "create_vault_customer"), 0);
    assert_eq!(v.gateway.live_customers(), customers);
    let to = stored(&v, &pm).stripe.unwrap();
    assert_eq!(v.gateway.sources_of(&to.customer_id), vec![to.source_id]);
}

/// Two runs of the same move at once (an operator's retry while the first still runs):
/// whichever records its copy first wins, and the other never detaches the copy the record
/// now points at, nor leaves a copy of its own behind.
#[tokio::test(start_paused = true)]
async fn two_runs_at_once_leave_one_copy_the_record_points_at() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;
    // Both runs read the card before either records its move.
    v.gateway
        .latency("add_card_on_file", Duration::from_millis(200));
    let r = request(CONNECT, false);

    let (a, b) = tokio::join!(run(&v, &r), run(&v, &r));

    assert_eq!(a.moved.len(), 1, "{a:?}");
    let to = stored(&v, &pm).stripe.unwrap();
    assert_eq!(
        to.customer_id,
        a.moved[0].stripe.as_ref().unwrap().customer_id
    );
    assert_eq!(
        v.gateway.sources_of(&to.customer_id),
        vec![to.source_id.clone()],
        "{b:?}"
    );
}

#[tokio::test]
async fn a_batch_size_stops_part_way_and_the_next_batches_finish_without_repeats() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let (c1, c2) = (customer(&v, CONNECT).await, customer(&v, CONNECT).await);
    redirect_card(&v, &t, &c1, VISA).await;
    redirect_card(&v, &t, &c1, MASTERCARD).await;
    redirect_card(&v, &t, &c2, AMEX).await;

    let reports = run_to_end(
        &v,
        RehomeRequest {
            max_cards: Some(1),
            ..request(CONNECT, false)
        },
    )
    .await;

    assert!(reports.len() >= 3, "{} batches", reports.len());
    assert!(reports.iter().all(|r| r.moved.len() <= 1));
    assert_eq!(reports.iter().map(|r| r.moved.len()).sum::<usize>(), 3);
    assert_eq!(count(&stripe_ops(&v), "add_card_on_file"), 3);
    for c in [&c1, &c2] {
        let cards = stored_of(&v, c.id);
        let target = cards[0].stripe.clone().unwrap().customer_id;
        assert!(cards
            .iter()
            .all(|p| p.stripe.as_ref().unwrap().customer_id == target));
        assert_eq!(v.gateway.sources_of(&target).len(), cards.len());
    }
}

#[tokio::test]
async fn the_deadline_stops_a_batch_before_a_card_it_could_not_finish() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;

    let short = Deadline::after(Duration::from_secs(5))
        .scope(v.rehome_cards(&request(CONNECT, false)))
        .await;
    let short = ok(short);
    assert_eq!(short.cursor.as_deref(), Some(START));
    assert!(short.stopped.unwrap().contains("time"));
    assert_eq!(stripe_ops(&v), Vec::<String>::new());
    assert_eq!(stored(&v, &pm), pm);

    let long = ok(Deadline::after(Duration::from_secs(60))
        .scope(v.rehome_cards(&request(CONNECT, false)))
        .await);
    assert_eq!(long.moved.len(), 1);
    assert_eq!(long.cursor, None);
}

/// The card made at the new account carries the holder's name and address, as the
/// redirect took them: Stripe's address checks need them on the new card too.
#[tokio::test]
async fn a_moved_card_keeps_its_holders_name_and_address() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let text = |s: &str| Text::parse_optional("f", Some(s), 50).unwrap();
    let mut entry = card(VISA).holder("Karen", "Wood").build();
    entry.holder.address1 = text("10 Dodge St");
    entry.holder.address2 = text("Unit 2");
    entry.holder.city = text("Columbia");
    entry.holder.postal_zip = text("V9V 9V9");
    entry.holder.country_id = Some(124);
    let pm = ok(v.add_entered_card(&t, c.id, entry).await)
        .view
        .payment_method;

    assert_eq!(run(&v, &request(CONNECT, false)).await.moved.len(), 1);
    let to = stored(&v, &pm).stripe.unwrap();
    let at = v.gateway.card_of(&to.customer_id, &to.source_id).unwrap();
    assert_eq!(at.name.as_deref(), Some("Karen Wood"));
    assert_eq!(
        [
            &at.address_line1,
            &at.address_line2,
            &at.address_city,
            &at.address_zip,
            &at.address_country
        ]
        .map(|f| f.as_deref()),
        [
            Some("10 Dodge St"),
            Some("Unit 2"),
            Some("Columbia"),
            Some("V9V 9V9"),
            Some("CA")
        ]
    );
}

/// Each customer needs a second beyond the reserve: with less, the batch stops before it,
/// even one with no card to move (whose turn would otherwise pass it by).
#[tokio::test]
async fn the_deadline_stops_a_batch_before_a_customer_it_could_not_start() {
    let v = registered_vault().await;
    customer(&v, CONNECT).await;

    let short = ok(Deadline::after(Duration::from_millis(3_500))
        .scope(v.rehome_cards(&request(CONNECT, false)))
        .await);
    assert_eq!(short.cursor.as_deref(), Some(START));
    assert!(short.stopped.unwrap().contains("time"));

    let enough = ok(Deadline::after(Duration::from_millis(4_500))
        .scope(v.rehome_cards(&request(CONNECT, false)))
        .await);
    assert_eq!((enough.cursor, enough.stopped), (None, None));
}

#[tokio::test]
async fn another_tenants_cards_are_never_touched() {
    let v = registered_vault().await;
    let own = own_key_tenant();
    let theirs = customer(&v, OWN).await;
    let their_card = redirect_card(&v, &own, &theirs, VISA).await;
    let their_stripe = reread(&v, &theirs).await.stripe_customer_id;
    let c = customer(&v, CONNECT).await;
    redirect_card(&v, &connect_tenant(), &c, VISA).await;

    let report = run(&v, &request(CONNECT, false)).await;

    assert_eq!(report.moved.len(), 1);
    assert!(report.moved.iter().all(|m| m.card.customer_id == c.id));
    assert_eq!(stored(&v, &their_card), their_card);
    assert_eq!(reread(&v, &theirs).await.stripe_customer_id, their_stripe);
}

#[tokio::test]
async fn an_own_key_target_is_refused_before_anything_is_read_and_audited() {
    let v = registered_vault().await;
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &connect_tenant(), &c, VISA).await;
    let secret = format!("cardvault/tenant/{CONNECT}/stripe-new");
    let to = StripeConnection::parse_secret_id(&tid(CONNECT), &secret).unwrap();
    // Even with a key in place: nothing proves which account it opens.
    v.secrets.set(&secret, "sk_test_new_home");
    for dry_run in [true, false] {
        let r = RehomeRequest {
            to: to.clone(),
            ..request(CONNECT, dry_run)
        };
        v.store.take_calls();
        let e = err(v.rehome_cards(&r).await);
        assert_eq!(bad_request(e), crate::vault::rehome::OWN_KEY_TARGET);
        let calls = v.store.take_calls();
        assert!(
            !calls
                .iter()
                .any(|c| c.contains("customer") || c.contains("payment_method")),
            "nothing of the tenant's cards was read: {calls:?}"
        );
    }
    assert_eq!(stored(&v, &pm), pm);
    // A secret outside the tenant's own prefix is refused at the boundary.
    for bad in [
        "cardvault/stripe-platform",
        "cardvault/tenant/other/k",
        "cardvault/tenant/shop-connect/",
    ] {
        assert!(
            StripeConnection::parse_secret_id(&tid(CONNECT), bad).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_pan_that_does_not_open_fails_its_card_only() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let good = redirect_card(&v, &t, &c, VISA).await;
    let bad = redirect_card(&v, &t, &c, MASTERCARD).await;
    // The ciphertext of another record does not open under this one's context.
    let mut swapped = bad.clone();
    swapped.encrypted_pan = good.encrypted_pan.clone();
    v.store.replace_payment_method(swapped);

    let report = run(&v, &request(CONNECT, false)).await;

    assert_eq!(report.moved.len(), 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].card.payment_method_id, bad.id);
    assert!(!report.failed[0].reason.contains("5555"));
    assert_eq!(stored(&v, &bad).stripe, bad.stripe);
    assert!(matches!(
        stored(&v, &bad).instrument,
        Instrument::Card { .. }
    ));
}

#[tokio::test]
async fn a_card_removed_at_stripe_is_neither_opened_nor_moved() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let kept = redirect_card(&v, &t, &c, VISA).await;
    let removed = redirect_card(&v, &t, &c, MASTERCARD).await;
    let mut marked = stored(&v, &removed);
    marked.removed_at_stripe = Some(marked.modified_at);
    v.store.replace_payment_method(marked);

    let report = run(&v, &request(CONNECT, false)).await;

    assert_eq!(report.moved.len(), 1);
    assert_eq!(report.moved[0].card.payment_method_id, kept.id);
    assert_eq!(
        report
            .removed_at_stripe
            .iter()
            .map(|c| c.payment_method_id)
            .collect::<Vec<_>>(),
        vec![removed.id]
    );
    assert_eq!(v.keys.data_keys().decrypted.load(Ordering::SeqCst), 1);
    assert_eq!(stored(&v, &removed).stripe, removed.stripe);
}

#[tokio::test]
async fn a_tenant_whose_old_account_was_deauthorized_can_still_move_its_cards() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let card = redirect_card(&v, &t, &c, VISA).await;
    v.store.insert_tenant(Tenant {
        stripe_revoked_at: Some(card.modified_at),
        ..t
    });

    let report = run(&v, &request(CONNECT, false)).await;

    assert_eq!(report.moved.len(), 1, "{report:?}");
    assert_eq!(stored(&v, &card).stripe_home.as_deref(), Some(NEW_ACCOUNT));
}

/// A card at the target that does not name the vault card (one the tenant added there,
/// with the same last 4 and expiry) is never taken for an interrupted run's copy.
#[tokio::test]
async fn a_look_alike_card_at_the_target_is_not_taken_for_an_earlier_copy() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;
    v.store.fail("rehome_payment_method");
    run(&v, &request(CONNECT, false)).await;
    v.store.heal("rehome_payment_method");
    v.gateway.forget_idempotency_keys();
    v.gateway.forget_metadata();
    stripe_ops(&v);

    let resumed = run(&v, &request(CONNECT, false)).await;

    assert_eq!(resumed.moved.len(), 1);
    let ops = stripe_ops(&v);
    assert_eq!(
        count(&ops, "add_card_on_file"),
        1,
        "a copy of its own: {ops:?}"
    );
    let to = stored(&v, &pm).stripe.unwrap();
    assert_eq!(v.gateway.sources_of(&to.customer_id).len(), 2);
}

/// A dry run with a batch size stops between customers (it moves nothing, so a stop
/// inside a customer would list it again for ever), and its batches cover every card once.
#[tokio::test]
async fn a_dry_run_batch_stops_between_customers_and_its_batches_list_each_card_once() {
    let v = registered_vault().await;
    let t = connect_tenant();
    for _ in 0..3 {
        let c = customer(&v, CONNECT).await;
        redirect_card(&v, &t, &c, VISA).await;
        redirect_card(&v, &t, &c, MASTERCARD).await;
    }
    let r = RehomeRequest {
        max_cards: Some(1),
        ..request(CONNECT, true)
    };

    let reports = run_to_end(&v, r).await;

    assert_eq!(reports.len(), 3, "one customer per batch");
    assert!(reports.iter().all(|b| b.moved.len() == 2));
    let mut listed: Vec<_> = reports
        .iter()
        .flat_map(|b| b.moved.iter().map(|m| m.card.payment_method_id))
        .collect();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 6);
}

/// Cards are never moved into a Stripe account another tenant is connected through: its
/// owner would hold this tenant's cardholders' cards.
#[tokio::test]
async fn another_tenants_account_is_refused_as_a_target() {
    let v = registered_vault().await;
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;
    v.store.insert_tenant(tenant_with_account(NEW_ACCOUNT));

    let refused = v.rehome_cards(&request(CONNECT, false)).await;

    assert!(bad_request(err(refused)).contains("another tenant"));
    assert_eq!(stripe_ops(&v), Vec::<String>::new());
    assert_eq!(stored(&v, &pm), pm);
    // Its own account (a repeat after the switch) is fine.
    v.store.insert_tenant(Tenant {
        stripe: Some(to_new_account()),
        ..connect_tenant()
    });
    v.store.insert_tenant(Tenant {
        stripe: None,
        ..tenant_with_account(NEW_ACCOUNT)
    });
    ok(v.rehome_cards(&request(CONNECT, true)).await);
}

/// A connected account no one registered for the tenant (an id typed in free) is refused
/// before any card is read, opened or sent to Stripe, and the refusal is on the trail.
#[tokio::test]
async fn an_account_not_registered_for_the_tenant_is_refused_and_audited() {
    let v = vault();
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let pm = redirect_card(&v, &t, &c, VISA).await;

    for dry_run in [false, true] {
        let refused = v.rehome_cards(&request(CONNECT, dry_run)).await;
        assert!(
            bad_request(err(refused)).contains("connect-account"),
            "dry run {dry_run}"
        );
    }

    assert_eq!(stripe_ops(&v), Vec::<String>::new());
    assert_eq!(v.keys.data_keys().decrypted.load(Ordering::SeqCst), 0);
    assert_eq!(stored(&v, &pm), pm);
    let ops = v.store.take_calls();
    assert!(!ops.contains(&"tenant_customer_ids"), "{ops:?}");
    let refused: Vec<_> = v
        .store
        .audit_events(&tid(CONNECT))
        .into_iter()
        .filter(|e| e.event.action == "rehome.refused")
        .collect();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0].event.object.as_deref(), Some(NEW_ACCOUNT));
    assert_eq!(refused[0].event.actor, format!("operator:{INVOKER}"));
    // Registered for another tenant is not registered for this one.
    ok(register_target(&v.store, &tid(OWN), "acct_1Elsewhere", PROOF_STRIPE_OAUTH).await);
    let to_theirs = RehomeRequest {
        to: StripeConnection::parse_account_id("acct_1Elsewhere").unwrap(),
        ..request(CONNECT, true)
    };
    assert!(bad_request(err(v.rehome_cards(&to_theirs).await)).contains("another tenant"));
}

/// Registration refuses an account another tenant is connected through or registered,
/// and takes one the tenant holds already (a repeat).
#[tokio::test]
async fn registration_refuses_an_account_another_tenant_holds_or_registered() {
    let v = vault();
    let (mine, theirs) = (tid(CONNECT), tid(OWN));
    v.store.insert_tenant(tenant_with_account("acct_1Theirs"));
    let refused = register_target(&v.store, &mine, "acct_1Theirs", PROOF_STRIPE_OAUTH);
    assert!(bad_request(err(refused.await)).contains("another tenant"));

    ok(register_target(&v.store, &theirs, "acct_1TheirNext", PROOF_STRIPE_OAUTH).await);
    let refused = register_target(&v.store, &mine, "acct_1TheirNext", PROOF_STRIPE_OAUTH);
    assert!(bad_request(err(refused.await)).contains("another tenant"));

    ok(register_target(&v.store, &tid(CONNECT), "acct_1Mine", PROOF_STRIPE_OAUTH).await);
    ok(register_target(&v.store, &tid(CONNECT), "acct_1Mine", PROOF_STRIPE_OAUTH).await);
    let not_an_account = register_target(&v.store, &mine, "cus_1", PROOF_STRIPE_OAUTH);
    assert!(bad_request(err(not_an_account.await)).contains("acct_"));
}
