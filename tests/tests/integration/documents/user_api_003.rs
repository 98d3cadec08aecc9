//! Seed 003, Rechat's Stripe customers of a signed-in user: `POST` with its sample body, and
//! `GET`, each answered in the shape of the document's sample response.
//!
//! The sample's token is `tok_visa`, Stripe's test-mode token for a Visa card. localstripe
//! knows only the tokens it issued, so the body is replayed as written and refused there
//! (as a live key would refuse it: test tokens are for test keys), then with a token that
//! localstripe issued in its place.

use cardvault_tests::*;
use serde_json::Value;

use super::{assert_shape, verbatim};

const ROUTE: &str = "/payments/stripe/customers";

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

#[tokio::test]
async fn the_post_sample_and_its_response() {
    let sub = fresh_user("seed003");
    let jwt = user_token(&tenant_a().id, &sub);
    let (status, err) = post(&jwt, body_of(verbatim("003/request.http"))).await;
    let message = rechat_error(status, &err, 400);
    assert!(
        message.contains("tok_visa") || message.to_lowercase().contains("no such"),
        "{err}"
    );

    let body = body_of(verbatim("003/request.http")).replace("tok_visa", &stripe_token().await);
    let (status, created) = post(&jwt, &body).await;
    assert_eq!(status, 200, "{created}");
    let sample: Value = serde_json::from_str(verbatim("003/post-response.json")).unwrap();
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
        let body = body_of(verbatim("003/request.http")).replace("tok_visa", &stripe_token().await);
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
    let sample: Value = serde_json::from_str(verbatim("003/get-response.json")).unwrap();
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
