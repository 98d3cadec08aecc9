//! Re-homing vault-held cards: when a tenant changes its Stripe connection, each card whose
//! PAN the vault holds (entered through the transparent redirect) is opened and added at
//! the new connection as a card on file (no CVC), and its Stripe references are pointed
//! there. Cards whose PAN the vault never held (imported from Stripe, or attached from a
//! token) cannot move: they are listed as "needs re-import" and left as they are.
//!
//! One call is one batch: customers in the store's order from the cursor on, until the
//! request's deadline (or `max_cards`) stops it; it answers where to go on. Safe to repeat:
//! - a card already at the target (its `stripe_home`) is skipped;
//! - the target's Stripe customer is recorded beside the vault customer before any card
//!   is added to it, and every Stripe create carries a key derived from tenant, card (or
//!   customer) and target, so Stripe replays a retry's first answer;
//! - a card added at the target whose record was not updated (a crash in between) is found
//!   again on the target customer (its metadata names the vault card, and no other card
//!   references it) and reused, which holds even after Stripe has forgotten the key (24
//!   hours);
//! - a run that loses a race to record a card checks whether the winner recorded the same
//!   copy before it detaches its own.
//!
//! Each customer is planned from what was read alone (`plan`: no port, so every
//! classification is tested without adapters), and the plan carried out here over the
//! ports, step by step in its order.
//!
//! Only the one function that runs this may decrypt (`ports::PanOpener`); a PAN is opened
//! for one card at a time, right before its Stripe call, and dropped after it.

pub(crate) mod plan;

use std::time::Duration;

use serde::Serialize;

use super::Vault;
use crate::domain::{
    geo, Actor, AuditAction, CardNumber, CustomerId, Deadline, EncryptedPan, Expiry, Holder,
    Instrument, PanContext, PaymentMethod, PaymentMethodId, StripeConnection, StripeRef, Tenant,
    TenantId, Text,
};
use crate::error::Error;
use crate::ports::{
    Card, CardOnFile, KeyError, PanOpener, PaymentGateway, PaymentMethodStore, Ports, RehomeStore,
    StoreError, StripeAuth, StripeError, StripeEventStore,
};
use crate::vault::credentials::StripeRoute;
use crate::vault::idempotency::IdempotencyKey;
use plan::{card_ref, plan_customer, take_match, CustomerPlan, Homes, Limits, Step};

/// Customers read per store page.
const CUSTOMER_PAGE: usize = 100;

/// The time one more card needs: a KMS call, up to three Stripe calls and a write, each
/// well under this at the tail (beyond the deadline's reserve, which stays untouched).
pub const CARD_TIME: Duration = Duration::from_secs(7);

/// Cards one batch lists at most (moved, to re-import, removed, failed): a batch stops at
/// a customer boundary once it has this many, so that its answer stays far below Lambda's
/// 6 MB response limit however large the tenant (a dry run lists every card).
pub const REPORT_MAX: usize = 1_000;

/// The time reading one more customer needs (a Query), beyond the reserve.
const CUSTOMER_TIME: Duration = Duration::from_secs(1);

/// What to re-home, and where.
#[derive(Clone, Debug)]
pub struct RehomeRequest {
    pub tenant: TenantId,
    pub to: StripeConnection,
    /// Where the previous batch stopped; `None`: from the start.
    pub cursor: Option<RehomeCursor>,
    /// Count what would move; decrypt, create and change nothing.
    pub dry_run: bool,
    /// Stop after moving this many cards (a batch size); `None`: as many as time allows.
    pub max_cards: Option<usize>,
    /// Who invoked the run, as STS named them (`crate::caller_identity`): the actor of
    /// its audit events.
    pub invoker: String,
}

/// Where a run goes on: after this customer, every card of which is dealt with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RehomeCursor(CustomerId);

/// The cursor of a batch that stopped before its first customer was done.
pub const START: &str = "start";

impl RehomeCursor {
    /// `after:<customer id>`; [`START`] is no cursor.
    pub fn parse(raw: &str) -> Option<Self> {
        CustomerId::parse(raw.strip_prefix("after:")?).map(Self)
    }

    fn render(self) -> String {
        format!("after:{}", self.0)
    }
}

/// One card, named by ids (and its last 4, to find it in a dashboard); never its number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardRef {
    pub customer_id: CustomerId,
    pub payment_method_id: PaymentMethodId,
    pub last4: String,
}

