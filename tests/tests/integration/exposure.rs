//! Where card data must never go, end to end: not into the table or an index, not into any
//! log at any level; and which browser origins may still call the redirect.
//!
//! Each exposure scan sends card numbers and a CVV of its own (`cardvault_tests::leaks`) down
//! every path of a function that receives card data (success, decline, validation
//! failure), through the stack's fleet and as a process of its own at `RUST_LOG=trace`,
//! waits for each invocation's own request id in the logs, then searches the table, every
//! index and every log for any run of 12 of a PAN's digits and for the CVV.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use cardvault_tests::invoke::{http_event, once_at_trace, once_at_trace_with};
use cardvault_tests::leaks::{
    fresh_luhn_invalid, fresh_pan, run_dir, stack_logs, stored_values, CardData,
};
use cardvault_tests::*;
use rand::random;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";

fn unique() -> String {
    format!("{:?}", std::time::SystemTime::now())
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The redirect's JSON body for a card of tenant A's `customer`.
fn card_body(customer: u64, pan: &str, cvv: &str) -> Value {
    json!({
        "customerId": customer, "publicApiKey": tenant_a().public_api_key,
        "cardNumber": pan, "cvv": cvv, "expirationMonth": 12, "expirationYear": 30,
        "firstName": "Karen", "lastName": "Wood", "recaptcha": PASS
    })
}

async fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws().await)
}

/// GSI1 projects only what its queries read: after redirect cards (with an encrypted PAN
/// and a fingerprint on their items), no index item holds an encrypted PAN, a data key or a
/// fingerprint, while the index does hold those cards.
#[tokio::test]
async fn no_index_holds_an_encrypted_pan_a_data_key_or_a_fingerprint() {
    let customer = create_customer(&tenant_a().private_api_key, json!({})).await;
    let mut ids = Vec::new();
    for pan in ["4242424242424242", "5555555555554444"] {
        let resp = http()
            .post(url("/api/paymentsv2"))
            .json(&card_body(customer, pan, "123"))
            .send()
            .await
            .unwrap();
        let (status, pm) = json(resp).await;
        assert_eq!(status, 200, "{pm}");
        ids.push(pm["id"].as_u64().unwrap());
    }
    // The cards' audit events reach AuditByCustomer once chained (off the request path).
    audit_listed(&tenant_a().private_api_key, customer, 3).await;
    let client = dynamo().await;
    // The table's own items do carry the card data the index must leave out.
    let item = client
        .get_item()
        .table_name(&stack().table)
        .key("PK", AttributeValue::S(format!("CUST#{customer}")))
        .key("SK", AttributeValue::S(format!("PM#{}", ids[0])))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(item.contains_key("encryptedPan") && item.contains_key("fingerprint"));

    let table = client
        .describe_table()
        .table_name(&stack().table)
        .send()
        .await
        .unwrap();
    let indexes: Vec<String> = table
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    assert!(!indexes.is_empty());
    for index in indexes {
        let items = client
            .scan()
            .table_name(&stack().table)
            .index_name(&index)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        for item in &items {
            for name in item.keys() {
                let lower = name.to_ascii_lowercase();
                assert!(
                    !["encrypted", "fingerprint", "datakey", "ciphertext", "nonce"]
                        .iter()
                        .any(|w| lower.contains(w))
                        && lower != "pan",
                    "{index} holds {name}"
                );
            }
        }
        // Each index holds what it is for, so the scan above read real entries: GSI1 the
        // cards by id, AuditByCustomer the cards' audit events, StripeRefs the cards by
        // their Stripe ids, with their keys alone.
        for id in &ids {
            if index == "StripeRefs" {
                let sk = AttributeValue::S(format!("PM#{id}"));
                let entry = items.iter().find(|i| i.get("SK") == Some(&sk));
                let entry = entry.unwrap_or_else(|| panic!("{index} lacks card {id}"));
                let mut names: Vec<&str> = entry.keys().map(String::as_str).collect();
                names.sort_unstable();
                assert_eq!(names, ["PK", "SK", "STRIPEPK", "STRIPESK"], "{index}");
                continue;
            }
            let entry = match index.as_str() {
                "AuditByCustomer" => {
                    let pm = AttributeValue::N(id.to_string());
                    items.iter().find(|i| i.get("paymentMethodId") == Some(&pm))
                }
                _ => {
                    let pk = AttributeValue::S(format!("PM#{id}"));
                    items.iter().find(|i| i.get("GSI1PK") == Some(&pk))
                }
            };
            let entry = entry.unwrap_or_else(|| panic!("{index} lacks card {id}"));
            assert!(entry.contains_key("tenantId") && entry.contains_key("customerId"));
        }
    }
}

