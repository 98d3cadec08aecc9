//! The user API's Stripe customer links and their card tokens' single use ([`LinkStore`]).

use super::Backend;
use async_trait::async_trait;

use super::items::{self, key, s};
use super::tx;
use super::{Item, Store, StoreError};
use crate::domain::{PaymentMethod, StripeCustomerLink, TenantId};
use crate::ports::{DefaultRule, LinkStore, LinkWrite, TokenUse};

const TOKEN_SK: &str = "STOKEN";
pub(super) const LINK_PREFIX: &str = "SCUS#";

/// `USER#<tid>#<sub>`: a user's partition. The tenant id holds no `#`, so the key is
/// unambiguous whatever the `sub`.
pub(super) fn user_pk(tenant: &TenantId, owner: &str) -> String {
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

#[async_trait]
impl LinkStore for Store {
    /// Who used a card token in this tenant, if anyone did.
    async fn token_use(
        &self,
        tenant: &TenantId,
        token_hash: &str,
    ) -> Result<Option<TokenUse>, StoreError> {
        let item = self.get_item(token_key(tenant, token_hash), true).await?;
        Ok(item.and_then(|i| {
            let get = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
            Some(TokenUse {
                owner: get("owner")?,
                link_key: get("linkSk")?,
            })
        }))
    }

    /// The link a token was used for, if it still belongs to `owner`.
    async fn link_for_token_use(
        &self,
        tenant: &TenantId,
        owner: &str,
        used: &TokenUse,
    ) -> Result<Option<StripeCustomerLink>, StoreError> {
        if used.owner != owner {
            return Ok(None);
        }
        self.get(key(user_pk(tenant, owner), &used.link_key)).await
    }

    /// Stores a user's new link in one transaction with everything it implies: the card as a
    /// payment method of the vault customer (with its Stripe dedupe marker, becoming the
    /// default if the customer has none) and the token's use. All or nothing.
    async fn create_stripe_customer_link(
        &self,
        link: &StripeCustomerLink,
        pm: &PaymentMethod,
        dedupe: &[String],
        token_hash: &str,
    ) -> Result<LinkWrite, StoreError> {
        let sk = link_sk(link);
        let mut link_item: Item = serde_dynamo::to_item(link).backend()?;
        link_item.extend(key(user_pk(&link.tenant_id, &link.owner), &sk));
        let mut token = token_key(&link.tenant_id, token_hash);
        token.insert("owner".into(), s(link.owner.as_str()));
        token.insert("linkSk".into(), s(sk));

        // In request order: the payment method, its dedupe keys, the customer, the link,
        // the token's use.
        let mut writes = self.payment_method_writes(pm, dedupe, DefaultRule::IfNone)?;
        let customer_at = writes.len() - 1;
        writes.push(tx::put_new(&self.table, link_item)?);
        let token_at = writes.len();
        writes.push(tx::put_new(&self.table, token)?);

        match self.transact(writes).await {
            Ok(()) => Ok(LinkWrite::Stored),
            Err(tx::TxError::Cancelled(failed)) => {
                if failed.contains(&token_at) {
                    return match self.token_use(&link.tenant_id, token_hash).await? {
                        Some(used) => Ok(LinkWrite::TokenUsed(used)),
                        None => Err(StoreError::Conflict),
                    };
                }
                if failed.contains(&customer_at) {
                    return Ok(LinkWrite::CustomerGone);
                }
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every link of a user, oldest first: one Query on the user's partition.
    async fn stripe_customer_links(
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
            .await
            .backend()?;
        rows.into_iter().map(items::from_item).collect()
    }
}