/// A card that could not move, and why (Stripe's words, or ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCard {
    #[serde(flatten)]
    pub card: CardRef,
    pub reason: String,
}

/// A moved card and where it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MovedCard {
    #[serde(flatten)]
    pub card: CardRef,
    /// `None` in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe: Option<StripeRef>,
}

/// What one batch did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RehomeReport {
    pub dry_run: bool,
    /// The target connection, as recorded on moved cards (`acct_…` or `secret:<id>`).
    pub target: String,
    /// Moved in this batch (in a dry run: would move).
    pub moved: Vec<MovedCard>,
    /// Vault-held cards already at the target.
    pub already_there: usize,
    /// Cards (and bank accounts) whose number the vault never held: to be imported again
    /// from the new connection by the tenant.
    pub needs_reimport: Vec<CardRef>,
    /// Vault-held cards the cardholder (or a deleted customer) removed at Stripe: not
    /// decrypted and not moved, so a removed card is never made chargeable again.
    pub removed_at_stripe: Vec<CardRef>,
    /// Cards that did not move: declined by Stripe, a PAN that does not open, or changed
    /// meanwhile. A later run from the start tries them again.
    pub failed: Vec<FailedCard>,
    /// Customers completed in this batch.
    pub customers: usize,
    /// Where the next batch starts; `None` when every customer has been seen.
    pub cursor: Option<String>,
    /// Why the batch stopped before the end, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl RehomeReport {
    /// The cards the report names, in any list (what [`REPORT_MAX`] bounds).
    fn listed(&self) -> usize {
        self.moved.len()
            + self.needs_reimport.len()
            + self.removed_at_stripe.len()
            + self.failed.len()
    }
}

/// Why a customer's cards stopped part-way: time, the batch size, or a service not answering.
/// The customer is then done again by the next batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Time,
    Batch,
    /// The report holds [`REPORT_MAX`] cards.
    Full,
    /// Stripe, KMS or the store did not answer.
    Unavailable(String),
}

impl Stop {
    fn store(e: StoreError) -> Self {
        Self::Unavailable(format!("the store failed: {e}"))
    }

    fn describe(&self) -> String {
        match self {
            Self::Time => "the invocation's time ran out".into(),
            Self::Batch => "the batch size was reached".into(),
            Self::Full => format!("the report holds {REPORT_MAX} cards"),
            Self::Unavailable(why) => format!("a service did not answer: {why}"),
        }
    }
}

/// Everything one batch shares.
struct Run<'a> {
    tenant: &'a Tenant,
    target: String,
    /// Where a card with no `stripe_home` is: the tenant's connection now.
    current: Option<String>,
    auth: Option<StripeAuth>,
    request: &'a RehomeRequest,
}

impl Run<'_> {
    /// [`Limits::before_customer`] for this batch.
    fn full(&self, report: &RehomeReport) -> Option<Stop> {
        Limits::of(self.request).before_customer(report)
    }

    fn homes(&self) -> Homes<'_> {
        Homes {
            target: &self.target,
            current: self.current.as_deref(),
        }
    }
}

/// One customer's place at the target as its moves go: its Stripe customer there once
/// known, and the copies an earlier run added there that no card has taken yet (`None`:
/// not listed yet).
struct AtTarget {
    of: CustomerId,
    customer: Option<String>,
    unclaimed: Option<Vec<Card>>,
}

/// Whether the invocation's deadline leaves less than `needed` beyond its reserve.
fn short_of(needed: Duration) -> bool {
    Deadline::current().is_some_and(|d| d.remaining() < d.reserve() + needed)
}

/// The actor of a refused caller's event: nothing it said about itself is taken.
pub const UNVERIFIED_CALLER: &str = "unverified caller";

/// Why an own-key target is refused (see [`Vault::rehome_cards`]).
pub const OWN_KEY_TARGET: &str = "an own-key target (toSecretId) is not proven to be the \
     tenant's account: register the account with `cardvault-admin connect-account` and \
     re-home to it with toAccount";

