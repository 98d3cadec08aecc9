//! Seed 004, EmbedThis's billing cards: each endpoint with the request fields the document
//! lists, `/card/find` with each of its query-string options, and every answer in the
//! document's card shape (its field table, with its types; `error` is null until a charge
//! fails). The document has no literal samples: its tables are what is replayed.

use cardvault_tests::billing::{account, admin_of, card, fresh_tenant, owner};
use cardvault_tests::*;
use serde_json::{json, Value};

use super::verbatim;

/// The first column of one of the document's tables (its header rows skipped, if any).
fn first_column(table: &str) -> Vec<&str> {
    table
        .lines()
        .filter_map(|row| row.split('|').map(str::trim).find(|c| !c.is_empty()))
        .filter(|c| *c != "Field" && !c.starts_with("---"))
        .collect()
}

/// Asserts a card of the document's table: each field there, of its type.
fn assert_card(c: &Value) {
    for row in verbatim("004/card-table.md").lines().skip(2) {
        let mut cells = row.split('|').map(str::trim).filter(|s| !s.is_empty());
        let (field, kind) = (cells.next().unwrap(), cells.next().unwrap());
        // An unset field is left out, as OneTable leaves it out (never `null`).
        let optional = field == "error" || field == "accountId" || field == "name";
        let Some(v) = c.get(field) else {
            assert!(optional, "no {field}: {c}");
            continue;
        };
        let ok = match kind {
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "date" => v
                .as_str()
                .is_some_and(|s| s.ends_with('Z') && s.contains('T')),
            other => panic!("type {other}"),
        };
        assert!(ok, "{field} is not a {kind}: {c}");
    }
    let table: Vec<String> = verbatim("004/card-table.md")
        .lines()
        .skip(2)
        .filter_map(|r| r.split('|').map(str::trim).find(|s| !s.is_empty()))
        .map(str::to_owned)
        .collect();
    for k in c.as_object().unwrap().keys() {
        assert!(table.contains(k), "{k} is not in the table: {c}");
    }
}

/// `POST /card/find` with these query-string options (URL-encoded here).
async fn find(bearer: &str, options: &[(&str, &str)]) -> (u16, Value) {
    let mut u = reqwest::Url::parse(&url("/card/find")).unwrap();
    for (k, v) in options {
        u.query_pairs_mut().append_pair(k, v);
    }
    let resp = http()
        .post(u)
        .header("Authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    json(resp).await
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {page}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_endpoint_with_the_documents_fields() {
    let (t, acct) = (fresh_tenant(), account());
    let own = owner(&t, &acct);
    // An admin of the same account: admins, like owners, act within their own account.
    let admin = admin_of(&t, &acct);

    // create: every field of the request table, month and year as two-digit strings.
    let body = json!({"current": true, "name": "Team Visa", "number": "4242424242424242",
                      "month": "08", "year": "30", "stripeToken": stripe_token().await});
    let mut sent: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut table = first_column(verbatim("004/create-fields.md"));
    sent.sort();
    table.sort();
    assert_eq!(
        sent, table,
        "every field of the create table, and only those"
    );
    let (status, first) = card("/card/create", &own, Some(body)).await;
    assert_eq!(status, 200, "{first}");
    assert_card(&first);
    assert_eq!(
        (&first["month"], &first["year"]),
        (&json!("08"), &json!("30")),
        "as sent"
    );
    assert_eq!(first["number"], "4242");
    assert_eq!(first["current"], true);
    assert_eq!(first["accountId"], acct.as_str());
    let body = json!({"name": "Backup", "number": "4242", "month": "12", "year": "2031",
                      "stripeToken": stripe_token().await});
    let (status, second) = card("/card/create", &own, Some(body)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (&second["month"], &second["year"]),
        (&json!("12"), &json!("2031"))
    );
    assert_eq!(second["current"], false);
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );

    // get
    let (status, got) = card("/card/get", &admin, Some(json!({"id": a}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, first);

    // find, plain: the paged response, newest first.
    let (status, page) = find(&admin, &[]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [b, a]);
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_card);
    assert!(page["next"].is_null() && page["prev"].is_null(), "{page}");

    // Each query-string option of the document's table is exercised below.
    assert_eq!(
        first_column(verbatim("004/find-options.md")),
        ["filter", "hidden", "index", "limit", "log", "next", "prev", "where"]
    );

    // limit, next, prev.
    let (_, p1) = find(&admin, &[("limit", "1")]).await;
    assert_eq!(ids(&p1), [b]);
    let next = p1["next"].as_str().expect("a next cursor").to_owned();
    let (_, p2) = find(&admin, &[("limit", "1"), ("next", &next)]).await;
    assert_eq!(ids(&p2), [a]);
    let prev = p2["prev"].as_str().expect("a prev cursor").to_owned();
    let (_, back) = find(&admin, &[("limit", "1"), ("prev", &prev)]).await;
    assert_eq!(ids(&back), [b]);

    // where: OneTable's template over the card's fields.
    for (q, want) in [
        ("${current} = {true}", vec![a]),
        ("${name} = {Backup} or ${month} = {8}", vec![b, a]),
        ("begins_with(${name}, {Team})", vec![a]),
        ("${year} >= {2031} and ${failures} = {0}", vec![b]),
        ("${number} = {4242} and not ${current} = {true}", vec![b]),
        (&format!("${{accountId}} = {{\"{acct}\"}}"), vec![b, a]),
        ("${error} <> {null}", vec![]),
    ] {
        let (status, page) = find(&admin, &[("where", q)]).await;
        assert_eq!(status, 200, "{q}: {page}");
        assert_eq!(ids(&page), want, "{q}");
    }
    // filter: a case-insensitive search of name and number.
    for (text, want) in [
        ("team", vec![a]),
        ("BACK", vec![b]),
        ("4242", vec![b, a]),
        ("x", vec![]),
    ] {
        let (_, page) = find(&admin, &[("filter", text)]).await;
        assert_eq!(ids(&page), want, "filter={text}");
    }
    // hidden and log: taken, no effect.
    let (status, same) = find(&admin, &[("hidden", "true"), ("log", "true")]).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same, page);
    // index, and a where outside the grammar: 400 naming the option, saying where.
    let (status, err) = find(&admin, &[("index", "gs1")]).await;
    assert_eq!(status, 400, "{err}");
    assert!(err["fields"]["index"].is_string(), "{err}");
    let (status, err) = find(&admin, &[("where", "${name} is {Team}")]).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"], "Validation");
    let msg = err["fields"]["where"].as_str().unwrap();
    assert!(msg.contains("at column 9"), "{msg}");

    // updateCurrent: {id, current}.
    let (status, updated) = card(
        "/card/updateCurrent",
        &own,
        Some(json!({"id": b, "current": true})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_card(&updated);
    assert_eq!(updated["current"], true);
    let (_, page) = find(&admin, &[("where", "${current} = {true}")]).await;
    assert_eq!(ids(&page), [b]);

    // getStripe: the document gives no response; ours is what a UI needs to tokenize.
    let (status, stripe) = card("/card/getStripe", &admin, None).await;
    assert_eq!(status, 200, "{stripe}");
    assert!(stripe["publishableKey"].is_string(), "{stripe}");
    assert!(!stripe.to_string().contains("sk_"));

    // remove: {id}, answering the removed card.
    let (status, removed) = card("/card/remove", &own, Some(json!({"id": a}))).await;
    assert_eq!(status, 200, "{removed}");
    assert_card(&removed);
    assert_eq!(removed["id"], a);
    let (_, page) = find(&admin, &[]).await;
    assert_eq!(ids(&page), [b]);
}
