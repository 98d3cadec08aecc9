//! Seed 000, Fusebill's "Stripe Connect credit card import": its curl, C# and Python
//! samples, its request body, and its 404 sample, against
//! `POST /v1/paymentMethodImport/stripeConnect`.

use std::process::Command;

use cardvault_tests::*;
use serde_json::{json, Value};

use super::{assert_shape, fill, root, verbatim};

pub const HOST: &str = "https://secure.fusebill.com";

/// A customer of demo tenant A with a card on a new localstripe customer, as the
/// samples need: (customer id, cus_…, card_…).
pub async fn fixture() -> (u64, String, String) {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "John"})).await;
    let (cus, card) = stripe_card("John Doe", &[]).await;
    (customer, cus, card)
}

/// Asserts a successful import: the card, in the shape of the document's sample response.
pub fn assert_imported(pm: &Value, customer: u64, cus: &str, card: &str) {
    let extra = assert_shape(
        &serde_json::from_str(verbatim("000/response.json")).unwrap(),
        pm,
    );
    assert_eq!(
        extra,
        [
            "email",
            "modifiedDate",
            "originalPaymentMethodId",
            "stripeStatus"
        ],
        "{pm}"
    );
    assert_eq!(pm["customerId"], customer, "{pm}");
    assert_eq!(pm["externalCustomerId"], cus);
    assert_eq!(pm["externalCardId"], card);
    assert_eq!(pm["maskedCardNumber"], "************4242");
    assert_eq!(pm["storedInFusebillVault"], false);
}

/// Runs a shell command and answers its standard output.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The curl sample, run by bash as a reader would paste it, with `url` (the sample's
/// text, what to put there) filled in.
pub async fn curl(sample: &str, url: (&str, &str)) {
    let (customer, cus, card) = fixture().await;
    let command = fill(
        sample,
        &[
            url,
            ("{APIKey}", &tenant_a().private_api_key),
            ("customerId:1", &format!("customerId:{customer}")),
            ("{id}", &cus),
            ("{id}", &card),
        ],
    );
    // As pasted: unquoted names and values, which Json.NET (and cardvault) read.
    assert!(
        command.contains(&format!("stripeCustomerId:{cus},")),
        "{command}"
    );
    let pm: Value = serde_json::from_str(&run("bash", &["-c", &command])).unwrap();
    assert_imported(&pm, customer, &cus, &card);
}

/// The Python sample, run by the tools' Python (which has requests).
pub async fn python(sample: &str) {
    let (customer, cus, card) = fixture().await;
    let script = fill(
        sample,
        &[
            ("{APIKey}", &tenant_a().private_api_key),
            ("{id}", &customer.to_string()),
            ("{id}", &format!("'{cus}'")),
            ("{id}", &format!("'{card}'")),
            (HOST, &stack().base_url),
        ],
    );
    let python = root().join(".tools/venv/bin/python");
    let printed = run(python.to_str().unwrap(), &["-c", &script]);
    // print(r.content) prints the bytes' repr: b'…'.
    let body = printed
        .trim()
        .strip_prefix("b'")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not bytes: {printed}"));
    let pm: Value = serde_json::from_str(body).unwrap();
    assert_imported(&pm, customer, &cus, &card);
}

/// The C# sample's request: its body string, with the ids written in as C# would hold them
/// (single-quoted, like its names), and the two headers and method its WebRequest sets.
pub async fn csharp(json_data: &str) {
    let (customer, cus, card) = fixture().await;
    let literal = json_data
        .strip_prefix("string jsonData = \"")
        .and_then(|s| s.strip_suffix("\";"))
        .unwrap();
    let body = fill(
        literal,
        &[
            ("{id}", &customer.to_string()),
            ("{id}", &format!("'{cus}'")),
            ("{id}", &format!("'{card}'")),
        ],
    );
    let pm = send(body).await;
    assert_imported(&pm, customer, &cus, &card);
}

/// Posts a body to the import as the C# sample's WebRequest does: `Content-Type:
/// application/json`, `Authorization: Basic <key>`, `POST`. Answers the imported card.
async fn send(body: String) -> Value {
    let request = verbatim("000/csharp-request.cs");
    for set in [
        r#"request.ContentType = "application/json";"#,
        r#"HttpRequestHeader.Authorization, "Basic "+apiKey"#,
        r#"request.Method = "POST";"#,
    ] {
        assert!(request.contains(set), "the C# sample no longer sets {set}");
    }
    let resp = http()
        .post(url("/v1/paymentMethodImport/stripeConnect"))
        .header("Content-Type", "application/json")
        .header("Authorization", basic(&tenant_a().private_api_key))
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    pm
}

#[tokio::test]
async fn the_curl_sample() {
    curl(verbatim("000/curl.sh"), (HOST, &stack().base_url)).await;
}

#[tokio::test]
async fn the_python_sample() {
    python(verbatim("000/python.py")).await;
}

#[tokio::test]
async fn the_csharp_sample() {
    csharp(verbatim("000/csharp-json.cs")).await;
}

#[tokio::test]
async fn the_request_body_and_response() {
    let (customer, cus, card) = fixture().await;
    let body = verbatim("000/body.json")
        .replace("2526546", &customer.to_string())
        .replace("cus_AExsNjBZDLMNDK", &cus)
        .replace("card_19uTyBAXix6Ggd0efp4HNNp7", &card);
    let pm = send(body).await;
    assert_imported(&pm, customer, &cus, &card);
    assert_eq!(
        pm["isDefault"], true,
        "a customer's first card is its default"
    );
    // Fusebill's times: six fractional digits.
    let modified = pm["modifiedDate"].as_str().unwrap();
    assert_eq!(
        modified.len(),
        "2020-05-22T04:50:27.211012Z".len(),
        "{modified}"
    );
}

#[tokio::test]
async fn the_not_found_sample() {
    let (_, cus, card) = fixture().await;
    let body = json!({"customerId": 1325, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, err) = post_json(
        "/v1/paymentMethodImport/stripeConnect",
        &tenant_a().private_api_key,
        &body,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        err,
        serde_json::from_str::<Value>(verbatim("000/not-found.json")).unwrap()
    );
}
