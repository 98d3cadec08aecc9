//! Cards whose issuer asks for 3-D Secure, through every dialect that adds a card, against
//! localstripe as infra/localstripe_cardvault.py extends it: Stripe's authentication test
//! cards (4000002500003155, 4000002760003184, 4000000000003220) are saved through an
//! off-session SetupIntent that answers `requires_action`; the cardholder's authentication
//! is played by the SetupIntent's `_authenticate` (what Stripe.js's challenge ends in).

use std::time::Duration;

use cardvault_tests::billing::{account, card, owner};
use cardvault_tests::*;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";
const AUTH_CARDS: [&str; 3] = ["4000002500003155", "4000002760003184", "4000000000003220"];

fn entry(customer: u64, pan: &str) -> Value {
    json!({
        "customerId": customer,
        "publicApiKey": tenant_a().public_api_key,
        "cardNumber": pan,
        "firstName": "Karen",
        "lastName": "Wood",
        "expirationMonth": 2,
        "expirationYear": 30,
        "cvv": "012",
        "recaptcha": PASS,
        "postalZip": "V9V 9V9"
    })
}

async fn redirect(body: &Value) -> (u16, Value) {
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &tenant_a().allowed_origin)
        .json(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// The cardholder finishing (or failing) the issuer's challenge, as Stripe.js ends it.
async fn authenticate(client_secret: &str, success: bool) {
    let seti = client_secret.split("_secret_").next().unwrap();
    let resp = http()
        .post(format!(
            "{}/v1/setup_intents/{seti}/_authenticate",
            stack().stripe_url
        ))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&[
            ("client_secret", client_secret),
            ("success", if success { "true" } else { "false" }),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
}

async fn listed(customer: u64) -> Vec<Value> {
    let (status, body) = json(
        call(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}/paymentMethods/creditCard"),
            &tenant_a().private_api_key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Waits (a bounded while) for `f` to hold: the webhook arrives a second after the event.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..40 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn redirect_each_authentication_card_waits_then_is_confirmed_by_the_page() {
    for pan in AUTH_CARDS {
        let customer =
            create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
        let (status, body) = redirect(&entry(customer, pan)).await;
        assert_eq!(status, 402, "{pan}: {body}");
        assert_eq!(body["HttpStatusCode"], 402, "{body}");
        let action = &body["RequiresAction"];
        assert_eq!(action["Type"], "setup_intent", "{body}");
        let secret = action["ClientSecret"].as_str().expect("a client secret");
        assert!(secret.starts_with("seti_"), "{secret}");
        assert_eq!(action["NextAction"]["type"], "use_stripe_sdk", "{body}");
        let id = action["PaymentMethodId"].as_u64().expect("the vault card");
        assert!(
            listed(customer).await.is_empty(),
            "a pending card is not on file"
        );

        // Confirmed before the authentication: still waiting, the same answer.
        let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                             "setupIntentClientSecret": secret});
        let (status, again) = redirect(&confirm).await;
        assert_eq!(status, 402, "{again}");

        authenticate(secret, true).await;
        let (status, card) = redirect(&confirm).await;
        assert_eq!(status, 200, "{pan}: {card}");
        assert_eq!(card["id"].as_u64(), Some(id));
        assert_eq!(card["isDefault"], true, "the customer's first card");
        let cards = listed(customer).await;
        assert_eq!(cards.len(), 1, "{cards:?}");
        assert_eq!(cards[0]["id"].as_u64(), Some(id));
    }
}

#[tokio::test]
async fn a_wrong_secret_or_another_customer_reads_as_no_card() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let other = create_customer(&tenant_a().private_api_key, json!({"firstName": "O"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[0])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"].as_str().unwrap();
    authenticate(secret, true).await;
    let forged = format!("{}x", secret);
    for (who, secret) in [(other, secret), (customer, forged.as_str())] {
        let confirm = json!({"customerId": who, "publicApiKey": tenant_a().public_api_key,
                             "setupIntentClientSecret": secret});
        let (status, body) = redirect(&confirm).await;
        assert_eq!(status, 404, "{body}");
    }
    // Another tenant's public key with the right secret: as absent.
    let confirm = json!({"customerId": customer, "publicApiKey": tenant_b().public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, body) = redirect(&confirm).await;
    assert!(status == 404 || status == 403, "{status} {body}");
    assert!(listed(customer).await.is_empty());
}

#[tokio::test]
async fn a_failed_authentication_removes_the_pending_card_and_the_card_can_start_again() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[1])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    authenticate(&secret, false).await;
    let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, gone) = redirect(&confirm).await;
    assert_eq!(status, 404, "{gone}");
    assert!(listed(customer).await.is_empty());
    // Entered again: a new SetupIntent, not the failed one.
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[1])).await;
    assert_eq!(status, 402, "{body}");
    assert_ne!(body["RequiresAction"]["ClientSecret"], secret.as_str());
}

