//! Seed 002, Fusebill's "Add Credit Card" through the transparent redirect: its sample
//! request as a query string, the same pairs as an `x-www-form-urlencoded` body, its JSON
//! sample, its sample response and error, and its jQuery "Sample Code For Testing" page in
//! headless Chromium (`tests/browser/`).
//!
//! The samples expire their cards in 2023 (`ExpirationYear=23`): replayed as written they
//! are refused, naming `expirationYear`, as they should be; with the year moved to `30`
//! they add the card.

use std::process::Command;

use cardvault_tests::*;
use serde_json::{json, Value};

use super::{assert_shape, chromium_turn, fill, root, verbatim};

const PASS: &str = "cardvault-test-pass";

/// A sample with the host, the public key, the reCAPTCHA token and a new customer put in:
/// (the filled sample, the customer).
async fn filled(sample: &str) -> (String, u64) {
    let customer =
        create_customer(&tenant_a().private_api_key, json!({"firstName": "Karen"})).await;
    let text = fill(
        sample,
        &[
            (
                "https://payments.subscriptionplatform.com",
                &stack().base_url,
            ),
            ("12345678", &customer.to_string()),
            ("123-abc-456-def", &tenant_a().public_api_key),
            ("abc123def456", PASS),
        ],
    );
    (text, customer)
}

/// Sends a sample's `POST <url>` line and body (if any) with that content type, from a
/// browser on `origin` or (none) from a server.
async fn send(
    sample: &str,
    content_type: Option<&str>,
    origin: Option<&str>,
) -> (u16, Option<String>, Value) {
    let (line, body) = sample.split_once('\n').unwrap_or((sample, ""));
    let target = line.strip_prefix("POST ").unwrap();
    let mut req = http().post(target).body(body.to_owned());
    if let Some(t) = content_type {
        req = req.header("Content-Type", t);
    }
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let resp = req.send().await.unwrap();
    let cors = resp
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json(resp).await;
    (status, cors, body)
}

