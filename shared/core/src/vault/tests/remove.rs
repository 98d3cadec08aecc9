//! Removing a card: the merchant API's delete and the billing card API's remove.

use super::*;
use crate::memory::FailWith;
use crate::ports::PaymentGateway;

fn source(view: &CardView) -> (String, String) {
    let s = view.payment_method.stripe.clone().expect("held at Stripe");
    (s.customer_id, s.source_id)
}

/// A billing account's vault customer as the store has it now (made if it has none).
async fn reread_account(v: &Vault<Memory>, account: &str) -> Customer {
    let c = ok(v
        .customer_for_ref(&tid(CONNECT), &crate::domain::account_ref(account))
        .await);
    v.store.take_calls();
    c
}

// The merchant API's delete.

#[tokio::test]
async fn the_default_cannot_be_deleted_while_others_exist() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let default = imported(&v, &c, "4242").await;
    imported(&v, &c, "4444").await;

    let e = err(v
        .delete_card(&tid(CONNECT), default.payment_method.id)
        .await);
    assert_eq!(bad_request(e), "Cannot delete a default payment method");
    assert_eq!(stored_of(&v, c.id).len(), 2);
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(default.payment_method.id)
    );
}

#[tokio::test]
async fn the_only_card_can_be_deleted_and_the_default_is_cleared() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let only = imported(&v, &c, "4242").await;

    ok(v.delete_card(&tid(CONNECT), only.payment_method.id).await);
    assert_eq!(
        v.store.take_calls(),
        [
            "locate_payment_method",
            "customer_with_payment_methods",
            "delete_payment_method",
        ]
    );
    assert!(stored_of(&v, c.id).is_empty());
    assert_eq!(reread(&v, &c).await.default_payment_method_id, None);
}

#[tokio::test]
async fn another_card_is_deleted_and_the_default_stays() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let default = imported(&v, &c, "4242").await;
    let other = imported(&v, &c, "4444").await;

    ok(v.delete_card(&tid(CONNECT), other.payment_method.id).await);
    assert_eq!(
        stored_of(&v, c.id),
        std::slice::from_ref(&default.payment_method)
    );
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(default.payment_method.id)
    );
}

#[tokio::test]
async fn a_redirect_card_is_detached_at_stripe_after_its_delete() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let added = ok(v
        .add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await)
    .view;
    let (cus, card_id) = source(&added);
    v.gateway.take_calls();

    // The record goes first: a failed delete leaves the card at Stripe.
    v.store.fail("delete_payment_method");
    assert_internal(err(v
        .delete_card(&tid(CONNECT), added.payment_method.id)
        .await));
    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(v.gateway.sources_of(&cus), std::slice::from_ref(&card_id));

    v.store.heal("delete_payment_method");
    ok(v.delete_card(&tid(CONNECT), added.payment_method.id).await);
    assert_eq!(
        v.gateway.take_calls(),
        [format!("detach_source {cus} {card_id}")]
    );
    assert!(v.gateway.sources_of(&cus).is_empty());
    assert!(stored_of(&v, c.id).is_empty());
}

#[tokio::test]
async fn a_deleted_redirect_card_can_be_entered_again() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = ok(v
        .add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await);
    ok(v.delete_card(&tid(CONNECT), first.view.payment_method.id)
        .await);

    let again = ok(v
        .add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await);
    assert!(again.created, "the duplicate markers went with the card");
    assert_ne!(again.view.payment_method.id, first.view.payment_method.id);
    assert!(again.view.is_default);
}

#[tokio::test]
async fn a_failed_detach_after_the_delete_still_deletes() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let added = ok(v
        .add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await)
    .view;
    v.gateway.fail("detach_source", FailWith::Unavailable);

    ok(v.delete_card(&tid(CONNECT), added.payment_method.id).await);
    assert!(stored_of(&v, c.id).is_empty());
}

#[tokio::test]
async fn an_imported_card_is_left_at_stripe() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let view = imported(&v, &c, "4242").await;
    let (cus, card_id) = source(&view);

    ok(v.delete_card(&tid(CONNECT), view.payment_method.id).await);
    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(v.gateway.sources_of(&cus), [card_id]);
    assert!(stored_of(&v, c.id).is_empty());
}

