//! The request's deadline against a Stripe that holds its answer past it (wiremock in
//! place of localstripe; the vault in-process on the real test table and secrets, as in
//! `stripe_faults.rs`). The Stripe client runs with production's 3 s attempts and the
//! deadline with production's reserve: the deadline, not the retry policy, ends the chain.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use cardvault::dialect::fusebill::{self, redirect::Params};
use cardvault::domain::deadline::RESERVE;
use cardvault::domain::{CustomerId, CustomerRef, Deadline, ImportRequest, SourceRef, TenantId};
use cardvault::vault::StripeRoute;
use cardvault_tests::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BUDGET: Duration = Duration::from_secs(6);
const HELD: Duration = Duration::from_secs(20);

fn tenant() -> TenantId {
    TenantId::try_from(tenant_a().id.clone()).unwrap()
}

async fn app(stripe: &MockServer) -> cardvault::App {
    app_with_stripe_timeout(&stripe.uri(), Duration::from_secs(3)).await
}

/// The Fusebill answer to a vault error: (status, body).
fn rendered(e: &cardvault::Error) -> (u16, Value) {
    let resp = fusebill::render_error(e);
    let status = resp.status().as_u16();
    let body = serde_json::from_slice(resp.body().as_ref()).expect("a JSON envelope");
    (status, body)
}

/// Everything in the customer's partition but the customer itself: cards, duplicate
/// markers.
async fn beside_the_customer(customer: u64) -> Vec<String> {
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let out = client
        .query()
        .table_name(&stack().table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("CUST#{customer}")))
        .consistent_read(true)
        .send()
        .await
        .expect("query");
    out.items()
        .iter()
        .filter_map(|i| i.get("SK")?.as_s().ok().cloned())
        .filter(|sk| sk != "CUSTOMER")
        .collect()
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn an_attach_held_past_the_deadline_is_detached_503_and_nothing_written() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ok(json!({"id": "cus_Held"})))
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_methods"))
        .respond_with(ok(json!({"id": "pm_Held", "object": "payment_method",
            "card": {"last4": "4242", "brand": "visa", "exp_month": 12, "exp_year": 2030}})))
        .mount(&stripe)
        .await;
    // Stripe saves (attaches) the card, but its answer comes long after the deadline.
    Mock::given(method("POST"))
        .and(path("/v1/setup_intents"))
        .respond_with(
            ok(
                json!({"id": "seti_Held", "status": "succeeded", "payment_method": "pm_Held",
                      "customer": "cus_Held"}),
            )
            .set_delay(HELD),
        )
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_methods/pm_Held/detach"))
        .respond_with(ok(json!({"id": "pm_Held", "customer": null})))
        .expect(1)
        .mount(&stripe)
        .await;

    let app = app(&stripe).await;
    let customer = create_customer(&tenant_a().private_api_key, json!({})).await;
    let tenant = app.vault.tenant(&tenant()).await.expect("tenant A");
    let entry = Params::from_json(&json!({
        "cardNumber": "4242424242424242", "cvv": "123", "expirationMonth": 12,
        "expirationYear": 30, "firstName": "Karen", "lastName": "Wood",
        "address1": "10 Dodge St", "city": "Columbia", "countryId": 124, "stateId": 1,
        "postalZip": "V9V 9V9"
    }))
    .card_entry(&tenant, app.vault.today())
    .expect("a valid card");

    let started = Instant::now();
    let result = Deadline::after(BUDGET)
        .scope(
            app.vault
                .add_entered_card(&tenant, CustomerId::try_from(customer).unwrap(), entry),
        )
        .await;
    let took = started.elapsed();
    let Err(e) = result else {
        panic!("added, though Stripe never answered the attach")
    };

    let (status, body) = rendered(&e);
    assert_eq!(
        fusebill_error(status, &body, 503),
        "Stripe did not answer in time; nothing was stored. Try again."
    );
    // The attach got what the reserve left; the detach was sent within the reserve.
    assert!(took < BUDGET, "past the deadline: {took:?}");
    assert!(
        took >= BUDGET - RESERVE - Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(beside_the_customer(customer).await, Vec::<String>::new());
    stripe.verify().await;
}

