//! The audit trail's events and their hash chain. Each tenant's events form one chain:
//! event `n` carries the hash of event `n - 1` (`prevHash`), so an edited event no longer
//! hashes to what its successor says, and a deleted one leaves a gap in the sequence.
//! An event holds ids and outcomes only: never a PAN, a CVV, a token or a key.
//!
//! Who is acting, from where and in which request is known at the edge (`crate::serve`
//! and the auth rules) and read where the event is written: a `tokio::task_local!`, like
//! the request's deadline, so that no signature in between carries it.

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
    /// A vault-held card moved to the tenant's new Stripe connection.
    CardRehomed,
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
            Self::CardRehomed => "card.rehomed",
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

    /// A refusal: written at most once a minute per caller (`vault::audit`).
    pub fn is_denial(self) -> bool {
        matches!(self, Self::RoleDenied | Self::TenantDenied)
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
        Self {
            at: render_time(at),
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

fn render_time(at: Timestamp) -> String {
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
    pub hash: String,
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditRecord {
    /// `event` as number `seq` of its chain, after the event hashed `prev_hash`.
    pub fn chain(seq: u64, prev_hash: &str, event: AuditEvent) -> Self {
        Self {
            seq,
            prev_hash: prev_hash.to_owned(),
            hash: chain_hash(seq, prev_hash, &event),
            event,
        }
    }
}

/// SHA-256 over the sequence number, the previous hash and every field of the event, in
/// a fixed order (serde_json of a struct keeps declaration order), hex.
pub fn chain_hash(seq: u64, prev_hash: &str, event: &AuditEvent) -> String {
    let body = serde_json::to_vec(&(seq, prev_hash, event)).unwrap_or_default();
    hex::encode(Sha256::digest(body))
}

/// Where a chain stops holding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number that does not check out.
    pub seq: u64,
    pub reason: String,
}

/// The tip a store keeps beside the chain (its head item): the last sequence number and
/// its hash.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// Checks a whole chain, oldest first, against its head: numbering from 1 without gaps,
/// each hash recomputed, each `prevHash` the previous hash, and the last the head's. Answers
/// how many events hold.
pub fn verify_chain(records: &[AuditRecord], head: Option<&ChainHead>) -> Result<u64, ChainBreak> {
    let mut prev = GENESIS.to_owned();
    let mut expected = 1u64;
    for r in records {
        let fail = |reason: String| ChainBreak {
            seq: expected,
            reason,
        };
        if r.seq != expected {
            return Err(fail(format!(
                "event {expected} is missing (next stored event is {})",
                r.seq
            )));
        }
        if r.prev_hash != prev {
            return Err(fail("its prevHash is not the previous event's hash".into()));
        }
        if chain_hash(r.seq, &r.prev_hash, &r.event) != r.hash {
            return Err(fail("its content does not match its hash (edited)".into()));
        }
        prev = r.hash.clone();
        expected += 1;
    }
    let last = expected - 1;
    match head {
        Some(h) if h.seq > last => Err(ChainBreak {
            seq: last + 1,
            reason: format!(
                "the head says {} events; events after {last} are missing",
                h.seq
            ),
        }),
        Some(h) if h.seq == last && last > 0 && h.hash != prev => Err(ChainBreak {
            seq: last,
            reason: "the last event's hash is not the head's".into(),
        }),
        Some(h) if h.seq < last => Err(ChainBreak {
            seq: h.seq + 1,
            reason: format!("events after the head's {}: the head was rewound", h.seq),
        }),
        None if last > 0 => Err(ChainBreak {
            seq: 1,
            reason: "events but no chain head: the head was deleted".into(),
        }),
        _ => Ok(last),
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
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|i| {
                let r = AuditRecord::chain(i, &prev, event(i));
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_holds_and_an_edit_or_a_gap_breaks_it() {
        let c = chain(4);
        let head = ChainHead {
            seq: 4,
            hash: c[3].hash.clone(),
        };
        assert_eq!(verify_chain(&c, Some(&head)), Ok(4));

        let mut edited = c.clone();
        edited[1].event.outcome = "denied".into();
        assert_eq!(verify_chain(&edited, Some(&head)).unwrap_err().seq, 2);

        let mut gap = c.clone();
        gap.remove(2);
        let b = verify_chain(&gap, Some(&head)).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("missing"), "{b:?}");

        // The newest event deleted: only the head tells.
        assert_eq!(verify_chain(&c[..3], Some(&head)).unwrap_err().seq, 4);
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