/// The module's rule: both APIs detach at Stripe a card cardvault itself attached to the
/// vault customer's own Stripe customer. A billing-API card is one (it was left attached,
/// with no record left to remove it by, before `PaymentMethod::attached_by_vault`).
#[tokio::test]
async fn a_billing_card_deleted_through_the_merchant_api_is_detached_at_stripe() {
    let v = vault();
    let view = attached(&v, "a1", "4242", false).await;
    let (cus, card_id) = source(&view);

    ok(v.delete_card(&tid(CONNECT), view.payment_method.id).await);
    assert!(v.store.payment_methods().is_empty());
    assert!(
        v.gateway.sources_of(&cus).is_empty(),
        "still attached at Stripe"
    );
    assert_eq!(
        v.gateway.take_calls(),
        [format!("detach_source {cus} {card_id}")]
    );
}

/// A merchant's card imported onto a billing account's customer sits on the merchant's
/// Stripe customer, not the account's: the merchant delete leaves it there.
#[tokio::test]
async fn a_merchant_card_on_an_accounts_customer_deleted_through_the_merchant_api_is_left_at_stripe(
) {
    let v = vault();
    let billing = attached(&v, "a1", "4242", false).await;
    let account = reread_account(&v, "a1").await;
    let merchants = imported(&v, &account, "4444").await;
    let (cus, card_id) = source(&merchants);
    assert_ne!(Some(&cus), account.stripe_customer_id.as_ref());

    ok(v.delete_card(&tid(CONNECT), merchants.payment_method.id)
        .await);
    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(v.gateway.sources_of(&cus), [card_id]);
    assert_eq!(
        stored_of(&v, account.id),
        std::slice::from_ref(&billing.payment_method)
    );
}

#[tokio::test]
async fn delete_of_a_foreign_unknown_or_non_card_payment_method_is_not_found() {
    let v = vault();
    let foreign = customer(&v, OWN).await;
    let theirs = imported(&v, &foreign, "4242").await.payment_method.id;
    let c = customer(&v, CONNECT).await;
    let (cus, ba) = v.gateway.seed_customer_with_bank_account("6789");
    let bank = ok(v
        .import_card(
            &tid(CONNECT),
            StripeRoute::Any,
            import_request(c.id, &cus, &ba),
        )
        .await)
    .payment_method
    .id;
    let unknown = crate::domain::PaymentMethodId::try_from(31).unwrap();

    for id in [theirs, bank, unknown] {
        let e = err(v.delete_card(&tid(CONNECT), id).await);
        assert_eq!(
            not_found(e),
            format!("Payment method with id {id} not found.")
        );
    }
    assert_eq!(v.store.payment_methods().len(), 2);
}

// The billing card API's remove.

#[tokio::test]
async fn removing_the_current_card_makes_the_newest_other_current_and_stripe_follows() {
    let v = vault();
    let first = attached(&v, "a1", "4242", false).await;
    attached(&v, "a1", "4444", false).await;
    let newest = attached(&v, "a1", "1881", false).await;
    let (cus, first_card) = source(&first);
    assert!(first.is_default);

    let removed = ok(v
        .remove_account_card(&tid(CONNECT), "a1", first.payment_method.id)
        .await);
    assert!(!removed.is_default);
    assert_eq!(removed.payment_method.id, first.payment_method.id);

    let c = ok(v
        .customer(&tid(CONNECT), first.payment_method.customer_id)
        .await);
    assert_eq!(c.default_payment_method_id, Some(newest.payment_method.id));
    assert_eq!(stored_of(&v, c.id).len(), 2);
    let (_, newest_card) = source(&newest);
    assert_eq!(v.gateway.default_source_of(&cus), Some(newest_card.clone()));
    assert!(!v.gateway.sources_of(&cus).contains(&first_card));
    assert_eq!(
        v.gateway.take_calls(),
        [
            format!("detach_source {cus} {first_card}"),
            format!("set_default_source {cus} {newest_card}"),
        ]
    );
}

#[tokio::test]
async fn removing_another_card_leaves_the_current_one() {
    let v = vault();
    let current = attached(&v, "a1", "4242", false).await;
    let other = attached(&v, "a1", "4444", false).await;

    ok(
        v.remove_account_card(&tid(CONNECT), "a1", other.payment_method.id)
            .await,
    );
    let c = ok(v
        .customer(&tid(CONNECT), current.payment_method.customer_id)
        .await);
    assert_eq!(c.default_payment_method_id, Some(current.payment_method.id));
    assert_eq!(stripe_ops(&v), ["detach_source"]);
}