/// The preflight for `origin`: its status and `Access-Control-Allow-Origin`.
async fn preflight(origin: &str) -> (u16, Option<String>) {
    let resp = http()
        .request(reqwest::Method::OPTIONS, url("/api/paymentsv2"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    let allow = resp
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), allow)
}

/// An http origin stored before https was required (`set-origins` now refuses it) is no
/// longer honoured: its preflight and its POSTs are refused, with no CORS header, while the
/// same tenant's https origin still works; `show-tenant` lists it as ignored.
#[tokio::test]
async fn an_http_origin_stored_before_https_was_required_is_no_longer_honoured() {
    use cardvault_core::ports::TenantStore;
    let id = format!("legacy-{}", &unique()[..10]);
    let (http_origin, https_origin) = (
        format!("http://{id}.example"),
        format!("https://{id}.example"),
    );
    admin(&["create-tenant", "--id", &id, "--name", "Legacy"]);
    let public = admin(&["set-public-key", "--tenant", &id])["publicApiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = std::process::Command::new(
        env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin",
    )
    .args(["--table", &stack().table, "set-origins", "--tenant", &id])
    .args(["--origin", &http_origin])
    .output()
    .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"));

    // Written as an older cardvault-admin did: straight through the store.
    let store = cardvault_aws::store::Store::new(dynamo().await, &stack().table);
    let tid = cardvault::domain::TenantId::try_from(id.clone()).unwrap();
    let old = store.get_tenant(&tid).await.unwrap().unwrap();
    let mut legacy = old.clone();
    legacy.allowed_origins = vec![http_origin.clone(), https_origin.clone()];
    store.save_tenant(&legacy, &old).await.unwrap();

    assert_eq!(
        preflight(&https_origin).await,
        (204, Some(https_origin.clone()))
    );
    assert_eq!(preflight(&http_origin).await, (403, None));
    let body = json!({"customerId": 1_000_001, "publicApiKey": public, "recaptcha": PASS});
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &http_origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let (status, err) = json(resp).await;
    fusebill_error(status, &err, 403);

    let shown = admin(&["show-tenant", "--tenant", &id]);
    assert_eq!(shown["ignoredOrigins"], json!([http_origin]));
}

// --- card data exposure scans ----------------------------------------------------------
//
// The functions that receive card data, and so run here on their success, decline and
// validation-failure paths:
//   * add-credit-card: the PAN and CVV from the cardholder's browser (JSON or form);
//   * card-create: the PAN in `number` (kept as its last four) beside a Stripe token;
//   * create-stripe-customer: a Stripe token, or a PAN a client puts where the token goes;
//   * rehome-cards: no card data in its event, but it opens stored PANs and sends them on.
// The others take ids, Stripe ids or Stripe's own card objects (last four only), never a
// number or a CVV.

/// localstripe (as infra/stack.sh runs it) declines a card of this holder, whatever its
/// number: a decline of a card number of the scan's own.
const DECLINED: &str = "Declined Cardholder";

/// [`DECLINED`] as first and last names.
fn declined_names() -> (&'static str, &'static str) {
    DECLINED.split_once(' ').unwrap()
}

