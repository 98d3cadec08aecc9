//! Customers: create, read, the one customer behind an external reference, and the
//! Stripe customer that holds a customer's cards.

use super::*;
use crate::domain::CustomerFields;
use crate::memory::FailWith;
use crate::ports::{CustomerStore, Ids, StoreError};
use crate::vault::customers::ID_ATTEMPTS;

#[tokio::test]
async fn create_stores_the_customer_with_its_details() {
    let v = vault();
    let details = NewCustomer::parse(CustomerFields {
        first_name: Some("Karen"),
        primary_email: Some("karen@example.com"),
        ..Default::default()
    })
    .unwrap();
    let c = ok(v.create_customer(&tid(CONNECT), details.clone()).await);
    // The audit event is one more call (two DynamoDB round trips).
    assert_eq!(v.store.take_calls(), ["create_customer"]);
    assert_eq!(c.tenant_id, tid(CONNECT));
    assert_eq!(c.details, details);
    assert_eq!(c.default_payment_method_id, None);
    assert_eq!(c.external_ref, None);
    assert_eq!(c.stripe_customer_id, None);

    assert_eq!(ok(v.customer(&tid(CONNECT), c.id).await), c);
    assert_eq!(v.store.customer_count(), 1);
}

#[tokio::test]
async fn another_tenants_customer_answers_exactly_like_an_absent_one() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let foreign = not_found(err(v.customer(&tid(OWN), c.id).await));
    v.store.remove_customer(c.id);
    let absent = not_found(err(v.customer(&tid(CONNECT), c.id).await));

    assert_eq!(foreign, absent);
    assert_eq!(foreign, format!("Customer with id {} not found.", c.id));
}

#[tokio::test]
async fn an_id_collision_is_retried_with_a_fresh_id() {
    let v = vault();
    let first = customer(&v, CONNECT).await;
    // Every attempt but the last draws the id just taken.
    v.ids.repeat_next(ID_ATTEMPTS - 1);

    let second = ok(v
        .create_customer(&tid(CONNECT), NewCustomer::default())
        .await);
    assert_ne!(second.id, first.id);
    let expected = vec!["create_customer"; ID_ATTEMPTS];
    assert_eq!(v.store.take_calls(), expected);
    assert_eq!(v.store.customer_count(), 2);
    assert_eq!(ok(v.customer(&tid(CONNECT), first.id).await), first);
}

#[tokio::test]
async fn id_collisions_give_up_after_id_attempts() {
    let v = vault();
    customer(&v, CONNECT).await;
    v.ids.repeat_next(ID_ATTEMPTS);

    assert_internal(err(v
        .create_customer(&tid(CONNECT), NewCustomer::default())
        .await));
    assert_eq!(v.store.take_calls(), vec!["create_customer"; ID_ATTEMPTS]);
    assert_eq!(v.store.customer_count(), 1);
}

#[tokio::test]
async fn a_store_failure_is_internal_and_not_retried() {
    let v = vault();
    v.store.fail("create_customer");
    assert_internal(err(v
        .create_customer(&tid(CONNECT), NewCustomer::default())
        .await));
    assert_eq!(v.store.take_calls(), ["create_customer"]);
}

#[tokio::test]
async fn customer_for_ref_makes_one_customer_and_returns_it_again() {
    let v = vault();
    let t = tid(CONNECT);

    let made = ok(v.customer_for_ref(&t, "account:a1").await);
    assert_eq!(
        v.store.take_calls(),
        ["customer_by_external_ref", "create_customer_with_ref",]
    );
    assert_eq!(made.external_ref.as_deref(), Some("account:a1"));

    let again = ok(v.customer_for_ref(&t, "account:a1").await);
    assert_eq!(v.store.take_calls(), ["customer_by_external_ref"]);
    assert_eq!(again, made);
    assert_eq!(v.store.customer_count(), 1);

    // The same reference in another tenant is another customer.
    let other = ok(v.customer_for_ref(&tid(OWN), "account:a1").await);
    assert_ne!(other.id, made.id);
    assert_eq!(v.store.customer_count(), 2);
}

