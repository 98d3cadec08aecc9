//! A PAN at rest, and what binds it to its record.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId, TenantId};

/// A PAN at rest: the ciphertext, its nonce and the id of the key that sealed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedPan {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// Binds a ciphertext to its record (tenant, customer, card): copied anywhere else, it
/// does not decrypt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanContext(String);

impl PanContext {
    pub fn new(tenant: &TenantId, customer: CustomerId, card: PaymentMethodId) -> Self {
        Self(format!("{tenant}:{customer}:{card}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
