//! Caller authentication.
//!
//! Merchant API: `Authorization: Basic <private API key>`. Fusebill's own samples send the
//! raw key after `Basic `; HTTP clients that build Basic auth themselves (`curl -u key:`)
//! send base64 of `key:`. Both are accepted.
//!
//! User and billing-card APIs: `Authorization: Bearer <JWT>`, in [`jwt`].

pub mod jwt;

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use lambda_http::{http::header::AUTHORIZATION, Request};

use crate::cache::TtlCache;
use crate::domain::TenantId;
use crate::error::Error;
use crate::secret::{ApiKey, KeyHash};
use crate::store::Store;

/// How long a warm container trusts a key it has already checked. A revoked key is
/// refused at once by a container that has not seen it, and by every container after this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// The key in a Basic `Authorization` header, raw or base64 `key:` / `:key`.
pub fn basic_api_key(header: &str) -> Option<ApiKey> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = token.trim();
    if token.starts_with(ApiKey::PREFIX) {
        return ApiKey::parse(token);
    }
    let decoded = String::from_utf8(STANDARD.decode(token).ok()?).ok()?;
    let key = match decoded.split_once(':') {
        Some((user, "")) => user,
        Some(("", pass)) => pass,
        Some(_) => return None,
        None => decoded.as_str(),
    };
    ApiKey::parse(key)
}

/// Resolves private API keys to tenants, with a small per-container cache.
pub struct MerchantAuth {
    cache: TtlCache<KeyHash, TenantId>,
}

impl Default for MerchantAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl MerchantAuth {
    pub fn new() -> Self {
        Self {
            cache: TtlCache::new(KEY_CACHE_TTL),
        }
    }

    pub async fn authenticate(&self, store: &Store, req: &Request) -> Result<TenantId, Error> {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthorized(
                "Missing Authorization header; send Authorization: Basic <API key>.",
            ))?;
        let key = basic_api_key(header).ok_or(Error::Unauthorized(
            "Malformed Authorization header; send Authorization: Basic <API key>.",
        ))?;
        let hash = key.hash();
        if let Some(tenant) = self.cache.get(&hash) {
            return Ok(tenant);
        }
        let record = store.api_key_by_hash(&hash).await?;
        // The lookup was by hash already; the constant-time check guards against a store
        // that ever matched loosely (case folding, prefix scans).
        match record {
            Some(r) if r.hash.ct_eq(&hash) && r.is_active() => {
                self.cache.insert(hash, r.tenant_id.clone());
                Ok(r.tenant_id)
            }
            _ => Err(Error::Unauthorized("Invalid or revoked API key.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "cvk_abcDEF123";

    #[test]
    fn raw_key_as_in_fusebill_samples() {
        let k = basic_api_key(&format!("Basic {KEY}")).unwrap();
        assert_eq!(k.reveal(), KEY);
        assert!(basic_api_key(&format!("basic   {KEY} ")).is_some());
    }

    #[test]
    fn base64_user_or_password() {
        for pair in [format!("{KEY}:"), format!(":{KEY}"), KEY.to_string()] {
            let header = format!("Basic {}", STANDARD.encode(pair));
            assert_eq!(basic_api_key(&header).unwrap().reveal(), KEY);
        }
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert!(basic_api_key(&format!("Bearer {KEY}")).is_none());
        assert!(basic_api_key("Basic").is_none());
        assert!(basic_api_key("Basic !!!").is_none());
        let both = STANDARD.encode("user:pass");
        assert!(basic_api_key(&format!("Basic {both}")).is_none());
    }
}
