//! The Stripe adapter of the [`PaymentGateway`](crate::ports::PaymentGateway) port: a
//! small client with form-encoded requests, typed responses, typed errors. And of the
//! [`WebhookFormat`](crate::ports::WebhookFormat) port: Stripe's webhook signatures and
//! events ([`webhook`]).
//!
//! - `Stripe-Version` is pinned, so a dashboard upgrade cannot change what we parse.
//! - Each attempt has a timeout. Network errors, timeouts, 429 and 5xx are retried a
//!   bounded number of times; a 4xx is not (it would fail the same way again), except
//!   Stripe's 409 `idempotency_error`. Stripe's `Stripe-Should-Retry` answer header
//!   overrides the status: `true` retries even a 4xx (a 409 `lock_timeout`), `false` stops
//!   even a 5xx or 429 (docs.stripe.com/error-low-level, "Idempotency and retries"; as
//!   stripe-node and stripe-go do).
//! - Between attempts, exponential backoff with full jitter ([`full_jitter`]), a
//!   `Retry-After` honoured when it asks for longer, and never a pause the request's
//!   deadline cannot afford.
//! - Every call that creates something takes an idempotency key, so a retry (ours, or a
//!   client's) cannot create a second object.

// The core's modules under the names this adapter uses (`crate::ports`, …).
use cardvault_core::{domain, ports};
use cardvault_net as net;

mod gateway;
pub mod webhook;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::domain::{Deadline, OutOfTime};
use crate::net::HttpClient;

// The port's vocabulary, under the adapter's name too.
pub use crate::ports::{StripeAuth, StripeError};

/// The newest dated version in Stripe's API reference when pinned: the "Endive" release
/// (docs.stripe.com/changelog, "2026-11-18.endive"; docs.stripe.com/api-versions gives the
/// current version). Between 2024-06-20 and it, no field the vault reads of customers,
/// card sources, tokens, PaymentIntents, errors or lists changed; the breaking changes on
/// the way (Acacia, Basil, Clover, Dahlia, Endive) touch billing, Checkout, Elements and
/// writing `payment_method_types`, which the vault never sends. Webhook payloads are not
/// rendered at this version but at the webhook endpoint's own.
pub const STRIPE_VERSION: &str = "2026-11-18.endive";

/// The longest `Retry-After` waited; asked for longer, the client gives up at once
/// rather than ask again too early.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// Each attempt's own timeout.
    pub timeout: Duration,
    /// The backoff's base: the pause before retry `n` (from 0) is at most
    /// `min(max_backoff, backoff * 2^n)` ([`full_jitter`]).
    pub backoff: Duration,
    /// The backoff's cap.
    pub max_backoff: Duration,
    /// The fraction of the backoff's bound to wait, in [0, 1]: random ([`random_unit`]);
    /// a test fixes it.
    pub jitter: fn() -> f64,
}

