//! Stripe's webhooks: the signature before anything else, each event id once, older news
//! never over newer, and a tenant's endpoint touching that tenant's cards alone.

use serde_json::{json, Value};

use super::*;
use crate::domain::stripe_event::TENANT_WEBHOOK_SECRET_PREFIX;
use crate::domain::{CardBrand, Instrument};
use crate::stripe_webhook::sign;
use crate::vault::credentials::STRIPE_REVOKED;
use crate::vault::webhooks::{Handled, WebhookRoute, BAD_SIGNATURE};

const PLATFORM_SECRET: &str = "whsec_platform";
const OWN_SECRET: &str = "whsec_own";

fn hooked() -> Vault<Memory> {
    let v = vault();
    v.secrets.set(memory::WEBHOOK_SECRET_ID, PLATFORM_SECRET);
    v.secrets
        .set(&format!("{TENANT_WEBHOOK_SECRET_PREFIX}{OWN}"), OWN_SECRET);
    v
}

fn now(v: &Vault<Memory>) -> i64 {
    crate::ports::Clock::now(&v.clock).unix_timestamp()
}

/// An event as Stripe sends it, made `age` seconds before now.
fn event(v: &Vault<Memory>, id: &str, kind: &str, age: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": now(v) - age,
           "data": {"object": object}})
}

async fn deliver(
    v: &Vault<Memory>,
    route: &WebhookRoute,
    secret: &str,
    event: &Value,
) -> Result<Handled, Error> {
    let body = event.to_string();
    let header = sign(secret, now(v), body.as_bytes());
    v.stripe_webhook(route, Some(&header), body.as_bytes())
        .await
}

/// Imports a new card seeded at Stripe for `c`, a customer of `tenant`.
async fn import_new_card(v: &Vault<Memory>, tenant: &str, c: &Customer) -> Result<CardView, Error> {
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.import_card(
        &tid(tenant),
        StripeRoute::Any,
        import_request(c.id, &cus, &card),
    )
    .await
}

fn own() -> WebhookRoute {
    WebhookRoute::Tenant(tid(OWN))
}

/// The card object Stripe sends for `view`'s card, with an expiry.
fn card_object(view: &CardView, month: u8, year: u16) -> Value {
    let s = view.payment_method.stripe.as_ref().unwrap();
    json!({"id": s.source_id, "object": "card", "customer": s.customer_id, "brand": "MasterCard",
           "last4": "4444", "exp_month": month, "exp_year": year})
}

fn stored(v: &Vault<Memory>, view: &CardView) -> PaymentMethod {
    stored_of(v, view.payment_method.customer_id)
        .into_iter()
        .find(|p| p.id == view.payment_method.id)
        .unwrap()
}

fn expiry(pm: &PaymentMethod) -> (u8, u16) {
    match pm.instrument {
        Instrument::Card {
            exp_month,
            exp_year,
            ..
        } => (exp_month, exp_year),
        _ => panic!("a card"),
    }
}

#[tokio::test]
async fn a_card_updater_event_gives_the_card_its_new_expiry_last4_and_brand() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let e = event(
        &v,
        "evt_upd1",
        "customer.source.updated",
        10,
        card_object(&card, 3, 2033),
    );
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &e).await),
        Handled::Applied { changes: 1 }
    );
    let pm = stored(&v, &card);
    assert_eq!(expiry(&pm), (3, 2033));
    assert_eq!(pm.last4, "4444");
    assert!(matches!(
        pm.instrument,
        Instrument::Card {
            brand: CardBrand::MasterCard,
            ..
        }
    ));
    let clock = pm.stripe_card_events.as_ref().unwrap();
    assert_eq!(
        (clock.at, clock.ids.as_slice()),
        (now(&v) - 10, &["evt_upd1".to_owned()][..])
    );
    assert_eq!(pm.stripe_charge_events, None);
    // Its audit event names the Stripe event as the actor.
    let audit = v.store.audit_events(&tid(OWN));
    let last = &audit.last().unwrap().event;
    assert_eq!(last.action, "stripe.cardUpdated");
    assert_eq!(last.actor, "stripe:evt_upd1");
    assert_eq!(last.payment_method_id, Some(card.payment_method.id.get()));
}

