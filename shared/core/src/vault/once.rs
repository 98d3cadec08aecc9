//! Safe retries (`Idempotency-Key`), as Stripe and Powertools' idempotency make them: the
//! first request under a key claims a record (in progress until the Lambda's time runs out,
//! so that a crashed attempt frees the key), and its successful answer is kept for the
//! replay window. A retry with the same request gets that answer; with another request,
//! 422; while the first still runs, 409. The record holds hashes and the answer only.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::{
    CardEntry, CustomerId, Deadline, OnceRecord, OnceState, StoredResponse, StripeJsEntry, TenantId,
};
use crate::error::Error;
use crate::ports::{Claim, Clock, Ids, KeyService, OnceStore, Ports, StoreError};

use super::Vault;

/// How long a key replays its first answer (Stripe's 24 hours).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long the transparent redirect takes a second submit of the same card to the same
/// customer as the first (a double click, a reload), when the browser sent no key.
pub const DOUBLE_SUBMIT_WINDOW: Duration = Duration::from_secs(60);
/// An attempt's in-progress expiry when the request has no deadline (tests, tools).
const IN_PROGRESS_FALLBACK: Duration = Duration::from_secs(30);

pub const MISMATCH: &str = "Keys for idempotent requests can only be used with the same \
                            parameters they were first used with.";
pub const IN_FLIGHT: &str = "A request with this Idempotency-Key is still in progress; \
                             retry after it completes.";

/// One keyed request: whose, under which key, and a hash of what it asks.
pub struct OnceRequest<'a> {
    pub tenant: &'a TenantId,
    /// The caller within the tenant (`merchant`, `user:<sub>`, `redirect:<customer>`).
    pub scope: &'a str,
    /// The client's key, or one the vault derived.
    pub key: &'a str,
    pub request_hash: String,
    pub window: Duration,
}

/// Run the request (and finish the ticket), or answer the first answer again.
#[derive(Debug)]
pub enum Begun {
    Run(Ticket),
    Replay(StoredResponse),
    /// A redirect submit under an implicit key that another request holds: run it as if
    /// no submit came before, under no key. Only the same request, CVV and every name
    /// included, may see the first answer, and another one is not told (a 422 would say
    /// that this card was just submitted for this customer).
    Fresh,
}

/// The purpose of [`Vault::request_digest`]'s MAC.
const REQUEST_PURPOSE: &str = "once-request";

/// What marks a redirect's implicit double-submit key; no client key may start with it.
pub const IMPLICIT_PREFIX: &str = "implicit:";

/// A claimed key: its record, to complete or release.
#[derive(Debug)]
pub struct Ticket {
    record: OnceRecord,
    /// Claimed under a redirect's implicit key, not a client's.
    implicit: bool,
}

impl Ticket {
    /// What the Stripe keys of this request derive from (`vault::idempotency`): the same
    /// for a retry under the same client key, and nothing the client sent. A redirect's
    /// implicit key seeds nothing: it names the card and amount, not a request, so Stripe
    /// would replay the first PaymentIntent (a charge reported, none made) for 24 hours
    /// after the 60 s double-submit window ends.
    pub fn stripe_seed(&self) -> Option<&str> {
        (!self.implicit).then_some(self.record.key.as_str())
    }
}

/// SHA-256 of the parts, hex; the separator keeps ("a", "bc") and ("ab", "c") apart.
pub fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

impl<P: Ports> Vault<P> {
    /// Claims the key, or says what holds it. One conditional PutItem (a second read only
    /// where DynamoDB does not return the record that held it).
    pub async fn begin_once(&self, req: OnceRequest<'_>) -> Result<Begun, Error> {
        let now = self.clock.now();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let running = Deadline::current().map_or(IN_PROGRESS_FALLBACK, |d| d.remaining());
        let key = digest([req.tenant.as_str(), req.scope, req.key].map(str::as_bytes));
        let record = OnceRecord {
            tenant: req.tenant.clone(),
            key,
            request_hash: req.request_hash,
            owner: self.ids.request_id().simple().to_string(),
            state: OnceState::InProgress {
                until_ms: now_ms + running.as_millis() as i64,
            },
            expires_at: now.unix_timestamp() + req.window.as_secs() as i64,
        };
        let implicit = req.key.starts_with(IMPLICIT_PREFIX);
        let held = match self.store.claim(&record, now_ms).await {
            Ok(Claim::Claimed) => return Ok(Begun::Run(Ticket { record, implicit })),
            Ok(Claim::Held(held)) => held,
            Err(StoreError::Conflict) => return Err(Error::Conflict(IN_FLIGHT.into())),
            Err(e) => return Err(e.into()),
        };
        if held.request_hash != record.request_hash {
            return match implicit {
                true => Ok(Begun::Fresh),
                false => Err(Error::Unprocessable(MISMATCH.into())),
            };
        }
        match held.state {
            OnceState::Completed(answer) => Ok(Begun::Replay(answer)),
            OnceState::InProgress { .. } => Err(Error::Conflict(IN_FLIGHT.into())),
        }
    }

    /// Keeps `answer` for the window, or (no answer worth keeping: an error, which wrote
    /// nothing) frees the key so that a retry runs anew. One write.
    pub async fn finish_once(
        &self,
        ticket: Ticket,
        answer: Option<StoredResponse>,
    ) -> Result<(), Error> {
        let Ticket { mut record, .. } = ticket;
        match answer {
            Some(answer) => {
                record.state = OnceState::Completed(answer);
                self.store.complete(&record).await?;
            }
            None => {
                self.store
                    .release(&record.tenant, &record.key, &record.owner)
                    .await?
            }
        }
        Ok(())
    }

    /// The key a redirect without `Idempotency-Key` runs under, and the hash of what it
    /// asks. The key: the same card (its keyed fingerprint, never the number), expiry,
    /// collection and default choice for the same customer, so that a double submit waits
    /// for the first. The hash: [`Self::request_digest`] of the whole request. Only an
    /// equal hash replays.
    pub async fn double_submit(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        entry: &CardEntry,
        request: &[u8],
    ) -> Result<(String, String), Error> {
        let fp = self.keys.fingerprints(tenant, &entry.number).await?;
        let detail = format!(
            "{customer}/{}/{}/{:?}/{}",
            entry.expiry.month, entry.expiry.year, entry.collect_minor, entry.make_default
        );
        let key = format!(
            "{IMPLICIT_PREFIX}{}",
            digest([fp.current.as_bytes(), detail.as_bytes()])
        );
        Ok((key, self.request_digest(request).await?))
    }

    /// The double-submit key of a Stripe.js-flow post: its PaymentMethod (one card, made
    /// once in the browser) and what the post asks of it.
    pub async fn double_submit_stripe_js(
        &self,
        customer: CustomerId,
        entry: &StripeJsEntry,
        request: &[u8],
    ) -> Result<(String, String), Error> {
        let detail = format!(
            "{customer}/{:?}/{}",
            entry.collect_minor, entry.make_default
        );
        let key = format!(
            "{IMPLICIT_PREFIX}{}",
            digest([entry.payment_method.as_bytes(), detail.as_bytes()])
        );
        Ok((key, self.request_digest(request).await?))
    }

    /// The hash kept of a request that carries card data (`request`, its bytes: method,
    /// path, query and body, the number and CVV included): a MAC under the fingerprint key,
    /// so that a record read from the table cannot be tried against guessed numbers.
    pub async fn request_digest(&self, request: &[u8]) -> Result<String, Error> {
        Ok(self.keys.request_digest(REQUEST_PURPOSE, request).await?)
    }
}