impl<P: Ports> Vault<P>
where
    P::Store: RehomeStore,
    P::Keys: PanOpener,
{
    /// A caller of re-homing STS did not name as the operator (or a signature that did
    /// not verify, or was for another payload): on the named tenant's trail, when there is
    /// such a tenant, so that an attempt is seen (PCI 10.2.1.4). Only principals allowed to
    /// invoke the function reach it.
    pub async fn rehome_caller_refused(&self, tenant: &TenantId, why: &str) {
        if !matches!(self.find_tenant(tenant).await, Ok(Some(_))) {
            return;
        }
        let why: String = why.chars().take(200).collect();
        self.record_rehome_refused(tenant, UNVERIFIED_CALLER, &why)
            .await;
    }

    /// A `rehome.refused` event: who asked (`invoker`) and what was refused (`object`).
    async fn record_rehome_refused(&self, tenant: &TenantId, invoker: &str, object: &str) {
        let event = self
            .event(tenant, AuditAction::RehomeRefused, "refused")
            .actor(&Actor::Operator {
                name: invoker.to_owned(),
            })
            .object(object);
        self.record(event).await;
    }

    /// One batch of re-homing (see the module's documentation).
    pub async fn rehome_cards(&self, request: &RehomeRequest) -> Result<RehomeReport, Error> {
        let tenant = self
            .find_tenant(&request.tenant)
            .await?
            .ok_or_else(|| Error::BadRequest(format!("no tenant {}", request.tenant)))?;
        let target = request.to.label();
        // Refused before any card is read or opened, and the refusal is on the trail. An
        // own-key target (a secret id) is refused outright: nothing proves which Stripe
        // account a key stored under the tenant's prefix opens (anyone who can write a
        // secret there could name their own), so only a registered Connect account is a
        // target; a tenant moving to its own key registers that account first.
        let allowed = match &request.to {
            StripeConnection::Connect { account_id } => {
                self.target_allowed(&tenant.id, account_id).await
            }
            StripeConnection::OwnKey { .. } => Err(Error::BadRequest(OWN_KEY_TARGET.into())),
        };
        if let Err(e) = allowed {
            self.record_rehome_refused(&tenant.id, &request.invoker, &target)
                .await;
            return Err(e);
        }
        // The target's credentials are checked before anything else: a wrong secret fails
        // the first batch, not a card.
        let auth = if request.dry_run {
            None
        } else {
            // The new connection is not the revoked one: a tenant whose old account was
            // deauthorized is exactly the one that needs its cards moved.
            let at_target = Tenant {
                stripe: Some(request.to.clone()),
                stripe_revoked_at: None,
                ..tenant.clone()
            };
            Some(self.stripe_auth(&at_target, StripeRoute::Any).await?)
        };
        let run = Run {
            current: tenant.stripe.as_ref().map(StripeConnection::label),
            tenant: &tenant,
            target,
            auth,
            request,
        };
        self.rehome_batch(&run).await
    }

    /// The customers from the cursor on, until one stops the batch or none is left.
    async fn rehome_batch(&self, run: &Run<'_>) -> Result<RehomeReport, Error> {
        let mut report = RehomeReport {
            dry_run: run.request.dry_run,
            target: run.target.clone(),
            ..RehomeReport::default()
        };
        let mut after = run.request.cursor.map(|c| c.0);
        loop {
            let (ids, more) = self
                .store
                .tenant_customer_ids(&run.tenant.id, after, CUSTOMER_PAGE)
                .await?;
            for id in ids {
                let done = match run.full(&report) {
                    Some(stop) => Err(stop),
                    None => self.rehome_customer(run, id, &mut report).await,
                };
                if let Err(stop) = done {
                    report.stopped = Some(stop.describe());
                    report.cursor =
                        Some(after.map_or_else(|| START.into(), |a| RehomeCursor(a).render()));
                    return Ok(report);
                }
                report.customers += 1;
                after = Some(id);
            }
            if !more {
                return Ok(report);
            }
        }
    }

    /// A Connect target is one the tenant proved it controls (registered by
    /// `cardvault-admin connect-account`) and that no other tenant holds or registered.
    async fn target_allowed(&self, tenant: &TenantId, account: &str) -> Result<(), Error> {
        account_free_for(&self.store, tenant, account).await?;
        if !self.store.rehome_target_registered(tenant, account).await? {
            return Err(Error::BadRequest(format!(
                "{account} is not registered for tenant {tenant}: register it first with \
                 `cardvault-admin connect-account` (Stripe's OAuth answer for the tenant)"
            )));
        }
        Ok(())
    }

    /// Every payment method of one customer, as its plan says. `Err` stops the batch
    /// before this customer is done (the next batch does it again: what moved is skipped
    /// then).
    async fn rehome_customer(
        &self,
        run: &Run<'_>,
        id: CustomerId,
        report: &mut RehomeReport,
    ) -> Result<(), Stop> {
        if short_of(CUSTOMER_TIME) {
            return Err(Stop::Time);
        }
        let found = self
            .store
            .customer_for_rehome(&run.tenant.id, id, &run.target)
            .await
            .map_err(Stop::store)?;
        // `None`: deleted since it was listed.
        let Some(found) = found else { return Ok(()) };
        let plan = plan_customer(&found, run.homes(), run.request.dry_run);
        let mut at = AtTarget {
            of: id,
            customer: plan.target_customer.map(str::to_owned),
            unclaimed: None,
        };
        let all_moved = self.execute(run, &plan, &mut at, report).await?;
        if let Some(target) = plan.switch_own_to(at.customer.as_deref(), all_moved) {
            let switched = self
                .store
                .switch_stripe_customer(&run.tenant.id, id, plan.own, target)
                .await;
            if let Err(e) = switched {
                tracing::warn!(error = %e, customer = %id, "the customer's own Stripe customer was not switched");
            }
        }
        Ok(())
    }

    /// Carries one customer's plan out, step by step in its order (the report's); answers
    /// whether every move succeeded.
    async fn execute(
        &self,
        run: &Run<'_>,
        plan: &CustomerPlan<'_>,
        at: &mut AtTarget,
        report: &mut RehomeReport,
    ) -> Result<bool, Stop> {
        let mut all_moved = true;
        for step in &plan.steps {
            match step {
                Step::AlreadyThere { vault_held } => {
                    report.already_there += usize::from(*vault_held);
                }
                Step::NeedsReimport(card) => report.needs_reimport.push(card.clone()),
                Step::RemovedAtStripe(card) => report.removed_at_stripe.push(card.clone()),
                Step::WouldMove(card) => report.moved.push(MovedCard {
                    card: card.clone(),
                    stripe: None,
                }),
                Step::Move(pm) => {
                    all_moved &= self.execute_move(run, plan, at, pm, report).await?;
                }
            }
        }
        Ok(all_moved)
    }

    /// One move, if the batch size and the deadline leave room for it; `Ok(false)`: the
    /// card failed (listed), and the others go on.
    async fn execute_move(
        &self,
        run: &Run<'_>,
        plan: &CustomerPlan<'_>,
        at: &mut AtTarget,
        pm: &PaymentMethod,
        report: &mut RehomeReport,
    ) -> Result<bool, Stop> {
        if let Some(stop) = Limits::of(run.request).before_move(report.moved.len()) {
            return Err(stop);
        }
        if short_of(CARD_TIME) {
            return Err(Stop::Time);
        }
        let auth = run.auth.as_ref().expect("credentials outside a dry run");
        let stripe_customer = self.target_customer(run, auth, plan, at).await?;
        let earlier = at
            .unclaimed
            .as_mut()
            .and_then(|cards| take_match(cards, pm));
        match self
            .move_card(run, auth, pm, &stripe_customer, earlier)
            .await
        {
            Ok(moved) => {
                report.moved.push(moved);
                Ok(true)
            }
            Err(Moved::Failed(reason)) => {
                let card = card_ref(pm);
                report.failed.push(FailedCard { card, reason });
                Ok(false)
            }
            Err(Moved::Stop(stop)) => Err(stop),
        }
    }

    /// The customer's Stripe customer at the target, recorded before any card is added to
    /// it (a retry finds it again). Known from an earlier run, its unrecorded copies are
    /// listed once, on the first move that needs them.
    async fn target_customer(
        &self,
        run: &Run<'_>,
        auth: &StripeAuth,
        plan: &CustomerPlan<'_>,
        at: &mut AtTarget,
    ) -> Result<String, Stop> {
        if let Some(c) = &at.customer {
            if at.unclaimed.is_none() {
                let cards = self
                    .gateway
                    .list_cards(auth, c)
                    .await
                    .map_err(|e| Stop::Unavailable(e.to_string()))?;
                at.unclaimed = Some(plan.unclaimed(cards));
            }
            return Ok(c.clone());
        }
        let id = at.of;
        let key = IdempotencyKey::rehome_customer(&run.tenant.id, id, &run.target);
        let made = self
            .gateway
            .create_vault_customer(auth, key.as_str(), &id.to_string())
            .await
            .map_err(|e| Stop::Unavailable(e.to_string()))?;
        let held = self
            .store
            .record_target_customer(&run.tenant.id, id, &run.target, &made)
            .await
            .map_err(Stop::store)?;
        // Nothing was added to a customer made just now.
        at.unclaimed = Some(Vec::new());
        at.customer = Some(held.clone());
        Ok(held)
    }

    /// Adds one card at the target (or takes the one an earlier run added), then points its
    /// record there.
    async fn move_card(
        &self,
        run: &Run<'_>,
        auth: &StripeAuth,
        pm: &PaymentMethod,
        stripe_customer: &str,
        earlier: Option<Card>,
    ) -> Result<MovedCard, Moved> {
        let added = match earlier {
            Some(card) => card,
            None => self.add_at_target(run, auth, pm, stripe_customer).await?,
        };
        let to = StripeRef {
            customer_id: stripe_customer.to_owned(),
            source_id: added.id.clone(),
        };
        match self.store.rehome_payment_method(pm, &to, &run.target).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return self.lost_race(auth, pm, to).await,
            Err(e) => return Err(Moved::Stop(Stop::store(e))),
        }
        let event = self
            .event(&pm.tenant_id, AuditAction::CardRehomed, "ok")
            .actor(&Actor::Operator {
                name: run.request.invoker.clone(),
            })
            .customer(pm.customer_id)
            .payment_method(pm.id)
            .object(added.id.as_str());
        self.record(event).await;
        Ok(MovedCard {
            card: card_ref(pm),
            stripe: Some(to),
        })
    }

    /// After another write to the card's record won: a concurrent run of the same move got
    /// the same copy (Stripe replayed its key) and recorded it first, or the card was
    /// removed or changed meanwhile.
    async fn lost_race(
        &self,
        auth: &StripeAuth,
        pm: &PaymentMethod,
        to: StripeRef,
    ) -> Result<MovedCard, Moved> {
        match self.points_at(pm, &to.source_id).await {
            // Moved, and not ours to detach.
            Ok(true) => {
                return Ok(MovedCard {
                    card: card_ref(pm),
                    stripe: Some(to),
                })
            }
            Ok(false) => {}
            // Unknown: the copy may be the winner's; the next run finds out.
            Err(e) => return Err(Moved::Stop(Stop::store(e))),
        }
        // The copy at the target is nobody's.
        let detached = self
            .gateway
            .detach_source(auth, &to.customer_id, &to.source_id)
            .await;
        if let Err(e) = detached {
            tracing::error!(error = %e, card = %pm.id, "a re-homed copy was left at the target");
        }
        Err(Moved::Failed("the card changed meanwhile".into()))
    }

    /// Whether the card's record now points at Stripe card `source` (read again after a
    /// conflict).
    async fn points_at(&self, pm: &PaymentMethod, source: &str) -> Result<bool, StoreError> {
        let read = self
            .store
            .customer_with_payment_methods(&pm.tenant_id, pm.customer_id)
            .await?;
        Ok(read.is_some_and(|(_, methods)| {
            methods
                .iter()
                .any(|p| p.id == pm.id && p.stripe.as_ref().is_some_and(|s| s.source_id == source))
        }))
    }

    /// Opens the PAN and adds the card on file at the target, without a CVC.
    async fn add_at_target(
        &self,
        run: &Run<'_>,
        auth: &StripeAuth,
        pm: &PaymentMethod,
        stripe_customer: &str,
    ) -> Result<Card, Moved> {
        let (
            Some(sealed),
            Instrument::Card {
                exp_month,
                exp_year,
                ..
            },
        ) = (&pm.encrypted_pan, &pm.instrument)
        else {
            return Err(Moved::Failed("not a vault-held card".into()));
        };
        let number = self.open(pm, sealed).await?;
        let holder = &pm.holder;
        let name = holder_name(holder);
        let card = CardOnFile {
            number: &number,
            expiry: Expiry {
                month: *exp_month,
                year: *exp_year,
            },
            name: &name,
            address_line1: text(&holder.address1),
            address_line2: text(&holder.address2),
            address_city: text(&holder.city),
            address_zip: text(&holder.postal_zip),
            address_country: holder.country_id.and_then(geo::country).map(|c| c.alpha2),
            vault_card: pm.id,
        };
        let from = pm.stripe.as_ref().map_or("", |s| s.source_id.as_str());
        let key = IdempotencyKey::rehome_card(&run.tenant.id, pm.id, from, &run.target);
        let added = self
            .gateway
            .add_card_on_file(auth, stripe_customer, &card, key.as_str())
            .await;
        drop(number);
        added.map_err(|e| match e {
            StripeError::Api { message, .. } => Moved::Failed(message),
            other => Moved::Stop(Stop::Unavailable(other.to_string())),
        })
    }

    /// The card's PAN, under its own record's context. A key service that does not answer
    /// stops the batch; a PAN that does not open fails its card only.
    async fn open(&self, pm: &PaymentMethod, sealed: &EncryptedPan) -> Result<CardNumber, Moved> {
        let context = PanContext::new(&pm.tenant_id, pm.customer_id, pm.id);
        self.keys
            .open_pan(sealed, &context)
            .await
            .map_err(|e| match e {
                KeyError::Unavailable(e) => Moved::Stop(Stop::Unavailable(format!("KMS: {e}"))),
                e => Moved::Failed(e.to_string()),
            })
    }
}

