//! The [`RehomeStore`] port: what re-homing vault-held cards reads and writes. Its progress
//! lives beside each customer: `REHOME#<target>` under the customer's partition holds the
//! Stripe customer made at the target, so that an interrupted run finds it again.

use super::Backend;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::items::{self, PM_PREFIX};
use super::{condition_failed, tx, Store, StoreError};
use crate::domain::{Customer, CustomerId, PaymentMethod, StripeRef, TenantId};
use crate::ports::{RehomeCustomer, RehomeStore};

const REHOME_PREFIX: &str = "REHOME#";

fn rehome_key(customer: CustomerId, target: &str) -> super::Item {
    items::key(
        items::customer_pk(customer),
        &format!("{REHOME_PREFIX}{target}"),
    )
}

fn now() -> Result<String, StoreError> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(tx::build_err)
}

/// The tenant-level marker of a re-homing target: in GSI1 under the account, as a Connect
/// tenant's own item is (`STRIPEACCT#<acct>` / `TENANT#<t>`), so that one Query finds both.
const REHOME_TARGET_PREFIX: &str = "REHOMETARGET#";

fn rehome_target_key(tenant: &TenantId, account: &str) -> super::Item {
    items::key(
        items::tenant_pk(tenant),
        &format!("{REHOME_TARGET_PREFIX}{account}"),
    )
}

#[async_trait]
impl RehomeStore for Store {
    async fn record_rehome_target(
        &self,
        tenant: &TenantId,
        account: &str,
        proof: &str,
    ) -> Result<(), StoreError> {
        let mut item = rehome_target_key(tenant, account);
        item.insert(
            "GSI1PK".into(),
            AttributeValue::S(items::stripe_account_gsi1pk(account)),
        );
        item.insert("GSI1SK".into(), AttributeValue::S(items::tenant_pk(tenant)));
        item.insert("tenantId".into(), AttributeValue::S(tenant.to_string()));
        item.insert("proof".into(), AttributeValue::S(proof.to_owned()));
        item.insert("createdAt".into(), AttributeValue::S(now()?));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .backend()?;
        Ok(())
    }

