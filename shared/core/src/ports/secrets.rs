//! Secret values by id (Stripe keys, reCAPTCHA secrets). `crate::secrets` reads them from
//! Secrets Manager on first use and caches them for a while.

use async_trait::async_trait;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {id} could not be read")]
    Fetch {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {0} has no string value")]
    NotAString(String),
    #[error("secret {id} is not valid")]
    Malformed {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's string value.
    async fn secret(&self, id: &str) -> Result<SecretString, SecretsError>;
}