/// How a re-homing target was proven the tenant's: Stripe Connect's OAuth token endpoint
/// answered the tenant's authorization code with the account.
pub const PROOF_STRIPE_OAUTH: &str = "stripe-oauth";

/// The rule for every place that points a tenant at a connected account (a re-homing
/// target, its registration, `set-stripe`): no account that another tenant is connected
/// through or registered, whose owner would otherwise hold this tenant's cardholders' cards.
pub async fn account_free_for<S: StripeEventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    account: &str,
) -> Result<(), Error> {
    let holders = store.tenants_by_stripe_account(account).await?;
    if holders.iter().any(|t| t != tenant) {
        return Err(Error::BadRequest(format!(
            "{account} is another tenant's Stripe connection or re-homing target: \
             no two tenants share an account, and cards are never moved to another's"
        )));
    }
    Ok(())
}

/// Registers `account` as a re-homing target of `tenant`, proven by `proof`, if no other
/// tenant holds it. (Two registrations of one account racing each other can both pass the
/// index read: the index is eventually consistent.)
pub async fn register_target<S: RehomeStore + StripeEventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    account: &str,
    proof: &str,
) -> Result<(), Error> {
    StripeConnection::parse_account_id(account).map_err(Error::BadRequest)?;
    account_free_for(store, tenant, account).await?;
    store.record_rehome_target(tenant, account, proof).await?;
    Ok(())
}