/// How a scan runs a function.
#[derive(Clone, Copy, Debug)]
enum Run {
    /// By the stack's fleet, at the stack's log level, its output in `lambda.log`.
    Fleet,
    /// As a process of its own with `RUST_LOG=trace`, in Lambda's text or JSON log format.
    Trace(&'static str),
}

/// Every path runs all three ways.
const RUNS: [Run; 3] = [Run::Fleet, Run::Trace("Text"), Run::Trace("JSON")];

/// One scan: the card data it sends, the tenants it touched, what its runs at trace wrote,
/// and its answers.
struct Scan {
    data: CardData,
    tenants: Vec<String>,
    traced: Vec<(String, String)>,
    answers: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Scan {
    /// A scan of `pans`, with a CVV found in none of `fields` (the requests' other values)
    /// nor, in any shape the search looks for, in the stack's logs or the table so far.
    /// `tenants`: every tenant whose data the scan writes (their audit events are waited for
    /// before the search).
    async fn new(pans: &[&str], fields: &[&str], tenants: &[&str]) -> Self {
        let seen: Vec<String> = stack_logs().into_iter().map(|(_, text)| text).collect();
        let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
        let pans = pans.iter().map(|p| (*p).to_owned()).collect();
        Self {
            data: CardData::new(pans, fields, &seen, &stored_values().await),
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            traced: Vec::new(),
            answers: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn cvv(&self) -> &str {
        &self.data.cvv
    }

    /// Runs `function` on `path` every way ([`RUNS`]), each on a fresh event from `event`:
    /// the answers. `logs_at_info`: the path writes a line of its own at `info` (a decline
    /// does), so the fleet's log must show that line too, by its request id.
    async fn each_way<F, Fut>(
        &mut self,
        function: &str,
        path: &str,
        logs_at_info: bool,
        mut event: F,
    ) -> Vec<Value>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let mut answers = Vec::new();
        for run in RUNS {
            let event = event().await;
            let answer = match run {
                Run::Fleet => in_fleet(function, &event, logs_at_info).await,
                Run::Trace(format) => {
                    let (answer, logs) = once_at_trace(function, &event, format).await;
                    self.traced
                        .push((format!("{function} at trace ({format}), {path}"), logs));
                    answer
                }
            };
            // What the caller gets back is searched too: card data is never answered. Its
            // headers for PANs only: numbers such as a CORS max-age are quoted there.
            let place = format!("{function}'s answer ({run:?}), {path}");
            let mut rest = answer.clone();
            let headers = ["headers", "multiValueHeaders"]
                .map(|h| rest.as_object_mut().and_then(|a| a.remove(h)));
            self.headers
                .push((format!("{place}, headers"), json!(headers).to_string()));
            self.answers.push((place, rest.to_string()));
            answers.push(answer);
        }
        answers
    }

    /// [`Self::each_way`] for an HTTP function: every answer has `status`; their bodies.
    async fn http<F, Fut>(
        &mut self,
        function: &str,
        path: &str,
        logs_at_info: bool,
        status: u64,
        event: F,
    ) -> Vec<String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let answers = self.each_way(function, path, logs_at_info, event).await;
        answers
            .iter()
            .map(|answer| {
                assert_eq!(answer["statusCode"], status, "{function}, {path}: {answer}");
                answer["body"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// The one search, once every path has run and the audit chainer has numbered every
    /// event of the scan's tenants (what it writes is searched too): the table, each of its
    /// indexes, every log of the stack, everything the runs at trace wrote and every answer
    /// hold none of the card data.
    async fn assert_nowhere(&self) {
        assert!(
            !self.tenants.is_empty(),
            "a scan names the tenants it touched"
        );
        for tenant in &self.tenants {
            let settled = audit_settled(tenant);
            assert_eq!(
                settled["pending"], 0,
                "{tenant}'s events left unchained: {settled}"
            );
        }
        let mut found = self.data.findings_in_table().await;
        let logs = stack_logs();
        let mut bytes = 0;
        for (place, text) in logs.iter().chain(&self.traced).chain(&self.answers) {
            bytes += text.len();
            found.extend(self.data.findings_in(place, text));
        }
        let pans = CardData {
            cvv: String::new(),
            ..self.data.clone()
        };
        for (place, text) in &self.headers {
            found.extend(pans.findings_in(place, text));
        }
        assert!(
            found.is_empty(),
            "card data {:?} found:\n{}",
            self.data,
            found.join("\n")
        );
        eprintln!(
            "{} PANs and CVV {} found nowhere: the table, its indexes, {} stack logs, {} runs at \
             trace and {} answers ({bytes} bytes)",
            self.data.pans.len(),
            self.data.cvv,
            logs.len(),
            self.traced.len(),
            self.answers.len()
        );
    }
}

/// The transparent redirect on its four paths (a card added, a card declined, a number
/// that fails the Luhn check, a card number and CVV in the URL), each run every way: the
/// card data is nowhere, and the runs at trace log no API key either.
#[tokio::test]
async fn card_data_sent_to_the_redirect_is_nowhere() {
    let t = redirect_tenant("exposure", &[]);
    // A card added: each run a number and a customer of its own, so each run stores a new
    // card (seals the PAN, writes it encrypted) rather than meet the one on file.
    let added: Vec<String> = RUNS.iter().map(|_| fresh_pan()).collect();
    let (declined, invalid, in_url) = (fresh_pan(), fresh_luhn_invalid(), fresh_pan());
    let mut customers = Vec::new();
    for _ in 0..RUNS.len() + 3 {
        customers.push(create_customer(&t.private_api_key, json!({})).await);
    }
    let ids: Vec<String> = customers.iter().map(u64::to_string).collect();
    let mut fields: Vec<&str> = ids.iter().map(String::as_str).collect();
    fields.extend(["2030", &t.public_api_key, &t.private_api_key]);
    let mut pans: Vec<&str> = added.iter().map(String::as_str).collect();
    pans.extend([declined.as_str(), &invalid, &in_url]);
    let mut scan = Scan::new(&pans, &fields, &[&t.id]).await;
    let cvv = scan.cvv().to_owned();
    let (added_for, others) = customers.split_at(RUNS.len());

    const F: &str = "add-credit-card";
    // A header the redirect ignores, so a logged event would show the private key too.
    let authorization = format!("Basic {}", t.private_api_key);
    let headers = [
        ("origin", tenant_a().allowed_origin.as_str()),
        ("authorization", authorization.as_str()),
    ];
    let event = |customer: u64, pan: &str| {
        let body = json!({
            "customerId": customer, "publicApiKey": t.public_api_key,
            "cardNumber": pan, "cvv": cvv, "expirationMonth": 12, "expirationYear": 30,
            "firstName": "Karen", "lastName": "Wood", "recaptcha": PASS
        });
        http_event(F, "application/json", &body.to_string(), &headers)
    };

    let mut runs = added_for.iter().zip(&added);
    let bodies = scan
        .http(F, "card added", false, 200, || {
            let (customer, pan) = runs.next().expect("one card per run");
            let e = event(*customer, pan);
            async move { e }
        })
        .await;
    // Each run stored a card of its own, its PAN sealed: none was already on file.
    for (body, customer) in bodies.iter().zip(added_for) {
        let pm: Value = serde_json::from_str(body).unwrap();
        let item = payment_method_item(*customer, pm["id"].as_u64().unwrap()).await;
        assert!(item.get("encryptedPan").is_some(), "{item}");
    }
    // Form-encoded, as a browser posts it: a logged body would show `Cvv=…`.
    let form = format!(
        "CustomerId={}&PublicApiKey={}&CardNumber={declined}&Cvv={cvv}&ExpirationMonth=12\
         &ExpirationYear=30&FirstName={}&LastName={}&Recaptcha={PASS}",
        others[0],
        t.public_api_key,
        declined_names().0,
        declined_names().1
    );
    let form_type = "application/x-www-form-urlencoded";
    for body in scan
        .http(F, "card declined", true, 400, || async {
            http_event(F, form_type, &form, &headers)
        })
        .await
    {
        assert!(body.contains("Failed validation"), "{body}");
    }
    for body in scan
        .http(F, "Luhn-invalid number", false, 400, || async {
            event(others[1], &invalid)
        })
        .await
    {
        assert!(body.contains("cardNumber"), "{body}");
    }
    scan.http(F, "card data in the URL", false, 400, || async {
        let mut e = event(others[2], "");
        e["rawQueryString"] = json!(format!("cardNumber={in_url}&cvv={cvv}"));
        e["queryStringParameters"] = json!({"cardNumber": in_url, "cvv": cvv});
        e
    })
    .await;

    scan.assert_nowhere().await;
    for (run, logs) in &scan.traced {
        for (what, key) in [
            ("public", &t.public_api_key),
            ("private", &t.private_api_key),
        ] {
            assert!(
                !logs.contains(key.as_str()),
                "{run}: the {what} API key is in the logs:\n{logs}"
            );
        }
    }
}

/// `POST /card/create` on its three paths (a card added, a card declined at Stripe, a
/// field that fails validation), each run every way: the number its body carries beside
/// the token is nowhere.
#[tokio::test]
async fn card_data_sent_to_card_create_is_nowhere() {
    let tenant = billing::fresh_tenant();
    // A card added: each run a number and a billing account of its own.
    let added: Vec<String> = RUNS.iter().map(|_| fresh_pan()).collect();
    let (declined, invalid) = (fresh_pan(), fresh_luhn_invalid());
    let mut pans: Vec<&str> = added.iter().map(String::as_str).collect();
    pans.extend([declined.as_str(), &invalid]);
    let mut scan = Scan::new(&pans, &["2031"], &[&tenant]).await;
    let cvv = scan.cvv().to_owned();
    const F: &str = "card-create";
    // Each run a token of its own (of `pan`, held by `holder`), as Stripe.js makes one for
    // each entry, beside the number the body carries, for a billing account of its own.
    let event = |pan: &str, number: &str, month: &str, holder: &'static str| {
        let (pan, cvv) = (pan.to_owned(), cvv.clone());
        let bearer = format!("Bearer {}", billing::owner(&tenant, &billing::account()));
        let body = json!({"current": true, "name": "Exposure Visa", "number": number,
                          "month": month, "year": "2031"});
        async move {
            let mut body = body;
            body["stripeToken"] = json!(stripe_token_of(&pan, &cvv, holder).await);
            http_event(
                F,
                "application/json",
                &body.to_string(),
                &[("authorization", &bearer)],
            )
        }
    };
    let mut runs = added.iter();
    scan.http(F, "card added", false, 200, || {
        let pan = runs.next().expect("one number per run");
        event(pan, pan, "8", "Karen Wood")
    })
    .await;
    // Each 400 says which path ran: Stripe's decline, and the month that failed validation.
    for body in scan
        .http(F, "card declined", true, 400, || {
            event(&declined, &declined, "8", DECLINED)
        })
        .await
    {
        // Stripe's decline at the attach, reported on the token's field.
        let body: Value = serde_json::from_str(&body).unwrap();
        let field = body["fields"]["stripeToken"].as_str().unwrap_or_default();
        assert!(field.contains("The card was declined."), "{body}");
    }
    for body in scan
        .http(F, "month 13", false, 400, || {
            event(&added[0], &invalid, "13", "Karen Wood")
        })
        .await
    {
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "Validation", "{body}");
        assert!(body["fields"].get("month").is_some(), "{body}");
    }
    scan.assert_nowhere().await;
}

/// `POST /payments/stripe/customers` on its three paths (a token of a card, of a card
/// Stripe declines, and a card number and CVV where the token belongs), each run every
/// way, a new user each time: the card data is nowhere.
#[tokio::test]
async fn card_data_sent_to_create_stripe_customer_is_nowhere() {
    let tenant = billing::fresh_tenant();
    let (added, declined, misplaced) = (fresh_pan(), fresh_pan(), fresh_luhn_invalid());
    let mut scan = Scan::new(&[&added, &declined, &misplaced], &["2031"], &[&tenant]).await;
    let cvv = scan.cvv().to_owned();
    const F: &str = "create-stripe-customer";
    let event = |body: Value| {
        let bearer = format!("Bearer {}", user_token(&tenant, &fresh_user("exposure")));
        http_event(
            F,
            "application/json",
            &body.to_string(),
            &[("authorization", &bearer)],
        )
    };
    let token = |pan: &str, holder: &'static str| {
        let (pan, cvv) = (pan.to_owned(), cvv.clone());
        async move { event(json!({ "token": stripe_token_of(&pan, &cvv, holder).await })) }
    };
    scan.http(F, "card added", false, 200, || token(&added, "Karen Wood"))
        .await;
    // Each 400 says which path ran: Stripe's decline, and the token field refused.
    for body in scan
        .http(F, "card declined", true, 400, || token(&declined, DECLINED))
        .await
    {
        let body: Value = serde_json::from_str(&body).unwrap();
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("The card was declined."), "{body}");
    }
    for body in scan
        .http(F, "card data for a token", false, 400, || async {
            event(json!({"token": misplaced, "cardNumber": misplaced, "cvv": cvv}))
        })
        .await
    {
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "Validation", "{body}");
        assert!(body["attributes"].get("token").is_some(), "{body}");
    }
    scan.assert_nowhere().await;
}

/// The re-homing function, the one that opens stored PANs, on its three paths (cards
/// moved, a card the target account declines, a target that is no account), each run
/// every way: the numbers it opened are nowhere.
#[tokio::test]
async fn card_data_the_rehoming_opens_is_nowhere() {
    let (moved, declined) = (fresh_pan(), fresh_pan());
    // A tenant whose card moves, and one whose card the target declines (its holder renamed
    // behind the vault's back, after Stripe took the card).
    let made = [(); 2].map(|_| redirect_tenant("exposure-rehome", &[]));
    let ids = made.each_ref().map(|t| t.id.as_str());
    let mut scan = Scan::new(&[&moved, &declined], &["2031"], &ids).await;
    let cvv = scan.cvv().to_owned();
    let mut tenants = Vec::new();
    for (pan, t) in [&moved, &declined].into_iter().zip(&made) {
        let customer = create_customer(&t.private_api_key, json!({})).await;
        let pm = enter_card(&json!({
            "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
            "firstName": "Karen", "lastName": "Wood", "expirationMonth": 4,
            "expirationYear": 31, "cvv": cvv, "recaptcha": PASS,
        }))
        .await;
        tenants.push((t.id.clone(), customer, pm["id"].as_u64().unwrap()));
    }
    let (_, customer, pm) = &tenants[1];
    update_payment_method_item(
        *customer,
        *pm,
        "SET holder.firstName = :f, holder.lastName = :l",
        &[(":f", declined_names().0), (":l", declined_names().1)],
    )
    .await;
    const F: &str = "rehome-cards";
    // Each target registered for the tenant first (`connect-account`), as re-homing needs.
    let event = |tenant: &str, to: String| {
        let tenant = tenant.to_owned();
        async move {
            connect_account(&tenant, &to).await;
            signed_for(
                &[],
                json!({"tenant": tenant, "toAccount": to, "dryRun": false}),
            )
        }
    };
    let to = || format!("acct_1Exposure{:x}", random::<u64>());

    // How many cards a report lists as moved and as failed.
    let counts = |r: &Value| ["moved", "failed"].map(|k| r[k].as_array().map(Vec::len));
    for report in scan
        .each_way(F, "card moved", false, || event(&tenants[0].0, to()))
        .await
    {
        assert_eq!(counts(&report), [Some(1), Some(0)], "{report}");
    }
    for report in scan
        .each_way(F, "card declined", false, || event(&tenants[1].0, to()))
        .await
    {
        assert_eq!(counts(&report), [Some(0), Some(1)], "{report}");
    }
    for answer in scan
        .each_way(F, "no such account", true, || {
            let event = signed_for(
                &[],
                json!({"tenant": tenants[0].0, "toAccount": "not an account", "dryRun": false}),
            );
            async move { event }
        })
        .await
    {
        let message = answer["functionError"]["errorMessage"].as_str();
        assert!(
            message.is_some_and(|m| m.contains("\"not an account\" is not a Stripe account id")),
            "the target account refused: {answer}"
        );
    }
    scan.assert_nowhere().await;
}

/// One invocation by the stack's fleet (its Invoke API): the answer (a function error as
/// `{"functionError": …}`), once the fleet's log holds this very invocation ([`logged`]).
async fn in_fleet(function: &str, event: &Value, logs_at_info: bool) -> Value {
    let resp = http()
        .post(format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            stack().lambda_invoke_port
        ))
        .json(event)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let failed = resp.headers().contains_key("x-amz-function-error");
    let body: Value = resp.json().await.unwrap();
    logged(&id, logs_at_info).await;
    if failed {
        json!({ "functionError": body })
    } else {
        body
    }
}