#[tokio::test]
async fn a_card_that_needs_no_authentication_is_a_payment_method_on_file_at_once() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let (status, card) = redirect(&entry(customer, "4242424242424242")).await;
    assert_eq!(status, 200, "{card}");
    // Stripe holds it as a PaymentMethod, the customer's invoice default.
    let calls = stripe_calls("/v1/setup_intents").await;
    assert!(!calls.is_empty(), "saved through a SetupIntent");
}

async fn billing_token_card(bearer: &str, pan: &str) -> (u16, Value) {
    let tok = stripe_token_for(pan).await;
    card(
        "/card/create",
        bearer,
        Some(json!({"current": true, "name": "Team card", "number": pan,
                    "month": "08", "year": "2031", "stripeToken": tok})),
    )
    .await
}

async fn billing_cards(bearer: &str) -> Vec<Value> {
    let (status, page) = card("/card/find?limit=100", bearer, None).await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .or(page.as_array())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn billing_card_create_waits_for_authentication_and_the_webhook_completes_it() {
    for pan in AUTH_CARDS {
        let bearer = owner("demo-a", &account());
        let (status, body) = billing_token_card(&bearer, pan).await;
        assert_eq!(status, 402, "{pan}: {body}");
        assert_eq!(body["error"], "RequiresAction", "{body}");
        let secret = body["action"]["clientSecret"]
            .as_str()
            .expect("a client secret");
        assert_eq!(body["action"]["kind"], "setup_intent");
        assert!(
            billing_cards(&bearer).await.is_empty(),
            "pending: not listed"
        );
        authenticate(secret, true).await;
        eventually("the card activated by setup_intent.succeeded", || async {
            billing_cards(&bearer).await.len() == 1
        })
        .await;
        let cards = billing_cards(&bearer).await;
        assert_eq!(cards[0]["current"], true, "{cards:?}");
    }
}

#[tokio::test]
async fn user_api_waits_for_authentication_and_the_webhook_completes_it() {
    for pan in AUTH_CARDS {
        let jwt = user_token("demo-a", &fresh_user("3ds"));
        let tok = stripe_token_for(pan).await;
        let (status, body) =
            post_json_bearer("/payments/stripe/customers", &jwt, &json!({"token": tok})).await;
        assert_eq!(status, 402, "{pan}: {body}");
        assert_eq!(body["code"], "RequiresAction", "{body}");
        let secret = body["action"]["clientSecret"]
            .as_str()
            .expect("a client secret");
        let count = || async {
            let resp = http()
                .get(url("/payments/stripe/customers"))
                .header("Authorization", format!("Bearer {jwt}"))
                .send()
                .await
                .unwrap();
            let (status, list) = json(resp).await;
            assert_eq!(status, 200, "{list}");
            list["info"]["total"].as_u64().unwrap_or(u64::MAX)
        };
        assert_eq!(count().await, 0, "pending: not listed");
        authenticate(secret, true).await;
        eventually("the link listed after setup_intent.succeeded", || async {
            count().await == 1
        })
        .await;
    }
}

async fn post_json_bearer(path: &str, bearer: &str, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(url(path))
        .header("Authorization", format!("Bearer {bearer}"))
        .json(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// What Stripe's test cards do later, off-session, once saved through the new path
/// (docs.stripe.com/testing, "Authentication and setup"): 3155 is charged without
/// authentication; 3184 asks for it every time, and the billing API shows the failure.
#[tokio::test]
async fn later_off_session_charges_behave_as_stripe_documents() {
    for (pan, charged) in [(AUTH_CARDS[0], true), (AUTH_CARDS[1], false)] {
        let bearer = owner("demo-a", &account());
        let (status, body) = billing_token_card(&bearer, pan).await;
        assert_eq!(status, 402, "{body}");
        let secret = body["action"]["clientSecret"].as_str().unwrap();
        let seti = body["action"]["intentId"].as_str().unwrap();
        authenticate(secret, true).await;
        eventually("activated", || async {
            billing_cards(&bearer).await.len() == 1
        })
        .await;
        let (status, si) = stripe_get(&format!("/v1/setup_intents/{seti}")).await;
        assert_eq!(status, 200, "{si}");
        let (customer, pm) = (
            si["customer"].as_str().unwrap(),
            si["payment_method"].as_str().unwrap(),
        );
        // A renewal, as a billing product charges it.
        let resp = http()
            .post(format!("{}/v1/payment_intents", stack().stripe_url))
            .basic_auth("sk_test_cardvault_tests", Some(""))
            .form(&[
                ("amount", "1500"),
                ("currency", "usd"),
                ("customer", customer),
                ("payment_method", pm),
                ("off_session", "true"),
                ("confirm", "true"),
            ])
            .send()
            .await
            .unwrap();
        let (status, pi) = json(resp).await;
        if charged {
            assert_eq!(status, 200, "{pi}");
            assert_eq!(pi["status"], "succeeded", "{pi}");
        } else {
            assert_eq!(status, 402, "{pi}");
            assert_eq!(pi["error"]["code"], "authentication_required", "{pi}");
            eventually("the failure shown on the card", || async {
                let cards = billing_cards(&bearer).await;
                cards[0]["failures"] == 1
            })
            .await;
            // The billing card API shows Stripe's words; the merchant API, reading the
            // same card, says what it needs.
            let cards = billing_cards(&bearer).await;
            let error = cards[0]["error"].as_str().unwrap_or_default();
            assert!(error.contains("authentication"), "{cards:?}");
            let id = cards[0]["id"].as_str().unwrap();
            let (status, pm) = json(
                call(
                    reqwest::Method::GET,
                    &format!("/v1/paymentMethods/{id}"),
                    &tenant_a().private_api_key,
                    None,
                )
                .await,
            )
            .await;
            assert_eq!(status, 200, "{pm}");
            assert_eq!(pm["stripeStatus"], "AuthenticationRequired", "{pm}");
        }
    }
}

/// A PaymentMethod made as Stripe.js makes it in the browser: with the platform's
/// publishable key, for the tenant's connected account.
async fn browser_payment_method(pan: &str, account: &str) -> String {
    let resp = http()
        .post(format!("{}/v1/payment_methods", stack().stripe_url))
        .header("Stripe-Account", account)
        .form(&[
            ("key", "pk_test_cardvault_platform"),
            ("type", "card"),
            ("card[number]", pan),
            ("card[exp_month]", "8"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", "123"),
            ("billing_details[name]", "Karen Wood"),
        ])
        .send()
        .await
        .unwrap();
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    pm["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_stripe_js_flow_takes_a_payment_method_id_and_never_a_card_number() {
    let t = redirect_tenant("pjs", &[&["set-card-flow", "--flow", "stripe-js"]]);
    let customer = create_customer(&t.private_api_key, json!({"firstName": "K"})).await;
    let body = |extra: Value| {
        let mut b = json!({"customerId": customer, "publicApiKey": t.public_api_key,
                           "recaptcha": PASS, "firstName": "Karen", "lastName": "Wood"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };

    // The document's flow is refused: a number must never reach this tenant's vault.
    let (status, refused) = redirect(&body(json!({"cardNumber": "4242424242424242",
        "cvv": "123", "expirationMonth": 8, "expirationYear": 31})))
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("cardNumber"), "{refused}");

    let pm = browser_payment_method("4242424242424242", &t.stripe_account).await;
    let (status, card) = redirect(&body(json!({"paymentMethodId": pm}))).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["maskedCardNumber"], "************4242");
    assert_eq!(card["storedInFusebillVault"], false, "{card}");
    let item = payment_method_item(customer, card["id"].as_u64().unwrap()).await;
    assert!(item.get("encryptedPan").is_none(), "{item}");
    assert_eq!(item["stripe"]["sourceId"], pm.as_str());

    // The same post again within the double-submit window: the same card.
    let (status, again) = redirect(&body(json!({"paymentMethodId": pm}))).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], card["id"]);
    // The same PaymentMethod for another customer (it is on one now), or one Stripe
    // never made: not a PaymentMethod that can be saved.
    let other = create_customer(&t.private_api_key, json!({"firstName": "O"})).await;
    for (who, id) in [(other, pm.as_str()), (customer, "pm_NoSuchPaymentMethod")] {
        let mut post = body(json!({"paymentMethodId": id}));
        post["customerId"] = json!(who);
        let (status, body) = redirect(&post).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["Errors"][0]["Key"], "paymentMethodId", "{body}");
    }

    // One whose issuer asks for 3-D Secure: the same 402, confirmed the same way.
    let pm = browser_payment_method(AUTH_CARDS[0], &t.stripe_account).await;
    let (status, body) = redirect(&body(json!({"paymentMethodId": pm}))).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"].as_str().unwrap();
    authenticate(secret, true).await;
    let confirm = json!({"customerId": customer, "publicApiKey": t.public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, card) = redirect(&confirm).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["storedInFusebillVault"], false);
}

/// A collection on a card on file whose issuer asks for 3-D Secure for the payment: the
/// answer is the PaymentIntent's action (on-session, the cardholder is at the page).
#[tokio::test]
async fn a_collection_that_needs_3ds_answers_the_payment_intents_action() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[1])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"].as_str().unwrap();
    authenticate(secret, true).await;
    let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, card) = redirect(&confirm).await;
    assert_eq!(status, 200, "{card}");

    let mut again = entry(customer, AUTH_CARDS[1]);
    again["paymentCollectOptions"] = json!({"collectionAmount": 12.5});
    let (status, body) = redirect(&again).await;
    assert_eq!(status, 402, "{body}");
    let action = &body["RequiresAction"];
    assert_eq!(action["Type"], "payment_intent", "{body}");
    assert!(action["ClientSecret"].as_str().unwrap().starts_with("pi_"));
    assert_eq!(action["PaymentMethodId"], card["id"]);
    assert_eq!(listed(customer).await.len(), 1, "still one card on file");
}