#[tokio::test]
async fn a_bad_missing_or_stale_signature_is_refused_before_anything_is_read() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let e = event(
        &v,
        "evt_forged",
        "customer.source.updated",
        0,
        card_object(&card, 3, 2033),
    );
    let body = e.to_string();
    let t = now(&v);
    for header in [
        None,
        Some(sign("whsec_attacker", t, body.as_bytes())),
        // The platform's secret is not the tenant's.
        Some(sign(PLATFORM_SECRET, t, body.as_bytes())),
        Some(sign(OWN_SECRET, t - 301, body.as_bytes())),
        Some("t=1,v1=00".into()),
    ] {
        let r = v
            .stripe_webhook(&own(), header.as_deref(), body.as_bytes())
            .await;
        assert_eq!(bad_request(err(r)), BAD_SIGNATURE, "{header:?}");
    }
    // A tenant without a secret (or that does not exist) verifies nothing.
    let r = deliver(&v, &WebhookRoute::Tenant(tid(CONNECT)), OWN_SECRET, &e).await;
    assert_eq!(bad_request(err(r)), BAD_SIGNATURE);
    // At most the tenant is read (to know it has an endpoint); no card, nothing written.
    let calls = v.store.take_calls();
    assert!(
        calls.iter().all(|c| *c == "get_tenant"),
        "nothing but the tenant read: {calls:?}"
    );
    assert_eq!(expiry(&stored(&v, &card)), (8, 2030));
}

#[tokio::test]
async fn an_event_id_is_processed_once() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let s = card.payment_method.stripe.clone().unwrap();
    let failed = event(
        &v,
        "evt_fail1",
        "charge.failed",
        5,
        json!({"id": "ch_1",
        "customer": s.customer_id, "source": {"id": s.source_id}, "failure_message": "Your card was declined."}),
    );
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &failed).await),
        Handled::Applied { changes: 1 }
    );
    for _ in 0..3 {
        assert_eq!(
            ok(deliver(&v, &own(), OWN_SECRET, &failed).await),
            Handled::Duplicate
        );
    }
    // Stripe retries a delivery for up to three days: still the same event then.
    v.clock.advance(3 * 24 * 3600);
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &failed).await),
        Handled::Duplicate
    );
    let pm = stored(&v, &card);
    assert_eq!(pm.failures, 1);
    assert_eq!(pm.last_error.as_deref(), Some("Your card was declined."));
    // Another failure counts; a success clears the count and the message.
    let again = event(
        &v,
        "evt_fail2",
        "payment_intent.payment_failed",
        4,
        json!({"id": "pi_1",
        "customer": s.customer_id, "payment_method": s.source_id,
        "last_payment_error": {"message": "Card 4000 0000 0000 0002 declined"}}),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &again).await);
    let pm = stored(&v, &card);
    assert_eq!(pm.failures, 2);
    assert_eq!(pm.last_error.as_deref(), Some("Card [redacted] declined"));
    let paid = event(
        &v,
        "evt_ok1",
        "charge.succeeded",
        3,
        json!({"id": "ch_2",
        "customer": s.customer_id, "payment_method": s.source_id}),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &paid).await);
    let pm = stored(&v, &card);
    assert_eq!((pm.failures, pm.last_error), (0, None));
}

#[tokio::test]
async fn an_older_event_never_overwrites_newer_state() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let newer = event(
        &v,
        "evt_new",
        "customer.source.updated",
        10,
        card_object(&card, 4, 2034),
    );
    let older = event(
        &v,
        "evt_old",
        "customer.source.updated",
        60,
        card_object(&card, 1, 2031),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &newer).await);
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &older).await),
        Handled::Ignored
    );
    assert_eq!(expiry(&stored(&v, &card)), (4, 2034));
    // An older failure does not count against a card a newer success cleared.
    let s = card.payment_method.stripe.clone().unwrap();
    let charge = |id: &str, kind: &str, age: i64| {
        event(
            &v,
            id,
            kind,
            age,
            json!({"id": "ch_1", "customer": s.customer_id, "payment_method": s.source_id,
                   "failure_message": "declined"}),
        )
    };
    ok(deliver(
        &v,
        &own(),
        OWN_SECRET,
        &charge("evt_newok", "charge.succeeded", 5),
    )
    .await);
    assert_eq!(
        ok(deliver(
            &v,
            &own(),
            OWN_SECRET,
            &charge("evt_oldfail", "charge.failed", 30)
        )
        .await),
        Handled::Ignored
    );
    assert_eq!(stored(&v, &card).failures, 0);
}

