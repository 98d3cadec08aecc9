//! The audit trail's rules: one event per change, the actor of the request, refusals
//! recorded once a minute per caller, and one customer's events within its tenant.

use super::*;
use crate::chain::{chain_pending, verify};
use crate::crypto::chain_key::LocalChainKey;
use crate::domain::{Actor, ApiKey, ApiKeyRecord, RequestScope};
use crate::ports::AuditLog;

/// Later than any event: no pending event is stale yet.
const NOW: &str = "2100-01-01T00:00:00.000000Z";

fn actions(v: &Vault<Memory>, tenant: &str) -> Vec<String> {
    v.store
        .audit_events(&tid(tenant))
        .into_iter()
        .map(|r| r.event.action)
        .collect()
}

#[tokio::test]
async fn each_change_appends_one_event_to_a_chain_that_holds() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = imported(&v, &c, "4242").await.payment_method.id;
    let second = imported(&v, &c, "4444").await.payment_method.id;
    ok(v.make_default(&tid(CONNECT), c.id, second).await);
    ok(v.delete_card(&tid(CONNECT), first).await);
    let card = attached(&v, "a1", "1881", false).await.payment_method;
    ok(v.remove_account_card(&tid(CONNECT), "a1", card.id).await);
    assert_eq!(
        actions(&v, CONNECT),
        [
            "customer.created",
            "card.imported",
            "card.imported",
            "card.madeDefault",
            "card.removed",
            "customer.created",
            "card.added",
            "card.removed",
            "stripe.cardDetached",
        ]
    );
    let key = LocalChainKey([7; 32]);
    let chained = chain_pending(&v.store, &key, v.store.unchained()).await;
    assert_eq!((chained.chained, chained.failed_tenants.len()), (9, 0));
    let trail = v.store.tenant_trail(&tid(CONNECT)).await.unwrap();
    assert_eq!(verify(CONNECT, &trail, &key, NOW).await.unwrap(), Ok(9));
    // Another key's MACs do not check: the trail cannot be remade without the key.
    let other = LocalChainKey([8; 32]);
    assert_eq!(
        verify(CONNECT, &trail, &other, NOW)
            .await
            .unwrap()
            .unwrap_err()
            .seq,
        1
    );
    let chain = v.store.audit_events(&tid(CONNECT));
    let detached = chain.last().unwrap();
    assert_eq!(detached.event.payment_method_id, Some(card.id.get()));
    assert_eq!(
        detached.event.object.as_deref(),
        card.stripe.as_ref().map(|s| s.source_id.as_str())
    );
    assert!(
        v.store.audit_events(&tid(OWN)).is_empty(),
        "one chain per tenant"
    );
}

#[tokio::test]
async fn the_redirect_records_its_card_and_collection_with_no_card_data() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let added = ok(v
        .add_from_redirect(
            &connect_tenant(),
            c.id,
            card(VISA).collect(250).build(),
            None,
        )
        .await);
    assert!(added.created);
    let events = v.store.audit_events(&tid(CONNECT));
    let tail: Vec<_> = events[1..]
        .iter()
        .map(|r| {
            (
                r.event.action.as_str(),
                r.event.outcome.as_str(),
                r.event.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("card.added", "ok", "redirect:publicKey"),
            ("collection.attempted", "Succeeded", "redirect:publicKey"),
        ]
    );
    // The same card again, without a collection: nothing changed, nothing recorded.
    ok(
        v.add_from_redirect(&connect_tenant(), c.id, card(VISA).build(), None)
            .await,
    );
    assert_eq!(v.store.audit_events(&tid(CONNECT)).len(), 3);
    let text = format!("{events:?}");
    assert!(!text.contains(VISA), "{text}");
}

