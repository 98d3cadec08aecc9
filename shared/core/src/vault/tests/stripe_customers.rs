//! The user API's Stripe customers: a card token becomes a Stripe customer, a link, and a
//! payment method of the user's vault customer.

use std::time::Duration;

use super::*;
use crate::memory::FailWith;
use crate::ports::CustomerStore;
use crate::vault::{Offset, LINKS_LIMIT_MAX};

const TOKEN_USED: &str = "This Stripe token has already been used; create a new token.";

/// The user's vault customer (`user:<sub>`), if there is one.
async fn user_customer(v: &Vault<Memory>, user: &Principal) -> Option<Customer> {
    let r = format!("user:{}", user.user);
    let c = v
        .store
        .customer_by_external_ref(&user.tenant, &r)
        .await
        .unwrap();
    v.store.take_calls();
    c
}

#[tokio::test]
async fn create_makes_a_link_and_a_payment_method_in_the_users_vault_customer() {
    let v = vault();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card("4242"));

    let link = ok(v.create_stripe_customer(&user, token).await);
    assert_eq!(
        v.store.take_calls(),
        [
            "token_use",
            "get_tenant",
            "customer_id_by_external_ref",
            "create_customer_with_ref",
            "create_stripe_customer_link",
        ]
    );
    // A customer, then the token's card saved on it for off-session use, every key
    // derived from the first (tenant, user, token).
    let calls = v.gateway.take_calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let key = calls[0]
        .strip_prefix("create_customer ")
        .expect("a customer first");
    assert!(key.starts_with("cv-scus-"), "{key}");
    assert_eq!(calls[1], format!("create_payment_method {key}-pm"));
    assert_eq!(calls[2], format!("setup_off_session {key}-setup"));

    assert_eq!(link.owner, "u1");
    assert_eq!(link.tenant_id, tid(CONNECT));
    assert!(link.stripe_customer_id.starts_with("cus_"));
    assert_eq!(link.source.last4.as_deref(), Some("4242"));
    assert_eq!(
        link.source.customer.as_ref(),
        Some(&link.stripe_customer_id)
    );
    assert_eq!(link.deleted_at, None);

    let c = user_customer(&v, &user)
        .await
        .expect("the user's vault customer");
    assert_eq!(link.customer_id, c.id);
    assert_eq!(c.default_payment_method_id, Some(link.payment_method_id));
    let [pm] = stored_of(&v, c.id).try_into().expect("one payment method");
    assert_eq!(pm.id, link.payment_method_id);
    assert_eq!(pm.last4, "4242");
    assert!(!pm.stored_in_vault);
    let stripe = pm.stripe.clone().unwrap();
    assert_eq!(stripe.customer_id, link.stripe_customer_id);
    assert_eq!(stripe.source_id, link.source.id);
    assert_eq!(
        pm.holder.first_name.as_ref().map(Text::as_str),
        Some("Karen")
    );
    assert_eq!(v.gateway.live_customers(), 1);
    assert_eq!(v.store.link_count(), 1);

    // The merchant API sees the same card (it is no billing account's: the billing card
    // API does not).
    let view = ok(v.payment_method(&tid(CONNECT), pm.id).await);
    assert!(view.is_default);
    assert_eq!(view.account, None);
}

#[tokio::test]
async fn a_users_second_token_joins_the_same_vault_customer() {
    let v = vault();
    let user = principal("u1").build();
    let first = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4242")))
        .await);
    let second = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4444")))
        .await);
    assert_eq!(first.customer_id, second.customer_id);
    assert_ne!(first.stripe_customer_id, second.stripe_customer_id);
    let c = user_customer(&v, &user).await.unwrap();
    assert_eq!(c.default_payment_method_id, Some(first.payment_method_id));
    assert_eq!(stored_of(&v, c.id).len(), 2);
}

#[tokio::test]
async fn a_known_users_card_reads_its_customers_id_not_the_customer() {
    let v = vault();
    let user = principal("u1").build();
    let first = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4242")))
        .await);
    v.store.take_calls();
    let second = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4444")))
        .await);
    assert_eq!(second.customer_id, first.customer_id);
    // The transaction's condition on the customer item stands for reading it. (The audit
    // trail's own calls are not this rule's.)
    let calls: Vec<_> = v
        .store
        .take_calls()
        .into_iter()
        .filter(|c| *c != "audit_append")
        .collect();
    assert_eq!(
        calls,
        [
            "token_use",
            "customer_id_by_external_ref",
            "create_stripe_customer_link",
        ]
    );
}