/// Stripe's webhook may come before the page's confirm (it does, a second after the
/// authentication, on a slow page): the confirm then answers the card, not a 404.
#[tokio::test]
async fn a_confirm_after_the_webhook_activated_the_card_answers_the_card() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[2])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"].as_str().unwrap();
    let id = body["RequiresAction"]["PaymentMethodId"].as_u64().unwrap();
    authenticate(secret, true).await;
    eventually("the webhook activated the card", || async {
        listed(customer).await.len() == 1
    })
    .await;
    let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, card) = redirect(&confirm).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["id"].as_u64(), Some(id));
    // Another customer's confirm with the same secret still reads as no card.
    let other = create_customer(&tenant_a().private_api_key, json!({"firstName": "O"})).await;
    let (status, body) = redirect(&json!({"customerId": other,
        "publicApiKey": tenant_a().public_api_key, "setupIntentClientSecret": secret}))
    .await;
    assert_eq!(status, 404, "{body}");
}

/// Someone holding the client secret confirms the SetupIntent with a card of their own
/// (Stripe allows it, with the publishable key) and passes its challenge: the card the
/// vault holds was never authenticated, so neither the webhook nor the confirm takes it.
#[tokio::test]
async fn a_setup_confirmed_with_another_card_saves_nothing() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[0])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"].as_str().unwrap();
    let seti = body["RequiresAction"]["Id"].as_str().unwrap();
    let account = tenant_a().stripe["accountId"].as_str().unwrap();
    let other = browser_payment_method("4242424242424242", account).await;
    let resp = http()
        .post(format!(
            "{}/v1/setup_intents/{seti}/confirm",
            stack().stripe_url
        ))
        .form(&[
            ("key", "pk_test_cardvault_platform"),
            ("client_secret", secret),
            ("payment_method", other.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, si) = json(resp).await;
    assert_eq!(status, 200, "{si}");
    assert_eq!(si["status"], "succeeded", "{si}");

    let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                         "setupIntentClientSecret": secret});
    let (status, body) = redirect(&confirm).await;
    assert_eq!(status, 404, "{body}");
    // The webhook (a second later) takes nothing either.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(listed(customer).await.is_empty());
}

