//! The vault's cryptography, the [`KeyService`] adapter. Three keys, each readable only
//! by the functions that use it:
//!
//! - **PANs**: envelope encryption. A data key from KMS `GenerateDataKey` under the vault's
//!   KMS key seals the PAN with AES-256-GCM; the encrypted data key is stored beside the
//!   ciphertext. The KMS encryption context is the tenant; the AES associated data is
//!   tenant, customer and card, so a ciphertext copied onto another record does not open.
//!   Writers hold `kms:GenerateDataKey` only: they cannot read what they wrote.
//! - **Fingerprints**: HMAC-SHA256 under a versioned key ring in a secret of its own
//!   (`FINGERPRINT_KEY_SECRET_ID`). A card is looked up under every version, so duplicate
//!   detection survives a rotation.
//! - **Cursors**: HMAC-SHA256 under a versioned key ring of their own
//!   (`CURSOR_KEY_SECRET_ID`): the function that lists cards can sign its cursors and
//!   nothing else.
//!
//! [`legacy`] reads the pre-KMS format, for `cardvault-admin migrate-pans`.

mod cache;
pub mod chain_key;
pub mod legacy;

use std::collections::BTreeMap;

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
use crate::ports::{Fingerprints, KeyError, KeyService, PanOpener, SecretSource};
pub use cache::{DataKeyCache, DATA_KEY_MAX_AGE, DATA_KEY_MAX_USES};

/// A 256-bit key that never prints.
pub type Key = SecretBox<[u8; 32]>;

/// A data key: its plaintext, to seal a few PANs and then be dropped, and its encrypted
/// form (KMS `CiphertextBlob`), stored beside each ciphertext.
pub struct DataKey {
    pub plaintext: Key,
    pub encrypted: Vec<u8>,
    /// The KMS key that encrypted it (its ARN, as KMS answers).
    pub key_id: String,
}

/// The key-management service behind envelope encryption: KMS in production
/// (`cardvault_aws::kms::KmsDataKeys`), an in-memory stand-in in unit tests.
#[async_trait]
pub trait DataKeys: Send + Sync {
    /// A fresh data key, bound to `tenant` by the encryption context.
    async fn generate(&self, tenant: &TenantId) -> Result<DataKey, KeyError>;
    /// The plaintext of a stored data key: only the re-homing function's role may.
    async fn decrypt(&self, encrypted: &[u8], tenant: &TenantId) -> Result<Key, KeyError>;
}

/// The KMS encryption context of every PAN data key.
pub fn encryption_context(tenant: &TenantId) -> [(&'static str, String); 2] {
    [
        ("cardvault:purpose", "pan".to_owned()),
        ("cardvault:tenant", tenant.to_string()),
    ]
}

/// A versioned HMAC key ring, as kept in a secret:
/// `{"current":"v…","keys":{"v…":"<base64 of 32 bytes>", …}}`. Rotating adds a version
/// and makes it current (`cardvault-admin rotate-fingerprint-key`, `rotate-cursor-key`).
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, Key>,
}

#[derive(Deserialize)]
struct RingJson {
    current: String,
    keys: BTreeMap<String, SecretString>,
}

/// A key's bytes from its base64 form. `name` says which key, in words of ours: nothing
/// read from the secret goes into an error, which is logged.
pub fn decode_key(b64: &SecretString, name: &str) -> Result<Key, KeyError> {
    let bytes = STANDARD
        .decode(b64.expose_secret().trim())
        .map_err(|_| KeyError::Keys(format!("{name} is not base64")))?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Keys(format!("{name} is not 32 bytes")))?;
    Ok(SecretBox::new(Box::new(array)))
}

/// Why a secret's JSON does not read, without serde's text: that quotes the value
/// (`invalid type: string "…"`), and a secret's value must never reach a log.
pub fn malformed(what: &str, e: &serde_json::Error) -> KeyError {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
        serde_json::error::Category::Data => "not in its format",
    };
    KeyError::Keys(format!(
        "{what}: {kind} (line {}, column {})",
        e.line(),
        e.column()
    ))
}

