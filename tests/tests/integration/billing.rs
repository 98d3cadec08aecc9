//! The billing card API (EmbedThis style): each endpoint, the role matrix, cursor paging,
//! the one-current-card rule, removal, failures, and that no full number is stored.

use cardvault_tests::billing::{
    account, admin_of, billing_token, card, create, fresh_tenant, owner,
};
use cardvault_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn each_endpoint_works_for_its_role() {
    let (t, acct) = (tenant_a().id.as_str(), account());
    let owner = owner(t, &acct);
    let admin = admin_of(t, &acct);

    let first = create(&owner, false).await;
    for f in [
        "accountId",
        "current",
        "failures",
        "id",
        "name",
        "number",
        "month",
        "submitted",
        "year",
    ] {
        assert!(first.get(f).is_some(), "{f}: {first}");
    }
    // `error` is unset on a healthy card: left out, as OneTable leaves it out.
    assert!(first.get("error").is_none(), "{first}");
    assert_eq!(first["accountId"], acct.as_str());
    assert_eq!(first["number"], "4242", "last four only");
    assert_eq!(first["month"], "12");
    assert_eq!(first["year"], "2030");
    assert_eq!(first["name"], "Team Visa");
    assert_eq!(
        first["current"], true,
        "the account's first card is current"
    );
    assert_eq!(first["failures"], 0);
    assert!(first["error"].is_null());
    assert!(first["id"].is_string());

    let (status, got) = card("/card/get", &admin, Some(json!({"id": first["id"]}))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, first);

    let second = create(&owner, false).await;
    assert_eq!(second["current"], false);
    let (status, updated) = card(
        "/card/updateCurrent",
        &owner,
        Some(json!({"id": second["id"], "current": true})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["current"], true);
    let (_, first_now) = card("/card/get", &admin, Some(json!({"id": first["id"]}))).await;
    assert_eq!(first_now["current"], false);

    let (status, page) = card("/card/find?limit=100", &admin, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == second["id"]));

    let (status, stripe) = card("/card/getStripe", &admin, None).await;
    assert_eq!(status, 200, "{stripe}");
    assert_eq!(stripe["publishableKey"], "pk_test_cardvault_platform");
    assert_eq!(stripe["accountId"], tenant_a().stripe["accountId"]);
    assert!(!stripe.to_string().contains("sk_"), "never a secret key");

    let (status, removed) = card("/card/remove", &owner, Some(json!({"id": second["id"]}))).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["id"], second["id"]);
    let (status, _) = card("/card/get", &admin, Some(json!({"id": second["id"]}))).await;
    assert_eq!(status, 404);
    let (_, first_again) = card("/card/get", &admin, Some(json!({"id": first["id"]}))).await;
    assert_eq!(
        first_again["current"], true,
        "removing the current card moves it"
    );
}

#[tokio::test]
async fn the_role_matrix() {
    let t = tenant_a().id.as_str();
    let acct = account();
    let own = owner(t, &acct);
    let mine = create(&own, true).await;
    let id = json!({"id": mine["id"]});

    let other_account = account();
    let other_owner = owner(t, &other_account);
    let other_admin = admin_of(t, &other_account);
    let admin_a = admin_of(t, &acct);
    let admin_b_same_account = admin_of(&tenant_b().id, &acct);
    let owner_b_same_account = owner(&tenant_b().id, &acct);
    let plain_user = billing_token(t, Some(&acct), Some("user"));
    let no_role = billing_token(t, Some(&acct), None);
    let owner_without_account = billing_token(t, None, Some("owner"));
    let admin_without_account = billing_token(t, None, Some("admin"));

    // Owner endpoints: an admin (of the same account) or a user is 403; another account's
    // owner, or the same account name in another tenant, is 404.
    for path in ["/card/remove", "/card/updateCurrent"] {
        for (bearer, want) in [
            (&admin_a, 403),
            (&plain_user, 403),
            (&no_role, 403),
            (&owner_without_account, 403),
            (&other_owner, 404),
            (&owner_b_same_account, 404),
        ] {
            let (status, body) = card(path, bearer, Some(id.clone())).await;
            embedthis_error(status, &body, want);
        }
    }
    for bearer in [&admin_a, &plain_user] {
        let (status, body) = card("/card/create", bearer, Some(json!({}))).await;
        embedthis_error(status, &body, 403);
    }
    // Admin endpoints: the owner may (owner > admin); a user, or a role without an
    // account, is 403.
    for path in ["/card/find", "/card/get", "/card/getStripe"] {
        for bearer in [&plain_user, &no_role, &admin_without_account] {
            let (status, body) = card(path, bearer, Some(id.clone())).await;
            embedthis_error(status, &body, 403);
        }
        let (status, body) = card(path, &own, Some(id.clone())).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Another account's admin, or another tenant's, sees the card exactly as an absent one.
    let (status, body) = card(
        "/card/get",
        &admin_b_same_account,
        Some(json!({"id": "4242424242"})),
    )
    .await;
    let absent = embedthis_error(status, &body, 404);
    for bearer in [&other_admin, &admin_b_same_account] {
        let (status, body) = card("/card/get", bearer, Some(id.clone())).await;
        let foreign = embedthis_error(status, &body, 404);
        assert_eq!(
            foreign.replace(mine["id"].as_str().unwrap(), "N"),
            absent.replace("4242424242", "N")
        );
        let (_, page) = card("/card/find?limit=100", bearer, None).await;
        assert!(!page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == mine["id"]));
    }

    // Nothing happened to the card.
    let (status, still) = card("/card/get", &admin_a, Some(id)).await;
    assert_eq!(status, 200);
    assert_eq!(still["current"], true);
    // No token at all.
    let resp = http().post(url("/card/find")).send().await.unwrap();
    let (status, body) = json(resp).await;
    embedthis_error(status, &body, 401);
}

