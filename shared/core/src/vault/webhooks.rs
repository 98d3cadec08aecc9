//! Stripe's webhooks: the vault kept in step with what happens to its cards at Stripe.
//!
//! 1. The signature is checked first, with the endpoint's own signing secrets (the
//!    platform's, or the tenant's for `/v1/webhooks/stripe/{tenantId}`), before anything is
//!    read from the body ([`WebhookFormat::verify`]: Stripe's wire format, the Stripe
//!    adapter's).
//! 2. The tenants the event may touch: on the tenant route, that tenant alone, whatever
//!    ids the event names; on the platform route, the tenants connected through the
//!    event's `account` (a Connect event). A platform event without `account` is about the
//!    platform's own Stripe account, where no tenant keeps cards: 200, no change.
//! 3. Each event id is processed once per tenant: an idempotency record
//!    (`vault::once`) held for [`EVENT_WINDOW`], longer than Stripe retries a delivery.
//!    A delivery that fails frees the id, so that Stripe's retry runs it again.
//! 4. The cards it names, by their Stripe ids, within the tenant (one index Query), each
//!    changed unless it already took a newer event ([`PaymentMethod::apply_stripe`]), then
//!    written on condition it is still as read (retried on a concurrent change). A card
//!    removed at Stripe stays in the vault, marked; if it was the default, the newest other
//!    card still at Stripe becomes the default (the billing card API's remove rule).
//! 5. Each change writes an audit event, its actor `stripe:<event id>`.
//!
//! No Stripe call is made: the webhook function holds no Stripe key.

use std::time::Duration;

use super::once::digest;
use super::{Begun, OnceRequest, Vault};
use crate::domain::stripe_event::TENANT_WEBHOOK_SECRET_PREFIX;
use crate::domain::{
    Actor, Applied, AuditAction, AuditEvent, CardChange, CustomerId, EventChange, PaymentMethod,
    PaymentMethodId, SigningSecrets, StoredResponse, StripeEvent, TenantId,
};
use crate::error::Error;
use crate::ports::{
    Clock, DefaultMove, PaymentMethodStore, Ports, SecretSource, StoreError, StripeEventStore,
    WebhookFormat,
};

/// How long an event id is remembered: Stripe retries a delivery for up to three days.
pub const EVENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The once-record scopes of webhook events (beside clients' `Idempotency-Key`s): one per
/// endpoint, as Stripe delivers an event to each endpoint that subscribes to it.
const ONCE_SCOPE_PLATFORM: &str = "stripe-webhook:platform";
const ONCE_SCOPE_TENANT: &str = "stripe-webhook:tenant";
/// The largest event taken (Stripe's events are a few KiB; a customer's with its sources
/// or a PaymentIntent with its charges can be more).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// How long a webhook endpoint with no readable secret is not asked again: a secret set
/// just now takes effect within this (Stripe retries a refused delivery for days).
pub const SECRET_MISS_TTL: Duration = Duration::from_secs(30);
/// Misses remembered at once per container (one per tenant at most: a bound, not a limit).
pub const SECRET_MISSES_MAX: usize = 1024;
/// Writes of one card retried when it changed between read and write.
const CONFLICT_RETRIES: usize = 3;

/// The answer to every refused delivery: it says nothing of which check failed (the log
/// does), nor whether the endpoint has a secret at all.
pub const BAD_SIGNATURE: &str = "The Stripe-Signature header is missing or does not verify.";
pub const FUTURE_EVENT: &str = "The event is dated after its signature's timestamp.";

/// Which endpoint a delivery came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookRoute {
    /// `POST /v1/webhooks/stripe`: the platform's events, Connect events among them.
    Platform,
    /// `POST /v1/webhooks/stripe/{tenantId}`: a tenant with its own Stripe account.
    Tenant(TenantId),
}

/// What a delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Cards (or a connection) changed.
    Applied { changes: usize },
    /// The event id was processed already.
    Duplicate,
    /// Nothing of the vault's: another event type, unknown cards, or only older news.
    Ignored,
}

impl Handled {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }

    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Applied { changes: a }, Self::Applied { changes: b }) => {
                Self::Applied { changes: a + b }
            }
            (a @ Self::Applied { .. }, _) | (_, a @ Self::Applied { .. }) => a,
            (Self::Duplicate, _) | (_, Self::Duplicate) => Self::Duplicate,
            _ => Self::Ignored,
        }
    }
}

/// The secret id of a tenant's webhook signing secrets.
pub fn tenant_webhook_secret_id(tenant: &TenantId) -> String {
    format!("{TENANT_WEBHOOK_SECRET_PREFIX}{tenant}")
}

