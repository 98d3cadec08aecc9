//! Seed 003, Rechat's Stripe customers of a signed-in user: `POST` with its sample body, and
//! `GET`, each answered in the shape of the document's sample response.
//!
//! The sample's token is `tok_visa`, Stripe's test-mode token for a Visa card. localstripe
//! knows only the tokens it issued, so the body is replayed as written and refused there
//! (as a live key would refuse it: test tokens are for test keys), then with a token that
//! localstripe issued in its place.

use cardvault_tests::*;
use serde_json::Value;

use super::{assert_in_document, assert_shape};

const SEED: &str = "003_afddad0e9787ffd0.txt";

const ROUTE: &str = "/payments/stripe/customers";

const REQUEST: &str = r#"POST /payments/stripe/customers
Request
Body
{
"token": "tok_visa"
}"#;

const POST_RESPONSE: &str = r#"{
"code": "OK",
"data": {
"id": "955a1e7f-683c-4e23-b2b3-3db4e08e950e",
"owner": "80a227b2-29a0-11e7-b636-e4a7a08e15d4",
"customer_id": "cus_Az3sOfwEJ3XvLY",
"source": {
"id": "card_mock_id",
"name": null,
"brand": "Visa",
"last4": "4242",
"object": "card",
"country": "US",
"funding": "credit",
"customer": "cus_Az3sOfwEJ3XvLY",
"exp_year": 2019,
"metadata": {},
"cvc_check": null,
"exp_month": 8,
"address_zip": null,
"fingerprint": "KLKJoiVFXSq7RAr4",
"address_city": null,
"address_line1": null,
"address_line2": null,
"address_state": null,
"dynamic_last4": null,
"address_country": null,
"address_zip_check": null,
"address_line1_check": null,
"tokenization_method": null
},
"created_at": 1765163615.609121,
"updated_at": 1765163615.609121,
"deleted_at": null,
"type": "stripe_customer"
}
}"#;

const GET_RESPONSE: &str = r#"{
"code": "OK",
"data": [
{
"id": "955a1e7f-683c-4e23-b2b3-3db4e08e950e",
"owner": "80a227b2-29a0-11e7-b636-e4a7a08e15d4",
"customer_id": "cus_Az3sOfwEJ3XvLY",
"source": {
"id": "card_mock_id",
"name": null,
"brand": "Visa",
"last4": "4242",
"object": "card",
"country": "US",
"funding": "credit",
"customer": "cus_Az3sOfwEJ3XvLY",
"exp_year": 2019,
"metadata": {},
"cvc_check": null,
"exp_month": 8,
"address_zip": null,
"fingerprint": "KLKJoiVFXSq7RAr4",
"address_city": null,
"address_line1": null,
"address_line2": null,
"address_state": null,
"dynamic_last4": null,
"address_country": null,
"address_zip_check": null,
"address_line1_check": null,
"tokenization_method": null
},
"created_at": 1765163615.609121,
"updated_at": 1765163615.609121,
"deleted_at": null,
"type": "stripe_customer"
}
],
"info": {
"count": 1,
"total": 0
}
}"#;

async fn post(jwt: &str, body: &str) -> (u16, Value) {
    let resp = http()
        .post(url(ROUTE))
        .header("Authorization", format!("Bearer {jwt}"))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// The body of a sample: the lines from its `{` on.
fn body_of(sample: &str) -> &str {
    &sample[sample.find('{').unwrap()..]
}

/// Asserts a link in the shape of the sample's `data`, `source` included.
fn assert_link(sample: &Value, ours: &Value, owner: &str) {
    assert!(assert_shape(sample, ours).is_empty(), "{ours}");
    assert!(
        assert_shape(&sample["source"], &ours["source"]).is_empty(),
        "{ours}"
    );
    assert_eq!(ours["owner"], owner);
    assert_eq!(ours["type"], "stripe_customer");
    assert_eq!(ours["id"].as_str().unwrap().len(), 36, "a UUID");
}

#[test]
fn the_samples_are_the_documents_own() {
    assert_in_document(SEED, &[REQUEST, POST_RESPONSE, GET_RESPONSE]);
}

#[tokio::test]
async fn the_post_sample_and_its_response() {
    let sub = fresh_user("seed003");
    let jwt = user_token(&tenant_a().id, &sub);
    let (status, err) = post(&jwt, body_of(REQUEST)).await;
    let message = rechat_error(status, &err, 400);
    assert!(
        message.contains("tok_visa") || message.to_lowercase().contains("no such"),
        "{err}"
    );

    let body = body_of(REQUEST).replace("tok_visa", &stripe_token().await);
    let (status, created) = post(&jwt, &body).await;
    assert_eq!(status, 200, "{created}");
    let sample: Value = serde_json::from_str(POST_RESPONSE).unwrap();
    assert!(assert_shape(&sample, &created).is_empty(), "{created}");
    assert_eq!(created["code"], "OK");
    assert_link(&sample["data"], &created["data"], &sub);
    assert_eq!(created["data"]["source"]["last4"], "4242");
}

#[tokio::test]
async fn the_get_sample_is_the_whole_list() {
    let sub = fresh_user("seed003-list");
    let jwt = user_token(&tenant_a().id, &sub);
    // More than a page of the old default (20): the document shows the whole list.
    let n = 22;
    for _ in 0..n {
        let body = body_of(REQUEST).replace("tok_visa", &stripe_token().await);
        assert_eq!(post(&jwt, &body).await.0, 200);
    }
    let resp = http()
        .get(url(ROUTE))
        .header("Authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    let (status, list) = json(resp).await;
    assert_eq!(status, 200, "{list}");
    let sample: Value = serde_json::from_str(GET_RESPONSE).unwrap();
    assert!(assert_shape(&sample, &list).is_empty(), "{list}");
    assert!(assert_shape(&sample["info"], &list["info"]).is_empty());
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), n, "the whole list");
    assert_eq!(list["info"]["count"], n);
    assert_eq!(list["info"]["total"], n);
    for link in data {
        assert_link(&sample["data"][0], link, &sub);
    }
}
