//! Every function has an API Gateway event in `events/` (the same files `sam local invoke -e`
//! takes), and each one, sent through `cargo lambda invoke` to the stack's fleet
//! (infra/fleet.py), gets a proper answer.

use std::path::{Path, PathBuf};
use std::process::Command;

use cardvault_tests::*;
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The binary names template.yaml's functions are built from.
fn template_binaries() -> Vec<String> {
    let mut binaries: Vec<String> = template_routes().into_iter().map(|r| r.2).collect();
    // A function's routes are listed together.
    binaries.dedup();
    binaries
}

/// Every route of template.yaml's functions: (method, path, binary), in the template's order.
fn template_routes() -> Vec<(String, String, String)> {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let (mut routes, mut binary, mut path) = (Vec::new(), String::new(), None);
    for line in template.lines().map(str::trim) {
        let value = |key: &str| line.strip_prefix(key).map(|v| v.trim().to_owned());
        if let Some(b) = value("Binary:") {
            binary = b;
        } else if let Some(p) = value("Path:") {
            path = Some(p);
        } else if let (Some(m), Some(p)) = (value("Method:"), path.take()) {
            routes.push((m, p, binary.clone()));
        }
    }
    routes
}

/// The README's "Endpoints" table: (method, path, function).
fn readme_routes() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Endpoints\n")
        .nth(1)
        .expect("README has an Endpoints section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[test]
fn the_readme_lists_exactly_the_templates_endpoints() {
    let (mut template, mut readme) = (template_routes(), readme_routes());
    assert!(template.len() >= 22, "{template:?}");
    template.sort();
    readme.sort();
    let missing: Vec<_> = template.iter().filter(|r| !readme.contains(r)).collect();
    let extra: Vec<_> = readme.iter().filter(|r| !template.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README's Endpoints table and template.yaml differ.\n\
         in the template, not the README: {missing:?}\n\
         in the README, not the template: {extra:?}"
    );
    assert_eq!(readme.len(), template.len(), "a route listed twice");
}

fn event(name: &str) -> Value {
    let path = root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `cargo lambda invoke` against the stack's fleet (infra/fleet.py); returns (status, body).
fn invoke(function: &str, event: &Value) -> (u16, Value) {
    let out = Command::new(root().join(".tools/venv/bin/cargo-lambda"))
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &stack().lambda_invoke_port.to_string()])
        .args([
            "--output-format",
            "json",
            "--data-ascii",
            &event.to_string(),
            function,
        ])
        .output()
        .expect("cargo lambda invoke");
    assert!(
        out.status.success(),
        "invoke {function}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let text = response["body"]
        .as_str()
        .filter(|b| !b.is_empty())
        .unwrap_or("null");
    let body = serde_json::from_str(text).unwrap_or_else(|_| panic!("{function}: {text}"));
    (status, body)
}

/// Every function's binary, routed or not (`rehome-cards` has no route: its event is the
/// payload `cardvault-admin rehome-cards` sends).
fn all_binaries() -> Vec<String> {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().to_owned())
        .collect()
}

#[test]
fn every_function_has_an_event_and_every_event_a_function() {
    let mut binaries = all_binaries();
    binaries.sort();
    assert!(!binaries.is_empty());
    let mut events: Vec<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    events.sort();
    assert_eq!(binaries, events);
    let manifest = std::fs::read_to_string(root().join("functions/Cargo.toml")).unwrap();
    for b in &binaries {
        assert!(
            manifest.contains(&format!("name = \"{b}\"")),
            "no binary {b}"
        );
    }
}

#[test]
fn events_as_shipped_reach_the_function_and_get_a_clean_4xx() {
    // The shipped events carry a placeholder key or JWT: a correct answer is a 401 in the
    // endpoint's own dialect.
    for name in template_binaries() {
        let (status, body) = invoke(&name, &event(&name));
        match dialect_of(&name) {
            Dialect::Rechat => {
                rechat_error(status, &body, 401);
            }
            Dialect::Fusebill => {
                fusebill_error(status, &body, 401);
            }
            // The redirect names its tenant by a public key: a placeholder key matches no
            // tenant (404), and the preflight's example origin no tenant allows (403).
            Dialect::Redirect if name.ends_with("-preflight") => {
                assert_eq!(status, 403, "{name}: {body}");
            }
            Dialect::Redirect => {
                fusebill_error(status, &body, 404);
            }
            Dialect::Billing => {
                embedthis_error(status, &body, 401);
            }
            // Signed by Stripe, not by a key: a placeholder signature is a 400 in Stripe's
            // error shape, saying nothing of which check failed.
            Dialect::Webhook => {
                assert_eq!(status, 400, "{name}: {body}");
                assert_eq!(
                    body["error"]["type"], "invalid_request_error",
                    "{name}: {body}"
                );
            }
        }
    }
}

enum Dialect {
    Billing,
    Fusebill,
    Redirect,
    Rechat,
    Webhook,
}

