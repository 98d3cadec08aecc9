//! Secrets Manager, read on first use and cached for a few minutes. Nothing is fetched
//! during init: a cold start that never needs Stripe never pays for it. The cache expires so
//! that a rotation (a new vault key, a tenant's new Stripe key) reaches warm containers too.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;

use crate::cache::TtlCache;
use crate::ports::SecretSource;
pub use crate::ports::SecretsError;

/// How long a warm container keeps a secret before reading it again.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

/// Secrets Manager, with one cache per container shared by every clone.
#[derive(Clone)]
pub struct Secrets {
    client: Client,
    cache: Arc<TtlCache<String, SecretString>>,
}

impl Secrets {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Arc::new(TtlCache::new(SECRET_CACHE_TTL)),
        }
    }

    /// Drops a cached value, for a secret known to have rotated.
    pub async fn forget(&self, id: &str) {
        self.cache.remove(&id.to_owned());
    }
}

#[async_trait]
impl SecretSource for Secrets {
    /// The secret's string value.
    async fn secret(&self, id: &str) -> Result<SecretString, SecretsError> {
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
                source: Box::new(e),
            })?;
        let value = SecretString::from(
            out.secret_string()
                .ok_or_else(|| SecretsError::NotAString(id.to_owned()))?
                .to_owned(),
        );
        self.cache.insert(id.to_owned(), value.clone());
        Ok(value)
    }
}