impl<P: Ports> Vault<P> {
    /// One delivery: `signature` is the `Stripe-Signature` header, `payload` the raw body.
    pub async fn stripe_webhook(
        &self,
        route: &WebhookRoute,
        signature: Option<&str>,
        payload: &[u8],
    ) -> Result<Handled, Error> {
        let secrets = self.webhook_secrets(route).await;
        let now = self.clock.now().unix_timestamp();
        let signed_at = match self.webhooks.verify(&secrets, signature, payload, now) {
            Ok(t) => t,
            Err(reason) => {
                tracing::warn!(%reason, ?route, "Stripe webhook refused");
                return Err(Error::BadRequest(BAD_SIGNATURE.into()));
            }
        };
        let event = self
            .webhooks
            .read(payload)
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        // Measured from the earlier of the signature and now: a signature up to the
        // tolerance ahead must not buy an event a second tolerance on top.
        if event.dated_after(signed_at.min(now)) {
            tracing::warn!(event = %event.id, created = event.created, signed_at, ?route,
                "Stripe webhook refused: dated after its signature");
            return Err(Error::BadRequest(FUTURE_EVENT.into()));
        }
        tracing::info!(event = %event.id, kind = %event.kind, ?route, "Stripe webhook");
        if event.change == EventChange::Ignored {
            return Ok(Handled::Ignored);
        }
        let tenants = match (route, &event.account) {
            (WebhookRoute::Tenant(t), _) => vec![t.clone()],
            (WebhookRoute::Platform, Some(account)) => {
                self.store.tenants_by_stripe_account(account).await?
            }
            (WebhookRoute::Platform, None) => Vec::new(),
        };
        let mut handled = Handled::Ignored;
        for tenant in &tenants {
            handled = handled.and(self.tenant_event(route, tenant, &event).await?);
        }
        Ok(handled)
    }

