//! [`StripeEventStore`] in memory, with the DynamoDB adapter's conditions.

use async_trait::async_trait;

use super::{MemoryStore, StoreError};
use crate::domain::{
    CustomerId, Instrument, PaymentMethod, PaymentMethodId, StripeConnection, TenantId, Timestamp,
};
use crate::ports::{DefaultMove, StripeEventStore};

#[async_trait]
impl StripeEventStore for MemoryStore {
    async fn cards_by_stripe_ref(
        &self,
        tenant: &TenantId,
        stripe_customer: &str,
        source: Option<&str>,
    ) -> Result<Vec<(CustomerId, PaymentMethodId)>, StoreError> {
        let s = self.enter("cards_by_stripe_ref")?;
        Ok(s.payment_methods
            .values()
            .filter(|pm| &pm.tenant_id == tenant)
            .filter(|pm| {
                pm.stripe.as_ref().is_some_and(|r| {
                    r.customer_id == stripe_customer && source.is_none_or(|src| r.source_id == src)
                })
            })
            .map(|pm| (pm.customer_id, pm.id))
            .collect())
    }

    async fn tenants_by_stripe_account(&self, account: &str) -> Result<Vec<TenantId>, StoreError> {
        let s = self.enter("tenants_by_stripe_account")?;
        let mut tenants: std::collections::BTreeSet<TenantId> = s
            .tenants
            .values()
            .filter(|t| {
                matches!(&t.stripe, Some(StripeConnection::Connect { account_id }) if account_id == account)
            })
            .map(|t| t.id.clone())
            .collect();
        let targets = self.rehome_targets.lock().unwrap();
        tenants.extend(
            targets
                .iter()
                .filter(|(_, a)| a == account)
                .map(|(t, _)| t.clone()),
        );
        Ok(tenants.into_iter().collect())
    }

    async fn save_stripe_change(
        &self,
        read: &PaymentMethod,
        changed: &PaymentMethod,
        default: Option<DefaultMove>,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("save_stripe_change")?;
        let key = (changed.customer_id, changed.id);
        if s.payment_methods.get(&key).map(|p| p.modified_at) != Some(read.modified_at) {
            return Err(StoreError::Conflict);
        }
        let current = s
            .customers
            .get(&changed.customer_id)
            .and_then(|c| c.default_payment_method_id);
        match default {
            Some(m) if current != Some(m.from) => return Err(StoreError::Conflict),
            None if changed.removed_at_stripe.is_some()
                && read.removed_at_stripe.is_none()
                && current == Some(changed.id) =>
            {
                return Err(StoreError::Conflict)
            }
            _ => {}
        }
        if let Some(m) = default {
            if let Some(c) = s.customers.get_mut(&changed.customer_id) {
                c.default_payment_method_id = m.to;
            }
        }
        s.payment_methods.insert(key, changed.clone());
        super::commit_events(&mut s);
        Ok(())
    }

    async fn revoke_stripe_connection(
        &self,
        tenant: &TenantId,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut s = self.enter("revoke_stripe_connection")?;
        let Some(t) = s.tenants.get_mut(tenant) else {
            return Ok(false);
        };
        let connected = matches!(&t.stripe, Some(StripeConnection::Connect { account_id }) if account_id == account);
        if !connected || t.stripe_revoked_at.is_some() {
            return Ok(false);
        }
        t.stripe_revoked_at = Some(at);
        super::commit_events(&mut s);
        Ok(true)
    }

    async fn update_link_card(
        &self,
        tenant: &TenantId,
        owner: &str,
        pm: &PaymentMethod,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("update_link_card")?;
        let Instrument::Card {
            brand,
            exp_month,
            exp_year,
            ..
        } = &pm.instrument
        else {
            return Ok(());
        };
        let Some(links) = s.links.get_mut(&(tenant.clone(), owner.to_owned())) else {
            return Ok(());
        };
        for link in links.values_mut().filter(|l| l.payment_method_id == pm.id) {
            link.source.brand = Some(brand.stripe_name().to_owned());
            link.source.last4 = Some(pm.last4.clone());
            link.source.exp_month = Some(*exp_month);
            link.source.exp_year = Some(*exp_year);
            link.updated_at = pm.modified_at;
            if link.deleted_at.is_none() {
                link.deleted_at = pm.removed_at_stripe;
            }
            if pm.is_on_file() {
                link.pending = false;
            }
        }
        Ok(())
    }
}