/// Waits (at most 30 s) until the fleet's log holds invocation `request_id`: its `REPORT`
/// line and, with `own_line`, a line the function wrote inside it (the runtime's span
/// names the id). Lines of earlier requests say nothing about this one.
async fn logged(request_id: &str, own_line: bool) {
    let report = format!(" REPORT RequestId: {request_id}\t");
    let log = run_dir().join("lambda.log");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
        let own = || {
            text.lines()
                .any(|l| l.contains(request_id) && !l.contains(" RequestId: "))
        };
        if text.contains(&report) && (!own_line || own()) {
            break;
        }
        assert!(
            Instant::now() < until,
            "invocation {request_id}{} is not in {}",
            if own_line { " (a line of its own)" } else { "" },
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The fleet copies an instance's output in another task than the one that writes
    // REPORT: a line written just before the answer may land just after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The webhook function at trace: its output holds neither the endpoint's signing secret
/// nor the signature it checked.
#[tokio::test]
async fn a_webhook_at_trace_logs_no_signing_secret() {
    let hook = &stack().webhooks["tenants"]["demo-b"];
    let secret = hook["secret"].as_str().expect("demo-b's webhook secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = json!({"id": format!("evt_trace{}", unique().replace('-', "")), "object": "event",
        "type": "customer.source.updated", "created": now,
        "data": {"object": {"id": "card_unknown", "object": "card", "customer": "cus_unknown"}}})
    .to_string();
    let signature = stripe_signature(secret, now, &body);
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            env!("CARGO_MANIFEST_DIR").to_owned() + "/../events/stripe-webhook.json",
        )
        .unwrap(),
    )
    .unwrap();
    event["headers"]["stripe-signature"] = json!(signature);
    event["body"] = json!(body);

    let (response, logs) = once_at_trace("stripe-webhook", &event, "JSON").await;

    assert_eq!(response["statusCode"], 200, "{response}");
    let v1 = signature.split_once("v1=").unwrap().1;
    assert!(
        !logs.contains(secret),
        "the signing secret is in the logs:\n{logs}"
    );
    assert!(!logs.contains(v1), "the signature is in the logs:\n{logs}");
}

