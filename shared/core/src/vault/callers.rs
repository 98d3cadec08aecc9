//! Who is calling: a merchant's private API key, or a verified bearer token's principal.
//! The headers are read in `crate::auth`; what they are worth is decided here.

use super::Vault;
use crate::domain::{Actor, ApiKey, AuditAction, Principal, RequestScope, Role, TenantId, Token};
use crate::error::Error;
use crate::ports::{Clock, Ports, TenantStore};

impl<P: Ports> Vault<P> {
    /// The tenant behind a private API key: active, and matched in constant time.
    pub async fn merchant(&self, key: &ApiKey) -> Result<TenantId, Error> {
        let hash = key.hash();
        if let Some((tenant, key_id)) = self.api_keys.get(&hash) {
            RequestScope::set_actor(&Actor::ApiKey { key_id });
            return Ok(tenant);
        }
        // The lookup is by hash already; the constant-time check guards against a store
        // that ever matched loosely (case folding, prefix scans).
        match self.store.api_key_by_hash(&hash).await? {
            Some(r) if r.hash.ct_eq(&hash) && r.is_active() => {
                RequestScope::set_actor(&Actor::ApiKey {
                    key_id: r.key_id.clone(),
                });
                self.api_keys
                    .insert(hash, (r.tenant_id.clone(), r.key_id.clone()));
                Ok(r.tenant_id)
            }
            _ => Err(Error::Unauthorized("Invalid or revoked API key.")),
        }
    }

    /// A verified token's caller, if the tenant it names trusts its issuer and audience.
    /// A tenant that does not exist trusts no one: the same 401, so that a token cannot
    /// probe which tenants exist.
    pub async fn user(&self, token: Token) -> Result<Principal, Error> {
        let refused = || Error::Unauthorized("The token's issuer is not trusted by its tenant.");
        let now = self.clock.now().unix_timestamp();
        match self.find_tenant(&token.principal.tenant).await? {
            Some(t) if t.trusts(&token.issuer, &token.audiences) => {
                // A trusted issuer's token that lives longer than the tenant allows.
                if let Err(refusal) = t
                    .token_policy
                    .admits(token.issued_at, token.expires_at, now)
                {
                    self.record_denial(&token.principal, AuditAction::TenantDenied)
                        .await;
                    return Err(Error::Unauthorized(refusal.message()));
                }
                RequestScope::set_actor(&Actor::User {
                    sub: token.principal.user.clone(),
                    role: token.principal.role,
                });
                Ok(token.principal)
            }
            // A tenant that exists has a chain to record the refusal on.
            Some(_) => {
                self.record_denial(&token.principal, AuditAction::TenantDenied)
                    .await;
                Err(refused())
            }
            None => Err(refused()),
        }
    }

    /// The account of a billing card API caller whose role is at least `needed`; a
    /// refusal is recorded (throttled, `vault::audit`).
    pub async fn account_with_role<'p>(
        &self,
        principal: &'p Principal,
        needed: Role,
    ) -> Result<&'p str, Error> {
        let account = match needed {
            Role::Owner => principal.owner_account(),
            Role::Admin | Role::User => principal.admin_account(),
        };
        if let Err(Error::Forbidden(_)) = &account {
            self.record_denial(principal, AuditAction::RoleDenied).await;
        }
        account
    }
}
