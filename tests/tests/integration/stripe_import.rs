//! Stripe card import (Fusebill `paymentMethodImport`), against localstripe.

use cardvault_tests::*;
use serde_json::json;

const CONNECT: &str = "/v1/paymentMethodImport/stripeConnect";
const ALIAS: &str = "/v1/AchCardImport/stripeConnect";
const OWN_KEY: &str = "/v1/paymentMethodImport/Stripe";

#[tokio::test]
async fn connect_import_of_a_tokenized_card() {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, json!({"firstName": "John"})).await;
    let (cus, card) = stripe_card(
        "John Doe",
        &[
            ("card[address_line1]", "10 Dodge St"),
            ("card[address_city]", "Columbia"),
            ("card[address_zip]", "V9V 9V9"),
            ("card[address_country]", "CA"),
            ("card[address_state]", "AB"),
        ],
    )
    .await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, pm) = post_json(CONNECT, key, &body).await;
    assert_eq!(status, 200, "{pm}");
    // The platform's key, on demo-a's connected account (bootstrap.py).
    assert_eq!(
        stripe_calls(&format!("/v1/customers/{cus}/sources/{card}")).await,
        vec![(
            "GET".to_owned(),
            Some("sk_test_cardvault_platform".to_owned()),
            Some("acct_1DemoShopA00001".to_owned())
        )]
    );
    assert_eq!(pm["maskedCardNumber"], "************4242");
    assert_eq!(pm["cardType"], "Visa");
    assert_eq!(pm["expirationMonth"], 12);
    assert_eq!(
        pm["expirationYear"], 30,
        "two-digit year, as the document shows"
    );
    assert_eq!(pm["customerId"], customer);
    assert_eq!(pm["firstName"], "John");
    assert_eq!(pm["lastName"], "Doe");
    assert_eq!(pm["address1"], "10 Dodge St");
    assert_eq!(pm["address2"], "");
    assert_eq!(pm["city"], "Columbia");
    assert_eq!(pm["postalZip"], "V9V 9V9");
    assert_eq!(pm["countryId"], 124);
    assert_eq!(pm["country"], "CAN");
    assert_eq!(pm["stateId"], 1);
    assert_eq!(pm["state"], "Alberta");
    assert_eq!(
        pm["isDefault"], true,
        "the first payment method is the default"
    );
    assert_eq!(pm["externalCustomerId"], cus.as_str());
    assert_eq!(pm["externalCardId"], card.as_str());
    assert_eq!(pm["storedInFusebillVault"], false);
    assert!(pm["id"].as_u64().is_some());
    assert!(pm["uri"].is_null());
    // Every field of the document's sample response is present.
    for field in [
        "maskedCardNumber",
        "cardType",
        "expirationMonth",
        "expirationYear",
        "customerId",
        "firstName",
        "lastName",
        "address1",
        "address2",
        "countryId",
        "country",
        "stateId",
        "state",
        "city",
        "postalZip",
        "isDefault",
        "externalCustomerId",
        "externalCardId",
        "storedInFusebillVault",
        "id",
        "uri",
    ] {
        assert!(pm.get(field).is_some(), "missing {field}: {pm}");
    }

    // A second card, through the alias route, is not the default.
    let (cus2, card2) = stripe_card("John Doe", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus2, "stripeCardId": card2});
    let (status, second) = post_json(ALIAS, key, &body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["isDefault"], false);
    assert_ne!(second["id"], pm["id"]);
    assert_eq!(second["countryId"], json!(null));
    assert_eq!(second["country"], "");
}

#[tokio::test]
async fn non_connect_import_uses_the_tenants_own_key() {
    let key = &tenant_b().private_api_key;
    let customer = create_customer(key, json!({})).await;
    let (cus, card) = stripe_card("Ada Lovelace", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, pm) = post_json(OWN_KEY, key, &body).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["externalCardId"], card.as_str());
    assert_eq!(pm["isDefault"], true);
    // What the import-stripe function sent: demo-b's own key (bootstrap.py), no account.
    assert_eq!(
        stripe_calls(&format!("/v1/customers/{cus}/sources/{card}")).await,
        vec![(
            "GET".to_owned(),
            Some("sk_test_cardvault_demo_b".to_owned()),
            None
        )]
    );
}

