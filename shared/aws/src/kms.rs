//! AWS KMS as the [`DataKeys`] behind envelope encryption: `GenerateDataKey` (AES-256)
//! under the vault's key, and `Decrypt` of a stored data key. The encryption context names
//! the tenant, so a data key of one tenant does not decrypt as another's, and CloudTrail
//! shows whose card each call was for.
//!
//! [`KmsChainKey`] is the audit chain's key ([`ChainKey`]): a KMS HMAC key (`HMAC_256`,
//! `GENERATE_VERIFY_MAC`), used with `GenerateMac` by the chainer alone and `VerifyMac` by
//! the operator; no request-path function may use it (template.yaml), so none can forge a
//! chained event.

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MacAlgorithmSpec};
use aws_sdk_kms::Client;
use secrecy::SecretBox;

use crate::crypto::{encryption_context, DataKey, DataKeys, Key};
use crate::domain::TenantId;
use crate::ports::{ChainKey, KeyError};

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Unavailable(Box::new(e))
}

pub struct KmsDataKeys {
    client: Client,
    /// The vault's KMS key: an id, ARN or `alias/…` (`VAULT_KMS_KEY_ID`).
    key_id: String,
}

impl KmsDataKeys {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn key_of(bytes: &[u8]) -> Result<Key, KeyError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Keys("KMS answered a data key that is not 256 bits".into()))?;
    Ok(SecretBox::new(Box::new(array)))
}

#[async_trait]
impl DataKeys for KmsDataKeys {
    async fn generate(&self, tenant: &TenantId) -> Result<DataKey, KeyError> {
        let mut req = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256);
        for (k, v) in encryption_context(tenant) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let missing = || KeyError::Keys("KMS answered no data key".into());
        Ok(DataKey {
            plaintext: key_of(out.plaintext().ok_or_else(missing)?.as_ref())?,
            encrypted: out.ciphertext_blob().ok_or_else(missing)?.as_ref().to_vec(),
            key_id: out.key_id().unwrap_or(&self.key_id).to_owned(),
        })
    }

    async fn decrypt(&self, encrypted: &[u8], tenant: &TenantId) -> Result<Key, KeyError> {
        let mut req = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(encrypted));
        for (k, v) in encryption_context(tenant) {
            req = req.encryption_context(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        key_of(
            out.plaintext()
                .ok_or_else(|| KeyError::Keys("KMS answered no plaintext".into()))?
                .as_ref(),
        )
    }
}

pub struct KmsChainKey {
    client: Client,
    /// An id, ARN or `alias/…` (`AUDIT_KMS_KEY_ID`).
    key_id: String,
}

impl KmsChainKey {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl ChainKey for KmsChainKey {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let out = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        out.mac()
            .map(|m| m.as_ref().to_vec())
            .ok_or_else(|| KeyError::Keys("KMS answered no MAC".into()))
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, KeyError> {
        let out = self
            .client
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .mac(Blob::new(mac))
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.mac_valid()),
            // KMS answers a MAC that does not verify with an error, not `MacValid: false`.
            Err(e) if e.code() == Some("KMSInvalidMacException") => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}
