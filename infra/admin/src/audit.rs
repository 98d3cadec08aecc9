//! The audit trail for the operator: the events of the operator's own changes (keys,
//! tenant settings), and `audit list` / `audit verify` over a tenant's trail.

use cardvault::chain;
use cardvault::domain::{Actor, AuditAction, AuditEvent, AuditRecord, TenantId};
use cardvault::ports::{AuditLog, ChainKey};
use cardvault::store::Store;
use serde_json::{json, Value};

use crate::Result;

/// The operator, as the event names them: `CARDVAULT_OPERATOR`, else the login name.
fn operator() -> Actor {
    let name = std::env::var("CARDVAULT_OPERATOR")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    Actor::Operator { name }
}

fn tenant_id(raw: &str) -> Result<TenantId> {
    Ok(TenantId::try_from(raw.to_owned())?)
}

/// Writes the event of an operator's change, pending (the chainer chains it). The change
/// is made already: a failure here is an error of the command (exit 1), so that the
/// operator sees it and records it.
pub async fn record(
    store: &Store,
    tenant: &str,
    action: AuditAction,
    object: Option<String>,
) -> Result<()> {
    let mut event = AuditEvent::new(
        time::OffsetDateTime::now_utc(),
        &tenant_id(tenant)?,
        action,
        "ok",
    )
    .actor(&operator());
    if let Some(o) = object {
        event = event.object(o);
    }
    store.append(event).await?;
    Ok(())
}

fn at_or_after(r: &AuditRecord, since: &Option<String>) -> bool {
    // RFC 3339 UTC with fixed digits sorts as text; a bare date sorts before its day's times.
    since.as_deref().is_none_or(|s| r.event.at.as_str() >= s)
}

/// Prints the chain (oldest first), filtered by `--since` (an RFC 3339 time or a date) and
/// `--customer`.
pub async fn list(
    store: &Store,
    tenant: &str,
    since: Option<String>,
    customer: Option<u64>,
) -> Result<Value> {
    let trail = store.tenant_trail(&tenant_id(tenant)?).await?;
    let events: Vec<Value> = trail
        .records
        .into_iter()
        .filter(|r| at_or_after(r, &since))
        .filter(|r| customer.is_none() || r.event.customer_id == customer)
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    Ok(json!({ "tenant": tenant, "count": events.len(), "events": events }))
}

/// Checks the trail; `ok: false` with the first break exits 2 (see `main`). A pending
/// event not chained after `stale_after` seconds is a break: the chainer lost it.
pub async fn verify(
    store: &Store,
    key: &dyn ChainKey,
    tenant: &str,
    stale_after: u64,
) -> Result<Value> {
    let trail = store.tenant_trail(&tenant_id(tenant)?).await?;
    let stale = time::OffsetDateTime::now_utc() - time::Duration::seconds(stale_after as i64);
    let stale_before = cardvault::domain::audit::render_time(stale);
    let pending = trail.pending.iter().filter(|p| p.seq.is_none()).count();
    Ok(
        match chain::verify(tenant, &trail, key, &stale_before).await? {
            Ok(n) => json!({ "tenant": tenant, "ok": true, "events": n, "pending": pending }),
            Err(b) => json!({
                "tenant": tenant,
                "ok": false,
                "events": trail.records.len(),
                "pending": pending,
                "firstBreak": { "seq": b.seq, "reason": b.reason },
            }),
        },
    )
}
