//! The audit trail's rules: what is recorded, and reading one customer's events.
//!
//! An event is appended after the change it records, best effort: the change (and any
//! Stripe call) has happened, so a failed append is logged at `error` with the event
//! (ids only) and does not fail the request. Each append costs two DynamoDB round trips
//! (the chain's head, then one transaction), see `store::audit`.
//!
//! Refusals: only callers who proved who they are get an event, so that strangers cannot
//! grow the table. A wrong or revoked API key, or a token that does not verify, is a 401
//! with no event (there is no tenant to charge it to, or none proven). A verified token
//! whose tenant does not trust its issuer (`auth.tenantDenied`, only for a tenant that
//! exists) or whose role may not call the endpoint (`auth.roleDenied`) gets one, but at
//! most one per caller and action a minute per container ([`DENIAL_EVERY`]), so that a
//! flood of refusals neither grows the chain without bound nor queues behind its head.

use std::time::Duration;

use super::{Added, Vault};
use crate::domain::{
    Actor, AuditAction, AuditEvent, AuditRecord, Customer, CustomerId, PaymentMethod, Principal,
    TenantId,
};
use crate::error::Error;
pub use crate::ports::AUDIT_PAGE_MAX;
use crate::ports::{AuditLog, Clock, CustomerStore, Ports};

/// At most one refusal event per caller and action in this long, per container.
pub const DENIAL_EVERY: Duration = Duration::from_secs(60);

impl<P: Ports> Vault<P> {
    /// An event of the current request, at the vault's clock.
    pub(crate) fn event(
        &self,
        tenant: &TenantId,
        action: AuditAction,
        outcome: &str,
    ) -> AuditEvent {
        AuditEvent::new(self.clock.now(), tenant, action, outcome)
    }

    /// Appends `event`; a failure is logged, never the caller's problem.
    pub(crate) async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.store.append(event.clone()).await {
            tracing::error!(
                error = %e,
                tenant = %event.tenant_id,
                action = %event.action,
                customer = ?event.customer_id,
                payment_method = ?event.payment_method_id,
                request_id = ?event.request_id,
                "audit event not recorded"
            );
        }
    }

    pub(crate) async fn record_customer_created(&self, customer: &Customer, ext_ref: Option<&str>) {
        let mut event = self
            .event(&customer.tenant_id, AuditAction::CustomerCreated, "ok")
            .customer(customer.id);
        if let Some(r) = ext_ref {
            event = event.object(r);
        }
        self.record(event).await;
    }

    /// A card removed, and whether its Stripe copy was detached (`None`: cardvault did
    /// not attach it, so it stays at Stripe).
    pub(crate) async fn record_removed(&self, pm: &PaymentMethod, detached: Option<(&str, &str)>) {
        let removed = self
            .event(&pm.tenant_id, AuditAction::CardRemoved, "ok")
            .customer(pm.customer_id)
            .payment_method(pm.id);
        self.record(removed).await;
        if let Some((card, outcome)) = detached {
            let event = self
                .event(&pm.tenant_id, AuditAction::StripeCardDetached, outcome)
                .customer(pm.customer_id)
                .payment_method(pm.id)
                .object(card);
            self.record(event).await;
        }
    }

    /// The transparent redirect's add: the card, when it is new, and the collection, when
    /// one was asked for. The actor is the cardholder's browser, through the public key.
    pub(crate) async fn record_redirect_add(&self, added: &Added) {
        let pm = &added.view.payment_method;
        let event = |action, outcome: &str| {
            self.event(&pm.tenant_id, action, outcome)
                .actor(&Actor::Redirect)
                .customer(pm.customer_id)
                .payment_method(pm.id)
        };
        if added.created {
            self.record(event(AuditAction::CardAdded, "ok")).await;
        }
        if let Some(c) = &added.collection {
            let outcome = match c.succeeded {
                Some(true) => "Succeeded",
                Some(false) => "Failed",
                None => "Unknown",
            };
            let mut e = event(AuditAction::CollectionAttempted, outcome);
            if let Some(pi) = &c.payment_intent_id {
                e = e.object(pi.as_str());
            }
            self.record(e).await;
        }
    }

    /// Records a refusal of a verified caller, throttled ([`DENIAL_EVERY`]).
    pub(crate) async fn record_denial(&self, principal: &Principal, action: AuditAction) {
        let key = format!(
            "{}\n{}\n{}",
            principal.tenant,
            principal.user,
            action.as_str()
        );
        if self.denials.get(&key).is_some() {
            return;
        }
        self.denials.insert(key, ());
        let event = self
            .event(&principal.tenant, action, "denied")
            .actor(&Actor::User {
                sub: principal.user.clone(),
                role: principal.role,
            });
        self.record(event).await;
    }

    /// A customer's events, newest first, `limit` of them (at most [`AUDIT_PAGE_MAX`])
    /// older than `before`. A customer that is absent or another tenant's is a 404.
    ///
    /// Round trips: one Query; a second (GetItem of the customer) only when the page is
    /// empty, to tell "no events" from "no such customer".
    pub async fn customer_audit_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let limit = limit.clamp(1, AUDIT_PAGE_MAX);
        let events = self
            .store
            .customer_events(tenant, customer, before, limit)
            .await?;
        if events.is_empty() && self.store.get_customer(tenant, customer).await?.is_none() {
            return Err(Error::not_found("Customer", customer));
        }
        Ok(events)
    }
}
