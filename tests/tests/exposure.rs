//! Where card data must never go, end to end: not into an index, not into the logs at any
//! level; and which browser origins may still call the redirect.

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use cardvault_tests::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASS: &str = "cardvault-test-pass";

fn unique() -> String {
    format!("{:?}", std::time::SystemTime::now())
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The redirect's JSON body for a card of tenant A's `customer`.
fn card_body(customer: u64, pan: &str, cvv: &str) -> Value {
    json!({
        "customerId": customer, "publicApiKey": tenant_a().public_api_key,
        "cardNumber": pan, "cvv": cvv, "expirationMonth": 12, "expirationYear": 30,
        "firstName": "Karen", "lastName": "Wood", "recaptcha": PASS
    })
}

async fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws().await)
}

/// GSI1 projects only what its queries read: after redirect cards (with an encrypted PAN
/// and a fingerprint on their items), no index item holds an encrypted PAN, a data key or a
/// fingerprint, while the index does hold those cards.
#[tokio::test]
async fn no_index_holds_an_encrypted_pan_a_data_key_or_a_fingerprint() {
    let customer = create_customer(&tenant_a().private_api_key, json!({})).await;
    let mut ids = Vec::new();
    for pan in ["4242424242424242", "5555555555554444"] {
        let resp = http()
            .post(url("/api/paymentsv2"))
            .json(&card_body(customer, pan, "123"))
            .send()
            .await
            .unwrap();
        let (status, pm) = json(resp).await;
        assert_eq!(status, 200, "{pm}");
        ids.push(pm["id"].as_u64().unwrap());
    }
    // The cards' audit events reach AuditByCustomer once chained (off the request path).
    audit_listed(&tenant_a().private_api_key, customer, 3).await;
    let client = dynamo().await;
    // The table's own items do carry the card data the index must leave out.
    let item = client
        .get_item()
        .table_name(&stack().table)
        .key("PK", AttributeValue::S(format!("CUST#{customer}")))
        .key("SK", AttributeValue::S(format!("PM#{}", ids[0])))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(item.contains_key("encryptedPan") && item.contains_key("fingerprint"));

    let table = client
        .describe_table()
        .table_name(&stack().table)
        .send()
        .await
        .unwrap();
    let indexes: Vec<String> = table
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    assert!(!indexes.is_empty());
    for index in indexes {
        let items = client
            .scan()
            .table_name(&stack().table)
            .index_name(&index)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        for item in &items {
            for name in item.keys() {
                let lower = name.to_ascii_lowercase();
                assert!(
                    !["encrypted", "fingerprint", "datakey", "ciphertext", "nonce"]
                        .iter()
                        .any(|w| lower.contains(w))
                        && lower != "pan",
                    "{index} holds {name}"
                );
            }
        }
        // Each index holds what it is for, so the scan above read real entries: GSI1 the
        // cards by id, AuditByCustomer the cards' audit events, StripeRefs the cards by
        // their Stripe ids, with their keys alone.
        for id in &ids {
            if index == "StripeRefs" {
                let sk = AttributeValue::S(format!("PM#{id}"));
                let entry = items.iter().find(|i| i.get("SK") == Some(&sk));
                let entry = entry.unwrap_or_else(|| panic!("{index} lacks card {id}"));
                let mut names: Vec<&str> = entry.keys().map(String::as_str).collect();
                names.sort_unstable();
                assert_eq!(names, ["PK", "SK", "STRIPEPK", "STRIPESK"], "{index}");
                continue;
            }
            let entry = match index.as_str() {
                "AuditByCustomer" => {
                    let pm = AttributeValue::N(id.to_string());
                    items.iter().find(|i| i.get("paymentMethodId") == Some(&pm))
                }
                _ => {
                    let pk = AttributeValue::S(format!("PM#{id}"));
                    items.iter().find(|i| i.get("GSI1PK") == Some(&pk))
                }
            };
            let entry = entry.unwrap_or_else(|| panic!("{index} lacks card {id}"));
            assert!(entry.contains_key("tenantId") && entry.contains_key("customerId"));
        }
    }
}

/// The preflight for `origin`: its status and `Access-Control-Allow-Origin`.
async fn preflight(origin: &str) -> (u16, Option<String>) {
    let resp = http()
        .request(reqwest::Method::OPTIONS, url("/api/paymentsv2"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    let allow = resp
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), allow)
}

