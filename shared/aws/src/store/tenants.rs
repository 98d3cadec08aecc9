//! Tenants and their credentials, as requests read them ([`TenantStore`]), and the writes
//! only the admin CLI makes.

use super::Backend;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items;
use super::tx::{self, Write};
use super::{build_err, Store, StoreError};
use crate::domain::{ApiKeyRecord, KeyHash, Origin, Tenant, TenantId};
use crate::ports::{TenantAdminStore, TenantStore};

#[async_trait]
impl TenantStore for Store {
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(items::tenant_key(id)).await
    }

    /// The tenant a public API key belongs to.
    async fn tenant_by_public_key(&self, key: &str) -> Result<Option<TenantId>, StoreError> {
        let item = self.get_item(items::public_key_key(key), false).await?;
        Ok(item
            .and_then(|i| i.get("tenantId").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|s| TenantId::try_from(s).ok()))
    }

    /// Whether any tenant allows this origin (one Query, at most one item read).
    async fn origin_allowed(&self, origin: &Origin) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(items::origin_pk(origin)))
            .limit(1)
            .send()
            .await
            .backend()?;
        Ok(out.count() > 0)
    }

    /// One GetItem on the key's hash.
    async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get(items::api_key_key(hash)).await
    }
}

/// The operator's writes, as the port (`vault::admin`) makes them.
#[async_trait]
impl TenantAdminStore for Store {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        Store::create_tenant(self, tenant).await
    }

    async fn save_tenant(&self, tenant: &Tenant, old: &Tenant) -> Result<(), StoreError> {
        Store::save_tenant(self, tenant, old).await
    }

    async fn create_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        Store::create_api_key(self, record).await
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Store::list_api_keys(self, tenant).await
    }

    async fn revoke_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<(), StoreError> {
        Store::revoke_api_key(self, tenant, key_id).await
    }
}

/// The operator's writes ([`TenantAdminStore`]), also callable without the port in scope
/// (the integration tests write around the rules through them).
impl Store {
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.put_new(items::tenant(tenant)?).await
    }

    /// Replaces a tenant's settings. The public key's lookup item and the origin index
    /// move with it in the same transaction, so neither ever points at the wrong tenant.
    pub async fn save_tenant(&self, tenant: &Tenant, old: &Tenant) -> Result<(), StoreError> {
        let table = &self.table;
        // A webhook may revoke the Stripe connection between the admin's read and this
        // write: the write holds only if the mark is still as read (`Conflict` otherwise), so
        // a revocation is never silently undone.
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(table)
            .set_item(Some(items::tenant(tenant)?));
        let put = match old.stripe_revoked_at {
            None => put.condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(stripeRevokedAt)",
            ),
            Some(at) => put
                .condition_expression("attribute_exists(PK) AND stripeRevokedAt = :revoked")
                .expression_attribute_values(
                    ":revoked",
                    AttributeValue::S(
                        at.format(&time::format_description::well_known::Rfc3339)
                            .map_err(build_err)?,
                    ),
                ),
        };
        let mut writes: Vec<Write> = vec![aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put.build().map_err(build_err)?)
            .build()];
        // The origin index answers CORS preflights, which name no tenant.
        let origins = |t: &Tenant| -> std::collections::BTreeSet<Origin> {
            t.allowed_origins.iter().map(|o| Origin::new(o)).collect()
        };
        let (now, before) = (origins(tenant), origins(old));
        for gone in before.difference(&now) {
            writes.push(tx::delete_if(
                table,
                items::origin_key(gone, &tenant.id),
                None,
            )?);
        }
        for added in now.difference(&before) {
            writes.push(tx::put_if(
                table,
                items::origin_key(added, &tenant.id),
                None,
            )?);
        }
        if tenant.public_api_key != old.public_api_key {
            if let Some(old_key) = &old.public_api_key {
                writes.push(tx::delete_if(table, items::public_key_key(old_key), None)?);
            }
            if let Some(new_key) = &tenant.public_api_key {
                writes.push(tx::put_new(table, items::public_key(new_key, &tenant.id))?);
            }
        }
        Ok(self.transact(writes).await?)
    }

    pub async fn create_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(items::api_key(record)?).await
    }

    pub async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.query_gsi1(&items::tenant_pk(tenant), "APIKEY#").await
    }

    /// Marks a key revoked; it answers 401 from then on.
    pub async fn revoke_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<(), StoreError> {
        let record = self
            .list_api_keys(tenant)
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id)
            .ok_or(StoreError::Missing("api key"))?;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(build_err)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::api_key_key(&record.hash)))
            .update_expression("SET revokedAt = if_not_exists(revokedAt, :now)")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":now", AttributeValue::S(now))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .send()
            .await
            .backend()?;
        Ok(())
    }
}
