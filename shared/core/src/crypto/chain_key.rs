//! The audit chain's key ([`ChainKey`]) held in memory, for unit tests: the same MAC as the
//! KMS HMAC key the chainer uses (`cardvault_aws::kms::KmsChainKey`).

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ports::{ChainKey, KeyError};

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
