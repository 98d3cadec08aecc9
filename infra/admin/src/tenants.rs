//! Tenants and their settings: create, show, and each `set-*` command.

use cardvault::domain::{
    Origin, StripeConnection, Tenant, TenantId, TrustedIssuer, VelocityLimits,
};
use cardvault::secret::random_token;
use cardvault_aws::store::Store;
use cardvault_core::ports::TenantStore;
use serde_json::{json, Value};

use crate::Result;

pub async fn create(store: &Store, id: String, name: String, currency: String) -> Result<Value> {
    let tenant = Tenant {
        id: TenantId::try_from(id)?,
        name,
        public_api_key: None,
        allowed_origins: vec![],
        stripe: None,
        recaptcha_secret_id: None,
        stripe_publishable_key: None,
        require_avs: false,
        require_risk_fields: false,
        legacy_query_string_cards: false,
        stripe_revoked_at: None,
        trusted_issuers: vec![],
        token_policy: Default::default(),
        velocity: Default::default(),
        currency: currency.to_ascii_lowercase(),
        created_at: time::OffsetDateTime::now_utc(),
    };
    store.create_tenant(&tenant).await?;
    Ok(serde_json::to_value(&tenant)?)
}

/// The tenant and its keys' ids, dates and state (never a hash), and the origins no longer
/// honoured (plain http stored before https was required).
pub async fn show(store: &Store, tenant: &str) -> Result<Value> {
    let t = load(store, tenant).await?;
    let keys = store.list_api_keys(&t.id).await?;
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyId": k.key_id, "createdAt": k.created_at.to_string(), "revoked": !k.is_active()}))
        .collect();
    let ignored: Vec<&String> = t
        .allowed_origins
        .iter()
        .filter(|o| Origin::parse_allowed(o).is_err())
        .collect();
    Ok(json!({ "tenant": t, "apiKeys": keys, "ignoredOrigins": ignored }))
}

/// `key`, or a new random `pk_…` key.
pub async fn set_public_key(store: &Store, tenant: &str, key: Option<String>) -> Result<Value> {
    let key = key.unwrap_or_else(|| random_token("pk_", 24));
    update(store, tenant, |t| {
        t.public_api_key = Some(key.clone());
        Ok(())
    })
    .await
}

/// https only, but http on localhost and 127.0.0.1 for development (`Origin::parse_allowed`).
pub async fn set_origins(store: &Store, tenant: &str, origins: Vec<String>) -> Result<Value> {
    for o in &origins {
        Origin::parse_allowed(o)?;
    }
    update(store, tenant, |t| {
        t.allowed_origins = origins.clone();
        Ok(())
    })
    .await
}

/// A connected account, or a secret holding the tenant's own key.
pub async fn set_stripe(
    store: &Store,
    tenant: &str,
    account: Option<String>,
    secret_id: Option<String>,
    publishable_key: Option<String>,
) -> Result<Value> {
    let connection = match (account, secret_id) {
        (Some(acct), _) => {
            let connection = StripeConnection::parse_account_id(&acct)?;
            // The same rule as a re-homing target: another tenant's account would see this
            // tenant's cardholders' cards.
            let id = TenantId::try_from(tenant.to_owned())?;
            cardvault::vault::rehome::account_free_for(store, &id, &acct).await?;
            connection
        }
        (None, Some(secret_id)) => StripeConnection::OwnKey {
            secret_id: tenant_secret_id(tenant, secret_id)?,
        },
        (None, None) => return Err("give --account or --secret-id".into()),
    };
    // Public by design, so never a secret key: `/card/getStripe` answers it.
    if let Some(key) = &publishable_key {
        cardvault::domain::PublishableKey::parse(key)?;
    }
    update(store, tenant, |t| {
        t.stripe = Some(connection.clone());
        t.stripe_publishable_key = publishable_key.clone();
        // A connection set again is no longer revoked (account.application.deauthorized).
        t.stripe_revoked_at = None;
        Ok(())
    })
    .await
}

pub async fn set_redirect_settings(
    store: &Store,
    tenant: &str,
    require_avs: bool,
    require_risk_fields: bool,
) -> Result<Value> {
    update(store, tenant, |t| {
        t.require_avs = require_avs;
        t.require_risk_fields = require_risk_fields;
        Ok(())
    })
    .await
}

/// Overrides the limits given; with `reset`, the tenant returns to the defaults first.
pub async fn set_velocity(
    store: &Store,
    tenant: &str,
    limits: VelocityLimits,
    reset: bool,
) -> Result<Value> {
    update(store, tenant, |t| {
        let v = &mut t.velocity;
        if reset {
            *v = VelocityLimits::default();
        }
        v.window_secs = limits.window_secs.or(v.window_secs);
        v.per_ip = limits.per_ip.or(v.per_ip);
        v.per_public_key = limits.per_public_key.or(v.per_public_key);
        v.per_customer = limits.per_customer.or(v.per_customer);
        v.declines = limits.declines.or(v.declines);
        if v.window_secs == Some(0) {
            return Err("--window-secs must be at least 1".into());
        }
        Ok(())
    })
    .await
}

