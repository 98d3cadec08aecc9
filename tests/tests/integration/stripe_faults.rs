//! Stripe failing, injected with wiremock: the import answers 502 and writes nothing.
//! The vault runs in-process here, on the real test table, with Stripe's base URL
//! pointed at the mock.

use std::time::Duration;

use cardvault::domain::ImportRequest;
use cardvault::domain::{CustomerId, TenantId};
use cardvault::domain::{CustomerRef, SourceRef};
use cardvault::vault::StripeRoute;
use cardvault::Error;
use cardvault_stripe::STRIPE_VERSION;
use cardvault_tests::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn tenant() -> TenantId {
    TenantId::try_from(tenant_a().id.clone()).unwrap()
}

async fn request(card: &str) -> (u64, ImportRequest) {
    let customer = create_customer(&tenant_a().private_api_key, json!({})).await;
    let req = ImportRequest {
        customer_id: CustomerId::try_from(customer).unwrap(),
        stripe_customer: CustomerRef::parse("cus_Fault").unwrap(),
        source: SourceRef::parse(card).unwrap(),
    };
    (customer, req)
}

#[tokio::test]
async fn a_stripe_500_is_retried_a_bounded_number_of_times_then_502_and_nothing_written() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/v1/customers/cus_Fault/sources/"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let (customer, req) = request("card_Fault500").await;
    let result = app
        .vault
        .import_card(&tenant(), StripeRoute::Connect, req)
        .await;
    assert!(matches!(result, Err(Error::Upstream { .. })), "{result:?}");
    assert_eq!(payment_method_count(customer).await, 0);
}

#[tokio::test]
async fn a_stripe_timeout_is_502_and_nothing_written() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .expect(3)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let (customer, req) = request("card_FaultSlow").await;
    let result = app
        .vault
        .import_card(&tenant(), StripeRoute::Connect, req)
        .await;
    assert!(matches!(result, Err(Error::Upstream { .. })), "{result:?}");
    assert_eq!(payment_method_count(customer).await, 0);
}

#[tokio::test]
async fn a_stripe_4xx_is_not_retried() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/v1/customers/[^/]+/sources/"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": "No such source: 'card_Gone'", "param": "id"}})))
        .expect(1)
        .mount(&stripe)
        .await;
    // Stripe's "not found" does not say which id; the vault asks about the customer.
    Mock::given(method("GET"))
        .and(path_regex("^/v1/customers/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_Fault"})))
        .expect(1)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let (customer, req) = request("card_Gone").await;
    match app
        .vault
        .import_card(&tenant(), StripeRoute::Connect, req)
        .await
    {
        Err(Error::BadRequest(m)) => assert_eq!(m, "No such source: card_Gone"),
        other => panic!("{other:?}"),
    }
    assert_eq!(payment_method_count(customer).await, 0);
}

#[tokio::test]
async fn connect_calls_carry_the_account_and_a_pinned_version() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_Fault/sources/card_Hdr"))
        .and(header("Stripe-Account", tenant_a_account().as_str()))
        .and(header("Stripe-Version", STRIPE_VERSION))
        .and(header("Authorization", "Bearer sk_test_cardvault_platform"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "card", "id": "card_Hdr", "brand": "American Express", "last4": "0005",
            "exp_month": 4, "exp_year": 2031, "name": "Amy Ex"})))
        .expect(1)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let (customer, req) = request("card_Hdr").await;
    let view = app
        .vault
        .import_card(&tenant(), StripeRoute::Connect, req)
        .await
        .expect("import");
    assert_eq!(view.payment_method.last4, "0005");
    assert!(view.is_default);
    assert_eq!(payment_method_count(customer).await, 1);
}

/// demo-b's own Stripe secret key, as `infra/bootstrap.py` stores it in its secret.
const DEMO_B_OWN_KEY: &str = "sk_test_cardvault_demo_b";

/// The own-key import (`POST /v1/paymentMethodImport/Stripe`) calls Stripe with the
/// tenant's own secret key and never names a connected account: every call it makes, the
/// import's GET and, on Stripe's 404, the GET of the customer. (localstripe takes any key,
/// so only a mock can tell.)
#[tokio::test]
async fn own_key_calls_carry_the_tenants_own_key_and_no_account() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_Own/sources/card_Own"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "card", "id": "card_Own", "brand": "Visa", "last4": "4242",
            "exp_month": 4, "exp_year": 2031, "name": "Ada Lovelace"})))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_Own/sources/card_OwnGone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": "No such source: 'card_OwnGone'", "param": "id"}})))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_Own"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_Own"})))
        .expect(1)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let tenant = TenantId::try_from(tenant_b().id.clone()).unwrap();
    let customer = create_customer(&tenant_b().private_api_key, json!({})).await;
    let req = |card: &str| ImportRequest {
        customer_id: CustomerId::try_from(customer).unwrap(),
        stripe_customer: CustomerRef::parse("cus_Own").unwrap(),
        source: SourceRef::parse(card).unwrap(),
    };

    let view = app
        .vault
        .import_card(&tenant, StripeRoute::OwnKey, req("card_Own"))
        .await
        .expect("import");
    assert_eq!(view.payment_method.last4, "4242");
    match app
        .vault
        .import_card(&tenant, StripeRoute::OwnKey, req("card_OwnGone"))
        .await
    {
        Err(Error::BadRequest(m)) => assert_eq!(m, "No such source: card_OwnGone"),
        other => panic!("{other:?}"),
    }

    let calls = stripe.received_requests().await.expect("recorded");
    let paths: Vec<&str> = calls.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/v1/customers/cus_Own/sources/card_Own",
            "/v1/customers/cus_Own/sources/card_OwnGone",
            "/v1/customers/cus_Own",
        ]
    );
    for call in &calls {
        let auth = call
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap());
        assert_eq!(
            auth,
            Some(format!("Bearer {DEMO_B_OWN_KEY}").as_str()),
            "{}",
            call.url
        );
        assert!(
            call.headers.get("stripe-account").is_none(),
            "{}: no connected account",
            call.url
        );
    }
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn a_bank_account_imports_as_ach() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "bank_account", "id": "ba_Ach1", "bank_name": "STRIPE TEST BANK",
            "last4": "6789", "routing_number": "110000000", "account_holder_name": "Jane Roe"})))
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let (_, req) = request("ba_Ach1").await;
    let view = app
        .vault
        .import_card(&tenant(), StripeRoute::Connect, req)
        .await
        .expect("import");
    let rendered =
        serde_json::to_value(cardvault::dialect::fusebill::PaymentMethodJson::from(view)).unwrap();
    assert_eq!(rendered["paymentMethodType"], "ACH");
    assert_eq!(rendered["maskedAccountNumber"], "********6789");
    assert_eq!(rendered["firstName"], "Jane");
    assert_eq!(rendered["externalCardId"], "ba_Ach1");
}

fn tenant_a_account() -> String {
    tenant_a().stripe["accountId"].as_str().unwrap().to_owned()
}