#[tokio::test]
async fn removing_the_last_card_leaves_none_current() {
    let v = vault();
    let only = attached(&v, "a1", "4242", false).await;
    let (cus, _) = source(&only);

    ok(
        v.remove_account_card(&tid(CONNECT), "a1", only.payment_method.id)
            .await,
    );
    let c = ok(v
        .customer(&tid(CONNECT), only.payment_method.customer_id)
        .await);
    assert_eq!(c.default_payment_method_id, None);
    assert!(v.store.payment_methods().is_empty());
    assert!(v.gateway.sources_of(&cus).is_empty());
}

#[tokio::test]
async fn another_accounts_card_answers_exactly_like_a_missing_one() {
    let v = vault();
    let theirs = attached(&v, "a2", "4242", false).await;
    let (their_cus, their_card) = source(&theirs);
    let mine = attached(&v, "a1", "4444", false).await;
    let merchant = customer(&v, CONNECT).await;
    let merchants = imported(&v, &merchant, "1881").await;
    let user = ok(v
        .create_stripe_customer(
            &principal("u1").build(),
            v.gateway.seed_token(stripe_card("5556")),
        )
        .await);
    // The same account name in the other tenant.
    let token = v.gateway.seed_token(stripe_card("0005"));
    let other_tenant = ok(v
        .attach_token_card(&tid(OWN), "a1", token_card(token, "0005", false))
        .await);
    // A bank account on a1's own customer is not a card.
    let account = reread_account(&v, "a1").await;
    let (cus, ba) = v.gateway.seed_customer_with_bank_account("6789");
    let bank = ok(v
        .import_card(
            &tid(CONNECT),
            StripeRoute::Any,
            import_request(account.id, &cus, &ba),
        )
        .await);
    let absent = crate::domain::PaymentMethodId::try_from(31).unwrap();
    let stored = v.store.payment_methods();
    v.gateway.take_calls();

    let missing = |id| format!("Card with id {id} not found.");
    let e = err(v.remove_account_card(&tid(CONNECT), "a1", absent).await);
    assert_eq!(not_found(e), missing(absent));
    for id in [
        theirs.payment_method.id,
        merchants.payment_method.id,
        user.payment_method_id,
        other_tenant.payment_method.id,
        bank.payment_method.id,
    ] {
        let e = err(v.remove_account_card(&tid(CONNECT), "a1", id).await);
        assert!(matches!(e, Error::NotFound { .. }), "{id}: {e:?}");
        assert_eq!(e.to_string(), missing(id), "{id}");
    }
    assert!(v.gateway.take_calls().is_empty(), "Stripe is not asked");
    assert_eq!(v.store.payment_methods(), stored, "nothing removed");
    assert_eq!(v.gateway.sources_of(&their_cus), [their_card]);
    // a1's own card is removed as usual.
    ok(
        v.remove_account_card(&tid(CONNECT), "a1", mine.payment_method.id)
            .await,
    );
}

#[tokio::test]
async fn billing_remove_of_a_merchant_imported_card_leaves_it_at_stripe() {
    let v = vault();
    let billing = attached(&v, "a1", "4242", false).await;
    let (own_cus, own_card) = source(&billing);
    let account = reread_account(&v, "a1").await;
    assert_eq!(account.stripe_customer_id.as_ref(), Some(&own_cus));
    let merchants = imported(&v, &account, "4444").await;
    let (cus, card_id) = source(&merchants);

    let removed = ok(v
        .remove_account_card(&tid(CONNECT), "a1", merchants.payment_method.id)
        .await);
    assert_eq!(removed.payment_method.id, merchants.payment_method.id);
    assert!(v.gateway.take_calls().is_empty(), "no detach");
    assert_eq!(v.gateway.sources_of(&cus), [card_id]);
    assert_eq!(v.gateway.sources_of(&own_cus), [own_card]);
    assert_eq!(
        stored_of(&v, account.id),
        std::slice::from_ref(&billing.payment_method)
    );
}

