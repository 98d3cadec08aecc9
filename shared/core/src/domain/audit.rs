//! The audit trail's events and their hash chain. An event is written *pending*, in the
//! same transaction as the change it records (its key is its own [`AuditEvent::event_id`],
//! so no write of a tenant waits for another's); the chainer (`crate::chain`), off the
//! request path, then gives each pending event the next number of its tenant's chain.
//! Event `n` carries the hash of event `n - 1` (`prevHash`), and each hash is a MAC under
//! the chain's KMS HMAC key, which no request-path function may use: an edited event no
//! longer checks, a deleted one leaves a gap, and nobody without the key can make a
//! replacement that checks. An event holds ids and outcomes only: never a PAN, a CVV, a
//! token or a key.
//!
//! Who is acting, from where and in which request is known at the edge (`crate::serve`
//! and the auth rules) and read where the event is written: a `tokio::task_local!`, like
//! the request's deadline, so that no signature in between carries it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CustomerId, PaymentMethodId, Role, TenantId, Timestamp};

/// The `prevHash` of a tenant's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. Stored as its string, so that old items stay readable as actions grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    CustomerCreated,
    CardAdded,
    CardImported,
    CardMadeDefault,
    CardRemoved,
    CollectionAttempted,
    StripeCardDetached,
    /// Stripe's default source did not follow the default card (written only on failure:
    /// `vault::cards::default`).
    StripeDefaultSourceSet,
    /// A vault-held card moved to the tenant's new Stripe connection.
    CardRehomed,
    /// A connected account the tenant proved it controls (Stripe's OAuth answer), made a
    /// re-homing target by the operator (`cardvault-admin connect-account`).
    RehomeTargetRegistered,
    /// A re-homing run refused before anything was read: a target not registered for the
    /// tenant, or another tenant's.
    RehomeRefused,
    KeyCreated,
    KeyRevoked,
    TenantSettingsChanged,
    RoleDenied,
    TenantDenied,
    // Stripe's webhooks (`vault::webhooks`).
    StripeCardUpdated,
    StripeCardExpiring,
    StripeCardRemoved,
    StripeChargeFailed,
    StripeChargeSucceeded,
    StripeDeauthorized,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerCreated => "customer.created",
            Self::CardAdded => "card.added",
            Self::CardImported => "card.imported",
            Self::CardMadeDefault => "card.madeDefault",
            Self::CardRemoved => "card.removed",
            Self::CollectionAttempted => "collection.attempted",
            Self::StripeCardDetached => "stripe.cardDetached",
            Self::StripeDefaultSourceSet => "stripe.defaultSourceSet",
            Self::CardRehomed => "card.rehomed",
            Self::RehomeTargetRegistered => "rehome.targetRegistered",
            Self::RehomeRefused => "rehome.refused",
            Self::KeyCreated => "key.created",
            Self::KeyRevoked => "key.revoked",
            Self::TenantSettingsChanged => "tenant.settingsChanged",
            Self::RoleDenied => "auth.roleDenied",
            Self::TenantDenied => "auth.tenantDenied",
            Self::StripeCardUpdated => "stripe.cardUpdated",
            Self::StripeCardExpiring => "stripe.cardExpiring",
            Self::StripeCardRemoved => "stripe.cardRemoved",
            Self::StripeChargeFailed => "stripe.chargeFailed",
            Self::StripeChargeSucceeded => "stripe.chargeSucceeded",
            Self::StripeDeauthorized => "stripe.deauthorized",
        }
    }
}

/// Who acted, as stored: `apiKey:<keyId>`, `user:<sub>:<role>`, `redirect:publicKey`,
/// `operator:<name>`. Never the key or the token itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    ApiKey {
        key_id: String,
    },
    User {
        sub: String,
        role: Option<Role>,
    },
    /// The cardholder's browser, through the tenant's public key.
    Redirect,
    Operator {
        name: String,
    },
    /// A verified Stripe webhook: the event's id.
    StripeEvent {
        id: String,
    },
}