/// Six posts of one Stripe.js PaymentMethod at once (a double click, a retry), with no
/// key: one card, every answer that card, and the PaymentMethod still saved at Stripe.
#[tokio::test]
async fn a_double_submit_of_one_payment_method_is_one_card_still_at_stripe() {
    let t = redirect_tenant("pjs2", &[&["set-card-flow", "--flow", "stripe-js"]]);
    let customer = create_customer(&t.private_api_key, json!({"firstName": "K"})).await;
    let pm = browser_payment_method("4242424242424242", &t.stripe_account).await;
    let body = json!({"customerId": customer, "publicApiKey": t.public_api_key,
                      "paymentMethodId": pm, "recaptcha": PASS,
                      "firstName": "Karen", "lastName": "Wood"});
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let body = body.clone();
        posts.spawn(async move { redirect(&body).await });
    }
    let answers = posts.join_all().await;
    let ids: Vec<_> = answers
        .iter()
        .map(|(status, card)| {
            assert_eq!(*status, 200, "{card}");
            card["id"].as_u64().unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(listed_of(&t.private_api_key, customer).await.len(), 1);
    let (status, at_stripe) = stripe_get(&format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(status, 200, "{at_stripe}");
    assert!(
        at_stripe["customer"].is_string(),
        "still saved: {at_stripe}"
    );
}

async fn listed_of(key: &str, customer: u64) -> Vec<Value> {
    let (status, body) = json(
        call(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}/paymentMethods/creditCard"),
            key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// The confirm's secret never travels in a URL, even for a tenant that lets the document's
/// sample send its card fields there.
#[tokio::test]
async fn the_confirms_secret_is_refused_in_the_query_string() {
    let t = redirect_tenant("qs3ds", &[&["set-legacy-query-string-cards", "--on"]]);
    let customer = create_customer(&t.private_api_key, json!({"firstName": "K"})).await;
    let resp = http()
        .post(url(&format!(
            "/api/paymentsv2?setupIntentClientSecret=seti_x_secret_y&customerId={customer}&publicApiKey={}",
            t.public_api_key
        )))
        .header("Origin", &tenant_a().allowed_origin)
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["Errors"][0]["Key"], "setupIntentClientSecret",
        "{body}"
    );
}

/// A client's retry under its `Idempotency-Key` of a post that answered 402 finishes the
/// same authentication: the first answer again, not a second SetupIntent.
#[tokio::test]
async fn a_keyed_retry_of_a_402_replays_the_same_setup() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    let key = format!("3ds-{}", fresh_user("k"));
    let post = || async {
        let resp = http()
            .post(url("/api/paymentsv2"))
            .header("Origin", &tenant_a().allowed_origin)
            .header("Idempotency-Key", &key)
            .json(&entry(customer, AUTH_CARDS[0]))
            .send()
            .await
            .unwrap();
        json(resp).await
    };
    let (status, first) = post().await;
    assert_eq!(status, 402, "{first}");
    let (status, again) = post().await;
    assert_eq!(status, 402, "{again}");
    assert_eq!(again["RequiresAction"]["Id"], first["RequiresAction"]["Id"]);
    assert_eq!(
        again["RequiresAction"]["ClientSecret"],
        first["RequiresAction"]["ClientSecret"]
    );
}

/// Six confirm posts at once, racing each other and Stripe's webhook, across the fleet's
/// instances: every answer is the card, and what is stored is one active default card and
/// one "authenticated" audit event, not one per post.
#[tokio::test]
async fn concurrent_confirms_and_the_webhook_activate_the_card_once() {
    let key = &tenant_a().private_api_key;
    let customer = create_customer(key, json!({"firstName": "K"})).await;
    let (status, body) = redirect(&entry(customer, AUTH_CARDS[0])).await;
    assert_eq!(status, 402, "{body}");
    let secret = body["RequiresAction"]["ClientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = body["RequiresAction"]["PaymentMethodId"].as_u64().unwrap();
    authenticate(&secret, true).await;
    let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                         "setupIntentClientSecret": secret});
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let confirm = confirm.clone();
        posts.spawn(async move { redirect(&confirm).await });
    }
    for (status, card) in posts.join_all().await {
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["id"].as_u64(), Some(id));
    }
    // The webhook (a second after the authentication) finds it active: nothing more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let cards = listed(customer).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["isDefault"], true);
    let item = payment_method_item(customer, id).await;
    assert_eq!(item["status"], "Active", "{item}");
    assert!(
        item.get("pending").is_none() && item.get("expiresAt").is_none(),
        "{item}"
    );
    let page = audit_listed(key, customer, 3).await;
    let authenticated = page["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "card.added" && e["outcome"] == "authenticated")
        .count();
    assert_eq!(authenticated, 1, "{page}");
}

