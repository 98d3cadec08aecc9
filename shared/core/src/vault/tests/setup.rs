//! Cards saved through SetupIntents (`vault::cards::setup`): a card whose issuer asks for
//! 3-D Secure is held pending (never listed, read, charged or made the default) until the
//! webhook or the page's confirm call says Stripe authenticated it.

use serde_json::{json, Value};

use super::*;
use crate::domain::stripe_event::TENANT_WEBHOOK_SECRET_PREFIX;
use crate::domain::{PaymentMethodId, Status, PENDING_WINDOW};
use crate::error::ActionRequired;
use crate::memory::AUTHENTICATES;
use crate::ports::PaymentGateway;
use crate::stripe_webhook::sign;
use crate::vault::webhooks::{Handled, WebhookRoute};
use crate::vault::{Offset, Page, PageFrom};

const OWN_SECRET: &str = "whsec_own";

/// A vault whose own-key tenant has a webhook signing secret.
fn hooked() -> Vault<Memory> {
    let v = vault();
    v.secrets
        .set(&format!("{TENANT_WEBHOOK_SECRET_PREFIX}{OWN}"), OWN_SECRET);
    v
}

fn now(v: &Vault<Memory>) -> i64 {
    crate::ports::Clock::now(&v.clock).unix_timestamp()
}

/// A `setup_intent.*` event as Stripe sends it, for the SetupIntent `seti` of Stripe
/// customer `cus`.
fn setup_event(v: &Vault<Memory>, id: &str, kind: &str, seti: &str, cus: &str) -> Value {
    let status = match kind {
        "setup_intent.succeeded" => "succeeded",
        _ => "requires_payment_method",
    };
    // The PaymentMethod it was confirmed with, as Stripe names it in the event.
    let pm = v
        .gateway
        .setup_intent(seti)
        .and_then(|si| si.payment_method);
    json!({"id": id, "object": "event", "type": kind, "created": now(v) - 1,
           "data": {"object": {"id": seti, "object": "setup_intent", "customer": cus,
                               "status": status, "usage": "off_session",
                               "payment_method": pm}}})
}

/// Delivers `event`, signed, to the own-key tenant's endpoint.
async fn deliver(v: &Vault<Memory>, event: &Value) -> Result<Handled, Error> {
    let body = event.to_string();
    let header = sign(OWN_SECRET, now(v), body.as_bytes());
    v.stripe_webhook(
        &WebhookRoute::Tenant(tid(OWN)),
        Some(&header),
        body.as_bytes(),
    )
    .await
}

fn action(e: Error) -> ActionRequired {
    match e {
        Error::ActionRequired(a) => *a,
        other => panic!("expected ActionRequired, got {other:?}"),
    }
}

/// The answer names the SetupIntent, its client secret and the vault card waiting.
fn assert_setup_answer(a: &ActionRequired) -> PaymentMethodId {
    assert_eq!(a.kind, "setup_intent");
    assert!(a.intent_id.starts_with("seti_"), "{}", a.intent_id);
    assert_eq!(a.client_secret, format!("{}_secret_mem", a.intent_id));
    assert!(
        !a.next_action.is_null(),
        "Stripe's next_action is passed on"
    );
    PaymentMethodId::try_from(a.payment_method_id.expect("the vault card's id")).expect("an id")
}

/// The one payment method stored with `id`, pending or not.
fn stored_card(v: &Vault<Memory>, id: PaymentMethodId) -> Option<PaymentMethod> {
    v.store.payment_methods().into_iter().find(|p| p.id == id)
}

/// The card is stored, pending on `seti`, with the default rule asked for.
fn assert_pending(v: &Vault<Memory>, id: PaymentMethodId, seti: &str, make_default: bool) {
    let pm = stored_card(v, id).expect("the pending card is stored");
    assert_eq!(pm.status, Status::Pending);
    assert!(!pm.is_on_file());
    let pending = pm.pending.expect("its SetupIntent");
    assert_eq!(pending.setup_intent, seti);
    assert_eq!(pending.make_default, make_default);
    assert_eq!(pending.expires_at, pm.created_at + PENDING_WINDOW);
}

