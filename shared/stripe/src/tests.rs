//! The client against wiremock: what is retried and how often, what never is, and the
//! headers every call carries. Backoff is 1 ms, so each test takes milliseconds; only the
//! timeout test uses a short timeout (elsewhere a slow test machine must not turn an
//! answer into a timeout).
//!
//! `Stripe-Should-Retry`, the backoff's jitter and `Retry-After` are at the end.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::domain::{Deadline, OutOfTime};
use crate::ports::{PaymentGateway, Source};
use crate::{
    full_jitter, RetryPolicy, StripeAuth, StripeClient, StripeError, MAX_RETRY_AFTER,
    STRIPE_VERSION,
};
use cardvault_core::secret::SecretString;

const ATTEMPTS: usize = 3;
const SOURCE_PATH: &str = "/v1/customers/cus_Unit/sources/card_Unit";

fn client_with_timeout(server: &MockServer, timeout: Duration) -> StripeClient {
    StripeClient::new(
        reqwest::Client::new(),
        server.uri(),
        RetryPolicy {
            attempts: ATTEMPTS as u32,
            timeout,
            backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    )
}

fn client(server: &MockServer) -> StripeClient {
    client_with_timeout(server, Duration::from_secs(5))
}

fn platform() -> StripeAuth {
    StripeAuth {
        key: SecretString::from("sk_test_unit_platform".to_owned()),
        account: None,
    }
}

fn connect(account: &str) -> StripeAuth {
    StripeAuth {
        account: Some(account.to_owned()),
        ..platform()
    }
}

fn card() -> Value {
    json!({"object": "card", "id": "card_Unit", "brand": "Visa", "last4": "4242",
           "exp_month": 4, "exp_year": 2031})
}

fn stripe_error(status: u16, kind: &str, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "type": kind, "code": code, "message": message, "param": "id"}}))
}

async fn mock(server: &MockServer, response: ResponseTemplate, times: Option<u64>) {
    let m = Mock::given(method("GET"))
        .and(path(SOURCE_PATH))
        .respond_with(response);
    match times {
        Some(n) => m.up_to_n_times(n).mount(server).await,
        None => m.mount(server).await,
    }
}

async fn retrieve(client: &StripeClient) -> Result<Source, StripeError> {
    client
        .retrieve_source(&platform(), "cus_Unit", "card_Unit")
        .await
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

fn header_of<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

fn unavailable(r: Result<Source, StripeError>) -> String {
    match r {
        Err(StripeError::Unavailable(m)) => m,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_500_is_retried_a_bounded_number_of_times_then_unavailable() {
    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(500), None).await;
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "HTTP 500");
    assert_eq!(received(&server).await.len(), ATTEMPTS);
}

#[tokio::test]
async fn a_500_then_an_answer_is_the_answer() {
    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(503), Some(1)).await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    match retrieve(&client(&server)).await {
        Ok(Source::Card(c)) => assert_eq!(c.last4.as_deref(), Some("4242")),
        other => panic!("{other:?}"),
    }
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_timeout_is_retried_a_bounded_number_of_times_then_unavailable() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(card())
        .set_delay(Duration::from_secs(2));
    mock(&server, slow, None).await;
    let client = client_with_timeout(&server, Duration::from_millis(50));
    let message = unavailable(retrieve(&client).await);
    assert_eq!(message, "timed out");
    assert_eq!(received(&server).await.len(), ATTEMPTS);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    // A port nobody listens on: connection refused on every attempt.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = StripeClient::new(
        reqwest::Client::new(),
        format!("http://127.0.0.1:{port}"),
        RetryPolicy {
            attempts: ATTEMPTS as u32,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    );
    let message = unavailable(retrieve(&client).await);
    assert_eq!(message, "connection failed");
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_keeps_stripes_error() {
    let server = MockServer::start().await;
    let gone = stripe_error(
        404,
        "invalid_request_error",
        "resource_missing",
        "No such source: 'card_Unit'",
    );
    mock(&server, gone, None).await;
    let err = retrieve(&client(&server)).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    match err {
        StripeError::Api {
            status,
            kind,
            code,
            param,
            message,
        } => {
            assert_eq!(status, 404);
            assert_eq!(kind, "invalid_request_error");
            assert_eq!(code.as_deref(), Some("resource_missing"));
            assert_eq!(param.as_deref(), Some("id"));
            assert_eq!(message, "No such source: 'card_Unit'");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(received(&server).await.len(), 1);

    // A 4xx without Stripe's error object is still a 4xx, and still not retried.
    let server = MockServer::start().await;
    mock(
        &server,
        ResponseTemplate::new(402).set_body_string("nope"),
        None,
    )
    .await;
    match retrieve(&client(&server)).await {
        Err(StripeError::Api {
            status: 402,
            message,
            ..
        }) => assert_eq!(message, "Stripe answered HTTP 402"),
        other => panic!("{other:?}"),
    }
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_429_is_retried_like_a_5xx() {
    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(429), Some(2)).await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    assert!(matches!(
        retrieve(&client(&server)).await,
        Ok(Source::Card(_))
    ));
    assert_eq!(received(&server).await.len(), 3);

    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(429), None).await;
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "HTTP 429");
    assert_eq!(received(&server).await.len(), ATTEMPTS);
}

#[tokio::test]
async fn a_409_idempotency_error_is_retried_but_another_409_is_not() {
    let in_progress = || {
        stripe_error(
            409,
            "idempotency_error",
            "idempotency_key_in_use",
            "There is currently another in-progress request using this Idempotent Key.",
        )
    };
    // Stripe is still on an earlier attempt, then answers it.
    let server = MockServer::start().await;
    mock(&server, in_progress(), Some(1)).await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    assert!(matches!(
        retrieve(&client(&server)).await,
        Ok(Source::Card(_))
    ));
    assert_eq!(received(&server).await.len(), 2);

    // Still in progress after every attempt: unavailable, not a 4xx.
    let server = MockServer::start().await;
    mock(&server, in_progress(), None).await;
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "an earlier attempt is still in progress");
    assert_eq!(received(&server).await.len(), ATTEMPTS);

    // Any other conflict is Stripe's answer.
    let server = MockServer::start().await;
    let conflict = stripe_error(
        409,
        "invalid_request_error",
        "resource_already_exists",
        "exists",
    );
    mock(&server, conflict, None).await;
    assert!(matches!(
        retrieve(&client(&server)).await,
        Err(StripeError::Api { status: 409, .. })
    ));
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_2xx_with_a_bad_body_is_a_decode_error_and_not_retried() {
    for body in [
        ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"object": "refund", "id": "re_1"})),
    ] {
        let server = MockServer::start().await;
        mock(&server, body, None).await;
        let r = retrieve(&client(&server)).await;
        assert!(matches!(r, Err(StripeError::Decode(_))), "{r:?}");
        assert_eq!(received(&server).await.len(), 1);
    }
}