impl Actor {
    pub fn render(&self) -> String {
        match self {
            Self::ApiKey { key_id } => format!("apiKey:{key_id}"),
            Self::User { sub, role } => {
                format!("user:{sub}:{}", role.map_or("none", Role::as_str))
            }
            Self::Redirect => "redirect:publicKey".into(),
            Self::Operator { name } => format!("operator:{name}"),
            Self::StripeEvent { id } => format!("stripe:{id}"),
        }
    }
}

/// One event, before it joins the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Unique, and sorting by time: `<at>#<uuid>`. The pending event's key, and kept in
    /// its chained record, so that each can be found from the other.
    #[serde(default)]
    pub event_id: String,
    /// RFC 3339, UTC, microseconds.
    pub at: String,
    pub tenant_id: String,
    pub actor: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub customer_id: Option<u64>,
    pub payment_method_id: Option<u64>,
    /// Another object's id: a Stripe card (`card_…`), an API key's id, a setting's name.
    pub object: Option<String>,
    /// `ok`, `denied`, a collection's `Succeeded`/`Failed`/`Unknown`, …
    pub outcome: String,
}

impl AuditEvent {
    /// An event of the current request (its actor, source IP and request id, if any).
    pub fn new(at: Timestamp, tenant: &TenantId, action: AuditAction, outcome: &str) -> Self {
        let (actor, source_ip, request_id) = RequestScope::parts();
        let at = render_time(at);
        Self {
            event_id: format!("{at}#{}", uuid::Uuid::new_v4().simple()),
            at,
            tenant_id: tenant.as_str().to_owned(),
            actor: actor.unwrap_or_else(|| "unknown".into()),
            source_ip,
            request_id,
            action: action.as_str().to_owned(),
            customer_id: None,
            payment_method_id: None,
            object: None,
            outcome: outcome.to_owned(),
        }
    }

    pub fn customer(mut self, id: CustomerId) -> Self {
        self.customer_id = Some(id.get());
        self
    }

    pub fn payment_method(mut self, id: PaymentMethodId) -> Self {
        self.payment_method_id = Some(id.get());
        self
    }

    pub fn object(mut self, id: impl Into<String>) -> Self {
        self.object = Some(id.into());
        self
    }

    pub fn actor(mut self, actor: &Actor) -> Self {
        self.actor = actor.render();
        self
    }
}

/// RFC 3339, UTC, microseconds: as events store `at`, so times compare as text.
pub fn render_time(at: Timestamp) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    at.format(&f)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// An event in its tenant's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: u64,
    pub prev_hash: String,
    /// The MAC (hex) of [`chain_digest`] under the chain's key.
    pub hash: String,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// What the chain's key MACs for event `seq`: SHA-256 over the number, the previous hash
/// and every field of the event, in a fixed order (serde_json of a struct keeps
/// declaration order).
pub fn chain_digest(seq: u64, prev_hash: &str, event: &AuditEvent) -> Vec<u8> {
    let body = serde_json::to_vec(&(seq, prev_hash, event)).unwrap_or_default();
    Sha256::digest(body).to_vec()
}

/// What the chain's key MACs for the head: a head cannot be made from the events alone, so
/// a head rewound over deleted events does not check unless its MAC is one made by the key.
/// The tenant is in it, so that one tenant's head copied over another's does not check.
pub fn head_digest(tenant: &str, seq: u64, hash: &str) -> Vec<u8> {
    let body = serde_json::to_vec(&("head", tenant, seq, hash)).unwrap_or_default();
    Sha256::digest(body).to_vec()
}

/// Where a chain stops holding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number that does not check out.
    pub seq: u64,
    pub reason: String,
}

/// The tip the chainer keeps beside the chain (its head item): the last sequence number,
/// its hash, and the MAC of both ([`head_digest`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
    pub mac: String,
}

