//! The vault's cryptography: card numbers encrypted with AES-256-GCM under a versioned key,
//! and keyed HMAC-SHA256 fingerprints that find duplicates without decrypting anything.
//!
//! The keys live in one Secrets Manager secret (`VAULT_KEYS_SECRET_ID`):
//! `{"current":"k2","keys":{"k1":"<base64 32 bytes>","k2":"…"},"fingerprintKey":"<base64 32 bytes>"}`.
//! Every ciphertext carries its key's id, so rotating means adding a key and making it
//! current: old cards still decrypt under their own key.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, RngCore};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;
use sha2::Sha256;

pub use crate::domain::EncryptedPan;
use crate::domain::{CardNumber, PanContext, TenantId};
use crate::ports::{KeyError, KeyService, SecretSource};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("vault keys: {0}")]
    Keys(String),
    #[error("no vault key {0}")]
    UnknownKey(String),
    #[error("decryption failed")]
    Decrypt,
}

type Key = SecretBox<[u8; 32]>;

pub struct VaultKeys {
    current: String,
    keys: HashMap<String, Key>,
    fingerprint: Key,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysJson {
    current: String,
    keys: HashMap<String, SecretString>,
    fingerprint_key: SecretString,
}

fn key(b64: &SecretString, name: &str) -> Result<Key, CryptoError> {
    let bytes = STANDARD
        .decode(b64.expose_secret().trim())
        .map_err(|_| CryptoError::Keys(format!("{name} is not base64")))?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::Keys(format!("{name} is not 32 bytes")))?;
    Ok(SecretBox::new(Box::new(array)))
}

impl VaultKeys {
    pub fn parse(json: &str) -> Result<Self, CryptoError> {
        let parsed: KeysJson =
            serde_json::from_str(json).map_err(|e| CryptoError::Keys(e.to_string()))?;
        let keys = parsed
            .keys
            .iter()
            .map(|(id, b64)| Ok((id.clone(), key(b64, id)?)))
            .collect::<Result<HashMap<_, _>, CryptoError>>()?;
        if !keys.contains_key(&parsed.current) {
            return Err(CryptoError::UnknownKey(parsed.current));
        }
        Ok(Self {
            fingerprint: key(&parsed.fingerprint_key, "fingerprintKey")?,
            current: parsed.current,
            keys,
        })
    }

    /// Seals the PAN under the current key. `context` (tenant and customer) is bound in as
    /// associated data, so a ciphertext copied onto another record does not decrypt.
    pub fn encrypt(&self, pan: &CardNumber, context: &str) -> EncryptedPan {
        let key = &self.keys[&self.current];
        let cipher = Aes256Gcm::new(key.expose_secret().into());
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: pan.expose().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        EncryptedPan {
            key_id: self.current.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(sealed),
        }
    }