#[tokio::test]
async fn connect_calls_carry_the_account_and_the_pinned_version() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SOURCE_PATH))
        .and(header("Stripe-Account", "acct_Unit"))
        .and(header("Stripe-Version", STRIPE_VERSION))
        .and(header("Authorization", "Bearer sk_test_unit_platform"))
        .respond_with(ResponseTemplate::new(200).set_body_json(card()))
        .expect(1)
        .mount(&server)
        .await;
    let source = client(&server)
        .retrieve_source(&connect("acct_Unit"), "cus_Unit", "card_Unit")
        .await;
    assert!(matches!(source, Ok(Source::Card(_))), "{source:?}");
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "idempotency-key"), None, "a read");

    // Without an account (the platform's or the tenant's own key): no Stripe-Account.
    let server = MockServer::start().await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    retrieve(&client(&server)).await.unwrap();
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "stripe-account"), None);
    assert_eq!(
        header_of(&requests[0], "stripe-version"),
        Some(STRIPE_VERSION)
    );
}

#[tokio::test]
async fn a_create_sends_its_idempotency_key_on_every_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "cus_New", "object": "customer"})),
        )
        .mount(&server)
        .await;
    let id = client(&server)
        .create_vault_customer(&connect("acct_Unit"), "idem-unit-1", "42")
        .await
        .unwrap();
    assert_eq!(id, "cus_New");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(header_of(r, "idempotency-key"), Some("idem-unit-1"));
        assert_eq!(header_of(r, "stripe-account"), Some("acct_Unit"));
        assert_eq!(header_of(r, "stripe-version"), Some(STRIPE_VERSION));
        assert_eq!(
            header_of(r, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "metadata%5Bcardvault_customer_id%5D=42"
        );
    }
}

// The request's deadline (`domain::deadline`): attempts and backoffs stop where the time
// kept for compensation begins. The budgets are short real times, well apart.

fn out_of_time(r: Result<Source, StripeError>) -> OutOfTime {
    match r {
        Err(StripeError::OutOfTime(e)) => e,
        other => panic!("expected OutOfTime, got {other:?}"),
    }
}

#[tokio::test]
async fn within_a_deadline_an_attempt_waits_only_until_the_reserve_then_stops() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(card())
        .set_delay(Duration::from_secs(5));
    mock(&server, slow, None).await;
    // Attempts of 5 s each, but 1 s before the reserve's 0.5 s.
    let client = client(&server);
    let deadline =
        Deadline::after_with_reserve(Duration::from_millis(1500), Duration::from_millis(500));
    let started = std::time::Instant::now();
    let e = out_of_time(deadline.scope(retrieve(&client)).await);
    let took = started.elapsed();
    assert!(e.sent, "{e:?}");
    assert_eq!(
        e.waiting_for,
        "Stripe (GET /v1/customers/cus_Unit/sources/card_Unit, timed out)"
    );
    assert_eq!(
        received(&server).await.len(),
        1,
        "no retry into the reserve"
    );
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "the reserve was left: {took:?}"
    );
}