/// A pending redirect card of `c` (own-key tenant): the answer.
async fn pending_entered(v: &Vault<Memory>, c: &Customer, make_default: bool) -> ActionRequired {
    let mut entry = card(AUTHENTICATES);
    if make_default {
        entry = entry.make_default();
    }
    action(err(v
        .add_entered_card(&own_key_tenant(), c.id, entry.build())
        .await))
}

/// A customer's listed cards (`list_cards`).
async fn list(v: &Vault<Memory>, c: &Customer) -> Vec<PaymentMethodId> {
    let (views, total) = ok(v.list_cards(&c.tenant_id, c.id, Page::default()).await);
    assert_eq!(views.len(), total);
    views.iter().map(|c| c.payment_method.id).collect()
}

/// The audit events of `action` with `outcome` for card `id`.
fn audited(v: &Vault<Memory>, action: &str, outcome: &str, id: PaymentMethodId) -> usize {
    v.store
        .audit_events(&tid(OWN))
        .iter()
        .filter(|r| {
            r.event.action == action
                && r.event.outcome == outcome
                && r.event.payment_method_id == Some(id.get())
        })
        .count()
}

#[tokio::test]
async fn a_redirect_card_needing_authentication_is_held_pending_and_answers_its_setup() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let entry = card(AUTHENTICATES).make_default().collect(550).build();

    let a = action(err(v
        .add_entered_card(&own_key_tenant(), c.id, entry)
        .await));
    let id = assert_setup_answer(&a);
    assert_pending(&v, id, &a.intent_id, true);
    let pm = stored_card(&v, id).unwrap();
    assert_eq!(a.expires_at, Some(pm.created_at + PENDING_WINDOW));
    let record = serde_json::to_string(&pm).unwrap();
    assert!(!record.contains(AUTHENTICATES), "the PAN is sealed");

    // Not on file: not listed, not read by id, not the default (make_default or not),
    // nothing collected.
    assert!(list(&v, &c).await.is_empty());
    let (_, total) = ok(v.list_cards(&c.tenant_id, c.id, Page::default()).await);
    assert_eq!(total, 0);
    not_found(err(v.payment_method(&tid(OWN), id).await));
    assert_eq!(reread(&v, &c).await.default_payment_method_id, None);
    let ops = stripe_ops(&v);
    assert!(!ops.iter().any(|o| o == "collect"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "set_default_source"), "{ops:?}");
    assert_eq!(v.gateway.intents(), 0);
    assert_eq!(audited(&v, "card.added", "requires_action", id), 1);
}

#[tokio::test]
async fn a_pending_card_does_not_take_the_default_from_a_card_on_file() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let on_file = ok(v
        .add_entered_card(&own_key_tenant(), c.id, card(VISA).build())
        .await)
    .view;
    let a = pending_entered(&v, &c, true).await;
    assert_setup_answer(&a);
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(on_file.payment_method.id)
    );
    assert_eq!(list(&v, &c).await, [on_file.payment_method.id]);
}

#[tokio::test]
async fn a_token_card_needing_authentication_is_held_pending_and_not_current() {
    let v = hooked();
    // The account's card on file, current.
    let token = v.gateway.seed_token(stripe_card("4242"));
    let first = ok(v
        .attach_token_card(&tid(OWN), "a1", token_card(token, "4242", false))
        .await);

    let token = v.gateway.seed_token_authenticating(stripe_card("3155"));
    let a = action(err(v
        .attach_token_card(&tid(OWN), "a1", token_card(token, "3155", true))
        .await));
    let id = assert_setup_answer(&a);
    assert_pending(&v, id, &a.intent_id, true);

    let page = ok(v
        .find_cards(&tid(OWN), "a1", 10, PageFrom::Start, |_| true)
        .await);
    let ids: Vec<_> = page.cards.iter().map(|c| c.payment_method.id).collect();
    assert_eq!(
        ids,
        [first.payment_method.id],
        "the pending card is not listed"
    );
    not_found(err(v.payment_method(&tid(OWN), id).await));
    let c = ok(v.customer_for_ref(&tid(OWN), "account:a1").await);
    assert_eq!(c.default_payment_method_id, Some(first.payment_method.id));
    let ops = stripe_ops(&v);
    assert_eq!(
        ops.iter().filter(|o| *o == "set_default_source").count(),
        1,
        "only the first card's: {ops:?}"
    );
}