/// Each kind of news keeps its own order: a charge newer than a card update does not make
/// the (older, later-delivered) update stale, nor the other way round.
#[tokio::test]
async fn news_of_charges_never_hides_news_of_the_card() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let s = card.payment_method.stripe.clone().unwrap();
    let failed = event(
        &v,
        "evt_fail",
        "charge.failed",
        5,
        json!({"id": "ch_1", "customer": s.customer_id, "payment_method": s.source_id,
               "failure_message": "Your card has expired."}),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &failed).await);
    let update = event(
        &v,
        "evt_upd_late",
        "customer.source.updated",
        60,
        card_object(&card, 6, 2036),
    );
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &update).await),
        Handled::Applied { changes: 1 }
    );
    let pm = stored(&v, &card);
    assert_eq!((expiry(&pm), pm.failures), ((6, 2036), 1));
}

/// Stripe retries an event the vault answered with an error; if the card took it before
/// the error (the event's record was freed after the write), the retry must not count it
/// again. Events of the same second that differ still each count.
#[tokio::test]
async fn an_event_taken_already_is_not_counted_again_when_redelivered() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let s = card.payment_method.stripe.clone().unwrap();
    let failed = |id: &str| {
        event(
            &v,
            id,
            "charge.failed",
            5,
            json!({"id": "ch_1", "customer": s.customer_id, "payment_method": s.source_id,
                   "failure_message": "declined"}),
        )
    };
    // The card takes the event, then its record cannot be completed: an error, and once
    // the claim lapses, Stripe's retry runs the event again.
    let f1 = failed("evt_f1");
    let f2 = failed("evt_f2");
    v.store.fail("complete");
    let first = deliver(&v, &own(), OWN_SECRET, &f1).await;
    v.store.heal("complete");
    assert!(first.is_err(), "{first:?}");
    assert_eq!(stored(&v, &card).failures, 1);
    v.clock.advance(60);
    // The redelivery completes (the event is taken) without counting it again.
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &f1).await),
        Handled::Applied { changes: 1 }
    );
    assert_eq!(stored(&v, &card).failures, 1);
    // Another failure of the same second is news.
    ok(deliver(&v, &own(), OWN_SECRET, &f2).await);
    assert_eq!(stored(&v, &card).failures, 2);
}

/// An unknown tenant's endpoint reads no secret, and a known tenant's miss is remembered:
/// a flood of deliveries to the tenant route costs Secrets Manager nothing after the first.
#[tokio::test]
async fn the_tenant_route_reads_secrets_only_for_a_known_tenant_and_remembers_misses() {
    let v = hooked();
    let e = event(&v, "evt_x", "customer.source.updated", 0, json!({}));
    let body = e.to_string();
    let header = sign(OWN_SECRET, now(&v), body.as_bytes());
    let unknown = WebhookRoute::Tenant(tid("no-such-tenant"));
    for _ in 0..3 {
        let refused = v
            .stripe_webhook(&unknown, Some(&header), body.as_bytes())
            .await;
        assert_eq!(bad_request(err(refused)), BAD_SIGNATURE);
    }
    assert_eq!(v.secrets.reads(), 0);
    // A known tenant without a secret: read once, then remembered.
    v.secrets
        .remove(&format!("{TENANT_WEBHOOK_SECRET_PREFIX}{OWN}"));
    for _ in 0..3 {
        let refused = v
            .stripe_webhook(&own(), Some(&header), body.as_bytes())
            .await;
        assert_eq!(bad_request(err(refused)), BAD_SIGNATURE);
    }
    assert_eq!(v.secrets.reads(), 1);
}

