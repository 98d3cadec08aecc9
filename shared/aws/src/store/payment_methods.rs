//! Payment methods ([`PaymentMethodStore`]): they live in their customer's partition, so
//! one Query reads a customer with all of its payment methods.

use super::Backend;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Update};

use super::items::{self, PM_PREFIX};
use super::tx::{self, Write};
use super::{Store, StoreError};
use crate::domain::{Customer, CustomerId, PaymentMethod, PaymentMethodId, TenantId};
use crate::ports::{Created, DefaultRule, PaymentMethodStore};

#[async_trait]
impl PaymentMethodStore for Store {
    /// One round trip: the customer (for scope and its default) and the payment method
    /// any of the dedupe keys points at.
    async fn customer_and_dedupe(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        dedupe: &[String],
    ) -> Result<(Option<Customer>, Option<PaymentMethodId>), StoreError> {
        let mut keys = vec![items::customer_key(customer)];
        keys.extend(dedupe.iter().map(|d| items::dedupe_key(customer, d)));
        let mut found = None;
        let mut existing = None;
        for item in self.batch_get(keys, true).await? {
            match item
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some("CUSTOMER") => found = Some(items::from_item::<Customer>(item)?),
                Some(_) => existing = items::id_attr(&item, "paymentMethodId"),
                None => {}
            }
        }
        Ok((found.filter(|c| &c.tenant_id == tenant), existing))
    }

    /// Stores a payment method with its dedupe markers, and applies the default rule, in
    /// one transaction. The customer must still exist and belong to the tenant.
    async fn create_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<Created, StoreError> {
        let writes = self.payment_method_writes(pm, dedupe, rule)?;
        let failed = match self.transact(writes).await {
            Ok(()) => return Ok(Created::New),
            Err(tx::TxError::Cancelled(failed)) => failed,
            Err(e) => return Err(e.into()),
        };
        // In request order: the item, its dedupe keys, the customer.
        if failed.contains(&(dedupe.len() + 1)) {
            return Err(StoreError::Missing("customer"));
        }
        for (i, d) in dedupe.iter().enumerate() {
            if failed.contains(&(i + 1)) {
                let (_, existing) = self
                    .customer_and_dedupe(&pm.tenant_id, pm.customer_id, std::slice::from_ref(d))
                    .await?;
                if let Some(id) = existing {
                    return Ok(Created::Duplicate(id));
                }
            }
        }
        if failed.contains(&0) {
            return Err(StoreError::AlreadyExists);
        }
        Err(StoreError::Conflict)
    }

    /// A customer and all its payment methods, in one Query. `None` when the customer is
    /// absent or another tenant's.
    async fn customer_with_payment_methods(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
    ) -> Result<Option<(Customer, Vec<PaymentMethod>)>, StoreError> {
        let rows = self.customer_partition(customer).await?;
        let mut found = None;
        let mut methods = Vec::new();
        for item in rows {
            let sk = item
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if sk == "CUSTOMER" {
                found = Some(items::from_item::<Customer>(item)?);
            } else if sk.starts_with(PM_PREFIX) {
                methods.push(items::from_item::<PaymentMethod>(item)?);
            }
        }
        Ok(found
            .filter(|c| &c.tenant_id == tenant)
            .map(|c| (c, methods)))
    }

    /// A payment method of a known customer: one consistent GetItem.
    async fn payment_method_of(
        &self,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, StoreError> {
        self.get_item(items::payment_method_key(customer, id), true)
            .await?
            .map(items::from_item)
            .transpose()
    }

    /// The customer of a payment method by id alone: one Query on GSI1, which projects only
    /// `tenantId` and `customerId` of it (template.yaml), never card data.
    async fn locate_payment_method(
        &self,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("{PM_PREFIX}{id}")))
            .send()
            .await
            .backend()?;
        let in_tenant = |i: &super::Item| {
            i.get("tenantId")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(tenant.as_str())
        };
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .find(in_tenant)
            .and_then(|i| items::id_attr::<CustomerId>(&i, "customerId")))
    }

    /// Makes `pm` the customer's default: one transaction that checks the payment method
    /// still exists and sets the customer's single default attribute.
    async fn set_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(items::payment_method_key(customer, pm)))
            .condition_expression("attribute_exists(PK)");
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("SET defaultPaymentMethodId = :pm")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":pm", AttributeValue::N(pm.to_string()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()));
        Ok(self
            .transact(vec![tx::check(check)?, tx::update(update)?])
            .await?)
    }

    /// Clears a customer's default if it is still `pm`.
    async fn clear_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        // Not the default any more: nothing to clear, and its event is not written.
        let update = Update::builder()
            .set_key(Some(items::customer_key(customer)))
            .update_expression("REMOVE defaultPaymentMethodId")
            .condition_expression("tenantId = :tenant AND defaultPaymentMethodId = :pm")
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .expression_attribute_values(":pm", AttributeValue::N(pm.to_string()));
        self.update_if(update).await.map(|_| ())
    }

    /// Deletes a payment method and its dedupe markers. When it is the default, the
    /// customer's default moves to `next_default` (or is cleared) in the same transaction,
    /// on condition that it still is the default.
    async fn delete_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        was_default: bool,
        next_default: Option<PaymentMethodId>,
    ) -> Result<(), StoreError> {
        let table = &self.table;
        let mut writes = vec![tx::delete_if(
            table,
            items::payment_method_key(pm.customer_id, pm.id),
            Some("attribute_exists(PK)"),
        )?];
        for d in dedupe {
            writes.push(tx::delete_if(
                table,
                items::dedupe_key(pm.customer_id, d),
                None,
            )?);
        }
        // The customer's default decides what this delete may do, so the transaction holds
        // only if it is still what the caller read: a default set to this card meanwhile
        // must not be left pointing at nothing.
        let customer = items::customer_key(pm.customer_id);
        let this = AttributeValue::N(pm.id.to_string());
        if was_default {
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(customer))
                .condition_expression("defaultPaymentMethodId = :pm")
                .expression_attribute_values(":pm", this);
            let update = match next_default {
                Some(next) => update
                    .update_expression("SET defaultPaymentMethodId = :next")
                    .expression_attribute_values(":next", AttributeValue::N(next.to_string())),
                None => update.update_expression("REMOVE defaultPaymentMethodId"),
            };
            writes.push(tx::update(update)?);
        } else {
            writes.push(tx::check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(customer))
                    .condition_expression(
                        "attribute_not_exists(defaultPaymentMethodId) OR defaultPaymentMethodId <> :pm",
                    )
                    .expression_attribute_values(":pm", this),
            )?);
        }
        Ok(self.transact(writes).await?)
    }

    /// One transaction: the card as authenticated (on condition it is still the pending
    /// card read), its markers kept for good (no time to live), and the default rule.
    async fn activate_payment_method(
        &self,
        read: &PaymentMethod,
        active: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<(), StoreError> {
        let table = &self.table;
        let read_at = read
            .modified_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(tx::build_err)?;
        let mut writes = vec![tx::put_if_values(
            table,
            items::payment_method(active)?,
            "modifiedAt = :read AND #status = :pending",
            &[
                (":read", AttributeValue::S(read_at)),
                (":pending", AttributeValue::S("Pending".into())),
            ],
            &[("#status", "status")],
        )?];
        for d in dedupe {
            writes.push(tx::update(
                Update::builder()
                    .table_name(table)
                    .set_key(Some(items::dedupe_key(active.customer_id, d)))
                    .update_expression("REMOVE expiresAt")
                    .condition_expression("paymentMethodId = :pm")
                    .expression_attribute_values(":pm", AttributeValue::N(active.id.to_string())),
            )?);
        }
        writes.push(self.default_rule_write(active, rule)?);
        Ok(self.transact(writes).await?)
    }

    /// Counts a failed charge against a payment method and keeps its message.
    async fn record_payment_failure(
        &self,
        pm: &PaymentMethod,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(tx::build_err)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::payment_method_key(pm.customer_id, pm.id)))
            .update_expression(
                "SET failures = if_not_exists(failures, :zero) + :one, lastError = :m, modifiedAt = :now",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":m", AttributeValue::S(message.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The card is gone: the state is not what the caller read.
            Err(e) if super::condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

impl Store {
    /// A new payment method's writes, in this order: the item, its dedupe markers, and the
    /// customer's default rule (which also checks the customer is the tenant's).
    pub(super) fn payment_method_writes(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<Vec<Write>, StoreError> {
        // A card waiting for its authentication: the table's time to live deletes it, and
        // its markers, if it is never authenticated; and it is never the default.
        let expires = pm
            .pending
            .as_ref()
            .filter(|_| !pm.is_on_file())
            .map(|p| AttributeValue::N(p.expires_at.unix_timestamp().to_string()));
        let mut item = items::payment_method(pm)?;
        if let Some(at) = &expires {
            item.insert("expiresAt".into(), at.clone());
        }
        let mut writes = vec![tx::put_new(&self.table, item)?];
        for d in dedupe {
            let mut marker = items::dedupe(pm.customer_id, d, pm.id);
            if let Some(at) = &expires {
                marker.insert("expiresAt".into(), at.clone());
            }
            writes.push(tx::put_new(&self.table, marker)?);
        }
        let customer = items::customer_key(pm.customer_id);
        let tenant = AttributeValue::S(pm.tenant_id.to_string());
        if expires.is_some() {
            writes.push(tx::check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(customer))
                    .condition_expression("tenantId = :tenant")
                    .expression_attribute_values(":tenant", tenant),
            )?);
            return Ok(writes);
        }
        writes.push(self.default_rule_write(pm, rule)?);
        Ok(writes)
    }

    /// The customer's default under `rule`, on condition the customer is the tenant's.
    fn default_rule_write(
        &self,
        pm: &PaymentMethod,
        rule: DefaultRule,
    ) -> Result<Write, StoreError> {
        let set = match rule {
            DefaultRule::Always => "SET defaultPaymentMethodId = :pm",
            DefaultRule::IfNone => {
                "SET defaultPaymentMethodId = if_not_exists(defaultPaymentMethodId, :pm)"
            }
        };
        tx::update(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(items::customer_key(pm.customer_id)))
                .update_expression(set)
                .condition_expression("tenantId = :tenant")
                .expression_attribute_values(":tenant", AttributeValue::S(pm.tenant_id.to_string()))
                .expression_attribute_values(":pm", AttributeValue::N(pm.id.to_string())),
        )
    }
}
