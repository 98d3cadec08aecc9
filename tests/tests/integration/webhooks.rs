//! Stripe webhooks on the local stack: localstripe's own signed deliveries for the events it
//! emits, and events it never emits (the card updater, expiring, detaches, deauthorization)
//! built here and signed with the same secrets bootstrap.py registered (`webhooks` in the
//! stack's facts). Every signature here is made by Stripe's own Node library
//! (`stripe_signature`, tests/stripe_sign.cjs), never by the vault's `sign`. Each change is
//! read back through every dialect that shows the card.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cardvault_tests::billing::{self, admin_of, create, owner};
use cardvault_tests::*;
use serde_json::{json, Value};

const DEMO_A_ACCOUNT: &str = "acct_1DemoShopA00001";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unique(label: &str) -> String {
    fresh_user(label).replace('-', "_")
}

/// (url, secret) of the platform endpoint, or of a tenant's own.
fn endpoint(tenant: Option<&str>) -> (String, String) {
    let hooks = &stack().webhooks;
    let hook = match tenant {
        None => &hooks["platform"],
        Some(t) => &hooks["tenants"][t],
    };
    (
        hook["url"].as_str().expect("webhook url").to_owned(),
        hook["secret"].as_str().expect("webhook secret").to_owned(),
    )
}

/// An event as Stripe sends it, made `age` seconds ago.
fn event(kind: &str, age: i64, object: Value) -> Value {
    json!({"id": unique("evt"), "object": "event", "api_version": "2024-06-20", "type": kind,
           "created": now() - age, "livemode": false, "data": {"object": object}})
}

/// A Connect event (to the platform endpoint) about demo-a's connected account.
fn connect_event(kind: &str, age: i64, object: Value) -> Value {
    let mut e = event(kind, age, object);
    e["account"] = json!(DEMO_A_ACCOUNT);
    e
}

/// POSTs `body` signed at `t` with `secret` (or with the header given): (status, body).
async fn post_raw(url: &str, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut req = http()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body.to_owned());
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    json(req.send().await.unwrap()).await
}

async fn deliver_to(tenant: Option<&str>, event: &Value) -> (u16, Value) {
    let (url, secret) = endpoint(tenant);
    let body = event.to_string();
    post_raw(&url, &body, Some(stripe_signature(&secret, now(), &body))).await
}

async fn deliver(event: &Value) -> Value {
    let (status, body) = deliver_to(None, event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], true, "{body}");
    body
}

/// A billing card of a fresh demo-a account: (card id, its account's owner, admin).
async fn billing_card() -> (String, String, String) {
    let account = billing::account();
    let owner = owner(&tenant_a().id, &account);
    let card = create(&owner, true).await;
    (
        card["id"].as_str().unwrap().to_owned(),
        owner,
        admin_of(&tenant_a().id, &account),
    )
}

