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

use crate::domain::audit::{chain_digest, head_digest, pending_fault, verify_shape, GENESIS};
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

/// Chains the pending events of `keys`, tenant by tenant. A pending item that is not
/// its key's event (see [`pending_fault`]) is skipped and left unchained, for `audit
/// verify` to report: it never fails its tenant or the batch.
pub async fn chain_pending<S, K>(store: &S, key: &K, keys: Vec<PendingKey>) -> Chained
where
    S: AuditChainStore + ?Sized,
    K: ChainKey + ?Sized,
{
    // Each key once (BatchGetItem refuses a key twice); none empty (no item has one).
    let mut by_tenant: BTreeMap<String, std::collections::BTreeSet<PendingKey>> = BTreeMap::new();
    for k in keys.into_iter().filter(|k| !k.event_id.is_empty()) {
        by_tenant.entry(k.tenant.clone()).or_default().insert(k);
    }
    let mut out = Chained::default();
    for (tenant, keys) in by_tenant {
        let keys: Vec<PendingKey> = keys.into_iter().collect();
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
        let mut pending: Vec<AuditEvent> = Vec::new();
        for stored in store.pending_events(keys).await? {
            // Read by its key, so its tenant is `tenant`; keys come from the stream.
            let k = &stored.key;
            if let Some(why) = pending_fault(tenant, &k.event_id, stored.pending.as_ref()) {
                if attempt == 0 {
                    tracing::error!(%tenant, sk = %k.event_id, reason = why,
                        "a pending audit item is not an event; left unchained");
                }
                continue;
            }
            if let Some(p) = stored.pending.filter(|p| p.seq.is_none()) {
                pending.push(p.event);
            }
        }
        if pending.is_empty() {
            return Ok(done);
        }
        // Time order within a batch (the id starts with the time).
        pending.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let mut head = store.chain_head(tenant).await?;
        let mut lost = false;
        for chunk in pending.chunks(CHUNK) {
            let (records, next) = link(key, tenant, head.as_ref(), chunk).await?;
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
    tenant: &str,
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
    let mac = hex::encode(key.mac(&head_digest(tenant, seq, &prev)).await?);
    Ok((
        records,
        ChainHead {
            seq,
            hash: prev,
            mac,
        },
    ))
}

/// Checks `tenant`'s whole trail: its shape ([`verify_shape`]), then every record's MAC
/// (up to the head) and the head's with the chain's key. Answers how many events hold,
/// or the first break.
pub async fn verify<K: ChainKey + ?Sized>(
    tenant: &str,
    trail: &Trail,
    key: &K,
    stale_before: &str,
) -> Result<Result<u64, ChainBreak>, KeyError> {
    let n = match verify_shape(tenant, trail, stale_before) {
        Ok(n) => n,
        Err(b) => return Ok(Err(b)),
    };
    let valid = |hex_mac: &str| hex::decode(hex_mac).unwrap_or_default();
    for r in trail.records.iter().filter(|r| r.seq <= n) {
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
            .verify(&head_digest(tenant, h.seq, &h.hash), &valid(&h.mac))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::chain_key::LocalChainKey;
    use crate::domain::{NewCustomer, TenantId};
    use crate::memory::{vault, MemoryStore};
    use crate::ports::AuditLog;

    const NOW: &str = "2100-01-01T00:00:00.000000Z";
    const T: &str = "shop-connect";

    fn tenant() -> TenantId {
        TenantId::try_from(T.to_owned()).unwrap()
    }

    async fn trail(store: &MemoryStore) -> Trail {
        store.tenant_trail(&tenant()).await.unwrap()
    }

    /// 300 writes of one tenant from 48 writers at once: none waits on another's event,
    /// and every event is chained once, by batches that race each other for the head.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_concurrent_writers_keeps_every_event() {
        let v = Arc::new(vault());
        let writers = (0..48).map(|w| {
            let v = v.clone();
            tokio::spawn(async move {
                for _ in (w..300).step_by(48) {
                    v.create_customer(&tenant(), NewCustomer::default())
                        .await
                        .unwrap();
                }
            })
        });
        for w in writers.collect::<Vec<_>>() {
            w.await.unwrap();
        }
        let keys = v.store.unchained();
        assert_eq!(keys.len(), 300);
        // Six batches at once, as a stream's shards could deliver them.
        let key = Arc::new(LocalChainKey([3; 32]));
        let batches = keys.chunks(50).map(|batch| {
            let (v, key, batch) = (v.clone(), key.clone(), batch.to_vec());
            tokio::spawn(async move { chain_pending(&v.store, key.as_ref(), batch).await })
        });
        let mut chained = 0;
        for b in batches.collect::<Vec<_>>() {
            let done = b.await.unwrap();
            assert!(done.failed_tenants.is_empty(), "{done:?}");
            chained += done.chained;
        }
        assert_eq!(chained, 300);
        let t = trail(&v.store).await;
        assert_eq!(verify(T, &t, key.as_ref(), NOW).await.unwrap(), Ok(300));
        assert!(t.pending.iter().all(|p| p.seq.is_some()));
    }

    /// Items any request-path role could Put under `AUDITQ#<tenant>` that are not that
    /// key's event: skipped (never failing the tenant or the batch), left unchained, and
    /// named by `audit verify`; the tenant's real events are chained all the same, and
    /// nothing lands in another tenant's chain.
    #[tokio::test]
    async fn poison_pending_items_never_fail_the_batch_and_verify_names_them() {
        let v = vault();
        for _ in 0..2 {
            v.create_customer(&tenant(), NewCustomer::default())
                .await
                .unwrap();
        }
        let good = v.store.audit_events(&tenant());
        let other = TenantId::try_from("other-shop".to_owned()).unwrap();
        let at = time::OffsetDateTime::now_utc();
        let pending = |event: AuditEvent| Some(crate::domain::PendingEvent { event, seq: None });
        let mut forged = good[0].event.clone();
        forged.outcome = "denied".into();
        let foreign = AuditEvent::new(at, &other, crate::domain::AuditAction::KeyRevoked, "ok");
        let mut no_id = foreign.clone();
        no_id.tenant_id = T.into();
        no_id.event_id = String::new();
        let mut dup = no_id.clone();
        dup.event_id = "dup".into();
        let s = &v.store;
        s.put_pending_item(T, "unreadable", None);
        s.put_pending_item(T, &foreign.event_id, pending(foreign.clone()));
        s.put_pending_item(T, "forged", pending(forged));
        s.put_pending_item(T, "no-id", pending(no_id));
        s.put_pending_item(T, "dup-1", pending(dup.clone()));
        s.put_pending_item(T, "dup-2", pending(dup));
        let mut keys = s.unchained();
        assert_eq!(keys.len(), 8);
        keys.push(keys[0].clone());
        keys.push(PendingKey {
            tenant: T.into(),
            event_id: String::new(),
        });

        let key = LocalChainKey([3; 32]);
        let done = chain_pending(s, &key, keys.clone()).await;
        assert_eq!(
            done,
            Chained {
                chained: 2,
                failed_tenants: vec![]
            }
        );
        let t = trail(s).await;
        let chained: Vec<_> = t.records.iter().map(|r| r.event.clone()).collect();
        assert_eq!(chained, [good[0].event.clone(), good[1].event.clone()]);
        let b = verify(T, &t, &key, NOW).await.unwrap().unwrap_err();
        assert!(b.reason.contains("item AUDITQ#shop-connect/"), "{b:?}");
        // Nothing in the other tenant's chain; a redelivery changes nothing.
        assert!(s.tenant_trail(&other).await.unwrap().records.is_empty());
        assert_eq!(chain_pending(s, &key, keys).await, Chained::default());
    }

    /// As DynamoDB refuses a transaction with two operations on one item.
    #[tokio::test]
    async fn the_memory_store_refuses_one_event_twice_in_a_chunk() {
        let v = vault();
        v.create_customer(&tenant(), NewCustomer::default())
            .await
            .unwrap();
        let e = v.store.audit_events(&tenant())[0].event.clone();
        let key = LocalChainKey([3; 32]);
        let (records, head) = link(&key, T, None, &[e.clone(), e]).await.unwrap();
        let r = v.store.extend_chain(T, None, &records, &head).await;
        assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    }

    /// `audit verify`'s reads with a chain commit between the head's and the rest.
    #[tokio::test]
    async fn verify_holds_when_the_chainer_commits_between_its_reads() {
        let v = vault();
        let key = LocalChainKey([3; 32]);
        for round in 0..2 {
            for _ in 0..3 {
                v.create_customer(&tenant(), NewCustomer::default())
                    .await
                    .unwrap();
            }
            if round == 0 {
                chain_pending(&v.store, &key, v.store.unchained()).await;
            }
        }
        let head = v.store.chain_head(T).await.unwrap();
        chain_pending(&v.store, &key, v.store.unchained()).await;
        let mut raced = trail(&v.store).await;
        raced.head = head;
        raced.settled = false;
        assert_eq!(raced.records.len(), 6);
        assert_eq!(verify(T, &raced, &key, NOW).await.unwrap(), Ok(3));
    }

    #[tokio::test]
    async fn a_redelivered_batch_chains_nothing_twice() {
        let v = vault();
        for _ in 0..3 {
            v.create_customer(&tenant(), NewCustomer::default())
                .await
                .unwrap();
        }
        let key = LocalChainKey([3; 32]);
        let keys = v.store.unchained();
        assert_eq!(chain_pending(&v.store, &key, keys.clone()).await.chained, 3);
        let again = chain_pending(&v.store, &key, keys).await;
        assert_eq!(again, Chained::default());
        assert_eq!(
            verify(T, &trail(&v.store).await, &key, NOW).await.unwrap(),
            Ok(3)
        );
    }

    #[tokio::test]
    async fn verify_finds_an_edit_a_cut_tail_and_a_head_made_without_the_key() {
        let v = vault();
        for _ in 0..4 {
            v.create_customer(&tenant(), NewCustomer::default())
                .await
                .unwrap();
        }
        let key = LocalChainKey([3; 32]);
        chain_pending(&v.store, &key, v.store.unchained()).await;
        let intact = trail(&v.store).await;
        let check = |t: Trail| {
            let key = &key;
            async move { verify(T, &t, key, NOW).await.unwrap() }
        };

        // An edit made alike in the record and its pending copy: only the MAC tells.
        let mut pending_fixed = intact.clone();
        for p in &mut pending_fixed.pending {
            if p.seq == Some(2) {
                p.event.outcome = "denied".into();
            }
        }
        for r in &mut pending_fixed.records {
            if r.seq == 2 {
                r.event.outcome = "denied".into();
            }
        }
        let b = check(pending_fixed).await.unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("MAC"), "{b:?}");

        // The tail cut, its pending copies deleted too, and the head rewound with an old
        // head's values: the head's MAC was made for the later head, and does not check.
        let mut cut = intact.clone();
        cut.records.pop();
        cut.pending.retain(|p| p.seq != Some(4));
        let mut head = intact.head.clone().unwrap();
        head.seq = 3;
        head.hash = cut.records[2].hash.clone();
        cut.head = Some(head);
        let b = check(cut).await.unwrap_err();
        assert!(b.reason.contains("head's MAC"), "{b:?}");

        // An event written into the chain by someone without the key.
        let mut forged = intact.clone();
        let last = forged.records.last().unwrap().clone();
        let mut extra = last.clone();
        extra.seq = 5;
        extra.prev_hash = last.hash.clone();
        extra.hash = "00".repeat(32);
        forged.pending.push(crate::domain::PendingEvent {
            event: extra.event.clone(),
            seq: Some(5),
        });
        forged.records.push(extra);
        let mut head = forged.head.clone().unwrap();
        head.seq = 5;
        head.hash = "00".repeat(32);
        forged.head = Some(head);
        let b = check(forged).await.unwrap_err();
        assert_eq!(b.seq, 5);
    }
}
