//! The audit chainer, off the request path: given pending events (from the table's
//! stream), it gives each the next number of its tenant's chain, its `prevHash` and its
//! MAC under the chain's key, and moves the tenant's head, in one transaction per chunk on
//! condition that the head has not moved and no event of the chunk is chained yet. It is
//! the only writer of the chain and its head, so nothing contends on the request path;
//! the condition keeps it right under a redelivered batch, or two batches of one tenant at
//! once (the loser reads again and chains what is left). Also the operator's check of a
//! trail's MACs ([`verify`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::domain::audit::{chain_digest, head_digest, verify_shape, GENESIS};
use crate::domain::{AuditEvent, AuditRecord, ChainBreak, ChainHead, Trail};
use crate::ports::{AuditChainStore, ChainKey, KeyError, PendingKey, StoreError};

/// Events per transaction: two writes each and the head, under DynamoDB's 100.
pub const CHUNK: usize = 40;
/// Reads of the head again after losing it to another batch.
const ATTEMPTS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the chain's head kept moving")]
    Contended,
}

/// What one batch did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Chained {
    /// Events chained now (a redelivered event chained before is not counted).
    pub chained: usize,
    /// Tenants whose events are not all chained: the batch's records of these are retried.
    pub failed_tenants: Vec<String>,
}

/// Chains the pending events of `keys`, tenant by tenant.
pub async fn chain_pending<S, K>(store: &S, key: &K, keys: Vec<PendingKey>) -> Chained
where
    S: AuditChainStore + ?Sized,
    K: ChainKey + ?Sized,
{
    let mut by_tenant: BTreeMap<String, Vec<PendingKey>> = BTreeMap::new();
    for k in keys {
        by_tenant.entry(k.tenant.clone()).or_default().push(k);
    }
    let mut out = Chained::default();
    for (tenant, keys) in by_tenant {
        match chain_tenant(store, key, &tenant, &keys).await {
            Ok(n) => out.chained += n,
            Err(e) => {
                tracing::error!(error = %e, %tenant, "audit events not chained; retried");
                out.failed_tenants.push(tenant);
            }
        }
    }
    out
}

async fn chain_tenant<S, K>(
    store: &S,
    key: &K,
    tenant: &str,
    keys: &[PendingKey],
) -> Result<usize, ChainError>
where
    S: AuditChainStore + ?Sized,
    K: ChainKey + ?Sized,
{
    let mut done = 0;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            let cap = (10u64 << attempt).min(500);
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (cap + 1))).await;
        }
        let mut pending: Vec<AuditEvent> = store
            .pending_events(keys)
            .await?
            .into_iter()
            .filter(|p| p.seq.is_none())
            .map(|p| p.event)
            .collect();
        if pending.is_empty() {
            return Ok(done);
        }
        // Time order within a batch (the id starts with the time).
        pending.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let mut head = store.chain_head(tenant).await?;
        let mut lost = false;
        for chunk in pending.chunks(CHUNK) {
            let (records, next) = link(key, head.as_ref(), chunk).await?;
            match store
                .extend_chain(tenant, head.as_ref(), &records, &next)
                .await
            {
                Ok(()) => {
                    done += records.len();
                    head = Some(next);
                }
                Err(StoreError::Conflict) => {
                    lost = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !lost {
            return Ok(done);
        }
    }
    Err(ChainError::Contended)
}

/// `events` as the records after `head`, and the head after them.
async fn link<K: ChainKey + ?Sized>(
    key: &K,
    head: Option<&ChainHead>,
    events: &[AuditEvent],
) -> Result<(Vec<AuditRecord>, ChainHead), KeyError> {
    let (mut seq, mut prev) = head.map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash.clone()));
    let mut records = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let hash = hex::encode(key.mac(&chain_digest(seq, &prev, e)).await?);
        records.push(AuditRecord {
            seq,
            prev_hash: prev,
            hash: hash.clone(),
            event: e.clone(),
        });
        prev = hash;
    }
    let mac = hex::encode(key.mac(&head_digest(seq, &prev)).await?);
    Ok((
        records,
        ChainHead {
            seq,
            hash: prev,
            mac,
        },
    ))
}

/// Checks a whole trail: its shape ([`verify_shape`]), then every record's MAC and the
/// head's with the chain's key. Answers how many events hold, or the first break.
pub async fn verify<K: ChainKey + ?Sized>(
    trail: &Trail,
    key: &K,
    stale_before: &str,
) -> Result<Result<u64, ChainBreak>, KeyError> {
    let n = match verify_shape(trail, stale_before) {
        Ok(n) => n,
        Err(b) => return Ok(Err(b)),
    };
    let valid = |hex_mac: &str| hex::decode(hex_mac).unwrap_or_default();
    for r in &trail.records {
        let digest = chain_digest(r.seq, &r.prev_hash, &r.event);
        if !key.verify(&digest, &valid(&r.hash)).await? {
            return Ok(Err(ChainBreak {
                seq: r.seq,
                reason: "its MAC does not verify: edited, or not made with the chain's key".into(),
            }));
        }
    }
    if let Some(h) = trail.head.as_ref().filter(|h| h.seq > 0) {
        if !key
            .verify(&head_digest(h.seq, &h.hash), &valid(&h.mac))
            .await?
        {
            return Ok(Err(ChainBreak {
                seq: h.seq,
                reason: "the head's MAC does not verify: rewritten without the chain's key".into(),
            }));
        }
    }
    Ok(Ok(n))
}