/// The merchant API's view of a demo-a payment method.
async fn fusebill(id: &str) -> Value {
    let (status, pm) = call_get(
        &format!("/v1/paymentMethods/{id}"),
        &tenant_a().private_api_key,
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    pm
}

async fn call_get(path: &str, key: &str) -> (u16, Value) {
    let resp = http()
        .get(url(path))
        .header("Authorization", basic(key))
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// The billing card API's view.
async fn embedthis(id: &str, admin: &str) -> Value {
    let (status, card) = billing::card("/card/get", admin, Some(json!({ "id": id }))).await;
    assert_eq!(status, 200, "{card}");
    card
}

/// Stripe's card object of a demo-a card, as the merchant API names its Stripe ids.
fn card_object(pm: &Value, month: u8, year: u16, last4: &str) -> Value {
    json!({"id": pm["externalCardId"], "object": "card", "customer": pm["externalCustomerId"],
           "brand": "MasterCard", "last4": last4, "exp_month": month, "exp_year": year,
           "funding": "credit", "metadata": {}})
}

#[tokio::test]
async fn a_card_updater_event_shows_the_new_expiry_in_every_dialect() {
    // A billing card (EmbedThis), also a payment method of the merchant API (Fusebill).
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    assert_eq!(
        (
            pm["expirationMonth"].as_u64(),
            pm["expirationYear"].as_u64()
        ),
        (Some(12), Some(30))
    );
    let body = deliver(&connect_event(
        "customer.source.updated",
        5,
        card_object(&pm, 7, 2033, "4444"),
    ))
    .await;
    assert_eq!(body["result"], "applied", "{body}");
    let pm = fusebill(&id).await;
    assert_eq!(pm["expirationMonth"], 7, "{pm}");
    assert_eq!(pm["expirationYear"], 33, "{pm}");
    assert_eq!(pm["maskedCardNumber"], "************4444", "{pm}");
    assert_eq!(pm["cardType"], "MasterCard", "{pm}");
    assert_eq!(pm["stripeStatus"], "Active", "{pm}");
    let card = embedthis(&id, &admin).await;
    // As its client first wrote it: two-digit month, four-digit year.
    assert_eq!(
        (card["month"].as_str(), card["year"].as_str()),
        (Some("07"), Some("2033")),
        "{card}"
    );
    assert_eq!(card["number"], "4444", "{card}");

    // A user API card: its link's source card.
    let user = user_token(&tenant_a().id, &fresh_user("hook"));
    let (status, link) = post_bearer(
        "/payments/stripe/customers",
        &user,
        json!({"token": stripe_token().await}),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let source = &link["data"]["source"];
    let object = json!({"id": source["id"], "object": "card", "customer": link["data"]["customer_id"],
                        "brand": "Visa", "last4": "4242", "exp_month": 11, "exp_year": 2034});
    deliver(&connect_event("customer.source.updated", 5, object)).await;
    let (status, list) = get_bearer("/payments/stripe/customers", &user).await;
    assert_eq!(status, 200, "{list}");
    let source = &list["data"][0]["source"];
    assert_eq!(
        (source["exp_month"].as_u64(), source["exp_year"].as_u64()),
        (Some(11), Some(2034)),
        "{list}"
    );
}

async fn post_bearer(path: &str, bearer: &str, body: Value) -> (u16, Value) {
    let resp = http()
        .post(url(path))
        .header("Authorization", format!("Bearer {bearer}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

async fn get_bearer(path: &str, bearer: &str) -> (u16, Value) {
    let resp = http()
        .get(url(path))
        .header("Authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    json(resp).await
}

#[tokio::test]
async fn each_event_as_each_dialect_shows_it() {
    let account = billing::account();
    let owner = owner(&tenant_a().id, &account);
    let admin = admin_of(&tenant_a().id, &account);
    let older = create(&owner, true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = create(&owner, true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pm = fusebill(&id).await;
    let (cus, src) = (
        pm["externalCustomerId"].clone(),
        pm["externalCardId"].clone(),
    );

    // Expiring: flagged.
    deliver(&connect_event(
        "customer.source.expiring",
        50,
        card_object(&pm, 12, 2030, "4242"),
    ))
    .await;
    assert_eq!(fusebill(&id).await["stripeStatus"], "Expiring");
    assert_eq!(
        embedthis(&id, &admin).await["error"],
        "The card expires soon."
    );

    // A failed charge: counted, with Stripe's message (never a number); a success clears it.
    let failed = json!({"id": unique("ch"), "object": "charge", "customer": cus, "payment_method": src,
        "source": {"id": src, "object": "card"}, "payment_intent": null,
        "failure_message": "Your card was declined for 4242424242424242."});
    deliver(&connect_event("charge.failed", 40, failed)).await;
    let card = embedthis(&id, &admin).await;
    assert_eq!(card["failures"], 1, "{card}");
    assert_eq!(
        card["error"], "Your card was declined for [redacted].",
        "{card}"
    );
    let pi_failed = json!({"id": unique("pi"), "object": "payment_intent", "customer": cus,
        "payment_method": src, "last_payment_error": {"message": "Insufficient funds."}});
    deliver(&connect_event(
        "payment_intent.payment_failed",
        30,
        pi_failed,
    ))
    .await;
    let card = embedthis(&id, &admin).await;
    assert_eq!(
        (card["failures"].as_u64(), card["error"].as_str()),
        (Some(2), Some("Insufficient funds.")),
        "{card}"
    );
    let paid = json!({"id": unique("pi"), "object": "payment_intent", "customer": cus, "payment_method": src});
    deliver(&connect_event("payment_intent.succeeded", 20, paid)).await;
    let card = embedthis(&id, &admin).await;
    assert_eq!(card["failures"], 0, "{card}");
    // The expiring flag shows again once no failure message covers it.
    assert_eq!(card["error"], "The card expires soon.", "{card}");

    // Removed at Stripe: kept, marked, no longer current; the other card becomes current.
    deliver(&connect_event(
        "customer.source.deleted",
        10,
        card_object(&pm, 12, 2030, "4242"),
    ))
    .await;
    let pm = fusebill(&id).await;
    assert_eq!(pm["stripeStatus"], "RemovedAtStripe", "{pm}");
    assert_eq!(pm["isDefault"], false, "{pm}");
    let card = embedthis(&id, &admin).await;
    assert_eq!(
        (card["current"].as_bool(), card["error"].as_str()),
        (Some(false), Some("The card was removed at Stripe.")),
        "{card}"
    );
    assert_eq!(embedthis(&older, &admin).await["current"], true);
    assert_eq!(fusebill(&older).await["isDefault"], true);

    // Every change is in the customer's audit trail, its actor the Stripe event (listed
    // once the chainer has chained it).
    let customer = pm["customerId"].as_u64().unwrap();
    // The account's customer, its two cards and the five events above.
    audit_listed(&tenant_a().private_api_key, customer, 8).await;
    let (status, audit) = call_get(
        &format!("/v1/customers/{customer}/auditEvents"),
        &tenant_a().private_api_key,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    for action in [
        "stripe.cardExpiring",
        "stripe.chargeFailed",
        "stripe.chargeSucceeded",
        "stripe.cardRemoved",
        "card.madeDefault",
    ] {
        assert!(text.contains(action), "{action}: {audit}");
    }
    assert!(text.contains("stripe:evt_"), "{audit}");
}

#[tokio::test]
async fn a_user_api_card_removed_at_stripe_is_deleted_in_the_users_list() {
    let user = user_token(&tenant_a().id, &fresh_user("hookdel"));
    let (status, link) = post_bearer(
        "/payments/stripe/customers",
        &user,
        json!({"token": stripe_token().await}),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    // A detached PaymentMethod names its former customer in previous_attributes.
    let mut e = connect_event(
        "payment_method.detached",
        0,
        json!({"id": link["data"]["source"]["id"],
        "object": "payment_method", "customer": null, "card": {"brand": "visa", "last4": "4242"}}),
    );
    e["data"]["previous_attributes"] = json!({"customer": link["data"]["customer_id"]});
    deliver(&e).await;
    let (_, list) = get_bearer("/payments/stripe/customers", &user).await;
    assert!(list["data"][0]["deleted_at"].as_f64().is_some(), "{list}");
}

#[tokio::test]
async fn a_forged_stale_or_missing_signature_is_400_and_a_replay_is_counted_once() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    let failed = connect_event(
        "charge.failed",
        0,
        json!({"id": unique("ch"), "customer": pm["externalCustomerId"],
        "payment_method": pm["externalCardId"], "failure_message": "Do not honor."}),
    );
    let body = failed.to_string();
    let (url, secret) = endpoint(None);
    for signature in [
        None,
        Some(stripe_signature("whsec_forged", now(), &body)),
        // The right secret, six minutes ago: a captured delivery replayed later.
        Some(stripe_signature(&secret, now() - 360, &body)),
        Some(format!("t={},v1=", now())),
        Some("garbage".to_owned()),
    ] {
        let (status, resp) = post_raw(&url, &body, signature.clone()).await;
        assert_eq!(status, 400, "{signature:?}: {resp}");
        assert_eq!(resp["error"]["type"], "invalid_request_error", "{resp}");
    }
    // A signature over other bytes: the body changed on the way.
    let altered = body.replace("Do not honor.", "Do not honour");
    let (status, _) = post_raw(
        &url,
        &altered,
        Some(stripe_signature(&secret, now(), &body)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(embedthis(&id, &admin).await["failures"], 0);

    // Valid, then replayed: once.
    assert_eq!(deliver(&failed).await["result"], "applied");
    for _ in 0..3 {
        assert_eq!(deliver(&failed).await["result"], "duplicate");
    }
    assert_eq!(embedthis(&id, &admin).await["failures"], 1);
}

#[tokio::test]
async fn an_older_event_never_overwrites_newer_state() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    deliver(&connect_event(
        "customer.source.updated",
        10,
        card_object(&pm, 4, 2034, "4242"),
    ))
    .await;
    let late = deliver(&connect_event(
        "customer.source.updated",
        100,
        card_object(&pm, 1, 2031, "4242"),
    ))
    .await;
    assert_eq!(late["result"], "ignored");
    let card = embedthis(&id, &admin).await;
    assert_eq!(
        (card["month"].as_str(), card["year"].as_str()),
        (Some("04"), Some("2034")),
        "{card}"
    );
}

/// An event dated after its own signature (beyond the tolerance) is refused: accepted, it
/// would set the card's clock in the future, and every genuine event after it would be
/// dropped as stale. The genuine removal that follows is applied.
#[tokio::test]
async fn a_future_dated_event_is_refused_and_a_genuine_removal_after_it_applies() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    let future = connect_event(
        "customer.source.updated",
        -86_400,
        card_object(&pm, 4, 2039, "4242"),
    );
    let (status, body) = deliver_to(None, &future).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let card = embedthis(&id, &admin).await;
    assert_ne!(card["year"].as_str(), Some("2039"), "{card}");

    let removal = deliver(&connect_event(
        "customer.source.deleted",
        0,
        card_object(&pm, 12, 2030, "4242"),
    ))
    .await;
    assert_eq!(removal["result"], "applied", "{removal}");
    assert_eq!(fusebill(&id).await["stripeStatus"], "RemovedAtStripe");
}

#[tokio::test]
async fn unknown_objects_and_event_types_answer_200_and_change_nothing() {
    let (id, _, admin) = billing_card().await;
    let before = embedthis(&id, &admin).await;
    for e in [
        connect_event(
            "customer.source.updated",
            0,
            json!({"id": "card_NotOurs", "object": "card",
            "customer": "cus_NotOurs", "exp_month": 1, "exp_year": 2031}),
        ),
        connect_event(
            "invoice.paid",
            0,
            json!({"id": "in_1", "object": "invoice"}),
        ),
        // The platform's own account (no `account`): no tenant keeps cards there.
        event(
            "customer.source.deleted",
            0,
            json!({"id": "card_x", "object": "card", "customer": "cus_x"}),
        ),
    ] {
        assert_eq!(deliver(&e).await["result"], "ignored", "{e}");
    }
    assert_eq!(embedthis(&id, &admin).await, before);
}

/// demo-b's own endpoint, validly signed with demo-b's secret, naming demo-a's Stripe ids:
/// demo-a's card is untouched. And demo-b's secret does not open the platform endpoint.
#[tokio::test]
async fn a_tenant_endpoint_cannot_reach_another_tenants_cards() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    let mut e = event(
        "customer.source.deleted",
        0,
        card_object(&pm, 1, 2031, "4242"),
    );
    e["account"] = json!(DEMO_A_ACCOUNT);
    let (status, body) = deliver_to(Some(&tenant_b().id), &e).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    let (_, b_secret) = endpoint(Some(&tenant_b().id));
    let (url, _) = endpoint(None);
    let text = e.to_string();
    let (status, _) = post_raw(&url, &text, Some(stripe_signature(&b_secret, now(), &text))).await;
    assert_eq!(status, 400);
    // Nor does it open another tenant's endpoint (demo-a has none: no secret, nothing verifies).
    let other = url.clone() + "/" + &tenant_a().id;
    let (status, _) = post_raw(
        &other,
        &text,
        Some(stripe_signature(&b_secret, now(), &text)),
    )
    .await;
    assert_eq!(status, 400);
    let card = embedthis(&id, &admin).await;
    assert_eq!(
        (card["current"].as_bool(), card["error"].as_str()),
        (Some(true), None),
        "{card}"
    );
}

/// A flood: forged deliveries are refused without touching the store, and many copies of
/// one valid event change the card once.
#[tokio::test]
async fn a_flood_of_forged_and_repeated_events_changes_nothing_twice() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    let failed = connect_event(
        "charge.failed",
        0,
        json!({"id": unique("ch"), "customer": pm["externalCustomerId"],
        "payment_method": pm["externalCardId"], "failure_message": "Do not honor."}),
    );
    let body = failed.to_string();
    let (url, secret) = endpoint(None);
    let started = std::time::Instant::now();
    let mut forged = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (url, body) = (url.clone(), body.clone());
        forged.spawn(async move {
            post_raw(
                &url,
                &body,
                Some(stripe_signature(&format!("whsec_guess{i}"), now(), &body)),
            )
            .await
            .0
        });
    }
    let statuses = forged.join_all().await;
    assert!(statuses.iter().all(|s| *s == 400), "{statuses:?}");
    let forged_time = started.elapsed();
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (url, body, secret) = (url.clone(), body.clone(), secret.clone());
        copies.spawn(async move {
            post_raw(&url, &body, Some(stripe_signature(&secret, now(), &body))).await
        });
    }
    let results = copies.join_all().await;
    let applied = results
        .iter()
        .filter(|(_, b)| b["result"] == "applied")
        .count();
    // Copies racing the first answer 409 (in progress): Stripe retries those later.
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == 200 || (*s == 409 && b["error"]["type"].is_string())),
        "{results:?}"
    );
    assert_eq!(applied, 1, "{results:?}");
    assert_eq!(embedthis(&id, &admin).await["failures"], 1);
    eprintln!("100 forged deliveries refused in {forged_time:?}");
}

/// localstripe → router → function, as in production: localstripe signs and sends
/// `customer.deleted` to demo-b's own endpoint (bootstrap.py registered it), and demo-b's
/// imported card is marked removed at Stripe.
#[tokio::test]
async fn localstripe_delivers_a_signed_event_end_to_end() {
    let key = &tenant_b().private_api_key;
    let customer = create_customer(key, json!({"firstName": "Hooked"})).await;
    let (cus, card) = stripe_card("Hooked", &[]).await;
    let (status, pm) = post_json(
        "/v1/paymentMethodImport/Stripe",
        key,
        &json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card}),
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    let id = pm["id"].as_u64().unwrap();
    let resp = http()
        .delete(format!("{}/v1/customers/{cus}", stack().stripe_url))
        .basic_auth("sk_test_cardvault_demo_b", Some(""))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    // localstripe waits a second before it sends; the first call may build the function.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, pm) = call_get(&format!("/v1/paymentMethods/{id}"), key).await;
        assert_eq!(status, 200, "{pm}");
        if pm["stripeStatus"] == "RemovedAtStripe" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "localstripe's event never arrived: {pm}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `account.application.deauthorized`: the tenant's imports and redirects answer a clear
/// 400 in Fusebill's envelope until `cardvault-admin set-stripe` connects it again.
#[tokio::test]
async fn a_deauthorized_connection_refuses_imports_and_redirects_until_set_again() {
    let t = redirect_tenant("deauth", &[]);
    let account = format!("acct_1{}", unique("Deauth").replace('_', ""));
    admin(&["set-stripe", "--tenant", &t.id, "--account", &account]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let import = || async {
        let (cus, card) = stripe_card("Deauth", &[]).await;
        post_json(
            "/v1/paymentMethodImport/stripeConnect",
            &t.private_api_key,
            &json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card}),
        )
        .await
    };
    assert_eq!(import().await.0, 200);
    let mut e = event(
        "account.application.deauthorized",
        0,
        json!({"id": "ca_1", "object": "application"}),
    );
    e["account"] = json!(account);
    // An admin's read of the tenant from before the revocation…
    use cardvault_core::ports::{StoreError, TenantStore};
    let store = cardvault_aws::store::Store::new(
        aws_sdk_dynamodb::Client::new(&aws().await),
        &stack().table,
    );
    let tenant_id = cardvault::domain::TenantId::try_from(t.id.clone()).unwrap();
    let stale = store.get_tenant(&tenant_id).await.unwrap().unwrap();
    assert_eq!(deliver(&e).await["result"], "applied");
    // …written back after it cannot undo it (the write's condition on the mark).
    let mut edited = stale.clone();
    edited.require_avs = true;
    let undone = store.save_tenant(&edited, &stale).await;
    assert!(matches!(undone, Err(StoreError::Conflict)), "{undone:?}");
    let shown = admin(&["show-tenant", "--tenant", &t.id]);
    assert!(shown["tenant"]["stripeRevokedAt"].is_string(), "{shown}");
    // Warm containers cache tenants for up to 30 s (vault::TENANT_CACHE_TTL).
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    let (status, body) = loop {
        let (status, body) = import().await;
        if status != 200 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let message = fusebill_error(status, &body, 400);
    assert!(message.contains("revoked"), "{message}");
    let redirect = json!({"customerId": customer, "publicApiKey": t.public_api_key,
        "cardNumber": "4242424242424242", "cvv": "123", "expirationMonth": 12, "expirationYear": 30,
        "firstName": "Karen", "lastName": "Wood", "recaptcha": "cardvault-test-pass"});
    let (status, body) = post_redirect(&redirect).await;
    let message = fusebill_error(status, &body, 400);
    assert!(message.contains("revoked"), "{message}");
    // demo-a, on another account, is untouched; set again, the tenant imports again.
    assert_eq!(customer_with_cards(1).await.1.len(), 1);
    admin(&["set-stripe", "--tenant", &t.id, "--account", &account]);
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        let (status, body) = import().await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {body}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_tenant_id_answers_as_a_bad_signature() {
    // The tenant route's id is the caller's to choose: an absent tenant, a malformed id and
    // a path trick all answer exactly as a forged signature does, and nothing is read.
    let body = json!({"id": unique("evt"), "object": "event", "type": "charge.failed"}).to_string();
    let (platform, secret) = endpoint(None);
    let signature = stripe_signature(&secret, now(), &body);
    let (forged_status, forged) = post_raw(
        &format!("{platform}/{}", tenant_a().id),
        &body,
        Some(stripe_signature("whsec_forged", now(), &body)),
    )
    .await;
    assert_eq!(forged_status, 400, "{forged}");
    for id in [
        "no-such-tenant",
        "bad%20id!",
        "..%2F..%2Fplatform",
        &"x".repeat(300),
    ] {
        let (status, resp) =
            post_raw(&format!("{platform}/{id}"), &body, Some(signature.clone())).await;
        assert_eq!(status, 400, "{id}: {resp}");
        assert_eq!(resp, forged, "{id}");
    }
}

/// A card written before the StripeRefs index existed is not found by events until
/// `cardvault-admin backfill-stripe-refs` gives it its index keys.
#[tokio::test]
async fn a_card_without_index_keys_is_found_after_the_backfill() {
    let (id, _, admin) = billing_card().await;
    let pm = fusebill(&id).await;
    let (customer, pm_id) = (
        pm["customerId"].as_u64().unwrap(),
        pm["id"].as_u64().unwrap(),
    );
    forget_stripe_index(customer, pm_id).await;
    let before = deliver(&connect_event(
        "customer.source.updated",
        5,
        card_object(&pm, 3, 2035, "4242"),
    ))
    .await;
    assert_eq!(before["result"], "ignored", "{before}");

    let dry = cardvault_tests::admin(&["backfill-stripe-refs", "--dry-run"]);
    assert!(dry["indexed"].as_u64().unwrap() >= 1, "{dry}");
    assert!(payment_method_item(customer, pm_id).await["STRIPEPK"].is_null());
    let done = cardvault_tests::admin(&["backfill-stripe-refs"]);
    assert!(done["indexed"].as_u64().unwrap() >= 1, "{done}");
    let item = payment_method_item(customer, pm_id).await;
    assert_eq!(
        item["STRIPESK"],
        format!("{}#{pm_id}", pm["externalCardId"].as_str().unwrap()),
        "{item}"
    );

    let after = deliver(&connect_event(
        "customer.source.updated",
        4,
        card_object(&pm, 3, 2035, "4242"),
    ))
    .await;
    assert_eq!(after["result"], "applied", "{after}");
    let card = embedthis(&id, &admin).await;
    assert_eq!(
        (card["month"].as_str(), card["year"].as_str()),
        (Some("03"), Some("2035")),
        "{card}"
    );
}