#[tokio::test]
async fn billing_remove_of_a_merchant_card_on_an_account_without_a_stripe_customer_leaves_it() {
    let v = vault();
    // The merchant imports onto the account's customer before it ever had a token card.
    let account = reread_account(&v, "a1").await;
    assert_eq!(account.stripe_customer_id, None);
    let merchants = imported(&v, &account, "4444").await;
    assert!(merchants.is_default);
    let (cus, card_id) = source(&merchants);

    ok(
        v.remove_account_card(&tid(CONNECT), "a1", merchants.payment_method.id)
            .await,
    );
    assert!(v.gateway.take_calls().is_empty(), "no detach");
    assert_eq!(v.gateway.sources_of(&cus), [card_id]);
    assert!(stored_of(&v, account.id).is_empty());
    assert_eq!(reread(&v, &account).await.default_payment_method_id, None);
}

#[tokio::test]
async fn removing_a_current_merchant_card_makes_the_newest_other_current_and_stripe_follows() {
    let v = vault();
    let account = reread_account(&v, "a1").await;
    let merchants = imported(&v, &account, "4444").await;
    let billing = attached(&v, "a1", "4242", false).await;
    let (own_cus, own_card) = source(&billing);
    assert!(merchants.is_default && !billing.is_default);

    ok(
        v.remove_account_card(&tid(CONNECT), "a1", merchants.payment_method.id)
            .await,
    );
    assert_eq!(
        v.gateway.take_calls(),
        [format!("set_default_source {own_cus} {own_card}")]
    );
    assert_eq!(
        reread(&v, &account).await.default_payment_method_id,
        Some(billing.payment_method.id)
    );
}

#[tokio::test]
async fn a_card_already_gone_at_stripe_is_still_removed() {
    let v = vault();
    let view = attached(&v, "a1", "4242", false).await;
    let (cus, card_id) = source(&view);
    v.gateway
        .detach_source(&any_auth(), &cus, &card_id)
        .await
        .unwrap();

    ok(
        v.remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
            .await,
    );
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn stripe_unavailable_keeps_the_card() {
    let v = vault();
    let view = attached(&v, "a1", "4242", false).await;
    v.gateway.fail("detach_source", FailWith::Unavailable);

    let e = err(v
        .remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
        .await);
    assert_eq!(
        upstream(e),
        "Stripe is unavailable; the card was not removed. Try again."
    );
    assert_eq!(
        v.store.payment_methods(),
        std::slice::from_ref(&view.payment_method)
    );
    let c = ok(v
        .customer(&tid(CONNECT), view.payment_method.customer_id)
        .await);
    assert_eq!(c.default_payment_method_id, Some(view.payment_method.id));
}

/// A remove waits on Stripe's detach while another request makes a second card current:
/// its delete then finds the account changed. The card is detached already, so the remove
/// reads the account again and finishes, rather than answer 409 and leave a record whose
/// Stripe card is gone (what `make load` found at 8 and 32 instances).
#[tokio::test(start_paused = true)]
async fn a_remove_racing_a_current_change_still_removes_the_detached_card() {
    let v = vault();
    let first = attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "4444", false).await;
    attached(&v, "a1", "1881", false).await;
    let (cus, first_card) = source(&first);
    assert!(first.is_default);
    v.gateway
        .latency("detach_source", std::time::Duration::from_millis(100));

    let tenant = tid(CONNECT);
    let (removed, made_current) = tokio::join!(
        v.remove_account_card(&tenant, "a1", first.payment_method.id),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            v.set_current(&tenant, "a1", second.payment_method.id, true)
                .await
        }
    );
    ok(made_current);
    let removed = ok(removed);
    assert!(!removed.is_default);

    let c = reread_account(&v, "a1").await;
    assert_eq!(c.default_payment_method_id, Some(second.payment_method.id));
    let left = stored_of(&v, c.id);
    assert!(left.iter().all(|p| p.id != first.payment_method.id));
    assert_eq!(left.len(), 2);
    assert!(!v.gateway.sources_of(&cus).contains(&first_card));
}

/// The tenant's last audit event: (action, outcome, object).
fn last_event(v: &Vault<Memory>) -> (String, String, Option<String>) {
    let chain = v.store.audit_events(&tid(CONNECT));
    let e = chain.last().expect("an event").event.clone();
    (e.action, e.outcome, e.object)
}