    /// A marker written by a run before targets were registered has no `proof`: not one.
    async fn rehome_target_registered(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(rehome_target_key(tenant, account)))
            .consistent_read(true)
            .send()
            .await
            .backend()?;
        Ok(out.item().is_some_and(|i| {
            i.get("proof").and_then(|v| v.as_s().ok()).is_some()
                && i.get("tenantId").and_then(|v| v.as_s().ok()) == Some(&tenant.to_string())
        }))
    }

    /// One Query of GSI1 (`TENANT#<t>`, `CUST#…`), which projects the customer id: the
    /// order is GSI1SK's, as text, and `after` starts just past its own key.
    async fn tenant_customer_ids(
        &self,
        tenant: &TenantId,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<(Vec<CustomerId>, bool), StoreError> {
        // "CUST#12#" sorts after "CUST#12" and before "CUST#120"; "CUST$" after every "CUST#…".
        let from = after.map_or_else(|| "CUST#".to_owned(), |a| format!("CUST#{a}#"));
        // One more than asked: whether more follow is then known, not guessed (DynamoDB
        // returns a LastEvaluatedKey whenever Limit stopped it, even at the very end).
        let want = limit.clamp(1, 1000);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk AND GSI1SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(items::tenant_pk(tenant)))
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S("CUST$".into()))
            .limit(want as i32 + 1)
            .send()
            .await
            .backend()?;
        let read = out.items().len();
        // Past `want` items read, or stopped short of them by the 1 MB page size.
        let more = read > want || out.last_evaluated_key().is_some();
        let ids = out
            .items()
            .iter()
            .filter_map(|i| {
                i.get("GSI1SK")?
                    .as_s()
                    .ok()?
                    .strip_prefix("CUST#")?
                    .parse()
                    .ok()
            })
            .filter_map(|n: u64| CustomerId::try_from(n).ok())
            .take(want)
            .collect();
        Ok((ids, more))
    }

    async fn customer_for_rehome(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
    ) -> Result<Option<RehomeCustomer>, StoreError> {
        let rows = self.customer_partition(customer).await?;
        let (mut found, mut payment_methods, mut target_customer) = (None, Vec::new(), None);
        let progress = format!("{REHOME_PREFIX}{target}");
        for item in rows {
            let sk = item
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == "CUSTOMER" {
                found = Some(items::from_item::<Customer>(item)?);
            } else if sk.starts_with(PM_PREFIX) {
                payment_methods.push(items::from_item::<PaymentMethod>(item)?);
            } else if sk == progress {
                target_customer = item
                    .get("stripeCustomerId")
                    .and_then(|v| v.as_s().ok())
                    .cloned();
            }
        }
        Ok(found
            .filter(|c| &c.tenant_id == tenant)
            .map(|customer| RehomeCustomer {
                customer,
                payment_methods,
                target_customer,
            }))
    }

    async fn record_target_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
        stripe_customer: &str,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rehome_key(customer, target)))
            .update_expression(
                "SET stripeCustomerId = if_not_exists(stripeCustomerId, :s), tenantId = :t",
            )
            .condition_expression("attribute_not_exists(PK) OR tenantId = :t")
            .expression_attribute_values(":s", AttributeValue::S(stripe_customer.to_owned()))
            .expression_attribute_values(":t", AttributeValue::S(tenant.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => super::updated_stripe_customer(out.attributes),
            // Recorded by another tenant for this customer id.
            Err(e) if condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    /// One TransactWriteItems: the payment method (on condition of its old references),
    /// the old `stripe:` marker out, the new one in.
    async fn rehome_payment_method(
        &self,
        pm: &PaymentMethod,
        to: &StripeRef,
        target: &str,
    ) -> Result<(), StoreError> {
        let from = pm.stripe.as_ref().ok_or(StoreError::Conflict)?;
        let table = &self.table;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        // The webhooks' index follows the references (items::stripe_ref_keys).
        let (index_pk, index_sk) = items::stripe_ref_keys(&pm.tenant_id, pm.id, to);
        let mut writes = vec![tx::update(
            Update::builder()
                .table_name(table)
                .set_key(Some(items::payment_method_key(pm.customer_id, pm.id)))
                .update_expression(
                    "SET #s = :to, stripeHome = :home, modifiedAt = :now, STRIPEPK = :spk, STRIPESK = :ssk",
                )
                // Removed at Stripe meanwhile (a webhook): never made chargeable again;
                // the conflict detaches the copy.
                .condition_expression(
                    "tenantId = :t AND #s.customerId = :oc AND #s.sourceId = :os \
                     AND attribute_not_exists(removedAtStripe)",
                )
                .expression_attribute_names("#s", "stripe")
                .expression_attribute_values(":to", serde_dynamo::to_attribute_value(to).backend()?)
                .expression_attribute_values(":home", s(target))
                .expression_attribute_values(":spk", s(&index_pk))
                .expression_attribute_values(":ssk", s(&index_sk))
                .expression_attribute_values(":now", AttributeValue::S(now()?))
                .expression_attribute_values(":t", s(pm.tenant_id.as_str()))
                .expression_attribute_values(":oc", s(&from.customer_id))
                .expression_attribute_values(":os", s(&from.source_id)),
        )?];
        let (old, new) = (
            crate::domain::stripe_dedupe_key(&from.source_id),
            crate::domain::stripe_dedupe_key(&to.source_id),
        );
        writes.push(tx::delete_if(
            table,
            items::dedupe_key(pm.customer_id, &old),
            None,
        )?);
        writes.push(tx::put_new(
            table,
            items::dedupe(pm.customer_id, &new, pm.id),
        )?);
        Ok(self.transact(writes).await?)
    }

    async fn switch_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        from: Option<&str>,
        stripe_customer: &str,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("SET stripeCustomerId = :to")
            .expression_attribute_values(":to", AttributeValue::S(stripe_customer.to_owned()))
            .expression_attribute_values(":t", AttributeValue::S(tenant.to_string()));
        let update = match from {
            Some(old) => update
                .condition_expression("tenantId = :t AND stripeCustomerId = :from")
                .expression_attribute_values(":from", AttributeValue::S(old.to_owned())),
            None => update
                .condition_expression("tenantId = :t AND attribute_not_exists(stripeCustomerId)"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}
