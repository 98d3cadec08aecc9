//! In-memory adapters of every port, for unit tests of the business rules: no AWS, no
//! Stripe, milliseconds per test. Each keeps the semantics its real adapter promises
//! (conditional writes, all-or-nothing transactions, idempotency keys, Stripe's errors),
//! and can be told to fail an operation, for the compensation paths.

mod gateway;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::SecretString;

pub use gateway::{FailWith, FakeCard, MemoryGateway, DECLINED_AT_ATTACH, DECLINES_CHARGES};
pub use store::MemoryStore;

use crate::crypto::SecretKeys;
use crate::domain::{CustomerId, PaymentMethodId, Timestamp};
use crate::ports::{
    Captcha, CaptchaUnavailable, Clock, Ids, Ports, SecretSource, SecretsError, Verdict,
};
use crate::vault::{Adapters, Settings, Vault};

/// The in-memory bundle of ports.
pub struct Memory;

impl Ports for Memory {
    type Store = MemoryStore;
    type Gateway = MemoryGateway;
    type Keys = SecretKeys<MemorySecrets>;
    type Secrets = MemorySecrets;
    type Captcha = MemoryCaptcha;
    type Clock = FixedClock;
    type Ids = SeqIds;
}

pub const PLATFORM_SECRET_ID: &str = "test/platform";
pub const VAULT_KEYS_SECRET_ID: &str = "test/vault-keys";

/// A vault over fresh in-memory adapters, with a platform secret (Stripe key, reCAPTCHA
/// secret) and vault keys in place.
pub fn vault() -> Vault<Memory> {
    let secrets = MemorySecrets::default();
    secrets.set(
        PLATFORM_SECRET_ID,
        &serde_json::json!({
            "stripeSecretKey": "sk_test_platform",
            "stripePublishableKey": "pk_test_platform",
            "recaptchaSecret": "platform-recaptcha",
        })
        .to_string(),
    );
    secrets.set(
        VAULT_KEYS_SECRET_ID,
        &serde_json::json!({
            "current": "k1",
            "keys": {"k1": crate::crypto::generate_key()},
            "fingerprintKey": crate::crypto::generate_key(),
        })
        .to_string(),
    );
    Vault::new(
        Adapters {
            store: MemoryStore::default(),
            gateway: MemoryGateway::default(),
            keys: SecretKeys::new(secrets.clone(), VAULT_KEYS_SECRET_ID),
            secrets,
            captcha: MemoryCaptcha::default(),
            clock: FixedClock::default(),
            ids: SeqIds::default(),
        },
        Settings {
            platform_secret_id: PLATFORM_SECRET_ID.into(),
        },
    )
}

/// Secrets by id; clones share them.
#[derive(Clone, Default)]
pub struct MemorySecrets {
    values: std::sync::Arc<Mutex<HashMap<String, String>>>,
}

impl MemorySecrets {
    pub fn set(&self, id: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(id.to_owned(), value.to_owned());
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn secret(&self, id: &str) -> Result<SecretString, SecretsError> {
        match self.values.lock().unwrap().get(id) {
            Some(v) => Ok(SecretString::from(v.clone())),
            None => Err(SecretsError::Fetch {
                id: id.to_owned(),
                source: "no such secret".into(),
            }),
        }
    }
}

/// siteverify: answers the verdict set for a token (`None`: unreachable), and records the
/// secret each question was asked with.
#[derive(Default)]
pub struct MemoryCaptcha {
    verdicts: Mutex<HashMap<String, Option<Verdict>>>,
    pub asked_with: Mutex<Vec<String>>,
}

impl MemoryCaptcha {
    pub fn answer(&self, token: &str, verdict: Option<Verdict>) {
        self.verdicts
            .lock()
            .unwrap()
            .insert(token.to_owned(), verdict);
    }
}

#[async_trait]
impl Captcha for MemoryCaptcha {
    async fn siteverify(
        &self,
        secret: &SecretString,
        token: &str,
        _remote_ip: Option<&str>,
    ) -> Result<Verdict, CaptchaUnavailable> {
        use secrecy::ExposeSecret;
        self.asked_with
            .lock()
            .unwrap()
            .push(secret.expose_secret().to_owned());
        match self.verdicts.lock().unwrap().get(token) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Err(CaptchaUnavailable("unreachable".into())),
            None => Ok(Verdict {
                success: false,
                hostname: None,
                error_codes: vec!["invalid-input-response".into()],
            }),
        }
    }
}

/// A clock that moves only when told, one microsecond per reading, so that creation order
/// is strict.
pub struct FixedClock {
    micros: AtomicU64,
}

impl Default for FixedClock {
    fn default() -> Self {
        Self {
            // 2026-01-01T00:00:00Z
            micros: AtomicU64::new(1_767_225_600_000_000),
        }
    }
}

impl FixedClock {
    /// Moves the clock on (a velocity window passing).
    pub fn advance(&self, secs: u64) {
        self.micros.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        let us = self.micros.fetch_add(1, Ordering::SeqCst);
        Timestamp::from_unix_timestamp_nanos(i128::from(us) * 1_000).expect("in range")
    }
}

/// Ids 1000001, 1000002, … in the order asked; [`SeqIds::repeat_next`] hands out an id
/// again, for the id-collision paths.
#[derive(Default)]
pub struct SeqIds {
    next: AtomicU64,
    repeats: Mutex<Vec<u64>>,
}

impl SeqIds {
    fn take(&self) -> u64 {
        if let Some(n) = self.repeats.lock().unwrap().pop() {
            return n;
        }
        1_000_001 + self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// The next `times` ids repeat the last one handed out.
    pub fn repeat_next(&self, times: usize) {
        let last = 1_000_000 + self.next.load(Ordering::SeqCst);
        self.repeats
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(last, times));
    }
}

impl Ids for SeqIds {
    fn customer_id(&self) -> CustomerId {
        CustomerId::try_from(self.take()).expect("small ids are valid")
    }

    fn payment_method_id(&self) -> PaymentMethodId {
        PaymentMethodId::try_from(self.take()).expect("small ids are valid")
    }

    fn link_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(0, self.take())
    }

    fn request_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(1, self.take())
    }
}