/// Which dialect a binary speaks, from the folder its source sits in (functions/Cargo.toml).
fn dialect_of(binary: &str) -> Dialect {
    let manifest = std::fs::read_to_string(root().join("functions/Cargo.toml")).unwrap();
    let entry = format!("name = \"{binary}\"\npath = \"");
    let at = manifest
        .find(&entry)
        .unwrap_or_else(|| panic!("no [[bin]] {binary}"));
    let path = &manifest[at + entry.len()..];
    match path.split('/').next() {
        Some("rechat") => Dialect::Rechat,
        Some("billing") => Dialect::Billing,
        Some("fusebill") => Dialect::Fusebill,
        Some("redirect") => Dialect::Redirect,
        Some("webhooks") => Dialect::Webhook,
        other => panic!("{binary}: no known dialect for {other:?}"),
    }
}

fn with_key(mut event: Value, key: &str) -> Value {
    event["headers"]["authorization"] = json!(basic(key));
    event
}

#[tokio::test]
async fn events_with_a_real_key_succeed() {
    let key = &tenant_a().private_api_key;
    let (status, created) = invoke("create-customer", &with_key(event("create-customer"), key));
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["firstName"], "Karen");

    let id = created["id"].as_u64().unwrap().to_string();
    let mut get = with_key(event("get-customer"), key);
    get["pathParameters"]["id"] = json!(id);
    get["rawPath"] = json!(format!("/v1/customers/{id}"));
    let (status, fetched) = invoke("get-customer", &get);
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, created);
}

/// The stack's functions run under infra/fleet.py, as Lambda runs them: up to `CONCURRENCY`
/// instances per function (make test's stack: 8), each taking one invocation at a time.
/// Eight invocations of one function sent at once run on several instances at the same
/// time, and no request id runs twice.
#[tokio::test]
async fn eight_invocations_at_once_run_side_by_side_on_their_own_instances() {
    let url = format!(
        "http://127.0.0.1:{}/2015-03-31/functions/get-customer/invocations",
        stack().lambda_invoke_port
    );
    // A read of a customer that is not there: a DynamoDB call, then a 404.
    let mut get = with_key(event("get-customer"), &tenant_a().private_api_key);
    get["pathParameters"]["id"] = json!("9999999999");
    get["rawPath"] = json!("/v1/customers/9999999999");
    let client = reqwest::Client::new();
    let wave = || async {
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, body) = (client.clone(), url.clone(), get.to_string());
                tokio::spawn(async move { client.post(url).body(body).send().await })
            })
            .collect();
        let mut ids = Vec::new();
        for call in calls {
            let resp = call.await.unwrap().expect("the fleet answers");
            assert_eq!(resp.status(), 200);
            assert!(resp.headers().get("x-amz-function-error").is_none());
            ids.push(
                resp.headers()["x-amzn-requestid"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(answer["statusCode"], 404, "{answer}");
        }
        ids
    };
    // The first wave starts instances (cold starts); the next find them warm. A 404 read
    // takes a few milliseconds, so whether four of eight overlap depends on how the
    // machine schedules them: waves go on (six at most, about 50 ms each) until the fleet
    // has seen four busy at once. The overlap is then checked in the log, below.
    let stats = format!(
        "http://127.0.0.1:{}/_fleet/stats",
        stack().lambda_invoke_port
    );
    let mut ids = Vec::new();
    let mut fleet = Value::Null;
    for _ in 0..6 {
        ids.extend(wave().await);
        let (_, s) = json(client.get(&stats).send().await.unwrap()).await;
        fleet = s["functions"]["get-customer"].clone();
        if ids.len() >= 16 && fleet["maxBusy"].as_u64().unwrap_or(0) >= 4 {
            break;
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a request id answered twice: {ids:?}"
    );
    assert!(fleet["maxBusy"].as_u64().unwrap() >= 4, "{fleet}");
    assert_eq!(fleet["duplicateDeliveries"], 0, "{fleet}");

    // The fleet writes Lambda's START and END lines, in the order things happen, to the log:
    // each of these ids STARTs once, and at least 4 of them ran at the same time.
    let run_dir = Path::new(&std::env::var("CARDVAULT_STACK").unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let log = std::fs::read_to_string(run_dir.join("lambda.log")).unwrap();
    let (mut running, mut most) = (0i32, 0i32);
    let mut instances = std::collections::HashSet::new();
    for id in &ids {
        let starts: Vec<_> = log
            .lines()
            .filter(|l| l.contains(&format!(" START RequestId: {id} ")))
            .collect();
        assert_eq!(starts.len(), 1, "{id}: {starts:?}");
        instances.insert(starts[0].split(' ').next().unwrap().to_owned());
    }
    for line in log.lines() {
        if ids
            .iter()
            .any(|id| line.contains(&format!(" START RequestId: {id} ")))
        {
            running += 1;
            most = most.max(running);
        } else if ids
            .iter()
            .any(|id| line.ends_with(&format!(" END RequestId: {id}")))
        {
            running -= 1;
        }
    }
    assert!(most >= 4, "at most {most} of them ran at once");
    assert!(instances.len() >= 4, "{instances:?}");
}