#[tokio::test]
async fn the_same_token_replayed_by_the_same_user_answers_the_same_link() {
    let v = vault();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card("4242"));
    let first = ok(v.create_stripe_customer(&user, token.clone()).await);
    v.gateway.take_calls();
    v.store.take_calls();

    let again = ok(v.create_stripe_customer(&user, token).await);
    assert_eq!(again, first);
    assert!(
        v.gateway.take_calls().is_empty(),
        "no second Stripe customer"
    );
    assert_eq!(v.store.take_calls(), ["token_use", "link_for_token_use"]);
    assert_eq!(v.gateway.live_customers(), 1);
    assert_eq!(v.store.link_count(), 1);
}

/// A client's retry racing its first request: both are at Stripe before either stores
/// (one idempotency key, so one Stripe customer); the one that stores second finds the
/// first's link to that same customer and answers it, undoing nothing.
#[tokio::test(start_paused = true)]
async fn a_retry_racing_the_first_request_answers_its_link_and_undoes_nothing() {
    let v = vault();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card("4242"));
    v.gateway
        .latency("create_customer_with_source", Duration::from_secs(1));

    let (first, second) = tokio::join!(
        v.create_stripe_customer(&user, token.clone()),
        v.create_stripe_customer(&user, token)
    );
    assert_eq!(ok(first), ok(second));
    assert_eq!(v.gateway.live_customers(), 1, "the Stripe customer stays");
    assert_eq!(v.store.link_count(), 1);
}

#[tokio::test]
async fn the_same_token_from_another_user_answers_like_an_unknown_token() {
    let v = vault();
    let token = v.gateway.seed_token(stripe_card("4242"));
    ok(
        v.create_stripe_customer(&principal("u1").build(), token.clone())
            .await,
    );
    v.gateway.take_calls();

    // Another user's record is no one's business: exactly what an unknown token answers.
    let other = principal("u2").build();
    let unknown = StripeToken::parse("tok_unknown").unwrap();
    let unknown = bad_request(err(v.create_stripe_customer(&other, unknown).await));
    assert!(unknown.starts_with("No such token"), "{unknown}");
    v.gateway.take_calls();
    let e = err(v.create_stripe_customer(&other, token).await);
    assert_eq!(bad_request(e), unknown);
    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(v.store.link_count(), 1);
    assert!(user_customer(&v, &other).await.is_none());
    let (links, total) = ok(v.list_stripe_customers(&other, Offset::default()).await);
    assert!(links.is_empty());
    assert_eq!(total, 0);
}

#[tokio::test]
async fn a_stripe_card_without_last4_deletes_the_stripe_customer_again() {
    let v = vault();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card(""));

    assert_internal(err(v.create_stripe_customer(&user, token).await));
    assert_eq!(
        stripe_ops(&v),
        [
            "create_customer",
            "create_payment_method",
            "setup_off_session",
            "delete_customer"
        ]
    );
    assert_eq!(v.gateway.live_customers(), 0);
    assert_eq!(v.store.link_count(), 0);
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn a_store_failure_keeps_the_stripe_customer_for_the_retry() {
    let v = vault();
    let user = principal("u1").build();
    let token = v.gateway.seed_token(stripe_card("4242"));
    v.store.fail("create_stripe_customer_link");

    assert_internal(err(v.create_stripe_customer(&user, token.clone()).await));
    assert_eq!(
        stripe_ops(&v),
        [
            "create_customer",
            "create_payment_method",
            "setup_off_session"
        ]
    );
    assert_eq!(v.gateway.live_customers(), 1, "not deleted");
    assert_eq!(v.store.link_count(), 0);

    // The client's retry gets Stripe's first customer back (same idempotency key) and
    // links it.
    v.store.heal("create_stripe_customer_link");
    let link = ok(v.create_stripe_customer(&user, token).await);
    assert_eq!(v.gateway.live_customers(), 1);
    assert_eq!(v.store.link_count(), 1);
    assert_eq!(
        v.gateway.sources_of(&link.stripe_customer_id),
        [link.source.id]
    );
}