/// Stripe's `resource_missing` on a detach is success, on every path (`Vault::detach`):
/// the card is not attached there, which is what the detach was for. The merchant delete
/// and the billing remove record the detach `absent` (not `ok`: the vault did not detach
/// it), the billing remove removes the card, and neither asks again.
#[tokio::test]
async fn a_card_already_detached_at_stripe_is_a_detach_that_succeeded() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let added = entered(&v, &c, VISA).await;
    let (cus, card_id) = source(&added);
    v.gateway
        .detach_source(&any_auth(), &cus, &card_id)
        .await
        .unwrap();
    v.gateway.take_calls();

    let (guard, out) = crate::telemetry::capture();
    ok(v.delete_card(&tid(CONNECT), added.payment_method.id).await);
    drop(guard);
    assert_eq!(
        v.gateway.take_calls(),
        [format!("detach_source {cus} {card_id}")]
    );
    let logs = out.text();
    assert!(
        logs.lines().any(|l| l.contains("WARN")
            && l.contains("not attached at Stripe")
            && l.contains(&card_id)),
        "{logs}"
    );
    assert_eq!(
        last_event(&v),
        ("stripe.cardDetached".into(), "absent".into(), Some(card_id))
    );

    // The billing remove, and a Stripe customer that is gone altogether.
    let view = attached(&v, "a1", "4242", false).await;
    let (cus, card_id) = source(&view);
    v.gateway.delete_customer(&any_auth(), &cus).await.unwrap();
    v.gateway.take_calls();
    ok(
        v.remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
            .await,
    );
    assert_eq!(
        v.gateway.take_calls(),
        [format!("detach_source {cus} {card_id}")]
    );
    assert_eq!(
        last_event(&v),
        ("stripe.cardDetached".into(), "absent".into(), Some(card_id))
    );
    assert!(stored_of(&v, view.payment_method.customer_id)
        .iter()
        .all(|p| p.id != view.payment_method.id));
}

/// A removal that loses its condition every time (other requests keep changing the
/// account's cards) gives up after its retries with a conflict, and removes nothing.
#[tokio::test]
async fn a_removal_that_always_conflicts_gives_up_with_a_conflict() {
    let v = vault();
    let view = attached(&v, "a1", "4242", false).await;
    v.store.take_calls();
    v.store.conflict("delete_payment_method");

    let e = err(v
        .remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
        .await);
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    let deletes = v
        .store
        .take_calls()
        .into_iter()
        .filter(|op| *op == "delete_payment_method")
        .count();
    assert_eq!(deletes, 6, "the first try and five retries");
    v.store.heal_conflict("delete_payment_method");
    ok(
        v.remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
            .await,
    );
}

/// Review A2: a 404 that is not Stripe's `resource_missing` (a wrong API base, a proxy's
/// path, a key of another Stripe account) is no "already detached": the billing remove
/// keeps the card and answers 502 (the merchant delete records it `failed`:
/// `a_detach_refused_otherwise_is_recorded_failed`).
#[tokio::test]
async fn a_bare_404_on_a_detach_is_a_failure_not_already_detached() {
    let v = vault();
    let view = attached(&v, "a1", "4242", false).await;
    v.gateway.fail("detach_source", FailWith::Api(404));

    let e = err(v
        .remove_account_card(&tid(CONNECT), "a1", view.payment_method.id)
        .await);
    assert_eq!(
        upstream(e),
        "Stripe is unavailable; the card was not removed. Try again."
    );
    assert!(stored_of(&v, view.payment_method.customer_id)
        .iter()
        .any(|p| p.id == view.payment_method.id));
}

/// Any other refusal of the detach is no success: the delete stands (it went first), and
/// the detach is recorded `failed`. A 404 without Stripe's `resource_missing` too (review
/// A2): it is not Stripe saying the card is gone.
#[tokio::test]
async fn a_detach_refused_otherwise_is_recorded_failed() {
    for status in [400, 404] {
        let v = vault();
        let c = customer(&v, CONNECT).await;
        let added = entered(&v, &c, VISA).await;
        v.gateway.fail("detach_source", FailWith::Api(status));
        ok(v.delete_card(&tid(CONNECT), added.payment_method.id).await);
        let (action, outcome, _) = last_event(&v);
        assert_eq!(
            (action.as_str(), outcome.as_str()),
            ("stripe.cardDetached", "failed"),
            "{status}"
        );
    }
}
