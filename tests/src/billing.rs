//! The billing card API's callers and calls: bearer tokens with a role, tenants and
//! accounts of their own, and `POST /card/*`.

use serde_json::{json, Value};

use crate::{admin, fresh_user, http, json, jwt_config, stripe_token, token, url};

/// A bearer token for a fresh user of `tenant`, with an `account` and a `role` if given.
pub fn billing_token(tenant: &str, account: Option<&str>, role: Option<&str>) -> String {
    token(tenant, &fresh_user("billing"), account, role)
}

/// An `owner` of `account`.
pub fn owner(tenant: &str, account: &str) -> String {
    billing_token(tenant, Some(account), Some("owner"))
}

/// An admin of `account`: admins, like owners, act within their own account.
pub fn admin_of(tenant: &str, account: &str) -> String {
    billing_token(tenant, Some(account), Some("admin"))
}

/// `POST path` with the bearer token and an optional JSON body: (status, body).
pub async fn card(path: &str, bearer: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .post(url(path))
        .header("Authorization", format!("Bearer {bearer}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    json(req.send().await.unwrap()).await
}

/// A new card of the token's account (a fresh localstripe token ending in 4242).
pub async fn create(bearer: &str, current: bool) -> Value {
    let tok = stripe_token().await;
    let (status, card) = card(
        "/card/create",
        bearer,
        Some(
            json!({"current": current, "name": "Team Visa", "number": "4242424242424242",
                    "month": "12", "year": "2030", "stripeToken": tok}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    card
}

/// A tenant of its own (Connect, like demo-a), so pages have known contents.
pub fn fresh_tenant() -> String {
    let id = format!(
        "bill-{}",
        fresh_user("t").chars().rev().take(12).collect::<String>()
    );
    admin(&["create-tenant", "--id", &id, "--name", "Billing"]);
    // An account of its own: no two tenants share one (`set-stripe` refuses).
    let account = format!("acct_1Bill{}", id.replace('-', ""));
    admin(&["set-stripe", "--tenant", &id, "--account", &account]);
    let config = jwt_config();
    admin(&[
        "trust-issuer",
        "--tenant",
        &id,
        "--issuer",
        &config.issuer,
        "--audience",
        &config.audience,
    ]);
    id
}

/// An account id no other test uses.
pub fn account() -> String {
    fresh_user("acct")
}