    /// The endpoint's signing secrets; none (so nothing verifies) when its secret cannot be
    /// read: an unknown tenant, a tenant without one, or Secrets Manager down (logged;
    /// Stripe retries).
    ///
    /// The tenant route is open to anyone: an unknown tenant costs no Secrets Manager call
    /// (a read of the tenant instead, itself remembered as a miss), and a known tenant's
    /// miss is remembered for [`SECRET_MISS_TTL`], so that a flood of deliveries to either
    /// reads nothing twice. A tenant created meanwhile is heard within that time (Stripe
    /// retries). Only
    /// real endpoints are remembered, so random ids cannot crowd the real ones out.
    async fn webhook_secrets(&self, route: &WebhookRoute) -> SigningSecrets {
        let id = match route {
            WebhookRoute::Platform => self.settings.stripe_webhook_secret_id.clone(),
            WebhookRoute::Tenant(t) => tenant_webhook_secret_id(t),
        };
        if self.webhook_secret_misses.get(&id).is_some() {
            return SigningSecrets::none();
        }
        if let WebhookRoute::Tenant(t) = route {
            // An id found unknown lately: not even the tenant's item is read again.
            if self.unknown_webhook_tenants.get(t).is_some() {
                return SigningSecrets::none();
            }
            match self.find_tenant(t).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.unknown_webhook_tenants.insert(t.clone(), ());
                    return SigningSecrets::none();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tenant not read");
                    return SigningSecrets::none();
                }
            }
        }
        match self.secrets.secret(&id).await {
            Ok(value) => SigningSecrets::parse(&value),
            Err(e) => {
                tracing::warn!(error = %e, "no webhook signing secret");
                self.webhook_secret_misses.insert(id, ());
                SigningSecrets::none()
            }
        }
    }

    /// The event for one tenant, once.
    async fn tenant_event(
        &self,
        route: &WebhookRoute,
        tenant: &TenantId,
        event: &StripeEvent,
    ) -> Result<Handled, Error> {
        let begun = self
            .begin_once(OnceRequest {
                tenant,
                scope: match route {
                    WebhookRoute::Platform => ONCE_SCOPE_PLATFORM,
                    WebhookRoute::Tenant(_) => ONCE_SCOPE_TENANT,
                },
                key: &event.id,
                // The id is the event: a redelivery is the same request.
                request_hash: digest([event.id.as_bytes()]),
                window: EVENT_WINDOW,
            })
            .await?;
        let ticket = match begun {
            Begun::Replay(_) => return Ok(Handled::Duplicate),
            Begun::Run(ticket) => ticket,
            Begun::Fresh => return Err(Error::bug("an event id is never an implicit key")),
        };
        let result = self.apply_event(route, tenant, event).await;
        match &result {
            Ok(handled) => {
                let answer = StoredResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: handled.as_str().into(),
                };
                self.finish_once(ticket, Some(answer)).await?;
            }
            Err(_) => {
                if let Err(e) = self.finish_once(ticket, None).await {
                    tracing::error!(error = %e, "webhook event id not freed");
                }
            }
        }
        result
    }

    async fn apply_event(
        &self,
        route: &WebhookRoute,
        tenant: &TenantId,
        event: &StripeEvent,
    ) -> Result<Handled, Error> {
        if event.change == EventChange::Deauthorized {
            return self.deauthorized(route, tenant, event).await;
        }
        if let EventChange::SetupSettled {
            customer,
            setup_intent,
            status,
            payment_method,
        } = &event.change
        {
            return self
                .setup_settled(tenant, customer, setup_intent, status, payment_method)
                .await;
        }
        let Some((customer, source, change)) = CardChange::of(&event.change) else {
            return Ok(Handled::Ignored);
        };
        let cards = self
            .store
            .cards_by_stripe_ref(tenant, customer, source)
            .await?;
        let mut changes = 0;
        let named = Named { customer, source };
        for (customer, id) in cards {
            if self
                .apply_to_card(tenant, customer, id, &named, &change, event)
                .await?
            {
                changes += 1;
            }
        }
        Ok(match changes {
            0 => Handled::Ignored,
            n => Handled::Applied { changes: n },
        })
    }

    /// A pending card's authentication ended: the card waiting for `setup_intent` on
    /// Stripe customer `customer` becomes active, or goes (`vault::cards::setup`). The
    /// event is signed: what it says of the SetupIntent is Stripe's word.
    async fn setup_settled(
        &self,
        tenant: &TenantId,
        customer: &str,
        setup_intent: &str,
        status: &str,
        payment_method: &Option<String>,
    ) -> Result<Handled, Error> {
        let si = crate::ports::SetupIntent {
            id: setup_intent.to_owned(),
            status: status.to_owned(),
            client_secret: None,
            next_action: None,
            customer: Some(customer.to_owned()),
            payment_method: payment_method.clone(),
            metadata: Default::default(),
            last_setup_error: None,
        };
        // The vault customers holding cards on that Stripe customer (usually one): each
        // partition is read once, however many of its cards the index names.
        let mut owners: Vec<CustomerId> = self
            .store
            .cards_by_stripe_ref(tenant, customer, None)
            .await?
            .into_iter()
            .map(|(owner, _)| owner)
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let mut changes = 0;
        for customer_id in owners {
            let Some((owner, methods)) = self
                .store
                .customer_with_payment_methods(tenant, customer_id)
                .await?
            else {
                continue;
            };
            let waiting = methods.iter().filter(|p| {
                p.pending
                    .as_ref()
                    .is_some_and(|w| w.setup_intent == setup_intent)
            });
            for pm in waiting {
                self.settle_pending(pm, &owner, &si).await?;
                changes += 1;
            }
        }
        Ok(match changes {
            0 => Handled::Ignored,
            n => Handled::Applied { changes: n },
        })
    }

    /// Only a Connect event, to the platform's endpoint, can revoke a connection: a
    /// tenant's own endpoint speaks for its own account, not for the platform's access.
    async fn deauthorized(
        &self,
        route: &WebhookRoute,
        tenant: &TenantId,
        event: &StripeEvent,
    ) -> Result<Handled, Error> {
        let (WebhookRoute::Platform, Some(account)) = (route, &event.account) else {
            return Ok(Handled::Ignored);
        };
        let audit = self
            .event(tenant, AuditAction::StripeDeauthorized, "ok")
            .actor(&Actor::StripeEvent {
                id: event.id.clone(),
            })
            .object(account.as_str());
        let revoke = self
            .store
            .revoke_stripe_connection(tenant, account, self.clock.now());
        if !self.recorded(vec![audit], revoke).await? {
            return Ok(Handled::Ignored);
        }
        self.tenants.remove(tenant);
        Ok(Handled::Applied { changes: 1 })
    }

    /// One card: read with its customer and siblings, changed, written on condition it is
    /// unchanged meanwhile (else read again). Answers whether it changed.
    async fn apply_to_card(
        &self,
        tenant: &TenantId,
        customer_id: CustomerId,
        id: PaymentMethodId,
        named: &Named<'_>,
        change: &CardChange,
        event: &StripeEvent,
    ) -> Result<bool, Error> {
        for _ in 0..CONFLICT_RETRIES {
            let Some((customer, methods)) = self
                .store
                .customer_with_payment_methods(tenant, customer_id)
                .await?
            else {
                return Ok(false);
            };
            // The index is eventually consistent: a card re-homed since is no longer the
            // one the event names.
            let Some(read) = methods.iter().find(|p| p.id == id && named.is(p)) else {
                return Ok(false);
            };
            let mut changed = read.clone();
            let applied = changed.apply_stripe(change, &event.id, event.created, self.clock.now());
            if applied == Applied::Stale {
                tracing::info!(event = %event.id, card = %id, "older than the card's state");
                return Ok(false);
            }
            // Taken already (a redelivery after a failure part-way): the card and its
            // default were written then, with their events; what follows is done again.
            if applied == Applied::Changed {
                let default = (*change == CardChange::Removed
                    && customer.default_payment_method_id == Some(id))
                .then(|| DefaultMove {
                    from: id,
                    to: next_default(&methods, id),
                });
                // The change's events go with it: a redelivery that finds it taken writes
                // none again.
                let events = self.card_change_events(&changed, change, default, event);
                let save = self.store.save_stripe_change(read, &changed, default);
                match self.recorded(events, save).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            // The user API keeps its own copy of a card (the link's `source`): brought in
            // step before the event counts as done, so that a failure here is retried by
            // Stripe (the redelivery finds the event taken, and does this again).
            let owner = customer
                .external_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("user:"));
            if let (true, Some(owner)) = (change.shown_to_users(), owner) {
                self.store.update_link_card(tenant, owner, &changed).await?;
            }
            return Ok(true);
        }
        Err(Error::Conflict(
            "The card kept changing; Stripe will deliver the event again.".into(),
        ))
    }

    /// The audit events of a change.
    fn card_change_events(
        &self,
        pm: &PaymentMethod,
        change: &CardChange,
        default: Option<DefaultMove>,
        event: &StripeEvent,
    ) -> Vec<AuditEvent> {
        let actor = Actor::StripeEvent {
            id: event.id.clone(),
        };
        let mut audit = self
            .event(&pm.tenant_id, change.action(), "ok")
            .actor(&actor)
            .customer(pm.customer_id)
            .payment_method(pm.id);
        if let Some(s) = &pm.stripe {
            audit = audit.object(s.source_id.as_str());
        }
        let mut events = vec![audit];
        if let Some(DefaultMove { to: Some(next), .. }) = default {
            let made = self
                .event(&pm.tenant_id, AuditAction::CardMadeDefault, "ok")
                .actor(&actor)
                .customer(pm.customer_id)
                .payment_method(next);
            events.push(made);
        }
        events
    }
}

