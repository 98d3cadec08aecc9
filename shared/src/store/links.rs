//! External references (a user's or an account's vault customer) and the user API's Stripe
//! customer links. Key layout: the table in `store/mod.rs`.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::items::{self, key, s};
use super::tx::{build_err, cancelled_by_conditions, put_new};
use super::{Item, Store, StoreError};
use crate::domain::{Customer, CustomerId, PaymentMethod, StripeCustomerLink, TenantId};

const EXTREF_SK: &str = "EXTREF";
const TOKEN_SK: &str = "STOKEN";
const LINK_PREFIX: &str = "SCUS#";

/// `EXTREF#<tid>#<ref>`: at most one customer per external reference and tenant.
fn extref_key(tenant: &TenantId, ext_ref: &str) -> Item {
    key(format!("EXTREF#{tenant}#{ext_ref}"), EXTREF_SK)
}

/// `USER#<tid>#<sub>`: a user's partition. The tenant id holds no `#`, so the key is
/// unambiguous whatever the `sub`.
fn user_pk(tenant: &TenantId, owner: &str) -> String {
    format!("USER#{tenant}#{owner}")
}

/// Sorts by creation time: microseconds since the epoch, zero-padded (RFC 3339 strings with
/// a variable number of fraction digits do not sort as text), then the UUID.
fn link_sk(link: &StripeCustomerLink) -> String {
    let micros = link.created_at.unix_timestamp_nanos() / 1_000;
    format!("{LINK_PREFIX}{micros:020}#{}", link.id)
}

/// `STOKEN#<tid>#<sha256 of the token>`: a card token is used once. Only its hash is kept.
fn token_key(tenant: &TenantId, token_hash: &str) -> Item {
    key(format!("STOKEN#{tenant}#{token_hash}"), TOKEN_SK)
}

/// Who used a card token, and for which link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUse {
    pub owner: String,
    link_sk: String,
}

/// What storing a link did.
#[derive(Debug)]
pub enum LinkWrite {
    Stored,
    /// The token was used already, for this link (a concurrent retry, or another user).
    TokenUsed(TokenUse),
    /// The vault customer is gone (deleted meanwhile) or is another tenant's.
    CustomerGone,
}

impl Store {
    /// The customer holding an external reference (`user:<sub>`, `account:<id>`) in a
    /// tenant. One GetItem on the reference, one on the customer.
    pub async fn customer_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let id = self
            .get_item(extref_key(tenant, ext_ref), true)
            .await?
            .and_then(|i| items::id_attr::<CustomerId>(&i, "customerId"));
        match id {
            Some(id) => self.get_customer(tenant, id).await,
            None => Ok(None),
        }
    }

    /// Creates a customer with an external reference, in one transaction with the
    /// reference's uniqueness item, so two concurrent first requests cannot make two
    /// customers. `AlreadyExists` when the reference (or, rarely, the id) is taken: the
    /// caller reads the reference again.
    pub async fn create_customer_with_ref(
        &self,
        customer: &Customer,
        ext_ref: &str,
    ) -> Result<(), StoreError> {
        let mut reference = extref_key(&customer.tenant_id, ext_ref);
        reference.insert(
            "customerId".into(),
            AttributeValue::N(customer.id.to_string()),
        );
        let writes = vec![
            put_new(&self.table, items::customer(customer)?)?,
            put_new(&self.table, reference)?,
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if !cancelled_by_conditions(&e).is_empty() => Err(StoreError::AlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    /// Who used a card token in this tenant, if anyone did.
    pub async fn token_use(
        &self,
        tenant: &TenantId,
        token_hash: &str,
    ) -> Result<Option<TokenUse>, StoreError> {
        let item = self.get_item(token_key(tenant, token_hash), true).await?;
        Ok(item.and_then(|i| {
            let get = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
            Some(TokenUse {
                owner: get("owner")?,
                link_sk: get("linkSk")?,
            })
        }))
    }

    /// The link a token was used for, if it still belongs to `owner`.
    pub async fn link_for_token_use(
        &self,
        tenant: &TenantId,
        owner: &str,
        used: &TokenUse,
    ) -> Result<Option<StripeCustomerLink>, StoreError> {
        if used.owner != owner {
            return Ok(None);
        }
        self.get(key(user_pk(tenant, owner), &used.link_sk)).await
    }

    /// Stores a user's new link in one transaction with everything it implies: the card as a
    /// payment method of the vault customer (with its Stripe dedupe marker, becoming the
    /// default if the customer has none) and the token's use. All or nothing.
    pub async fn create_stripe_customer_link(
        &self,
        link: &StripeCustomerLink,
        pm: &PaymentMethod,
        dedupe: &[String],
        token_hash: &str,
    ) -> Result<LinkWrite, StoreError> {
        let sk = link_sk(link);
        let mut link_item: Item = serde_dynamo::to_item(link)?;
        link_item.extend(key(user_pk(&link.tenant_id, &link.owner), &sk));
        let mut token = token_key(&link.tenant_id, token_hash);
        token.insert("owner".into(), s(link.owner.as_str()));
        token.insert("linkSk".into(), s(sk));

        let mut writes = vec![put_new(&self.table, items::payment_method(pm)?)?];
        for d in dedupe {
            writes.push(put_new(
                &self.table,
                items::dedupe(pm.customer_id, d, pm.id),
            )?);
        }
        let customer_at = writes.len();
        writes.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(items::customer_key(pm.customer_id)))
                        .update_expression(
                            "SET defaultPaymentMethodId = if_not_exists(defaultPaymentMethodId, :pm)",
                        )
                        .condition_expression("tenantId = :tenant")
                        .expression_attribute_values(":pm", AttributeValue::N(pm.id.to_string()))
                        .expression_attribute_values(
                            ":tenant",
                            s(pm.tenant_id.as_str()),
                        )
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
        );
        writes.push(put_new(&self.table, link_item)?);
        let token_at = writes.len();
        writes.push(put_new(&self.table, token)?);

        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(LinkWrite::Stored),
            Err(e) => {
                let failed = cancelled_by_conditions(&e);
                if failed.contains(&token_at) {
                    return match self.token_use(&link.tenant_id, token_hash).await? {
                        Some(used) => Ok(LinkWrite::TokenUsed(used)),
                        None => Err(StoreError::Conflict),
                    };
                }
                if failed.contains(&customer_at) {
                    return Ok(LinkWrite::CustomerGone);
                }
                if !failed.is_empty() {
                    return Err(StoreError::Conflict);
                }
                Err(e.into())
            }
        }
    }

    /// Every link of a user, oldest first: one Query on the user's partition.
    pub async fn stripe_customer_links(
        &self,
        tenant: &TenantId,
        owner: &str,
    ) -> Result<Vec<StripeCustomerLink>, StoreError> {
        let rows = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
            .expression_attribute_values(":pk", s(user_pk(tenant, owner)))
            .expression_attribute_values(":sk", s(LINK_PREFIX))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await?;
        rows.into_iter().map(items::from_item).collect()
    }
}
