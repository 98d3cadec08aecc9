//! Every idempotency key cardvault sends to Stripe, made in one place. A key is derived
//! from what the request is about, so that a retry of the same work (ours, or a client's)
//! gets Stripe's first answer back instead of a second object. Keys name cardvault's own
//! ids only, or a hash: never a token or a card number.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{CustomerId, PaymentMethodId, StripeToken, TenantId};

const PREFIX: &str = "cardvault";

tokio::task_local! {
    /// The request's client key, as its record names it (`vault::once`): a hash.
    static CLIENT: String;
}

/// Runs `fut` with the keys of its Stripe calls derived from `seed` (a claimed
/// `Idempotency-Key`'s record), so that a client's retry repeats Stripe's keys too.
pub async fn under_client_key<F: std::future::Future>(seed: String, fut: F) -> F::Output {
    CLIENT.scope(seed, fut).await
}

/// The per-request part of a key: the client's key when one was given, else `fresh`.
fn per_request(fresh: impl std::fmt::Display) -> String {
    CLIENT
        .try_with(|k| format!("k{k}"))
        .unwrap_or_else(|_| fresh.to_string())
}

/// A key for Stripe's `Idempotency-Key` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Stripe customer of a vault customer: concurrent first cards share one.
    pub fn vault_customer(tenant: &TenantId, customer: CustomerId) -> Self {
        Self(format!("{PREFIX}-customer-{tenant}-{customer}"))
    }

    /// A further call of the same request, under a key of its own.
    pub fn step(&self, step: &str) -> Self {
        Self(format!("{}-{step}", self.0))
    }

    /// The PaymentMethod made for the card about to be recorded.
    pub fn payment_method(card: PaymentMethodId) -> Self {
        Self(format!("{PREFIX}-pm-{}", per_request(card)))
    }

    /// The SetupIntent that saves it for off-session charges.
    pub fn setup(card: PaymentMethodId) -> Self {
        Self(format!("{PREFIX}-setup-{}", per_request(card)))
    }

    /// A collection on a card, for one request: a retry of our own call replays it, and
    /// the next request's collection is a new PaymentIntent (never the first one replayed).
    pub fn collect(card: PaymentMethodId, request: Uuid) -> Self {
        Self(format!(
            "{PREFIX}-collect-{card}-{}",
            per_request(request.simple())
        ))
    }

    /// The token that re-verifies a card on file before a collection, for one request.
    pub fn recheck_token(card: PaymentMethodId, request: Uuid) -> Self {
        Self(format!(
            "{PREFIX}-recheck-token-{card}-{}",
            per_request(request.simple())
        ))
    }

    /// Attaching that token, where Stripe checks the CVC and expiry, for one request.
    pub fn recheck_attach(card: PaymentMethodId, request: Uuid) -> Self {
        Self(format!(
            "{PREFIX}-recheck-attach-{card}-{}",
            per_request(request.simple())
        ))
    }

    /// A user's Stripe customer made from a token: the SHA-256 of tenant, user and token,
    /// so the same request always maps to the same key and the key reveals none of them.
    pub fn stripe_customer(tenant: &TenantId, user: &str, token: &StripeToken) -> Self {
        let mut h = Sha256::new();
        for part in [tenant.as_str(), user, token.reveal()] {
            h.update(part.as_bytes());
            // The separator keeps ("a", "bc") and ("ab", "c") apart.
            h.update([0u8]);
        }
        Self(format!("cv-scus-{}", hex::encode(h.finalize())))
    }

    /// Re-homing: the Stripe customer of a vault customer at a target connection. The same
    /// for every run to that target, so an interrupted run's retry gets the first one back.
    pub fn rehome_customer(tenant: &TenantId, customer: CustomerId, target: &str) -> Self {
        Self(format!(
            "{PREFIX}-rehome-customer-{}",
            digest(&[tenant.as_str(), &customer.to_string(), target])
        ))
    }

    /// Re-homing: a vault-held card added at a target connection, once per (tenant, card,
    /// the Stripe card it moves from, target). A retry of the same move gets Stripe's first
    /// answer; a card that moved elsewhere meanwhile (its copy here detached) moves anew,
    /// never to the detached copy Stripe would replay.
    pub fn rehome_card(tenant: &TenantId, card: PaymentMethodId, from: &str, target: &str) -> Self {
        Self(format!(
            "{PREFIX}-rehome-card-{}",
            digest(&[tenant.as_str(), &card.to_string(), from, target])
        ))
    }
}

/// SHA-256 of the parts, each ended by a NUL, so ("a", "bc") and ("ab", "c") differ.
fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::try_from(id.to_string()).unwrap()
    }

    #[test]
    fn stripe_customer_keys_are_stable_and_separate_users() {
        let t = tenant("demo-a");
        let tok = StripeToken::parse("tok_abc").unwrap();
        let k = IdempotencyKey::stripe_customer(&t, "u1", &tok);
        assert_eq!(k, IdempotencyKey::stripe_customer(&t, "u1", &tok));
        assert_ne!(k, IdempotencyKey::stripe_customer(&t, "u2", &tok));
        assert!(!k.as_str().contains("abc") && k.as_str().starts_with("cv-scus-"));
        assert!(k.as_str().len() < 255);
        assert_ne!(
            IdempotencyKey::stripe_customer(&t, "bu1", &tok),
            IdempotencyKey::stripe_customer(&tenant("demo-ab"), "u1", &tok)
        );
    }

    #[test]
    fn card_keys_differ_by_step_and_card() {
        let a = PaymentMethodId::try_from(1).unwrap();
        let b = PaymentMethodId::try_from(2).unwrap();
        let (r1, r2) = (Uuid::from_u64_pair(1, 1), Uuid::from_u64_pair(1, 2));
        let keys = [
            IdempotencyKey::payment_method(a),
            IdempotencyKey::setup(a),
            IdempotencyKey::collect(a, r1),
            IdempotencyKey::collect(a, r2),
            IdempotencyKey::collect(b, r1),
            IdempotencyKey::recheck_token(a, r1),
            IdempotencyKey::recheck_attach(a, r1),
            IdempotencyKey::setup(b),
        ];
        for (i, x) in keys.iter().enumerate() {
            for y in &keys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(IdempotencyKey::setup(a).as_str(), "cardvault-setup-1");
        assert!(IdempotencyKey::collect(a, r1).as_str().len() < 255);
    }
}
