//! The pre-KMS format, read only by `cardvault-admin migrate-pans`: PANs sealed with
//! AES-256-GCM under keys held in one secret, beside the fingerprint key:
//! `{"current":"k2","keys":{"k1":"<base64 32 bytes>",…},"fingerprintKey":"<base64 32 bytes>"}`.
//! No function reads that secret any more.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{decode_key, open, Key};
use crate::domain::{CardNumber, EncryptedPan};
use crate::ports::KeyError;

pub struct LegacyKeys {
    current: String,
    keys: HashMap<String, Key>,
    fingerprint: Key,
    /// The fingerprint key as stored, to carry it into the new ring unchanged.
    fingerprint_b64: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysJson {
    current: String,
    keys: HashMap<String, SecretString>,
    fingerprint_key: SecretString,
}

impl LegacyKeys {
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        let parsed: KeysJson =
            serde_json::from_str(json).map_err(|e| super::malformed("legacy keys", &e))?;
        let keys = parsed
            .keys
            .iter()
            .map(|(id, b64)| Ok((id.clone(), decode_key(b64, "a legacy key")?)))
            .collect::<Result<HashMap<_, _>, KeyError>>()?;
        if !keys.contains_key(&parsed.current) {
            return Err(KeyError::Keys(
                "legacy keys: the current key is not among them".into(),
            ));
        }
        Ok(Self {
            fingerprint: decode_key(&parsed.fingerprint_key, "fingerprintKey")?,
            fingerprint_b64: parsed.fingerprint_key,
            current: parsed.current,
            keys,
        })
    }

    /// Opens a legacy ciphertext; `aad` is the record's `tenant:customer:card`.
    pub fn decrypt(&self, sealed: &EncryptedPan, aad: &str) -> Result<SecretString, KeyError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| KeyError::Keys(format!("no legacy key {}", sealed.key_id)))?;
        open(key, sealed, aad)
    }

    /// Seals as the old code did: for tests that need a record in the old format.
    pub fn encrypt(&self, pan: &CardNumber, aad: &str) -> EncryptedPan {
        let key = super::DataKey {
            plaintext: secrecy::SecretBox::new(Box::new(*self.keys[&self.current].expose_secret())),
            encrypted: Vec::new(),
            key_id: self.current.clone(),
        };
        EncryptedPan {
            encrypted_data_key: None,
            ..super::seal(&key, pan.expose(), aad)
        }
    }

    pub fn fingerprint(&self, tenant: &str, pan: &CardNumber) -> String {
        super::fingerprint(&self.fingerprint, tenant, pan)
    }

    /// The legacy fingerprint key, base64, for `migrate-pans` to add to the new ring: the
    /// fingerprints already stored stay valid.
    pub fn fingerprint_key_b64(&self) -> &SecretString {
        &self.fingerprint_b64
    }
}

/// A legacy secret with one fresh key and fingerprint key (tests only need this).
pub fn generate() -> String {
    serde_json::json!({
        "current": "k1",
        "keys": {"k1": super::generate_key()},
        "fingerprintKey": super::generate_key(),
    })
    .to_string()
}
