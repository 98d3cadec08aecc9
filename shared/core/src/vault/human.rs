//! Whether a human solved the transparent redirect's reCAPTCHA: verified server-side with
//! the tenant's own secret or the platform's, and solved on one of the tenant's origins.
//! A missing, failed, expired or reused token is the caller's error; siteverify being
//! unreachable is ours, and then nothing is stored.

use secrecy::SecretString;

use super::Vault;
use crate::domain::{Origin, Tenant};
use crate::error::Error;
use crate::ports::{Captcha, Ports, SecretSource};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HumanCheck {
    #[error("The recaptcha token is required.")]
    Missing,
    #[error("The recaptcha token is expired or was already used.")]
    ExpiredOrReused,
    #[error("The recaptcha token is not valid.")]
    Failed,
    #[error("The recaptcha was solved on a site this account does not allow.")]
    WrongHostname,
}

const UNAVAILABLE: &str = "reCAPTCHA verification is unavailable; nothing was stored. Try again.";

impl<P: Ports> Vault<P> {
    pub async fn verify_human(
        &self,
        tenant: &Tenant,
        token: Option<&str>,
        remote_ip: Option<&str>,
    ) -> Result<(), Error> {
        let refused = |e: HumanCheck| Error::BadRequest(e.to_string());
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(refused(HumanCheck::Missing))?;
        let secret = self.recaptcha_secret(tenant).await?;
        let verdict = self
            .captcha
            .siteverify(&secret, token, remote_ip)
            .await
            .map_err(|e| Error::Unavailable {
                message: UNAVAILABLE.into(),
                source: Some(e.into()),
            })?;
        if !verdict.success {
            // Our own secret refused: not the cardholder's fault, and no answer of theirs
            // would pass. The operator must set it again; the caller may retry later.
            if let Some(code) = verdict
                .error_codes
                .iter()
                .find(|c| *c == "invalid-input-secret" || *c == "missing-input-secret")
            {
                tracing::error!(%code, "siteverify refused our reCAPTCHA secret; set it again");
                return Err(Error::Unavailable {
                    message: UNAVAILABLE.into(),
                    source: None,
                });
            }
            let reused = verdict
                .error_codes
                .iter()
                .any(|c| c == "timeout-or-duplicate");
            return Err(refused(if reused {
                HumanCheck::ExpiredOrReused
            } else {
                HumanCheck::Failed
            }));
        }
        // Solved on another site: a token farmed elsewhere and replayed here.
        let hostname = verdict.hostname.unwrap_or_default();
        let allowed = Origin::honoured(&tenant.allowed_origins, self.settings.stage)
            .any(|o| o.host().eq_ignore_ascii_case(&hostname));
        if !allowed {
            return Err(refused(HumanCheck::WrongHostname));
        }
        Ok(())
    }

    async fn recaptcha_secret(&self, tenant: &Tenant) -> Result<SecretString, Error> {
        match &tenant.recaptcha_secret_id {
            Some(id) => Ok(self.secrets.secret(id).await?),
            None => {
                self.platform_secret(&self.settings.recaptcha_secret_id, "reCAPTCHA secret")
                    .await
            }
        }
    }
}