/// A pending event, as stored: `seq` once the chainer has chained it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    pub event: AuditEvent,
    pub seq: Option<u64>,
}

/// A tenant's whole trail, as the operator reads it.
#[derive(Clone, Debug, Default)]
pub struct Trail {
    /// The chained records, oldest first.
    pub records: Vec<AuditRecord>,
    pub head: Option<ChainHead>,
    /// Every pending event, chained or not, in key order.
    pub pending: Vec<PendingEvent>,
    /// Whether it was read as of one head (no chain commit between its reads): then a
    /// record past the head is a break, not a commit made while it was read.
    pub settled: bool,
    /// Items of the trail's partitions that are not its events (unreadable, or naming
    /// another tenant or id than their key): their keys, and why. Each is a break.
    pub unreadable: Vec<(String, &'static str)>,
}

/// The most a pending event may weigh as JSON: events hold ids and outcomes only, and a
/// chunk of them must fit one transaction (4 MB) and each record one item (400 KB).
pub const MAX_EVENT_BYTES: usize = 8 * 1024;

/// Why a stored pending item, `AUDITQ#<tenant>` / `<sk>`, cannot be chained as that
/// tenant's event `<sk>` (`None` when it can). Any role that may Put a pending event may
/// Put one of these, so the chainer skips them (and `audit verify` reports them) rather
/// than fail on them.
pub fn pending_fault(
    tenant: &str,
    sk: &str,
    stored: Option<&PendingEvent>,
) -> Option<&'static str> {
    if TenantId::try_from(tenant.to_owned()).is_err() {
        return Some("its key names no valid tenant");
    }
    let Some(p) = stored else {
        return Some("it is not an event (a field missing or malformed)");
    };
    if p.event.tenant_id != tenant {
        return Some("its tenantId is not its key's tenant");
    }
    if sk.is_empty() || p.event.event_id != sk {
        return Some("its eventId is not its key");
    }
    if serde_json::to_vec(&p.event).map_or(true, |b| b.len() > MAX_EVENT_BYTES) {
        return Some("it is too large to be an event");
    }
    None
}

/// Checks a trail's shape, oldest first: numbering from 1 without gaps, each `prevHash`
/// the previous hash, the last the head's; every chained pending event's record there
/// and the same, every record's pending event there; no pending event left unchained
/// since before `stale_before` (an RFC 3339 time); every event the tenant's; no item
/// that is not an event. The MACs are checked apart (`crate::chain::verify`), since they
/// need the key. Answers how many events hold.
///
/// The head is read first, then the pending events, then the records
/// (`AuditLog::tenant_trail`). Unless the trail is `settled`, the chainer may have
/// committed after the head's read: records numbered past the head are then not checked,
/// and a pending event marked past it must find its record among them (a commit's records
/// and marks are one transaction).
pub fn verify_shape(tenant: &str, trail: &Trail, stale_before: &str) -> Result<u64, ChainBreak> {
    let upto = trail.head.as_ref().map_or(0, |h| h.seq);
    let records: Vec<&AuditRecord> = trail.records.iter().filter(|r| r.seq <= upto).collect();
    if let Some((key, why)) = trail.unreadable.first() {
        return Err(ChainBreak {
            seq: records.len() as u64 + 1,
            reason: format!("item {key} is not an event of this trail: {why}"),
        });
    }
    if let Some(r) = trail
        .records
        .iter()
        .find(|r| r.seq > upto)
        .filter(|_| trail.settled)
    {
        return Err(ChainBreak {
            seq: upto + 1,
            reason: match &trail.head {
                Some(h) => format!("events after the head's {}: the head was rewound", h.seq),
                None => format!("event {} but no chain head: the head was deleted", r.seq),
            },
        });
    }
    let mut prev = GENESIS.to_owned();
    let mut expected = 1u64;
    for r in &records {
        let fail = |reason: String| ChainBreak {
            seq: expected,
            reason,
        };
        if r.event.tenant_id != tenant {
            return Err(fail(format!("it is tenant {}'s event", r.event.tenant_id)));
        }
        if r.seq != expected {
            return Err(fail(format!(
                "event {expected} is missing (next stored event is {})",
                r.seq
            )));
        }
        if r.prev_hash != prev {
            return Err(fail("its prevHash is not the previous event's hash".into()));
        }
        prev = r.hash.clone();
        expected += 1;
    }
    let last = expected - 1;
    match &trail.head {
        Some(h) if h.seq > last => {
            return Err(ChainBreak {
                seq: last + 1,
                reason: format!(
                    "the head says {} events; events after {last} are missing",
                    h.seq
                ),
            })
        }
        Some(h) if h.seq == last && last > 0 && h.hash != prev => {
            return Err(ChainBreak {
                seq: last,
                reason: "the last event's hash is not the head's".into(),
            })
        }
        _ => {}
    }
    check_pending(tenant, trail, &records, upto, stale_before)?;
    Ok(last)
}