/// An http origin stored before https was required (`set-origins` now refuses it) is no
/// longer honoured: its preflight and its POSTs are refused, with no CORS header, while the
/// same tenant's https origin still works; `show-tenant` lists it as ignored.
#[tokio::test]
async fn an_http_origin_stored_before_https_was_required_is_no_longer_honoured() {
    use cardvault::ports::TenantStore;
    let id = format!("legacy-{}", &unique()[..10]);
    let (http_origin, https_origin) = (
        format!("http://{id}.example"),
        format!("https://{id}.example"),
    );
    admin(&["create-tenant", "--id", &id, "--name", "Legacy"]);
    let public = admin(&["set-public-key", "--tenant", &id])["publicApiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = std::process::Command::new(
        env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin",
    )
    .args(["--table", &stack().table, "set-origins", "--tenant", &id])
    .args(["--origin", &http_origin])
    .output()
    .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"));

    // Written as an older cardvault-admin did: straight through the store.
    let store = cardvault::store::Store::new(dynamo().await, &stack().table);
    let tid = cardvault::domain::TenantId::try_from(id.clone()).unwrap();
    let old = store.get_tenant(&tid).await.unwrap().unwrap();
    let mut legacy = old.clone();
    legacy.allowed_origins = vec![http_origin.clone(), https_origin.clone()];
    store.save_tenant(&legacy, &old).await.unwrap();

    assert_eq!(
        preflight(&https_origin).await,
        (204, Some(https_origin.clone()))
    );
    assert_eq!(preflight(&http_origin).await, (403, None));
    let body = json!({"customerId": 1_000_001, "publicApiKey": public, "recaptcha": PASS});
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &http_origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let (status, err) = json(resp).await;
    fusebill_error(status, &err, 403);

    let shown = admin(&["show-tenant", "--tenant", &id]);
    assert_eq!(shown["ignoredOrigins"], json!([http_origin]));
}

/// The add-credit-card binary, run as Lambda runs it (its Runtime API played by wiremock)
/// with `RUST_LOG=trace` and `AWS_LAMBDA_LOG_LEVEL=trace`, on the stack's services, for one
/// redirect: its whole stdout and stderr hold no PAN, no CVV, no API key.
#[tokio::test]
async fn a_redirect_at_trace_logs_no_pan_cvv_or_api_key() {
    // Lambda's text and JSON log formats.
    for log_format in ["Text", "JSON"] {
        at_trace(log_format).await;
    }
}

async fn at_trace(log_format: &str) {
    let (pan, cvv) = ("4242424242424242", "739");
    let a = tenant_a();
    let customer = create_customer(&a.private_api_key, json!({})).await;
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            env!("CARGO_MANIFEST_DIR").to_owned() + "/../events/add-credit-card.json",
        )
        .unwrap(),
    )
    .unwrap();
    event["headers"]["content-type"] = json!("application/json");
    event["headers"]["origin"] = json!(a.allowed_origin);
    // A header the redirect ignores, so a logged event would show the private key too.
    event["headers"]["authorization"] = json!(format!("Basic {}", a.private_api_key));
    event["body"] = json!(card_body(customer, pan, cvv).to_string());

    let (response, logs) = once_at_trace("add-credit-card", &event, log_format).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    for (what, secret) in [
        ("the PAN", pan),
        ("the public API key", a.public_api_key.as_str()),
        ("the private API key", a.private_api_key.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the logs:\n{logs}");
    }
    // As a value, as a logged body or event would hold it (three digits alone also turn
    // up inside hashes and ids).
    for shape in [
        format!("\"{cvv}\""),
        format!("\\\"{cvv}\\\""),
        format!("={cvv}"),
    ] {
        assert!(!logs.contains(&shape), "the CVV is in the logs:\n{logs}");
    }
    assert!(!names_cvv(&logs), "request fields are in the logs:\n{logs}");
    eprintln!("{log_format}: {} bytes of trace output scanned", logs.len());
}

