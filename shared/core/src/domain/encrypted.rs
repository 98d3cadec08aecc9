//! A PAN at rest, and what binds it to its record.

use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId, TenantId};

/// A PAN at rest (envelope encryption): the AES-256-GCM ciphertext and nonce, and the data
/// key that sealed it, itself encrypted under the vault's KMS key (`key_id`).
///
/// Records written before KMS have no `encrypted_data_key`: their `key_id` names a key of
/// the legacy keys secret, and `cardvault-admin migrate-pans` re-seals them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedPan {
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_data_key: Option<String>,
    pub nonce: String,
    pub ciphertext: String,
}

impl EncryptedPan {
    /// Sealed under a KMS data key (not the legacy secret-held keys).
    pub fn is_envelope(&self) -> bool {
        self.encrypted_data_key.is_some()
    }
}

/// Binds a ciphertext to its record (tenant, customer, card): copied anywhere else, it
/// does not decrypt. The tenant is also the KMS encryption context of the data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanContext {
    tenant: TenantId,
    aad: String,
}

impl PanContext {
    pub fn new(tenant: &TenantId, customer: CustomerId, card: PaymentMethodId) -> Self {
        Self {
            tenant: tenant.clone(),
            aad: format!("{tenant}:{customer}:{card}"),
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The associated data the ciphertext is sealed with.
    pub fn as_str(&self) -> &str {
        &self.aad
    }
}