#[tokio::test]
async fn stripe_errors_are_told_apart_and_store_nothing() {
    let v = vault();
    let user = principal("u1").build();

    let unknown = StripeToken::parse("tok_unknown").unwrap();
    let e = err(v.create_stripe_customer(&user, unknown).await);
    assert!(bad_request(e).starts_with("No such token"));

    // A token Stripe has seen used already (by another path).
    let token = v.gateway.seed_token(stripe_card("4242"));
    ok(v.attach_token_card(
        &tid(CONNECT),
        "a1",
        token_card(token.clone(), "4242", false),
    )
    .await);
    let before = v.store.payment_methods().len();
    let e = err(v.create_stripe_customer(&user, token).await);
    assert_eq!(bad_request(e), TOKEN_USED);

    let customers = v.gateway.live_customers();
    assert_eq!(customers, 1, "the account's; the user's was deleted again");

    for op in [
        "create_customer",
        "create_payment_method",
        "setup_off_session",
    ] {
        for (with, check) in [
            (
                FailWith::Api(401),
                "Stripe rejected this account's Stripe credentials.",
            ),
            (
                FailWith::Unavailable,
                "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.",
            ),
        ] {
            v.gateway.fail(op, with);
            let token = v.gateway.seed_token(stripe_card("4242"));
            assert_eq!(
                upstream(err(v.create_stripe_customer(&user, token).await)),
                check,
                "{op}"
            );
        }
        v.gateway.fail(op, FailWith::Api(400));
        let token = v.gateway.seed_token(stripe_card("4242"));
        assert_eq!(
            bad_request(err(v.create_stripe_customer(&user, token).await)),
            "Stripe: injected 400",
            "{op}"
        );
        v.gateway.heal(op);
        // A customer made before the failure is deleted again.
        assert_eq!(v.gateway.live_customers(), customers, "{op}");
    }

    assert_eq!(v.store.link_count(), 0);
    assert_eq!(v.store.payment_methods().len(), before);
}

#[tokio::test]
async fn list_pages_a_users_links_oldest_first() {
    let v = vault();
    let user = principal("u1").build();
    let mut made = Vec::new();
    for last4 in ["4242", "4444", "1881"] {
        let token = v.gateway.seed_token(stripe_card(last4));
        made.push(ok(v.create_stripe_customer(&user, token).await));
    }
    // Someone else's, and the same user name in another tenant.
    let token = v.gateway.seed_token(stripe_card("0005"));
    ok(v.create_stripe_customer(&principal("u2").build(), token)
        .await);
    v.store.take_calls();

    let (page, total) = ok(v
        .list_stripe_customers(&user, Offset { start: 0, limit: 2 })
        .await);
    assert_eq!(page, made[0..2]);
    assert_eq!(total, 3);
    assert_eq!(v.store.take_calls(), ["stripe_customer_links"]);
    let (page, total) = ok(v
        .list_stripe_customers(&user, Offset { start: 2, limit: 2 })
        .await);
    assert_eq!(page, made[2..]);
    assert_eq!(total, 3);
    let (page, total) = ok(v
        .list_stripe_customers(&user, Offset { start: 5, limit: 2 })
        .await);
    assert!(page.is_empty());
    assert_eq!(total, 3);
    let (page, _) = ok(v.list_stripe_customers(&user, Offset::default()).await);
    assert_eq!(page, made);
    assert_eq!(Offset::default().limit, LINKS_LIMIT_MAX);

    let elsewhere = principal("u1").tenant(OWN).build();
    let (page, total) = ok(v.list_stripe_customers(&elsewhere, Offset::default()).await);
    assert!(page.is_empty());
    assert_eq!(total, 0);
}

#[tokio::test]
async fn without_a_limit_the_whole_list_is_answered() {
    let v = vault();
    let user = principal("u1").build();
    for i in 0..25 {
        let last4: &'static str = Box::leak(format!("{:04}", 1000 + i).into_boxed_str());
        let token = v.gateway.seed_token(stripe_card(last4));
        ok(v.create_stripe_customer(&user, token).await);
    }
    let (page, total) = ok(v.list_stripe_customers(&user, Offset::default()).await);
    assert_eq!((page.len(), total), (25, 25), "not cut at a page of 20");
}

/// `store_link`: "A customer deleted meanwhile is made again, once." `MemoryStore::
/// remove_customer` models that deletion (the customer goes, its references stay): the
/// link's write answers `CustomerGone`, and the retry takes the stale reference over with a
/// new customer (`customer_for_ref`), rather than fail with an internal error and leave
/// the Stripe customer just made behind. Latent: nothing in cardvault deletes customers
/// today.
#[tokio::test]
async fn a_users_vault_customer_deleted_meanwhile_is_made_again() {
    let v = vault();
    let user = principal("u1").build();
    let first = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4242")))
        .await);
    v.store.remove_customer(first.customer_id);

    let link = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("4444")))
        .await);
    assert_ne!(link.customer_id, first.customer_id);
    // The reference names the new customer, which holds the card: made again once, and
    // found from now on.
    let c = user_customer(&v, &user)
        .await
        .expect("the user's new vault customer");
    assert_eq!(c.id, link.customer_id);
    assert_eq!(c.default_payment_method_id, Some(link.payment_method_id));
    let again = ok(v
        .create_stripe_customer(&user, v.gateway.seed_token(stripe_card("5555")))
        .await);
    assert_eq!(again.customer_id, link.customer_id);
}
