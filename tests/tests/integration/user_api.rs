//! The user API (Rechat style): `POST` and `GET /payments/stripe/customers` with bearer JWTs,
//! through the router against localstripe; Stripe faults in-process. JWKS verification
//! needs no stack: it is unit-tested in `shared/edge/src/auth/jwt_tests.rs`.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cardvault::auth::jwt::Principal;
use cardvault::domain::StripeToken;
use cardvault::domain::{user_ref, TenantId};
use cardvault::Error;
use cardvault_core::ports::{CustomerStore, LinkStore};
use cardvault_tests::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROUTE: &str = "/payments/stripe/customers";

async fn post_customer(bearer: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = http()
        .post(url(ROUTE))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(t) = bearer {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    json(req.send().await.unwrap()).await
}

async fn create(jwt: &str, token: &str) -> (u16, Value) {
    post_customer(Some(jwt), &json!({ "token": token }).to_string()).await
}

async fn list(jwt: &str, query: &str) -> (u16, Value) {
    let resp = http()
        .get(url(&format!("{ROUTE}{query}")))
        .header("Authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    json(resp).await
}

fn tenant(id: &str) -> TenantId {
    TenantId::try_from(id.to_owned()).unwrap()
}

#[tokio::test]
async fn create_and_list_with_localstripe_tokens() {
    let sub = fresh_user("create");
    let jwt = user_token("demo-a", &sub);
    let (status, body) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "OK");
    let d = &body["data"];
    assert_eq!(
        d["id"].as_str().unwrap().len(),
        36,
        "a UUID, as in the document"
    );
    assert_eq!(d["owner"], sub.as_str());
    assert!(d["customer_id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(d["type"], "stripe_customer");
    assert!(d["deleted_at"].is_null());
    assert!(d["created_at"].as_f64().unwrap() > 1.7e9);
    assert_eq!(d["created_at"], d["updated_at"]);
    let src = &d["source"];
    assert_eq!(src["object"], "card");
    assert_eq!(src["brand"], "Visa");
    assert_eq!(src["last4"], "4242");
    assert_eq!(src["exp_month"], 8);
    assert_eq!(src["exp_year"], 2031);
    assert_eq!(src["customer"], d["customer_id"]);
    assert!(src["id"].as_str().unwrap().starts_with("pm_"));
    // Every field of the document's source, and nothing that could be the number or CVC.
    let fields: Vec<&str> = src
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for f in [
        "id",
        "name",
        "brand",
        "last4",
        "object",
        "country",
        "funding",
        "customer",
        "exp_year",
        "metadata",
        "cvc_check",
        "exp_month",
        "address_zip",
        "fingerprint",
        "address_city",
        "address_line1",
        "address_line2",
        "address_state",
        "dynamic_last4",
        "address_country",
        "address_zip_check",
        "address_line1_check",
        "tokenization_method",
    ] {
        assert!(fields.contains(&f), "source lacks {f}: {src}");
    }
    assert_eq!(fields.len(), 23, "{src}");

    let (status, listed) = list(&jwt, "").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["code"], "OK");
    assert_eq!(listed["info"], json!({"count": 1, "total": 1}));
    assert_eq!(listed["data"][0], *d);
}

#[tokio::test]
async fn paging_with_start_and_limit_keeps_count_and_total_right() {
    let jwt = user_token("demo-a", &fresh_user("paging"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = create(&jwt, &stripe_token().await).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["data"]["id"].clone());
    }
    let (_, all) = list(&jwt, "").await;
    assert_eq!(all["info"], json!({"count": 3, "total": 3}));
    let order: Vec<Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].clone())
        .collect();
    assert_eq!(order, ids, "oldest first");

    let (_, page) = list(&jwt, "?start=1&limit=1").await;
    assert_eq!(page["info"], json!({"count": 1, "total": 3}));
    assert_eq!(page["data"][0]["id"], ids[1]);
    let (_, tail) = list(&jwt, "?start=2&limit=20").await;
    assert_eq!(tail["info"], json!({"count": 1, "total": 3}));
    let (_, past) = list(&jwt, "?start=5").await;
    assert_eq!(past["info"], json!({"count": 0, "total": 3}));
    assert_eq!(past["data"], json!([]));

    for bad in ["?limit=0", "?limit=1001", "?limit=x", "?start=-1"] {
        let (status, body) = list(&jwt, bad).await;
        rechat_error(status, &body, 400);
        assert_eq!(body["code"], "Validation", "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_second_user_sees_none_of_the_first_users_customers() {
    let first = user_token("demo-a", &fresh_user("first"));
    let (status, body) = create(&first, &stripe_token().await).await;
    assert_eq!(status, 200, "{body}");
    let second = user_token("demo-a", &fresh_user("second"));
    let (status, listed) = list(&second, "").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"], json!([]));
    assert_eq!(listed["info"], json!({"count": 0, "total": 0}));
}

#[tokio::test]
async fn a_jwt_for_another_tenant_sees_nothing_of_this_one() {
    // The same sub in two tenants is two users.
    let sub = fresh_user("both");
    let a = user_token("demo-a", &sub);
    let (status, body) = create(&a, &stripe_token().await).await;
    assert_eq!(status, 200, "{body}");
    let b = user_token("demo-b", &sub);
    let (status, listed) = list(&b, "").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["info"], json!({"count": 0, "total": 0}));
    // demo-b reaches Stripe with its own key; its user gets a customer there.
    let (status, body) = create(&b, &stripe_token().await).await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = list(&a, "").await;
    assert_eq!(listed["info"]["total"], 1, "{listed}");

    // A tenant that does not exist is no tenant at all.
    let ghost = user_token("no-such-tenant", &sub);
    let (status, body) = list(&ghost, "").await;
    rechat_error(status, &body, 401);
}

#[tokio::test]
async fn missing_expired_badly_signed_and_misaddressed_tokens_are_401() {
    let sub = fresh_user("bad-jwt");
    let config = jwt_config();
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |iss: &str, aud: &str, exp: u64| {
        json!({"iss": iss, "aud": aud, "sub": sub, "tenant": "demo-a", "iat": now - 600,
               "exp": exp})
    };
    // Expired well past the allowed clock skew.
    let expired = sign_claims(&claims(&config.issuer, &config.audience, now - 300));
    // HS256, even with the stack's own HS256 secret: refused while the JWKS is on.
    let hs256 = {
        let tenant = tenant("demo-a");
        cardvault::auth::jwt::mint_hs256(
            &config,
            &cardvault::secret::SecretString::from(hs256_secret()),
            &cardvault::auth::jwt::Mint {
                tenant: &tenant,
                sub: &sub,
                account: None,
                role: None,
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap()
    };
    // Well signed, but for an audience or from an issuer demo-a does not trust.
    let other_audience = sign_claims(&claims(&config.issuer, "another-app", now + 60));
    let other_issuer = sign_claims(&claims("https://evil.example", &config.audience, now + 60));
    let tampered = {
        // A valid token whose payload is swapped for another user's.
        let good = user_token("demo-a", &sub);
        let parts: Vec<&str> = good.split('.').collect();
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let mut payload = payload;
        payload["sub"] = json!("someone-else");
        let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let alg_none = {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(
            json!({"iss": jwt_config().issuer, "aud": jwt_config().audience, "sub": sub,
                   "tenant": "demo-a", "exp": jsonwebtoken::get_current_timestamp() + 60})
            .to_string(),
        );
        format!("{h}.{p}.")
    };

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("expired", Some(expired)),
        ("HS256 while the JWKS is on", Some(hs256)),
        ("tampered", Some(tampered)),
        ("other audience", Some(other_audience)),
        ("other issuer", Some(other_issuer)),
        ("alg none", Some(alg_none)),
        ("garbage", Some("not-a-jwt".into())),
    ];
    let body = json!({"token": "tok_unused"}).to_string();
    for (what, token) in &cases {
        for get in [false, true] {
            let resp = if get {
                let mut req = http().get(url(ROUTE));
                if let Some(t) = token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
                req.send().await.unwrap()
            } else {
                let mut req = http()
                    .post(url(ROUTE))
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                if let Some(t) = token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
                req.send().await.unwrap()
            };
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let (status, body) = json(resp).await;
            let message = rechat_error(status, &body, 401);
            assert_eq!(body["code"], "Unauthorized", "{what}: {body}");
            assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{what}");
            if *what == "expired" {
                assert!(message.contains("expired"), "{message}");
            }
        }
    }
    // A Basic merchant key is not a user.
    let resp = http()
        .get(url(ROUTE))
        .header("Authorization", basic(&tenant_a().private_api_key))
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    rechat_error(status, &body, 401);
}

#[tokio::test]
async fn a_bad_token_in_the_body_is_400_and_a_used_one_says_so() {
    let jwt = user_token("demo-a", &fresh_user("tokens"));
    let (status, body) = create(&jwt, "tok_NeverIssued123").await;
    let message = rechat_error(status, &body, 400);
    assert!(message.contains("No such token"), "{message}");
    assert!(
        !message.contains("NeverIssued"),
        "the token is not echoed: {message}"
    );
    let (_, listed) = list(&jwt, "").await;
    assert_eq!(listed["info"]["total"], 0);

    // Sent again by the same user (a retry): the same customer, not a second one.
    let token = stripe_token().await;
    let (status, first) = create(&jwt, &token).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = create(&jwt, &token).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"], first["data"]);
    let (_, listed) = list(&jwt, "").await;
    assert_eq!(listed["info"]["total"], 1);

    // By another user: exactly what an unknown token answers.
    let other = user_token("demo-a", &fresh_user("thief"));
    let (status, body) = create(&other, &token).await;
    let message = rechat_error(status, &body, 400);
    assert!(message.contains("No such token"), "{message}");
    let (_, listed) = list(&other, "").await;
    assert_eq!(listed["info"]["total"], 0);
}

#[tokio::test]
async fn bad_bodies_are_4xx_in_the_envelope() {
    let jwt = user_token("demo-a", &fresh_user("bodies"));
    for (body, want, code) in [
        ("{\"token\":", 400, "BadRequest"),
        ("", 400, "BadRequest"),
        ("[]", 400, "BadRequest"),
        ("{}", 400, "Validation"),
        ("{\"token\":42}", 400, "Validation"),
        ("{\"token\":\"card_123\"}", 400, "Validation"),
        ("{\"token\":\"tok_\u{202e}x\"}", 400, "Validation"),
    ] {
        let (status, resp) = post_customer(Some(&jwt), body).await;
        rechat_error(status, &resp, want);
        assert_eq!(resp["code"], code, "{body}: {resp}");
    }
    let (status, resp) = post_customer(Some(&jwt), "{}").await;
    rechat_error(status, &resp, 400);
    assert_eq!(resp["attributes"]["token"], "token is required");

    let big = json!({"token": "tok_x", "pad": "x".repeat(20_000)}).to_string();
    let (status, resp) = post_customer(Some(&jwt), &big).await;
    rechat_error(status, &resp, 413);

    let resp = http()
        .post(url(ROUTE))
        .header("Authorization", format!("Bearer {jwt}"))
        .header("Content-Type", "text/plain")
        .body("token=tok_x")
        .send()
        .await
        .unwrap();
    let (status, resp) = json(resp).await;
    rechat_error(status, &resp, 415);
}

/// A fresh user of demo-a with one card made through the router, hence a vault customer:
/// its token, the app in-process (for its store), the tenant and the user's reference.
async fn user_with_a_card(name: &str) -> (String, cardvault::App, TenantId, String) {
    let sub = fresh_user(name);
    let jwt = user_token("demo-a", &sub);
    let (status, first) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{first}");
    let app = app_with_stripe(&stack().stripe_url).await;
    (jwt, app, tenant("demo-a"), user_ref(&sub))
}

/// A user's vault customer deleted meanwhile (its item gone, its external reference left)
/// is made again, once: the reference is taken over, on DynamoDB's condition that it still
/// names the deleted customer (`store::customers`), and the card joins the new customer.
#[tokio::test]
async fn a_users_vault_customer_deleted_meanwhile_is_made_again() {
    let (jwt, app, t, r) = user_with_a_card("remade").await;
    let store = app.vault.store();
    let reference = || store.customer_id_by_external_ref(&t, &r);
    let gone = reference()
        .await
        .unwrap()
        .expect("the user's vault customer");
    aws_sdk_dynamodb::Client::new(&aws().await)
        .delete_item()
        .table_name(&stack().table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CUST#{gone}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("CUSTOMER".into()),
        )
        .send()
        .await
        .unwrap();

    let (status, second) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{second}");
    let made = reference().await.unwrap().expect("the reference");
    assert_ne!(made, gone);
    let customer = store
        .customer_by_external_ref(&t, &r)
        .await
        .unwrap()
        .expect("the new vault customer");
    assert_eq!(customer.id, made);
    assert_eq!(payment_method_count(made.get()).await, 1);
    let (status, third) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(reference().await.unwrap(), Some(made), "made once");
}

/// Review A1: the takeover's transaction also checks that the customer it replaces is gone
/// (DynamoDB's ConditionCheck), so a caller that read a live customer as missing (a read
/// racing its creation) cannot take its reference: `AlreadyExists`, and the reference
/// still names the live customer.
#[tokio::test]
async fn a_live_customers_reference_is_never_taken_over() {
    let (_, app, t, r) = user_with_a_card("live-ref").await;
    let store = app.vault.store();
    let live = store
        .customer_by_external_ref(&t, &r)
        .await
        .unwrap()
        .expect("the user's vault customer");
    let mut usurper = live.clone();
    usurper.id = cardvault::domain::CustomerId::random();

    let taken = store
        .create_customer_with_ref(&usurper, &r, Some(live.id))
        .await;
    assert!(
        matches!(taken, Err(cardvault_core::ports::StoreError::AlreadyExists)),
        "{taken:?}"
    );
    assert_eq!(
        store.customer_id_by_external_ref(&t, &r).await.unwrap(),
        Some(live.id)
    );
    assert_eq!(
        store.get_customer(&t, usurper.id).await.unwrap(),
        None,
        "no second customer"
    );
}

#[tokio::test]
async fn the_card_joins_the_users_vault_customer() {
    let sub = fresh_user("vault");
    let jwt = user_token("demo-a", &sub);
    let (status, first) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = create(&jwt, &stripe_token().await).await;
    assert_eq!(status, 200, "{second}");

    // One vault customer for the user, found by its external reference.
    let app = app_with_stripe(&stack().stripe_url).await;
    let customer = app
        .vault
        .store()
        .customer_by_external_ref(&tenant("demo-a"), &user_ref(&sub))
        .await
        .unwrap()
        .expect("the user's vault customer");
    // The reference alone names the same customer (what a warm create reads), and only in
    // its own tenant.
    let store = app.vault.store();
    assert_eq!(
        store
            .customer_id_by_external_ref(&tenant("demo-a"), &user_ref(&sub))
            .await
            .unwrap(),
        Some(customer.id)
    );
    assert_eq!(
        store
            .customer_id_by_external_ref(&tenant("demo-b"), &user_ref(&sub))
            .await
            .unwrap(),
        None
    );

    // The tenant sees both cards through the merchant API, the first one the default.
    let resp = call(
        reqwest::Method::GET,
        &format!("/v1/customers/{}/paymentMethods/creditCard", customer.id),
        &tenant_a().private_api_key,
        None,
    )
    .await;
    let (status, cards) = json(resp).await;
    assert_eq!(status, 200, "{cards}");
    let cards = cards.as_array().unwrap();
    assert_eq!(cards.len(), 2);
    let by_card = |id: &Value| {
        cards
            .iter()
            .find(|c| c["externalCardId"] == *id)
            .unwrap_or_else(|| panic!("no card {id}"))
            .clone()
    };
    let a = by_card(&first["data"]["source"]["id"]);
    assert_eq!(a["externalCustomerId"], first["data"]["customer_id"]);
    assert_eq!(a["maskedCardNumber"], "************4242");
    assert_eq!(a["firstName"], "Jane");
    assert_eq!(a["isDefault"], true);
    assert_eq!(by_card(&second["data"]["source"]["id"])["isDefault"], false);
}

// ---- in-process: Stripe faults -------------------------------------------------------------

fn principal(sub: &str) -> Principal {
    Principal {
        tenant: tenant("demo-a"),
        user: sub.to_owned(),
        account: None,
        role: None,
    }
}

async fn nothing_stored(app: &cardvault::App, sub: &str) {
    let t = tenant("demo-a");
    assert!(app
        .vault
        .store()
        .stripe_customer_links(&t, sub)
        .await
        .unwrap()
        .is_empty());
    assert!(app
        .vault
        .store()
        .customer_by_external_ref(&t, &user_ref(sub))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_stripe_outage_is_502_and_nothing_is_stored() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let sub = fresh_user("outage");
    let r = app
        .vault
        .create_stripe_customer(&principal(&sub), StripeToken::parse("tok_Outage1").unwrap())
        .await;
    assert!(matches!(r, Err(Error::Upstream { .. })), "{r:?}");
    nothing_stored(&app, &sub).await;
    // Rendered in the dialect: 502 with the envelope.
    let resp = cardvault::dialect::rechat::render_error(&r.unwrap_err());
    assert_eq!(resp.status(), 502);
}

#[tokio::test]
async fn each_create_sends_an_idempotency_key_derived_from_the_request() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let sub = fresh_user("idem");
    for _ in 0..2 {
        let _ = app
            .vault
            .create_stripe_customer(&principal(&sub), StripeToken::parse("tok_Idem1").unwrap())
            .await;
    }
    let keys: Vec<String> = stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .expect("Idempotency-Key")
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 6);
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert!(!keys[0].contains("Idem1"));
}

#[tokio::test]
async fn a_failure_after_stripe_deletes_the_stripe_customer_again() {
    let stripe = MockServer::start().await;
    // A customer whose card lacks what the vault needs (no last4): storing fails.
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cus_Compensate", "object": "customer", "default_source": "card_C1",
            "sources": {"object": "list", "data": [{"id": "card_C1", "object": "card",
                "brand": "Visa", "exp_month": 1, "exp_year": 2030}]}})))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/customers/cus_Compensate"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "cus_Compensate", "deleted": true})),
        )
        .expect(1)
        .mount(&stripe)
        .await;
    let app = app_with_stripe(&stripe.uri()).await;
    let sub = fresh_user("compensate");
    let r = app
        .vault
        .create_stripe_customer(&principal(&sub), StripeToken::parse("tok_Comp1").unwrap())
        .await;
    assert!(r.is_err(), "{r:?}");
    nothing_stored(&app, &sub).await;
}

