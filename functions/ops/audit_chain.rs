//! The audit trail's chainer: the table's DynamoDB stream, filtered to INSERTs of pending
//! audit events (`AUDITQ#…`), invokes it with a batch of records; it chains them per
//! tenant (`cardvault::chain`), off the request path. Its role alone may write the chain
//! and its head and use the chain's KMS key for `GenerateMac` (README, "Audit trail").
//!
//! The stream carries keys only (`KEYS_ONLY`): the events are read from the table. A
//! tenant whose events could not all be chained has its records reported as failures
//! (`ReportBatchItemFailures`), so they come again; chaining is idempotent.

use std::sync::OnceLock;

use cardvault::app::AuditChainer;
use cardvault::chain::chain_pending;
use cardvault::ports::PendingKey;
use cardvault::store::audit::pending_pk;
use cardvault::{App, Error};
use serde::Deserialize;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve_event(chain).await
}

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

fn chainer(app: &App) -> Result<&'static AuditChainer, Error> {
    static CHAINER: OnceLock<AuditChainer> = OnceLock::new();
    if let Some(c) = CHAINER.get() {
        return Ok(c);
    }
    let made = AuditChainer::from_env(&app.config).map_err(|e| Error::bug(e.to_string()))?;
    Ok(CHAINER.get_or_init(|| made))
}

async fn chain(app: &App, payload: Value) -> Result<Value, Error> {
    let event: StreamEvent = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("not a DynamoDB stream event: {e}")))?;
    let named: Vec<(PendingKey, &str)> = event
        .records
        .iter()
        .filter_map(|r| Some((pending_key(r)?, r.dynamodb.sequence_number.as_str())))
        .collect();
    let c = chainer(app)?;
    let keys = named.iter().map(|(k, _)| k.clone()).collect();
    let done = chain_pending(&c.store, &c.key, keys).await;
    let failures: Vec<Value> = named
        .iter()
        .filter(|(k, _)| done.failed_tenants.contains(&k.tenant))
        .map(|(_, seq)| json!({ "itemIdentifier": seq }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}
