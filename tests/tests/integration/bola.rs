//! The BOLA matrix: every endpoint of the user API and the billing card API, and every
//! merchant endpoint that takes an id, against each way a caller can reach for what is
//! not theirs. A foreign record must answer exactly like an absent one: the same status
//! and the same body, byte for byte (with the id itself swapped for the absent one's).
//! The test prints the matrix (endpoint × case → status); the README's security section
//! shows it.

use std::collections::BTreeMap;

use cardvault_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One cell: the status, or `-` where the case does not apply to the endpoint.
type Row = BTreeMap<&'static str, String>;

const CASES: [&str; 11] = [
    "other tenant",
    "other account",
    "other user",
    "role below",
    "expired",
    "lives too long",
    "no iat",
    "forged",
    "untrusted issuer",
    "HS256 under JWKS",
    "malformed",
];

/// A merchant call on a foreign record, and the same call on an absent one:
/// (method, path, absent path, body, absent body).
type MerchantCase = (Method, String, String, Option<Value>, Option<Value>);

/// What came back: status and the exact body text. A refusal is asked again under a fresh
/// `Idempotency-Key` ([`keyed_twin`]).
async fn send(method: Method, path: &str, auth: &str, body: Option<&Value>) -> (u16, String) {
    let request = |key: Option<String>| {
        let mut req = http()
            .request(method.clone(), url(path))
            .header("Authorization", auth);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req
    };
    let answer = answer_of(request(None)).await;
    keyed_twin(path, answer, || answer_of(request(Some(fresh_key())))).await
}

async fn answer_of(req: reqwest::RequestBuilder) -> (u16, String) {
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn fresh_key() -> String {
    format!("bola-{:016x}", rand::random::<u64>())
}

/// A write under an `Idempotency-Key` is authenticated once, by the guard, which keeps the
/// caller (or the refusal) for the handler: every refusal must read the same with a key as
/// without one. Only refusals are asked twice: a 2xx asked again would change what the
/// matrix reads next.
async fn keyed_twin<F, Fut>(path: &str, answer: (u16, String), keyed: F) -> (u16, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    if (400..500).contains(&answer.0) {
        let twin = keyed().await;
        assert_eq!(twin, answer, "{path}: under an Idempotency-Key vs without");
    }
    answer
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// A foreign answer must be the absent answer, with the foreign id in place of the absent.
fn same_as_absent(foreign: &(u16, String), absent: &(u16, String), id: &str, absent_id: &str) {
    assert_eq!(
        foreign.0, absent.0,
        "foreign {foreign:?} vs absent {absent:?}"
    );
    assert_eq!(
        foreign.1.replace(id, "<id>"),
        absent.1.replace(absent_id, "<id>"),
        "foreign and absent bodies differ"
    );
}

fn expired(tenant: &str, sub: &str, account: &str, role: &str) -> String {
    let config = jwt_config();
    let now = jsonwebtoken::get_current_timestamp();
    sign_claims(&json!({
        "iss": config.issuer, "aud": config.audience, "sub": sub, "tenant": tenant,
        "account": account, "role": role, "iat": now - 900, "exp": now - 600,
    }))
}

/// A valid owner token of `acct-demo-a` whose lifetime (`exp` − `iat`) is `lifetime`
/// seconds, or which has no `iat` (`None`; it then expires in ten minutes).
fn living(lifetime: Option<u64>) -> String {
    let config = jwt_config();
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": config.issuer, "aud": config.audience, "sub": "admin-demo-a",
        "tenant": tenant_a().id, "account": "acct-demo-a", "role": "owner", "exp": now + 600,
    });
    if let Some(lifetime) = lifetime {
        claims["iat"] = json!(now + 600 - lifetime);
    }
    sign_claims(&claims)
}

/// A real owner token of `acct-demo-a` whose payload is rewritten to name another account
/// (and the owner role), its signature kept: what a caller forging a token can make.
fn forged() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let real = ready_token("admin");
    let parts: Vec<&str> = real.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["account"] = json!("acct-demo-a-2");
    payload["role"] = json!("owner");
    let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{forged}.{}", parts[0], parts[2])
}

/// A request whose body is raw text (a body that is not JSON, say); a refusal is asked
/// again under a fresh `Idempotency-Key` ([`keyed_twin`]).
async fn send_raw(method: Method, path: &str, auth: &str, raw: &str) -> (u16, String) {
    let request = |key: Option<String>| {
        let mut req = http()
            .request(method.clone(), url(path))
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .body(raw.to_owned());
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req
    };
    let answer = answer_of(request(None)).await;
    keyed_twin(path, answer, || answer_of(request(Some(fresh_key())))).await
}