#[tokio::test]
async fn find_pages_with_signed_cursors() {
    let t = fresh_tenant();
    let acct = account();
    let own = owner(&t, &acct);
    let admin = admin_of(&t, &acct);
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(create(&own, false).await["id"].as_str().unwrap().to_owned());
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();

    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, p1) = card("/card/find?limit=2", &admin, None).await;
    assert_eq!(ids(&p1), newest_first[..2]);
    // Left out at the ends, as OneTable leaves them out: not `null`.
    assert!(p1.get("prev").is_none(), "{p1}");
    let next = p1["next"].as_str().unwrap().to_owned();
    let (_, p2) = card(&format!("/card/find?limit=2&next={next}"), &admin, None).await;
    assert_eq!(ids(&p2), newest_first[2..4]);
    let next = p2["next"].as_str().unwrap().to_owned();
    let (_, p3) = card(&format!("/card/find?limit=2&next={next}"), &admin, None).await;
    assert_eq!(ids(&p3), newest_first[4..]);
    assert!(p3.get("next").is_none(), "{p3}");
    let prev = p3["prev"].as_str().unwrap().to_owned();
    let (_, back) = card(&format!("/card/find?limit=2&prev={prev}"), &admin, None).await;
    assert_eq!(ids(&back), newest_first[2..4]);

    // A tampered cursor, another account's, and another tenant's, are refused.
    let mut tampered = next.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = card(&format!("/card/find?next={tampered}"), &admin, None).await;
    embedthis_error(status, &body, 400);
    for stranger in [admin_of(&t, &account()), admin_of(&tenant_a().id, &acct)] {
        let (status, body) = card(&format!("/card/find?next={next}"), &stranger, None).await;
        embedthis_error(status, &body, 400);
    }

    // The document's other options: a `where` outside the grammar and `index` are refused,
    // naming themselves; `filter`, `hidden` and `log` are taken.
    for option in ["where=x", "index=gs1"] {
        let (status, body) = card(&format!("/card/find?{option}"), &admin, None).await;
        let msg = embedthis_error(status, &body, 400);
        let name = option.split('=').next().unwrap();
        assert!(msg.starts_with(name), "{msg}");
        assert!(body["fields"][name].is_string(), "{body}");
    }
    for option in ["filter=x", "hidden=true", "log=true"] {
        let (status, body) = card(&format!("/card/find?{option}"), &admin, None).await;
        assert_eq!(status, 200, "{option}: {body}");
    }
}

#[tokio::test]
async fn concurrent_update_current_leaves_one_current_card() {
    let t = fresh_tenant();
    let acct = account();
    let own = owner(&t, &acct);
    let admin = admin_of(&t, &acct);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create(&own, false).await["id"].clone());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (own, id) = (own.clone(), ids[i % ids.len()].clone());
        tasks.spawn(async move {
            card("/card/updateCurrent", &own, Some(json!({"id": id})))
                .await
                .0
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let (_, page) = card("/card/find?limit=100", &admin, None).await;
    let current = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["current"] == true)
        .count();
    assert_eq!(current, 1, "{page}");
}

