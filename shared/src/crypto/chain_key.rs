//! The audit chain's key ([`ChainKey`]): a KMS HMAC key (`HMAC_256`, `GENERATE_VERIFY_MAC`),
//! used with `GenerateMac` by the chainer alone and `VerifyMac` by the operator; no
//! request-path function may use it (template.yaml), so none can forge a chained event.
//! [`LocalChainKey`] is the same MAC with the key in memory, for unit tests.

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use aws_sdk_kms::Client;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::unavailable;
use crate::ports::{ChainKey, KeyError};

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

/// HMAC-SHA-256 under a key held in memory.
pub struct LocalChainKey(pub [u8; 32]);

impl LocalChainKey {
    fn hmac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        m.update(message);
        m
    }
}

#[async_trait]
impl ChainKey for LocalChainKey {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.hmac(message).finalize().into_bytes().to_vec())
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, KeyError> {
        Ok(self.hmac(message).verify_slice(mac).is_ok())
    }
}
