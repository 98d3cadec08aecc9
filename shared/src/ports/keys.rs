//! The key service: what the vault asks of its keys. It never hands a key out: it seals a
//! PAN, fingerprints one, and signs or checks data that clients hand back (page cursors).
//! `crate::crypto` implements it with keys read from a secret.

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

#[async_trait]
pub trait KeyService: Send + Sync {
    /// A keyed fingerprint of the PAN within a tenant: equal for the same card, useless
    /// without the key, and different across tenants.
    async fn fingerprint(&self, tenant: &TenantId, pan: &CardNumber) -> Result<String, KeyError>;
    /// The PAN sealed under the current key, bound to its record by `context`.
    async fn seal_pan(
        &self,
        pan: &CardNumber,
        context: &PanContext,
    ) -> Result<EncryptedPan, KeyError>;
    /// A MAC over data handed to clients to give back. `purpose` separates uses.
    async fn sign(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError>;
    /// Checks [`sign`](Self::sign)'s MAC in constant time.
    async fn verify(&self, purpose: &str, data: &[u8], mac: &str) -> Result<bool, KeyError>;
}