/// The pending events against the records (those up to the head's `upto`): each side
/// must find the other.
fn check_pending(
    tenant: &str,
    trail: &Trail,
    records: &[&AuditRecord],
    upto: u64,
    stale_before: &str,
) -> Result<(), ChainBreak> {
    let by_seq = |seq: u64| records.get((seq as usize).wrapping_sub(1)).copied();
    let mut chained = std::collections::HashSet::new();
    for p in &trail.pending {
        if p.event.tenant_id != tenant {
            return Err(ChainBreak {
                seq: upto + 1,
                reason: format!(
                    "pending event {} is tenant {}'s",
                    p.event.event_id, p.event.tenant_id
                ),
            });
        }
        match p.seq {
            // Chained after the head was read (the pending events are read before the
            // records, so its record is there), or a record cut and the head rewound.
            Some(seq)
                if seq > upto
                    && trail
                        .records
                        .iter()
                        .any(|r| r.seq == seq && r.event == p.event) => {}
            Some(seq) if seq > upto => {
                return Err(ChainBreak {
                    seq: upto + 1,
                    reason: format!(
                        "event {} was chained as {seq}, past the head's {upto}: the tail was cut",
                        p.event.event_id
                    ),
                })
            }
            Some(seq) => {
                chained.insert(p.event.event_id.as_str());
                match by_seq(seq) {
                    Some(r) if r.event == p.event => {}
                    Some(_) => {
                        return Err(ChainBreak {
                            seq,
                            reason: format!(
                                "event {} differs from the record chained as {seq}: one was edited",
                                p.event.event_id
                            ),
                        })
                    }
                    None => {
                        return Err(ChainBreak {
                            seq,
                            reason: format!(
                                "event {} was chained as {seq}, which is missing: the tail was cut",
                                p.event.event_id
                            ),
                        })
                    }
                }
            }
            None if p.event.at.as_str() < stale_before => {
                return Err(ChainBreak {
                    seq: upto + 1,
                    reason: format!(
                        "event {} (at {}) was never chained",
                        p.event.event_id, p.event.at
                    ),
                })
            }
            None => {}
        }
    }
    match records
        .iter()
        .find(|r| !chained.contains(r.event.event_id.as_str()))
    {
        Some(r) => Err(ChainBreak {
            seq: r.seq,
            reason: "a chained record without its pending event (deleted)".into(),
        }),
        None => Ok(()),
    }
}

tokio::task_local! {
    /// The events of the change being written ([`Outbox::scope`]).
    static OUTBOX: RefCell<Vec<AuditEvent>>;
}

/// The audit events of one change, on their way into the change's own transaction: the
/// vault stages them around the store call that makes the change, and the store's
/// transaction path takes them into the first transaction that commits
/// (`crate::store::tx`). A task-local, like [`RequestScope`], so that no store signature
/// in between carries them.
pub struct Outbox;

