//! Card-testing defences on `/api/paymentsv2` against the local stack: velocity limits per
//! source IP, per public key and per customer (DynamoDB Local's counters), the lockout
//! after declines, the generic decline, and collections that never replay (localstripe).
//!
//! Each test makes a tenant of its own with low limits (`cardvault-admin set-velocity`),
//! so that a handful of requests reach them and no other test's counts get in the way.

use cardvault::domain::CustomerId;
use cardvault::{App, Error};
use cardvault_tests::*;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";
/// Seed 002's own error sample: the one message any declined card gets.
const DECLINED: &str = "There was an error validating the payment method: Failed validation";
const TOO_MANY: &str = "Too many attempts to add a card; try again later.";

type Tenant = RedirectTenant;

/// A redirect tenant of its own with these `set-velocity` flags.
fn tenant_with(velocity: &[&str]) -> Tenant {
    let settings: &[&[&str]] = &[&[&["set-velocity"], velocity].concat()];
    redirect_tenant("vel", if velocity.is_empty() { &[] } else { settings })
}

fn sample(t: &Tenant, customer: u64, pan: &str) -> Value {
    json!({
        "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
        "firstName": "Karen", "lastName": "Wood", "expirationMonth": 2, "expirationYear": 30,
        "cvv": "012", "recaptcha": PASS, "countryId": 124, "postalZip": "V9V 9V9"
    })
}

async fn post(body: &Value) -> (u16, Value) {
    post_redirect(body).await
}

fn assert_too_many(status: u16, err: &Value) {
    assert_eq!(fusebill_error(status, err, 429), TOO_MANY, "{err}");
    assert_eq!(err["Errors"][0]["Key"], "Api Error");
}

/// Distinct valid card numbers that localstripe attaches.
const CARDS: [&str; 4] = [
    "4242424242424242",
    "5555555555554444",
    "6011111111111117",
    "3566002020360505",
];

#[tokio::test]
async fn the_attempt_over_the_ip_limit_gets_429_and_never_reaches_stripe() {
    let t = tenant_with(&["--per-ip", "3"]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    for pan in &CARDS[..3] {
        let (status, pm) = post(&sample(&t, customer, pan)).await;
        assert_eq!(status, 200, "{pm}");
    }
    assert_eq!(cards_at_stripe(customer).await, 3);

    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &tenant_a().allowed_origin)
        .json(&sample(&t, customer, CARDS[3]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        tenant_a().allowed_origin.as_str(),
        "the page can read the 429"
    );
    let (status, err) = json(resp).await;
    assert_too_many(status, &err);
    assert_eq!(cards_at_stripe(customer).await, 3, "nothing sent to Stripe");
    assert_eq!(payment_method_count(customer).await, 3);

    // Another customer from the same IP is held back too.
    let other = create_customer(&t.private_api_key, json!({})).await;
    let (status, err) = post(&sample(&t, other, CARDS[0])).await;
    assert_too_many(status, &err);
    assert_eq!(cards_at_stripe(other).await, 0);
}

/// The vault in-process on the stack's table and localstripe, so that attempts can come
/// from several source IPs (the dev router sends every request from 127.0.0.1).
async fn in_process(t: &Tenant) -> (App, cardvault::domain::Tenant) {
    let app = app_with_stripe(&stack().stripe_url).await;
    let tenant = app
        .vault
        .tenant_by_public_key(&t.public_api_key)
        .await
        .unwrap()
        .expect("the tenant");
    (app, tenant)
}

async fn attempt(
    app: &App,
    tenant: &cardvault::domain::Tenant,
    t: &Tenant,
    customer: u64,
    pan: &str,
    ip: &str,
) -> Result<cardvault::vault::Added, Error> {
    let params =
        cardvault::dialect::fusebill::redirect::Params::from_json(&sample(t, customer, pan));
    let entry = params.card_entry(tenant, app.vault.today()).unwrap();
    let id = CustomerId::try_from(customer).unwrap();
    app.vault
        .add_from_redirect(tenant, id, entry, Some(ip))
        .await
}

fn is_too_many<T>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::TooManyRequests(_)))
}