/// The error keys of a Fusebill envelope.
fn keys(err: &Value) -> Vec<&str> {
    err["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap())
        .collect()
}

/// Asserts an added card in the shape of the document's sample response.
fn assert_added(pm: &Value, customer: u64) {
    let extra = assert_shape(
        &serde_json::from_str(verbatim("002/response.json")).unwrap(),
        pm,
    );
    assert_eq!(extra, ["paymentCollection", "stripeStatus"], "{pm}");
    assert_eq!(pm["customerId"], customer);
    assert_eq!(pm["isDefault"], true);
    assert_eq!(pm["storedInFusebillVault"], true);
    assert_eq!(
        (&pm["country"], &pm["state"]),
        (&json!("CAN"), &json!("Alberta"))
    );
    assert_eq!(pm["paymentCollection"]["status"], "Succeeded", "{pm}");
    assert_eq!(pm["paymentCollection"]["amount"], "0.50");
    // Fusebill's times: six fractional digits, as the sample's.
    let modified = pm["modifiedDate"].as_str().unwrap();
    assert_eq!(
        modified.len(),
        "2020-05-22T04:50:27.211012Z".len(),
        "{modified}"
    );
    assert!(modified.ends_with('Z'));
}

#[tokio::test]
async fn the_query_string_sample_from_a_server() {
    let (sample, customer) = filled(verbatim("002/query.http")).await;
    let (status, cors, err) = send(&sample, None, None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        keys(&err),
        ["expirationYear"],
        "the sample's card expired in 2023"
    );
    assert_eq!(cors, None, "no Origin, no CORS headers");

    let (status, _, pm) = send(
        &sample.replace("ExpirationYear=23", "ExpirationYear=30"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    assert_added(&pm, customer);
    assert_eq!(
        (
            pm["expirationMonth"].as_u64(),
            pm["expirationYear"].as_u64()
        ),
        (Some(12), Some(30))
    );
    assert_eq!(pm["postalZip"], "V9C9V9");
}

/// Demo tenant B has not turned on `legacyQueryStringCards`: the same sample request is
/// refused, naming the fields to move into the body, and nothing happens: no card, no
/// reCAPTCHA check (its single-use token still passes afterwards), so no Stripe call,
/// which comes after it (no Stripe customer either). The same pairs as a form body pass.
#[tokio::test]
async fn the_query_string_sample_is_refused_for_a_tenant_without_legacy_query_string_cards() {
    let b = tenant_b();
    let customer = create_customer(&b.private_api_key, json!({"firstName": "Karen"})).await;
    let nonce: String = format!("{:?}", std::time::SystemTime::now())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let token = format!("{PASS}#qs-{nonce}");
    let sample = fill(
        verbatim("002/query.http"),
        &[
            (
                "https://payments.subscriptionplatform.com",
                &stack().base_url,
            ),
            ("12345678", &customer.to_string()),
            ("123-abc-456-def", &b.public_api_key),
            ("abc123def456", &token),
            ("ExpirationYear=23", "ExpirationYear=30"),
        ],
    );
    let (status, _, err) = send(&sample, None, None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(keys(&err), ["cardNumber", "cvv", "recaptcha"], "{err}");
    assert_eq!(
        err["Errors"][0]["Value"],
        "cardNumber must be sent in the request body (JSON or form), not in the URL's query string"
    );
    assert_eq!(err["HttpStatusCode"], 400);
    assert_eq!(payment_method_count(customer).await, 0, "nothing stored");
    let stored = customer_item(customer).await;
    assert!(stored.get("stripeCustomerId").is_none(), "{stored}");

    // The same pairs in a form body, with the same single-use token: it was never spent.
    let (url, pairs) = sample.split_once('?').unwrap();
    let form = format!("{url}\n{pairs}");
    let (status, _, pm) = send(&form, Some("application/x-www-form-urlencoded"), None).await;
    assert_eq!(status, 200, "{pm}");
    assert_added(&pm, customer);
}

#[tokio::test]
async fn the_same_pairs_as_a_form_from_a_browser() {
    let (sample, customer) = filled(verbatim("002/query.http")).await;
    let (url, pairs) = sample.split_once('?').unwrap();
    let form = format!("{url}\n{pairs}");
    let origin = tenant_a().allowed_origin.as_str();
    let content_type = Some("application/x-www-form-urlencoded; charset=UTF-8");
    let (status, cors, err) = send(&form, content_type, Some(origin)).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(keys(&err), ["expirationYear"]);
    assert_eq!(cors.as_deref(), Some(origin), "the page can read the error");

    let form = form.replace("ExpirationYear=23", "ExpirationYear=30");
    let (status, cors, pm) = send(&form, content_type, Some(origin)).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(cors.as_deref(), Some(origin));
    assert_added(&pm, customer);
}

#[tokio::test]
async fn the_json_sample_and_its_response() {
    let (sample, customer) = filled(verbatim("002/json-request.http")).await;
    let origin = Some(tenant_a().allowed_origin.as_str());
    let (status, _, err) = send(&sample, Some("application/json"), origin).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        keys(&err),
        ["expirationYear"],
        "the sample's card expired in 2023"
    );

    let sample = sample.replace("\"expirationYear\": 23", "\"expirationYear\": 30");
    let (status, _, pm) = send(&sample, Some("application/json"), origin).await;
    assert_eq!(status, 200, "{pm}");
    assert_added(&pm, customer);
    assert_eq!(pm["postalZip"], "V9V 9V9");
    assert_eq!(pm["email"], Value::Null, "none was sent, as in the sample");

    // An email sent with the card is echoed.
    let (with_email, _) = filled(verbatim("002/json-request.http")).await;
    let with_email = with_email
        .replace("\"expirationYear\": 23", "\"expirationYear\": 30")
        .replace(
            "\"makeDefault\": true,",
            "\"makeDefault\": true,\n\"email\": \"karen@example.com\",",
        );
    let (status, _, pm) = send(&with_email, Some("application/json"), origin).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["email"], "karen@example.com");
}

#[tokio::test]
async fn the_error_sample() {
    let (sample, _) = filled(verbatim("002/json-request.http")).await;
    let declined = sample
        .replace("\"expirationYear\": 23", "\"expirationYear\": 30")
        .replace("4242424242424242", "4000000000000002");
    let (status, _, err) = send(&declined, Some("application/json"), None).await;
    assert_eq!(status, 400, "{err}");
    assert!(assert_shape(
        &serde_json::from_str(verbatim("002/error.json")).unwrap(),
        &err
    )
    .is_empty());
    // Every decline answers the document's error sample word for word: Stripe's reason
    // would tell a card tester which detail was wrong.
    assert_eq!(
        err,
        serde_json::from_str::<Value>(verbatim("002/error.json")).unwrap()
    );
}

/// The sample page in headless Chromium: every outcome the page shows, errors included,
/// with the page's own default customer id.
#[test]
fn the_sample_page_in_chromium_shows_every_outcome() {
    let _turn = chromium_turn();
    let facts = std::env::var("CARDVAULT_STACK").expect("CARDVAULT_STACK (make test)");
    let out_dir = std::path::Path::new(&facts)
        .parent()
        .unwrap()
        .join("sample-page");
    let started = std::time::Instant::now();
    let out = Command::new("node")
        .arg(root().join("tests/browser/sample_page.cjs"))
        .arg(&facts)
        .arg(&out_dir)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "sample_page.cjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("{report:#}\n(in {:?})", started.elapsed());
    let origin = tenant_a().allowed_origin.as_str();
    let scenarios = report["scenarios"].as_array().unwrap();
    let by_name = |name: &str| {
        scenarios
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no scenario {name}"))
    };
    let want: &[(&str, u16, &[&str])] = &[
        ("as loaded", 400, &["customerId must be a whole number"]),
        (
            "customer id only",
            404,
            &["Customer with id ", " not found."],
        ),
        ("no customer id", 400, &["customerId is required"]),
        (
            "invalid card",
            400,
            &[
                "<ul><li>",
                "cardNumber",
                "cvv",
                "the card has expired",
                "</ul>",
            ],
        ),
        (
            "declined",
            400,
            &["There was an error validating the payment method: "],
        ),
        (
            "reCAPTCHA refused",
            400,
            &["The recaptcha token is not valid."],
        ),
        (
            "body too large",
            413,
            &["the request body is larger than 16384 bytes"],
        ),
        ("added", 200, &["success"]),
    ];
    assert_eq!(scenarios.len(), want.len());
    for (name, status, words) in want {
        let s = by_name(name);
        assert_eq!(s["status"], *status, "{name}: {s}");
        assert_eq!(
            s["allowOrigin"], origin,
            "{name}: the page can read the answer"
        );
        let shown = s["shown"].as_str().unwrap();
        for w in *words {
            assert!(shown.contains(w), "{name}: {shown}");
        }
        assert_eq!(s["pageErrors"], json!([]), "{name}: the page threw");
        assert!(
            s["sent"].as_str().unwrap().starts_with("CustomerId="),
            "{s}"
        );
    }
    let shot = std::path::PathBuf::from(report["screenshot"].as_str().unwrap());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{shot:?}");
}
