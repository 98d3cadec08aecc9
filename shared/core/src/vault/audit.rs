//! The audit trail's rules: what is recorded, and reading one customer's events.
//!
//! A change and its events commit together: the vault stages the events around the store
//! call that makes the change ([`Vault::recorded`]), and they are Puts in that call's own
//! transaction (`store::tx`), no extra round trip. The chainer numbers and chains them
//! later, off the request path (`crate::chain`). An event with no change of the vault's to
//! ride with (a refusal; a detach at Stripe after the card left the vault) is one
//! conditional Put of its own ([`Vault::record`]), best effort: a failure is logged at
//! `error` with the event (ids only) and does not fail the request.
//!
//! Refusals: only callers who proved who they are get an event, so that strangers cannot
//! grow the table. A wrong or revoked API key, or a token that does not verify, is a 401
//! with no event (there is no tenant to charge it to, or none proven). A verified token
//! whose tenant does not trust its issuer (`auth.tenantDenied`, only for a tenant that
//! exists) or whose role may not call the endpoint (`auth.roleDenied`) gets one, but at
//! most one per caller and action a minute per container ([`DENIAL_EVERY`]), so that a
//! flood of refusals neither grows the chain without bound nor queues behind its head.

use std::future::Future;
use std::time::Duration;

use super::{Added, Vault};
use crate::domain::{
    Actor, AuditAction, AuditEvent, AuditRecord, Customer, CustomerId, Outbox, PaymentMethod,
    Principal, TenantId,
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

    /// Runs `write`, the store call that makes a change, with `events` riding in its
    /// transaction: both commit or neither does. A call that committed no transaction made
    /// no change (its condition did not hold, or it found a duplicate): its events are not
    /// written. Every adapter takes them on each change it makes (`store::tx`, the
    /// in-memory store's `commit_events`); the tests count one event per change.
    pub(crate) async fn recorded<T, E>(
        &self,
        events: Vec<AuditEvent>,
        write: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let (result, left) = Outbox::scope(events, write).await;
        if !left.is_empty() {
            tracing::debug!(
                events = left.len(),
                "no change made: its audit events are not written"
            );
        }
        result
    }

    /// Writes `event` on its own; a failure is logged, never the caller's problem.
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

    pub(crate) fn customer_created(
        &self,
        customer: &Customer,
        ext_ref: Option<&str>,
    ) -> AuditEvent {
        let event = self
            .event(&customer.tenant_id, AuditAction::CustomerCreated, "ok")
            .customer(customer.id);
        match ext_ref {
            Some(r) => event.object(r),
            None => event,
        }
    }

    /// A card removed.
    pub(crate) fn removed(&self, pm: &PaymentMethod) -> AuditEvent {
        self.event(&pm.tenant_id, AuditAction::CardRemoved, "ok")
            .customer(pm.customer_id)
            .payment_method(pm.id)
    }

    /// A removed card's Stripe copy detached (`outcome` `ok` or `failed`).
    pub(crate) fn detached(&self, pm: &PaymentMethod, card: &str, outcome: &str) -> AuditEvent {
        self.event(&pm.tenant_id, AuditAction::StripeCardDetached, outcome)
            .customer(pm.customer_id)
            .payment_method(pm.id)
            .object(card)
    }

    /// The transparent redirect's add, its collection when one was asked for (the card
    /// itself went with its record, `cards::add`): an effect at Stripe, an event of its
    /// own. The actor is the cardholder's browser, through the public key.
    pub(crate) async fn record_redirect_add(&self, added: &Added) {
        let pm = &added.view.payment_method;
        let event = |action, outcome: &str| {
            self.event(&pm.tenant_id, action, outcome)
                .actor(&Actor::Redirect)
                .customer(pm.customer_id)
                .payment_method(pm.id)
        };
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