#[tokio::test]
async fn a_deadline_already_inside_the_reserve_sends_nothing() {
    let server = MockServer::start().await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    let deadline = Deadline::after_with_reserve(Duration::from_millis(500), Duration::from_secs(3));
    let e = out_of_time(deadline.scope(retrieve(&client(&server))).await);
    assert!(!e.sent, "nothing was sent: the call certainly did nothing");
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_backoff_that_would_eat_the_reserve_is_not_waited() {
    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(500), None).await;
    let client = StripeClient::new(
        reqwest::Client::new(),
        server.uri(),
        RetryPolicy {
            attempts: ATTEMPTS as u32,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(700),
            // The whole bound, every time: full jitter could otherwise pick a pause short
            // enough to fit.
            jitter: || 1.0,
            ..RetryPolicy::default()
        },
    );
    let deadline = Deadline::after_with_reserve(Duration::from_secs(1), Duration::from_millis(500));
    let started = std::time::Instant::now();
    let e = out_of_time(deadline.scope(retrieve(&client)).await);
    assert!(e.sent);
    assert!(e.waiting_for.ends_with("HTTP 500)"), "{e}");
    assert_eq!(received(&server).await.len(), 1);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn with_time_to_spare_the_retries_are_the_policys() {
    let server = MockServer::start().await;
    mock(&server, ResponseTemplate::new(500), None).await;
    let deadline = Deadline::after(Duration::from_secs(20));
    let message = unavailable(deadline.scope(retrieve(&client(&server))).await);
    assert_eq!(message, "HTTP 500");
    assert_eq!(received(&server).await.len(), ATTEMPTS);
}

#[tokio::test]
async fn compensation_is_sent_even_past_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/customers/cus_Unit/sources/card_Unit"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "card_Unit", "deleted": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let spent = Deadline::after_with_reserve(Duration::ZERO, Duration::from_secs(3));
    let detached = spent
        .for_compensation()
        .scope(client(&server).detach_source(&platform(), "cus_Unit", "card_Unit"))
        .await;
    assert!(detached.is_ok(), "{detached:?}");
}

// `Stripe-Should-Retry` (docs.stripe.com/error-low-level): Stripe's word beats the status.

fn should_retry(response: ResponseTemplate, value: &str) -> ResponseTemplate {
    response.insert_header("Stripe-Should-Retry", value)
}

