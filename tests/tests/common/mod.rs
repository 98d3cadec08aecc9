//! Shared by the integration tests: the running stack's facts, an HTTP client, the admin CLI.
//!
//! `make test` starts DynamoDB Local, moto, localstripe, the siteverify stand-in,
//! `cargo lambda watch` and the router, then runs these tests with `CARDVAULT_STACK`
//! naming a JSON file of the stack's facts. Without it, the tests fail: they never skip.
#![allow(dead_code)]

use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stack {
    pub base_url: String,
    pub stripe_url: String,
    pub lambda_invoke_port: u16,
    pub table: String,
    pub tenants: Vec<DemoTenant>,
    /// bootstrap.py's JWT facts: algorithm, secret, issuer, audience, claims, tokens.
    #[serde(default)]
    pub jwt: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoTenant {
    pub id: String,
    pub private_api_key: String,
    pub public_api_key: String,
    pub allowed_origin: String,
    pub stripe: Value,
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let path = std::env::var("CARDVAULT_STACK")
            .expect("CARDVAULT_STACK is not set: run the integration tests with `make test`");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

pub fn tenant_a() -> &'static DemoTenant {
    &stack().tenants[0]
}

pub fn tenant_b() -> &'static DemoTenant {
    &stack().tenants[1]
}

pub fn url(path: &str) -> String {
    format!("{}{path}", stack().base_url)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn basic(key: &str) -> String {
    format!("Basic {key}")
}

/// Runs the admin CLI against the test stack and returns its JSON output.
pub fn admin(args: &[&str]) -> Value {
    let bin = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin";
    let out = Command::new(bin)
        .args(["--table", &stack().table])
        .args(args)
        .output()
        .expect("run cardvault-admin (built by make test)");
    assert!(
        out.status.success(),
        "cardvault-admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

/// A response's status and JSON body.
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
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

/// A card on a new localstripe customer: (cus_…, card_…). `key` is the Stripe key the
/// tenant's connection uses; localstripe accepts any test key.
pub async fn stripe_card(name: &str, extra: &[(&str, &str)]) -> (String, String) {
    let stripe = &stack().stripe_url;
    let mut form = vec![
        ("card[number]", "4242424242424242"),
        ("card[exp_month]", "12"),
        ("card[exp_year]", "2030"),
        ("card[cvc]", "123"),
        ("card[name]", name),
    ];
    form.extend_from_slice(extra);
    let token: Value = http()
        .post(format!("{stripe}/v1/tokens"))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = token["id"].as_str().expect("token id").to_owned();
    let customer: Value = http()
        .post(format!("{stripe}/v1/customers"))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&[("source", tok.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cus = customer["id"].as_str().expect("customer id").to_owned();
    let card = customer["sources"]["data"][0]["id"]
        .as_str()
        .expect("card id")
        .to_owned();
    (cus, card)
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

pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// How many payment methods a customer has, read straight from the table.
pub async fn payment_method_count(customer: u64) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let out = client
        .query()
        .table_name(&stack().table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :pm)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("CUST#{customer}")))
        .expression_attribute_values(":pm", AttributeValue::S("PM#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query");
    out.items().len()
}

/// The vault in-process, on the test stack's table and secrets, with `stripe_api_base`
/// pointed wherever a fault-injection test needs it.
pub async fn app_with_stripe(stripe_api_base: &str) -> cardvault::App {
    let config = cardvault::config::Config {
        table_name: stack().table.clone(),
        platform_secret_id: "cardvault/platform".into(),
        vault_keys_secret_id: "cardvault/vault-keys".into(),
        stripe_api_base: stripe_api_base.into(),
        recaptcha_verify_url: "http://127.0.0.1:9/unused".into(),
        stripe_timeout: std::time::Duration::from_millis(300),
        jwt: jwt_config(),
    };
    cardvault::App::new(config, &aws().await)
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

// ---- user API (bearer JWTs) -------------------------------------------------------------

/// The test stack's JWT settings (issuer and audience from stack.json, default claim names).
pub fn jwt_config() -> cardvault::auth::jwt::JwtConfig {
    let jwt = &stack().jwt;
    cardvault::auth::jwt::JwtConfig::new(
        jwt["issuer"]
            .as_str()
            .expect("jwt.issuer in the stack facts"),
        jwt["audience"]
            .as_str()
            .expect("jwt.audience in the stack facts"),
    )
}

pub fn jwt_secret() -> String {
    stack().jwt["secret"]
        .as_str()
        .expect("jwt.secret")
        .to_owned()
}

/// An HS256 token for `sub` of `tenant`, valid for `ttl_secs`, signed with the stack's secret.
pub fn user_token_with(tenant: &str, sub: &str, role: Option<&str>, ttl_secs: u64) -> String {
    use cardvault::auth::jwt::{mint_hs256, Mint, Role};
    let tenant = cardvault::domain::TenantId::try_from(tenant.to_owned()).unwrap();
    mint_hs256(
        &jwt_config(),
        &cardvault::secret::SecretString::from(jwt_secret()),
        &Mint {
            tenant: &tenant,
            sub,
            account: None,
            role: role.and_then(Role::parse),
            ttl: std::time::Duration::from_secs(ttl_secs),
        },
    )
    .unwrap()
}

pub fn user_token(tenant: &str, sub: &str) -> String {
    user_token_with(tenant, sub, None, 600)
}

/// A user id no other test uses.
pub fn fresh_user(label: &str) -> String {
    format!(
        "{label}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A new localstripe card token (`tok_…`), as Stripe.js would make one.
pub async fn stripe_token() -> String {
    let token: Value = http()
        .post(format!("{}/v1/tokens", stack().stripe_url))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&[
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "8"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", "123"),
            ("card[name]", "Jane Roe"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["id"].as_str().expect("token id").to_owned()
}

/// Asserts the user API's error envelope with this status, and returns its message.
pub fn rechat_error(status: u16, body: &Value, want: u16) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["http"], want, "{body}");
    let code = body["code"].as_str().expect("code");
    assert!(!code.is_empty() && code != "OK", "{body}");
    body["message"].as_str().expect("message").to_owned()
}

/// Every string in the table: attribute names and values, nested ones included.
pub async fn scan_table_strings() -> Vec<String> {
    let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let items = client
        .scan()
        .table_name(&stack().table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan");
    fn walk(v: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
        match v {
            aws_sdk_dynamodb::types::AttributeValue::S(s) => out.push(s.clone()),
            aws_sdk_dynamodb::types::AttributeValue::L(l) => l.iter().for_each(|x| walk(x, out)),
            aws_sdk_dynamodb::types::AttributeValue::M(m) => m.values().for_each(|x| walk(x, out)),
            aws_sdk_dynamodb::types::AttributeValue::Ss(ss) => out.extend(ss.iter().cloned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in &items {
        for (k, v) in item {
            out.push(k.clone());
            walk(v, &mut out);
        }
    }
    out
}

/// Asserts the billing card API's error envelope with this status, and returns its message.
pub fn embedthis_error(status: u16, body: &Value, want: u16) -> String {
    assert_eq!(status, want, "{body}");
    let code = body["error"].as_str().expect("error code");
    assert!(!code.is_empty(), "{body}");
    body["message"].as_str().expect("message").to_owned()
}
