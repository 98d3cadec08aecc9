//! Private API keys: issued once in plain text, stored only as their hash
//! (`cardvault::vault::admin`).

use cardvault::domain::Actor;
use serde_json::{json, Value};

use crate::tenants::tenant_id;
use crate::vault::{chained, AdminVault};
use crate::Result;

pub async fn issue(vault: &AdminVault, tenant: &str, operator: &Actor) -> Result<Value> {
    let issued = vault
        .issue_api_key(&tenant_id(tenant)?, operator)
        .await
        .map_err(chained)?;
    Ok(json!({ "keyId": issued.key_id, "privateApiKey": issued.key.reveal() }))
}

pub async fn revoke(
    vault: &AdminVault,
    tenant: &str,
    key_id: String,
    operator: &Actor,
) -> Result<Value> {
    vault
        .revoke_api_key(&tenant_id(tenant)?, &key_id, operator)
        .await
        .map_err(chained)?;
    Ok(json!({ "keyId": key_id, "revoked": true }))
}
