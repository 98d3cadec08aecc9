//! Safe retries (`vault::once`) over the in-memory store: claim, replay, mismatch, in
//! flight, the in-progress expiry, release on error, the window, scopes, Stripe keys.

use std::time::Duration;

use super::*;
use crate::domain::{Deadline, OnceState, StoredResponse};
use crate::vault::idempotency::{under_client_key, IdempotencyKey};
use crate::vault::once::{digest, OnceRequest, IN_FLIGHT, MISMATCH, REPLAY_WINDOW};
use crate::vault::Begun;

fn request<'a>(tenant: &'a TenantId, scope: &'a str, key: &'a str, body: &str) -> OnceRequest<'a> {
    OnceRequest {
        tenant,
        scope,
        key,
        request_hash: digest([body.as_bytes()]),
        window: REPLAY_WINDOW,
    }
}

fn answer(body: &str) -> StoredResponse {
    StoredResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
    }
}

async fn run_to_end(v: &Vault<Memory>, req: OnceRequest<'_>, body: &str) {
    match ok(v.begin_once(req).await) {
        Begun::Run(t) => ok(v.finish_once(t, Some(answer(body))).await),
        other => panic!("expected to run, got {other:?}"),
    }
}

#[tokio::test]
async fn a_completed_key_replays_its_answer_and_other_parameters_are_422() {
    let v = vault();
    let t = tid(CONNECT);
    run_to_end(&v, request(&t, "merchant", "k1", "a"), "{\"id\":1}").await;
    match ok(v.begin_once(request(&t, "merchant", "k1", "a")).await) {
        Begun::Replay(r) => assert_eq!(r, answer("{\"id\":1}")),
        other => panic!("{other:?}"),
    }
    match err(v.begin_once(request(&t, "merchant", "k1", "b")).await) {
        Error::Unprocessable(m) => assert_eq!(m, MISMATCH),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_running_key_is_409_until_its_in_progress_expiry() {
    let v = vault();
    let t = tid(CONNECT);
    let first = Deadline::after(Duration::from_secs(10))
        .scope(v.begin_once(request(&t, "merchant", "k", "a")))
        .await;
    assert!(matches!(ok(first), Begun::Run(_)));
    match err(v.begin_once(request(&t, "merchant", "k", "a")).await) {
        Error::Conflict(m) => assert_eq!(m, IN_FLIGHT),
        other => panic!("{other:?}"),
    }
    // The first attempt crashed: past its deadline the key runs again.
    v.clock.advance(11);
    assert!(matches!(
        ok(v.begin_once(request(&t, "merchant", "k", "a")).await),
        Begun::Run(_)
    ));
}

#[tokio::test]
async fn an_error_frees_the_key_and_a_stale_attempt_cannot_complete() {
    let v = vault();
    let t = tid(CONNECT);
    let Begun::Run(ticket) = ok(v.begin_once(request(&t, "merchant", "k", "a")).await) else {
        panic!()
    };
    ok(v.finish_once(ticket, None).await);
    assert!(v.store.once_records().is_empty());
    // A stale first attempt finishing after a second took over leaves the second's record.
    let stale = Deadline::after(Duration::from_secs(1))
        .scope(v.begin_once(request(&t, "merchant", "k", "a")))
        .await;
    let Begun::Run(stale) = ok(stale) else {
        panic!()
    };
    v.clock.advance(2);
    let Begun::Run(second) = ok(v.begin_once(request(&t, "merchant", "k", "a")).await) else {
        panic!()
    };
    ok(v.finish_once(stale, Some(answer("stale"))).await);
    let held = v.store.once_records();
    assert!(matches!(held[0].state, OnceState::InProgress { .. }));
    ok(v.finish_once(second, Some(answer("second"))).await);
    assert_eq!(
        v.store.once_records()[0].state,
        OnceState::Completed(answer("second"))
    );
}

#[tokio::test]
async fn the_window_ends_and_scopes_never_meet() {
    let v = vault();
    let (a, b) = (tid(CONNECT), tid(OWN));
    run_to_end(&v, request(&a, "merchant", "k", "x"), "a").await;
    // Another tenant, or another user of the same tenant, with the same key runs anew.
    for (t, scope) in [(&b, "merchant"), (&a, "user:u1"), (&a, "user:u2")] {
        assert!(matches!(
            ok(v.begin_once(request(t, scope, "k", "x")).await),
            Begun::Run(_)
        ));
    }
    // Stripe's 24 hours: still a replay a second before they end, a new run after.
    assert_eq!(REPLAY_WINDOW.as_secs(), 24 * 3600);
    v.clock.advance(REPLAY_WINDOW.as_secs() - 1);
    assert!(matches!(
        ok(v.begin_once(request(&a, "merchant", "k", "x")).await),
        Begun::Replay(_)
    ));
    v.clock.advance(2);
    assert!(matches!(
        ok(v.begin_once(request(&a, "merchant", "k", "x")).await),
        Begun::Run(_)
    ));
}

#[tokio::test]
async fn records_hold_hashes_never_the_key_or_the_body() {
    let v = vault();
    let t = tid(CONNECT);
    run_to_end(&v, request(&t, "merchant", "client-key-1", VISA), "{}").await;
    let r = &v.store.once_records()[0];
    assert!(!r.key.contains("client-key-1") && !r.request_hash.contains(VISA));
    assert_eq!(r.key.len(), 64);
}

#[tokio::test]
async fn stripe_keys_derive_from_the_client_key() {
    let card = crate::domain::PaymentMethodId::try_from(7).unwrap();
    let other = crate::domain::PaymentMethodId::try_from(8).unwrap();
    let plain = IdempotencyKey::setup(card);
    let keyed = under_client_key("seed".into(), async { IdempotencyKey::setup(card) }).await;
    // A retry under the same key gets a new card id, but the same Stripe key.
    let retried = under_client_key("seed".into(), async { IdempotencyKey::setup(other) }).await;
    assert_eq!(plain.as_str(), "cardvault-setup-7");
    assert_eq!(keyed.as_str(), "cardvault-setup-kseed");
    assert_eq!(keyed, retried);
}

#[tokio::test]
async fn a_double_submit_key_names_the_card_by_fingerprint_only() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let t = tid(CONNECT);
    let k1 = ok(v.double_submit(&t, c.id, &card(VISA).build(), b"req").await).0;
    let again = ok(v.double_submit(&t, c.id, &card(VISA).build(), b"req").await).0;
    let other = ok(v
        .double_submit(&t, c.id, &card(MASTERCARD).build(), b"req")
        .await)
    .0;
    let charged = ok(v
        .double_submit(&t, c.id, &card(VISA).collect(500).build(), b"req")
        .await)
    .0;
    assert_eq!(k1, again);
    assert_ne!(k1, other);
    assert_ne!(k1, charged);
    assert!(k1.starts_with("implicit:") && !k1.contains("4242"));
}

#[tokio::test]
async fn only_a_client_key_seeds_stripe_keys_never_the_redirects_implicit_one() {
    let v = vault();
    let t = tid(CONNECT);
    let c = customer(&v, CONNECT).await;
    let implicit = ok(v
        .double_submit(&t, c.id, &card(VISA).collect(500).build(), b"req")
        .await)
    .0;
    let Begun::Run(ticket) = ok(v
        .begin_once(request(&t, "redirect:1", &implicit, "a"))
        .await)
    else {
        panic!("expected to run");
    };
    // Seeded, a second collection a minute later would get the first PaymentIntent back.
    assert_eq!(ticket.stripe_seed(), None);
    let Begun::Run(keyed) = ok(v
        .begin_once(request(&t, "merchant", "client-key", "a"))
        .await)
    else {
        panic!("expected to run");
    };
    assert!(keyed.stripe_seed().is_some());
    assert!(crate::domain::ClientKey::parse("implicit:abc").is_err());
}

/// Without a client key, only the very same request (CVV and names included) sees the first
/// answer; another body for the same card runs as a fresh request, told nothing of the
/// first (no 422), and its hash is keyed by the card's fingerprint, not the bare body.
#[tokio::test]
async fn an_implicit_key_replays_only_the_same_request_and_runs_another_fresh() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let t = tid(CONNECT);
    let (key, first) = ok(v
        .double_submit(&t, c.id, &card(VISA).build(), b"body-a")
        .await);
    let (again, other) = ok(v
        .double_submit(&t, c.id, &card(VISA).build(), b"body-b")
        .await);
    assert_eq!(key, again);
    assert_ne!(first, other);
    assert_ne!(first, digest([b"body-a".as_slice()]));
    let scope = "redirect:1";
    let Begun::Run(ticket) = ok(v.begin_once(request(&t, scope, &key, &first)).await) else {
        panic!("expected to run");
    };
    ok(
        v.finish_once(ticket, Some(answer("{\"firstName\":\"Karen\"}")))
            .await,
    );
    assert!(matches!(
        ok(v.begin_once(request(&t, scope, &key, &other)).await),
        Begun::Fresh
    ));
    assert!(matches!(
        ok(v.begin_once(request(&t, scope, &key, &first)).await),
        Begun::Replay(_)
    ));
    // A client's own key keeps Stripe's rule: another body under it is 422.
    let Begun::Run(ticket) = ok(v.begin_once(request(&t, scope, "client", &first)).await) else {
        panic!("expected to run");
    };
    ok(v.finish_once(ticket, Some(answer("{}"))).await);
    assert!(v
        .begin_once(request(&t, scope, "client", &other))
        .await
        .is_err());
}
