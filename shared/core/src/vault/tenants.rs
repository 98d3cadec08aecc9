//! Tenants as requests see them: cached for a short while in the warm container.

use super::Vault;
use crate::domain::{Origin, Tenant, TenantId};
use crate::error::Error;
use crate::ports::{Ports, TenantStore};

impl<P: Ports> Vault<P> {
    /// A tenant that must exist (the caller was authenticated for it).
    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.find_tenant(id)
            .await?
            .ok_or_else(|| Error::bug(format!("tenant {id} vanished")))
    }

    pub async fn find_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        if let Some(t) = self.tenants.get(id) {
            return Ok(Some(t));
        }
        let tenant = self.store.get_tenant(id).await?;
        if let Some(t) = &tenant {
            self.tenants.insert(id.clone(), t.clone());
        }
        Ok(tenant)
    }

    /// What this stack is: which origins it may honour.
    pub fn stage(&self) -> crate::domain::Stage {
        self.settings.stage
    }

    /// The tenant a public API key (transparent redirect) belongs to. A key whose tenant is
    /// gone, or no longer lists it, names no one: the same answer as an unknown key. A key found is kept for
    /// [`KEY_CACHE_TTL`](super::KEY_CACHE_TTL), as private keys are: the redirect asks twice
    /// a request (its idempotency guard, then the handler), and a warm container then asks
    /// the store not at all. A replaced key is refused at once by a container that has not
    /// used it lately, and by every container after those 30 s.
    pub async fn tenant_by_public_key(&self, key: &str) -> Result<Option<Tenant>, Error> {
        let id = match self.public_keys.get(&key.to_owned()) {
            Some(id) => id,
            None => match self.store.tenant_by_public_key(key).await? {
                Some(id) => {
                    self.public_keys.insert(key.to_owned(), id.clone());
                    id
                }
                None => return Ok(None),
            },
        };
        // The tenant must still name this key: a lookup item that outlived its key (two
        // concurrent replacements, each deleting only the key it read) opens nothing.
        let tenant = self.find_tenant(&id).await?;
        Ok(tenant.filter(|t| t.public_api_key.as_deref() == Some(key)))
    }

    /// Whether any tenant allows this browser origin (the CORS preflight names no tenant).
    /// A plain-http origin (not loopback) is never allowed, even if an old list names it,
    /// nor a loopback one outside a development stack.
    pub async fn origin_allowed(&self, origin: &Origin) -> Result<bool, Error> {
        if !origin.may_be_allowed() || !self.settings.stage.honours(origin) {
            return Ok(false);
        }
        Ok(self.store.origin_allowed(origin).await?)
    }
}
