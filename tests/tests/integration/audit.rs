//! The audit trail against the local stack: every listed action writes one event, which
//! the chainer (off the request path, from the table's stream) adds to its tenant's chain
//! (`cardvault-admin audit list`); the chain check finds an edited event, a deleted one, a
//! cut tail with its head rewound and a forged head (`audit verify`); a burst of writes for
//! one tenant from many instances at once keeps every event; no audit item holds a test
//! card number; and `GET /v1/customers/{id}/auditEvents` pages one customer's events
//! within its tenant.
//!
//! Each test makes a tenant of its own, so that its chain holds only its own events.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cardvault_tests::billing::{account, billing_token, card, create, owner};
use cardvault_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";
/// Every card number these tests send.
const PANS: &[&str] = &["4242424242424242", "5555555555554444", "4000000000000341"];

fn tenant(prefix: &str) -> RedirectTenant {
    redirect_tenant(prefix, &[])
}

fn trust(tenant: &str) {
    let config = jwt_config();
    admin(&[
        "trust-issuer",
        "--tenant",
        tenant,
        "--issuer",
        &config.issuer,
        "--audience",
        &config.audience,
    ]);
}

/// A tenant's chained events, once every one is chained.
fn events(tenant: &str) -> Vec<Value> {
    assert_eq!(audit_settled(tenant)["pending"], 0, "events left unchained");
    admin(&["audit", "list", "--tenant", tenant])["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn count_by_action(events: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        *out.entry(e["action"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    out
}

async fn redirect_add(
    t: &RedirectTenant,
    customer: u64,
    pan: &str,
    collect: Option<&str>,
) -> Value {
    let mut body = json!({
        "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
        "firstName": "Karen", "lastName": "Wood", "expirationMonth": 2, "expirationYear": 30,
        "cvv": "012", "recaptcha": PASS, "countryId": 124, "postalZip": "V9V 9V9"
    });
    if let Some(amount) = collect {
        body["paymentCollectOptions"] = json!({ "collectionAmount": amount });
    }
    enter_card(&body).await
}

async fn import(key: &str, customer: u64) -> u64 {
    let (cus, card) = stripe_card("Audit Card", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, pm) = post_json("/v1/paymentMethodImport/stripeConnect", key, &body).await;
    assert_eq!(status, 200, "{pm}");
    pm["id"].as_u64().unwrap()
}

/// Every audit item of the table (primary partitions `AUDIT#…` and their heads).
async fn audit_items() -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    client
        .scan()
        .table_name(&stack().table)
        .filter_expression("begins_with(PK, :a)")
        .expression_attribute_values(":a", AttributeValue::S("AUDIT".into()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
}

fn event_key(tenant: &str, seq: u64) -> (AttributeValue, AttributeValue) {
    (
        AttributeValue::S(format!("AUDIT#{tenant}")),
        AttributeValue::S(format!("SEQ#{seq:020}")),
    )
}

#[tokio::test]
async fn every_listed_action_writes_one_audit_event_and_none_holds_card_data() {
    let t = tenant("audit-all");
    let key = t.private_api_key.clone();
    // A verified token of a tenant that does not trust its issuer (yet): tenant denied.
    let account = account();
    let owner_token = owner(&t.id, &account);
    let (status, _) = card("/card/find", &owner_token, Some(json!({}))).await;
    assert_eq!(status, 401);
    trust(&t.id);
    // A role below owner changing a card: role denied, twice, recorded once.
    let user_role = billing_token(&t.id, Some(&account), Some("admin"));
    for _ in 0..2 {
        let (status, body) = card("/card/remove", &user_role, Some(json!({"id": 1}))).await;
        assert_eq!(status, 403, "{body}");
    }
    // The operator: a second key, revoked.
    let second = admin(&["issue-key", "--tenant", &t.id]);
    let key_id = second["keyId"].as_str().unwrap();
    admin(&["revoke-key", "--tenant", &t.id, "--key-id", key_id]);

    // The merchant API: a customer, two imports, a new default, a delete.
    let customer = create_customer(&key, json!({"firstName": "Audit"})).await;
    let first = import(&key, customer).await;
    let second_pm = import(&key, customer).await;
    let (status, body) = json(
        call(
            Method::PUT,
            "/v1/customerbillingsetting",
            &key,
            Some(&json!({"id": customer, "defaultPaymentMethodId": second_pm})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resp = call(
        Method::DELETE,
        &format!("/v1/paymentMethods/{first}/creditCard"),
        &key,
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 204);

    // The transparent redirect: a card with a collection.
    let added = redirect_add(&t, customer, PANS[0], Some("1.00")).await;
    assert_eq!(added["paymentCollection"]["status"], "Succeeded", "{added}");

    // The billing card API: create (its account's customer too), make current, remove.
    let created = create(&owner_token, false).await;
    let id = created["id"].clone();
    let (status, body) = card(
        "/card/updateCurrent",
        &owner_token,
        Some(json!({"id": id, "current": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = card("/card/remove", &owner_token, Some(json!({"id": id}))).await;
    assert_eq!(status, 200, "{body}");

    // Stripe reports the collection's success by webhook, a second or so later (a
    // connected account's event, sent to the platform endpoint): wait for it, so that
    // what is counted does not depend on when it lands.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut events = events(&t.id);
    while !events
        .iter()
        .any(|e| e["action"] == "stripe.chargeSucceeded")
        && std::time::Instant::now() < until
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        events = self::events(&t.id);
    }
    let counts = count_by_action(&events);
    let want: BTreeMap<String, usize> = [
        // create-tenant, set-public-key, set-origins, set-stripe, trust-issuer
        ("tenant.settingsChanged", 5),
        ("key.created", 2),
        ("key.revoked", 1),
        ("auth.tenantDenied", 1),
        ("auth.roleDenied", 1),
        // the merchant's customer, and the billing account's
        ("customer.created", 2),
        ("card.imported", 2),
        // PUT customerbillingsetting, /card/updateCurrent
        ("card.madeDefault", 2),
        // the merchant's delete, /card/remove
        ("card.removed", 2),
        // the redirect, /card/create
        ("card.added", 2),
        ("collection.attempted", 1),
        // /card/remove of a card cardvault attached
        ("stripe.cardDetached", 1),
        // the redirect's collection, as Stripe's payment_intent.succeeded tells it
        ("stripe.chargeSucceeded", 1),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_owned(), n))
    .collect();
    assert_eq!(counts, want, "{events:#?}");

    // Who, where, which request: the merchant's events name its key, the redirect's the
    // public key route, the operator's the operator; every request-made one has its ids.
    let by = |action: &str| events.iter().find(|e| e["action"] == action).unwrap();
    assert!(by("card.imported")["actor"]
        .as_str()
        .unwrap()
        .starts_with("apiKey:key_"));
    assert_eq!(by("card.added")["actor"], "redirect:publicKey");
    assert_eq!(by("collection.attempted")["outcome"], "Succeeded");
    assert!(by("key.revoked")["actor"]
        .as_str()
        .unwrap()
        .starts_with("operator:"));
    assert_eq!(by("key.revoked")["object"], key_id);
    assert!(by("auth.roleDenied")["actor"]
        .as_str()
        .unwrap()
        .ends_with(":admin"));
    let imported = by("card.imported");
    assert_eq!(imported["customerId"], customer);
    assert!(
        imported["requestId"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{imported}"
    );
    assert!(imported["sourceIp"].as_str().is_some(), "{imported}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(admin(&["audit", "verify", "--tenant", &t.id])["ok"], true);

    // No audit item, of any tenant, holds a card number, a CVV or a key.
    let mut hits = Vec::new();
    for item in audit_items().await {
        let text = format!("{item:?}");
        for secret in PANS
            .iter()
            .chain([&"\"012\"", &key.as_str(), &t.public_api_key.as_str()])
        {
            if text.contains(secret) {
                hits.push(((*secret).to_owned(), text.clone()));
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}

/// Edits event `seq` of a tenant's chain behind the vault's back.
async fn edit_event(tenant: &str, seq: u64) {
    let (pk, sk) = event_key(tenant, seq);
    aws_sdk_dynamodb::Client::new(&aws().await)
        .update_item()
        .table_name(&stack().table)
        .key("PK", pk)
        .key("SK", sk)
        .update_expression("SET outcome = :o")
        .expression_attribute_values(":o", AttributeValue::S("denied".into()))
        .send()
        .await
        .unwrap();
}

async fn delete_event(tenant: &str, seq: u64) {
    let (pk, sk) = event_key(tenant, seq);
    aws_sdk_dynamodb::Client::new(&aws().await)
        .delete_item()
        .table_name(&stack().table)
        .key("PK", pk)
        .key("SK", sk)
        .send()
        .await
        .unwrap();
}

/// `audit verify` of a broken chain (exit 2): the first break's number and reason.
fn first_break(tenant: &str) -> (u64, String) {
    let out = admin_exit(&["audit", "verify", "--tenant", tenant], 2);
    assert_eq!(out["ok"], false, "{out}");
    let b = &out["firstBreak"];
    (
        b["seq"].as_u64().unwrap(),
        b["reason"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_chain_check_finds_an_edited_event_and_a_deleted_one() {
    // Tenants of their own, each with a chain of 6 operator events.
    let make = |p: &str| {
        let t = tenant(p);
        admin(&["set-velocity", "--tenant", &t.id, "--per-ip", "30"]);
        t
    };
    let (edited, deleted, newest) = (make("audit-edit"), make("audit-del"), make("audit-tail"));
    let (rewound, forged) = (make("audit-rewind"), make("audit-forge"));
    for t in [&edited, &deleted, &newest, &rewound, &forged] {
        assert_eq!(
            audit_settled(&t.id),
            json!({"tenant": t.id, "ok": true, "events": 6, "pending": 0})
        );
    }

    // Event 3 edited: its hash no longer matches.
    edit_event(&edited.id, 3).await;
    let (seq, reason) = first_break(&edited.id);
    assert_eq!(seq, 3);
    assert!(reason.contains("edited"), "{reason}");

    // Event 4 deleted: a gap.
    delete_event(&deleted.id, 4).await;
    let (seq, reason) = first_break(&deleted.id);
    assert_eq!(seq, 4);
    assert!(reason.contains("missing"), "{reason}");

    // The newest deleted: no gap in what is left, but the head counts it.
    delete_event(&newest.id, 6).await;
    let (seq, reason) = first_break(&newest.id);
    assert_eq!(seq, 6);
    assert!(reason.contains("missing"), "{reason}");

    // The tail cut and the head rewound to the event before, copied from the events (all
    // someone without the chain's key can do): the cut event's pending copy still names
    // its number.
    delete_event(&rewound.id, 6).await;
    let head = head_item(&rewound.id).await;
    let fifth = get_item(event_key(&rewound.id, 5)).await;
    put_head(
        &rewound.id,
        5,
        fifth["hash"].as_s().unwrap(),
        head["mac"].as_s().unwrap(),
    )
    .await;
    let (seq, reason) = first_break(&rewound.id);
    assert_eq!(seq, 6);
    assert!(reason.contains("tail was cut"), "{reason}");

    // A head made without the key (its MAC copied from an older head cannot match).
    let head = head_item(&forged.id).await;
    let (seq_now, hash) = (6, head["hash"].as_s().unwrap().clone());
    put_head(&forged.id, seq_now, &hash, &"00".repeat(32)).await;
    let (seq, reason) = first_break(&forged.id);
    assert_eq!(seq, 6);
    assert!(reason.contains("head's MAC"), "{reason}");
}

type Item = std::collections::HashMap<String, AttributeValue>;

async fn get_item((pk, sk): (AttributeValue, AttributeValue)) -> Item {
    aws_sdk_dynamodb::Client::new(&aws().await)
        .get_item()
        .table_name(&stack().table)
        .key("PK", pk)
        .key("SK", sk)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the item")
}

async fn head_item(tenant: &str) -> Item {
    get_item((
        AttributeValue::S(format!("AUDITHEAD#{tenant}")),
        AttributeValue::S("HEAD".into()),
    ))
    .await
}

/// Overwrites a tenant's head, as someone with the table's rights but not the key could.
async fn put_head(tenant: &str, seq: u64, hash: &str, mac: &str) {
    aws_sdk_dynamodb::Client::new(&aws().await)
        .put_item()
        .table_name(&stack().table)
        .item("PK", AttributeValue::S(format!("AUDITHEAD#{tenant}")))
        .item("SK", AttributeValue::S("HEAD".into()))
        .item("seq", AttributeValue::N(seq.to_string()))
        .item("hash", AttributeValue::S(hash.to_owned()))
        .item("mac", AttributeValue::S(mac.to_owned()))
        .send()
        .await
        .unwrap();
}

/// Runs the admin CLI, which must exit with `code`: its JSON output.
fn admin_exit(args: &[&str], code: i32) -> Value {
    let bin = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin";
    let out = std::process::Command::new(bin)
        .args(["--table", &stack().table])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_customers_events_page_newest_first_within_its_tenant() {
    let t = tenant("audit-page");
    let key = t.private_api_key.clone();
    let customer = create_customer(&key, json!({"firstName": "Pages"})).await;
    let mut pms = Vec::new();
    for _ in 0..3 {
        pms.push(import(&key, customer).await);
    }
    // Another customer's events stay out.
    let other = create_customer(&key, json!({})).await;
    import(&key, other).await;
    // Listed once chained (off the request path, within a second or so).
    assert_eq!(audit_settled(&t.id)["pending"], 0);

    let path = format!("/v1/customers/{customer}/auditEvents");
    let get = |q: String| {
        let key = key.clone();
        let path = path.clone();
        async move { json(call(Method::GET, &format!("{path}{q}"), &key, None).await).await }
    };
    let (status, page1) = get("?limit=3".into()).await;
    assert_eq!(status, 200, "{page1}");
    let events = page1["auditEvents"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["card.imported"; 3]);
    let pm_ids: Vec<u64> = events
        .iter()
        .map(|e| e["paymentMethodId"].as_u64().unwrap())
        .collect();
    assert_eq!(pm_ids, [pms[2], pms[1], pms[0]], "newest first");
    assert!(events.iter().all(|e| e["customerId"] == customer));
    let next = page1["nextBefore"].as_u64().expect("a next page");

    let (status, page2) = get(format!("?limit=3&before={next}")).await;
    assert_eq!(status, 200, "{page2}");
    let events = page2["auditEvents"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page2}");
    assert_eq!(events[0]["action"], "customer.created");
    assert_eq!(page2["nextBefore"], Value::Null);

    // Another tenant's customer answers exactly like a missing one.
    let (status, foreign) =
        json(call(Method::GET, &path, &tenant_b().private_api_key, None).await).await;
    let missing_path = "/v1/customers/9007199254740991/auditEvents";
    let (m_status, missing) =
        json(call(Method::GET, missing_path, &tenant_b().private_api_key, None).await).await;
    assert_eq!((status, m_status), (404, 404));
    assert_eq!(
        foreign.to_string().replace(&customer.to_string(), "ID"),
        missing.to_string().replace("9007199254740991", "ID")
    );

    // Bad paging is a 400 in the merchant envelope; a customer with no events is empty.
    let (status, bad) = get("?limit=0".into()).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["Errors"][0]["Key"], "limit", "{bad}");
    let (status, bad) = get("?before=x".into()).await;
    assert_eq!(status, 400, "{bad}");
    let (status, none) = get("?before=1".into()).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["auditEvents"], json!([]));
}

/// A burst for one tenant: 300 customers created by 48 callers at once, served by as many
/// instances as the stack runs (8 per function under make test). Every write's event is
/// kept, each once, and the chain verifies: no write waits on another's audit event, and
/// none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_for_one_tenant_keeps_every_event_and_the_chain_verifies() {
    const WRITES: usize = 300;
    const CALLERS: usize = 48;
    let t = tenant("audit-burst");
    let key = std::sync::Arc::new(t.private_api_key.clone());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers = (0..CALLERS).map(|_| {
        let (key, next) = (key.clone(), next.clone());
        tokio::spawn(async move {
            let mut made = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < WRITES {
                made.push(create_customer(&key, json!({"firstName": "Burst"})).await);
            }
            made
        })
    });
    let mut customers = Vec::new();
    for c in callers.collect::<Vec<_>>() {
        customers.extend(c.await.unwrap());
    }
    assert_eq!(customers.len(), WRITES);
    let events = events(&t.id);
    let mut created: Vec<u64> = events
        .iter()
        .filter(|e| e["action"] == "customer.created")
        .map(|e| e["customerId"].as_u64().unwrap())
        .collect();
    created.sort();
    customers.sort();
    assert_eq!(created, customers, "one event per customer, each once");
    let verified = admin(&["audit", "verify", "--tenant", &t.id]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["events"], events.len(), "{verified}");
}

/// Puts an item as any request-path role may (DynamoDB Local does not enforce IAM; the
/// template's denials are `least_privilege.rs`'s).
async fn put_raw(item: Vec<(&str, AttributeValue)>) {
    let mut put = aws_sdk_dynamodb::Client::new(&aws().await)
        .put_item()
        .table_name(&stack().table);
    for (name, value) in item {
        put = put.item(name, value);
    }
    put.send().await.unwrap();
}

/// Items under `AUDITQ#<tenant>` that are not that key's event (a field missing; another
/// tenant's id in the body), and an item carrying the index keys of a customer's audit
/// listing: the chainer skips the first two (the tenant's real events after them are
/// chained all the same, and `audit verify` names them), and the listing never shows the
/// third.
#[tokio::test]
async fn poison_items_neither_wedge_the_chainer_nor_forge_a_listing() {
    let t = tenant("audit-poison");
    let key = t.private_api_key.clone();
    let customer = create_customer(&key, json!({})).await;
    assert_eq!(audit_settled(&t.id)["pending"], 0);
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let pk = format!("AUDITQ#{}", t.id);
    put_raw(vec![
        ("PK", s(&pk)),
        ("SK", s("2026-poison#1")),
        ("action", s("x")),
    ])
    .await;
    let body = |tenant: &str, id: &str| {
        vec![
            ("PK", s(&pk)),
            ("SK", s(id)),
            ("eventId", s(id)),
            ("at", s("2026-01-01T00:00:00.000000Z")),
            ("tenantId", s(tenant)),
            ("actor", s("apiKey:forged")),
            ("action", s("card.removed")),
            ("outcome", s("ok")),
        ]
    };
    put_raw(body("someone-else", "2026-poison#2")).await;
    let mut forged = body(&t.id, "1");
    forged[0] = ("PK", s("X#1"));
    forged.extend([
        ("AUDITPK", s(&format!("AUDIT#{}#{customer}", t.id))),
        ("AUDITSK", n(999_999)),
        ("seq", n(999_999)),
        ("prevHash", s(&"0".repeat(64))),
        ("hash", s(&"0".repeat(64))),
        ("customerId", n(customer)),
    ]);
    put_raw(forged).await;

    // A real event after them: chained, not blocked behind them.
    import(&key, customer).await;
    let out = audit_settled(&t.id);
    assert_eq!(out["pending"], 0, "{out}");
    assert_eq!(out["ok"], false, "{out}");
    let reason = out["firstBreak"]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("{pk}/2026-poison#")), "{reason}");
    let listed = admin(&["audit", "list", "--tenant", &t.id])["events"].clone();
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[actions.len() - 2..],
        ["customer.created", "card.imported"]
    );
    assert!(!actions.contains(&"card.removed"), "{actions:?}");

    let (status, page) = json(
        call(
            Method::GET,
            &format!("/v1/customers/{customer}/auditEvents"),
            &key,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let seqs: Vec<u64> = page["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let last = listed.as_array().unwrap().last().unwrap()["seq"].as_u64();
    assert_eq!(seqs.len(), 2, "{page}");
    assert_eq!(seqs.first().copied(), last, "{page}");
}
