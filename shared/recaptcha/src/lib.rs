//! Google reCAPTCHA v2's siteverify over HTTPS (its URL is configuration): the adapter of
//! the [`Captcha`] port. What a verdict means is the vault's rule (`vault::human`).

// The core's modules under the names this adapter uses (`crate::ports`, …).
use cardvault_core::ports;
use cardvault_net as net;

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::net::HttpClient;
use crate::ports::{Captcha, CaptchaUnavailable, Verdict};

/// The whole siteverify call, connect included (the shared client's connect timeout,
/// 2 s, comes first); the README's budgets count 5 s for it.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct SiteVerifyAnswer {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// siteverify, asked with the client built once per container.
pub struct SiteVerify {
    http: HttpClient,
    url: String,
    timeout: Duration,
}

impl SiteVerify {
    pub fn new(http: impl Into<HttpClient>, url: impl Into<String>) -> Self {
        Self {
            http: http.into(),
            url: url.into(),
            timeout: TIMEOUT,
        }
    }

    /// Another timeout than [`TIMEOUT`] (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl Captcha for SiteVerify {
    async fn siteverify(
        &self,
        secret: &SecretString,
        token: &str,
        remote_ip: Option<&str>,
    ) -> Result<Verdict, CaptchaUnavailable> {
        let unavailable = |e: Box<dyn std::error::Error + Send + Sync>| CaptchaUnavailable(e);
        let mut form = vec![("secret", secret.expose_secret()), ("response", token)];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip));
        }
        let resp = self
            .http
            .get()
            .post(&self.url)
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(e.into()))?;
        if !resp.status().is_success() {
            return Err(unavailable(
                format!("siteverify answered HTTP {}", resp.status().as_u16()).into(),
            ));
        }
        let answer: SiteVerifyAnswer = resp.json().await.map_err(|e| unavailable(e.into()))?;
        Ok(Verdict {
            success: answer.success,
            hostname: answer.hostname,
            error_codes: answer.error_codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn sends_secret_token_and_ip_and_reads_the_verdict() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("secret=s3cret"))
            .and(body_string_contains("response=tok"))
            .and(body_string_contains("remoteip=203.0.113.9"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "success": false, "hostname": "shop.example", "error-codes": ["timeout-or-duplicate"]
            })))
            .mount(&server)
            .await;
        let v = SiteVerify::new(
            reqwest::Client::new(),
            format!("{}/siteverify", server.uri()),
        )
        .siteverify(&SecretString::from("s3cret"), "tok", Some("203.0.113.9"))
        .await
        .unwrap();
        assert_eq!(
            v,
            Verdict {
                success: false,
                hostname: Some("shop.example".into()),
                error_codes: vec!["timeout-or-duplicate".into()],
            }
        );
    }

    #[tokio::test]
    async fn unreachable_or_5xx_or_nonsense_is_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let nonsense = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
            .mount(&nonsense)
            .await;
        for url in [
            "http://127.0.0.1:9/siteverify".to_owned(),
            server.uri(),
            nonsense.uri(),
        ] {
            let r = SiteVerify::new(reqwest::Client::new(), url)
                .siteverify(&SecretString::from("s"), "t", None)
                .await;
            assert!(r.is_err());
        }
    }

    #[tokio::test]
    async fn a_siteverify_that_does_not_answer_in_time_is_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"success": true}))
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let started = std::time::Instant::now();
        let r = SiteVerify::new(reqwest::Client::new(), server.uri())
            .with_timeout(Duration::from_millis(200))
            .siteverify(&SecretString::from("s"), "t", None)
            .await;
        assert!(r.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