#[tokio::test]
async fn the_public_key_and_the_customer_have_limits_of_their_own() {
    let t = tenant_with(&["--per-public-key", "3", "--per-customer", "2"]);
    let (app, tenant) = in_process(&t).await;
    let c = create_customer(&t.private_api_key, json!({})).await;
    let d = create_customer(&t.private_api_key, json!({})).await;

    attempt(&app, &tenant, &t, c, CARDS[0], "198.51.100.1")
        .await
        .unwrap();
    attempt(&app, &tenant, &t, c, CARDS[1], "198.51.100.2")
        .await
        .unwrap();
    // The customer's third attempt, from yet another IP.
    assert!(is_too_many(
        attempt(&app, &tenant, &t, c, CARDS[2], "198.51.100.3").await
    ));
    assert_eq!(cards_at_stripe(c).await, 2);

    attempt(&app, &tenant, &t, d, CARDS[2], "198.51.100.4")
        .await
        .unwrap();
    // The key's fourth: any customer, any IP.
    let e = create_customer(&t.private_api_key, json!({})).await;
    assert!(is_too_many(
        attempt(&app, &tenant, &t, e, CARDS[3], "198.51.100.5").await
    ));
    assert_eq!(cards_at_stripe(e).await, 0, "nothing sent to Stripe");
    assert_eq!(payment_method_count(e).await, 0);
}

