//! Secrets Manager, read on first use and cached for the life of the container.
//! Nothing is fetched during init: a cold start that never needs Stripe never pays for it.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;
use tokio::sync::Mutex;

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
    cache: Mutex<HashMap<String, SecretString>>,
}

impl Secrets {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The secret's string value. The lock is held across the fetch so that concurrent
    /// first uses make one call, not several.
    pub async fn get(&self, id: &str) -> Result<SecretString, SecretsError> {
        let mut cache = self.cache.lock().await;
        if let Some(hit) = cache.get(id) {
            return Ok(hit.clone());
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
        cache.insert(id.to_owned(), value.clone());
        Ok(value)
    }

    /// Drops a cached value, for a secret known to have rotated.
    pub async fn forget(&self, id: &str) {
        self.cache.lock().await.remove(id);
    }
}