    pub fn decrypt(
        &self,
        sealed: &EncryptedPan,
        context: &str,
    ) -> Result<SecretString, CryptoError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .map_err(|_| CryptoError::Decrypt)?;
        let data = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        if nonce.len() != 12 {
            return Err(CryptoError::Decrypt);
        }
        let cipher = Aes256Gcm::new(key.expose_secret().into());
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// HMAC-SHA256 of the PAN within a tenant: equal for the same card, useless without
    /// the key, and different across tenants so fingerprints cannot be correlated.
    pub fn fingerprint(&self, tenant: &str, pan: &CardNumber) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.fingerprint.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(tenant.as_bytes());
        mac.update(b":");
        mac.update(pan.expose().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl VaultKeys {
    /// A MAC for data handed to clients to give back (page cursors): they can read it,
    /// not forge it. `purpose` separates these MACs from fingerprints and from each other.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.fingerprint.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(b"sign\0");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of [`sign`](Self::sign)'s MAC.
    pub fn verify(&self, purpose: &str, data: &[u8], mac_hex: &str) -> bool {
        use subtle::ConstantTimeEq;
        let want = self.sign(purpose, data);
        want.len() == mac_hex.len() && bool::from(want.as_bytes().ct_eq(mac_hex.as_bytes()))
    }
}

/// The [`KeyService`] port over [`VaultKeys`] kept in a secret: read through the secret
/// source's cache, so a new current key reaches warm containers as the cache expires.
pub struct SecretKeys<S> {
    secrets: S,
    secret_id: String,
}

impl<S: SecretSource> SecretKeys<S> {
    pub fn new(secrets: S, secret_id: impl Into<String>) -> Self {
        Self {
            secrets,
            secret_id: secret_id.into(),
        }
    }

    async fn keys(&self) -> Result<VaultKeys, KeyError> {
        let raw = self
            .secrets
            .secret(&self.secret_id)
            .await
            .map_err(|e| KeyError::Unavailable(e.into()))?;
        VaultKeys::parse(raw.expose_secret()).map_err(|e| KeyError::Keys(e.to_string()))
    }
}

#[async_trait]
impl<S: SecretSource> KeyService for SecretKeys<S> {
    async fn fingerprint(&self, tenant: &TenantId, pan: &CardNumber) -> Result<String, KeyError> {
        Ok(self.keys().await?.fingerprint(tenant.as_str(), pan))
    }

    async fn seal_pan(
        &self,
        pan: &CardNumber,
        context: &PanContext,
    ) -> Result<EncryptedPan, KeyError> {
        Ok(self.keys().await?.encrypt(pan, context.as_str()))
    }

    async fn sign(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError> {
        Ok(self.keys().await?.sign(purpose, data))
    }

    async fn verify(&self, purpose: &str, data: &[u8], mac: &str) -> Result<bool, KeyError> {
        Ok(self.keys().await?.verify(purpose, data, mac))
    }
}

/// A fresh random key in the secret's format (for the bootstrap and rotation).
pub fn generate_key() -> String {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    STANDARD.encode(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str, ids: &[&str], keys: &HashMap<&str, String>, fp: &str) -> VaultKeys {
        let map: HashMap<&str, &String> = ids.iter().map(|id| (*id, &keys[id])).collect();
        let json = serde_json::json!({"current": current, "keys": map, "fingerprintKey": fp});
        VaultKeys::parse(&json.to_string()).unwrap()
    }

    #[test]
    fn old_cards_decrypt_after_rotation_and_context_is_bound() {
        let keys: HashMap<&str, String> = [("k1", generate_key()), ("k2", generate_key())].into();
        let fp = generate_key();
        let pan = CardNumber::parse("4242424242424242").unwrap();
        let v1 = ring("k1", &["k1"], &keys, &fp);
        let old = v1.encrypt(&pan, "t:1");
        assert_eq!(old.key_id, "k1");
        assert!(!old.ciphertext.contains("4242"));

        let v2 = ring("k2", &["k1", "k2"], &keys, &fp);
        let new = v2.encrypt(&pan, "t:1");
        assert_eq!(new.key_id, "k2");
        assert_eq!(
            v2.decrypt(&old, "t:1").unwrap().expose_secret(),
            "4242424242424242"
        );
        assert_eq!(
            v2.decrypt(&new, "t:1").unwrap().expose_secret(),
            "4242424242424242"
        );
        assert!(matches!(
            v1.decrypt(&new, "t:1"),
            Err(CryptoError::UnknownKey(_))
        ));
        assert!(matches!(v2.decrypt(&old, "t:2"), Err(CryptoError::Decrypt)));
        assert_ne!(old.nonce, new.nonce);
    }

    #[test]
    fn fingerprints_match_per_tenant_only() {
        let keys: HashMap<&str, String> = [("k1", generate_key())].into();
        let v = ring("k1", &["k1"], &keys, &generate_key());
        let a = CardNumber::parse("4242424242424242").unwrap();
        let b = CardNumber::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(v.fingerprint("t", &a), v.fingerprint("t", &b));
        assert_ne!(v.fingerprint("t", &a), v.fingerprint("u", &a));
        assert_eq!(v.fingerprint("t", &a).len(), 64);
    }

    #[test]
    fn bad_key_material_is_refused() {
        let short = STANDARD.encode([0u8; 16]);
        let json = serde_json::json!({"current": "k1", "keys": {"k1": short}, "fingerprintKey": generate_key()});
        assert!(VaultKeys::parse(&json.to_string()).is_err());
        let json = serde_json::json!({"current": "k9", "keys": {"k1": generate_key()}, "fingerprintKey": generate_key()});
        assert!(VaultKeys::parse(&json.to_string()).is_err());
    }
}