#[tokio::test]
async fn declines_lock_the_customers_redirect() {
    let t = tenant_with(&["--declines", "2"]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    // localstripe declines these at the attach (Stripe's card_declined and incorrect_cvc).
    for pan in ["4000000000000002", "4000000000000127"] {
        let (status, err) = post(&sample(&t, customer, pan)).await;
        assert_eq!(fusebill_error(status, &err, 400), DECLINED, "{err}");
    }
    let (status, err) = post(&sample(&t, customer, CARDS[0])).await;
    assert_too_many(status, &err);
    assert_eq!(cards_at_stripe(customer).await, 0);
    assert_eq!(payment_method_count(customer).await, 0);

    // Another customer of the tenant is not locked.
    let other = create_customer(&t.private_api_key, json!({})).await;
    let (status, pm) = post(&sample(&t, other, CARDS[0])).await;
    assert_eq!(status, 200, "{pm}");
}

#[tokio::test]
async fn a_tenant_without_overrides_has_the_default_limits() {
    let t = tenant_with(&[]);
    let shown = admin(&["show-tenant", "--tenant", &t.id]);
    assert!(shown["tenant"].get("velocity").is_none(), "{shown}");
    let customer = create_customer(&t.private_api_key, json!({})).await;
    // The default per customer is 10: the same card again is answered from file, with no
    // Stripe call, but each is still an attempt. (Each under a key of its own: without
    // one, a resubmit within a minute is the first submit's replay, and no attempt.)
    let attempt = |i: u32| {
        http()
            .post(url("/api/paymentsv2"))
            .header("Origin", &tenant_a().allowed_origin)
            .header("Idempotency-Key", format!("{}-{i}", t.id))
            .json(&sample(&t, customer, CARDS[0]))
            .send()
    };
    for i in 0..10 {
        let (status, pm) = json(attempt(i).await.unwrap()).await;
        assert_eq!(status, 200, "attempt {i}: {pm}");
    }
    let (status, err) = json(attempt(10).await.unwrap()).await;
    assert_too_many(status, &err);
}

#[tokio::test]
async fn a_decline_says_nothing_of_stripes_reason() {
    let t = tenant_with(&[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let (status, err) = post(&sample(&t, customer, "4000000000000127")).await;
    assert_eq!(fusebill_error(status, &err, 400), DECLINED);
    // Exactly the envelope of seed 002's error sample.
    assert_eq!(
        err,
        json!({"ErrorId": 0, "HttpStatusCode": 400, "Errors": [{"Key": "Api Error", "Value": DECLINED}]})
    );
    let text = err.to_string().to_ascii_lowercase();
    for stripe_words in [
        "your card",
        "declined",
        "security code",
        "cvc",
        "insufficient",
    ] {
        assert!(!text.contains(stripe_words), "{stripe_words}: {err}");
    }
}

#[tokio::test]
async fn a_failed_collection_keeps_stripes_reason_on_the_record_not_in_the_answer() {
    let t = tenant_with(&[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let mut body = sample(&t, customer, "4000000000000341");
    body["paymentCollectOptions"] = json!({"collectionAmount": "2.00"});
    let (status, pm) = post(&body).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["paymentCollection"]["status"], "Failed");
    assert_eq!(
        pm["paymentCollection"]["message"],
        "The payment was declined."
    );
    assert!(!pm.to_string().contains("Your card"), "{pm}");
}

async fn intent(id: &str) -> Value {
    let (status, pi) = stripe_get(&format!("/v1/payment_intents/{id}")).await;
    assert_eq!(status, 200, "{id} at localstripe");
    pi
}

#[tokio::test]
async fn two_collections_on_one_card_are_two_payment_intents() {
    let t = tenant_with(&[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let mut body = sample(&t, customer, CARDS[1]);
    body["paymentCollectOptions"] = json!({"collectionAmount": "5.00"});
    let (status, first) = post(&body).await;
    assert_eq!(status, 200, "{first}");
    body["paymentCollectOptions"] = json!({"collectionAmount": "7.00"});
    let (status, second) = post(&body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["id"], first["id"], "the card on file");

    let ids: Vec<&str> = [&first, &second]
        .iter()
        .map(|pm| {
            assert_eq!(pm["paymentCollection"]["status"], "Succeeded", "{pm}");
            pm["paymentCollection"]["paymentIntentId"].as_str().unwrap()
        })
        .collect();
    assert_ne!(ids[0], ids[1], "a second charge, not the first replayed");
    for (id, amount) in ids.iter().zip([500, 700]) {
        let pi = intent(id).await;
        assert_eq!(
            (pi["status"].as_str(), pi["amount"].as_u64()),
            (Some("succeeded"), Some(amount))
        );
    }
    // The verification copy attached for the second collection is gone again.
    assert_eq!(cards_at_stripe(customer).await, 1);
}

#[tokio::test]
async fn a_collection_on_a_card_on_file_with_another_expiry_is_refused() {
    let t = tenant_with(&[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let (status, first) = post(&sample(&t, customer, CARDS[2])).await;
    assert_eq!(status, 200, "{first}");

    let mut body = sample(&t, customer, CARDS[2]);
    body["expirationMonth"] = json!(3);
    body["paymentCollectOptions"] = json!({"collectionAmount": "9.00"});
    let (status, err) = post(&body).await;
    assert_eq!(fusebill_error(status, &err, 400), DECLINED, "{err}");
    assert_eq!(
        cards_at_stripe(customer).await,
        1,
        "no verification copy left"
    );
    // The card on file is unchanged.
    let (_, pm) = json(
        call(
            reqwest::Method::GET,
            &format!("/v1/paymentMethods/{}", first["id"]),
            &t.private_api_key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(pm["expirationMonth"], 2, "{pm}");
}

#[tokio::test]
async fn made_up_customer_ids_spend_none_of_the_tenants_budget() {
    // Only the public key (it is in the merchant's page) and solved reCAPTCHAs: attempts
    // on customer ids that do not exist are 404 and counted nowhere.
    let t = tenant_with(&["--per-public-key", "3", "--per-ip", "1000"]);
    for i in 0..4u64 {
        let (status, err) = post(&sample(&t, 9_000_000_000 + i, CARDS[0])).await;
        assert_eq!(status, 404, "{err}");
    }
    let real = create_customer(&t.private_api_key, json!({})).await;
    let (status, pm) = post(&sample(&t, real, CARDS[1])).await;
    assert_eq!(status, 200, "a real cardholder is not locked out: {pm}");
}
