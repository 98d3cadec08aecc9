//! Google reCAPTCHA v2, verified server-side against siteverify (its URL is configuration).
//! A missing, failed, expired or reused token is the caller's error; siteverify being
//! unreachable is ours, and then nothing is stored.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecaptchaError {
    #[error("The recaptcha token is required.")]
    Missing,
    #[error("The recaptcha token is expired or was already used.")]
    ExpiredOrReused,
    #[error("The recaptcha token is not valid.")]
    Failed,
    #[error("The recaptcha was solved on a site this account does not allow.")]
    WrongHostname,
    #[error("reCAPTCHA verification is unavailable; nothing was stored. Try again.")]
    Unavailable,
}

#[derive(Deserialize)]
struct SiteVerify {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// The host of an origin: `https://shop.example:8443` → `shop.example`.
pub fn origin_host(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Verifies `token`, and that it was solved on one of `allowed_origins`' hosts.
pub async fn verify(
    http: &reqwest::Client,
    url: &str,
    secret: &SecretString,
    token: Option<&str>,
    remote_ip: Option<&str>,
    allowed_origins: &[String],
) -> Result<(), RecaptchaError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(RecaptchaError::Missing)?;
    let mut form = vec![("secret", secret.expose_secret()), ("response", token)];
    if let Some(ip) = remote_ip {
        form.push(("remoteip", ip));
    }
    let resp = http
        .post(url)
        .timeout(Duration::from_secs(5))
        .form(&form)
        .send()
        .await
        .map_err(|_| RecaptchaError::Unavailable)?;
    if !resp.status().is_success() {
        return Err(RecaptchaError::Unavailable);
    }
    let verdict: SiteVerify = resp.json().await.map_err(|_| RecaptchaError::Unavailable)?;
    if !verdict.success {
        return Err(
            if verdict
                .error_codes
                .iter()
                .any(|c| c == "timeout-or-duplicate")
            {
                RecaptchaError::ExpiredOrReused
            } else {
                RecaptchaError::Failed
            },
        );
    }
    let hostname = verdict.hostname.unwrap_or_default();
    if allowed_origins
        .iter()
        .any(|o| origin_host(o).eq_ignore_ascii_case(&hostname))
    {
        Ok(())
    } else {
        Err(RecaptchaError::WrongHostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[test]
    fn hosts_of_origins() {
        assert_eq!(origin_host("https://shop.example"), "shop.example");
        assert_eq!(origin_host("http://localhost:3000"), "localhost");
        assert_eq!(origin_host("https://a.b:8443/x"), "a.b");
    }

    async fn check(body: serde_json::Value, token: Option<&str>) -> Result<(), RecaptchaError> {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("secret=s3cret"))
            .and(body_string_contains("remoteip=203.0.113.9"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        verify(
            &reqwest::Client::new(),
            &format!("{}/siteverify", server.uri()),
            &SecretString::from("s3cret"),
            token,
            Some("203.0.113.9"),
            &["https://shop.example".to_owned()],
        )
        .await
    }

    #[tokio::test]
    async fn verdicts() {
        let ok = serde_json::json!({"success": true, "hostname": "shop.example"});
        assert_eq!(check(ok.clone(), Some("t")).await, Ok(()));
        assert_eq!(check(ok, None).await, Err(RecaptchaError::Missing));
        let elsewhere = serde_json::json!({"success": true, "hostname": "evil.example"});
        assert_eq!(
            check(elsewhere, Some("t")).await,
            Err(RecaptchaError::WrongHostname)
        );
        let reused = serde_json::json!({"success": false, "error-codes": ["timeout-or-duplicate"]});
        assert_eq!(
            check(reused, Some("t")).await,
            Err(RecaptchaError::ExpiredOrReused)
        );
        let bad = serde_json::json!({"success": false, "error-codes": ["invalid-input-response"]});
        assert_eq!(check(bad, Some("t")).await, Err(RecaptchaError::Failed));
    }

    #[tokio::test]
    async fn unreachable_is_unavailable() {
        let r = verify(
            &reqwest::Client::new(),
            "http://127.0.0.1:9/siteverify",
            &SecretString::from("s"),
            Some("t"),
            None,
            &[],
        )
        .await;
        assert_eq!(r, Err(RecaptchaError::Unavailable));
    }
}
