//! The audit trail for the operator: the events of the operator's own changes (keys,
//! tenant settings), and `audit list` / `audit verify` over a tenant's trail.

use cardvault::domain::{Actor, AuditAction, AuditEvent, AuditRecord, TenantId};
use cardvault_aws::store::Store;
use cardvault_core::chain;
use cardvault_core::ports::{AuditLog, ChainKey};
use serde_json::{json, Value};

use crate::Result;

/// The operator, as events name them: the caller's AWS identity, the ARN STS
/// GetCallerIdentity answers for the credentials this CLI runs with (endpoint: the SDK's,
/// `AWS_ENDPOINT_URL_STS` locally). `CARDVAULT_OPERATOR` adds a label beside it, never
/// instead of it. Asked before a change is made: no identity, no change.
pub async fn operator(aws: &aws_config::SdkConfig) -> Result<Actor> {
    let me = aws_sdk_sts::Client::new(aws)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "the operator's AWS identity (STS GetCallerIdentity): {}",
                aws_sdk_sts::error::DisplayErrorContext(e)
            )
        })?;
    let arn = me.arn().ok_or("STS GetCallerIdentity named no ARN")?;
    let label = std::env::var("CARDVAULT_OPERATOR").ok();
    Ok(Actor::Operator {
        name: operator_name(arn, label.as_deref()),
    })
}

/// `<arn>`, or `<arn> [<label>]`: the ARN first, whatever the label says; the label is cut
/// to 64 printable ASCII characters without brackets (no direction overrides or invisible
/// characters that would make it read as something else).
fn operator_name(arn: &str, label: Option<&str>) -> String {
    let label: String = label
        .unwrap_or_default()
        .chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && !matches!(c, '[' | ']'))
        .take(64)
        .collect();
    match label.trim() {
        "" => arn.to_owned(),
        l => format!("{arn} [{l}]"),
    }
}

fn tenant_id(raw: &str) -> Result<TenantId> {
    Ok(TenantId::try_from(raw.to_owned())?)
}

/// Writes the event of an operator's change, pending (the chainer chains it). The change
/// is made already: a failure here is an error of the command (exit 1), so that the
/// operator sees it and records it.
pub async fn record(
    store: &Store,
    operator: &Actor,
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
    .actor(operator);
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

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sts::123456789012:assumed-role/cardvault-operator/alice";

    /// The label sits beside the identity and can neither replace nor precede it.
    #[test]
    fn the_operator_is_the_aws_identity_and_a_label_only_adds_to_it() {
        assert_eq!(operator_name(ARN, None), ARN);
        assert_eq!(operator_name(ARN, Some("  ")), ARN);
        assert_eq!(operator_name(ARN, Some("alice")), format!("{ARN} [alice]"));
        let forged = operator_name(ARN, Some("] arn:aws:iam::1:user/bob\n["));
        assert!(forged.starts_with(&format!("{ARN} [")), "{forged}");
        assert!(
            !forged.contains('\n') && forged.matches(']').count() == 1,
            "{forged}"
        );
        assert_eq!(
            operator_name(ARN, Some(&"x".repeat(200))).len(),
            ARN.len() + 67
        );
        // A right-to-left override or a zero-width space could make it read otherwise.
        assert_eq!(
            operator_name(ARN, Some("al\u{202E}ice\u{200B}")),
            format!("{ARN} [alice]")
        );
    }
}
