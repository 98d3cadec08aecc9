//! A customer's payment methods (Fusebill style): list and paging, get, delete rules,
//! the default, country ids, and tenant scope on every route.

use cardvault_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn list(customer: u64, query: &str, key: &str) -> (u16, Value, Option<String>) {
    let resp = call(
        Method::GET,
        &format!("/v1/customers/{customer}/paymentMethods/creditCard{query}"),
        key,
        None,
    )
    .await;
    let total = resp
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json(resp).await;
    (status, body, total)
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|pm| pm["id"].as_u64().unwrap())
        .collect()
}

fn defaults(list: &Value) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|pm| pm["isDefault"] == true)
        .map(|pm| pm["id"].as_u64().unwrap())
        .collect()
}

async fn set_default(customer: u64, pm: u64, key: &str) -> (u16, Value) {
    let body = json!({"id": customer, "defaultPaymentMethodId": pm});
    json(call(Method::PUT, "/v1/customerbillingsetting", key, Some(&body)).await).await
}

#[tokio::test]
async fn list_is_newest_first_and_pages() {
    let key = &tenant_a().private_api_key;
    let (customer, pms, _) = customer_with_cards(3).await;
    let newest_first: Vec<u64> = pms.iter().rev().copied().collect();

    let (status, all, total) = list(customer, "", key).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), newest_first);
    assert_eq!(total.as_deref(), Some("3"));
    assert_eq!(
        defaults(&all),
        vec![pms[0]],
        "the first card is the default"
    );

    let (_, page0, _) = list(customer, "?pageSize=2&pageNumber=0", key).await;
    let (_, page1, total) = list(customer, "?PageSize=2&PageNumber=1", key).await;
    assert_eq!(ids(&page0), newest_first[..2]);
    assert_eq!(ids(&page1), newest_first[2..]);
    assert_eq!(total.as_deref(), Some("3"));
    let (_, past_end, _) = list(customer, "?pageSize=2&pageNumber=5", key).await;
    assert_eq!(past_end, json!([]));

    for (query, field) in [
        ("?pageSize=0", "pageSize"),
        ("?pageSize=101", "pageSize"),
        ("?pageSize=abc", "pageSize"),
        ("?pageNumber=-1", "pageNumber"),
    ] {
        let (status, err, _) = list(customer, query, key).await;
        fusebill_error(status, &err, 400);
        assert_eq!(err["Errors"][0]["Key"], field, "{query}");
    }
}

#[tokio::test]
async fn get_answers_the_same_record_as_the_import() {
    let key = &tenant_a().private_api_key;
    let (_, pms, imported) = customer_with_cards(1).await;
    let (status, got) = json(
        call(
            Method::GET,
            &format!("/v1/paymentMethods/{}", pms[0]),
            key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, imported[0]);
}

async fn delete(pm: u64, key: &str) -> reqwest::Response {
    delete_credit_card(pm, key).await
}

#[tokio::test]
async fn the_default_cannot_be_deleted_while_others_exist_but_the_only_card_can() {
    let key = &tenant_a().private_api_key;
    let (customer, pms, imported) = customer_with_cards(2).await;
    let (default, other) = (pms[0], pms[1]);

    let (status, err) = json(delete(default, key).await).await;
    assert_eq!(
        fusebill_error(status, &err, 400),
        "Cannot delete a default payment method"
    );

    let resp = delete(other, key).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.text().await.unwrap().is_empty());
    let (_, remaining, _) = list(customer, "", key).await;
    assert_eq!(ids(&remaining), vec![default]);

    assert_eq!(
        delete(default, key).await.status(),
        204,
        "the only card may go"
    );
    let (_, none, total) = list(customer, "", key).await;
    assert_eq!(none, json!([]));
    assert_eq!(total.as_deref(), Some("0"));
    let (status, err) = json(delete(default, key).await).await;
    fusebill_error(status, &err, 404);

    // The default was cleared: importing the same card again makes it the default anew.
    let body = json!({"customerId": customer,
        "stripeCustomerId": imported[0]["externalCustomerId"],
        "stripeCardId": imported[0]["externalCardId"]});
    let (status, again) = post_json("/v1/paymentMethodImport/stripeConnect", key, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["isDefault"], true);
    assert_ne!(again["id"], json!(default));
}