/// A malformed request from an entitled caller: a clear 4xx (`want`), never a 5xx.
async fn malformed(row: &mut Row, method: Method, path: &str, auth: &str, raw: &str, want: u16) {
    let (status, text) = send_raw(method, path, auth, raw).await;
    assert_eq!(status, want, "{path} malformed {raw:?}: {text}");
    row.insert("malformed", status.to_string());
}

/// The token cases every bearer endpoint answers 401 to.
async fn token_cases(row: &mut Row, method: Method, path: &str, body: Option<&Value>) {
    let t = tenant_a().id.as_str();
    for (case, token) in [
        (
            "expired",
            expired(t, "admin-demo-a", "acct-demo-a", "owner"),
        ),
        // demo-a takes tokens of a week (bootstrap.py): one that lives eight days, and one
        // without iat, which demo-a does not allow.
        ("lives too long", living(Some(8 * 24 * 3600))),
        ("no iat", living(None)),
        ("forged", forged()),
        ("untrusted issuer", ready_token("untrusted")),
        ("HS256 under JWKS", ready_token("hs256")),
    ] {
        let (status, text) = send(method.clone(), path, &bearer(&token), body).await;
        assert_eq!(status, 401, "{path} {case}: {text}");
        row.insert(case, status.to_string());
    }
}

fn row() -> Row {
    CASES.iter().map(|c| (*c, "-".to_owned())).collect()
}