/// The new fields, malformed: a clear 4xx in Fusebill's envelope, never a 5xx, and no
/// card.
#[tokio::test]
async fn malformed_confirms_and_payment_method_ids_are_4xx() {
    let customer = create_customer(&tenant_a().private_api_key, json!({"firstName": "K"})).await;
    for secret in [
        json!(""),
        json!(42),
        json!("seti_"),
        json!("x_secret_y"),
        json!("seti_a_secret_b_secret_c"),
        json!("seti_ä_secret_b"),
    ] {
        let confirm = json!({"customerId": customer, "publicApiKey": tenant_a().public_api_key,
                             "setupIntentClientSecret": secret, "recaptcha": PASS});
        let (status, body) = redirect(&confirm).await;
        assert!((400..500).contains(&status), "{secret}: {status} {body}");
        assert!(body["Errors"].is_array(), "{body}");
    }
    let t = redirect_tenant("pjsbad", &[&["set-card-flow", "--flow", "stripe-js"]]);
    let on_t = create_customer(&t.private_api_key, json!({"firstName": "K"})).await;
    for pm in [
        json!("card_123"),
        json!("pm_../x"),
        json!("pm_"),
        json!(123),
        json!(["pm_a"]),
    ] {
        let post = json!({"customerId": on_t, "publicApiKey": t.public_api_key,
                          "paymentMethodId": pm, "recaptcha": PASS,
                          "firstName": "K", "lastName": "W"});
        let (status, body) = redirect(&post).await;
        assert_eq!(status, 400, "{pm}: {body}");
        assert_eq!(body["Errors"][0]["Key"], "paymentMethodId", "{pm}: {body}");
    }
    assert!(listed(customer).await.is_empty());
    assert!(listed_of(&t.private_api_key, on_t).await.is_empty());
}