/// Runs a built function binary for one event, as Lambda runs it (its Runtime API played
/// by wiremock), with `RUST_LOG=trace` and `AWS_LAMBDA_LOG_LEVEL=trace`, on the stack's
/// services: its answer, and everything it wrote to stdout and stderr.
async fn once_at_trace(function: &str, event: &Value, log_format: &str) -> (Value, String) {
    let runtime = MockServer::start().await;
    let next = "/2018-06-01/runtime/invocation/next";
    Mock::given(method("GET"))
        .and(path(next))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("lambda-runtime-aws-request-id", "req-1")
                .insert_header("lambda-runtime-deadline-ms", deadline_ms())
                .insert_header(
                    "lambda-runtime-invoked-function-arn",
                    format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
                )
                .set_body_json(event),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&runtime)
        .await;
    // Then no more events: the next poll waits.
    Mock::given(method("GET"))
        .and(path(next))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(120)))
        .with_priority(2)
        .mount(&runtime)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/2018-06-01/runtime/"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime)
        .await;

    let binary = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/" + function;
    assert!(
        std::path::Path::new(&binary).exists(),
        "{binary}: build it first (make test does: cargo build -p cardvault-functions --bins)"
    );
    let mut child = std::process::Command::new(&binary)
        .env("RUST_LOG", "trace")
        .env("AWS_LAMBDA_LOG_LEVEL", "trace")
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", log_format)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it writes, so a full pipe never stalls the function.
    let drain = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = from.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));

    // Until the function answers (or 60 s), then stop it and read everything it wrote.
    let started = Instant::now();
    let answer = loop {
        let posted = runtime
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.method.as_str() == "POST");
        if let Some(r) = posted {
            break Some(r);
        }
        if started.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let logs = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    let answer = answer.unwrap_or_else(|| panic!("no answer in 60 s:\n{logs}"));

    assert!(
        answer.url.path().ends_with("/req-1/response"),
        "{}",
        answer.url
    );
    assert!(
        logs.contains("TRACE") || logs.contains(r#""level":"TRACE""#),
        "trace logging was on:\n{logs}"
    );
    (serde_json::from_slice(&answer.body).unwrap(), logs)
}

fn deadline_ms() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_millis() + 30_000).to_string()
}

/// The re-homing function, the one that can decrypt a PAN, at trace: it moves a card
/// entered through the redirect, and its output holds neither the number nor the key that
/// opened it.
#[tokio::test]
async fn rehoming_at_trace_logs_no_pan() {
    // A card of its own for each format: each run decrypts one.
    for log_format in ["Text", "JSON"] {
        let pan = "4000056655665556";
        let t = redirect_tenant("trace-rehome", &[]);
        let customer = create_customer(&t.private_api_key, json!({})).await;
        let body = json!({
            "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
            "firstName": "Karen", "lastName": "Wood", "expirationMonth": 4,
            "expirationYear": 31, "cvv": "123", "recaptcha": PASS,
        });
        enter_card(&body).await;
        let to = format!("acct_1Trace{}", unique().replace('-', ""));
        let event = json!({"tenant": t.id, "toAccount": to, "dryRun": false});

        let (report, logs) = once_at_trace("rehome-cards", &event, log_format).await;

        assert_eq!(
            report["moved"].as_array().map(Vec::len),
            Some(1),
            "{report}"
        );
        assert!(!logs.contains(pan), "the PAN is in the logs:\n{logs}");
        assert!(
            !logs.contains(&pan[..12]),
            "the PAN's digits are in the logs:\n{logs}"
        );
        eprintln!("{log_format}: {} bytes of trace output scanned", logs.len());
    }
}

/// The webhook function at trace: its output holds neither the endpoint's signing secret
/// nor the signature it checked.
#[tokio::test]
async fn a_webhook_at_trace_logs_no_signing_secret() {
    let hook = &stack().webhooks["tenants"]["demo-b"];
    let secret = hook["secret"].as_str().expect("demo-b's webhook secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = json!({"id": format!("evt_trace{}", unique().replace('-', "")), "object": "event",
        "type": "customer.source.updated", "created": now,
        "data": {"object": {"id": "card_unknown", "object": "card", "customer": "cus_unknown"}}})
    .to_string();
    let signature = stripe_signature(secret, now, &body);
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            env!("CARGO_MANIFEST_DIR").to_owned() + "/../events/stripe-webhook.json",
        )
        .unwrap(),
    )
    .unwrap();
    event["headers"]["stripe-signature"] = json!(signature);
    event["body"] = json!(body);

    let (response, logs) = once_at_trace("stripe-webhook", &event, "JSON").await;

    assert_eq!(response["statusCode"], 200, "{response}");
    let v1 = signature.split_once("v1=").unwrap().1;
    assert!(
        !logs.contains(secret),
        "the signing secret is in the logs:\n{logs}"
    );
    assert!(!logs.contains(v1), "the signature is in the logs:\n{logs}");
}