async fn billing_card(owner: &str) -> String {
    let tok = stripe_token().await;
    let body = json!({"name": "BOLA", "number": "4242424242424242", "month": "12",
                      "year": "2030", "stripeToken": tok, "current": true});
    let (status, text) = send(Method::POST, "/card/create", &bearer(owner), Some(&body)).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn foreign_records_answer_exactly_like_absent_ones() {
    let mut matrix: BTreeMap<String, Row> = BTreeMap::new();
    let a = tenant_a().id.as_str();
    let b = tenant_b().id.as_str();
    const ABSENT: &str = "4242424242";

    // ---- billing card API --------------------------------------------------------------
    let acct = fresh_user("bola-acct");
    let owner = token(a, &fresh_user("bola-owner"), Some(&acct), Some("owner"));
    let admin = token(a, &fresh_user("bola-admin"), Some(&acct), Some("admin"));
    let card = billing_card(&owner).await;
    let other_acct = fresh_user("bola-other");
    let other_owner = token(a, &fresh_user("o"), Some(&other_acct), Some("owner"));
    let other_admin = token(a, &fresh_user("o"), Some(&other_acct), Some("admin"));
    let b_owner = token(b, &fresh_user("o"), Some(&acct), Some("owner"));
    let b_admin = token(b, &fresh_user("o"), Some(&acct), Some("admin"));
    let user_role = token(a, &fresh_user("u"), Some(&acct), Some("user"));

    // get, remove, updateCurrent: a card by id.
    for (path, needs_owner) in [
        ("/card/get", false),
        ("/card/remove", true),
        ("/card/updateCurrent", true),
    ] {
        let mut r = row();
        let body = json!({"id": card, "current": true});
        let absent_body = json!({"id": ABSENT, "current": true});
        let (same, other, below) = if needs_owner {
            (&owner, (&other_owner, &b_owner), &admin)
        } else {
            (&admin, (&other_admin, &b_admin), &user_role)
        };
        let absent = send(Method::POST, path, &bearer(same), Some(&absent_body)).await;
        assert_eq!(absent.0, 404, "{path} absent: {absent:?}");
        for (case, who) in [("other account", other.0), ("other tenant", other.1)] {
            let foreign = send(Method::POST, path, &bearer(who), Some(&body)).await;
            same_as_absent(&foreign, &absent, &card, ABSENT);
            r.insert(case, foreign.0.to_string());
        }
        let (status, text) = send(Method::POST, path, &bearer(below), Some(&body)).await;
        assert_eq!(status, 403, "{path} role below: {text}");
        r.insert("role below", status.to_string());
        token_cases(&mut r, Method::POST, path, Some(&body)).await;
        malformed(&mut r, Method::POST, path, &bearer(same), r#"{"id": "#, 400).await;
        matrix.insert(format!("POST {path}"), r);
    }
    // find: another account's or tenant's list is exactly an empty account's list.
    {
        let mut r = row();
        let empty = token(
            a,
            &fresh_user("e"),
            Some(&fresh_user("empty")),
            Some("admin"),
        );
        let absent = send(Method::POST, "/card/find", &bearer(&empty), None).await;
        assert_eq!(absent, (200, r#"{"data":[]}"#.to_owned()));
        for (case, who) in [("other account", &other_admin), ("other tenant", &b_admin)] {
            let foreign = send(Method::POST, "/card/find", &bearer(who), None).await;
            same_as_absent(&foreign, &absent, &card, ABSENT);
            r.insert(case, foreign.0.to_string());
        }
        let mine = send(Method::POST, "/card/find", &bearer(&admin), None).await;
        assert!(
            mine.1.contains(&card),
            "the account's own admin sees it: {mine:?}"
        );
        let (status, _) = send(Method::POST, "/card/find", &bearer(&user_role), None).await;
        assert_eq!(status, 403);
        r.insert("role below", status.to_string());
        token_cases(&mut r, Method::POST, "/card/find", None).await;
        let find = "/card/find?limit=abc";
        malformed(&mut r, Method::POST, find, &bearer(&admin), "", 400).await;
        matrix.insert("POST /card/find".into(), r);
    }
    // create and getStripe name no record: only roles and tokens apply.
    for (path, below) in [("/card/create", &admin), ("/card/getStripe", &user_role)] {
        let mut r = row();
        let body = json!({});
        let (status, text) = send(Method::POST, path, &bearer(below), Some(&body)).await;
        assert_eq!(status, 403, "{path}: {text}");
        r.insert("role below", status.to_string());
        token_cases(&mut r, Method::POST, path, Some(&body)).await;
        // getStripe takes no input at all.
        if path == "/card/create" {
            malformed(
                &mut r,
                Method::POST,
                path,
                &bearer(&owner),
                "{not json",
                400,
            )
            .await;
        }
        matrix.insert(format!("POST {path}"), r);
    }
    // The card is untouched by all of the above.
    let (status, text) = send(
        Method::POST,
        "/card/get",
        &bearer(&admin),
        Some(&json!({"id": card})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""current":true"#), "{text}");

    // ---- user API ----------------------------------------------------------------------
    const ROUTE: &str = "/payments/stripe/customers";
    let sub = fresh_user("bola-user");
    let user = user_token(a, &sub);
    let used = stripe_token().await;
    let (status, text) = send(
        Method::POST,
        ROUTE,
        &bearer(&user),
        Some(&json!({"token": used})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    {
        // Another user's (or the same sub in another tenant's) list is an empty one.
        let mut r = row();
        let nobody = send(
            Method::GET,
            ROUTE,
            &bearer(&user_token(a, &fresh_user("n"))),
            None,
        )
        .await;
        for (case, who) in [
            ("other user", user_token(a, &fresh_user("other"))),
            ("other tenant", user_token(b, &sub)),
        ] {
            let foreign = send(Method::GET, ROUTE, &bearer(&who), None).await;
            assert_eq!(foreign, nobody, "{case}");
            r.insert(case, foreign.0.to_string());
        }
        token_cases(&mut r, Method::GET, ROUTE, None).await;
        let paged = format!("{ROUTE}?limit=abc");
        malformed(&mut r, Method::GET, &paged, &bearer(&user), "", 400).await;
        matrix.insert(format!("GET {ROUTE}"), r);
    }
    {
        // A token another user used answers exactly like one Stripe never issued.
        let mut r = row();
        let other = user_token(a, &fresh_user("other"));
        let foreign = send(
            Method::POST,
            ROUTE,
            &bearer(&other),
            Some(&json!({"token": used})),
        )
        .await;
        let absent = send(
            Method::POST,
            ROUTE,
            &bearer(&other),
            Some(&json!({"token": "tok_NeverIssued1"})),
        )
        .await;
        same_as_absent(&foreign, &absent, &used, "tok_NeverIssued1");
        r.insert("other user", foreign.0.to_string());
        token_cases(
            &mut r,
            Method::POST,
            ROUTE,
            Some(&json!({"token": "tok_x"})),
        )
        .await;
        malformed(
            &mut r,
            Method::POST,
            ROUTE,
            &bearer(&user),
            r#"{"token": 5}"#,
            400,
        )
        .await;
        matrix.insert(format!("POST {ROUTE}"), r);
    }

    // ---- merchant API: every endpoint that takes an id, with tenant B's key ---------------
    let key_a = &tenant_a().private_api_key;
    let key_b = &tenant_b().private_api_key;
    let (customer, pms, _) = customer_with_cards(2).await;
    let (customer, pm) = (customer.to_string(), pms[1].to_string());
    let (cus, stripe_card_id) = stripe_card("Bola", &[]).await;
    let cases: Vec<MerchantCase> = vec![
        (
            Method::GET,
            format!("/v1/customers/{customer}"),
            format!("/v1/customers/{ABSENT}"),
            None,
            None,
        ),
        (
            Method::GET,
            format!("/v1/customers/{customer}/paymentMethods/creditCard"),
            format!("/v1/customers/{ABSENT}/paymentMethods/creditCard"),
            None,
            None,
        ),
        (
            Method::GET,
            format!("/v1/customers/{customer}/auditEvents"),
            format!("/v1/customers/{ABSENT}/auditEvents"),
            None,
            None,
        ),
        (
            Method::GET,
            format!("/v1/paymentMethods/{pm}"),
            format!("/v1/paymentMethods/{ABSENT}"),
            None,
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/paymentMethods/{pm}/creditCard"),
            format!("/v1/paymentMethods/{ABSENT}/creditCard"),
            None,
            None,
        ),
        (
            Method::PUT,
            "/v1/customerbillingsetting".into(),
            "/v1/customerbillingsetting".into(),
            Some(
                json!({"id": customer.parse::<u64>().unwrap(), "defaultPaymentMethodId": pm.parse::<u64>().unwrap()}),
            ),
            Some(
                json!({"id": ABSENT.parse::<u64>().unwrap(), "defaultPaymentMethodId": ABSENT.parse::<u64>().unwrap()}),
            ),
        ),
        (
            Method::POST,
            "/v1/paymentMethodImport/stripeConnect".into(),
            "/v1/paymentMethodImport/stripeConnect".into(),
            Some(
                json!({"customerId": customer.parse::<u64>().unwrap(), "stripeCustomerId": cus, "stripeCardId": stripe_card_id}),
            ),
            Some(
                json!({"customerId": ABSENT.parse::<u64>().unwrap(), "stripeCustomerId": cus, "stripeCardId": stripe_card_id}),
            ),
        ),
    ];
    // The other import routes take the same body.
    let import = cases.last().cloned().unwrap();
    let mut cases = cases;
    for route in [
        "/v1/AchCardImport/stripeConnect",
        "/v1/paymentMethodImport/Stripe",
    ] {
        cases.push((
            import.0.clone(),
            route.into(),
            route.into(),
            import.3.clone(),
            import.4.clone(),
        ));
    }
    for (method, path, absent_path, body, absent_body) in cases {
        let mut r = row();
        let absent = send(
            method.clone(),
            &absent_path,
            &basic(key_b),
            absent_body.as_ref(),
        )
        .await;
        assert_eq!(absent.0, 404, "{path} absent: {absent:?}");
        let foreign = send(method.clone(), &path, &basic(key_b), body.as_ref()).await;
        // The path or body names the customer, or the payment method.
        let id = if foreign.1.contains(&pm) {
            &pm
        } else {
            &customer
        };
        same_as_absent(&foreign, &absent, id, ABSENT);
        r.insert("other tenant", foreign.0.to_string());
        // A malformed id names no record: the same 404 as an absent one; a body that is
        // not JSON at all is a 400.
        let (bad_path, raw, want) = if body.is_some() {
            (path.clone(), "{customerId: 1,", 400)
        } else {
            (
                path.replace(&customer, "not-an-id")
                    .replace(&pm, "not-an-id"),
                "",
                404,
            )
        };
        malformed(&mut r, method.clone(), &bad_path, &basic(key_a), raw, want).await;
        let label = path.replace(&customer, "{id}").replace(&pm, "{id}");
        matrix.insert(format!("{method} {label}"), r);
    }
    // Tenant A's own records are intact.
    let (status, _) = send(
        Method::GET,
        &format!("/v1/paymentMethods/{pm}"),
        &basic(key_a),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // ---- the matrix ----------------------------------------------------------------------
    let mut table = format!(
        "| endpoint | {} |\n|---|{}\n",
        CASES.join(" | "),
        "---|".repeat(CASES.len())
    );
    for (endpoint, r) in &matrix {
        let cells: Vec<&str> = CASES.iter().map(|c| r[c].as_str()).collect();
        table.push_str(&format!("| `{endpoint}` | {} |\n", cells.join(" | ")));
    }
    println!("\nBOLA matrix (status; - where the case does not apply; malformed: an entitled caller's malformed request):\n\n{table}");
    assert_eq!(matrix.len(), 17, "every endpoint in the matrix");
}