#[tokio::test]
async fn a_user_apis_card_needing_authentication_is_held_pending_and_not_listed() {
    let v = hooked();
    let user = principal("u1").tenant(OWN).build();
    let token = v.gateway.seed_token_authenticating(stripe_card("3155"));

    let a = action(err(v.create_stripe_customer(&user, token.clone()).await));
    let id = assert_setup_answer(&a);
    assert_pending(&v, id, &a.intent_id, false);

    let (links, total) = ok(v.list_stripe_customers(&user, Offset::default()).await);
    assert!(links.is_empty());
    assert_eq!(total, 0);
    not_found(err(v.payment_method(&tid(OWN), id).await));
    let pm = stored_card(&v, id).unwrap();
    let c = ok(v.customer(&tid(OWN), pm.customer_id).await);
    assert_eq!(c.default_payment_method_id, None);

    // The same token again (a client retry): the same answer, nothing more stored, and
    // never the link of a card not on file.
    let again = action(err(v.create_stripe_customer(&user, token.clone()).await));
    assert_eq!(again.intent_id, a.intent_id);
    assert_eq!(again.client_secret, a.client_secret);
    assert_eq!(again.payment_method_id, Some(id.get()));
    assert_eq!(v.store.payment_methods().len(), 1);

    // Authenticated since (no webhook yet): the retry settles it, and answers the link.
    v.gateway.authenticate_setup(&a.intent_id, true);
    let link = ok(v.create_stripe_customer(&user, token).await);
    assert_eq!(link.payment_method_id, id);
    assert!(!link.pending);
    assert!(stored_card(&v, id).unwrap().is_on_file());
    let (links, total) = ok(v.list_stripe_customers(&user, Offset::default()).await);
    assert_eq!((links.len(), total), (1, 1));
}

#[tokio::test]
async fn the_webhook_activates_a_pending_card_and_applies_its_default_rule() {
    let v = hooked();
    // Asked to be the default, over a card on file.
    let c = customer(&v, OWN).await;
    let on_file = ok(v
        .add_entered_card(&own_key_tenant(), c.id, card(VISA).build())
        .await)
    .view;
    let a = pending_entered(&v, &c, true).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);

    let e = setup_event(
        &v,
        "evt_seti_ok",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &e).await), Handled::Applied { changes: 1 });
    let pm = stored_card(&v, id).unwrap();
    assert_eq!((pm.status, pm.pending), (Status::Active, None));
    assert_eq!(list(&v, &c).await, [id, on_file.payment_method.id]);
    assert!(ok(v.payment_method(&tid(OWN), id).await).is_default);
    assert_eq!(reread(&v, &c).await.default_payment_method_id, Some(id));
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);

    // Not asked, on a customer with no card: the default all the same.
    let d = customer(&v, OWN).await;
    let a = pending_entered(&v, &d, false).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &d).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    let e = setup_event(
        &v,
        "evt_seti_ok2",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    ok(deliver(&v, &e).await);
    assert_eq!(reread(&v, &d).await.default_payment_method_id, Some(id));

    // Not asked, on a customer with a default: not the default.
    let f = customer(&v, OWN).await;
    let on_file = ok(v
        .add_entered_card(&own_key_tenant(), f.id, card(VISA).build())
        .await)
    .view;
    let a = pending_entered(&v, &f, false).await;
    let later = assert_setup_answer(&a);
    let cus = reread(&v, &f).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    let e = setup_event(
        &v,
        "evt_seti_ok3",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    ok(deliver(&v, &e).await);
    assert_eq!(list(&v, &f).await, [later, on_file.payment_method.id]);
    assert_eq!(
        reread(&v, &f).await.default_payment_method_id,
        Some(on_file.payment_method.id)
    );
}

#[tokio::test]
async fn the_webhook_activates_a_user_apis_pending_card_and_its_link_is_listed() {
    let v = hooked();
    let user = principal("u1").tenant(OWN).build();
    let token = v.gateway.seed_token_authenticating(stripe_card("3155"));
    let a = action(err(v.create_stripe_customer(&user, token).await));
    let id = assert_setup_answer(&a);
    let pm = stored_card(&v, id).unwrap();
    let cus = pm.stripe.clone().unwrap().customer_id;
    v.gateway.authenticate_setup(&a.intent_id, true);

    let e = setup_event(
        &v,
        "evt_seti_user",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &e).await), Handled::Applied { changes: 1 });
    let (links, total) = ok(v.list_stripe_customers(&user, Offset::default()).await);
    assert_eq!(total, 1);
    assert_eq!(links[0].payment_method_id, id);
    assert_eq!(links[0].stripe_customer_id, cus);
    assert!(ok(v.payment_method(&tid(OWN), id).await).is_default);
}

