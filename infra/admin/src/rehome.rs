//! `rehome-cards`: drives the re-homing function (`functions/ops/rehome_cards.rs`) batch by
//! batch through the Lambda Invoke API, shows progress, and once every customer has been
//! seen (and nothing failed, and it was not a dry run) switches the tenant's Stripe
//! connection to the target. Resumable: `--cursor` takes the last batch's cursor, and a
//! run from the start skips what has moved already.
//!
//! The endpoint is the SDK's: `AWS_ENDPOINT_URL_LAMBDA` locally (the fleet's
//! invoke port, `CARDVAULT_LAMBDA_PORT` in stack.env: infra/fleet.py).

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use serde_json::{json, Value};

use super::{tenants, Result};
use crate::vault::{chained, AdminVault};

pub struct RehomeArgs {
    pub tenant: String,
    pub to: Option<String>,
    pub to_secret_id: Option<String>,
    pub publishable_key: Option<String>,
    pub dry_run: bool,
    pub function: String,
    pub cursor: Option<String>,
    pub max_cards: Option<usize>,
    pub max_batches: Option<usize>,
    pub no_switch: bool,
}

pub async fn rehome_cards(
    aws: &aws_config::SdkConfig,
    vault: &AdminVault,
    args: RehomeArgs,
) -> Result<Value> {
    let lambda = aws_sdk_lambda::Client::new(aws);
    let operator = super::audit::operator(aws).await?;
    let mut payload = json!({
        "tenant": args.tenant,
        "dryRun": args.dry_run,
    });
    match (&args.to, &args.to_secret_id) {
        (Some(a), None) => payload["toAccount"] = json!(a),
        (None, Some(s)) => payload["toSecretId"] = json!(s),
        _ => return Err("give --to acct_… or --to-secret-id …".into()),
    }
    if let Some(n) = args.max_cards {
        payload["maxCards"] = json!(n);
    }
    let mut cursor = args.cursor.clone();
    let (mut moved, mut needs_reimport, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let mut removed_at_stripe = Vec::new();
    let (mut already_there, mut batches, mut target) = (0u64, 0usize, Value::Null);
    let finished = loop {
        if args.max_batches.is_some_and(|max| batches >= max) {
            break false;
        }
        payload["cursor"] = cursor.as_ref().map_or(Value::Null, |c| json!(c));
        // Signed afresh for each batch: a signature is good for 15 minutes.
        payload["caller"] = super::identity::signed_caller_identity(aws, &payload).await?;
        let report = invoke(&lambda, &args.function, &payload).await?;
        batches += 1;
        let list = |k: &str| report[k].as_array().cloned().unwrap_or_default();
        let (m, r, f) = (list("moved"), list("needsReimport"), list("failed"));
        let there = report["alreadyThere"].as_u64().unwrap_or(0);
        eprintln!(
            "batch {batches}: {} {}, {there} already there, {} need re-import, {} failed{}",
            m.len(),
            if args.dry_run { "to move" } else { "moved" },
            r.len(),
            f.len(),
            report["stopped"]
                .as_str()
                .map(|s| format!(" (stopped: {s})"))
                .unwrap_or_default(),
        );
        target = report["target"].clone();
        // A customer stopped part-way is seen again by the next batch: what it lists
        // again (imported cards, ones already there) is counted once.
        let progressed = !m.is_empty() || report["cursor"] != json!(cursor);
        moved.extend(m);
        failed.extend(f);
        for (seen, cards) in [
            (&mut needs_reimport, r),
            (&mut removed_at_stripe, list("removedAtStripe")),
        ] {
            for card in cards {
                if !seen.contains(&card) {
                    seen.push(card);
                }
            }
        }
        already_there += there;
        cursor = report["cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break true;
        }
        if !progressed {
            return Err(format!(
                "the batch made no progress ({}); resume later with --cursor {}",
                report["stopped"].as_str().unwrap_or("no reason given"),
                cursor.unwrap_or_default()
            )
            .into());
        }
    };
    // The tenant's connection moves only when every vault-held card is at the target.
    let switch = finished && !args.dry_run && !args.no_switch && failed.is_empty();
    if switch {
        // `set-stripe`'s operation and checks, recorded as this command's.
        let setting = tenants::stripe_setting(
            args.to.clone(),
            args.to_secret_id.clone(),
            args.publishable_key.clone(),
        )?;
        vault
            .set_stripe_as(
                &tenants::tenant_id(&args.tenant)?,
                setting,
                &operator,
                "stripe (rehome-cards)",
            )
            .await
            .map_err(chained)?;
    }
    Ok(json!({
        "tenant": args.tenant,
        "target": target,
        "dryRun": args.dry_run,
        "batches": batches,
        "finished": finished,
        "cursor": cursor,
        "moved": moved,
        "alreadyThere": already_there,
        "needsReimport": needs_reimport,
        "removedAtStripe": removed_at_stripe,
        "failed": failed,
        "connectionSwitched": switch,
    }))
}

/// One synchronous invocation; a function error (bad input, a service down) is ours.
async fn invoke(lambda: &aws_sdk_lambda::Client, function: &str, payload: &Value) -> Result<Value> {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(serde_json::to_vec(payload)?))
        .send()
        .await
        // Lambda answers a function's error with 200 and `X-Amz-Function-Error`;
        // the fleet does too; `cargo lambda watch` answered a 500 whose message is the function's.
        .map_err(|e| match function_error(e.raw_response()) {
            Some(message) => format!("{function} failed: {message}"),
            None => format!("invoking {function}: {}", DisplayErrorContext(e)),
        })?;
    let body: Value = out
        .payload()
        .map(|b| serde_json::from_slice::<Value>(b.as_ref()))
        .transpose()?
        .unwrap_or(Value::Null);
    if out.function_error().is_some() || body.get("errorMessage").is_some() {
        return Err(format!(
            "{function} failed: {}",
            body["errorMessage"].as_str().unwrap_or("no message")
        )
        .into());
    }
    Ok(body)
}

/// The function's own `errorMessage` in an error response, if it is one.
fn function_error(raw: Option<&aws_sdk_lambda::config::http::HttpResponse>) -> Option<String> {
    let body: Value = serde_json::from_slice(raw?.body().bytes()?).ok()?;
    body["errorMessage"].as_str().map(str::to_owned)
}