/// Issue 26, item 8: the tenant route reads nothing for an unknown tenant. "Nothing": no
/// secret at all, and of the table only the tenant's own item, once per container while
/// the miss is remembered (`webhooks::SECRET_MISS_TTL`): a flood of deliveries to one made-up id
/// costs one GetItem, not one per delivery. (Each new id costs its one GetItem: the route's
/// throttle bounds those.)
#[tokio::test]
async fn an_unknown_tenant_costs_one_read_of_its_item_and_no_secret() {
    let v = hooked();
    let e = event(&v, "evt_x", "customer.source.updated", 0, json!({}));
    let body = e.to_string();
    let header = sign(OWN_SECRET, now(&v), body.as_bytes());
    let unknown = WebhookRoute::Tenant(tid("no-such-tenant"));
    v.store.take_calls();
    for _ in 0..5 {
        let refused = v
            .stripe_webhook(&unknown, Some(&header), body.as_bytes())
            .await;
        assert_eq!(bad_request(err(refused)), BAD_SIGNATURE);
    }
    assert_eq!(v.store.take_calls(), ["get_tenant"]);
    assert_eq!(v.secrets.reads(), 0);
}

#[tokio::test]
async fn a_tenant_endpoint_never_touches_another_tenants_cards() {
    let v = hooked();
    let theirs = customer(&v, CONNECT).await;
    let their_card = imported(&v, &theirs, "4242").await;
    // Validly signed with the own-key tenant's secret, naming the other tenant's Stripe ids.
    let e = event(
        &v,
        "evt_x",
        "customer.source.deleted",
        0,
        card_object(&their_card, 1, 2031),
    );
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &e).await),
        Handled::Ignored
    );
    let pm = stored(&v, &their_card);
    assert_eq!(pm.removed_at_stripe, None);
    assert!(reread(&v, &theirs)
        .await
        .default_payment_method_id
        .is_some());
}

#[tokio::test]
async fn connect_events_reach_the_tenant_of_their_account_only() {
    let v = hooked();
    let c = customer(&v, CONNECT).await;
    let card = imported(&v, &c, "4242").await;
    let mut e = event(
        &v,
        "evt_c1",
        "customer.source.expiring",
        0,
        card_object(&card, 1, 2031),
    );
    // The platform's own account (no `account`): no tenant keeps cards there.
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Ignored
    );
    e["account"] = json!("acct_someone_else");
    e["id"] = json!("evt_c2");
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Ignored
    );
    assert!(!stored(&v, &card).stripe_expiring);
    e["account"] = json!(CONNECT_ACCOUNT);
    e["id"] = json!("evt_c3");
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Applied { changes: 1 }
    );
    assert!(stored(&v, &card).stripe_expiring);
    // A new expiry clears the flag.
    let mut upd = event(
        &v,
        "evt_c4",
        "customer.source.updated",
        0,
        card_object(&card, 9, 2035),
    );
    upd["account"] = json!(CONNECT_ACCOUNT);
    ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &upd).await);
    assert!(!stored(&v, &card).stripe_expiring);
}

#[tokio::test]
async fn a_card_removed_at_stripe_is_kept_marked_and_the_default_moves() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let first = imported(&v, &c, "4242").await;
    let second = imported(&v, &c, "1881").await;
    let third = imported(&v, &c, "0005").await;
    ok(v.make_default(&tid(OWN), c.id, second.payment_method.id)
        .await);
    let e = event(
        &v,
        "evt_del",
        "customer.source.deleted",
        0,
        card_object(&second, 1, 2031),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &e).await);
    let pm = stored(&v, &second);
    assert!(pm.removed_at_stripe.is_some());
    // The newest other card still at Stripe.
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(third.payment_method.id)
    );
    // customer.deleted: every card on the Stripe customer; the third was the default, and
    // the first is on another Stripe customer, so it becomes the default.
    let s = third.payment_method.stripe.clone().unwrap();
    let gone = event(
        &v,
        "evt_cusdel",
        "customer.deleted",
        0,
        json!({"id": s.customer_id, "object": "customer"}),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &gone).await);
    assert!(stored(&v, &third).removed_at_stripe.is_some());
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(first.payment_method.id)
    );
    let actions: Vec<String> = v
        .store
        .audit_events(&tid(OWN))
        .into_iter()
        .map(|r| r.event.action)
        .collect();
    assert!(
        actions.ends_with(&[
            "stripe.cardRemoved".to_owned(),
            "card.madeDefault".to_owned(),
            "stripe.cardRemoved".to_owned(),
            "card.madeDefault".to_owned()
        ]),
        "{actions:?}"
    );
}

