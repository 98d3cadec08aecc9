//! Secrets Manager, read on first use and cached for a few minutes. Nothing is fetched
//! during init: a cold start that never needs Stripe never pays for it. The cache expires so
//! that a rotation (a new vault key, a tenant's new Stripe key) reaches warm containers too.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;

use crate::cache::TtlCache;

/// How long a warm container keeps a secret before reading it again.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {id} could not be read: {source}")]
    Fetch {
        id: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {0} has no string value")]
    NotAString(String),
}

pub struct Secrets {
    client: Client,
    cache: TtlCache<String, SecretString>,
}

impl Secrets {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: TtlCache::new(SECRET_CACHE_TTL),
        }
    }

    /// The secret's string value.
    pub async fn get(&self, id: &str) -> Result<SecretString, SecretsError> {
        if let Some(hit) = self.cache.get(&id.to_owned()) {
            return Ok(hit);
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretsError::Fetch {
                id: id.to_owned(),
                source: aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    .to_string()
                    .into(),
            })?;
        let value = SecretString::from(
            out.secret_string()
                .ok_or_else(|| SecretsError::NotAString(id.to_owned()))?
                .to_owned(),
        );
        self.cache.insert(id.to_owned(), value.clone());
        Ok(value)
    }

    /// Drops a cached value, for a secret known to have rotated.
    pub async fn forget(&self, id: &str) {
        self.cache.remove(&id.to_owned());
    }
}