impl Outbox {
    /// Runs `write` with `events` staged; answers its output and the events no
    /// transaction took (all of them if it wrote nothing, or wrote without a transaction).
    pub async fn scope<F: Future>(
        events: Vec<AuditEvent>,
        write: F,
    ) -> (F::Output, Vec<AuditEvent>) {
        let cell = RefCell::new(events);
        OUTBOX
            .scope(cell, async {
                let out = write.await;
                (out, OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut())))
            })
            .await
    }

    /// The staged events, left staged (a transaction that is cancelled takes none).
    pub fn staged() -> Vec<AuditEvent> {
        OUTBOX.try_with(|o| o.borrow().clone()).unwrap_or_default()
    }

    /// The staged events went out in a committed transaction.
    pub fn taken() {
        let _ = OUTBOX.try_with(|o| o.borrow_mut().clear());
    }
}

/// What the edge knows of the current request.
pub struct RequestScope {
    request_id: Option<String>,
    source_ip: Option<String>,
    actor: Mutex<Option<String>>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

impl RequestScope {
    pub fn new(request_id: Option<String>, source_ip: Option<String>) -> Self {
        Self {
            request_id,
            source_ip,
            actor: Mutex::new(None),
        }
    }

    /// Runs `fut` as this request.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        REQUEST.scope(self, fut).await
    }

    /// Names the caller, once authenticated. Outside a request (tools, tests) it does
    /// nothing.
    pub fn set_actor(actor: &Actor) {
        let _ = REQUEST.try_with(|r| {
            if let Ok(mut a) = r.actor.lock() {
                *a = Some(actor.render());
            }
        });
    }

