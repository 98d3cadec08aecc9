//! `Idempotency-Key` on every write endpoint, against the local stack: a replay answers
//! the first answer byte for byte (plus `Idempotent-Replayed: true`) and has no second
//! effect; 20 identical requests at once have exactly one; another body under the same key
//! is 422 in the dialect's envelope; a crashed attempt frees its key after its in-progress
//! expiry; the redirect takes a double submit without a key as one. Records hold no PAN.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cardvault_tests::billing::{self, account, fresh_tenant, owner};
use cardvault_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";
const PAN: &str = "4242424242424242";

/// One request, sent as given: the same bytes every time.
#[derive(Clone)]
struct Call {
    method: Method,
    path: String,
    auth: Option<String>,
    body: String,
}

impl Call {
    fn merchant(method: Method, path: &str, key: &str, body: Value) -> Self {
        Self {
            method,
            path: path.into(),
            auth: Some(basic(key)),
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
        }
    }

    fn bearer(path: &str, token: &str, body: Value) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            auth: Some(format!("Bearer {token}")),
            body: body.to_string(),
        }
    }

    fn redirect(body: Value) -> Self {
        Self {
            method: Method::POST,
            path: "/api/paymentsv2".into(),
            auth: None,
            body: body.to_string(),
        }
    }
}

/// An answer: status, whether it says it is a replay, its raw body.
#[derive(Debug, Clone, PartialEq)]
struct Reply {
    status: u16,
    replayed: bool,
    allow_origin: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(call: &Call, key: Option<&str>) -> Reply {
    let mut req = http()
        .request(call.method.clone(), url(&call.path))
        .header("Content-Type", "application/json")
        .header("Origin", &tenant_a().allowed_origin);
    if let Some(a) = &call.auth {
        req = req.header("Authorization", a);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if !call.body.is_empty() {
        req = req.body(call.body.clone());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let allow_origin = resp
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    Reply {
        status,
        replayed,
        allow_origin,
        body: resp.text().await.unwrap(),
    }
}

/// The call 20 times at once.
async fn at_once(call: &Call, key: Option<&str>) -> Vec<Reply> {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (call, key) = (call.clone(), key.map(str::to_owned));
            tokio::spawn(async move { send(&call, key.as_deref()).await })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    replies
}

fn fresh_key(label: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{n}")
}

/// The call twice under one key: the second is the first's answer again, saying so.
async fn replays(call: &Call) -> Reply {
    let key = fresh_key("replay");
    let first = send(call, Some(&key)).await;
    assert!(
        (200..300).contains(&first.status) && !first.replayed,
        "{first:?}"
    );
    let second = send(call, Some(&key)).await;
    assert!(second.replayed, "{second:?}");
    assert_eq!((second.status, &second.body), (first.status, &first.body));
    first
}

/// The call 20 times at once under one key: exactly one runs; every other answer is its
/// answer replayed, or 409 while it runs. Returns the one that ran.
async fn twenty_at_once(call: &Call, key: Option<&str>) -> Reply {
    let replies = at_once(call, key).await;
    let ran: Vec<&Reply> = replies
        .iter()
        .filter(|r| (200..300).contains(&r.status) && !r.replayed)
        .collect();
    assert_eq!(ran.len(), 1, "{replies:#?}");
    let first = ran[0].clone();
    let in_flight = replies.iter().filter(|r| r.status == 409).count();
    println!(
        "{}: 1 ran, {in_flight} answered 409, the rest replayed",
        call.path
    );
    for r in &replies {
        assert!(
            r == &first
                || (r.replayed && r.status == first.status && r.body == first.body)
                || r.status == 409,
            "{r:?} beside {first:?}"
        );
    }
    first
}

// ---- merchant API --------------------------------------------------------------------

/// How many customers of the table carry this reference.
async fn customers_with_reference(reference: &str) -> usize {
    scan_table_strings()
        .await
        .iter()
        .filter(|s| s.as_str() == reference)
        .count()
}

#[tokio::test]
async fn create_customer_replays_and_makes_one_customer() {
    let key = &tenant_a().private_api_key;
    let reference = fresh_key("idem-ref");
    let call = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"firstName": "Idem", "reference": reference}),
    );
    replays(&call).await;
    assert_eq!(customers_with_reference(&reference).await, 1);

