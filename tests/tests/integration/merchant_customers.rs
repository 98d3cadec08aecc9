//! Merchant API customers, end to end: router → fleet → function → DynamoDB Local.

use cardvault_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn create_then_get_a_customer() {
    let key = &tenant_a().private_api_key;
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", basic(key))
        .json(&json!({
            "firstName": " Karen ", "lastName": "Wood", "companyName": "Wood & Co",
            "primaryEmail": "karen@example.com", "reference": "crm-1042",
            "someFusebillFieldWeIgnore": 1
        }))
        .send()
        .await
        .unwrap();
    let (status, created) = json(resp).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_u64().expect("numeric id");
    assert!(id < (1 << 53), "JSON-safe id");
    assert_eq!(created["firstName"], "Karen", "trimmed");
    assert_eq!(created["companyName"], "Wood & Co");
    assert_eq!(created["reference"], "crm-1042");
    assert!(created["createdTimestamp"].as_str().unwrap().ends_with('Z'));

    let resp = http()
        .get(url(&format!("/v1/customers/{id}")))
        .header("Authorization", basic(key))
        .send()
        .await
        .unwrap();
    let (status, fetched) = json(resp).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn basic_auth_as_http_clients_build_it_works_too() {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:", tenant_a().private_api_key));
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", format!("Basic {encoded}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn create_with_auth(auth: Option<&str>) -> (u16, Value) {
    let mut req = http()
        .post(url("/v1/customers"))
        .json(&json!({"firstName": "X"}));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    json(req.send().await.unwrap()).await
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_401() {
    for auth in [
        None,
        Some("Basic"),
        Some("Bearer cvk_whatever"),
        Some("Basic cvk_thisKeyWasNeverIssued0000000000000000000"),
    ] {
        let (status, body) = create_with_auth(auth).await;
        let msg = fusebill_error(status, &body, 401);
        assert!(!msg.is_empty(), "{auth:?}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_401() {
    let tenant = &tenant_b().id;
    let issued = admin(&["issue-key", "--tenant", tenant]);
    let key = issued["privateApiKey"].as_str().unwrap();
    let key_id = issued["keyId"].as_str().unwrap();
    admin(&["revoke-key", "--tenant", tenant, "--key-id", key_id]);
    let (status, body) = create_with_auth(Some(&basic(key))).await;
    assert!(fusebill_error(status, &body, 401).contains("revoked"));
}

#[tokio::test]
async fn a_newly_issued_key_works() {
    let issued = admin(&["issue-key", "--tenant", &tenant_b().id]);
    let key = issued["privateApiKey"].as_str().unwrap();
    let (status, body) = create_with_auth(Some(&basic(key))).await;
    assert_eq!(status, 200, "{body}");
}

async fn get_customer(key: &str, id: &str) -> (u16, Value) {
    let resp = http()
        .get(url(&format!("/v1/customers/{id}")))
        .header("Authorization", basic(key))
        .send()
        .await
        .unwrap();
    json(resp).await
}

#[tokio::test]
async fn another_tenants_customer_answers_exactly_as_a_missing_one() {
    let id = create_customer(&tenant_a().private_api_key, json!({"firstName": "A"})).await;
    let (status, foreign) = get_customer(&tenant_b().private_api_key, &id.to_string()).await;
    let msg = fusebill_error(status, &foreign, 404);
    assert_eq!(msg, format!("Customer with id {id} not found."));

    // An absent id that, like every issued id, fails the Luhn check (one that passed would
    // be answered "(not shown)", as a possible card number is).
    let absent = (id + 1..)
        .find(|n| !cardvault::domain::luhn_ok(&n.to_string()))
        .unwrap();
    let (status, missing) = get_customer(&tenant_b().private_api_key, &absent.to_string()).await;
    fusebill_error(status, &missing, 404);
    let normalised = missing
        .to_string()
        .replace(&absent.to_string(), &id.to_string());
    assert_eq!(foreign.to_string(), normalised, "same shape, same words");
}

#[tokio::test]
async fn a_malformed_id_is_404() {
    for id in ["abc", "0", "-5", "9007199254740992", "1.5"] {
        let (status, body) = get_customer(&tenant_a().private_api_key, id).await;
        fusebill_error(status, &body, 404);
    }
}

async fn post_raw(body: impl Into<reqwest::Body>, content_type: &str) -> (u16, Value) {
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", basic(&tenant_a().private_api_key))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

#[tokio::test]
async fn bad_json_is_400_saying_so() {
    // Json.NET's tolerance (unquoted names, single quotes) has limits too.
    let (status, body) = post_raw("{firstName 'Karen'}", "application/json").await;
    let msg = fusebill_error(status, &body, 400);
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert!(msg.contains("line 1 column"), "{msg}");
    let (status, body) = post_raw("", "application/json").await;
    fusebill_error(status, &body, 400);
    let (status, body) = post_raw("[]", "application/json").await;
    fusebill_error(status, &body, 400);
}

#[tokio::test]
async fn wrong_types_and_oversize_fields_name_the_field() {
    let cases = [
        (json!({"firstName": {"a": 5}}), "firstName"),
        (json!({"lastName": ["a"]}), "lastName"),
        (json!({"firstName": "x".repeat(51)}), "firstName"),
        (json!({"companyName": "x".repeat(256)}), "companyName"),
        (json!({"primaryEmail": "nope"}), "primaryEmail"),
        (json!({"reference": "evil\u{202E}txt"}), "reference"),
        (json!({"firstName": "nul\u{0}byte"}), "firstName"),
    ];
    for (payload, field) in cases {
        let (status, body) = post_raw(payload.to_string(), "application/json").await;
        let msg = fusebill_error(status, &body, 400);
        assert!(msg.contains(field), "{payload}: {msg}");
        assert_eq!(body["Errors"][0]["Key"], field);
    }
}

#[tokio::test]
async fn several_bad_fields_are_listed_together() {
    let payload = json!({"firstName": "x".repeat(51), "primaryEmail": "nope"});
    let (status, body) = post_raw(payload.to_string(), "application/json").await;
    fusebill_error(status, &body, 400);
    assert_eq!(body["Errors"].as_array().unwrap().len(), 2, "{body}");
}

#[tokio::test]
async fn unknown_content_type_and_oversize_body_are_4xx() {
    let (status, body) = post_raw("firstName=Karen", "application/x-www-form-urlencoded").await;
    fusebill_error(status, &body, 415);
    let huge = json!({"firstName": "K", "pad": "x".repeat(20_000)}).to_string();
    let (status, body) = post_raw(huge, "application/json").await;
    fusebill_error(status, &body, 413);
}

/// ASP.NET's JSON input formatter takes `text/json`, and .NET clients of Fusebill's API
/// send it: so does cardvault.
#[tokio::test]
async fn text_json_is_taken_as_asp_net_takes_it() {
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", basic(&tenant_a().private_api_key))
        .header("Content-Type", "text/json; charset=utf-8")
        .body(json!({"firstName": "Karen"}).to_string())
        .send()
        .await
        .unwrap();
    let (status, created) = json(resp).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["firstName"], "Karen");
    // Another text type is still refused.
    let resp = http()
        .post(url("/v1/customers"))
        .header("Authorization", basic(&tenant_a().private_api_key))
        .header("Content-Type", "text/plain")
        .body(json!({"firstName": "Karen"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}