#[tokio::test]
async fn a_failed_setup_event_removes_the_pending_card() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, true).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, false);

    let e = setup_event(
        &v,
        "evt_seti_no",
        "setup_intent.setup_failed",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &e).await), Handled::Applied { changes: 1 });
    assert_eq!(stored_card(&v, id), None);
    assert!(list(&v, &c).await.is_empty());
    assert_eq!(reread(&v, &c).await.default_payment_method_id, None);
    assert_eq!(audited(&v, "card.removed", "setup_failed", id), 1);

    // The same card entered again starts afresh.
    let again = pending_entered(&v, &c, false).await;
    assert_ne!(again.intent_id, a.intent_id);
}

#[tokio::test]
async fn a_replayed_setup_event_changes_nothing() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    let e = setup_event(
        &v,
        "evt_seti_once",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    ok(deliver(&v, &e).await);
    let after = stored_card(&v, id).unwrap();
    let events = v.store.audit_events(&tid(OWN)).len();

    // The same event again, and the same news under another event id.
    assert_eq!(ok(deliver(&v, &e).await), Handled::Duplicate);
    let other = setup_event(
        &v,
        "evt_seti_twice",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &other).await), Handled::Ignored);
    // Nor does a late failure of the same SetupIntent remove the card on file.
    let failed = setup_event(
        &v,
        "evt_seti_late",
        "setup_intent.setup_failed",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &failed).await), Handled::Ignored);

    assert_eq!(stored_card(&v, id), Some(after));
    assert_eq!(v.store.audit_events(&tid(OWN)).len(), events);
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);
}

#[tokio::test]
async fn a_setup_event_naming_another_tenants_customer_changes_nothing() {
    let v = hooked();
    // The Connect tenant's pending card, named to the own-key tenant's endpoint.
    let c = customer(&v, CONNECT).await;
    let a = action(err(v
        .add_entered_card(&connect_tenant(), c.id, card(AUTHENTICATES).build())
        .await));
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    let before = stored_card(&v, id).unwrap();

    let e = setup_event(
        &v,
        "evt_seti_x",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &e).await), Handled::Ignored);
    let failed = setup_event(
        &v,
        "evt_seti_y",
        "setup_intent.setup_failed",
        &a.intent_id,
        &cus,
    );
    assert_eq!(ok(deliver(&v, &failed).await), Handled::Ignored);
    assert_eq!(stored_card(&v, id), Some(before));
    assert_eq!(reread(&v, &c).await.default_payment_method_id, None);
}

