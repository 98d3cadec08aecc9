//! Stripe's side of a change, read back at localstripe: after the billing card API's
//! `/card/updateCurrent` and `/card/remove`, and the merchant API's set-default
//! (`PUT /v1/customerbillingsetting`) and delete (`DELETE /v1/paymentMethods/{id}/creditCard`),
//! the Stripe customer holds what the vault says: a removed card is detached, and
//! `default_source` is the vault's default card. The vault's own state is checked elsewhere
//! (`billing.rs`, `payment_methods.rs`).

use std::time::{Duration, Instant};

use cardvault::domain::{account_ref, PaymentMethodId, TenantId};
use cardvault_core::ports::CustomerStore;
use cardvault_tests::billing::{account, card, owner};
use cardvault_tests::*;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASS: &str = "cardvault-test-pass";

/// The Stripe customer as localstripe holds it: its default source, and its cards' ids.
/// The customer's default card at Stripe (its invoice default PaymentMethod, else its
/// legacy default source) and its cards (legacy sources, then PaymentMethods).
async fn at_stripe(cus: &str) -> (Option<String>, Vec<String>) {
    let (status, c) = stripe_get(&format!("/v1/customers/{cus}")).await;
    assert_eq!(status, 200, "{c}");
    let default = c["invoice_settings"]["default_payment_method"]
        .as_str()
        .or(c["default_source"].as_str())
        .map(str::to_owned);
    (default, stripe_card_ids(cus).await)
}

/// A payment method's Stripe card, as the vault stored it: (customer, card).
async fn stripe_of(customer: u64, pm: u64) -> (String, String) {
    let item = payment_method_item(customer, pm).await;
    let s = &item["stripe"];
    (
        s["customerId"].as_str().expect("held at Stripe").to_owned(),
        s["sourceId"].as_str().expect("held at Stripe").to_owned(),
    )
}