/// Only a removal moves the default: news of the default card (a new expiry) or the
/// removal of another card leaves it where it is.
#[tokio::test]
async fn news_of_the_default_card_or_a_removal_of_another_keeps_the_default() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let first = imported(&v, &c, "4242").await;
    let second = imported(&v, &c, "1881").await;
    let third = imported(&v, &c, "0005").await;
    ok(v.make_default(&tid(OWN), c.id, first.payment_method.id)
        .await);
    let updated = event(
        &v,
        "evt_upd",
        "customer.source.updated",
        0,
        card_object(&first, 4, 2032),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &updated).await);
    assert_eq!(expiry(&stored(&v, &first)), (4, 2032));
    let deleted = event(
        &v,
        "evt_del_other",
        "customer.source.deleted",
        0,
        card_object(&third, 1, 2031),
    );
    ok(deliver(&v, &own(), OWN_SECRET, &deleted).await);
    assert!(stored(&v, &third).removed_at_stripe.is_some());
    assert!(stored(&v, &second).removed_at_stripe.is_none());
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(first.payment_method.id)
    );
}

#[tokio::test]
async fn deauthorization_revokes_the_connection_until_it_is_set_again() {
    let v = hooked();
    let c = customer(&v, CONNECT).await;
    let deauth = json!({"id": "evt_deauth", "type": "account.application.deauthorized",
        "created": now(&v), "account": CONNECT_ACCOUNT, "data": {"object": {"id": "ca_1"}}});
    // To a tenant's own endpoint it means nothing.
    v.secrets.set(
        &format!("{TENANT_WEBHOOK_SECRET_PREFIX}{CONNECT}"),
        "whsec_c",
    );
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Tenant(tid(CONNECT)), "whsec_c", &deauth).await),
        Handled::Ignored
    );
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &deauth).await),
        Handled::Applied { changes: 1 }
    );
    let r = import_new_card(&v, CONNECT, &c).await;
    assert_eq!(bad_request(err(r)), STRIPE_REVOKED);
    assert_eq!(stripe_ops(&v), Vec::<String>::new(), "no Stripe call");
    assert_eq!(
        v.store
            .audit_events(&tid(CONNECT))
            .last()
            .unwrap()
            .event
            .action,
        "stripe.deauthorized"
    );
    // The other tenant is untouched.
    let other = customer(&v, OWN).await;
    imported(&v, &other, "4242").await;
}

#[tokio::test]
async fn unknown_objects_and_event_types_answer_and_change_nothing() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let before = stored(&v, &card);
    for (i, (kind, object)) in [
        ("customer.source.updated", json!({"id": "card_unknown", "object": "card", "customer": "cus_unknown", "exp_month": 1, "exp_year": 2031})),
        ("invoice.paid", json!({"id": "in_1"})),
        ("charge.failed", json!({"id": "ch_1", "customer": "cus_unknown", "payment_method": "pm_unknown"})),
    ]
    .into_iter()
    .enumerate()
    {
        let e = event(&v, &format!("evt_u{i}"), kind, 0, object);
        assert_eq!(ok(deliver(&v, &own(), OWN_SECRET, &e).await), Handled::Ignored, "{kind}");
    }
    assert_eq!(stored(&v, &card), before);
}

#[tokio::test]
async fn a_failed_write_frees_the_event_id_for_stripes_retry() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let e = event(
        &v,
        "evt_retry",
        "customer.source.updated",
        0,
        card_object(&card, 5, 2032),
    );
    v.store.fail("save_stripe_change");
    assert_internal(err(deliver(&v, &own(), OWN_SECRET, &e).await));
    v.store.heal("save_stripe_change");
    assert_eq!(
        ok(deliver(&v, &own(), OWN_SECRET, &e).await),
        Handled::Applied { changes: 1 }
    );
    assert_eq!(expiry(&stored(&v, &card)), (5, 2032));
}

