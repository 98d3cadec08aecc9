//! The transparent redirect, `POST /api/paymentsv2`: parsing, origin and reCAPTCHA checks,
//! card validation, the encrypted vault, Stripe verification and collection.

use cardvault_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";

/// A fresh customer of tenant A.
async fn customer() -> u64 {
    create_customer(&tenant_a().private_api_key, json!({"firstName": "Karen"})).await
}

fn sample(customer: u64, pan: &str) -> Value {
    json!({
        "customerId": customer,
        "PublicApiKey": tenant_a().public_api_key,
        "cardNumber": pan,
        "firstName": "Karen",
        "lastName": "Wood",
        "expirationMonth": 2,
        "expirationYear": 30,
        "cvv": "012",
        "makeDefault": false,
        "recaptcha": PASS,
        "address1": "10 Dodge St",
        "address2": "Unit B",
        "city": "Columbia",
        "stateId": 1,
        "countryId": 124,
        "postalZip": "V9V 9V9"
    })
}

async fn post(body: &Value) -> reqwest::Response {
    post_from(body, Some(&tenant_a().allowed_origin)).await
}

async fn post_from(body: &Value, origin: Option<&str>) -> reqwest::Response {
    let mut req = http().post(url("/api/paymentsv2")).json(body);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    req.send().await.unwrap()
}

fn error_keys(body: &Value) -> Vec<String> {
    body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn json_as_in_the_document_stores_an_encrypted_card() {
    let customer = customer().await;
    let resp = post(&sample(customer, "4242424242424242")).await;
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        tenant_a().allowed_origin.as_str()
    );
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    let expected = json!({
        "maskedCardNumber": "************4242", "cardType": "Visa", "expirationMonth": 2,
        "expirationYear": 30, "customerId": customer, "firstName": "Karen", "lastName": "Wood",
        "address1": "10 Dodge St", "address2": "Unit B", "countryId": 124, "country": "CAN",
        "stateId": 1, "state": "Alberta", "city": "Columbia", "postalZip": "V9V 9V9",
        "isDefault": true, "externalCustomerId": null, "externalCardId": null,
        "storedInFusebillVault": true, "email": null, "originalPaymentMethodId": null,
        "uri": null
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&pm[k], v, "{k}: {pm}");
    }
    assert!(pm["id"].as_u64().is_some());
    assert!(pm["modifiedDate"].as_str().unwrap().ends_with('Z'));
    assert!(pm.get("paymentCollection").is_none());
}

#[tokio::test]
async fn form_posts_with_any_case_and_a_dotted_collection_amount() {
    let customer = customer().await;
    let t = tenant_a();
    // The document's jQuery page posts exactly this shape.
    let form = format!(
        "CustomerId={customer}&PublicApiKey={}&CardNumber=5555555555554444&FirstName=Karen\
         &LastName=Wood&ExpirationMonth=12&ExpirationYear=30&Cvv=123&Address1=10+Dodge+St\
         &Address2=Unit+B&City=Columbia&CountryId=124&StateId=1&PostalZip=V9C9V9\
         &MakeDefault=true&Recaptcha={PASS}&PaymentCollectOptions.collectionAmount=0.50",
        t.public_api_key
    );
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &t.allowed_origin)
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(form)
        .send()
        .await
        .unwrap();
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["cardType"], "MasterCard");
    assert_eq!(pm["isDefault"], true);
    assert_eq!(pm["paymentCollection"]["status"], "Succeeded", "{pm}");
    assert_eq!(pm["paymentCollection"]["amount"], "0.50");
    assert!(pm["paymentCollection"]["paymentIntentId"]
        .as_str()
        .unwrap()
        .starts_with("pi_"));
}

#[tokio::test]
async fn query_string_parameters_as_in_the_documents_sample_request() {
    let customer = customer().await;
    let t = tenant_a();
    let query = format!(
        "?CustomerId={customer}&PublicApiKey={}&CardNumber=2223003122003222&FirstName=Karen\
         &LastName=Wood&ExpirationMonth=12&ExpirationYear=30&Cvv=012&CountryId=840\
         &MakeDefault=true&Recaptcha={PASS}",
        t.public_api_key
    );
    let resp = http()
        .post(url(&format!("/api/paymentsv2/{query}")))
        .header("Origin", &t.allowed_origin)
        .send()
        .await
        .unwrap();
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["cardType"], "MasterCard", "a 2-series MasterCard");
    assert_eq!(pm["maskedCardNumber"], "************3222");
    assert_eq!(pm["country"], "USA");
}

