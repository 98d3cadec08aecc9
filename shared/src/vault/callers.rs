//! Who is calling: a merchant's private API key, or a verified bearer token's principal.
//! The headers are read in `crate::auth`; what they are worth is decided here.

use super::Vault;
use crate::domain::{ApiKey, Principal, TenantId};
use crate::error::Error;
use crate::ports::{Ports, TenantStore};

impl<P: Ports> Vault<P> {
    /// The tenant behind a private API key: active, and matched in constant time.
    pub async fn merchant(&self, key: &ApiKey) -> Result<TenantId, Error> {
        let hash = key.hash();
        if let Some(tenant) = self.api_keys.get(&hash) {
            return Ok(tenant);
        }
        // The lookup is by hash already; the constant-time check guards against a store
        // that ever matched loosely (case folding, prefix scans).
        match self.store.api_key_by_hash(&hash).await? {
            Some(r) if r.hash.ct_eq(&hash) && r.is_active() => {
                self.api_keys.insert(hash, r.tenant_id.clone());
                Ok(r.tenant_id)
            }
            _ => Err(Error::Unauthorized("Invalid or revoked API key.")),
        }
    }

    /// A verified token's caller, if its tenant exists: a token for a tenant that does
    /// not is refused like a forged one.
    pub async fn user(&self, principal: Principal) -> Result<Principal, Error> {
        match self.find_tenant(&principal.tenant).await? {
            Some(_) => Ok(principal),
            None => Err(Error::Unauthorized("The token's tenant does not exist.")),
        }
    }
}