#[tokio::test]
async fn confirm_activates_an_authenticated_card() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, true).await;
    let id = assert_setup_answer(&a);
    v.gateway.authenticate_setup(&a.intent_id, true);

    let view = ok(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
    assert_eq!(view.payment_method.id, id);
    assert!(view.payment_method.is_on_file());
    assert!(view.is_default);
    assert_eq!(list(&v, &c).await, [id]);
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);

    // Asked again (the page retried, or the webhook came first): the card, and nothing
    // written again.
    let again = ok(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
    assert_eq!(again.payment_method.id, id);
    assert_eq!(stored_card(&v, id).unwrap(), view.payment_method);
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);
}

#[tokio::test]
async fn confirm_with_a_wrong_secret_tenant_or_customer_answers_as_an_absent_card() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&a);
    v.gateway.authenticate_setup(&a.intent_id, true);
    let other = customer(&v, OWN).await;
    let foreign = customer(&v, CONNECT).await;
    // An absent SetupIntent, for comparison.
    let e = err(v
        .confirm_setup(&tid(OWN), c.id, "seti_unknown_secret_mem")
        .await);
    let absent = not_found(e);

    let wrong_secret = format!("{}_secret_other", a.intent_id);
    let attempts = [
        (tid(OWN), &c, wrong_secret.as_str()),
        (tid(OWN), &c, ""),
        (tid(OWN), &other, a.client_secret.as_str()),
        (tid(CONNECT), &foreign, a.client_secret.as_str()),
        (tid(CONNECT), &c, a.client_secret.as_str()),
    ];
    for (tenant, customer, secret) in attempts {
        let e = err(v.confirm_setup(&tenant, customer.id, secret).await);
        assert_eq!(not_found(e), absent, "{tenant} {}", customer.id);
    }
    // None of them touched the card.
    assert_pending(&v, id, &a.intent_id, false);
    assert!(list(&v, &other).await.is_empty());
    ok(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
}

#[tokio::test]
async fn confirm_before_authentication_answers_action_required_again() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&a);

    let again = action(err(v
        .confirm_setup(&tid(OWN), c.id, &a.client_secret)
        .await));
    assert_eq!(again.intent_id, a.intent_id);
    assert_eq!(again.client_secret, a.client_secret);
    assert_eq!(again.payment_method_id, Some(id.get()));
    assert_pending(&v, id, &a.intent_id, false);
}

#[tokio::test]
async fn confirm_after_a_failed_authentication_removes_the_card() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&a);
    v.gateway.authenticate_setup(&a.intent_id, false);

    let e = err(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
    let absent = err(v
        .confirm_setup(&tid(OWN), c.id, "seti_unknown_secret_mem")
        .await);
    assert_eq!(not_found(e), not_found(absent));
    assert_eq!(stored_card(&v, id), None);
    assert_eq!(
        audited(&v, "card.removed", "requires_payment_method", id),
        1
    );
    assert!(list(&v, &c).await.is_empty());
}

#[tokio::test]
async fn a_pending_card_past_its_window_is_gone_and_the_same_card_starts_afresh() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let old = assert_setup_answer(&a);
    v.clock.advance(PENDING_WINDOW.whole_seconds() as u64 + 1);

    assert!(list(&v, &c).await.is_empty());
    not_found(err(v.payment_method(&tid(OWN), old).await));
    // Still waiting at Stripe, but out of time: the confirm call gives it up.
    let e = err(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
    not_found(e);
    assert_eq!(stored_card(&v, old), None);

    let b = pending_entered(&v, &c, false).await;
    let new = assert_setup_answer(&b);
    assert_ne!(new, old);
    assert_ne!(b.intent_id, a.intent_id, "a new SetupIntent");
    assert_pending(&v, new, &b.intent_id, false);
}

