//! Re-homing vault-held cards (issue 15): `cardvault-admin rehome-cards` drives the
//! `rehome-cards` function through the Lambda Invoke API of the stack's fleet, which
//! decrypts each redirect card's PAN with moto's KMS and adds it at the new connected
//! account on localstripe. localstripe keeps one store for every account; the stack's
//! wrapper notes the `Stripe-Account` each object was made under
//! (`/_cardvault/made_under/<id>`), which is what these tests check the account with.
//!
//! Each test has tenants of its own (Connect, like demo-a), so switching a connection
//! touches no other test.

use cardvault_tests::*;
use serde_json::{json, Value};

const PASS: &str = "cardvault-test-pass";

/// A fresh account id (`acct_…`) of the test's own.
fn new_account(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("acct_1{label}{}", nanos % 10_000_000_000)
}

/// A card entered through the redirect for `customer` of `t`: its payment method id.
/// A fresh account registered as the tenant's re-homing target (its OAuth code exchanged).
async fn connected(t: &RedirectTenant, label: &str) -> String {
    let to = new_account(label);
    let out = connect_account(&t.id, &to).await;
    assert_eq!(out["account"], to.as_str(), "{out}");
    to
}

async fn redirect_card(t: &RedirectTenant, customer: u64, pan: &str, month: u8) -> u64 {
    let body = json!({
        "customerId": customer, "PublicApiKey": t.public_api_key, "cardNumber": pan,
        "firstName": "Karen", "lastName": "Wood", "expirationMonth": month,
        "expirationYear": 31, "cvv": "123", "recaptcha": PASS,
        "address1": "10 Dodge St", "city": "Columbia", "countryId": 124, "postalZip": "V9V 9V9"
    });
    let pm = enter_card(&body).await;
    assert_eq!(pm["storedInFusebillVault"], true);
    pm["id"].as_u64().unwrap()
}

