//! Card-testing defences on the transparent redirect: every attempt that would reach
//! Stripe is first counted per source IP, per public key (the tenant) and per customer in a
//! fixed window, and refused (429) once a count reaches its limit; declines are counted
//! per customer, and N of them lock the customer's redirect for the rest of the window.
//!
//! The counting happens after reCAPTCHA and validation, just before Stripe: a request that
//! never reaches Stripe tests no card, and counting unverified requests would let anyone
//! holding the public key (it is in the merchant's page) exhaust the tenant's limit, and
//! lock out every cardholder, without solving a single reCAPTCHA.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::cards::Added;
use super::Vault;
use crate::domain::{CardEntry, CustomerId, StripeJsEntry, Tenant};
use crate::error::Error;
use crate::ports::{
    Admission, Clock, Counter, PaymentMethodStore, Ports, StoreError, VelocityStore,
};

/// The one answer to a refused attempt, whichever limit tripped (the log says which).
pub const TOO_MANY: &str = "Too many attempts to add a card; try again later.";

/// What one redirect did, for the adds-and-declines metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A new card stored.
    pub adds: u32,
    /// A card declined at verification, or a collection that failed.
    pub declines: u32,
    /// An attempt refused by a velocity limit.
    pub refused: u32,
}

impl Outcome {
    pub fn of(result: &Result<Added, Error>) -> Self {
        match result {
            Ok(a) => Self {
                adds: u32::from(a.created),
                declines: u32::from(
                    a.collection
                        .as_ref()
                        .is_some_and(|c| c.succeeded == Some(false)),
                ),
                refused: 0,
            },
            Err(Error::Declined { .. }) => Self {
                declines: 1,
                ..Self::default()
            },
            Err(Error::TooManyRequests(_)) => Self {
                refused: 1,
                ..Self::default()
            },
            Err(_) => Self::default(),
        }
    }
}

/// The fixed window an instant falls in.
struct Window {
    start: i64,
    expires_at: i64,
}

impl Window {
    fn at(now: i64, secs: u32) -> Self {
        let secs = i64::from(secs.max(1));
        let start = now - now.rem_euclid(secs);
        // Kept one window past its end, then left to the table's TTL.
        Self {
            start,
            expires_at: start + 2 * secs,
        }
    }

    fn counter(&self, tenant: &Tenant, subject: &str, limit: u32) -> Counter {
        Counter {
            key: format!("{}#{subject}#{}", tenant.id, self.start),
            limit,
            expires_at: self.expires_at,
        }
    }
}

/// The source IP as a counter's subject: an IPv6 caller counts by its /64 (one host is
/// given a whole /64), and the address is hashed with the tenant so that the table never
/// holds it raw. (An IPv4 hash can be reversed by trying all 2^32; the item lives only two
/// windows.)
fn ip_subject(tenant: &Tenant, ip: Option<&str>) -> String {
    let prefix = match ip.and_then(|i| i.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    };
    let mut h = Sha256::new();
    h.update(tenant.id.as_str().as_bytes());
    h.update([0u8]);
    h.update(prefix.as_bytes());
    format!("ip#{}", &hex::encode(h.finalize())[..32])
}

fn declines_counter(w: &Window, tenant: &Tenant, customer: CustomerId) -> Counter {
    let limits = &tenant.velocity;
    w.counter(tenant, &format!("declines#{customer}"), limits.declines())
}

impl<P: Ports> Vault<P> {
    /// The transparent redirect's add: the customer and the duplicate check first, then
    /// the velocity limits, then Stripe; its declines counted toward the customer's lockout
    /// after.
    pub async fn add_from_redirect(
        &self,
        tenant: &Tenant,
        customer: CustomerId,
        entry: CardEntry,
        source_ip: Option<&str>,
    ) -> Result<Added, Error> {
        // A customer that does not exist answers 404 before anything is counted: made-up ids
        // must not spend the tenant's per-key budget and lock out every real cardholder.
        let found = self.look_up_card(tenant, customer, &entry).await?;
        let add = self.add_looked_up(tenant, found, entry);
        self.counted(tenant, customer, source_ip, add).await
    }