/// Whether the redirect reads cards from the query string (the document's sample request).
pub async fn set_legacy_query_string_cards(store: &Store, tenant: &str, on: bool) -> Result<Value> {
    update(store, tenant, |t| {
        t.legacy_query_string_cards = on;
        Ok(())
    })
    .await
}

pub async fn set_recaptcha_secret(store: &Store, tenant: &str, secret_id: String) -> Result<Value> {
    let secret_id = tenant_secret_id(tenant, secret_id)?;
    update(store, tenant, |t| {
        t.recaptcha_secret_id = Some(secret_id.clone());
        Ok(())
    })
    .await
}

/// The tenant's bearer token lifetimes. A maximum of 0 would refuse every token, and one
/// over 30 days is a standing credential: both refused.
pub async fn set_token_policy(
    store: &Store,
    tenant: &str,
    max_lifetime_secs: Option<u64>,
    allow_missing_iat: Option<bool>,
) -> Result<Value> {
    const MAX: u64 = 30 * 24 * 3600;
    if let Some(secs) = max_lifetime_secs.filter(|s| !(1..=MAX).contains(s)) {
        return Err(format!("--max-lifetime-secs {secs}: from 1 to {MAX}").into());
    }
    update(store, tenant, |t| {
        if let Some(secs) = max_lifetime_secs {
            t.token_policy.max_lifetime_secs = secs;
        }
        if let Some(allow) = allow_missing_iat {
            t.token_policy.allow_missing_iat = allow;
        }
        Ok(())
    })
    .await
}

/// Adds (`trust`) or removes an (issuer, audience) pair of the tenant's trusted issuers.
pub async fn trust_issuer(
    store: &Store,
    tenant: &str,
    issuer: String,
    audience: String,
    trust: bool,
) -> Result<Value> {
    if issuer.trim().is_empty() || audience.trim().is_empty() {
        return Err("--issuer and --audience must not be empty".into());
    }
    let pair = TrustedIssuer { issuer, audience };
    update(store, tenant, |t| {
        // Users and accounts are keyed by `sub` and `account` alone, which are unique only
        // within one issuer: a second issuer could speak for the first one's users.
        if trust && t.trusted_issuers.iter().any(|p| p.issuer != pair.issuer) {
            return Err(format!(
                "tenant {} already trusts another issuer; one issuer per tenant (several audiences may share it)",
                t.id
            )
            .into());
        }
        t.trusted_issuers.retain(|p| *p != pair);
        if trust {
            t.trusted_issuers.push(pair.clone());
        }
        Ok(())
    })
    .await
}

pub async fn load(store: &Store, id: &str) -> Result<Tenant> {
    let id = TenantId::try_from(id.to_owned())?;
    store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| format!("no tenant {id}").into())
}

/// Reads the tenant, changes it and writes it on condition that nothing it does not own
/// changed meanwhile (a webhook's revocation); read again and retried if that is why the
/// write was refused.
async fn update(
    store: &Store,
    id: &str,
    change: impl Fn(&mut Tenant) -> Result<()>,
) -> Result<Value> {
    let mut old = load(store, id).await?;
    for _ in 0..3 {
        let mut tenant = old.clone();
        change(&mut tenant)?;
        match store.save_tenant(&tenant, &old).await {
            Ok(()) => return Ok(serde_json::to_value(&tenant)?),
            Err(cardvault_core::ports::StoreError::Conflict) => {
                let now = load(store, id).await?;
                if now.stripe_revoked_at == old.stripe_revoked_at {
                    // Not the revocation: another condition (a public key already taken).
                    return Err(format!(
                        "tenant {id}: the write was refused (a public key or origin already in use?)"
                    )
                    .into());
                }
                old = now;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(format!("tenant {id} kept changing; try again").into())
}

/// A tenant's own secrets live under `cardvault/tenant/<tenant>/`: the functions' IAM
/// grants `cardvault/tenant/*` and nothing else, so a secret elsewhere would fail every
/// request of the tenant at run time. Refused here instead.
fn tenant_secret_id(tenant: &str, secret_id: String) -> Result<String> {
    let prefix = format!("cardvault/tenant/{tenant}/");
    if secret_id.len() > prefix.len() && secret_id.starts_with(&prefix) {
        Ok(secret_id)
    } else {
        Err(format!(
            "a tenant's secret id starts with {prefix} (the functions may read nothing else)"
        )
        .into())
    }
}