/// How moving one card ended, when it did not move.
enum Moved {
    Failed(String),
    Stop(Stop),
}

/// The name on the card at Stripe: the holder's first and last, as far as known.
fn holder_name(holder: &Holder) -> String {
    [&holder.first_name, &holder.last_name]
        .iter()
        .filter_map(|t| t.as_ref().map(Text::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(t: &Option<Text>) -> Option<&str> {
    t.as_ref().map(Text::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::{connect_tenant, tid, CONNECT};

    fn card() -> CardRef {
        CardRef {
            customer_id: CustomerId::MIN,
            payment_method_id: PaymentMethodId::MIN,
            last4: "4242".into(),
        }
    }

    /// A report with `n` cards in each list: moved, to re-import, removed, failed.
    fn report(n: [usize; 4]) -> RehomeReport {
        let moved = MovedCard {
            card: card(),
            stripe: None,
        };
        let failed = FailedCard {
            card: card(),
            reason: "declined".into(),
        };
        RehomeReport {
            moved: vec![moved; n[0]],
            needs_reimport: vec![card(); n[1]],
            removed_at_stripe: vec![card(); n[2]],
            failed: vec![failed; n[3]],
            ..RehomeReport::default()
        }
    }

    /// The report's cap counts the cards of every list alike, whichever they are in (a
    /// batch that only fails still stops, its answer bounded).
    #[test]
    fn a_batch_is_full_at_report_max_cards_in_any_list() {
        let tenant = connect_tenant();
        let request = RehomeRequest {
            tenant: tid(CONNECT),
            to: tenant.stripe.clone().unwrap(),
            cursor: None,
            dry_run: false,
            max_cards: None,
            invoker: String::new(),
        };
        let run = Run {
            tenant: &tenant,
            target: String::new(),
            current: None,
            auth: None,
            request: &request,
        };
        let full = |n| matches!(run.full(&report(n)), Some(Stop::Full));
        for i in 0..4 {
            let mut n = [0; 4];
            n[i] = REPORT_MAX;
            assert!(full(n), "{REPORT_MAX} in list {i}");
            n[i] -= 1;
            assert!(!full(n), "{} in list {i}", REPORT_MAX - 1);
        }
        assert!(full([250, 250, 250, 250]));
        assert!(!full([250, 250, 250, 249]));
    }
}
