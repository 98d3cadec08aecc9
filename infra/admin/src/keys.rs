//! Private API keys: issued once in plain text, stored only as their hash.

use cardvault::domain::ApiKeyRecord;
use cardvault::secret::{random_token, ApiKey};
use cardvault_aws::store::Store;
use serde_json::{json, Value};

use crate::tenants::load;
use crate::Result;

pub async fn issue(store: &Store, tenant: &str) -> Result<Value> {
    let t = load(store, tenant).await?;
    let key = ApiKey::generate();
    let record = ApiKeyRecord {
        hash: key.hash(),
        key_id: random_token("key_", 12),
        tenant_id: t.id,
        created_at: time::OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    store.create_api_key(&record).await?;
    Ok(json!({ "keyId": record.key_id, "privateApiKey": key.reveal() }))
}

pub async fn revoke(store: &Store, tenant: &str, key_id: String) -> Result<Value> {
    let t = load(store, tenant).await?;
    store.revoke_api_key(&t.id, &key_id).await?;
    Ok(json!({ "keyId": key_id, "revoked": true }))
}