#[tokio::test]
async fn the_actor_source_ip_and_request_id_come_from_the_request() {
    let v = vault();
    v.store.insert_api_key(ApiKeyRecord {
        hash: ApiKey::parse("cvk_audit").unwrap().hash(),
        key_id: "key_audit".into(),
        tenant_id: tid(CONNECT),
        created_at: datetime!(2025-06-01 0:00 UTC),
        revoked_at: None,
    });
    let request = RequestScope::new(Some("req-1".into()), Some("198.51.100.4".into()));
    request
        .scope(async {
            let tenant = ok(v.merchant(&ApiKey::parse("cvk_audit").unwrap()).await);
            ok(v.create_customer(&tenant, NewCustomer::default()).await);
        })
        .await;
    // A warm container answers the key from its cache, and still names it.
    let request = RequestScope::new(Some("req-2".into()), None);
    request
        .scope(async {
            let tenant = ok(v.merchant(&ApiKey::parse("cvk_audit").unwrap()).await);
            ok(v.create_customer(&tenant, NewCustomer::default()).await);
        })
        .await;
    let events = v.store.audit_events(&tid(CONNECT));
    let e = &events[0].event;
    assert_eq!(e.actor, "apiKey:key_audit");
    assert_eq!(e.source_ip.as_deref(), Some("198.51.100.4"));
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    assert_eq!(events[1].event.actor, "apiKey:key_audit");
    assert_eq!(events[1].event.request_id.as_deref(), Some("req-2"));
}

#[tokio::test]
async fn refusals_of_verified_callers_are_recorded_once_a_minute_and_strangers_never() {
    let v = vault();
    // A wrong key: no tenant proven, no event anywhere.
    assert!(v
        .merchant(&ApiKey::parse("cvk_nobody").unwrap())
        .await
        .is_err());
    // An untrusted issuer of an existing tenant, three times: one event.
    for _ in 0..3 {
        let token = principal("u1").token_from("other-issuer", &[AUDIENCE]);
        assert!(v.user(token).await.is_err());
    }
    // A tenant that does not exist: nowhere to record it.
    let ghost = principal("u1").tenant("ghost").token();
    assert!(v.user(ghost).await.is_err());
    // A role below owner changing a card, twice; then another user: two events.
    let admin = principal("u2").admin().build();
    for _ in 0..2 {
        assert!(matches!(
            v.account_with_role(&admin, Role::Owner).await,
            Err(Error::Forbidden(_))
        ));
    }
    let other = principal("u3").admin().build();
    assert!(v.account_with_role(&other, Role::Owner).await.is_err());
    // Allowed: nothing recorded.
    let owner = principal("u4").owner("a1").build();
    assert_eq!(ok(v.account_with_role(&owner, Role::Owner).await), "a1");

    let events = v.store.audit_events(&tid(CONNECT));
    let got: Vec<_> = events
        .iter()
        .map(|r| {
            (
                r.event.action.as_str(),
                r.event.actor.as_str(),
                r.event.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("auth.tenantDenied", "user:u1:none", "denied"),
            ("auth.roleDenied", "user:u2:admin", "denied"),
            ("auth.roleDenied", "user:u3:admin", "denied"),
        ]
    );
    assert!(v.store.audit_events(&tid("ghost")).is_empty());
}

#[tokio::test]
async fn a_change_and_its_event_commit_together_or_neither_does() {
    let v = vault();
    v.store.fail("create_customer");
    assert!(v
        .create_customer(&tid(CONNECT), NewCustomer::default())
        .await
        .is_err());
    assert!(v.store.audit_events(&tid(CONNECT)).is_empty());
    v.store.heal("create_customer");
    let c = ok(v
        .create_customer(&tid(CONNECT), NewCustomer::default())
        .await);
    assert_eq!(actions(&v, CONNECT), ["customer.created"]);
    // The event rode with the change: no write of its own.
    assert_eq!(v.store.take_calls(), ["create_customer", "create_customer"]);
    assert_eq!(ok(v.customer(&tid(CONNECT), c.id).await).id, c.id);
}

#[tokio::test]
async fn a_failed_lone_event_does_not_fail_the_request() {
    let v = vault();
    let card = attached(&v, "a1", "1881", false).await.payment_method;
    v.store.fail("audit_append");
    // The detach at Stripe, after the card left the vault, is an event of its own.
    ok(v.delete_card(&tid(CONNECT), card.id).await);
    assert_eq!(actions(&v, CONNECT).last().unwrap(), "card.removed");
}

#[tokio::test]
async fn a_customers_events_page_newest_first_and_another_tenants_customer_is_missing() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    for last4 in ["4242", "4444", "1881"] {
        imported(&v, &c, last4).await;
    }
    // Listed once chained.
    assert!(ok(v.customer_audit_events(&tid(CONNECT), c.id, None, 2).await).is_empty());
    chain_pending(&v.store, &LocalChainKey([7; 32]), v.store.unchained()).await;
    let page = ok(v.customer_audit_events(&tid(CONNECT), c.id, None, 2).await);
    let seqs: Vec<u64> = page.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [4, 3]);
    let rest = ok(v
        .customer_audit_events(&tid(CONNECT), c.id, Some(3), 2)
        .await);
    assert_eq!(rest.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 1]);
    assert!(ok(v
        .customer_audit_events(&tid(CONNECT), c.id, Some(1), 2)
        .await)
    .is_empty());

    let foreign = err(v.customer_audit_events(&tid(OWN), c.id, None, 2).await);
    let missing_id = CustomerId::parse("9007199254740991").unwrap();
    let missing = err(v
        .customer_audit_events(&tid(OWN), missing_id, None, 2)
        .await);
    assert_eq!(
        not_found(foreign).replace(&c.id.to_string(), "ID"),
        not_found(missing).replace("9007199254740991", "ID")
    );
}

