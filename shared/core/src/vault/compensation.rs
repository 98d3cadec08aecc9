//! Undoing a Stripe change that could not be recorded: a card attached, or a customer
//! made, must not stay at Stripe with no record of it. Best effort; a failure is logged
//! with the ids needed to finish by hand (they name Stripe objects, never card data).
//!
//! Compensation runs with the request deadline's reserve released
//! ([`Deadline::for_compensation`]): the reserve is kept for exactly this.

use super::Vault;
use crate::domain::{Deadline, OutOfTime};
use crate::ports::{PaymentGateway, Ports, StripeAuth, StripeError};

/// What to undo at Stripe. Its `Debug` (logged) never shows a token.
#[derive(Clone, PartialEq, Eq)]
pub enum Undo {
    /// Detach a card from its Stripe customer.
    Detach { customer: String, card: String },
    /// An attach whose answer never came (unavailable, or cut by the deadline): Stripe may
    /// have attached the token's card. Its id is the token's card's, so ask, and detach it.
    DetachToken { customer: String, token: String },
    /// Delete a Stripe customer (it holds only the card it was made with).
    DeleteCustomer { customer: String },
}

impl std::fmt::Debug for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undo::Detach { customer, card } => f
                .debug_struct("Detach")
                .field("customer", customer)
                .field("card", card)
                .finish(),
            Undo::DetachToken { customer, .. } => f
                .debug_struct("DetachToken")
                .field("customer", customer)
                .field("token", &"[REDACTED]")
                .finish(),
            Undo::DeleteCustomer { customer } => f
                .debug_struct("DeleteCustomer")
                .field("customer", customer)
                .finish(),
        }
    }
}

impl<P: Ports> Vault<P> {
    /// An attach that failed without Stripe's answer (unavailable, unreadable, or cut by
    /// the deadline) may have attached the card all the same: detach the token's card. A
    /// refusal (a 4xx), or an attach the deadline kept from being sent, attached nothing.
    pub(crate) async fn undo_lost_attach(
        &self,
        auth: &StripeAuth,
        customer: &str,
        token: &str,
        e: &StripeError,
    ) {
        let nothing_sent = matches!(e, StripeError::OutOfTime(OutOfTime { sent: false, .. }));
        if !nothing_sent && !matches!(e, StripeError::Api { .. }) {
            let (customer, token) = (customer.to_owned(), token.to_owned());
            self.compensate(auth, Undo::DetachToken { customer, token })
                .await;
        }
    }

    pub async fn compensate(&self, auth: &StripeAuth, undo: Undo) {
        match Deadline::current() {
            Some(d) => d.for_compensation().scope(self.undo(auth, undo)).await,
            None => self.undo(auth, undo).await,
        }
    }

    async fn undo(&self, auth: &StripeAuth, undo: Undo) {
        let result = match &undo {
            Undo::Detach { customer, card } => self.detach(auth, customer, card).await.map(drop),
            Undo::DetachToken { customer, token } => {
                match self.gateway.token_card_id(auth, token).await {
                    // Logged by the card's id, which names it without the token.
                    Ok(card) => {
                        let result = self.detach(auth, customer, &card).await.map(drop);
                        let customer = customer.clone();
                        return undone(result, &Undo::Detach { customer, card });
                    }
                    Err(e) => Err(e),
                }
            }
            Undo::DeleteCustomer { customer } => self.gateway.delete_customer(auth, customer).await,
        };
        undone(result, &undo);
    }

    /// Detaches `card` from `customer` at Stripe. Stripe's `resource_missing` (no such
    /// card on the customer, or no such customer) is success, [`Detached::Absent`]: the
    /// card is not attached there, which is all a detach is for; it is logged at `warn`
    /// and audited `absent`, apart from a detach, since a card someone else removed is
    /// worth a look. Any other 404 (a wrong API base, a key of another account) is a
    /// failure. One rule for every detach: a removal (`cards::remove`) and an undo alike.
    pub(crate) async fn detach(
        &self,
        auth: &StripeAuth,
        customer: &str,
        card: &str,
    ) -> Result<Detached, StripeError> {
        match self.gateway.detach_source(auth, customer, card).await {
            Ok(()) => Ok(Detached::Now),
            Err(e) if e.is_resource_missing() => {
                tracing::warn!(customer, card, "not attached at Stripe: taken as detached");
                Ok(Detached::Absent)
            }
            Err(e) => Err(e),
        }
    }
}

/// What a detach that succeeded found at Stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detached {
    /// The card was attached, and is no more.
    Now,
    /// Stripe had no such card on the customer (`resource_missing`).
    Absent,
}

impl Detached {
    /// The outcome of the `stripe.cardDetached` audit event.
    pub(crate) fn outcome(self) -> &'static str {
        match self {
            Self::Now => "ok",
            Self::Absent => "absent",
        }
    }
}

fn undone(result: Result<(), StripeError>, undo: &Undo) {
    match result {
        Ok(()) => tracing::info!(?undo, "an unrecorded Stripe change was undone"),
        Err(e) => tracing::error!(
            error = %e, ?undo,
            "an unrecorded Stripe change could not be undone; undo it by hand"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Undo;

    /// An undo is logged when it fails: the token it names is a bearer of the card.
    #[test]
    fn an_undo_prints_its_customer_never_the_token() {
        let undo = Undo::DetachToken {
            customer: "cus_1".into(),
            token: "tok_secret".into(),
        };
        let printed = format!("{undo:?}");
        assert!(
            printed.contains("cus_1") && printed.contains("[REDACTED]"),
            "{printed}"
        );
        assert!(!printed.contains("tok_secret"), "{printed}");
    }
}
