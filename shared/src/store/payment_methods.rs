//! Payment methods: they live in their customer's partition, so one Query reads a customer
//! with all of its payment methods.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, TransactWriteItem, Update,
};

use super::items::{self, PM_PREFIX};
use super::tx::{build_err, cancelled_by_conditions, put_new};
use super::{Item, Store, StoreError};
use crate::domain::{Customer, CustomerId, PaymentMethod, PaymentMethodId, TenantId};

/// What creating a payment method did.
#[derive(Debug)]
pub enum Created {
    New,
    /// A payment method with one of the dedupe keys exists already: this one.
    Duplicate(PaymentMethodId),
}

/// The default-card rule applied at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultRule {
    /// Becomes the default only if the customer has none (the first card).
    IfNone,
    /// Becomes the default.
    Always,
}

impl Store {
    /// One round trip: the customer (for scope and its default) and, if given, the
    /// payment method a dedupe key points at.
    pub async fn customer_and_dedupe(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        dedupe: Option<&str>,
    ) -> Result<(Option<Customer>, Option<PaymentMethodId>), StoreError> {
        let mut keys = vec![items::customer_key(customer)];
        if let Some(d) = dedupe {
            keys.push(items::dedupe_key(customer, d));
        }
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
    pub async fn create_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<Created, StoreError> {
        let mut writes = vec![put_new(&self.table, items::payment_method(pm)?)?];
        for d in dedupe {
            writes.push(put_new(
                &self.table,
                items::dedupe(pm.customer_id, d, pm.id),
            )?);
        }
        let customer = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(pm.customer_id)))
            .expression_attribute_values(":tenant", AttributeValue::S(pm.tenant_id.to_string()))
            .expression_attribute_values(":pm", AttributeValue::N(pm.id.to_string()));
        let customer = match rule {
            DefaultRule::Always => customer
                .update_expression("SET defaultPaymentMethodId = :pm")
                .condition_expression("tenantId = :tenant"),
            DefaultRule::IfNone => customer
                .update_expression(
                    "SET defaultPaymentMethodId = if_not_exists(defaultPaymentMethodId, :pm)",
                )
                .condition_expression("tenantId = :tenant"),
        };
        writes.push(
            TransactWriteItem::builder()
                .update(customer.build().map_err(build_err)?)
                .build(),
        );

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(e) => {
                // In request order: the item, its dedupe keys, the customer.
                let failed_items = cancelled_by_conditions(&e);
                let failed = |i: usize| failed_items.contains(&i);
                if failed(dedupe.len() + 1) {
                    return Err(StoreError::Missing("customer"));
                }
                for (i, d) in dedupe.iter().enumerate() {
                    if failed(i + 1) {
                        let (_, existing) = self
                            .customer_and_dedupe(&pm.tenant_id, pm.customer_id, Some(d))
                            .await?;
                        if let Some(id) = existing {
                            return Ok(Created::Duplicate(id));
                        }
                    }
                }
                if failed(0) {
                    return Err(StoreError::AlreadyExists);
                }
                Err(e.into())
            }
        }
    }

    /// A customer and all its payment methods, in one Query. `None` when the customer is
    /// absent or another tenant's.
    pub async fn customer_with_payment_methods(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
    ) -> Result<Option<(Customer, Vec<PaymentMethod>)>, StoreError> {
        let rows = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(items::customer_pk(customer)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await?;
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
    pub async fn payment_method_of(
        &self,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, StoreError> {
        self.get_item(items::payment_method_key(customer, id), true)
            .await?
            .map(items::from_item)
            .transpose()
    }

    /// A payment method by id alone (GSI1), within the tenant.
    pub async fn payment_method(
        &self,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("{PM_PREFIX}{id}")))
            .send()
            .await?;
        let pm = out
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(items::from_item::<PaymentMethod>)
            .transpose()?;
        Ok(pm.filter(|p| &p.tenant_id == tenant))
    }

    /// Makes `pm` the customer's default: one transaction that checks the payment method
    /// still exists and sets the customer's single default attribute.
    pub async fn set_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(items::payment_method_key(customer, pm)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(build_err)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("SET defaultPaymentMethodId = :pm")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":pm", AttributeValue::N(pm.to_string()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .build()
            .map_err(build_err)?;
        self.transact(vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().update(update).build(),
        ])
        .await
    }

    /// Deletes a payment method and its dedupe markers. When it is the default, the
    /// customer's default moves to `next_default` (or is cleared) in the same transaction,
    /// on condition that it still is the default.
    pub async fn delete_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        was_default: bool,
        next_default: Option<PaymentMethodId>,
    ) -> Result<(), StoreError> {
        let mut writes = vec![TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(items::payment_method_key(pm.customer_id, pm.id)))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .map_err(build_err)?,
            )
            .build()];
        for d in dedupe {
            writes.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(items::dedupe_key(pm.customer_id, d)))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        // The customer's default decides what this delete may do, so the transaction holds
        // only if it is still what the caller read: a default set to this card meanwhile
        // must not be left pointing at nothing.
        if !was_default {
            writes.push(
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(items::customer_key(pm.customer_id)))
                            .condition_expression(
                                "attribute_not_exists(defaultPaymentMethodId) OR defaultPaymentMethodId <> :pm",
                            )
                            .expression_attribute_values(":pm", AttributeValue::N(pm.id.to_string()))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        if was_default {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(items::customer_key(pm.customer_id)))
                .condition_expression("defaultPaymentMethodId = :pm")
                .expression_attribute_values(":pm", AttributeValue::N(pm.id.to_string()));
            let update = match next_default {
                Some(next) => update
                    .update_expression("SET defaultPaymentMethodId = :next")
                    .expression_attribute_values(":next", AttributeValue::N(next.to_string())),
                None => update.update_expression("REMOVE defaultPaymentMethodId"),
            };
            writes.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(build_err)?)
                    .build(),
            );
        }
        self.transact(writes).await
    }

    /// One page of a tenant's payment methods through GSI2: newest first (`newest_first`)
    /// or oldest first, strictly after `after` (a sort key from a previous page). Answers
    /// the page and whether more lie beyond it.
    pub async fn tenant_payment_methods(
        &self,
        tenant: &TenantId,
        limit: usize,
        after: Option<&str>,
        newest_first: bool,
    ) -> Result<(Vec<PaymentMethod>, bool), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .scan_index_forward(!newest_first)
            .limit(limit as i32 + 1)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(items::tenant_payment_methods_pk(tenant)),
            );
        query = match after {
            Some(sk) => query
                .key_condition_expression(if newest_first {
                    "GSI2PK = :pk AND GSI2SK < :after"
                } else {
                    "GSI2PK = :pk AND GSI2SK > :after"
                })
                .expression_attribute_values(":after", AttributeValue::S(sk.to_owned())),
            None => query.key_condition_expression("GSI2PK = :pk"),
        };
        let out = query.send().await?;
        let mut page = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(items::from_item::<PaymentMethod>)
            .collect::<Result<Vec<_>, _>>()?;
        let more = page.len() > limit;
        page.truncate(limit);
        Ok((page, more))
    }

    /// Customers by id, in one BatchGetItem; other tenants' are left out.
    pub async fn customers(
        &self,
        tenant: &TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError> {
        let mut unique: Vec<CustomerId> = ids.to_vec();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let keys = unique.into_iter().map(items::customer_key).collect();
        self.batch_get(keys, false)
            .await?
            .into_iter()
            .map(items::from_item::<Customer>)
            .filter(|c| c.as_ref().map_or(true, |c| &c.tenant_id == tenant))
            .collect()
    }

    /// Clears a customer's default if it is still `pm`.
    pub async fn clear_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("REMOVE defaultPaymentMethodId")
            .condition_expression("tenantId = :tenant AND defaultPaymentMethodId = :pm")
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .expression_attribute_values(":pm", AttributeValue::N(pm.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every item of `keys` that exists (at most 100 keys), retrying the keys DynamoDB
    /// leaves unprocessed under load, so that "absent" never means "throttled".
    async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(build_err)?,
        );
        for attempt in 0..5u32 {
            let Some(request) = pending.take() else {
                return Ok(found);
            };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
        }
        match pending {
            None => Ok(found),
            Some(_) => Err(StoreError::Dynamo(
                "BatchGetItem left keys unprocessed".into(),
            )),
        }
    }

    /// Links a customer to its Stripe customer, unless it already has one; answers the link
    /// that holds (a concurrent first card may have set it first).
    pub async fn link_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        stripe_customer: &str,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("SET stripeCustomerId = if_not_exists(stripeCustomerId, :s)")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":s", AttributeValue::S(stripe_customer.to_owned()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await?;
        out.attributes
            .and_then(|a| {
                a.get("stripeCustomerId")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            })
            .ok_or(StoreError::Missing("stripeCustomerId"))
    }

    /// Counts a failed charge against a payment method and keeps its message.
    pub async fn record_payment_failure(
        &self,
        pm: &PaymentMethod,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = crate::domain::now()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(build_err)?;
        self.client
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
            .await?;
        Ok(())
    }

    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }
}
