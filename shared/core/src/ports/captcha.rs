//! reCAPTCHA's siteverify: the one question the vault asks it. What the answer means (a
//! missing token, a reused one, a foreign hostname) is the vault's rule, in
//! `crate::vault::human`.

use async_trait::async_trait;
use secrecy::SecretString;

/// What siteverify said about a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub success: bool,
    pub hostname: Option<String>,
    pub error_codes: Vec<String>,
}

/// siteverify could not be asked, or answered nonsense.
#[derive(Debug, thiserror::Error)]
#[error("siteverify is unavailable")]
pub struct CaptchaUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

#[async_trait]
pub trait Captcha: Send + Sync {
    async fn siteverify(
        &self,
        secret: &SecretString,
        token: &str,
        remote_ip: Option<&str>,
    ) -> Result<Verdict, CaptchaUnavailable>;
}