#[tokio::test]
async fn customer_for_ref_retries_an_id_collision() {
    let v = vault();
    let taken = customer(&v, CONNECT).await;
    v.ids.repeat_next(1);

    let made = ok(v.customer_for_ref(&tid(CONNECT), "user:u1").await);
    assert_ne!(made.id, taken.id);
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_by_external_ref",
            "create_customer_with_ref",
            // Not a stale reference: none was written.
            "customer_id_by_external_ref",
            "customer_by_external_ref",
            "create_customer_with_ref",
        ]
    );
    assert_eq!(
        ok(v.customer_for_ref(&tid(CONNECT), "user:u1").await).id,
        made.id
    );
}

/// Review A1: a takeover is for the reference of a deleted customer only. Whatever the
/// caller believes, a live customer keeps its reference, and no second customer is made.
#[tokio::test]
async fn a_live_customers_reference_is_never_taken_over() {
    let v = vault();
    let t = tid(CONNECT);
    let live = ok(v.customer_for_ref(&t, "account:a1").await);
    let mut usurper = live.clone();
    usurper.id = v.ids.customer_id();

    let taken = v
        .store
        .create_customer_with_ref(&usurper, "account:a1", Some(live.id))
        .await;
    assert!(matches!(taken, Err(StoreError::AlreadyExists)), "{taken:?}");
    the_one_customer_holding_a1(&v, live.id).await;
}

/// `account:a1` of [`CONNECT`] names `id`, the one customer there is.
async fn the_one_customer_holding_a1(v: &Vault<Memory>, id: CustomerId) {
    let held = v
        .store
        .customer_id_by_external_ref(&tid(CONNECT), "account:a1")
        .await;
    assert_eq!(held.unwrap(), Some(id));
    assert_eq!(v.store.customer_count(), 1);
}

/// Review A1: a read that misses a customer a concurrent first request just made (an
/// eventually consistent read) must not make its reference look stale: the loser still
/// answers the winner's customer, and the reference still names it.
#[tokio::test]
async fn a_read_missing_a_just_made_customer_takes_nothing_over() {
    let v = vault();
    let t = tid(CONNECT);
    let winner = ok(v.customer_for_ref(&t, "account:a1").await);
    // Both reads before the loser's takeover attempt miss it.
    v.store.miss(winner.id, 2);

    let loser = ok(v.customer_for_ref(&t, "account:a1").await);
    assert_eq!(loser, winner);
    the_one_customer_holding_a1(&v, winner.id).await;
}

#[tokio::test]
async fn the_stripe_customer_link_is_made_once_and_reused() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let auth = ok(v.stripe_auth(&connect_tenant(), StripeRoute::Any).await);

    let stripe = ok(v.stripe_customer_of(&auth, &c).await);
    assert_eq!(
        v.gateway.take_calls(),
        [format!(
            "create_vault_customer cardvault-customer-{CONNECT}-{}",
            c.id
        )]
    );
    assert_eq!(v.store.take_calls(), ["link_stripe_customer"]);
    let linked = reread(&v, &c).await;
    assert_eq!(linked.stripe_customer_id.as_deref(), Some(stripe.as_str()));

    // Linked: no Stripe call, no store call.
    assert_eq!(ok(v.stripe_customer_of(&auth, &linked).await), stripe);
    assert!(v.gateway.take_calls().is_empty());
    assert!(v.store.take_calls().is_empty());

    // A stale read (a concurrent first card) sends the same idempotency key, and Stripe
    // answers the same customer: still one.
    assert_eq!(ok(v.stripe_customer_of(&auth, &c).await), stripe);
    assert_eq!(v.gateway.live_customers(), 1);
    assert_eq!(reread(&v, &c).await.stripe_customer_id, Some(stripe));
}

#[tokio::test]
async fn stripe_unavailable_links_no_stripe_customer() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let auth = ok(v.stripe_auth(&connect_tenant(), StripeRoute::Any).await);
    v.gateway
        .fail("create_vault_customer", FailWith::Unavailable);

    let e = err(v.stripe_customer_of(&auth, &c).await);
    assert_eq!(
        upstream(e),
        "Stripe is unavailable; nothing was stored. Try again."
    );
    assert!(v.store.take_calls().is_empty());
    assert_eq!(reread(&v, &c).await.stripe_customer_id, None);
}