    /// The redirect's add for a tenant whose page makes the PaymentMethod with Stripe.js:
    /// the same order (the customer, then the limits, then Stripe, then its declines).
    pub async fn add_stripe_js_from_redirect(
        &self,
        tenant: &Tenant,
        customer: CustomerId,
        entry: StripeJsEntry,
        source_ip: Option<&str>,
    ) -> Result<Added, Error> {
        let (found, _) = self
            .store
            .customer_and_dedupe(&tenant.id, customer, &[])
            .await?;
        let found = found.ok_or_else(|| Error::not_found("Customer", customer))?;
        let add = self.add_stripe_js_card(tenant, found, entry);
        self.counted(tenant, customer, source_ip, add).await
    }

    /// Runs `add` once the attempt is admitted by the velocity limits, and counts its
    /// decline toward the customer's lockout.
    async fn counted(
        &self,
        tenant: &Tenant,
        customer: CustomerId,
        source_ip: Option<&str>,
        add: impl std::future::Future<Output = Result<Added, Error>>,
    ) -> Result<Added, Error> {
        let w = Window::at(
            self.clock.now().unix_timestamp(),
            tenant.velocity.window_secs(),
        );
        self.admit(&w, tenant, customer, source_ip).await?;
        let result = add.await;
        if let Ok(added) = &result {
            self.record_redirect_add(added).await;
        }
        if Outcome::of(&result).declines > 0 {
            // The decline stands whether or not it could be counted.
            if let Err(e) = self
                .store
                .count(&declines_counter(&w, tenant, customer))
                .await
            {
                tracing::warn!(error = %e, tenant = %tenant.id, %customer, "a decline was not counted");
            }
        }
        result
    }

    /// [`Self::admit`] in the current window.
    pub(crate) async fn admit_now(
        &self,
        tenant: &Tenant,
        customer: CustomerId,
        ip: Option<&str>,
    ) -> Result<(), Error> {
        let w = Window::at(
            self.clock.now().unix_timestamp(),
            tenant.velocity.window_secs(),
        );
        self.admit(&w, tenant, customer, ip).await
    }

    /// One round trip: counts the attempt against every limit, or refuses it.
    async fn admit(
        &self,
        w: &Window,
        tenant: &Tenant,
        customer: CustomerId,
        ip: Option<&str>,
    ) -> Result<(), Error> {
        let limits = &tenant.velocity;
        let counts = [
            w.counter(tenant, &ip_subject(tenant, ip), limits.per_ip()),
            w.counter(tenant, "key", limits.per_public_key()),
            w.counter(
                tenant,
                &format!("customer#{customer}"),
                limits.per_customer(),
            ),
        ];
        let lockout = declines_counter(w, tenant, customer);
        let admission = match self.store.admit(&counts, &lockout).await {
            Ok(a) => a,
            // Still contended after the store's retries: a burst on one counter, not a fault.
            Err(StoreError::Conflict) => {
                return Err(Error::Unavailable {
                    message: "Too many attempts at once; nothing was stored. Try again.".into(),
                    source: None,
                })
            }
            Err(e) => return Err(e.into()),
        };
        match admission {
            Admission::Admitted => Ok(()),
            Admission::Refused(i) => {
                let limit = [
                    "per source IP",
                    "per public key",
                    "per customer",
                    "declines",
                ]
                .get(i)
                .copied()
                .unwrap_or("unknown");
                tracing::warn!(tenant = %tenant.id, %customer, limit, "card-testing limit reached; attempt refused");
                Err(Error::TooManyRequests(TOO_MANY.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_on_their_multiple_and_outlive_it() {
        let w = Window::at(7_205, 3600);
        assert_eq!((w.start, w.expires_at), (7_200, 14_400));
        assert_eq!(Window::at(7_200, 3600).start, 7_200);
        assert_eq!(Window::at(7_199, 3600).start, 3_600);
    }
}