/// The user API's copy of a card is written after the card: when that write fails, the
/// event fails and Stripe redelivers it; the redelivery finds the event taken by the card
/// and still brings the user's copy in step.
#[tokio::test]
async fn a_redelivery_finishes_the_users_copy_a_failure_left_behind() {
    let v = hooked();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card("4242"));
    let link = ok(v.create_stripe_customer(&user, token).await);
    let mut e = event(
        &v,
        "evt_user_upd",
        "customer.source.updated",
        0,
        json!({"id": link.source.id, "object": "card", "customer": link.stripe_customer_id,
               "brand": "Visa", "last4": "4242", "exp_month": 9, "exp_year": 2036}),
    );
    e["account"] = json!(CONNECT_ACCOUNT);
    v.store.fail("update_link_card");
    let failed = deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await;
    v.store.heal("update_link_card");
    assert_internal(err(failed));
    v.clock.advance(60);

    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Applied { changes: 1 }
    );
    let (links, _) = ok(v
        .list_stripe_customers(&user, crate::vault::Offset::default())
        .await);
    let source = &links[0].source;
    assert_eq!((source.exp_month, source.exp_year), (Some(9), Some(2036)));
}

/// Cards moved to a new connected account hear from it at once: the tenant's connection
/// has not switched yet (the CLI switches after the last batch, or never with
/// `--no-switch`), but the account's events about the moved card still reach it.
#[tokio::test]
async fn a_moved_cards_new_account_reaches_its_tenant_before_the_switch() {
    use crate::vault::rehome::{register_target, RehomeRequest, PROOF_STRIPE_OAUTH};
    const TARGET: &str = "acct_1MovedTo";
    let v = hooked();
    ok(register_target(&v.store, &tid(CONNECT), TARGET, PROOF_STRIPE_OAUTH).await);
    let c = customer(&v, CONNECT).await;
    let added = ok(v
        .add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await);
    let request = RehomeRequest {
        tenant: tid(CONNECT),
        to: StripeConnection::parse_account_id(TARGET).unwrap(),
        cursor: None,
        dry_run: false,
        max_cards: None,
        invoker: "arn:aws:sts::123456789012:assumed-role/ops/alice".into(),
    };
    let report = ok(v.rehome_cards(&request).await);
    assert_eq!(report.moved.len(), 1);
    let moved = stored_of(&v, c.id)
        .into_iter()
        .find(|p| p.id == added.view.payment_method.id)
        .unwrap();
    let s = moved.stripe.clone().unwrap();
    let mut e = event(
        &v,
        "evt_after_move",
        "customer.source.expiring",
        0,
        json!({"id": s.source_id, "object": "card", "customer": s.customer_id}),
    );
    e["account"] = json!(TARGET);

    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Applied { changes: 1 }
    );
    let pm = stored_of(&v, c.id)
        .into_iter()
        .find(|p| p.id == moved.id)
        .unwrap();
    assert!(pm.stripe_expiring);
}

/// The new account's events reach only the tenant moving there: another tenant's card,
/// named by its Stripe ids in an event from that account, is left as it is.
#[tokio::test]
async fn a_re_home_target_never_reaches_another_tenants_cards() {
    use crate::vault::rehome::{register_target, RehomeRequest, PROOF_STRIPE_OAUTH};
    const TARGET: &str = "acct_1MovedTo";
    let v = hooked();
    ok(register_target(&v.store, &tid(CONNECT), TARGET, PROOF_STRIPE_OAUTH).await);
    let c = customer(&v, CONNECT).await;
    ok(
        v.add_entered_card(&connect_tenant(), c.id, card(VISA).build())
            .await,
    );
    let request = RehomeRequest {
        tenant: tid(CONNECT),
        to: StripeConnection::parse_account_id(TARGET).unwrap(),
        cursor: None,
        dry_run: false,
        max_cards: None,
        invoker: "arn:aws:sts::123456789012:assumed-role/ops/alice".into(),
    };
    ok(v.rehome_cards(&request).await);
    let theirs = customer(&v, OWN).await;
    let their_card = imported(&v, &theirs, "4242").await;
    let mut e = event(
        &v,
        "evt_other_tenant",
        "customer.source.expiring",
        0,
        card_object(&their_card, 1, 2031),
    );
    e["account"] = json!(TARGET);

    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Ignored
    );
    assert_eq!(stored(&v, &their_card), their_card.payment_method);
}