/// A card of the billing account `acct` of demo-a, from a token of `pan`: (its id, the
/// account's Stripe customer, the card there).
async fn billing_card(bearer: &str, acct: &str, pan: &str) -> (String, String, String) {
    let tok = stripe_token_for(pan).await;
    let (status, made) = card(
        "/card/create",
        bearer,
        Some(json!({"current": false, "name": "Team card", "number": pan,
                    "month": "08", "year": "31", "stripeToken": tok})),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().expect("an id").to_owned();
    let (cus, card) = stripe_of(account_customer(acct).await, id.parse().unwrap()).await;
    (id, cus, card)
}

/// The vault customer of demo-a's billing account `acct`.
async fn account_customer(acct: &str) -> u64 {
    let app = app_with_stripe(&stack().stripe_url).await;
    let tenant = TenantId::try_from(tenant_a().id.clone()).unwrap();
    let customer = app
        .vault
        .store()
        .customer_by_external_ref(&tenant, &account_ref(acct))
        .await
        .unwrap()
        .expect("the account's vault customer");
    customer.id.get()
}

/// demo-a's audit event `action` on `customer` about Stripe object `object`, once the
/// chainer has listed it (at most 30 s).
async fn audit_event(customer: u64, action: &str, object: &str) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let page = audit_listed(&tenant_a().private_api_key, customer, 1).await;
        let found = page["auditEvents"]
            .as_array()
            .and_then(|es| {
                es.iter()
                    .find(|e| e["action"] == action && e["object"] == object)
            })
            .cloned();
        if let Some(e) = found {
            return e;
        }
        assert!(
            Instant::now() < until,
            "no {action} event for {object}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many lines of localstripe's request log are `request` answered with `status`
/// (`DELETE /v1/…`, `404`): the calls that reached it.
fn stripe_log_count(request: &str, status: u16) -> usize {
    let log = std::fs::read_to_string(leaks::run_dir().join("stripe.log")).expect("stripe.log");
    let line = format!("{request} HTTP/1.1 {status} ");
    log.lines().filter(|l| l.starts_with(&line)).count()
}

#[tokio::test]
async fn update_current_and_remove_leave_stripe_as_the_vault_says() {
    let acct = account();
    let own = owner(&tenant_a().id, &acct);
    let (a, cus, a_card) = billing_card(&own, &acct, "4242424242424242").await;
    let (b, _, b_card) = billing_card(&own, &acct, "5555555555554444").await;
    let (c, _, c_card) = billing_card(&own, &acct, "4000056655665556").await;
    assert_eq!(at_stripe(&cus).await.0.as_deref(), Some(a_card.as_str()));

    let (status, body) = card("/card/updateCurrent", &own, Some(json!({"id": c}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        at_stripe(&cus).await.0.as_deref(),
        Some(c_card.as_str()),
        "updateCurrent moves Stripe's default source"
    );

    // Removing the current card detaches it, and the newest other card (b) becomes current
    // at Stripe too: not the one localstripe would pick by itself (a, the oldest).
    let (status, body) = card("/card/remove", &own, Some(json!({"id": c}))).await;
    assert_eq!(status, 200, "{body}");
    let (default, cards) = at_stripe(&cus).await;
    assert!(
        !cards.contains(&c_card),
        "the removed card is detached: {cards:?}"
    );
    assert_eq!(default.as_deref(), Some(b_card.as_str()));

    // A card that is not current: detached, and the default stays.
    let (status, body) = card("/card/remove", &own, Some(json!({"id": a}))).await;
    assert_eq!(status, 200, "{body}");
    let (default, cards) = at_stripe(&cus).await;
    assert_eq!(cards, std::slice::from_ref(&b_card));
    assert_eq!(default.as_deref(), Some(b_card.as_str()));

    let (status, body) = card("/card/remove", &own, Some(json!({"id": b}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(at_stripe(&cus).await, (None, vec![]));
}

/// Stripe refusing to move its default source does not fail `updateCurrent` (best effort
/// on purpose: the vault's change has committed), and it leaves a trace: an audit event
/// `stripe.defaultSourceSet`, outcome `failed`, naming the card (the warning and the
/// `StripeDefaultSourceFailures` count are asserted in the unit tier). The vault runs
/// in-process here, with Stripe at wiremock answering 500 to the customer update.
#[tokio::test]
async fn a_default_source_stripe_refuses_is_audited_and_the_change_stands() {
    let acct = account();
    let own = owner(&tenant_a().id, &acct);
    let (_, cus, a_card) = billing_card(&own, &acct, "4242424242424242").await;
    let (b, _, b_card) = billing_card(&own, &acct, "5555555555554444").await;
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/customers/{cus}")))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let tenant = TenantId::try_from(tenant_a().id.clone()).unwrap();
    let view = app
        .vault
        .set_current(&tenant, &acct, PaymentMethodId::parse(&b).unwrap(), true)
        .await
        .expect("the change stands");
    assert!(view.is_default);
    // The vault did ask Stripe (here: wiremock) to move the default to b's card.
    let asked = stripe.received_requests().await.unwrap_or_default();
    let body = String::from_utf8_lossy(&asked.first().expect("a call to Stripe").body);
    assert!(
        body.contains(&format!("default_payment_method%5D={b_card}")),
        "the vault asked for b's card as the default: {body}"
    );
    assert_eq!(at_stripe(&cus).await.0, Some(a_card));

    let customer = view.payment_method.customer_id.get();
    let event = audit_event(customer, "stripe.defaultSourceSet", &b_card).await;
    assert_eq!(event["outcome"], "failed", "{event}");
}

/// The audit outcome of a detach that met Stripe's 404 (`resource_missing`): the card was
/// not attached there, which is all a detach is for, but a state the vault did not make
/// (README, "Audit": `absent`, logged at `warn`).
const DETACHED_ALREADY: &str = "absent";

/// Stripe's 404 on a detach (the card already gone there) is a detach that succeeded: the
/// remove answers 200, the card leaves the vault, and the audit event says so. localstripe
/// answers the DELETE of a card its customer does not hold with 404, as Stripe does; its
/// request log shows the vault's DELETE met that 404.
#[tokio::test]
async fn a_card_already_detached_at_stripe_is_removed() {
    let acct = account();
    let own = owner(&tenant_a().id, &acct);
    let (id, _, stripe_id) = billing_card(&own, &acct, "4242424242424242").await;
    let customer = account_customer(&acct).await;
    // A PaymentMethod's detach (the vault's, and the dashboard's).
    let request = format!("POST /v1/payment_methods/{stripe_id}/detach");
    // Detached behind the vault's back, as the dashboard would.
    let status = http()
        .post(format!("{}{}", stack().stripe_url, &request[5..]))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(stripe_log_count(&request, 400), 0);

    let (status, body) = card("/card/remove", &own, Some(json!({"id": id}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = card("/card/get", &own, Some(json!({"id": id}))).await;
    embedthis_error(status, &body, 404);
    let until = Instant::now() + Duration::from_secs(10);
    while stripe_log_count(&request, 400) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stripe_log_count(&request, 400),
        1,
        "the vault's own DELETE reached localstripe and met its 404"
    );
    let event = audit_event(customer, "stripe.cardDetached", &stripe_id).await;
    assert_eq!(event["outcome"], DETACHED_ALREADY, "{event}");
}

/// A card entered through demo-a's redirect for `customer`: (its id, its Stripe card).
async fn redirect_card(customer: u64, pan: &str) -> (u64, String) {
    let body = json!({
        "customerId": customer, "PublicApiKey": tenant_a().public_api_key, "cardNumber": pan,
        "firstName": "Karen", "lastName": "Wood", "expirationMonth": 8, "expirationYear": 31,
        "cvv": "123", "recaptcha": PASS, "countryId": 124, "postalZip": "V9V 9V9"
    });
    let pm = enter_card(&body).await["id"].as_u64().unwrap();
    (pm, stripe_of(customer, pm).await.1)
}

#[tokio::test]
async fn set_default_and_delete_leave_stripe_as_the_vault_says() {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, json!({})).await;
    let (first, first_card) = redirect_card(customer, "4242424242424242").await;
    let (second, second_card) = redirect_card(customer, "5555555555554444").await;
    let cus = customer_item(customer).await["stripeCustomerId"]
        .as_str()
        .expect("the customer's Stripe customer")
        .to_owned();
    assert_eq!(
        at_stripe(&cus).await,
        (
            Some(first_card.clone()),
            vec![first_card.clone(), second_card.clone()]
        )
    );

    let (status, body) = json(
        call(
            Method::PUT,
            "/v1/customerbillingsetting",
            key,
            Some(&json!({"id": customer, "defaultPaymentMethodId": second})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        at_stripe(&cus).await.0.as_deref(),
        Some(second_card.as_str()),
        "set-default moves Stripe's default source"
    );

    let delete = |pm: u64| async move { delete_credit_card(pm, key).await.status().as_u16() };
    assert_eq!(delete(first).await, 204);
    assert_eq!(
        at_stripe(&cus).await,
        (Some(second_card.clone()), vec![second_card.clone()]),
        "the deleted card is detached, the default stays"
    );
    assert_eq!(delete(second).await, 204, "the only card may go");
    assert_eq!(at_stripe(&cus).await, (None, vec![]));
}