#[test]
fn the_operator_is_named_as_such() {
    let a = Actor::Operator {
        name: "alice".into(),
    };
    assert_eq!(a.render(), "operator:alice");
}

#[tokio::test]
async fn a_call_that_changes_nothing_writes_no_event() {
    let v = vault();
    attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "1881", false).await.payment_method;
    let before = actions(&v, CONNECT);
    // Not the current card: nothing to clear, so no `card.madeDefault` `unset`.
    ok(v.set_current(&tid(CONNECT), "a1", second.id, false).await);
    assert_eq!(actions(&v, CONNECT), before);
    ok(v.set_current(&tid(CONNECT), "a1", second.id, true).await);
    ok(v.set_current(&tid(CONNECT), "a1", second.id, false).await);
    let after = actions(&v, CONNECT);
    assert_eq!(
        after[before.len()..],
        ["card.madeDefault", "card.madeDefault"]
    );
    let unset = v.store.audit_events(&tid(CONNECT)).pop().unwrap();
    assert_eq!(unset.event.outcome, "unset");
}

/// A billing remove detaches at Stripe, then deletes; when the delete never commits, the
/// detach is recorded on its own (the removal's transaction took no event).
#[tokio::test]
async fn a_detach_whose_removal_fails_is_still_recorded() {
    let v = vault();
    let card = attached(&v, "a1", "1881", false).await.payment_method;
    let before = actions(&v, CONNECT);
    v.store.fail("delete_payment_method");
    assert!(v
        .remove_account_card(&tid(CONNECT), "a1", card.id)
        .await
        .is_err());
    v.store.heal("delete_payment_method");
    let chain = v.store.audit_events(&tid(CONNECT));
    assert_eq!(chain.len(), before.len() + 1);
    let last = &chain.last().unwrap().event;
    assert_eq!(last.action, "stripe.cardDetached");
    assert_eq!(last.payment_method_id, Some(card.id.get()));
    // The card is still in the vault: no removal was recorded.
    assert!(!actions(&v, CONNECT).contains(&"card.removed".to_owned()));
}