#[tokio::test]
async fn each_route_requires_its_kind_of_connection() {
    let (cus, card) = stripe_card("X Y", &[]).await;
    let a = &tenant_a().private_api_key;
    let customer = create_customer(a, json!({})).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, err) = post_json(OWN_KEY, a, &body).await;
    assert!(fusebill_error(status, &err, 400).contains("Stripe Connect"));

    let b = &tenant_b().private_api_key;
    let customer = create_customer(b, json!({})).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, err) = post_json(CONNECT, b, &body).await;
    assert!(fusebill_error(status, &err, 400).contains("not connected through Stripe Connect"));
}

#[tokio::test]
async fn importing_the_same_card_twice_answers_the_first_record() {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, json!({})).await;
    let (cus, card) = stripe_card("Dup Licate", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (s1, first) = post_json(CONNECT, key, &body).await;
    let (s2, again) = post_json(CONNECT, key, &body).await;
    assert_eq!((s1, s2), (200, 200), "{again}");
    assert_eq!(first["id"], again["id"]);
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn unknown_and_foreign_customers_are_404() {
    let (cus, card) = stripe_card("X Y", &[]).await;
    let a = &tenant_a().private_api_key;
    let b = &tenant_b().private_api_key;
    let foreign = create_customer(b, json!({})).await;
    for customer in [foreign, 1325] {
        let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
        let (status, err) = post_json(CONNECT, a, &body).await;
        assert_eq!(
            fusebill_error(status, &err, 404),
            format!("Customer with id {customer} not found.")
        );
    }
}

#[tokio::test]
async fn a_card_not_on_that_stripe_customer_is_400_no_such_source() {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, json!({})).await;
    let (cus, _) = stripe_card("X Y", &[]).await;
    let (_, other_card) = stripe_card("X Y", &[]).await;
    for card in ["card_doesNotExist123", other_card.as_str()] {
        let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
        let (status, err) = post_json(CONNECT, key, &body).await;
        assert_eq!(
            fusebill_error(status, &err, 400),
            format!("No such source: {card}")
        );
    }
    assert_eq!(payment_method_count(customer).await, 0);
}

/// The curl sample with its `{id}` placeholders left in is not JSON even for Json.NET (the
/// samples with ids filled in are replayed in `documents/import_000.rs`).
#[tokio::test]
async fn the_documents_curl_body_with_its_placeholders_is_not_json_and_says_so() {
    let resp = http()
        .post(url(CONNECT))
        .header("Authorization", basic(&tenant_a().private_api_key))
        .header("Content-Type", "application/json")
        .body("{customerId:1,stripeCustomerId:{id},stripeCardId:{id}}")
        .send()
        .await
        .unwrap();
    let (status, err) = json(resp).await;
    assert!(fusebill_error(status, &err, 400).contains("not valid JSON"));
}

#[tokio::test]
async fn missing_and_misprefixed_ids_name_their_fields() {
    let key = &tenant_a().private_api_key;
    let cases = [
        (
            json!({}),
            vec!["customerId", "stripeCustomerId", "stripeCardId"],
        ),
        (
            json!({"customerId": 5, "stripeCustomerId": "acct_1", "stripeCardId": "card_1"}),
            vec!["stripeCustomerId"],
        ),
        (
            json!({"customerId": 5, "stripeCustomerId": "cus_1", "stripeCardId": "pm_1"}),
            vec!["stripeCardId"],
        ),
        (
            json!({"customerId": 0, "stripeCustomerId": "cus_1", "stripeCardId": "ba_1"}),
            vec!["customerId"],
        ),
        (
            // A string of digits is a whole number, as Json.NET reads it; this one is not.
            json!({"customerId": "5x", "stripeCustomerId": "cus_1", "stripeCardId": "card_1"}),
            vec!["customerId"],
        ),
    ];
    for (body, fields) in cases {
        let (status, err) = post_json(CONNECT, key, &body).await;
        fusebill_error(status, &err, 400);
        let keys: Vec<_> = err["Errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, fields, "{body}: {err}");
    }
}

#[tokio::test]
async fn a_tenant_without_a_stripe_connection_is_told_so() {
    let id = format!("nostripe-{}", std::process::id());
    admin(&["create-tenant", "--id", &id, "--name", "No Stripe"]);
    let key = admin(&["issue-key", "--tenant", &id])["privateApiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = create_customer(&key, json!({})).await;
    let (cus, card) = stripe_card("X Y", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    for route in [CONNECT, OWN_KEY] {
        let (status, err) = post_json(route, &key, &body).await;
        assert!(fusebill_error(status, &err, 400).contains("no Stripe connection"));
    }
}
