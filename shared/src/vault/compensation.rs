//! Undoing a Stripe change that could not be recorded: a card attached, or a customer
//! made, must not stay at Stripe with no record of it. Best effort; a failure is logged
//! with the ids needed to finish by hand (they name Stripe objects, never card data).

use super::Vault;
use crate::ports::{PaymentGateway, Ports, StripeAuth};

/// What to undo at Stripe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undo {
    /// Detach a card from its Stripe customer.
    Detach { customer: String, card: String },
    /// Delete a Stripe customer (it holds only the card it was made with).
    DeleteCustomer { customer: String },
}

impl<P: Ports> Vault<P> {
    pub async fn compensate(&self, auth: &StripeAuth, undo: Undo) {
        let result = match &undo {
            Undo::Detach { customer, card } => {
                self.gateway.detach_source(auth, customer, card).await
            }
            Undo::DeleteCustomer { customer } => self.gateway.delete_customer(auth, customer).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, ?undo, "an unrecorded Stripe change could not be undone; undo it by hand");
        }
    }
}
