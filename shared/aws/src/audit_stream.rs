//! The table's DynamoDB stream, as Lambda delivers it to the audit chainer: a batch of
//! records, each naming (`KEYS_ONLY`) an item that changed. The INSERTs of pending audit
//! events are chained per tenant ([`crate::chain`]); a tenant whose events could not all be
//! chained has its records answered as `batchItemFailures` (`ReportBatchItemFailures`), so
//! they come again. Chaining is idempotent, so a record that comes twice is harmless.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::chain::chain_pending;
use crate::error::Error;
use crate::ports::{AuditChainStore, ChainKey, PendingKey};
use crate::store::audit::pending_pk;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamEvent {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    dynamodb: Change,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    #[serde(default)]
    keys: Keys,
    #[serde(default)]
    sequence_number: String,
}

#[derive(Deserialize, Default)]
struct Keys {
    #[serde(rename = "PK")]
    pk: Option<Text>,
    #[serde(rename = "SK")]
    sk: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    #[serde(rename = "S")]
    s: String,
}

/// The pending event a record names, if it names one.
fn pending_key(r: &Record) -> Option<PendingKey> {
    let prefix = pending_pk("");
    let tenant = r.dynamodb.keys.pk.as_ref()?.s.strip_prefix(&prefix)?;
    (r.event_name == "INSERT").then(|| PendingKey {
        tenant: tenant.to_owned(),
        event_id: r
            .dynamodb
            .keys
            .sk
            .as_ref()
            .map(|t| t.s.clone())
            .unwrap_or_default(),
    })
}

/// Chains the pending events a stream batch names; answers Lambda's partial-batch reply.
pub async fn chain_batch<S, K>(store: &S, key: &K, payload: Value) -> Result<Value, Error>
where
    S: AuditChainStore + ?Sized,
    K: ChainKey + ?Sized,
{
    let event: StreamEvent = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("not a DynamoDB stream event: {e}")))?;
    let named: Vec<(PendingKey, &str)> = event
        .records
        .iter()
        .filter_map(|r| Some((pending_key(r)?, r.dynamodb.sequence_number.as_str())))
        .collect();
    let keys = named.iter().map(|(k, _)| k.clone()).collect();
    let done = chain_pending(store, key, keys).await;
    let failures: Vec<Value> = named
        .iter()
        .filter(|(k, _)| done.failed_tenants.contains(&k.tenant))
        .map(|(_, seq)| json!({ "itemIdentifier": seq }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, pk: &str) -> Record {
        serde_json::from_value(json!({
            "eventName": name,
            "dynamodb": {"Keys": {"PK": {"S": pk}, "SK": {"S": "1#u"}}, "SequenceNumber": "7"}
        }))
        .unwrap()
    }

    #[test]
    fn only_inserts_of_pending_events_are_chained() {
        let k = pending_key(&record("INSERT", "AUDITQ#t1")).unwrap();
        assert_eq!((k.tenant.as_str(), k.event_id.as_str()), ("t1", "1#u"));
        assert!(pending_key(&record("MODIFY", "AUDITQ#t1")).is_none());
        assert!(pending_key(&record("INSERT", "AUDIT#t1")).is_none());
        assert!(pending_key(&record("INSERT", "CUSTOMER#1")).is_none());
    }
}