#[tokio::test]
async fn an_import_held_past_the_deadline_is_503_after_one_attempt_and_nothing_written() {
    let stripe = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_Held/sources/card_HeldImport"))
        .respond_with(ok(json!({"object": "card", "id": "card_HeldImport"})).set_delay(HELD))
        .expect(1)
        .mount(&stripe)
        .await;
    let app = app(&stripe).await;
    let customer = create_customer(&tenant_a().private_api_key, json!({})).await;
    let req = ImportRequest {
        customer_id: CustomerId::try_from(customer).unwrap(),
        stripe_customer: CustomerRef::parse("cus_Held").unwrap(),
        source: SourceRef::parse("card_HeldImport").unwrap(),
    };

    // 4 s: one attempt of 1 s at most, then only the reserve is left.
    let started = Instant::now();
    let result = Deadline::after(Duration::from_secs(4))
        .scope(app.vault.import_card(&tenant(), StripeRoute::Connect, req))
        .await;
    let took = started.elapsed();
    let Err(e) = result else {
        panic!("imported, though Stripe never answered")
    };
    let (status, body) = rendered(&e);
    fusebill_error(status, &body, 503);
    assert!(
        took < Duration::from_secs(4) - RESERVE + Duration::from_millis(500),
        "{took:?}"
    );
    assert_eq!(payment_method_count(customer).await, 0);
    stripe.verify().await;
}

/// Each function's timeout in template.yaml (binary → seconds), and the Globals' one.
fn template_timeouts() -> (u64, Vec<(String, u64)>) {
    let (global, functions) = template_functions();
    let functions = functions.into_iter().map(|(b, t, _)| (b, t)).collect();
    (global, functions)
}

/// Each function of template.yaml: (binary, timeout, whether it has an HTTP route), and
/// the Globals' timeout.
fn template_functions() -> (u64, Vec<(String, u64, bool)>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    let (mut global, mut functions, mut binary) = (None, Vec::new(), None::<String>);
    for line in template.lines().map(str::trim) {
        if let Some(b) = line.strip_prefix("Binary:") {
            binary = Some(b.trim().to_owned());
            functions.push((b.trim().to_owned(), None, false));
        } else if let Some(t) = line.strip_prefix("Timeout:") {
            let seconds: u64 = t.split('#').next().unwrap().trim().parse().unwrap();
            match (&binary, functions.last_mut()) {
                (None, _) => global = Some(seconds),
                (Some(_), Some((_, timeout, _))) => *timeout = Some(seconds),
                _ => unreachable!(),
            }
        } else if line.starts_with("Type: HttpApi") {
            if let Some((_, _, routed)) = functions.last_mut() {
                *routed = true;
            }
        }
    }
    let global = global.expect("a Globals timeout");
    let functions = functions
        .into_iter()
        .map(|(b, t, routed)| (b, t.unwrap_or(global), routed))
        .collect();
    (global, functions)
}

/// The README's table of timeouts: (function names, or "every other function"; seconds).
fn readme_timeouts() -> Vec<(Vec<String>, u64)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let section = readme
        .split("**Function timeouts**")
        .nth(1)
        .expect("the README's timeouts");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| function |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let names = cells[1]
                .split(", ")
                .map(|n| n.trim_matches('`').to_owned())
                .collect();
            let seconds = cells[3].trim_end_matches(" s").parse().unwrap();
            (names, seconds)
        })
        .collect()
}

#[test]
fn the_readme_gives_each_functions_timeout_as_the_template_sets_it_all_under_30_s() {
    let (global, functions) = template_timeouts();
    let documented = readme_timeouts();
    assert!(documented.len() > 1);
    let mut named = Vec::new();
    for (names, seconds) in &documented {
        if names == &["every other function"] {
            assert_eq!(*seconds, global);
            continue;
        }
        for name in names {
            let set = functions.iter().find(|(b, _)| b == name);
            assert_eq!(set.map(|(_, t)| *t), Some(*seconds), "{name}");
            named.push(name.clone());
        }
    }
    let (_, routed) = template_functions();
    for (binary, timeout) in &functions {
        // A function with no route (an operator's batch, invoked directly) is bound by
        // Lambda's 15 minutes alone.
        let has_route = routed.iter().any(|(b, _, r)| b == binary && *r);
        let limit = if has_route { 30 } else { 15 * 60 };
        assert!(*timeout < limit, "{binary}: {timeout} s is past {limit} s");
        if !named.contains(binary) {
            assert_eq!(*timeout, global, "{binary} is not in the README's table");
        }
    }
    // A function with a Stripe call keeps the reserve and one 3 s attempt at least.
    for name in &named {
        let (_, t) = functions.iter().find(|(b, _)| b == name).unwrap();
        assert!(
            Duration::from_secs(*t) >= RESERVE + Duration::from_secs(5),
            "{name}"
        );
    }
}