impl KeyRing {
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        let parsed: RingJson = serde_json::from_str(json).map_err(|e| malformed("key ring", &e))?;
        let keys = parsed
            .keys
            .iter()
            .map(|(id, b64)| Ok((id.clone(), decode_key(b64, "a key of the ring")?)))
            .collect::<Result<BTreeMap<_, _>, KeyError>>()?;
        if !keys.contains_key(&parsed.current) {
            return Err(KeyError::Keys(
                "key ring: its current version is not in the ring".into(),
            ));
        }
        Ok(Self {
            current: parsed.current,
            keys,
        })
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    fn current(&self) -> &Key {
        &self.keys[&self.current]
    }

    /// The ring's fingerprints of a PAN: the current version's first.
    pub fn fingerprints(&self, tenant: &TenantId, pan: &CardNumber) -> Fingerprints {
        let current = fingerprint(self.current(), tenant.as_str(), pan);
        let mut all = vec![current.clone()];
        all.extend(
            self.keys
                .iter()
                .filter(|(id, _)| **id != self.current)
                .map(|(_, k)| fingerprint(k, tenant.as_str(), pan)),
        );
        Fingerprints { current, all }
    }

    /// `<version>~<hex MAC>`: the version lets a rotated ring still check older cursors.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        format!("{}~{}", self.current, mac(self.current(), purpose, data))
    }

    pub fn verify(&self, purpose: &str, data: &[u8], signed: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Some((version, mac_hex)) = signed.split_once('~') else {
            return false;
        };
        let Some(key) = self.keys.get(version) else {
            return false;
        };
        let want = mac(key, purpose, data);
        want.len() == mac_hex.len() && bool::from(want.as_bytes().ct_eq(mac_hex.as_bytes()))
    }
}

/// HMAC-SHA256 of the PAN within a tenant: equal for the same card, useless without the
/// key, and different across tenants so fingerprints cannot be correlated. The legacy
/// format's fingerprint key gives the same values, so migrated records still match.
pub fn fingerprint(key: &Key, tenant: &str, pan: &CardNumber) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret())
        .expect("HMAC takes any key length");
    mac.update(tenant.as_bytes());
    mac.update(b":");
    mac.update(pan.expose().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn mac(key: &Key, purpose: &str, data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret())
        .expect("HMAC takes any key length");
    mac.update(b"sign\0");
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Seals a PAN with a data key; `aad` binds it to its record.
pub fn seal(key: &DataKey, pan: &str, aad: &str) -> EncryptedPan {
    let cipher = Aes256Gcm::new(key.plaintext.expose_secret().into());
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: pan.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of a short message cannot fail");
    EncryptedPan {
        key_id: key.key_id.clone(),
        encrypted_data_key: Some(STANDARD.encode(&key.encrypted)),
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(sealed),
    }
}

/// Opens an AES-256-GCM ciphertext (either format) with its key.
pub fn open(key: &Key, sealed: &EncryptedPan, aad: &str) -> Result<SecretString, KeyError> {
    let bad = || KeyError::Keys("the PAN does not decrypt".into());
    let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| bad())?;
    let data = STANDARD.decode(&sealed.ciphertext).map_err(|_| bad())?;
    if nonce.len() != 12 {
        return Err(bad());
    }
    let plain = Aes256Gcm::new(key.expose_secret().into())
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| bad())?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| bad())
}

/// The [`KeyService`] port: PANs sealed under KMS data keys (reused within the cache's
/// bounds), fingerprints and cursor MACs under key rings read through the secret source's
/// cache, so a rotation reaches warm containers as the cache expires. Each secret is read
/// only by the operation that needs it.
pub struct VaultKeys<S, D> {
    secrets: S,
    data_keys: D,
    cache: DataKeyCache,
    fingerprint_secret_id: String,
    cursor_secret_id: String,
}

impl<S: SecretSource, D: DataKeys> VaultKeys<S, D> {
    pub fn new(
        secrets: S,
        data_keys: D,
        fingerprint_secret_id: impl Into<String>,
        cursor_secret_id: impl Into<String>,
    ) -> Self {
        Self {
            secrets,
            data_keys,
            cache: DataKeyCache::default(),
            fingerprint_secret_id: fingerprint_secret_id.into(),
            cursor_secret_id: cursor_secret_id.into(),
        }
    }

    pub fn data_keys(&self) -> &D {
        &self.data_keys
    }