#[tokio::test]
async fn the_default_can_be_switched() {
    let key = &tenant_a().private_api_key;
    let (customer, pms, _) = customer_with_cards(2).await;
    let (status, body) = set_default(customer, pms[1], key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["defaultPaymentMethodId"], pms[1]);
    let (_, all, _) = list(customer, "", key).await;
    assert_eq!(defaults(&all), vec![pms[1]]);

    // The old default is now deletable; the new one is not.
    assert_eq!(delete(pms[0], key).await.status(), 204);

    let (status, err) = set_default(customer, 123_456_789, key).await;
    fusebill_error(status, &err, 404);
    let (status, err) = json(
        call(
            Method::PUT,
            "/v1/customerbillingsetting",
            key,
            Some(&json!({"id": customer})),
        )
        .await,
    )
    .await;
    fusebill_error(status, &err, 400);
    assert_eq!(err["Errors"][0]["Key"], "defaultPaymentMethodId");
}

#[tokio::test]
async fn twenty_concurrent_default_changes_leave_exactly_one_default() {
    let key = tenant_a().private_api_key.clone();
    let (customer, pms, _) = customer_with_cards(4).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (key, pm) = (key.clone(), pms[i % pms.len()]);
        tasks.spawn(async move { set_default(customer, pm, &key).await.0 });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let (_, all, _) = list(customer, "", &key).await;
    let d = defaults(&all);
    assert_eq!(d.len(), 1, "{all}");
    assert!(pms.contains(&d[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_default_changes_in_process_leave_exactly_one_default() {
    use cardvault::domain::{CustomerId, PaymentMethodId, TenantId};
    use std::sync::Arc;
    let (customer, pms, _) = customer_with_cards(4).await;
    let app = Arc::new(app_with_stripe("http://127.0.0.1:9").await);
    let tenant = TenantId::try_from(tenant_a().id.clone()).unwrap();
    let cid = CustomerId::try_from(customer).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (app, tenant) = (app.clone(), tenant.clone());
        let pm = PaymentMethodId::try_from(pms[i % pms.len()]).unwrap();
        tasks.spawn(async move { app.vault.make_default(&tenant, cid, pm).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("set default");
    }
    let (views, _) = app
        .vault
        .list_cards(&tenant, cid, Default::default())
        .await
        .unwrap();
    assert_eq!(views.iter().filter(|v| v.is_default).count(), 1);
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_route_exactly_as_for_a_missing_record() {
    let a = &tenant_a().private_api_key;
    let b = &tenant_b().private_api_key;
    let (customer, pms, _) = customer_with_cards(2).await;
    let pm = pms[1];
    let missing_pm: u64 = 4_242_424_242;
    let missing_customer: u64 = 4_242_424_243;

    let (status, foreign, _) = list(customer, "", b).await;
    let (_, absent, _) = list(missing_customer, "", b).await;
    assert_eq!(
        fusebill_error(status, &foreign, 404),
        format!("Customer with id {customer} not found.")
    );
    fusebill_error(404, &absent, 404);

    for (method, path, missing_path) in [
        (
            Method::GET,
            format!("/v1/paymentMethods/{pm}"),
            format!("/v1/paymentMethods/{missing_pm}"),
        ),
        (
            Method::DELETE,
            format!("/v1/paymentMethods/{pm}/creditCard"),
            format!("/v1/paymentMethods/{missing_pm}/creditCard"),
        ),
    ] {
        let (status, foreign) = json(call(method.clone(), &path, b, None).await).await;
        let (missing_status, absent) = json(call(method, &missing_path, b, None).await).await;
        assert_eq!(
            fusebill_error(status, &foreign, 404),
            format!("Payment method with id {pm} not found.")
        );
        assert_eq!(missing_status, 404);
        assert_eq!(
            foreign.to_string(),
            absent
                .to_string()
                .replace(&missing_pm.to_string(), &pm.to_string())
        );
    }
    let (status, foreign) = set_default(customer, pm, b).await;
    assert_eq!(
        fusebill_error(status, &foreign, 404),
        format!("Payment method with id {pm} not found.")
    );

    // Nothing changed for the owner.
    let (_, all, _) = list(customer, "", a).await;
    assert_eq!(ids(&all).len(), 2);
    assert_eq!(defaults(&all), vec![pms[0]]);
}

#[tokio::test]
async fn countries_carry_iso_numeric_ids_and_permanent_state_ids() {
    let (status, countries) = json(
        call(
            Method::GET,
            "/v1/countries",
            &tenant_a().private_api_key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let all = countries.as_array().unwrap();
    assert!(all.len() > 240);
    let canada = all.iter().find(|c| c["id"] == 124).expect("Canada");
    assert_eq!(canada["name"], "Canada");
    assert_eq!(canada["iso3"], "CAN");
    assert_eq!(
        canada["states"][0],
        json!({"id": 1, "name": "Alberta", "iso": "CA-AB"})
    );
    let us = all.iter().find(|c| c["id"] == 840).expect("United States");
    assert!(us["states"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["iso"] == "US-CA"));

    let resp = http().get(url("/v1/countries")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}
