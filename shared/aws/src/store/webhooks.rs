//! What Stripe's webhooks read and write ([`StripeEventStore`]): cards by their Stripe ids
//! (the sparse, keys-only index [`items::STRIPE_REF_INDEX`]), Connect tenants by account
//! (GSI1), and the conditional writes of an event.

use super::Backend;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, Update};

use super::items::{self, s};
use super::links::{user_pk, LINK_PREFIX};
use super::tx::{self, build_err};
use super::{condition_failed, Item, Store, StoreError};
use crate::domain::{CustomerId, PaymentMethod, PaymentMethodId, TenantId, Timestamp};
use crate::ports::{DefaultMove, StripeEventStore};

fn rfc3339(t: Timestamp) -> Result<String, StoreError> {
    t.format(&time::format_description::well_known::Rfc3339)
        .map_err(build_err)
}

/// The number after `prefix` in a key (`CUST#12`, `PM#7`).
fn id_after<T: TryFrom<u64>>(item: &Item, attr: &str, prefix: &str) -> Option<T> {
    item.get(attr)?
        .as_s()
        .ok()?
        .strip_prefix(prefix)?
        .parse::<u64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl StripeEventStore for Store {
    async fn cards_by_stripe_ref(
        &self,
        tenant: &TenantId,
        stripe_customer: &str,
        source: Option<&str>,
    ) -> Result<Vec<(CustomerId, PaymentMethodId)>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(items::STRIPE_REF_INDEX)
            .expression_attribute_values(":pk", s(items::stripe_ref_pk(tenant, stripe_customer)));
        q = match source {
            Some(source) => q
                .key_condition_expression("STRIPEPK = :pk AND begins_with(STRIPESK, :sk)")
                .expression_attribute_values(":sk", s(items::stripe_ref_sk_prefix(source))),
            None => q.key_condition_expression("STRIPEPK = :pk"),
        };
        let rows = q
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .backend()?;
        Ok(rows
            .iter()
            .filter_map(|item| {
                Some((
                    id_after(item, "PK", "CUST#")?,
                    id_after(item, "SK", items::PM_PREFIX)?,
                ))
            })
            .collect())
    }

    async fn tenants_by_stripe_account(&self, account: &str) -> Result<Vec<TenantId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(items::stripe_account_gsi1pk(account)))
            .send()
            .await
            .backend()?;
        // The tenants connected through the account, and those moving their cards there
        // (`RehomeStore::record_rehome_target`): one each.
        let tenants: std::collections::BTreeSet<TenantId> = out
            .items()
            .iter()
            .filter_map(|item| item.get("GSI1SK")?.as_s().ok()?.strip_prefix("TENANT#"))
            .filter_map(|id| TenantId::try_from(id.to_owned()).ok())
            .collect();
        Ok(tenants.into_iter().collect())
    }

    /// One TransactWriteItems: the card, on condition its `modifiedAt` is still what was
    /// read; and the customer's default moved on condition it is still this card (or, for a
    /// card newly removed that was not the default, checked to be still another).
    async fn save_stripe_change(
        &self,
        read: &PaymentMethod,
        changed: &PaymentMethod,
        default: Option<DefaultMove>,
    ) -> Result<(), StoreError> {
        let table = &self.table;
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(items::payment_method(changed)?))
            .condition_expression("modifiedAt = :read")
            .expression_attribute_values(":read", s(rfc3339(read.modified_at)?))
            .build()
            .map_err(build_err)?;
        let mut writes = vec![aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build()];
        let customer = items::customer_key(changed.customer_id);
        let this = n(changed.id);
        match default {
            Some(DefaultMove { from, to }) => {
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(customer))
                    .condition_expression("defaultPaymentMethodId = :pm")
                    .expression_attribute_values(":pm", n(from));
                let update = match to {
                    Some(next) => update
                        .update_expression("SET defaultPaymentMethodId = :next")
                        .expression_attribute_values(":next", n(next)),
                    None => update.update_expression("REMOVE defaultPaymentMethodId"),
                };
                writes.push(tx::update(update)?);
            }
            None if changed.removed_at_stripe.is_some() && read.removed_at_stripe.is_none() => {
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
            None => {}
        }
        Ok(self.transact(writes).await?)
    }

    async fn revoke_stripe_connection(
        &self,
        tenant: &TenantId,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .set_key(Some(items::tenant_key(tenant)))
            .update_expression("SET stripeRevokedAt = :at")
            .condition_expression(
                "stripe.kind = :connect AND stripe.accountId = :acct \
                 AND attribute_not_exists(stripeRevokedAt)",
            )
            .expression_attribute_values(":at", s(rfc3339(at)?))
            .expression_attribute_values(":connect", s("connect"))
            .expression_attribute_values(":acct", s(account));
        self.update_if(update).await
    }

    /// A Query of the user's links (a user has few), then an UpdateItem of the one holding
    /// this card.
    async fn update_link_card(
        &self,
        tenant: &TenantId,
        owner: &str,
        pm: &PaymentMethod,
    ) -> Result<(), StoreError> {
        let pk = user_pk(tenant, owner);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :link)")
            .filter_expression("paymentMethodId = :pm")
            .expression_attribute_values(":pk", s(pk.as_str()))
            .expression_attribute_values(":link", s(LINK_PREFIX))
            .expression_attribute_values(":pm", n(pm.id))
            .consistent_read(true)
            .send()
            .await
            .backend()?;
        let (brand, exp_month, exp_year) = match &pm.instrument {
            crate::domain::Instrument::Card {
                brand,
                exp_month,
                exp_year,
                ..
            } => (brand.stripe_name(), *exp_month, *exp_year),
            crate::domain::Instrument::Ach { .. } => return Ok(()),
        };
        for link in out.items() {
            let Some(sk) = link.get("SK").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            let mut set = String::from(
                "SET #src.brand = :brand, #src.last4 = :last4, #src.exp_month = :m, \
                 #src.exp_year = :y, updatedAt = :now",
            );
            let mut u = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(items::key(pk.clone(), sk)))
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#src", "source")
                .expression_attribute_values(":brand", s(brand))
                .expression_attribute_values(":last4", s(pm.last4.as_str()))
                .expression_attribute_values(":m", n(exp_month))
                .expression_attribute_values(":y", n(exp_year))
                .expression_attribute_values(":now", s(rfc3339(pm.modified_at)?));
            if let Some(removed) = pm.removed_at_stripe {
                set.push_str(", deletedAt = if_not_exists(deletedAt, :removed)");
                u = u.expression_attribute_values(":removed", s(rfc3339(removed)?));
            }
            // An authenticated card's link is listed from now on.
            if pm.is_on_file() {
                set.push_str(" REMOVE pending");
            }
            match u.update_expression(set).send().await {
                Ok(_) => {}
                // Deleted meanwhile: nothing left to show.
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(StoreError::backend(e)),
            }
        }
        Ok(())
    }
}