#[tokio::test]
async fn every_validation_rule_names_its_field() {
    let customer = customer().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"cardNumber": "4242424242424241"}), "cardNumber"),
        (json!({"cardNumber": "424242424242424"}), "cardNumber"),
        (json!({"cardNumber": "1234567812345670"}), "cardNumber"),
        (json!({"cardNumber": "4242abcd42424242"}), "cardNumber"),
        (json!({"expirationMonth": 13}), "expirationMonth"),
        (json!({"expirationMonth": 0}), "expirationMonth"),
        (json!({"expirationYear": 20}), "expirationYear"),
        (json!({"expirationMonth": "x"}), "expirationMonth"),
        (json!({"cvv": "12"}), "cvv"),
        (json!({"cvv": "1234"}), "cvv"),
        (json!({"cvv": 123}), "cvv"),
        (
            json!({"cardNumber": "378282246310005", "cvv": "123"}),
            "cvv",
        ),
        (json!({"firstName": ""}), "firstName"),
        (json!({"lastName": null}), "lastName"),
        (json!({"address1": "x".repeat(51)}), "address1"),
        (json!({"address2": "x".repeat(51)}), "address2"),
        (json!({"city": "x".repeat(51)}), "city"),
        (json!({"postalZip": "x".repeat(11)}), "postalZip"),
        (json!({"countryId": null, "stateId": 1}), "stateId"),
        (json!({"countryId": 840, "stateId": 1}), "stateId"),
        (json!({"countryId": 999}), "countryId"),
        (json!({"makeDefault": "maybe"}), "makeDefault"),
        (
            json!({"paymentCollectOptions": {"collectionAmount": -1}}),
            "paymentCollectOptions.collectionAmount",
        ),
        (
            json!({"paymentCollectOptions": {"collectionAmount": "0.001"}}),
            "paymentCollectOptions.collectionAmount",
        ),
    ];
    for (change, field) in cases {
        let mut body = sample(customer, "4242424242424242");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        body["recaptcha"] = json!(format!("{PASS}#{}", rand_suffix()));
        let (status, err) = json(post(&body).await).await;
        fusebill_error(status, &err, 400);
        assert!(
            error_keys(&err).contains(&field.to_owned()),
            "{change}: {err}"
        );
        let text = err.to_string();
        assert!(!text.contains("4242424242424241") && !text.contains("378282246310005"));
    }
    assert_eq!(payment_method_count(customer).await, 0, "nothing stored");

    // Several failures come back together.
    let mut body = sample(customer, "4242424242424241");
    body["cvv"] = json!("1");
    body["firstName"] = json!("");
    let (status, err) = json(post(&body).await).await;
    fusebill_error(status, &err, 400);
    let keys = error_keys(&err);
    for f in ["cardNumber", "cvv", "firstName"] {
        assert!(keys.contains(&f.to_owned()), "{err}");
    }
}