#[tokio::test]
async fn removing_cards_moves_current_then_leaves_none() {
    let t = tenant_a().id.as_str();
    let acct = account();
    let own = owner(t, &acct);
    let admin = admin_of(t, &acct);
    let a = create(&own, true).await;
    let b = create(&own, false).await;
    let (status, _) = card("/card/remove", &own, Some(json!({"id": a["id"]}))).await;
    assert_eq!(status, 200);
    let (_, b_now) = card("/card/get", &admin, Some(json!({"id": b["id"]}))).await;
    assert_eq!(b_now["current"], true);
    let (status, _) = card("/card/remove", &own, Some(json!({"id": b["id"]}))).await;
    assert_eq!(status, 200);
    let (status, body) = card("/card/remove", &own, Some(json!({"id": b["id"]}))).await;
    embedthis_error(status, &body, 404);
}

#[tokio::test]
async fn failures_and_error_are_kept_per_card() {
    let t = tenant_a().id.as_str();
    let acct = account();
    let own = owner(t, &acct);
    let made = create(&own, false).await;
    let app = app_with_stripe(&stack().stripe_url).await;
    let tenant = cardvault::domain::TenantId::try_from(t.to_owned()).unwrap();
    let id = cardvault::domain::PaymentMethodId::parse(made["id"].as_str().unwrap()).unwrap();
    use cardvault_core::ports::PaymentMethodStore;
    let store = app.vault.store();
    let customer = store
        .locate_payment_method(&tenant, id)
        .await
        .unwrap()
        .unwrap();
    let pm = store
        .payment_method_of(customer, id)
        .await
        .unwrap()
        .unwrap();
    store
        .record_payment_failure(&pm, "Your card was declined.")
        .await
        .unwrap();
    let (_, got) = card(
        "/card/get",
        &admin_of(t, &acct),
        Some(json!({"id": made["id"]})),
    )
    .await;
    assert_eq!(got["failures"], 1);
    assert_eq!(got["error"], "Your card was declined.");
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_no_full_number_is_stored() {
    let t = tenant_a().id.as_str();
    let own = owner(t, &account());
    let tok = stripe_token().await;
    let (status, body) = card(
        "/card/create",
        &own,
        Some(json!({"name": "X", "number": "5555555555554444", "month": "12", "year": "2030", "stripeToken": tok})),
    )
    .await;
    let msg = embedthis_error(status, &body, 400);
    assert!(msg.contains("number"), "{msg}");
    for (payload, field) in [
        (json!({}), "name"),
        (
            json!({"name": "X", "number": "12", "month": "12", "year": "30", "stripeToken": "tok_x"}),
            "number",
        ),
        (
            json!({"name": "X", "number": "4242", "month": "13", "year": "30", "stripeToken": "tok_x"}),
            "month",
        ),
        (
            json!({"name": "X", "number": "4242", "month": "1", "year": "20", "stripeToken": "tok_x"}),
            "year",
        ),
        (
            json!({"name": "X", "number": "4242", "month": "1", "year": "30", "stripeToken": "card_x"}),
            "stripeToken",
        ),
    ] {
        let (status, body) = card("/card/create", &own, Some(payload.clone())).await;
        embedthis_error(status, &body, 400);
        assert!(body["fields"].get(field).is_some(), "{payload}: {body}");
    }
    let strings = scan_table_strings().await;
    for pan in ["4242424242424242", "5555555555554444"] {
        assert!(
            !strings.iter().any(|s| s.contains(pan)),
            "a full number is stored"
        );
    }
}

/// As OneTable writes an item: an unset field left out (not `null`), and `submitted` as
/// JavaScript's `toISOString` gives it, with milliseconds.
#[tokio::test]
async fn a_card_is_written_as_one_table_writes_it() {
    let t = fresh_tenant();
    let acct = account();
    let own = owner(&t, &acct);
    let card = create(&own, true).await;
    let fields = card.as_object().unwrap();
    assert!(!fields.contains_key("error"), "{card}");
    for (k, v) in fields {
        assert!(!v.is_null(), "{k} is null: {card}");
    }
    let submitted = card["submitted"].as_str().unwrap();
    let ms = submitted
        .strip_suffix('Z')
        .and_then(|s| s.rsplit_once('.'))
        .map(|(_, ms)| ms.to_owned());
    assert!(
        submitted.len() == 24 && ms.is_some_and(|ms| ms.len() == 3),
        "{submitted}: not YYYY-MM-DDTHH:MM:SS.mmmZ"
    );
}