#[tokio::test]
async fn a_pending_card_entered_again_after_its_window_is_superseded() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let old = assert_setup_answer(&a);
    v.clock.advance(PENDING_WINDOW.whole_seconds() as u64 + 1);

    let b = pending_entered(&v, &c, true).await;
    let new = assert_setup_answer(&b);
    assert_ne!(new, old);
    assert_ne!(
        b.intent_id, a.intent_id,
        "a new SetupIntent, not the old one"
    );
    assert_eq!(stored_card(&v, old), None, "the old attempt gave way");
    assert_pending(&v, new, &b.intent_id, true);
    assert_eq!(audited(&v, "card.removed", "superseded", old), 1);
    // The old SetupIntent is canceled at Stripe: a late authentication saves nothing
    // there, and its confirm finds nothing here.
    assert_eq!(
        v.gateway.setup_intent(&a.intent_id).unwrap().status,
        "canceled"
    );
    let e = err(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);
    not_found(e);
    assert_pending(&v, new, &b.intent_id, true);
}

#[tokio::test]
async fn the_webhook_and_confirm_racing_leave_one_active_card_and_one_event() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, true).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    let e = setup_event(
        &v,
        "evt_seti_race",
        "setup_intent.succeeded",
        &a.intent_id,
        &cus,
    );

    let own = tid(OWN);
    let (hooked, confirmed) = tokio::join!(
        deliver(&v, &e),
        v.confirm_setup(&own, c.id, &a.client_secret)
    );
    ok(hooked);
    // Whichever came first, the confirm answers the card.
    assert_eq!(ok(confirmed).payment_method.id, id);
    let [pm] = stored_of(&v, c.id).try_into().expect("one card");
    assert!(pm.is_on_file());
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);
    assert_eq!(reread(&v, &c).await.default_payment_method_id, Some(id));
}

/// The loser of the race, step by step: it read the card pending, and the other
/// activated it before its write. Its conditional write fails, and it finds the card on
/// file: done, with no second event.
#[tokio::test]
async fn activating_a_card_activated_meanwhile_is_done_with_no_second_event() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&a);
    let read = stored_card(&v, id).unwrap();
    v.gateway.authenticate_setup(&a.intent_id, true);
    ok(v.confirm_setup(&tid(OWN), c.id, &a.client_secret).await);

    let si = ok(v
        .gateway
        .retrieve_setup_intent(&any_auth(), &a.intent_id)
        .await
        .map_err(|e| Error::upstream("retrieve", e)));
    let owner = reread(&v, &c).await;
    let settled = ok(v.settle_pending(&read, &owner, &si).await);
    assert_eq!(settled, crate::vault::cards::Settled::Active);
    let [pm] = stored_of(&v, c.id).try_into().expect("one card");
    assert!(pm.is_on_file());
    assert_eq!(audited(&v, "card.added", "authenticated", id), 1);
}

/// Anyone holding the client secret can confirm the SetupIntent with a card of their own,
/// and pass its 3-D Secure: the card the vault holds was not authenticated, so it is not
/// taken, by the confirm or by the webhook; the confirm detaches the other card again.
#[tokio::test]
async fn a_setup_confirmed_with_another_card_saves_nothing() {
    let v = hooked();
    let c = customer(&v, OWN).await;
    let a = pending_entered(&v, &c, true).await;
    let id = assert_setup_answer(&a);
    let cus = reread(&v, &c).await.stripe_customer_id.unwrap();
    let other = v
        .gateway
        .confirm_setup_with_another_card(&a.intent_id, stripe_card("4444"));

    not_found(err(v
        .confirm_setup(&tid(OWN), c.id, &a.client_secret)
        .await));
    assert!(
        stored_card(&v, id).is_none(),
        "the unauthenticated card is gone"
    );
    assert!(
        !v.gateway.sources_of(&cus).contains(&other),
        "the other card is detached from the customer again"
    );

    // The webhook alone, the same.
    let b = pending_entered(&v, &c, false).await;
    let id = assert_setup_answer(&b);
    v.gateway
        .confirm_setup_with_another_card(&b.intent_id, stripe_card("5555"));
    let e = setup_event(&v, "evt_swap", "setup_intent.succeeded", &b.intent_id, &cus);
    ok(deliver(&v, &e).await);
    assert!(stored_card(&v, id).is_none());
    assert!(list(&v, &c).await.is_empty());
}
