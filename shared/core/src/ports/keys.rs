//! The key service: what the vault asks of its keys. It never hands a key out: it seals a
//! PAN (envelope encryption under the vault's KMS key), fingerprints one (an HMAC key of
//! its own), and signs or checks data that clients hand back (page cursors, a third key).
//! `crate::crypto` implements it; each operation reads only the key it needs, so a
//! function's IAM can name exactly that one.

use async_trait::async_trait;

use crate::domain::{CardNumber, EncryptedPan, PanContext, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key material is missing or malformed.
    #[error("vault keys: {0}")]
    Keys(String),
    #[error("vault keys could not be read")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A card's fingerprints within a tenant: under the current fingerprint key (stored on new
/// records), and under every key still in the ring (looked up), so a duplicate is found
/// across a rotation of the fingerprint key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    pub current: String,
    /// Every version's, the current one first.
    pub all: Vec<String>,
}

impl Fingerprints {
    /// The dedupe markers to look for: one per key version.
    pub fn dedupe_keys(&self) -> Vec<String> {
        self.all.iter().map(|f| format!("fp:{f}")).collect()
    }
}

#[async_trait]
pub trait KeyService: Send + Sync {
    /// Keyed fingerprints of the PAN within a tenant: equal for the same card, useless
    /// without the key, and different across tenants.
    async fn fingerprints(
        &self,
        tenant: &TenantId,
        pan: &CardNumber,
    ) -> Result<Fingerprints, KeyError>;
    /// The PAN sealed under a data key of the vault's KMS key, bound to its record by
    /// `context`.
    async fn seal_pan(
        &self,
        pan: &CardNumber,
        context: &PanContext,
    ) -> Result<EncryptedPan, KeyError>;
    /// A MAC over data handed to clients to give back. `purpose` separates uses.
    async fn sign(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError>;
    /// A MAC, under the fingerprint key, over what a request that carries card data asks
    /// (an idempotency record's request hash): equal for equal requests, and useless
    /// without the key, so a record read from the table cannot be tried against guessed
    /// card numbers. `purpose` separates uses.
    async fn request_digest(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError>;
    /// Checks [`sign`](Self::sign)'s MAC in constant time.
    async fn verify(&self, purpose: &str, data: &[u8], mac: &str) -> Result<bool, KeyError>;
}

/// Opening a sealed PAN: KMS `Decrypt` of its data key. A port of its own, apart from
/// [`KeyService`], because exactly one function may do it (re-homing vault-held cards to a
/// new Stripe connection, `crate::vault::rehome`); no other rule can even name it.
#[async_trait]
pub trait PanOpener: Send + Sync {
    /// The card number sealed in `sealed`, if it opens under `context` (its own record).
    async fn open_pan(
        &self,
        sealed: &EncryptedPan,
        context: &PanContext,
    ) -> Result<CardNumber, KeyError>;
}
