//! Cards and tokens made directly at localstripe, as a client of Stripe would make them.

use serde_json::Value;

use crate::{customer_item, http, json, stack};

/// A card on a new localstripe customer: (cus_…, card_…). `key` is the Stripe key the
/// tenant's connection uses; localstripe accepts any test key.
pub async fn stripe_card(name: &str, extra: &[(&str, &str)]) -> (String, String) {
    let stripe = &stack().stripe_url;
    let mut form = vec![
        ("card[number]", "4242424242424242"),
        ("card[exp_month]", "12"),
        ("card[exp_year]", "2030"),
        ("card[cvc]", "123"),
        ("card[name]", name),
    ];
    form.extend_from_slice(extra);
    let token: Value = http()
        .post(format!("{stripe}/v1/tokens"))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = token["id"].as_str().expect("token id").to_owned();
    let customer: Value = http()
        .post(format!("{stripe}/v1/customers"))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&[("source", tok.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cus = customer["id"].as_str().expect("customer id").to_owned();
    let card = customer["sources"]["data"][0]["id"]
        .as_str()
        .expect("card id")
        .to_owned();
    (cus, card)
}

/// A new localstripe card token (`tok_…`), as Stripe.js would make one.
pub async fn stripe_token() -> String {
    stripe_token_for("4242424242424242").await
}

/// A token of another card number (localstripe declines 4000000000000002 and
/// 4000000000000127 when they are attached).
pub async fn stripe_token_for(pan: &str) -> String {
    stripe_token_of(pan, "123", "Jane Roe").await
}

/// A token of `pan` (expiring 8/2031) with its CVC and holder, as Stripe.js makes one from
/// the cardholder's entry (localstripe declines a card held by "Declined Cardholder").
pub async fn stripe_token_of(pan: &str, cvc: &str, holder: &str) -> String {
    let token: Value = http()
        .post(format!("{}/v1/tokens", stack().stripe_url))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .form(&[
            ("card[number]", pan),
            ("card[exp_month]", "8"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", cvc),
            ("card[name]", holder),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["id"].as_str().expect("token id").to_owned()
}

/// A GET at localstripe, as its JSON.
pub async fn stripe_get(path: &str) -> (u16, Value) {
    let resp = http()
        .get(format!("{}{path}", stack().stripe_url))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// Every request localstripe got at `path`: (method, the API key, the `Stripe-Account`
/// header), in order (infra/stack.sh's `/_cardvault/calls`: localstripe takes any key, so
/// this is how a test sees which one the vault used).
pub async fn stripe_calls(path: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let resp = http()
        .get(format!("{}/_cardvault/calls", stack().stripe_url))
        .query(&[("path", path)])
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    let text = |v: &Value| v.as_str().map(str::to_owned);
    body.as_array()
        .expect("a list of calls")
        .iter()
        .map(|c| {
            (
                text(&c["method"]).unwrap_or_default(),
                text(&c["key"]),
                text(&c["account"]),
            )
        })
        .collect()
}

/// The cards attached at localstripe to a vault customer's Stripe customer (0 before it has
/// one).
pub async fn cards_at_stripe(customer: u64) -> usize {
    let Some(cus) = customer_item(customer).await["stripeCustomerId"]
        .as_str()
        .map(str::to_owned)
    else {
        return 0;
    };
    stripe_card_ids(&cus).await.len()
}

/// A Stripe customer's cards: its legacy sources (`card_…`), then its PaymentMethods
/// (`pm_…`, how the vault saves cards now).
pub async fn stripe_card_ids(cus: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for path in [
        format!("/v1/customers/{cus}/sources?object=card"),
        format!("/v1/customers/{cus}/payment_methods?type=card"),
    ] {
        let (status, list) = stripe_get(&path).await;
        assert_eq!(status, 200, "{list}");
        ids.extend(
            list["data"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
    }
    ids
}

/// The tenant's consent to connect `account`, as Stripe Connect's OAuth gives it: a
/// one-time authorization code (localstripe's stand-in, infra/stack.sh).
pub async fn oauth_code(account: &str) -> String {
    let resp = http()
        .post(format!("{}/_cardvault/oauth/authorize", stack().stripe_url))
        .basic_auth("sk_test_cardvault_tests", Some(""))
        .json(&serde_json::json!({ "account": account }))
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// Registers `account` as a re-homing target of `tenant`, as the operator does: the
/// tenant's code, exchanged by `cardvault-admin connect-account`.
pub async fn connect_account(tenant: &str, account: &str) -> Value {
    let code = oauth_code(account).await;
    crate::admin(&["connect-account", "--tenant", tenant, "--oauth-code", &code])
}
