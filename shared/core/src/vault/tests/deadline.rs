//! The request's deadline (`domain::deadline`) over a chain of Stripe calls: calls stop
//! where the reserve begins, the answer is a 503, and a card Stripe may have attached (a
//! PaymentMethod whose SetupIntent went unanswered) is detached again. Tokio's clock is paused: the in-memory Stripe's latencies pass in no
//! real time.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::domain::deadline::RESERVE;
use crate::domain::Deadline;
use crate::memory::FailWith;
use crate::vault::Added;

const S: fn(u64) -> Duration = Duration::from_secs;

async fn add(v: &Vault<Memory>, c: &Customer) -> Result<Added, Error> {
    v.add_entered_card(&connect_tenant(), c.id, card(VISA).build())
        .await
}

/// A 503 that says the deadline ran out.
fn out_of_time(e: Error) {
    match e {
        Error::Unavailable { message, source } => {
            assert_eq!(
                message,
                "Stripe did not answer in time; nothing was stored. Try again."
            );
            let cause = source.expect("the cause is kept for the log").to_string();
            assert!(cause.contains("deadline"), "{cause}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_attach_held_past_the_deadline_is_detached_and_answers_503() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.latency("setup_off_session", S(60));

    let started = Instant::now();
    let result = Deadline::after(S(20)).scope(add(&v, &c)).await;
    out_of_time(err(result));
    // The setup was given what the reserve left, and not a moment of the reserve.
    assert_eq!(started.elapsed(), S(20) - RESERVE);

    let calls = v.gateway.take_calls();
    let ops: Vec<_> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "create_vault_customer",
            "create_payment_method",
            "setup_off_session",
            "detach_source"
        ]
    );
    assert!(
        calls[3].contains(" pm_"),
        "the PaymentMethod is detached: {calls:?}"
    );
    let stripe_customer = reread(&v, &c).await.stripe_customer_id.unwrap();
    assert!(
        v.gateway.sources_of(&stripe_customer).is_empty(),
        "no orphan"
    );
    assert!(v.store.payment_methods().is_empty(), "nothing half-written");
}

#[tokio::test(start_paused = true)]
async fn when_little_more_than_the_reserve_is_left_the_attach_is_not_sent() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    // The PaymentMethod leaves 3.1 s: 0.1 s beyond the reserve, too little for an attempt.
    let pm_takes = S(20) - RESERVE - Duration::from_millis(100);
    v.gateway.latency("create_payment_method", pm_takes);

    out_of_time(err(Deadline::after(S(20)).scope(add(&v, &c)).await));
    assert_eq!(
        stripe_ops(&v),
        ["create_vault_customer", "create_payment_method"],
        "no setup, so nothing to undo"
    );
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test(start_paused = true)]
async fn slow_calls_within_the_deadline_store_the_card() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    for op in [
        "create_vault_customer",
        "create_payment_method",
        "setup_off_session",
    ] {
        v.gateway.latency(op, S(5));
    }
    let added = ok(Deadline::after(S(20)).scope(add(&v, &c)).await);
    assert!(added.created);
    assert_eq!(v.store.payment_methods().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn compensation_runs_even_when_the_reserve_was_already_spent() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    // No reserve, and the setup answers with 0.1 s left; then the store fails.
    v.gateway
        .latency("setup_off_session", S(20) - Duration::from_millis(100));
    v.store.fail("create_payment_method");

    let deadline = Deadline::after_with_reserve(S(20), Duration::ZERO);
    assert_internal(err(deadline.scope(add(&v, &c)).await));
    let ops = stripe_ops(&v);
    assert_eq!(ops.last().map(String::as_str), Some("detach_source"));
    let stripe_customer = reread(&v, &c).await.stripe_customer_id.unwrap();
    assert!(v.gateway.sources_of(&stripe_customer).is_empty());
}

#[tokio::test]
async fn an_unanswered_attach_is_undone_and_a_refused_one_is_not() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.fail("setup_off_session", FailWith::Unavailable);
    err(add(&v, &c).await);
    let calls = v.gateway.take_calls();
    let ops: Vec<_> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        ops[1..],
        [
            "create_payment_method",
            "setup_off_session",
            "detach_source"
        ],
        "Stripe may have attached it: the PaymentMethod is detached"
    );
    let stripe_customer = reread(&v, &c).await.stripe_customer_id.unwrap();
    assert!(
        calls[3].starts_with(&format!("detach_source {stripe_customer} pm_")),
        "{calls:?}"
    );

    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.fail("setup_off_session", FailWith::Api(402));
    err(add(&v, &c).await);
    assert_eq!(
        stripe_ops(&v).last().map(String::as_str),
        Some("setup_off_session")
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_card_held_past_the_deadline_is_detached_and_answers_503() {
    let v = vault();
    let token = v.gateway.seed_token(stripe_card("4242"));
    v.gateway.latency("setup_off_session", S(60));

    let new = token_card(token, "4242", true);
    let result = Deadline::after(S(10))
        .scope(v.attach_token_card(&tid(CONNECT), "a1", new))
        .await;
    out_of_time(err(result));
    let ops = stripe_ops(&v);
    assert_eq!(ops[ops.len() - 2..], ["setup_off_session", "detach_source"]);
    let c = ok(v.customer_for_ref(&tid(CONNECT), "account:a1").await);
    let stripe_customer = c.stripe_customer_id.unwrap();
    assert!(
        v.gateway.sources_of(&stripe_customer).is_empty(),
        "no orphan"
    );
    assert!(v.store.payment_methods().is_empty());
}