#[tokio::test]
async fn should_retry_true_retries_even_a_4xx() {
    let lock_timeout = || {
        stripe_error(
            409,
            "invalid_request_error",
            "lock_timeout",
            "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.",
        )
    };
    let server = MockServer::start().await;
    mock(&server, should_retry(lock_timeout(), "true"), Some(1)).await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    let r = retrieve(&client(&server)).await;
    assert!(matches!(r, Ok(Source::Card(_))), "{r:?}");
    assert_eq!(received(&server).await.len(), 2);

    // Still locked after every attempt: unavailable, naming the last answer.
    let server = MockServer::start().await;
    mock(&server, should_retry(lock_timeout(), "true"), None).await;
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "HTTP 409 lock_timeout");
    assert_eq!(received(&server).await.len(), ATTEMPTS);

    // The same 409 without the header is Stripe's answer, not retried.
    let server = MockServer::start().await;
    mock(&server, lock_timeout(), None).await;
    let r = retrieve(&client(&server)).await;
    assert!(
        matches!(r, Err(StripeError::Api { status: 409, .. })),
        "{r:?}"
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn should_retry_false_stops_even_a_5xx_or_a_429() {
    for status in [500, 503, 429] {
        let server = MockServer::start().await;
        mock(
            &server,
            should_retry(ResponseTemplate::new(status), "false"),
            None,
        )
        .await;
        let message = unavailable(retrieve(&client(&server)).await);
        assert_eq!(message, format!("HTTP {status}"));
        assert_eq!(received(&server).await.len(), 1, "HTTP {status}");
    }

    // An idempotency_error Stripe says not to wait out: still no answer of Stripe's.
    let server = MockServer::start().await;
    let in_progress = stripe_error(409, "idempotency_error", "idempotency_key_in_use", "busy");
    mock(&server, should_retry(in_progress, "false"), None).await;
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "an earlier attempt is still in progress");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_should_retry_header_of_another_value_changes_nothing() {
    let server = MockServer::start().await;
    mock(
        &server,
        should_retry(ResponseTemplate::new(500), "maybe"),
        None,
    )
    .await;
    unavailable(retrieve(&client(&server)).await);
    assert_eq!(received(&server).await.len(), ATTEMPTS);
}

// The backoff: full jitter, within min(cap, base * 2^retry).

#[test]
fn full_jitter_stays_within_its_bound() {
    let ms = Duration::from_millis;
    let (base, cap) = (ms(200), ms(2000));
    for retry in 0..40 {
        let bound = ms(200u64.saturating_mul(1u64 << retry.min(20))).min(cap);
        assert_eq!(full_jitter(base, cap, retry, 1.0), bound, "retry {retry}");
        assert_eq!(full_jitter(base, cap, retry, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(base, cap, retry, 0.5), bound / 2);
        for _ in 0..200 {
            let pause = full_jitter(base, cap, retry, crate::random_unit());
            assert!(pause <= bound, "retry {retry}: {pause:?} > {bound:?}");
        }
    }
    assert_eq!(full_jitter(base, cap, 0, 1.0), ms(200));
    assert_eq!(full_jitter(base, cap, 1, 1.0), ms(400));
    assert_eq!(full_jitter(base, cap, 3, 1.0), ms(1600));
    assert_eq!(full_jitter(base, cap, 4, 1.0), cap, "capped");
    // Out of range or NaN: never past the bound, never negative.
    assert_eq!(full_jitter(base, cap, 0, 7.0), ms(200));
    assert_eq!(full_jitter(base, cap, 0, -1.0), Duration::ZERO);
    assert_eq!(full_jitter(base, cap, 0, f64::NAN), Duration::ZERO);
}

#[test]
fn the_policys_pause_is_jittered_by_its_source() {
    let policy = RetryPolicy {
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        jitter: || 0.25,
        ..RetryPolicy::default()
    };
    assert_eq!(policy.pause(0), Duration::from_millis(25));
    assert_eq!(policy.pause(1), Duration::from_millis(50));
    assert_eq!(policy.pause(5), Duration::from_millis(75));
    // The default source is random: not every pause the same.
    let policy = RetryPolicy::default();
    let pauses: std::collections::BTreeSet<_> = (0..50).map(|_| policy.pause(1)).collect();
    assert!(pauses.len() > 1, "{pauses:?}");
    assert!(pauses.iter().all(|p| *p <= Duration::from_millis(400)));
}

#[tokio::test]
async fn a_429_then_an_answer_waits_the_retry_after() {
    let server = MockServer::start().await;
    mock(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        Some(1),
    )
    .await;
    mock(
        &server,
        ResponseTemplate::new(200).set_body_json(card()),
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let r = retrieve(&client(&server)).await;
    assert!(matches!(r, Ok(Source::Card(_))), "{r:?}");
    assert_eq!(received(&server).await.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not waited: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_client_waits_gives_up_at_once() {
    let server = MockServer::start().await;
    let secs = (MAX_RETRY_AFTER.as_secs() + 1).to_string();
    mock(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", secs.as_str()),
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let message = unavailable(retrieve(&client(&server)).await);
    assert_eq!(message, "HTTP 429");
    assert_eq!(received(&server).await.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_retry_after_the_deadline_cannot_afford_is_not_waited() {
    let server = MockServer::start().await;
    mock(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "2"),
        None,
    )
    .await;
    // 2.5 s left, 0.5 s of it the reserve: a 2 s wait leaves no attempt.
    let deadline =
        Deadline::after_with_reserve(Duration::from_millis(2500), Duration::from_millis(500));
    let started = std::time::Instant::now();
    let e = out_of_time(deadline.scope(retrieve(&client(&server))).await);
    assert!(e.sent);
    assert!(e.waiting_for.ends_with("HTTP 429)"), "{e}");
    assert_eq!(received(&server).await.len(), 1);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn should_retry_true_still_stops_at_the_deadline() {
    let server = MockServer::start().await;
    let locked = stripe_error(409, "invalid_request_error", "lock_timeout", "locked");
    mock(&server, should_retry(locked, "true"), None).await;
    let client = StripeClient::new(
        reqwest::Client::new(),
        server.uri(),
        RetryPolicy {
            attempts: 10,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(400),
            jitter: || 1.0,
            ..RetryPolicy::default()
        },
    );
    // Pauses of 0.4, 0.8, 1.6 s: the third cannot fit before the reserve.
    let deadline =
        Deadline::after_with_reserve(Duration::from_millis(2000), Duration::from_millis(500));
    let e = out_of_time(deadline.scope(retrieve(&client)).await);
    assert!(e.waiting_for.ends_with("HTTP 409 lock_timeout)"), "{e}");
    let sent = received(&server).await.len();
    assert!((2..=3).contains(&sent), "{sent} attempts");
}