impl Default for RetryPolicy {
    /// Three attempts of 3 s each, pauses of at most 0.2 s then 0.4 s (capped at 2 s with
    /// more attempts); within a request the deadline cuts them shorter (`domain::deadline`).
    fn default() -> Self {
        Self {
            attempts: 3,
            timeout: Duration::from_secs(3),
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            jitter: random_unit,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry `retry` (0 for the second attempt).
    pub fn pause(&self, retry: u32) -> Duration {
        full_jitter(self.backoff, self.max_backoff, retry, (self.jitter)())
    }
}

/// A uniformly random number in [0, 1).
pub fn random_unit() -> f64 {
    rand::random::<f64>()
}

/// Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential Backoff
/// And Jitter"): `unit` (in [0, 1]; clamped) of `min(cap, base * 2^retry)`. Full jitter
/// spreads the retries of clients that failed together, so they do not come back together.
pub fn full_jitter(base: Duration, cap: Duration, retry: u32, unit: f64) -> Duration {
    let bound = base.saturating_mul(2u32.saturating_pow(retry)).min(cap);
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    bound.mul_f64(unit)
}

/// Stripe's `Stripe-Should-Retry`: `Some(true)`, `Some(false)`, or none (absent or other).
fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    let value = headers.get("stripe-should-retry")?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not read: Stripe does not send it).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    secs.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[derive(Clone)]
pub struct StripeClient {
    http: HttpClient,
    base: String,
    retry: RetryPolicy,
}

impl StripeClient {
    pub fn new(http: impl Into<HttpClient>, base: impl Into<String>, retry: RetryPolicy) -> Self {
        Self {
            http: http.into(),
            base: base.into().trim_end_matches('/').to_owned(),
            retry,
        }
    }

    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        auth: &StripeAuth,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        // Within a request, no attempt (nor backoff) eats into the time kept for compensation.
        let deadline = Deadline::current();
        let out_of_time = |last: &str| {
            let waiting_for = match last {
                "" => format!("Stripe ({method} {path})"),
                last => format!("Stripe ({method} {path}, {last})"),
            };
            let sent = !last.is_empty();
            StripeError::OutOfTime(OutOfTime { waiting_for, sent })
        };
        // The server's `Retry-After` for the next pause, when the last answer had one.
        let mut asked_to_wait: Option<Duration> = None;
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                let mut pause = self.retry.pause(attempt - 1);
                if let Some(wait) = asked_to_wait.take() {
                    if wait > MAX_RETRY_AFTER {
                        return Err(StripeError::Unavailable(last));
                    }
                    pause = pause.max(wait);
                }
                if deadline.is_some_and(|d| !d.allows_pause(pause, self.retry.timeout)) {
                    return Err(out_of_time(&last));
                }
                tokio::time::sleep(pause).await;
            }
            let timeout = match deadline {
                None => self.retry.timeout,
                Some(d) => match d.attempt_timeout(self.retry.timeout) {
                    Some(t) => t,
                    None => return Err(out_of_time(&last)),
                },
            };
            let mut req = self
                .http
                .get()
                .request(method.clone(), &url)
                .timeout(timeout)
                .bearer_auth(auth.key.expose_secret())
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(account) = &auth.account {
                req = req.header("Stripe-Account", account);
            }
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            if !form.is_empty() {
                req = req.form(form);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "connection failed".into()
                    };
                    continue;
                }
            };
            let status = resp.status();
            let verdict = should_retry(resp.headers());
            let wait = retry_after(resp.headers());
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                last = format!("HTTP {}", status.as_u16());
                if verdict == Some(false) {
                    // Stripe says another attempt cannot help: unavailable now.
                    return Err(StripeError::Unavailable(last));
                }
                asked_to_wait = wait;
                continue;
            }
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(_) => {
                    last = "response interrupted".into();
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&body)
                    .map_err(|e| StripeError::Decode(e.to_string()));
            }
            let error = api_error(status, &body);
            // Stripe is still working on an earlier attempt with this key (ours timed out):
            // waiting and asking again gets that attempt's answer, not a second object.
            let in_progress = matches!(
                &error,
                StripeError::Api { status: 409, kind, .. } if kind == "idempotency_error"
            );
            match verdict {
                Some(false) if in_progress => {
                    return Err(StripeError::Unavailable(
                        "an earlier attempt is still in progress".into(),
                    ))
                }
                Some(false) => return Err(error),
                // Stripe says this one is worth another attempt (a 409 `lock_timeout`).
                Some(true) => {
                    last = match &error {
                        StripeError::Api {
                            code: Some(code), ..
                        } => format!("HTTP {} {code}", status.as_u16()),
                        _ => format!("HTTP {}", status.as_u16()),
                    };
                    asked_to_wait = wait;
                    continue;
                }
                None if in_progress => {
                    last = "an earlier attempt is still in progress".into();
                    continue;
                }
                None => return Err(error),
            }
        }
        Err(StripeError::Unavailable(last))
    }
}

fn api_error(status: StatusCode, body: &[u8]) -> StripeError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => StripeError::Api {
            status: status.as_u16(),
            kind: error.kind,
            code: error.code,
            param: error.param,
            message: error.message.unwrap_or_else(|| "Stripe error".into()),
        },
        Err(_) => StripeError::Api {
            status: status.as_u16(),
            kind: "api_error".into(),
            code: None,
            param: None,
            message: format!("Stripe answered HTTP {}", status.as_u16()),
        },
    }
}

#[cfg(test)]
mod tests;
// Here, not in `webhook.rs`: the core compiles that file into its own tests too.
#[cfg(test)]
mod webhook_tests;