/// Each kind of secret a function reads, malformed several ways, each value holding a
/// marker of its own: the function at trace hits the malformed secret (its log says so) and
/// no part of the value is anywhere in what it wrote. serde's errors quote a value
/// (`invalid type: string "…"`), and a key ring's errors once named its ids.
#[tokio::test]
async fn a_malformed_secret_of_each_kind_is_never_in_the_logs() {
    let t = redirect_tenant("malformed", &[]);
    let owner = billing::owner(&billing::fresh_tenant(), &billing::account());
    billing::create(&owner, true).await;
    let user = user_token(&tenant_a().id, &fresh_user("malformed"));
    let good = base64_key();
    // (what, the function, its secret id variable, the log line that shows the secret was
    // read and refused, the values, the event)
    type Values = fn(&str, &str) -> Vec<String>;
    let rings: Values = |m, good| {
        vec![
            m.to_owned(),
            format!("\"{m}\""),
            format!("{{\"current\": \"{m}\", \"keys\": {{\"v1\": \"{good}\"}}}}"),
            format!("{{\"current\": \"v1\", \"keys\": {{\"v1\": \"{m}\"}}}}"),
            format!("{{\"current\": \"v1\", \"keys\": \"{m}\"}}"),
            format!("{{\"current\": \"{m}\", \"keys\": {{\"{m}\": \"{m}==\"}}}}"),
        ]
    };
    let webhook: Values = |m, _| {
        vec![
            format!("{{\"secrets\": \"{m}\"}}"),
            format!("{{\"secrets\": [5, {{\"{m}\": 1}}]}}"),
            format!("{{{m}"),
        ]
    };
    let plain: Values = |m, _| {
        vec![
            format!("sk_test_{m}\nX-Injected: {m}"),
            format!("{m}\r\n"),
            format!("\u{7}{m}"),
        ]
    };
    let short: Values = |m, _| vec![m[..12].to_owned(), format!(" {} ", &m[..10])];
    let pan = fresh_pan();
    let redirect = |customer: u64| {
        let body = json!({
            "customerId": customer, "publicApiKey": t.public_api_key, "cardNumber": pan,
            "cvv": "123", "expirationMonth": 12, "expirationYear": 30,
            "firstName": "Karen", "lastName": "Wood", "recaptcha": PASS
        });
        http_event(
            "add-credit-card",
            "application/json",
            &body.to_string(),
            &[("origin", tenant_a().allowed_origin.as_str())],
        )
    };
    let bearer = format!("Bearer {owner}");
    let mut find = http_event(
        "card-find",
        "application/json",
        "",
        &[("authorization", &bearer)],
    );
    find["rawQueryString"] = json!("next=e30.v1~00");
    find["queryStringParameters"] = json!({"next": "e30.v1~00"});
    let webhook_event = {
        let mut e: Value = serde_json::from_str(
            &std::fs::read_to_string(
                env!("CARGO_MANIFEST_DIR").to_owned() + "/../events/stripe-webhook.json",
            )
            .unwrap(),
        )
        .unwrap();
        // The platform endpoint, whose secret id the function's configuration names.
        for (at, value) in [
            ("/routeKey", "POST /v1/webhooks/stripe"),
            ("/rawPath", "/v1/webhooks/stripe"),
            ("/requestContext/http/path", "/v1/webhooks/stripe"),
            ("/requestContext/routeKey", "POST /v1/webhooks/stripe"),
        ] {
            *e.pointer_mut(at).unwrap() = json!(value);
        }
        e.as_object_mut().unwrap().remove("pathParameters");
        e["headers"]["stripe-signature"] = json!(format!("t=1,v1={}", "0".repeat(64)));
        e
    };
    let user_bearer = format!("Bearer {user}");
    let stripe_customer = json!({"token": stripe_token().await}).to_string();
    let hs256 = format!("Bearer {}", ready_token("hs256"));
    let kinds: Vec<(&str, &str, &str, &str, Values, Value)> = vec![
        (
            "fingerprint key ring",
            "add-credit-card",
            "FINGERPRINT_KEY_SECRET_ID",
            "vault keys",
            rings,
            redirect(create_customer(&t.private_api_key, json!({})).await),
        ),
        (
            "cursor key ring",
            "card-find",
            "CURSOR_KEY_SECRET_ID",
            "vault keys",
            rings,
            find,
        ),
        (
            "webhook signing secrets",
            "stripe-webhook",
            "STRIPE_WEBHOOK_SECRET_ID",
            "no signing secret",
            webhook,
            webhook_event,
        ),
        (
            "platform Stripe key",
            "create-stripe-customer",
            "STRIPE_PLATFORM_SECRET_ID",
            "Stripe is unavailable",
            plain,
            http_event(
                "create-stripe-customer",
                "application/json",
                &stripe_customer,
                &[("authorization", &user_bearer)],
            ),
        ),
        (
            "reCAPTCHA secret",
            "add-credit-card",
            "RECAPTCHA_SECRET_ID",
            "siteverify refused our reCAPTCHA secret",
            plain,
            redirect(create_customer(&t.private_api_key, json!({})).await),
        ),
        (
            "HS256 secret",
            "card-find",
            "JWT_HS256_SECRET_ID",
            "HS256",
            short,
            http_event(
                "card-find",
                "application/json",
                "",
                &[("authorization", &hs256)],
            ),
        ),
    ];
    // All at once: each run is a process of its own.
    let mut runs = tokio::task::JoinSet::new();
    for (what, function, variable, says, values, event) in kinds {
        for value in values(
            &format!("Mk{:016x}{:016x}", random::<u64>(), random::<u64>()),
            &good,
        ) {
            let id = format!("cardvault/test/malformed-{:x}", random::<u64>());
            admin(&["put-secret", "--id", &id, "--value", &value]);
            let event = event.clone();
            runs.spawn(async move {
                let mut env = vec![(variable, id.as_str())];
                if variable == "JWT_HS256_SECRET_ID" {
                    // Read only where no JWKS is configured.
                    env.push(("JWT_JWKS_URL", ""));
                }
                let (answer, logs) = once_at_trace_with(function, &event, "Text", &env).await;
                (what, value, says, answer, logs)
            });
        }
    }
    while let Some(run) = runs.join_next().await {
        let (what, value, says, answer, logs) = run.unwrap();
        assert!(
            logs.contains(says) || answer.to_string().contains(says),
            "{what} {value:?}: the run never read the secret ({answer}):\n{logs}"
        );
        let marker = value
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| w.starts_with("Mk"))
            .expect("a marker");
        for part in marker.as_bytes().windows(8) {
            let part = std::str::from_utf8(part).unwrap();
            assert!(
                !logs.contains(part),
                "{what} {value:?}: {part:?} is in the logs:\n{logs}"
            );
        }
    }
}

/// A key in the rings' format (32 random bytes, base64).
fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(random::<[u8; 32]>())
}
