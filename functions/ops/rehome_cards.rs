//! Re-homes a tenant's vault-held cards to its new Stripe connection, one batch per
//! invocation. Not behind API Gateway: `cardvault-admin rehome-cards` invokes it with the
//! Lambda Invoke API, in a loop, handing back each answer's `cursor`. Its role is the only
//! one allowed `kms:Decrypt` on the vault key (README, "Re-homing vault-held cards").
//!
//! Payload: `{"tenant": "t", "toAccount": "acct_…"}` or `{"tenant": "t", "toSecretId":
//! "cardvault/tenant/t/…"}`, with `cursor` (from the last answer), `dryRun` and `maxCards`,
//! and `caller`: a GetCallerIdentity request the operator signed, which this function sends
//! to STS. Only the operator role STS names is served, and its ARN is the actor of the
//! run's audit events (`cardvault::caller_identity`).

use std::sync::OnceLock;

use cardvault::caller_identity::{CallerCheck, SignedIdentity};
use cardvault::deps::{KeyRings, Kms, SecretsManager, Stripe, Uses};
use cardvault::domain::{StripeConnection, TenantId};
use cardvault::vault::rehome::{RehomeCursor, RehomeReport, RehomeRequest, START};
use cardvault::Error;
use serde::Deserialize;
use serde_json::Value;

/// Built from the table, Stripe, the key rings, KMS and Secrets Manager: no other port's
/// client is built or linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired`
/// unless named).
type App = cardvault::App<Uses<Stripe, KeyRings<Kms>, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve_event(rehome).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    tenant: String,
    to_account: Option<String>,
    to_secret_id: Option<String>,
    cursor: Option<String>,
    #[serde(default)]
    dry_run: bool,
    max_cards: Option<usize>,
    caller: SignedIdentity,
}

async fn rehome(app: &App, payload: Value) -> Result<RehomeReport, Error> {
    static CHECK: OnceLock<Result<CallerCheck, String>> = OnceLock::new();
    let binding = cardvault::caller_identity::binding(&payload);
    let (mut request, caller) = parse(payload).map_err(Error::BadRequest)?;
    let check = CHECK
        .get_or_init(|| CallerCheck::from_env(app.vault.stage()))
        .as_ref()
        .map_err(|e| Error::bug(e.clone()))?;
    // Before anything is read: who asks, as STS says, for this very payload. A refusal is
    // on the tenant's trail.
    request.invoker = match check
        .operator(&caller, &binding, app.vault.now_unix())
        .await
    {
        Ok(arn) => arn,
        Err(e) => {
            app.vault
                .rehome_caller_refused(&request.tenant, &e.to_string())
                .await;
            return Err(e);
        }
    };
    app.vault.rehome_cards(&request).await
}

/// The payload as the rule takes it: every field checked here, once. The caller's
/// identity is checked after (`rehome`), by STS.
fn parse(payload: Value) -> Result<(RehomeRequest, SignedIdentity), String> {
    let input: Input = serde_json::from_value(payload).map_err(|e| e.to_string())?;
    let tenant = TenantId::try_from(input.tenant).map_err(|e| format!("tenant: {e}"))?;
    let to = match (input.to_account, input.to_secret_id) {
        (Some(a), None) => StripeConnection::parse_account_id(&a)?,
        (None, Some(s)) => StripeConnection::parse_secret_id(&tenant, &s)?,
        _ => return Err("give one of toAccount and toSecretId".into()),
    };
    let cursor = match input.cursor.as_deref() {
        None | Some(START) => None,
        Some(raw) => Some(RehomeCursor::parse(raw).ok_or("cursor: not one this function gave")?),
    };
    if input.max_cards == Some(0) {
        return Err("maxCards: at least 1".into());
    }
    let request = RehomeRequest {
        tenant,
        to,
        cursor,
        dry_run: input.dry_run,
        max_cards: input.max_cards,
        invoker: String::new(),
    };
    Ok((request, input.caller))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `payload` with a (syntactically) signed caller.
    fn with_caller(mut payload: Value) -> Value {
        if payload.is_object() && payload.get("caller").is_none() {
            payload["caller"] = json!({"headers": {"Host": "sts.example"}});
        }
        payload
    }

    /// Every malformed payload is refused by `parse`, before the vault is asked anything,
    /// with words that name what is wrong.
    #[test]
    fn a_malformed_payload_is_refused_before_anything_runs() {
        let (ok, _) = parse(with_caller(
            json!({"tenant": "demo-a", "toAccount": "acct_1New", "maxCards": 5}),
        ))
        .expect("a good payload");
        assert_eq!(
            (ok.max_cards, ok.dry_run, ok.cursor),
            (Some(5), false, None)
        );
        for (payload, says) in [
            (
                json!({"tenant": "demo-a"}),
                "one of toAccount and toSecretId",
            ),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New",
                       "toSecretId": "cardvault/tenant/demo-a/k"}),
                "one of toAccount and toSecretId",
            ),
            (json!({"tenant": "demo-a", "toAccount": "cus_1"}), "acct_"),
            // Another tenant's secrets are not this tenant's to move to.
            (
                json!({"tenant": "demo-a", "toSecretId": "cardvault/tenant/demo-b/k"}),
                "cardvault/tenant/demo-a/",
            ),
            (
                json!({"tenant": "Demo A!", "toAccount": "acct_1New"}),
                "tenant",
            ),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New", "cursor": "after:x"}),
                "cursor",
            ),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New", "maxCards": 0}),
                "maxCards",
            ),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New", "dryRun": "yes"}),
                "invalid type",
            ),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New", "extra": 1}),
                "unknown field",
            ),
            (json!("not an object"), "invalid type"),
            (
                json!({"tenant": "demo-a", "toAccount": "acct_1New", "caller": {"url": "x"}}),
                "unknown field",
            ),
        ] {
            match parse(with_caller(payload.clone())) {
                Err(e) => assert!(e.contains(says), "{payload}: {e}"),
                Ok(_) => panic!("accepted: {payload}"),
            }
        }
        // No signed caller: refused before STS is asked.
        let anonymous = parse(json!({"tenant": "demo-a", "toAccount": "acct_1New"}));
        assert!(anonymous.is_err_and(|e| e.contains("caller")));
    }
}