    /// (actor, source IP, request id) of the current request.
    pub fn parts() -> (Option<String>, Option<String>, Option<String>) {
        REQUEST
            .try_with(|r| {
                (
                    r.actor.lock().ok().and_then(|a| a.clone()),
                    r.source_ip.clone(),
                    r.request_id.clone(),
                )
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> AuditEvent {
        AuditEvent::new(
            time::OffsetDateTime::UNIX_EPOCH,
            &TenantId::try_from("t".to_owned()).unwrap(),
            AuditAction::CardAdded,
            "ok",
        )
        .customer(CustomerId::parse(&format!("{}", 1_000_000 + n)).unwrap())
        .object(n.to_string())
    }

    /// A chain whose "MAC" is the digest itself (the shape checks do not read it).
    fn trail(n: u64) -> Trail {
        let mut prev = GENESIS.to_owned();
        let mut t = Trail::default();
        for i in 1..=n {
            let e = event(i);
            let hash = hex::encode(chain_digest(i, &prev, &e));
            t.records.push(AuditRecord {
                seq: i,
                prev_hash: prev.clone(),
                hash: hash.clone(),
                event: e.clone(),
            });
            t.pending.push(PendingEvent {
                event: e,
                seq: Some(i),
            });
            prev = hash;
        }
        t.head = Some(ChainHead {
            seq: n,
            hash: prev,
            mac: String::new(),
        });
        t.settled = true;
        t
    }

    const LONG_AGO: &str = "1970-01-01T00:00:00.000000Z";
    const NOW: &str = "2100-01-01T00:00:00.000000Z";

    #[test]
    fn an_intact_trail_holds_and_a_gap_a_cut_tail_or_a_lost_event_breaks_it() {
        let t = trail(4);
        assert_eq!(verify_shape("t", &t, NOW), Ok(4));

        let mut gap = t.clone();
        gap.records.remove(2);
        let b = verify_shape("t", &gap, NOW).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("missing"), "{b:?}");

        let mut relinked = t.clone();
        relinked.records[2].prev_hash = GENESIS.into();
        assert_eq!(verify_shape("t", &relinked, NOW).unwrap_err().seq, 3);

        // The newest event deleted: the head tells.
        let mut cut = t.clone();
        cut.records.pop();
        assert_eq!(verify_shape("t", &cut, NOW).unwrap_err().seq, 4);

        // ...and with the head rewound to the event before: its pending event tells.
        let mut rewound = cut.clone();
        rewound.head = Some(ChainHead {
            seq: 3,
            hash: rewound.records[2].hash.clone(),
            mac: String::new(),
        });
        let b = verify_shape("t", &rewound, NOW).unwrap_err();
        assert!(
            b.reason.contains("past the head's 3: the tail was cut"),
            "{b:?}"
        );

        // An event edited in its pending copy, or a record whose pending event is gone.
        let mut edited = t.clone();
        edited.pending[1].event.outcome = "denied".into();
        assert_eq!(verify_shape("t", &edited, NOW).unwrap_err().seq, 2);
        let mut orphan = t.clone();
        orphan.pending.remove(0);
        assert_eq!(verify_shape("t", &orphan, NOW).unwrap_err().seq, 1);

        // A pending event never chained: fine while fresh, a break once stale.
        let mut late = t.clone();
        late.pending.push(PendingEvent {
            event: event(5),
            seq: None,
        });
        assert_eq!(verify_shape("t", &late, LONG_AGO), Ok(4));
        let b = verify_shape("t", &late, NOW).unwrap_err();
        assert!(b.reason.contains("never chained"), "{b:?}");
        assert_eq!(b.seq, 5, "the first event past the head");
    }

    /// The head's own checks, with the pending events made to agree, as an attacker with
    /// write access would leave them: only the head tells.
    #[test]
    fn the_head_tells_a_cut_tail_or_a_swapped_last_event() {
        // The newest record and its pending event deleted together.
        let mut cut = trail(4);
        cut.records.pop();
        cut.pending.pop();
        let b = verify_shape("t", &cut, NOW).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(
            b.reason
                .contains("the head says 4 events; events after 3 are missing"),
            "{b:?}"
        );

        // The head's hash is not the last record's.
        let mut swapped = trail(4);
        if let Some(h) = swapped.head.as_mut() {
            h.hash = GENESIS.into();
        }
        let b = verify_shape("t", &swapped, NOW).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("not the head's"), "{b:?}");

        // An empty trail whose head says 0 events has nothing to compare.
        let mut empty = trail(0);
        empty.head = Some(ChainHead {
            seq: 0,
            hash: "not the genesis".into(),
            mac: String::new(),
        });
        assert_eq!(verify_shape("t", &empty, NOW), Ok(0));
    }

    /// A pending event marked past the head (a commit between the reads) must find its own
    /// record there: the same number holding another event is an edit.
    #[test]
    fn a_mark_past_the_head_needs_its_own_event_in_the_record() {
        let mut raced = trail(4);
        raced.settled = false;
        raced.head = Some(ChainHead {
            seq: 3,
            hash: raced.records[2].hash.clone(),
            mac: String::new(),
        });
        assert_eq!(verify_shape("t", &raced, NOW), Ok(3));
        raced.pending[3].event.outcome = "denied".into();
        let b = verify_shape("t", &raced, NOW).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("past the head's 3"), "{b:?}");
    }