/// What [`Store::backfill_stripe_refs`] did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backfill {
    /// Cards that gained their index keys (in a dry run: would gain).
    pub indexed: u64,
    /// Cards whose Stripe references changed between the scan and the write: the write
    /// that changed them set the keys.
    pub changed_meanwhile: u64,
    /// Items that could not be read as a card (`PK`/`SK`), left as they are.
    pub unreadable: Vec<String>,
}

/// The attributes of a card the index keys are made from: nothing else is read (no
/// ciphertext, no fingerprint).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Indexable {
    id: PaymentMethodId,
    customer_id: CustomerId,
    tenant_id: TenantId,
    stripe: crate::domain::StripeRef,
}

impl Store {
    /// Gives every card held at Stripe but written before the [`items::STRIPE_REF_INDEX`]
    /// existed its index keys, so that Stripe's webhooks find it (an admin migration, like
    /// `migrate-pans`; idempotent: a second run finds nothing). One Scan of the table,
    /// projecting only what the keys are made from, then one conditional UpdateItem per
    /// such card, on condition that its Stripe references are still the ones read.
    pub async fn backfill_stripe_refs(&self, dry_run: bool) -> Result<Backfill, StoreError> {
        let mut done = Backfill::default();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "begins_with(SK, :pm) AND attribute_exists(stripe) AND attribute_not_exists(STRIPEPK)",
            )
            .projection_expression("PK, SK, id, customerId, tenantId, stripe")
            .expression_attribute_values(":pm", s(items::PM_PREFIX))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.backend()?;
            let Ok(card) = serde_dynamo::from_item::<_, Indexable>(item.clone()) else {
                let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                done.unreadable.push(format!(
                    "{}/{}",
                    key("PK").unwrap_or_default(),
                    key("SK").unwrap_or_default()
                ));
                continue;
            };
            if dry_run {
                done.indexed += 1;
                continue;
            }
            let stripe = &card.stripe;
            let (pk, sk) = items::stripe_ref_keys(&card.tenant_id, card.id, stripe);
            let written = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(items::payment_method_key(card.customer_id, card.id)))
                .update_expression("SET STRIPEPK = :spk, STRIPESK = :ssk")
                .condition_expression(
                    "attribute_not_exists(STRIPEPK) AND #s.customerId = :c AND #s.sourceId = :src",
                )
                .expression_attribute_names("#s", "stripe")
                .expression_attribute_values(":spk", s(pk))
                .expression_attribute_values(":ssk", s(sk))
                .expression_attribute_values(":c", s(stripe.customer_id.as_str()))
                .expression_attribute_values(":src", s(stripe.source_id.as_str()))
                .send()
                .await;
            match written {
                Ok(_) => done.indexed += 1,
                Err(e) if condition_failed(&e) => done.changed_meanwhile += 1,
                Err(e) => return Err(StoreError::backend(e)),
            }
        }
        Ok(done)
    }
}
