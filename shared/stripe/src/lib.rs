//! The Stripe adapter of the [`PaymentGateway`](crate::ports::PaymentGateway) port: a
//! small client with form-encoded requests, typed responses, typed errors. And of the
//! [`WebhookFormat`](crate::ports::WebhookFormat) port: Stripe's webhook signatures and
//! events ([`webhook`]).
//!
//! - `Stripe-Version` is pinned, so a dashboard upgrade cannot change what we parse.
//! - Each attempt has a timeout. Network errors, timeouts, 429 and 5xx are retried a
//!   bounded number of times; a 4xx never is (it would fail the same way again).
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

pub const STRIPE_VERSION: &str = "2024-06-20";

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
    pub timeout: Duration,
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts of 3 s each; within a request the deadline cuts them shorter
    /// (`domain::deadline`).
    fn default() -> Self {
        Self {
            attempts: 3,
            timeout: Duration::from_secs(3),
            backoff: Duration::from_millis(200),
        }
    }
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
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                let pause = self.retry.backoff * attempt;
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
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                last = format!("HTTP {}", status.as_u16());
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
            if matches!(&error, StripeError::Api { status: 409, kind, .. } if kind == "idempotency_error")
            {
                last = "an earlier attempt is still in progress".into();
                continue;
            }
            return Err(error);
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