/// A card imported from the tenant's Stripe account (its PAN never seen by the vault).
async fn imported_card(t: &RedirectTenant, customer: u64) -> u64 {
    let (cus, card) = stripe_card("John Doe", &[]).await;
    let body = json!({"customerId": customer, "stripeCustomerId": cus, "stripeCardId": card});
    let (status, pm) = post_json(
        "/v1/paymentMethodImport/stripeConnect",
        &t.private_api_key,
        &body,
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    pm["id"].as_u64().unwrap()
}

async fn customer_of(t: &RedirectTenant) -> u64 {
    create_customer(&t.private_api_key, json!({"firstName": "Karen"})).await
}

fn rehome(t: &RedirectTenant, to: &str, extra: &[&str]) -> Value {
    admin(&[&["rehome-cards", "--tenant", &t.id, "--to", to], extra].concat())
}

/// Who made a localstripe object: the `Stripe-Account` its creating request carried.
async fn made_under(id: &str) -> Value {
    let (status, body) = stripe_get(&format!("/_cardvault/made_under/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["account"].clone()
}

fn ids(list: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["paymentMethodId"].as_u64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn redirect_cards_move_to_the_new_account_and_imported_ones_are_listed() {
    let t = redirect_tenant("rehome", &[]);
    let (c1, c2) = (customer_of(&t).await, customer_of(&t).await);
    let visa = redirect_card(&t, c1, "4242424242424242", 2).await;
    let mc = redirect_card(&t, c2, "5555555555554444", 7).await;
    let imported = imported_card(&t, c1).await;
    let before_imported = payment_method_item(c1, imported).await;
    let old = payment_method_item(c1, visa).await["stripe"].clone();
    let to = connected(&t, "Home").await;

    let out = rehome(&t, &to, &[]);

    assert_eq!(out["finished"], true, "{out}");
    assert_eq!(out["connectionSwitched"], true);
    assert_eq!(ids(&out["moved"]), {
        let mut v = vec![visa, mc];
        v.sort();
        v
    });
    assert_eq!(ids(&out["needsReimport"]), vec![imported]);
    assert_eq!(out["failed"], json!([]));
    assert!(!out.to_string().contains("4242424242424242"));

    for (customer, pm, last4, month) in [(c1, visa, "4242", 2), (c2, mc, "4444", 7)] {
        let item = payment_method_item(customer, pm).await;
        assert_eq!(item["stripeHome"], to.as_str());
        let (cus, card) = (
            item["stripe"]["customerId"].as_str().unwrap().to_owned(),
            item["stripe"]["sourceId"].as_str().unwrap().to_owned(),
        );
        assert_ne!(item["stripe"], old);
        // Stripe's webhooks find the card by its new references (the StripeRefs index).
        assert_eq!(item["STRIPEPK"], format!("STRIPE#{}#{cus}", t.id), "{item}");
        assert_eq!(item["STRIPESK"], format!("{card}#{pm}"), "{item}");
        // localstripe holds the card, with the same last 4 and expiry, made at the new
        // account (under its Stripe-Account), on a customer made there too.
        let (status, at_stripe) = stripe_get(&format!("/v1/customers/{cus}/sources/{card}")).await;
        assert_eq!(status, 200, "{at_stripe}");
        assert_eq!(at_stripe["last4"], last4);
        assert_eq!(at_stripe["exp_month"], month);
        assert_eq!(at_stripe["exp_year"], 2031);
        assert_eq!(at_stripe["cvc_check"], Value::Null, "moved without a CVC");
        // It names the vault card, so that an interrupted run knows its copy again.
        assert_eq!(
            at_stripe["metadata"]["cardvault_payment_method"],
            pm.to_string(),
            "{at_stripe}"
        );
        assert_eq!(made_under(&card).await, to.as_str());
        assert_eq!(made_under(&cus).await, to.as_str());
        // New cards of the customer go to its Stripe customer at the new account.
        assert_eq!(
            customer_item(customer).await["stripeCustomerId"],
            cus.as_str()
        );
    }
    // The imported card is left as it was.
    assert_eq!(payment_method_item(c1, imported).await, before_imported);
    // Each move names the invoking principal as STS named it, not a name of its own.
    let arn = sts_caller_arn().await;
    let rehomed = events_of(&t.id, "card.rehomed");
    assert_eq!(rehomed.len(), 2, "{rehomed:?}");
    assert!(
        rehomed
            .iter()
            .all(|e| e["actor"] == format!("operator:{arn}")),
        "{rehomed:?}"
    );
    // The tenant now uses the new account.
    let tenant = admin(&["show-tenant", "--tenant", &t.id]);
    assert_eq!(
        tenant["tenant"]["stripe"]["accountId"],
        to.as_str(),
        "{tenant}"
    );

    // The Fusebill view still shows the card, from the vault.
    let resp = call(
        reqwest::Method::GET,
        &format!("/v1/paymentMethods/{visa}"),
        &t.private_api_key,
        None,
    )
    .await;
    let (status, pm) = json(resp).await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["maskedCardNumber"], "************4242");
    assert_eq!(pm["storedInFusebillVault"], true);
}

#[tokio::test]
async fn a_dry_run_counts_and_changes_nothing() {
    let t = redirect_tenant("rehome-dry", &[]);
    let c = customer_of(&t).await;
    let visa = redirect_card(&t, c, "4242424242424242", 2).await;
    let mc = redirect_card(&t, c, "5555555555554444", 3).await;
    let imported = imported_card(&t, c).await;
    let before = [
        payment_method_item(c, visa).await,
        payment_method_item(c, mc).await,
        customer_item(c).await,
    ];

    let to = connected(&t, "Dry").await;
    let out = rehome(&t, &to, &["--dry-run"]);

    assert_eq!(out["dryRun"], true);
    assert_eq!(out["finished"], true);
    assert_eq!(out["moved"].as_array().unwrap().len(), 2, "{out}");
    assert!(out["moved"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.get("stripe").is_none()));
    assert_eq!(ids(&out["needsReimport"]), vec![imported]);
    assert_eq!(out["connectionSwitched"], false);
    let after = [
        payment_method_item(c, visa).await,
        payment_method_item(c, mc).await,
        customer_item(c).await,
    ];
    assert_eq!(before, after);
    let tenant = admin(&["show-tenant", "--tenant", &t.id]);
    assert_eq!(
        tenant["tenant"]["stripe"]["accountId"],
        t.stripe_account.as_str()
    );
}

/// A run stopped part-way (one card per batch, one batch), then resumed from its cursor,
/// then run again from the start: every card moved once, and localstripe holds exactly
/// one copy of each at the new account.
#[tokio::test]
async fn a_run_stopped_part_way_resumes_and_a_second_run_creates_nothing() {
    let t = redirect_tenant("rehome-resume", &[]);
    let (c1, c2) = (customer_of(&t).await, customer_of(&t).await);
    let cards = [
        (c1, redirect_card(&t, c1, "4242424242424242", 2).await),
        (c1, redirect_card(&t, c1, "5555555555554444", 3).await),
        (c2, redirect_card(&t, c2, "4000056655665556", 4).await),
    ];
    let to = connected(&t, "Resume").await;

    let first = rehome(&t, &to, &["--max-cards", "1", "--max-batches", "1"]);
    assert_eq!(first["finished"], false, "{first}");
    assert_eq!(first["moved"].as_array().unwrap().len(), 1);
    assert_eq!(
        first["connectionSwitched"], false,
        "not before the last batch"
    );
    let cursor = first["cursor"]
        .as_str()
        .expect("a cursor to resume from")
        .to_owned();
    let tenant = admin(&["show-tenant", "--tenant", &t.id]);
    assert_eq!(
        tenant["tenant"]["stripe"]["accountId"],
        t.stripe_account.as_str()
    );

    let rest = rehome(&t, &to, &["--max-cards", "1", "--cursor", &cursor]);
    assert_eq!(rest["finished"], true, "{rest}");
    assert_eq!(rest["connectionSwitched"], true);
    let mut moved = [ids(&first["moved"]), ids(&rest["moved"])].concat();
    moved.sort();
    let mut want: Vec<u64> = cards.iter().map(|(_, pm)| *pm).collect();
    want.sort();
    assert_eq!(moved, want, "each card moved once");

    let again = rehome(&t, &to, &[]);
    assert_eq!(again["moved"], json!([]), "{again}");
    assert_eq!(again["alreadyThere"], 3);

    for customer in [c1, c2] {
        let cus = customer_item(customer).await["stripeCustomerId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(made_under(&cus).await, to.as_str());
        let (_, list) = stripe_get(&format!("/v1/customers/{cus}/sources?object=card")).await;
        let at_stripe = list["data"].as_array().unwrap().len();
        let here = cards.iter().filter(|(c, _)| *c == customer).count();
        assert_eq!(at_stripe, here, "customer {customer}: {list}");
    }
}

#[tokio::test]
async fn another_tenants_cards_are_never_touched() {
    let (t, other) = (
        redirect_tenant("rehome-mine", &[]),
        redirect_tenant("rehome-other", &[]),
    );
    let mine = customer_of(&t).await;
    redirect_card(&t, mine, "4242424242424242", 2).await;
    let theirs = customer_of(&other).await;
    let their_card = redirect_card(&other, theirs, "4242424242424242", 2).await;
    let before = (
        payment_method_item(theirs, their_card).await,
        customer_item(theirs).await,
    );

    let to = connected(&t, "Mine").await;
    let out = rehome(&t, &to, &[]);

    assert_eq!(out["moved"].as_array().unwrap().len(), 1, "{out}");
    assert!(out["moved"][0]["customerId"] == json!(mine));
    let after = (
        payment_method_item(theirs, their_card).await,
        customer_item(theirs).await,
    );
    assert_eq!(before, after);
    let tenant = admin(&["show-tenant", "--tenant", &other.id]);
    assert_eq!(
        tenant["tenant"]["stripe"]["accountId"],
        other.stripe_account.as_str()
    );
}

#[tokio::test]
async fn a_target_outside_the_tenants_secrets_or_not_an_account_is_refused() {
    let t = redirect_tenant("rehome-bad", &[]);
    let c = customer_of(&t).await;
    let pm = redirect_card(&t, c, "4242424242424242", 2).await;
    let before = payment_method_item(c, pm).await;
    let err = admin_refuses(&[
        "rehome-cards",
        "--tenant",
        &t.id,
        "--to-secret-id",
        "cardvault/stripe-platform",
    ]);
    assert!(err.contains("cardvault/tenant/"), "{err}");
    let err = admin_refuses(&[
        "rehome-cards",
        "--tenant",
        &t.id,
        "--to",
        "cus_notAnAccount",
    ]);
    assert!(err.contains("acct_"), "{err}");
    // A key under the tenant's own prefix, even one in Secrets Manager: nothing proves
    // which account it opens (whoever wrote it could name their own), so it is refused.
    let secret = format!("cardvault/tenant/{}/stripe-next", t.id);
    admin(&[
        "put-secret",
        "--id",
        &secret,
        "--value",
        "sk_test_someone_elses",
    ]);
    let err = admin_refuses(&["rehome-cards", "--tenant", &t.id, "--to-secret-id", &secret]);
    assert!(
        err.contains("not proven to be the tenant's account"),
        "{err}"
    );
    // Another tenant's account: its owner would hold this tenant's cardholders' cards.
    let other = redirect_tenant("rehome-neighbour", &[]);
    let theirs = admin(&["show-tenant", "--tenant", &other.id])["tenant"]["stripe"]["accountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = admin_refuses(&["rehome-cards", "--tenant", &t.id, "--to", &theirs]);
    assert!(err.contains("another tenant"), "{err}");
    assert_eq!(payment_method_item(c, pm).await, before);
}

/// A card removed at Stripe (a webhook) after re-homing read it is not pointed at its new
/// copy: the write's condition refuses, so the copy is detached and the removed card is
/// never made chargeable again.
#[tokio::test]
async fn a_card_removed_at_stripe_while_it_moves_is_not_repointed() {
    use cardvault::domain::{PaymentMethod, StripeRef};
    use cardvault_core::ports::{RehomeStore, StoreError};
    let t = redirect_tenant("rehome-race", &[]);
    let c = customer_of(&t).await;
    let pm = redirect_card(&t, c, "4242424242424242", 2).await;
    let read: PaymentMethod =
        serde_json::from_value(payment_method_item(c, pm).await).expect("a payment method");
    update_payment_method_item(
        c,
        pm,
        "SET removedAtStripe = :at",
        &[(":at", "2026-12-03T00:00:00Z")],
    )
    .await;
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let store = cardvault_aws::store::Store::new(client, &stack().table);
    let to = StripeRef {
        customer_id: "cus_race".into(),
        source_id: "card_race".into(),
    };

    let written = store.rehome_payment_method(&read, &to, "acct_1Race").await;

    assert!(matches!(written, Err(StoreError::Conflict)), "{written:?}");
    let item = payment_method_item(c, pm).await;
    assert_eq!(item["stripe"], serde_json::to_value(&read.stripe).unwrap());
}

/// The tenant's audit events with `action`, once the chainer has numbered them.
fn events_of(tenant: &str, action: &str) -> Vec<Value> {
    let settled = audit_settled(tenant);
    assert_eq!(settled["pending"], 0, "{settled}");
    let all = admin(&["audit", "list", "--tenant", tenant]);
    all["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// Issue 26: an account id typed in free (no registration, no proof the tenant controls
/// it) is refused before a card is read: nothing is made at Stripe, the card stays, and
/// the refusal is on the tenant's trail.
#[tokio::test]
async fn an_account_typed_in_free_is_refused_and_the_refusal_is_audited() {
    let t = redirect_tenant("rehome-free", &[]);
    let c = customer_of(&t).await;
    let pm = redirect_card(&t, c, "4242424242424242", 2).await;
    let before = payment_method_item(c, pm).await;
    let to = new_account("Free");

    for dry in [&[][..], &["--dry-run"][..]] {
        let err = admin_refuses(&[&["rehome-cards", "--tenant", &t.id, "--to", &to], dry].concat());
        assert!(
            err.contains("not registered") && err.contains("connect-account"),
            "{err}"
        );
    }

    assert_eq!(payment_method_item(c, pm).await, before);
    let made = stripe_calls("/v1/customers").await;
    assert!(
        !made
            .iter()
            .any(|(_, _, account)| account.as_deref() == Some(&to)),
        "{made:?}"
    );
    let refused = events_of(&t.id, "rehome.refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0]["object"], to.as_str());
    assert_eq!(refused[0]["outcome"], "refused");
    // The invoking principal, as STS named it to the function.
    let arn = sts_caller_arn().await;
    assert_eq!(refused[0]["actor"], format!("operator:{arn}"));
}

/// Issue 26: registration records only the account Stripe answers for the tenant's code
/// (once), audited with the operator's AWS identity; never another tenant's account.
#[tokio::test]
async fn registration_takes_stripes_answer_once_and_never_another_tenants_account() {
    let (t, other) = (
        redirect_tenant("rehome-reg", &[]),
        redirect_tenant("rehome-reg-other", &[]),
    );
    let to = new_account("Reg");
    let code = oauth_code(&to).await;

    let out = admin(&["connect-account", "--tenant", &t.id, "--oauth-code", &code]);

    assert_eq!(out["account"], to.as_str(), "{out}");
    let registered = events_of(&t.id, "rehome.targetRegistered");
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0]["object"], to.as_str());
    // Who registered it: the caller's AWS identity (moto's STS), not a login name.
    let actor = registered[0]["actor"].as_str().unwrap();
    assert!(actor.starts_with("operator:arn:aws:"), "{actor}");
    // A code is good once, and a made-up one never.
    for code in [code.as_str(), "ac_madeUp"] {
        let err = admin_refuses(&["connect-account", "--tenant", &t.id, "--oauth-code", code]);
        assert!(err.contains("invalid_grant"), "{err}");
    }
    // The other tenant's own connection, or the account this tenant registered: refused.
    for theirs in [&t.stripe_account, &to] {
        let code = oauth_code(theirs).await;
        let err = admin_refuses(&[
            "connect-account",
            "--tenant",
            &other.id,
            "--oauth-code",
            &code,
        ]);
        assert!(err.contains("another tenant"), "{theirs}: {err}");
    }
    assert!(events_of(&other.id, "rehome.targetRegistered").is_empty());
}

/// Issue 26: `set-stripe` applies the same rule: no account another tenant is connected
/// through or registered as its re-homing target.
#[tokio::test]
async fn set_stripe_refuses_an_account_another_tenant_holds() {
    let (t, other) = (
        redirect_tenant("stripe-mine", &[]),
        redirect_tenant("stripe-theirs", &[]),
    );
    let registered = connected(&other, "Theirs").await;
    for theirs in [&other.stripe_account, &registered] {
        let err = admin_refuses(&["set-stripe", "--tenant", &t.id, "--account", theirs]);
        assert!(err.contains("another tenant"), "{theirs}: {err}");
    }
    let tenant = admin(&["show-tenant", "--tenant", &t.id]);
    assert_eq!(
        tenant["tenant"]["stripe"]["accountId"],
        t.stripe_account.as_str()
    );
    // Its own account again is fine.
    admin(&[
        "set-stripe",
        "--tenant",
        &t.id,
        "--account",
        &t.stripe_account,
    ]);
}

/// Issue 26: the operator in an audit event is the caller's AWS identity (STS
/// GetCallerIdentity); `CARDVAULT_OPERATOR` only adds a label beside it.
#[tokio::test]
async fn the_operator_is_the_callers_aws_identity_with_a_label_beside_it() {
    let t = redirect_tenant("operator-id", &[]);
    let arn = sts_caller_arn().await;
    admin_as(
        "claims-to-be-root",
        &[
            "set-origins",
            "--tenant",
            &t.id,
            "--origin",
            "https://a.example",
        ],
    );

    let changed = events_of(&t.id, "tenant.settingsChanged");
    let origins: Vec<&Value> = changed
        .iter()
        .filter(|e| e["object"] == "origins")
        .collect();
    let last = origins.last().unwrap();
    assert_eq!(
        last["actor"],
        format!("operator:{arn} [claims-to-be-root]"),
        "{origins:?}"
    );
    // Without a label: the identity alone (redirect_tenant's own changes).
    assert!(
        changed
            .iter()
            .any(|e| e["actor"] == format!("operator:{arn}")),
        "{changed:?}"
    );
}

/// The ARN moto's STS answers for the stack's credentials.
async fn sts_caller_arn() -> String {
    let sts = aws_sdk_sts::Client::new(&aws().await);
    let me = sts.get_caller_identity().send().await.expect("moto's STS");
    me.arn().unwrap().to_owned()
}

/// One invocation of the re-homing function through the fleet's Invoke API, as anyone
/// allowed to invoke it could: its answer, or `{"functionError": …}`.
async fn invoke_rehome(payload: &Value) -> Value {
    let resp = http()
        .post(format!(
            "http://127.0.0.1:{}/2015-03-31/functions/rehome-cards/invocations",
            stack().lambda_invoke_port
        ))
        .json(payload)
        .send()
        .await
        .unwrap();
    let failed = resp.headers().contains_key("x-amz-function-error");
    let body: Value = resp.json().await.unwrap();
    if failed {
        json!({ "functionError": body })
    } else {
        body
    }
}

/// Issue 26: the function serves only a caller STS names as the operator. A payload with
/// no signed caller, one signed for another host (the function never sends it there), or
/// one signed by another principal (a role session moto's STS hands out) is refused before
/// a card is read. (moto does not check signatures: a forged one is not tested here.)
#[tokio::test]
async fn the_function_serves_only_the_principal_sts_names_as_the_operator() {
    let t = redirect_tenant("rehome-who", &[]);
    let c = customer_of(&t).await;
    let pm = redirect_card(&t, c, "4242424242424242", 2).await;
    let before = payment_method_item(c, pm).await;
    let to = connected(&t, "Who").await;
    let request = json!({"tenant": t.id, "toAccount": to});
    let payload = |caller: &Value| {
        let mut p = request.clone();
        p["caller"] = caller["caller"].clone();
        p
    };

    let operator = signed_for(&[], request.clone());
    let mut elsewhere = operator.clone();
    elsewhere["caller"]["headers"]["host"] = json!("169.254.169.254");
    let sts = aws_sdk_sts::Client::new(&aws().await);
    let session = sts
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/not-the-operator")
        .role_session_name("mallory")
        .send()
        .await
        .expect("moto's AssumeRole");
    let creds = session.credentials().unwrap();
    let intruder = signed_for(
        &[
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", creds.session_token()),
        ],
        request.clone(),
    );
    // The operator's caller for another payload (a dry run of the same tenant, say): a
    // caller is good for the payload it was signed with only.
    let for_another = signed_for(
        &[],
        json!({"tenant": t.id, "toAccount": to, "dryRun": true}),
    );
    let mut anonymous = request.clone();
    anonymous.as_object_mut().unwrap().remove("caller");

    for (what, sent, says) in [
        ("no caller", anonymous, "caller"),
        (
            "no headers",
            payload(&json!({"caller": {"headers": {}}})),
            "signed for",
        ),
        ("another host", payload(&elsewhere), "signed for"),
        (
            "another payload's",
            payload(&for_another),
            "does not name this payload",
        ),
        (
            "another principal",
            payload(&intruder),
            "not the operator role",
        ),
    ] {
        let answer = invoke_rehome(&sent).await;
        let message = answer["functionError"]["errorMessage"].as_str();
        assert!(
            message.is_some_and(|m| m.contains(says)),
            "{what}: {answer}"
        );
    }
    assert_eq!(payment_method_item(c, pm).await, before);
    // Each refused caller is on the tenant's trail, named by nothing it said itself (the
    // payload without a caller is refused before the caller is checked).
    let refused = events_of(&t.id, "rehome.refused");
    let unverified: Vec<&Value> = refused
        .iter()
        .filter(|e| e["actor"] == "operator:unverified caller")
        .collect();
    assert_eq!(unverified.len(), 4, "{refused:?}");
    // The operator's own signature is served.
    let served = invoke_rehome(&operator).await;
    assert_eq!(
        served["moved"].as_array().map(Vec::len),
        Some(1),
        "{served}"
    );
}