    let reference = fresh_key("idem-ref-20");
    let call = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"firstName": "Idem", "reference": reference}),
    );
    twenty_at_once(&call, Some(&fresh_key("c20"))).await;
    assert_eq!(customers_with_reference(&reference).await, 1);
}

#[tokio::test]
async fn without_the_header_nothing_changes() {
    let key = &tenant_a().private_api_key;
    let reference = fresh_key("idem-none");
    let call = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"reference": reference}),
    );
    let (a, b) = (send(&call, None).await, send(&call, None).await);
    assert!(!a.replayed && !b.replayed);
    assert_ne!(a.json()["id"], b.json()["id"]);
    assert_eq!(customers_with_reference(&reference).await, 2);
}

#[tokio::test]
async fn other_parameters_under_a_used_key_are_422_in_each_dialect() {
    let key = &tenant_a().private_api_key;
    let k = fresh_key("mismatch");
    let first = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"firstName": "A"}),
    );
    let other = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"firstName": "B"}),
    );
    assert_eq!(send(&first, Some(&k)).await.status, 200);
    let r = send(&other, Some(&k)).await;
    let msg = fusebill_error(r.status, &r.json(), 422);
    assert!(msg.contains("same parameters"), "{msg}");

    let user = user_token("demo-a", &fresh_user("idem"));
    let tok = stripe_token().await;
    let call = Call::bearer("/payments/stripe/customers", &user, json!({"token": tok}));
    assert_eq!(send(&call, Some(&k)).await.status, 200);
    let other = Call::bearer(
        "/payments/stripe/customers",
        &user,
        json!({"token": tok, "x": 1}),
    );
    let r = send(&other, Some(&k)).await;
    assert!(rechat_error(r.status, &r.json(), 422).contains("same parameters"));
    assert_eq!(r.json()["code"], "Unprocessable");

    let t = fresh_tenant();
    let bearer = owner(&t, &account());
    let card = billing::create(&bearer, false).await;
    let id = card["id"].as_str().unwrap();
    let call = Call::bearer("/card/updateCurrent", &bearer, json!({"id": id}));
    assert_eq!(send(&call, Some(&k)).await.status, 200);
    let other = Call::bearer(
        "/card/updateCurrent",
        &bearer,
        json!({"id": id, "current": false}),
    );
    let r = send(&other, Some(&k)).await;
    assert!(embedthis_error(r.status, &r.json(), 422).contains("same parameters"));
}

#[tokio::test]
async fn keys_are_scoped_by_tenant_and_user_and_a_bad_key_is_400() {
    let k = fresh_key("scoped");
    let body = json!({"firstName": "Scoped"});
    let a = Call::merchant(
        Method::POST,
        "/v1/customers",
        &tenant_a().private_api_key,
        body.clone(),
    );
    let b = Call::merchant(
        Method::POST,
        "/v1/customers",
        &tenant_b().private_api_key,
        body,
    );
    let (ra, rb) = (send(&a, Some(&k)).await, send(&b, Some(&k)).await);
    assert!(!ra.replayed && !rb.replayed, "{ra:?} {rb:?}");
    assert_ne!(ra.json()["id"], rb.json()["id"]);

    let r = send(&a, Some(&"x".repeat(256))).await;
    assert!(fusebill_error(r.status, &r.json(), 400).contains("Idempotency-Key"));
    let r = send(&a, Some("has space")).await;
    assert_eq!(r.status, 400, "{r:?}");
}