    async fn ring(&self, id: &str) -> Result<KeyRing, KeyError> {
        let raw = self
            .secrets
            .secret(id)
            .await
            .map_err(|e| KeyError::Unavailable(e.into()))?;
        KeyRing::parse(raw.expose_secret())
    }

    /// Opens a sealed PAN: KMS `Decrypt` of its data key, which only the re-homing
    /// function's role is allowed. A legacy record must be migrated first.
    pub async fn open_pan(
        &self,
        sealed: &EncryptedPan,
        context: &PanContext,
    ) -> Result<SecretString, KeyError> {
        let edk = sealed.encrypted_data_key.as_deref().ok_or_else(|| {
            KeyError::Keys("a legacy record: run cardvault-admin migrate-pans".into())
        })?;
        let edk = STANDARD
            .decode(edk)
            .map_err(|_| KeyError::Keys("the data key is not base64".into()))?;
        let key = self.data_keys.decrypt(&edk, context.tenant()).await?;
        open(&key, sealed, context.as_str())
    }
}

#[async_trait]
impl<S: SecretSource, D: DataKeys> PanOpener for VaultKeys<S, D> {
    async fn open_pan(
        &self,
        sealed: &EncryptedPan,
        context: &PanContext,
    ) -> Result<CardNumber, KeyError> {
        let digits = VaultKeys::open_pan(self, sealed, context).await?;
        // What was sealed was a parsed card number: anything else is a corrupt record.
        CardNumber::parse(digits.expose_secret())
            .map_err(|_| KeyError::Keys("the sealed PAN is not a card number".into()))
    }
}

#[async_trait]
impl<S: SecretSource, D: DataKeys> KeyService for VaultKeys<S, D> {
    async fn fingerprints(
        &self,
        tenant: &TenantId,
        pan: &CardNumber,
    ) -> Result<Fingerprints, KeyError> {
        Ok(self
            .ring(&self.fingerprint_secret_id)
            .await?
            .fingerprints(tenant, pan))
    }

    async fn seal_pan(
        &self,
        pan: &CardNumber,
        context: &PanContext,
    ) -> Result<EncryptedPan, KeyError> {
        let key = self
            .cache
            .get_or_generate(context.tenant(), || {
                self.data_keys.generate(context.tenant())
            })
            .await?;
        Ok(seal(&key, pan.expose(), context.as_str()))
    }

    async fn sign(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError> {
        Ok(self.ring(&self.cursor_secret_id).await?.sign(purpose, data))
    }

    async fn request_digest(&self, purpose: &str, data: &[u8]) -> Result<String, KeyError> {
        Ok(self
            .ring(&self.fingerprint_secret_id)
            .await?
            .sign(purpose, data))
    }

    async fn verify(&self, purpose: &str, data: &[u8], mac: &str) -> Result<bool, KeyError> {
        Ok(self
            .ring(&self.cursor_secret_id)
            .await?
            .verify(purpose, data, mac))
    }
}

/// A fresh random key in the key rings' format.
pub fn generate_key() -> String {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    STANDARD.encode(k)
}

/// A new version id for a key ring: its time and 32 random bits, so an id is never reused,
/// even after a version is removed.
pub fn new_version_id(now: time::OffsetDateTime) -> String {
    let mut r = [0u8; 4];
    OsRng.fill_bytes(&mut r);
    format!(
        "v{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        hex::encode(r)
    )
}

/// A ring in the secret's format with one more version, made current. `existing` is the
/// secret's value, or `None` for a secret that holds no ring yet. An existing value that
/// is not a ring is refused: a rotation never writes over key material it cannot read.
pub fn rotated_ring(
    existing: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<serde_json::Value, KeyError> {
    let mut ring = match existing.map(str::trim) {
        None | Some("") | Some("{}") => serde_json::json!({"keys": {}}),
        Some(raw) => {
            KeyRing::parse(raw)?;
            serde_json::from_str(raw).map_err(|e| malformed("key ring", &e))?
        }
    };
    let id = new_version_id(now);
    if ring["keys"].get(&id).is_some() {
        return Err(KeyError::Keys(format!("version {id} exists already")));
    }
    ring["keys"][&id] = serde_json::json!(generate_key());
    ring["current"] = serde_json::json!(id);
    Ok(ring)
}

#[cfg(test)]
mod tests;