/// The Stripe ids an event names its cards by: a customer, and one card on it (or all).
struct Named<'a> {
    customer: &'a str,
    source: Option<&'a str>,
}

impl Named<'_> {
    fn is(&self, pm: &PaymentMethod) -> bool {
        pm.stripe.as_ref().is_some_and(|s| {
            s.customer_id == self.customer && self.source.is_none_or(|src| s.source_id == src)
        })
    }
}

/// The newest other card still at Stripe.
fn next_default(methods: &[PaymentMethod], removed: PaymentMethodId) -> Option<PaymentMethodId> {
    methods
        .iter()
        .filter(|p| p.id != removed && p.is_card_on_file() && p.removed_at_stripe.is_none())
        .max_by_key(|p| (p.created_at, p.id))
        .map(|p| p.id)
}

#[cfg(test)]
mod named_tests {
    use super::*;
    use crate::domain::StripeRef;

    #[test]
    fn a_card_is_named_by_its_current_stripe_ids_only() {
        let mut pm: PaymentMethod = serde_json::from_value(serde_json::json!({
            "id": 7, "customerId": 1, "tenantId": "t1",
            "instrument": {"kind": "card", "brand": "Visa", "expMonth": 1, "expYear": 2030},
            "last4": "4242", "holder": {}, "status": "Active",
            "createdAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-01T00:00:00Z"
        }))
        .expect("a card");
        let named = |customer, source| Named { customer, source };
        assert!(!named("cus_a", None).is(&pm), "no Stripe ids at all");
        pm.stripe = Some(StripeRef {
            customer_id: "cus_a".into(),
            source_id: "card_1".into(),
        });
        assert!(named("cus_a", Some("card_1")).is(&pm));
        assert!(named("cus_a", None).is(&pm), "every card of the customer");
        // Re-homed since the index was read: the old ids no longer name it.
        assert!(!named("cus_a", Some("card_old")).is(&pm));
        assert!(!named("cus_b", Some("card_1")).is(&pm));
    }
}
