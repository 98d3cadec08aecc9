//! Requests to the router with a tenant's key, and the dialects' error envelopes.

use serde_json::Value;

use crate::{stack, stripe_card, tenant_a};

pub fn url(path: &str) -> String {
    format!("{}{path}", stack().base_url)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn basic(key: &str) -> String {
    format!("Basic {key}")
}

/// A response's status and JSON body.
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// Sends `method path` with a tenant's key and an optional JSON body.
pub async fn call(
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = http()
        .request(method, url(path))
        .header("Authorization", basic(key));
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

/// POST a JSON value with a tenant's key; returns (status, body).
pub async fn post_json(path: &str, key: &str, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(url(path))
        .header("Authorization", basic(key))
        .json(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// Creates a customer for the tenant with this key; returns its id.
pub async fn create_customer(key: &str, body: Value) -> u64 {
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", basic(key))
        .json(&body)
        .send()
        .await
        .expect("POST /v1/customers");
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_u64().expect("numeric id")
}

/// A customer of tenant A with `n` cards imported from localstripe, oldest first:
/// (customer id, payment method ids, import responses).
pub async fn customer_with_cards(n: usize) -> (u64, Vec<u64>, Vec<Value>) {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, serde_json::json!({"firstName": "Multi"})).await;
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..n {
        let (cus, card) = stripe_card("Multi Card", &[]).await;
        let body = serde_json::json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
        let (status, pm) = post_json("/v1/paymentMethodImport/stripeConnect", key, &body).await;
        assert_eq!(status, 200, "{pm}");
        ids.push(pm["id"].as_u64().unwrap());
        bodies.push(pm);
    }
    (customer, ids, bodies)
}

/// Asserts a Fusebill error envelope with this status, and returns its first value.
pub fn fusebill_error(status: u16, body: &Value, want: u16) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["ErrorId"], 0, "{body}");
    assert_eq!(body["HttpStatusCode"], want, "{body}");
    let errors = body["Errors"].as_array().expect("Errors array");
    assert!(!errors.is_empty(), "{body}");
    errors[0]["Value"].as_str().expect("Value").to_owned()
}

/// Asserts the user API's error envelope with this status, and returns its message.
pub fn rechat_error(status: u16, body: &Value, want: u16) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["http"], want, "{body}");
    let code = body["code"].as_str().expect("code");
    assert!(!code.is_empty() && code != "OK", "{body}");
    body["message"].as_str().expect("message").to_owned()
}

/// Asserts the billing card API's error envelope with this status, and returns its message.
pub fn embedthis_error(status: u16, body: &Value, want: u16) -> String {
    assert_eq!(status, want, "{body}");
    let code = body["error"].as_str().expect("error code");
    assert!(!code.is_empty(), "{body}");
    body["message"].as_str().expect("message").to_owned()
}

/// The merchant API's delete of a card (`DELETE /v1/paymentMethods/{pm}/creditCard`).
pub async fn delete_credit_card(pm: u64, key: &str) -> reqwest::Response {
    call(
        reqwest::Method::DELETE,
        &format!("/v1/paymentMethods/{pm}/creditCard"),
        key,
        None,
    )
    .await
}

/// The transparent redirect's POST (`body` as its client sends it, JSON), from demo-a's
/// page origin: (status, body).
pub async fn post_redirect(body: &Value) -> (u16, Value) {
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &tenant_a().allowed_origin)
        .json(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// A card entered through the transparent redirect: the payment method it answers with
/// (200 asserted).
pub async fn enter_card(body: &Value) -> Value {
    let (status, pm) = post_redirect(body).await;
    assert_eq!(status, 200, "{pm}");
    pm
}

/// Waits (at most 30 s) until `GET /v1/customers/{customer}/auditEvents` lists at least
/// `n` events: they are listed once the chainer, off the request path, has chained them.
pub async fn audit_listed(key: &str, customer: u64, n: usize) -> Value {
    let path = format!("/v1/customers/{customer}/auditEvents?limit=100");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, page) = json(call(reqwest::Method::GET, &path, key, None).await).await;
        let listed = page["auditEvents"].as_array().map_or(0, Vec::len);
        if (status == 200 && listed >= n) || std::time::Instant::now() > until {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
