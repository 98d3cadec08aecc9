//! cardvault's AWS adapters: DynamoDB implements the store ports, KMS the data keys and the
//! audit chain's key, Secrets Manager the secret source; STS names who invoked re-homing.

pub mod audit_stream;
pub mod caller_identity;
pub mod kms;
pub mod sdk;
pub mod secrets;
pub mod store;

// The core's modules under the names the adapters use (`crate::domain`, …).
use cardvault_core::{cache, chain, crypto, domain, error, ports};