#[tokio::test]
async fn a_declined_card_is_one_generic_answer_not_stripes_reason() {
    let jwt = user_token("demo-a", &fresh_user("declines"));
    // Declined, and declined for a wrong CVC: Stripe's reasons differ, the answers do not.
    let mut answers = Vec::new();
    for pan in ["4000000000000002", "4000000000000127"] {
        let (status, body) = create(&jwt, &stripe_token_for(pan).await).await;
        assert_eq!(status, 400, "{body}");
        answers.push(body);
    }
    assert_eq!(answers[0], answers[1]);
    let text = answers[0].to_string().to_ascii_lowercase();
    assert!(text.contains("the card was declined"), "{text}");
    assert!(!text.contains("security code"), "{text}");
}

/// A token its tenant's issuer signed may still live too long: a day at most by default,
/// what the tenant sets otherwise (`set-token-policy`); a token without `iat` only where
/// the tenant allows it, and then what is left of it counts.
#[tokio::test]
async fn a_token_living_longer_than_its_tenant_allows_is_401() {
    // Two tenants, the second with its policy set before any request (tenants are cached).
    let strict = cardvault_tests::billing::fresh_tenant();
    let lax = cardvault_tests::billing::fresh_tenant();
    admin(&[
        "set-token-policy",
        "--tenant",
        &lax,
        "--allow-missing-iat",
        "true",
        "--max-lifetime-secs",
        "900",
    ]);
    let config = jwt_config();
    let now = jsonwebtoken::get_current_timestamp();
    let sub = fresh_user("lifetime");
    let signed = |tenant: &str, iat: Option<u64>, exp: u64| {
        let mut c = json!({"iss": config.issuer, "aud": config.audience, "sub": sub,
                           "tenant": tenant, "exp": exp});
        if let Some(iat) = iat {
            c["iat"] = json!(iat);
        }
        sign_claims(&c)
    };
    let day = 24 * 3600;
    let (status, body) = list(&signed(&strict, Some(now - 60), now - 60 + day), "").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = list(&signed(&lax, None, now + 600), "").await;
    assert_eq!(status, 200, "{body}");
    for (token, says) in [
        (
            signed(&strict, Some(now - 60), now - 59 + day),
            "lifetime is longer",
        ),
        (signed(&strict, None, now + 600), "no iat claim"),
        // An iat in the future would make a year-long token look a minute long.
        (
            signed(&strict, Some(now + 365 * day), now + 365 * day + 60),
            "iat claim is in the future",
        ),
        (
            signed(&strict, Some(now + 600), now + 600),
            "iat claim is in the future",
        ),
        (signed(&lax, None, now + 1200), "lifetime is longer"),
        (signed(&lax, Some(now), now + 901), "lifetime is longer"),
    ] {
        let (status, body) = list(&token, "").await;
        assert!(rechat_error(status, &body, 401).contains(says), "{body}");
    }
}