#[tokio::test]
async fn imports_replay_and_store_one_card() {
    let key = &tenant_a().private_api_key;
    for path in [
        "/v1/paymentMethodImport/stripeConnect",
        "/v1/AchCardImport/stripeConnect",
    ] {
        let customer = create_customer(key, json!({})).await;
        let (cus, card) = stripe_card("Idem Import", &[]).await;
        let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
        let call = Call::merchant(Method::POST, path, key, body);
        replays(&call).await;
        twenty_at_once(&call, Some(&fresh_key("imp20"))).await;
        assert_eq!(payment_method_count(customer).await, 1);
    }
    let key = &tenant_b().private_api_key;
    let customer = create_customer(key, json!({})).await;
    let (cus, card) = stripe_card("Idem Own", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let call = Call::merchant(Method::POST, "/v1/paymentMethodImport/Stripe", key, body);
    replays(&call).await;
    twenty_at_once(&call, Some(&fresh_key("own20"))).await;
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn delete_replays_its_204_instead_of_a_404() {
    let key = &tenant_a().private_api_key;
    let (customer, ids, _) = customer_with_cards(2).await;
    let path = |id: u64| format!("/v1/paymentMethods/{id}/creditCard");
    // The second card is not the default, so it can go.
    let call = Call::merchant(Method::DELETE, &path(ids[1]), key, Value::Null);
    let first = replays(&call).await;
    assert_eq!((first.status, first.body.as_str()), (204, ""));
    assert_eq!(payment_method_count(customer).await, 1);
    // Without the key, the same delete now finds nothing.
    assert_eq!(send(&call, None).await.status, 404);

    let (customer, ids, _) = customer_with_cards(2).await;
    let call = Call::merchant(Method::DELETE, &path(ids[1]), key, Value::Null);
    let ran = twenty_at_once(&call, Some(&fresh_key("del20"))).await;
    assert_eq!(ran.status, 204);
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn set_default_replays() {
    let key = &tenant_a().private_api_key;
    let (customer, ids, _) = customer_with_cards(2).await;
    let body = json!({"id": customer, "defaultPaymentMethodId": ids[1]});
    let call = Call::merchant(Method::PUT, "/v1/customerbillingsetting", key, body);
    let first = replays(&call).await;
    assert_eq!(first.json()["defaultPaymentMethodId"], ids[1]);
    twenty_at_once(&call, Some(&fresh_key("def20"))).await;
}

// ---- the transparent redirect --------------------------------------------------------

fn redirect_body(t: &RedirectTenant, customer: u64, pan: &str) -> Value {
    json!({
        "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
        "firstName": "Karen", "lastName": "Wood", "expirationMonth": 2, "expirationYear": 30,
        "cvv": "012", "recaptcha": PASS, "countryId": 124, "postalZip": "V9V 9V9"
    })
}

#[tokio::test]
async fn the_redirect_replays_and_makes_one_stripe_card() {
    let t = redirect_tenant("idem", &[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let call = Call::redirect(redirect_body(&t, customer, PAN));
    let k = fresh_key("redir");
    let first = send(&call, Some(&k)).await;
    assert_eq!(first.json()["maskedCardNumber"], "************4242");
    let again = send(&call, Some(&k)).await;
    assert!(again.replayed && again.body == first.body, "{again:?}");
    assert_eq!(
        again.allow_origin.as_deref(),
        Some(tenant_a().allowed_origin.as_str())
    );
    // Another card under the key: 422, which the browser can read.
    let other = send(
        &Call::redirect(redirect_body(&t, customer, "5555555555554444")),
        Some(&k),
    )
    .await;
    assert_eq!(
        fusebill_error(other.status, &other.json(), 422),
        cardvault::vault::once::MISMATCH
    );
    assert_eq!(
        other.allow_origin.as_deref(),
        Some(tenant_a().allowed_origin.as_str())
    );
    assert_eq!(payment_method_count(customer).await, 1);
    assert_eq!(cards_at_stripe(customer).await, 1);

    let customer = create_customer(&t.private_api_key, json!({})).await;
    let call = Call::redirect(redirect_body(&t, customer, "5555555555554444"));
    twenty_at_once(&call, Some(&fresh_key("redir20"))).await;
    assert_eq!(payment_method_count(customer).await, 1);
    assert_eq!(cards_at_stripe(customer).await, 1);
}

#[tokio::test]
async fn a_double_submit_without_a_key_is_one_card_with_one_answer() {
    let t = redirect_tenant("dbl", &[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let call = Call::redirect(redirect_body(&t, customer, PAN));
    let first = send(&call, None).await;
    assert_eq!(first.status, 200, "{first:?}");
    let second = send(&call, None).await;
    assert!(second.replayed, "{second:?}");
    assert_eq!(second.body, first.body);

    // Twenty at once: every browser tab gets the one answer (they wait, not 409).
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let call = Call::redirect(redirect_body(&t, customer, "5555555555554444"));
    let replies = at_once(&call, None).await;
    let ran: Vec<&Reply> = replies.iter().filter(|r| !r.replayed).collect();
    assert_eq!(ran.len(), 1, "{replies:#?}");
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.body == ran[0].body),
        "{replies:#?}"
    );
    assert_eq!(payment_method_count(customer).await, 1);
    assert_eq!(cards_at_stripe(customer).await, 1);

    // Another card for the same customer is another submit.
    let other = Call::redirect(redirect_body(&t, customer, "6011111111111117"));
    assert!(!send(&other, None).await.replayed);
    assert_eq!(cards_at_stripe(customer).await, 2);
}

/// Without a key, a second submit of the same card with another body (another CVV, other
/// names) within the window is not the first one's answer: the holder's name, address and
/// email the first submit gave are only answered to the very same request. It runs as a
/// fresh submit (Stripe checks the details it entered again, as after the window), and the
/// card on file answers with the holder it entered. The same request still replays.
#[tokio::test]
async fn a_double_submit_with_another_body_is_a_fresh_submit_not_the_first_answer() {
    let t = redirect_tenant("dbl-other", &[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let body = redirect_body(&t, customer, PAN);
    let first = send(&Call::redirect(body.clone()), None).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json()["firstName"], "Karen", "{first:?}");
    let cus = customer_item(customer).await["stripeCustomerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sources = format!("/v1/customers/{cus}/sources");
    let posts = || async {
        stripe_calls(&sources)
            .await
            .into_iter()
            .filter(|(m, _, _)| m == "POST")
            .count()
    };
    let before = posts().await;

    let mut other = body.clone();
    other["cvv"] = json!("987");
    other["firstName"] = json!("Mallory");
    other["lastName"] = json!("Other");
    let second = send(&Call::redirect(other), None).await;
    assert!(!second.replayed, "{second:?}");
    assert_ne!(second.status, 422, "{second:?}");
    assert!(
        posts().await > before,
        "the second submit was not checked at Stripe"
    );
    // The card on file answers with what this request entered, never the first holder.
    assert_eq!(second.status, 200, "{second:?}");
    assert!(
        !second.body.contains("Karen") && !second.body.contains("Wood"),
        "{second:?}"
    );
    assert_eq!(second.json()["firstName"], "Mallory", "{second:?}");

    let again = send(&Call::redirect(body), None).await;
    assert!(again.replayed && again.body == first.body, "{again:?}");
    assert_eq!(cards_at_stripe(customer).await, 1);
}

/// Fresh submits race: eight submits of one card to one customer at once, each with a body
/// of its own (another name each), so none replays another and all run. The card is stored
/// once and attached at Stripe once; the others answer the card on file, each with the name
/// it entered.
#[tokio::test]
async fn fresh_submits_of_one_card_at_once_store_it_once() {
    let t = redirect_tenant("dbl-race", &[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let mut body = redirect_body(&t, customer, "4000056655665556");
            body["firstName"] = json!(format!("Racer{i}"));
            tokio::spawn(async move { (i, send(&Call::redirect(body), None).await) })
        })
        .collect();
    for task in tasks {
        let (i, reply) = task.await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(!reply.replayed, "{reply:?}");
        assert_eq!(reply.json()["firstName"], format!("Racer{i}"), "{reply:?}");
    }
    assert_eq!(payment_method_count(customer).await, 1);
    assert_eq!(cards_at_stripe(customer).await, 1);
}

#[tokio::test]
async fn idempotency_records_hold_no_card_number() {
    let t = redirect_tenant("idem-pan", &[]);
    let customer = create_customer(&t.private_api_key, json!({})).await;
    let pan = "3566002020360505";
    let call = Call::redirect(redirect_body(&t, customer, pan));
    replays(&call).await;
    let hits: Vec<String> = scan_table_strings()
        .await
        .into_iter()
        .filter(|s| s.contains(pan) || s.contains("\"cvv\""))
        .collect();
    assert_eq!(hits, Vec::<String>::new());
}

// ---- user API and billing card API ----------------------------------------------------

async fn links_of(user: &str) -> u64 {
    let resp = http()
        .get(url("/payments/stripe/customers"))
        .header("Authorization", format!("Bearer {user}"))
        .send()
        .await
        .unwrap();
    json(resp).await.1["info"]["total"].as_u64().unwrap()
}

#[tokio::test]
async fn the_user_apis_create_replays_and_makes_one_link() {
    let user = user_token("demo-a", &fresh_user("idem"));
    let call = Call::bearer(
        "/payments/stripe/customers",
        &user,
        json!({"token": stripe_token().await}),
    );
    replays(&call).await;
    assert_eq!(links_of(&user).await, 1);

    let user = user_token("demo-a", &fresh_user("idem20"));
    let call = Call::bearer(
        "/payments/stripe/customers",
        &user,
        json!({"token": stripe_token().await}),
    );
    twenty_at_once(&call, Some(&fresh_key("scus20"))).await;
    assert_eq!(links_of(&user).await, 1);
}

async fn cards_of(bearer: &str) -> usize {
    let (status, page) = billing::card("/card/find", bearer, None).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_billing_writes_replay_with_one_effect() {
    let t = fresh_tenant();
    let bearer = owner(&t, &account());
    let create = |tok: String| {
        Call::bearer(
            "/card/create",
            &bearer,
            json!({"name": "Team Visa", "number": PAN, "month": "12", "year": "2030", "stripeToken": tok}),
        )
    };
    let card = replays(&create(stripe_token().await)).await.json();
    assert_eq!(cards_of(&bearer).await, 1);
    twenty_at_once(&create(stripe_token().await), Some(&fresh_key("cc20"))).await;
    assert_eq!(cards_of(&bearer).await, 2);

    let id = card["id"].as_str().unwrap();
    let current = Call::bearer("/card/updateCurrent", &bearer, json!({"id": id}));
    assert_eq!(replays(&current).await.json()["current"], true);
    twenty_at_once(&current, Some(&fresh_key("cu20"))).await;

    let remove = Call::bearer("/card/remove", &bearer, json!({"id": id}));
    assert_eq!(replays(&remove).await.json()["id"], id);
    assert_eq!(cards_of(&bearer).await, 1);
    // Without the key, the card is gone.
    assert_eq!(send(&remove, None).await.status, 404);

    let other = billing::create(&bearer, false).await;
    let remove = Call::bearer("/card/remove", &bearer, json!({"id": other["id"]}));
    twenty_at_once(&remove, Some(&fresh_key("rm20"))).await;
    assert_eq!(cards_of(&bearer).await, 1);
}

// ---- a crashed first attempt ---------------------------------------------------------

#[tokio::test]
async fn a_crashed_attempt_frees_its_key_after_its_in_progress_expiry() {
    use cardvault::domain::{OnceRecord, OnceState, TenantId};
    use cardvault::vault::once::digest;
    use cardvault_core::ports::{Claim, OnceStore};

    let key = &tenant_a().private_api_key;
    let call = Call::merchant(
        Method::POST,
        "/v1/customers",
        key,
        json!({"firstName": "Crash"}),
    );
    let k = fresh_key("crash");
    // The record a first attempt left when its Lambda died, 5 s before its deadline (room
    // for a busy local stack to answer the 409 first).
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let tenant = TenantId::try_from(tenant_a().id.clone()).unwrap();
    let record = OnceRecord {
        key: digest([tenant.as_str(), "merchant", &k].map(str::as_bytes)),
        tenant,
        request_hash: digest([
            b"POST".as_slice(),
            b"/v1/customers",
            b"",
            call.body.as_bytes(),
        ]),
        owner: "crashed".into(),
        state: OnceState::InProgress {
            until_ms: now_ms + 5000,
        },
        expires_at: now_ms / 1000 + 3600,
    };
    let store = cardvault_aws::store::Store::new(
        aws_sdk_dynamodb::Client::new(&aws().await),
        &stack().table,
    );
    assert_eq!(store.claim(&record, now_ms).await.unwrap(), Claim::Claimed);

    let r = send(&call, Some(&k)).await;
    assert!(fusebill_error(r.status, &r.json(), 409).contains("in progress"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis((now_ms + 5100 - now).max(0) as u64)).await;
    let r = send(&call, Some(&k)).await;
    assert!(r.status == 200 && !r.replayed, "{r:?}");
    assert!(send(&call, Some(&k)).await.replayed);
}

/// The local stack runs one invocation of a function at a time, so the 20 requests above
/// queue up and find the first one done. Here 20 run truly at once, in-process over the
/// stack's DynamoDB, around a handler that takes 300 ms: one runs, every other gets 409.
#[tokio::test]
async fn twenty_truly_concurrent_requests_run_once_and_the_rest_get_409() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cardvault::caller;
    use cardvault::dialect::fusebill;
    use cardvault::idempotent::guard;
    use lambda_http::{Body, Request, Response};

    static RAN: AtomicUsize = AtomicUsize::new(0);
    let app: &'static cardvault::App =
        Box::leak(Box::new(app_with_stripe(&stack().stripe_url).await));
    let handler = |_app: &'static cardvault::App, _req: Request| async {
        RAN.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Response::new(Body::Text("{\"done\":true}".into()))
    };
    let k = fresh_key("inproc");
    let request = || {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/customers")
            .header("authorization", basic(&tenant_a().private_api_key))
            .header("idempotency-key", &k)
            .body(Body::Text("{}".into()))
            .unwrap()
    };
    let answers = futures_join(
        (0..20)
            .map(|_| {
                guard(
                    app,
                    request(),
                    caller::Merchant,
                    fusebill::render_error,
                    &handler,
                )
            })
            .collect(),
    )
    .await;
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    // Done, the key replays.
    let again = guard(
        app,
        request(),
        caller::Merchant,
        fusebill::render_error,
        &handler,
    )
    .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
}

/// Polls every future to completion together, on this task.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// One authentication per request: the guard authenticates a keyed write's caller, and the
/// handler gets that answer from the request, not a second check. The handler below strips
/// the credentials before it asks: it still sees the guard's tenant, and for a refused key
/// the guard's refusal (not "missing header"), so the key was looked up once.
#[tokio::test]
async fn the_guard_and_the_handler_share_one_authentication() {
    use cardvault::dialect::fusebill;
    use cardvault::idempotent::guard;
    use cardvault::{caller, Error};
    use lambda_http::{Body, Request, Response};

    let app: &'static cardvault::App =
        Box::leak(Box::new(app_with_stripe(&stack().stripe_url).await));
    let handler = |app: &'static cardvault::App, req: Request| async move {
        let mut req = req;
        req.headers_mut().remove("authorization");
        let said = match app.merchant(&req).await {
            Ok(tenant) => format!("tenant {tenant}"),
            Err(Error::Unauthorized(m)) => format!("refused: {m}"),
            Err(e) => format!("error: {e}"),
        };
        Response::new(Body::Text(said))
    };
    let request = |key: &str| {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/customers")
            .header("authorization", basic(key))
            .header("idempotency-key", fresh_key("once-auth"))
            .body(Body::Text("{}".into()))
            .unwrap()
    };
    let text = |r: Response<Body>| match r.into_body() {
        Body::Text(t) => t,
        other => panic!("{other:?}"),
    };
    let ok = guard(
        app,
        request(&tenant_a().private_api_key),
        caller::Merchant,
        fusebill::render_error,
        &handler,
    )
    .await;
    assert_eq!(text(ok), format!("tenant {}", tenant_a().id));
    // Well formed, and no tenant's: the guard's lookup finds nothing.
    let real = &tenant_a().private_api_key;
    let last = if real.ends_with('0') { "1" } else { "0" };
    let unknown = format!("{}{last}", &real[..real.len() - 1]);
    let refused = guard(
        app,
        request(&unknown),
        caller::Merchant,
        fusebill::render_error,
        &handler,
    )
    .await;
    assert_eq!(text(refused), "refused: Invalid or revoked API key.");
}
