//! Who is calling: a merchant's private API key, or a verified bearer token's principal.
//! The headers are read in `crate::auth`; what they are worth is decided here.

use super::Vault;
use crate::domain::{ApiKey, Principal, TenantId, Token};
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

    /// A verified token's caller, if the tenant it names trusts its issuer and audience.
    /// A tenant that does not exist trusts no one: the same 401, so that a token cannot
    /// probe which tenants exist.
    pub async fn user(&self, token: Token) -> Result<Principal, Error> {
        match self.find_tenant(&token.principal.tenant).await? {
            Some(t) if t.trusts(&token.issuer, &token.audiences) => Ok(token.principal),
            _ => Err(Error::Unauthorized(
                "The token's issuer is not trusted by its tenant.",
            )),
        }
    }
}