    /// `audit verify` reads the head, then the records, then the pending events; the
    /// chainer may commit in between. What it adds past the head is not a break.
    #[test]
    fn a_chain_commit_between_the_reads_is_no_break() {
        let mut raced = trail(5);
        raced.head = Some(ChainHead {
            seq: 3,
            hash: raced.records[2].hash.clone(),
            mac: String::new(),
        });
        // Read as of one head, the same is a rewound head, broken at the first event past it.
        let b = verify_shape("t", &raced, NOW).unwrap_err();
        assert!(b.reason.contains("rewound"), "{b:?}");
        assert_eq!(b.seq, 4);
        raced.settled = false;
        assert_eq!(verify_shape("t", &raced, NOW), Ok(3));
        // The same marks without their records: a tail cut and the head rewound over it.
        raced.records.truncate(3);
        let b = verify_shape("t", &raced, NOW).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("tail was cut"), "{b:?}");
    }

    /// A trail copied whole from another tenant's partitions is not this tenant's.
    #[test]
    fn another_tenants_events_are_a_break() {
        let t = trail(2);
        let b = verify_shape("u", &t, NOW).unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.reason.contains("tenant t"), "{b:?}");
        let mut pending_only = t.clone();
        pending_only.records.clear();
        pending_only.head = None;
        for p in &mut pending_only.pending {
            p.seq = None;
        }
        let b = verify_shape("u", &pending_only, NOW).unwrap_err();
        assert!(b.reason.contains("tenant t"), "{b:?}");
        assert_eq!(b.seq, 1, "the first event past the (absent) head");
        assert_ne!(head_digest("t", 2, "h"), head_digest("u", 2, "h"));
    }

    #[test]
    fn a_pending_item_that_is_not_its_keys_event_is_named_and_a_break() {
        let e = event(1);
        let p = PendingEvent {
            event: e.clone(),
            seq: None,
        };
        assert_eq!(pending_fault("t", &e.event_id, Some(&p)), None);
        assert!(pending_fault("t", &e.event_id, None).is_some());
        assert!(pending_fault("u", &e.event_id, Some(&p)).is_some());
        assert!(pending_fault("t", "other", Some(&p)).is_some());
        assert!(pending_fault("t", "", Some(&p)).is_some());
        assert!(pending_fault("T#x", &e.event_id, Some(&p)).is_some());
        let mut big = p.clone();
        big.event.object = Some("x".repeat(MAX_EVENT_BYTES));
        assert!(pending_fault("t", &e.event_id, Some(&big)).is_some());
        // The limit is 8 KiB of JSON, inclusive: an event of exactly that size chains.
        let sized = |bytes: usize| {
            let mut s = p.clone();
            s.event.object = Some(String::new());
            let base = serde_json::to_vec(&s.event).unwrap().len();
            s.event.object = Some("x".repeat(bytes - base));
            assert_eq!(serde_json::to_vec(&s.event).unwrap().len(), bytes);
            pending_fault("t", &e.event_id, Some(&s))
        };
        assert_eq!(sized(8 * 1024), None);
        assert!(sized(8 * 1024 + 1).is_some());

        let mut t = trail(2);
        t.unreadable
            .push(("AUDITQ#t/bad".into(), "it is not an event"));
        let b = verify_shape("t", &t, NOW).unwrap_err();
        assert!(b.reason.contains("AUDITQ#t/bad"), "{b:?}");
        // Named as a break after the trail's two good events.
        assert_eq!(b.seq, 3);
    }

    #[test]
    fn event_ids_are_unique_and_sort_by_time() {
        let (a, b) = (event(1), event(1));
        assert_ne!(a.event_id, b.event_id);
        assert!(a.event_id.starts_with(&a.at), "{}", a.event_id);
    }

    #[test]
    fn the_outbox_gives_back_what_no_transaction_took() {
        let (taken, left) = tokio_test_block_on(Outbox::scope(vec![event(1)], async {
            let staged = Outbox::staged();
            Outbox::taken();
            staged.len()
        }));
        assert_eq!((taken, left.len()), (1, 0));
        let ((), left) = tokio_test_block_on(Outbox::scope(vec![event(1)], async {}));
        assert_eq!(left.len(), 1);
        assert!(
            Outbox::staged().is_empty(),
            "nothing staged outside a scope"
        );
    }

    #[test]
    fn the_actor_comes_from_the_request_scope() {
        let scoped = RequestScope::new(Some("req-1".into()), Some("203.0.113.9".into()));
        let e = tokio_test_block_on(scoped.scope(async {
            RequestScope::set_actor(&Actor::User {
                sub: "u1".into(),
                role: Some(Role::Owner),
            });
            event(1)
        }));
        assert_eq!(e.actor, "user:u1:owner");
        assert_eq!(e.source_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(event(1).actor, "unknown");
    }

    fn tokio_test_block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