fn rand_suffix() -> String {
    format!("{:?}", std::time::SystemTime::now())
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// A tenant like demo-a that requires the AVS and risk fields.
async fn strict_tenant() -> (String, String) {
    let t = redirect_tenant(
        "strict",
        &[&[
            "set-redirect-settings",
            "--require-avs",
            "--require-risk-fields",
        ]],
    );
    (t.private_api_key, t.public_api_key)
}

#[tokio::test]
async fn avs_and_risk_fields_are_required_when_the_tenant_requires_them() {
    let (key, public) = strict_tenant().await;
    let customer = create_customer(&key, json!({})).await;
    let body = json!({
        "customerId": customer, "publicApiKey": public, "cardNumber": "4242424242424242",
        "firstName": "K", "lastName": "W", "expirationMonth": 12, "expirationYear": 30,
        "cvv": "123", "recaptcha": PASS
    });
    let (status, err) = json(post(&body).await).await;
    fusebill_error(status, &err, 400);
    let keys = error_keys(&err);
    for f in [
        "address1",
        "city",
        "postalZip",
        "countryId",
        "clientIp",
        "riskToken",
    ] {
        assert!(keys.contains(&f.to_owned()), "{f}: {err}");
    }
    let mut full = body.clone();
    for (k, v) in [
        ("address1", json!("1 Main St")),
        ("city", json!("Calgary")),
        ("postalZip", json!("T2P 1J9")),
        ("countryId", json!(124)),
        ("stateId", json!(1)),
        ("clientIp", json!("203.0.113.7")),
        ("riskToken", json!("rt_123")),
    ] {
        full[k] = v;
    }
    let (status, pm) = json(post(&full).await).await;
    assert_eq!(status, 200, "{pm}");
}

#[tokio::test]
async fn recaptcha_is_verified_server_side() {
    let customer = customer().await;
    let cases = [
        (json!(null), "required"),
        // Unique per run: the stand-in, as Google, answers a token seen before as a duplicate.
        (
            json!(format!("not-a-real-token-{}", rand_suffix())),
            "not valid",
        ),
        (json!(format!("{PASS}@evil.example")), "does not allow"),
    ];
    for (token, words) in cases {
        let mut body = sample(customer, "4242424242424242");
        body["recaptcha"] = token;
        let (status, err) = json(post(&body).await).await;
        assert!(fusebill_error(status, &err, 400).contains(words), "{err}");
    }
    // A single-use token works once; the second time it is reused.
    let once = format!("{PASS}#{}", rand_suffix());
    let mut body = sample(customer, "4242424242424242");
    body["recaptcha"] = json!(once);
    let (status, _) = json(post(&body).await).await;
    assert_eq!(status, 200);
    body["cardNumber"] = json!("5555555555554444");
    let (status, err) = json(post(&body).await).await;
    assert!(
        fusebill_error(status, &err, 400).contains("already used"),
        "{err}"
    );
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn siteverify_down_is_503() {
    // app_with_stripe points siteverify at a closed port.
    let app = app_with_stripe("http://127.0.0.1:9").await;
    let tenant = app
        .vault
        .tenant_by_public_key(&tenant_a().public_api_key)
        .await
        .unwrap()
        .unwrap();
    let err = app
        .vault
        .verify_human(&tenant, Some(PASS), None)
        .await
        .unwrap_err();
    let resp = cardvault::dialect::fusebill::render_error(&err);
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn cors_preflight_and_origins() {
    let preflight = |origin: &'static str| async move {
        http()
            .request(Method::OPTIONS, url("/api/paymentsv2"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap()
    };
    let allowed = preflight("http://localhost:3000").await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let denied = preflight("https://evil.example").await;
    assert_eq!(denied.status(), 403);
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // demo-b's origin is allowed for demo-b, not for demo-a's key: 403, readable by demo-b's
    // page since the origin is on a tenant's list. An origin on no list: 403, unreadable.
    let customer = customer().await;
    let b = tenant_b().allowed_origin.as_str();
    for (origin, cors) in [(b, Some(b)), ("https://evil.example", None)] {
        let resp = post_from(&sample(customer, "4242424242424242"), Some(origin)).await;
        assert_eq!(allow_origin(&resp).as_deref(), cors, "{origin}");
        let (status, err) = json(resp).await;
        fusebill_error(status, &err, 403);
    }
    assert_eq!(payment_method_count(customer).await, 0);
}

fn allow_origin(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn no_origin_is_a_call_from_a_server_and_passes_on_to_the_other_checks() {
    let customer = customer().await;
    let resp = post_from(&sample(customer, "4242424242424242"), None).await;
    assert_eq!(allow_origin(&resp), None);
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(payment_method_count(customer).await, 1);
    // The public key and reCAPTCHA still hold it.
    let mut body = sample(customer, "5555555555554444");
    body["recaptcha"] = json!(format!("not-a-real-token-{}", rand_suffix()));
    let (status, err) = json(post_from(&body, None).await).await;
    assert!(
        fusebill_error(status, &err, 400).contains("not valid"),
        "{err}"
    );
    body["PublicApiKey"] = json!("pk_unknown");
    let (status, err) = json(post_from(&body, None).await).await;
    fusebill_error(status, &err, 404);
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn every_answer_carries_cors_headers_for_a_listed_origin() {
    let a = tenant_a().allowed_origin.as_str();
    let customer = customer().await;
    let send = |body: String, content_type: &'static str, origin: &'static str| async move {
        http()
            .post(url("/api/paymentsv2/"))
            .header("Origin", origin)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let form = "application/x-www-form-urlencoded; charset=UTF-8";
    let key = &tenant_a().public_api_key;
    let cases: Vec<(String, &str, u16)> = vec![
        // The document's sample page as it loads: "your customer id here".
        (
            "CustomerId=your customer id here&PublicApiKey=your key here&CardNumber=4111111111111111".into(),
            form,
            400,
        ),
        (format!("PublicApiKey={key}&CardNumber=4111111111111111"), form, 400),
        (format!("CustomerId={customer}&CardNumber=4111111111111111"), form, 400),
        (format!("CustomerId={customer}&PublicApiKey=your key here"), form, 404),
        (format!("CustomerId={customer}&PublicApiKey={key}&x={}", "y".repeat(17_000)), form, 413),
        ("<card/>".into(), "application/xml", 415),
        (format!("CustomerId={customer}&PublicApiKey={key}&Recaptcha=nope"), form, 400),
    ];
    for (body, content_type, want) in cases {
        let resp = send(body.clone(), content_type, a).await;
        assert_eq!(
            allow_origin(&resp).as_deref(),
            Some(a),
            "{want}: {body:.80}"
        );
        assert_eq!(resp.headers()["vary"], "Origin");
        let (status, err) = json(resp).await;
        fusebill_error(status, &err, want);
        // The same from an origin no tenant lists: unreadable to its page, and refused (403)
        // once the tenant is known.
        let resp = send(body.clone(), content_type, "https://evil.example").await;
        assert_eq!(allow_origin(&resp), None, "{want}: {body:.80}");
        let past_the_key = body.contains(key.as_str()) && want == 400 && body.contains("Recaptcha");
        assert_eq!(resp.status(), if past_the_key { 403 } else { want });
    }
}

#[tokio::test]
async fn an_unknown_public_key_or_foreign_customer_is_404() {
    let foreign = create_customer(&tenant_b().private_api_key, json!({})).await;
    let mut body = sample(foreign, "4242424242424242");
    let (status, err) = json(post(&body).await).await;
    assert_eq!(
        fusebill_error(status, &err, 404),
        format!("Customer with id {foreign} not found.")
    );
    body["PublicApiKey"] = json!("pk_unknown");
    let (status, err) = json(post(&body).await).await;
    fusebill_error(status, &err, 404);
}

#[tokio::test]
async fn first_card_is_default_make_default_switches_and_duplicates_answer_the_first() {
    let customer = customer().await;
    let (status, first) = json(post(&sample(customer, "4242424242424242")).await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["isDefault"], true, "first card, makeDefault false");

    let (_, again) = json(post(&sample(customer, "4242 4242 4242 4242")).await).await;
    assert_eq!(again["id"], first["id"], "same card: the existing record");
    assert_eq!(payment_method_count(customer).await, 1);

    let mut second = sample(customer, "6011111111111117");
    second["makeDefault"] = json!(true);
    let (status, second) = json(post(&second).await).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["isDefault"], true);
    let (_, old) = json(
        call(
            Method::GET,
            &format!("/v1/paymentMethods/{}", first["id"]),
            &tenant_a().private_api_key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(old["isDefault"], false);
}

#[tokio::test]
async fn a_declined_card_stores_nothing() {
    let customer = customer().await;
    let (status, err) = json(post(&sample(customer, "4000000000000002")).await).await;
    let msg = fusebill_error(status, &err, 400);
    // One generic message for every decline (seed 002's own); Stripe's reason is logged only.
    assert_eq!(
        msg,
        "There was an error validating the payment method: Failed validation"
    );
    assert_eq!(payment_method_count(customer).await, 0);
}

#[tokio::test]
async fn a_failed_collection_keeps_the_card_and_counts_the_failure() {
    let customer = customer().await;
    let mut body = sample(customer, "4000000000000341");
    body["paymentCollectOptions"] = json!({"collectionAmount": 12.5});
    let (status, pm) = json(post(&body).await).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["paymentCollection"]["status"], "Failed", "{pm}");
    assert_eq!(pm["paymentCollection"]["amount"], "12.50");
    assert!(pm["paymentCollection"]["message"]
        .as_str()
        .unwrap()
        .contains("declined"));
    let item = payment_method_item(customer, pm["id"].as_u64().unwrap()).await;
    assert_eq!(item["failures"], json!(1));
    assert!(item["lastError"].as_str().unwrap().contains("declined"));
}

#[tokio::test]
async fn the_same_card_with_a_collection_is_charged_on_the_card_on_file() {
    let customer = customer().await;
    let (_, first) = json(post(&sample(customer, "5555555555554444")).await).await;
    let mut again = sample(customer, "5555555555554444");
    again["paymentCollectOptions"] = json!({"collectionAmount": "3.00"});
    let (status, pm) = json(post(&again).await).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["id"], first["id"], "no second card");
    assert_eq!(pm["paymentCollection"]["status"], "Succeeded", "{pm}");
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn deleting_a_vault_card_detaches_it_at_stripe() {
    let customer = customer().await;
    let (_, pm) = json(post(&sample(customer, "6011111111111117")).await).await;
    let id = pm["id"].as_u64().unwrap();
    let item = payment_method_item(customer, id).await;
    let (cus, card) = (
        item["stripe"]["customerId"].as_str().unwrap().to_owned(),
        item["stripe"]["sourceId"].as_str().unwrap().to_owned(),
    );
    let key = &tenant_a().private_api_key;
    let resp = call(
        Method::DELETE,
        &format!("/v1/paymentMethods/{id}/creditCard"),
        key,
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert!(
        !stripe_card_ids(&cus).await.contains(&card),
        "the card is gone from Stripe"
    );
}

/// Loopback origins are a development stack's only: the same binaries, told they are
/// production (`CARDVAULT_STAGE=prod`, the template's default), refuse `http://localhost`
/// for CORS (preflight and request) and a reCAPTCHA solved on `localhost`, while an https
/// origin the tenant lists still works. Told `dev`, as the local stack is, both work.
#[tokio::test]
async fn loopback_origins_are_honoured_only_by_a_development_stack() {
    use cardvault_tests::invoke::{http_event, once_at_trace_with};
    let https = format!("https://shop-{}.example", rand_suffix());
    let t = redirect_tenant("stage", &[]);
    admin(&[
        "set-origins",
        "--tenant",
        &t.id,
        "--origin",
        &tenant_a().allowed_origin,
        "--origin",
        &https,
    ]);
    let local = tenant_a().allowed_origin.clone();
    assert!(local.starts_with("http://localhost"), "{local}");
    let preflight = |origin: &str| {
        http_event(
            "add-credit-card-preflight",
            "text/plain",
            "",
            &[("origin", origin)],
        )
    };
    let add = |customer: u64, origin: &str, solved_on: &str| {
        let mut body = sample(customer, "4242424242424242");
        body["PublicApiKey"] = json!(t.public_api_key);
        body["recaptcha"] = json!(format!("{PASS}@{solved_on}"));
        http_event(
            "add-credit-card",
            "application/json",
            &body.to_string(),
            &[("origin", origin)],
        )
    };
    let status = |answer: &Value| answer["statusCode"].as_u64();
    for (stage, local_status) in [("prod", 403), ("dev", 204)] {
        let env = [("CARDVAULT_STAGE", stage)];
        let (answer, _) = once_at_trace_with(
            "add-credit-card-preflight",
            &preflight(&local),
            "Text",
            &env,
        )
        .await;
        assert_eq!(status(&answer), Some(local_status), "{stage}: {answer}");
        let (answer, _) = once_at_trace_with(
            "add-credit-card-preflight",
            &preflight(&https),
            "Text",
            &env,
        )
        .await;
        assert_eq!(status(&answer), Some(204), "{stage}: {answer}");
    }
    // The request itself: a localhost Origin is a 403 in production; an https one with a
    // reCAPTCHA solved on localhost is refused as solved elsewhere; both pass in dev.
    let host = https.trim_start_matches("https://").to_owned();
    for (stage, origin, solved_on, want) in [
        ("prod", local.as_str(), "localhost", 403),
        ("prod", https.as_str(), "localhost", 400),
        ("prod", https.as_str(), host.as_str(), 200),
        ("dev", local.as_str(), "localhost", 200),
        ("dev", https.as_str(), "localhost", 200),
    ] {
        let customer = create_customer(&t.private_api_key, json!({})).await;
        let (answer, _) = once_at_trace_with(
            "add-credit-card",
            &add(customer, origin, solved_on),
            "Text",
            &[("CARDVAULT_STAGE", stage)],
        )
        .await;
        assert_eq!(
            status(&answer),
            Some(want),
            "{stage} {origin} {solved_on}: {answer}"
        );
    }
}