/// The webhook function reads at most `MAX_EVENT_BYTES` of a delivery. Stripe's largest
/// events the endpoint receives carry a customer with its sources: one with 100 cards
/// (about 50 KiB) is taken whole, and handled.
#[tokio::test]
async fn an_event_with_a_customer_and_its_hundred_cards_is_within_the_size_limit() {
    let v = hooked();
    let card = |n: usize| {
        json!({"id": format!("card_{n:024}"), "object": "card", "address_city": null,
               "address_country": "US", "address_line1": "1 Main Street", "address_line1_check": "pass",
               "address_line2": null, "address_state": "NY", "address_zip": "10001",
               "address_zip_check": "pass", "brand": "Visa", "country": "US",
               "customer": "cus_1Big", "cvc_check": "pass", "dynamic_last4": null,
               "exp_month": 8, "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c",
               "funding": "credit", "last4": "4242", "metadata": {}, "name": "Karen Wood",
               "tokenization_method": null, "wallet": null})
    };
    let customer = json!({"id": "cus_1Big", "object": "customer", "email": "karen@example.com",
        "sources": {"object": "list", "has_more": false, "url": "/v1/customers/cus_1Big/sources",
                    "data": (0..100).map(card).collect::<Vec<_>>()}});
    let e = event(&v, "evt_big", "customer.updated", 0, customer);
    let size = e.to_string().len();
    assert!(size > 48 * 1024, "{size}");
    assert!(size <= crate::vault::webhooks::MAX_EVENT_BYTES, "{size}");
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &e).await),
        Handled::Ignored
    );
}

/// Two tenants connected through one Stripe account: a deauthorization of the account
/// revokes both, and the answer counts both changes.
#[tokio::test]
async fn a_deauthorization_of_a_shared_account_revokes_every_tenant_on_it() {
    let v = hooked();
    v.store.insert_tenant(tenant_with_account(CONNECT_ACCOUNT));
    let deauth = json!({"id": "evt_deauth2", "type": "account.application.deauthorized",
        "created": now(&v), "account": CONNECT_ACCOUNT, "data": {"object": {"id": "ca_1"}}});
    assert_eq!(
        ok(deliver(&v, &WebhookRoute::Platform, PLATFORM_SECRET, &deauth).await),
        Handled::Applied { changes: 2 }
    );
    for tenant in [CONNECT, "neighbour"] {
        let c = customer(&v, tenant).await;
        let r = import_new_card(&v, tenant, &c).await;
        assert_eq!(bad_request(err(r)), STRIPE_REVOKED, "{tenant}");
    }
}

/// An event may be dated at most the tolerance after the earlier of its signature and now:
/// a signature up to the tolerance ahead (a skewed signer) does not buy it a second one.
#[tokio::test]
async fn an_event_dated_past_its_signature_or_now_is_refused() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let card = imported(&v, &c, "4242").await;
    let t = now(&v);
    for (signed_at, created, refused) in [
        (t, t + 300, false),
        (t, t + 301, true),
        (t + 299, t + 301, true),
        (t + 299, t + 599, true),
        (t - 200, t + 101, true),
    ] {
        let mut e = event(
            &v,
            &format!("evt_at{created}{signed_at}"),
            "customer.source.updated",
            0,
            card_object(&card, 3, 2033),
        );
        e["created"] = json!(created);
        let body = e.to_string();
        let header = sign(OWN_SECRET, signed_at, body.as_bytes());
        let r = v
            .stripe_webhook(&own(), Some(&header), body.as_bytes())
            .await;
        match refused {
            true => assert_eq!(
                bad_request(err(r)),
                crate::vault::webhooks::FUTURE_EVENT,
                "{signed_at} {created}"
            ),
            false => {
                ok(r);
            }
        }
    }
}
