//! What re-homing does with one customer, decided from what was read alone: no port, no
//! clock, no I/O, so that every rule of the module's documentation that depends only on
//! the records is tested without adapters. The executor (`super`) carries a plan out.
//!
//! What only the run can know stays with the executor, behind the pure checks of
//! [`Limits`]: whether a move succeeds (a failed card does not count towards the batch
//! size, so where a batch stops inside a customer is known only as it goes), the copies an
//! earlier run left at the target (listed there), and the deadline.

use std::collections::BTreeSet;

use super::{CardRef, RehomeReport, RehomeRequest, Stop, REPORT_MAX};
use crate::domain::{Instrument, PaymentMethod};
use crate::ports::{Card, RehomeCustomer, CARD_METADATA_KEY};

/// Which Stripe connection is which, by label (`StripeConnection::label`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Homes<'a> {
    /// Where cards go.
    pub target: &'a str,
    /// Where a card with no `stripe_home` is: the tenant's connection now.
    pub current: Option<&'a str>,
}

/// What becomes of one payment method.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step<'a> {
    /// Its Stripe references point into the target already. Only a vault-held card is
    /// counted: the report counts what re-homing would otherwise have moved.
    AlreadyThere { vault_held: bool },
    /// The vault never held its number (imported, attached from a token, a bank account):
    /// the tenant imports it again from the new connection.
    NeedsReimport(CardRef),
    /// Removed at Stripe: never opened, so a removed card is never made chargeable again.
    RemovedAtStripe(CardRef),
    /// A dry run's move: listed, nothing opened or created.
    WouldMove(CardRef),
    /// Opened and added at the target's Stripe customer (or an earlier run's copy taken).
    Move(&'a PaymentMethod),
}

/// One customer's steps, and what its moves share.
#[derive(Debug)]
pub(crate) struct CustomerPlan<'a> {
    /// One per payment method, in the store's order: the report lists cards in it.
    pub steps: Vec<Step<'a>>,
    /// The customer's Stripe customer at the target, recorded by an earlier run; `None`:
    /// one is made (and recorded) before the first move.
    pub target_customer: Option<&'a str>,
    /// The Stripe cards some record of the customer points at: none of them is a copy an
    /// interrupted run left unrecorded.
    pub referenced: BTreeSet<&'a str>,
    /// The customer's own Stripe customer (where its new cards go).
    pub own: Option<&'a str>,
    pub dry_run: bool,
}

/// The plan for one customer as read for re-homing.
pub(crate) fn plan_customer<'a>(
    read: &'a RehomeCustomer,
    homes: Homes<'_>,
    dry_run: bool,
) -> CustomerPlan<'a> {
    let methods = &read.payment_methods;
    CustomerPlan {
        steps: methods.iter().map(|pm| step(pm, homes, dry_run)).collect(),
        target_customer: read.target_customer.as_deref(),
        referenced: methods
            .iter()
            .filter_map(|p| p.stripe.as_ref().map(|s| s.source_id.as_str()))
            .collect(),
        own: read.customer.stripe_customer_id.as_deref(),
        dry_run,
    }
}

/// The order matters: a card at the target is done whatever else is true of it, and a
/// removed card is listed as removed only when it could otherwise move.
fn step<'a>(pm: &'a PaymentMethod, homes: Homes<'_>, dry_run: bool) -> Step<'a> {
    let home = pm.stripe_home.as_deref().or(homes.current);
    let vault_held = vault_held(pm);
    if home == Some(homes.target) {
        Step::AlreadyThere { vault_held }
    } else if !vault_held {
        Step::NeedsReimport(card_ref(pm))
    } else if pm.removed_at_stripe.is_some() {
        Step::RemovedAtStripe(card_ref(pm))
    } else if dry_run {
        Step::WouldMove(card_ref(pm))
    } else {
        Step::Move(pm)
    }
}

impl CustomerPlan<'_> {
    /// The cards listed at the target customer that an interrupted run may have added:
    /// those no record points at (which of them is whose is `super::take_match`'s).
    pub fn unclaimed(&self, at_target: Vec<Card>) -> Vec<Card> {
        at_target
            .into_iter()
            .filter(|c| !self.referenced.contains(c.id.as_str()))
            .collect()
    }

    /// The Stripe customer to make the customer's own once its steps are done: the
    /// target's (`target`, recorded or made meanwhile), when every move succeeded, so that
    /// its new cards go there from now on. Not in a dry run, and not when it is already.
    pub fn switch_own_to<'t>(&self, target: Option<&'t str>, all_moved: bool) -> Option<&'t str> {
        let target = target.filter(|_| all_moved && !self.dry_run)?;
        (self.own != Some(target)).then_some(target)
    }
}

/// What bounds one batch besides time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub dry_run: bool,
    pub max_cards: Option<usize>,
}

impl Limits {
    pub fn of(request: &RehomeRequest) -> Self {
        Self {
            dry_run: request.dry_run,
            max_cards: request.max_cards,
        }
    }

    /// Whether the batch is full before its next customer: the report's cap, or (a dry
    /// run, which moves nothing and so never stops inside a customer) its batch size.
    pub fn before_customer(&self, report: &RehomeReport) -> Option<Stop> {
        if report.listed() >= REPORT_MAX {
            return Some(Stop::Full);
        }
        (self.dry_run && self.reached(report.moved.len())).then_some(Stop::Batch)
    }

    /// Whether a real move may start, `moved` cards into the batch (failed ones do not
    /// count: they moved nothing).
    pub fn before_move(&self, moved: usize) -> Option<Stop> {
        self.reached(moved).then_some(Stop::Batch)
    }

    fn reached(&self, moved: usize) -> bool {
        self.max_cards.is_some_and(|max| moved >= max)
    }
}

/// A card whose PAN the vault holds: the only kind that can move.
pub(crate) fn vault_held(pm: &PaymentMethod) -> bool {
    pm.is_card_on_file() && pm.stored_in_vault && pm.encrypted_pan.is_some()
}

pub(crate) fn card_ref(pm: &PaymentMethod) -> CardRef {
    CardRef {
        customer_id: pm.customer_id,
        payment_method_id: pm.id,
        last4: pm.last4.clone(),
    }
}

/// The card an earlier, interrupted run added for `pm`: the one whose metadata names it
/// ([`CARD_METADATA_KEY`]), with its last 4 and expiry, and no other card of the customer
/// points at. Taken, so that two cards never claim one. A card at the target that does not
/// name the vault card (one the tenant added, say) is never taken, nor one that names it
/// but is another card.
pub(crate) fn take_match(cards: &mut Vec<Card>, pm: &PaymentMethod) -> Option<Card> {
    let Instrument::Card {
        exp_month,
        exp_year,
        ..
    } = pm.instrument
    else {
        return None;
    };
    let id = pm.id.to_string();
    let at = cards.iter().position(|c| {
        c.metadata.get(CARD_METADATA_KEY) == Some(&id)
            && c.last4.as_deref() == Some(pm.last4.as_str())
            && (c.exp_month, c.exp_year) == (Some(exp_month), Some(exp_year))
    })?;
    Some(cards.remove(at))
}
