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
use cardvault::audit_stream::chain_batch;
use cardvault::deps::Uses;
use cardvault::Error;
use serde_json::Value;

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_event(chain).await
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
    let c = chainer(app)?;
    chain_batch(app.vault.store(), &c.key, payload).await
}
