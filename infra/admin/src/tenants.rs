//! Tenants and their settings: create, show, and each `set-*` command. Each is a vault
//! operation (`cardvault::vault::admin`), which holds every check, the retry against a
//! concurrent revocation and the audit event; this turns the command line into its
//! arguments and its answer into the command's JSON.

use cardvault::domain::{Actor, TenantId, VelocityLimits};
use cardvault::vault::admin::{NewTenant, StripeSetting, TokenPolicyChange};
use serde_json::{json, Value};

use crate::vault::{chained, AdminVault};
use crate::Result;

pub fn tenant_id(raw: &str) -> Result<TenantId> {
    Ok(TenantId::try_from(raw.to_owned())?)
}

fn answer(tenant: cardvault::domain::Tenant) -> Result<Value> {
    Ok(serde_json::to_value(&tenant)?)
}

pub async fn create(
    vault: &AdminVault,
    id: String,
    name: String,
    currency: String,
    operator: &Actor,
) -> Result<Value> {
    let new = NewTenant {
        id: TenantId::try_from(id)?,
        name,
        currency,
    };
    answer(vault.create_tenant(new, operator).await.map_err(chained)?)
}

/// The tenant and its keys' ids, dates and state (never a hash), and the origins no longer
/// honoured (plain http stored before https was required).
pub async fn show(vault: &AdminVault, tenant: &str) -> Result<Value> {
    let seen = vault
        .tenant_overview(&tenant_id(tenant)?)
        .await
        .map_err(chained)?;
    let keys: Vec<Value> = seen
        .api_keys
        .iter()
        .map(|k| json!({"keyId": k.key_id, "createdAt": k.created_at.to_string(), "revoked": !k.is_active()}))
        .collect();
    Ok(json!({ "tenant": seen.tenant, "apiKeys": keys, "ignoredOrigins": seen.ignored_origins }))
}

/// `key`, or a new random `pk_…` key.
pub async fn set_public_key(
    vault: &AdminVault,
    tenant: &str,
    key: Option<String>,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_public_key(&id, key, operator);
    answer(t.await.map_err(chained)?)
}

/// https only, but http on localhost and 127.0.0.1 for development (`Origin::parse_allowed`).
pub async fn set_origins(
    vault: &AdminVault,
    tenant: &str,
    origins: Vec<String>,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_origins(&id, origins, operator);
    answer(t.await.map_err(chained)?)
}

/// What `set-stripe` (and `rehome-cards --to/--to-secret-id`) names.
pub fn stripe_setting(
    account: Option<String>,
    secret_id: Option<String>,
    publishable_key: Option<String>,
) -> Result<StripeSetting> {
    match (account, secret_id) {
        (Some(acct), _) => Ok(StripeSetting::Account(acct)),
        (None, Some(secret_id)) => Ok(StripeSetting::OwnKey {
            secret_id,
            publishable_key,
        }),
        (None, None) => Err("give --account or --secret-id".into()),
    }
}

/// A connected account, or a secret holding the tenant's own key.
pub async fn set_stripe(
    vault: &AdminVault,
    tenant: &str,
    setting: StripeSetting,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_stripe(&id, setting, operator);
    answer(t.await.map_err(chained)?)
}

pub async fn set_redirect_settings(
    vault: &AdminVault,
    tenant: &str,
    require_avs: bool,
    require_risk_fields: bool,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_redirect_settings(&id, require_avs, require_risk_fields, operator);
    answer(t.await.map_err(chained)?)
}

/// Overrides the limits given; with `reset`, the tenant returns to the defaults first.
pub async fn set_velocity(
    vault: &AdminVault,
    tenant: &str,
    limits: VelocityLimits,
    reset: bool,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_velocity(&id, limits, reset, operator);
    answer(t.await.map_err(chained)?)
}

/// Whether the redirect reads cards from the query string (the document's sample request).
pub async fn set_legacy_query_string_cards(
    vault: &AdminVault,
    tenant: &str,
    on: bool,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_legacy_query_string_cards(&id, on, operator);
    answer(t.await.map_err(chained)?)
}

/// How the redirect takes a card: `server` or `stripe-js`.
pub async fn set_card_flow(
    vault: &AdminVault,
    tenant: &str,
    flow: &str,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let flow = cardvault::domain::CardFlow::parse(flow)?;
    answer(
        vault
            .set_card_flow(&id, flow, operator)
            .await
            .map_err(chained)?,
    )
}

pub async fn set_recaptcha_secret(
    vault: &AdminVault,
    tenant: &str,
    secret_id: String,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_recaptcha_secret(&id, secret_id, operator);
    answer(t.await.map_err(chained)?)
}

/// The tenant's bearer token lifetimes (a maximum from 1 s to 30 days).
pub async fn set_token_policy(
    vault: &AdminVault,
    tenant: &str,
    change: TokenPolicyChange,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.set_token_policy(&id, change, operator);
    answer(t.await.map_err(chained)?)
}

/// Adds (`trust`) or removes an (issuer, audience) pair of the tenant's trusted issuers.
pub async fn trust_issuer(
    vault: &AdminVault,
    tenant: &str,
    issuer: String,
    audience: String,
    trust: bool,
    operator: &Actor,
) -> Result<Value> {
    let id = tenant_id(tenant)?;
    let t = vault.trust_issuer(&id, &issuer, &audience, trust, operator);
    answer(t.await.map_err(chained)?)
}
