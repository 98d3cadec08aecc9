//! Data-key reuse within a warm container, as the AWS Encryption SDK's caching
//! materials manager does: a data key seals at most [`DATA_KEY_MAX_USES`] PANs and lives at
//! most [`DATA_KEY_MAX_AGE`], per tenant (the key's encryption context), so a burst of
//! redirects does not pay a KMS round trip each.
//!
//! Why these bounds: a data key's plaintext in memory is what an attacker who reads the
//! container's memory gets; 100 cards or 5 minutes bounds that exposure well below what
//! the vault holds, while a busy container still makes at most one `GenerateDataKey` per
//! tenant per 100 cards. 5 minutes is also how long a warm container keeps a secret
//! (`secrets::SECRET_CACHE_TTL`), so a KMS key change reaches it as fast as a secret change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DataKey;
use crate::domain::TenantId;
use crate::ports::KeyError;

pub const DATA_KEY_MAX_AGE: Duration = Duration::from_secs(300);
pub const DATA_KEY_MAX_USES: u32 = 100;

struct Entry {
    key: Arc<DataKey>,
    born: Instant,
    uses: u32,
}

pub struct DataKeyCache {
    max_age: Duration,
    max_uses: u32,
    entries: Mutex<HashMap<TenantId, Entry>>,
}

impl Default for DataKeyCache {
    fn default() -> Self {
        Self::new(DATA_KEY_MAX_AGE, DATA_KEY_MAX_USES)
    }
}

impl DataKeyCache {
    pub fn new(max_age: Duration, max_uses: u32) -> Self {
        Self {
            max_age,
            max_uses,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's cached data key, counted as one use, or a fresh one from `generate`.
    /// The lock is never held across the KMS call; two concurrent misses both generate,
    /// which costs a call and nothing else.
    pub async fn get_or_generate<F, Fut>(
        &self,
        tenant: &TenantId,
        generate: F,
    ) -> Result<Arc<DataKey>, KeyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<DataKey, KeyError>>,
    {
        if let Some(key) = self.take_use(tenant) {
            return Ok(key);
        }
        let key = Arc::new(generate().await?);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                tenant.clone(),
                Entry {
                    key: key.clone(),
                    born: Instant::now(),
                    uses: 1,
                },
            );
        }
        Ok(key)
    }

    fn take_use(&self, tenant: &TenantId) -> Option<Arc<DataKey>> {
        let mut entries = self.entries.lock().ok()?;
        // Every spent or expired key goes now, an idle tenant's too: a plaintext data key
        // lives no longer than its bounds, not until its tenant's next card.
        entries.retain(|_, e| e.born.elapsed() < self.max_age && e.uses < self.max_uses);
        let entry = entries.get_mut(tenant)?;
        entry.uses += 1;
        Some(entry.key.clone())
    }

    /// How many data keys the cache holds (tests).
    pub fn held(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }
}
