//! `connect-account`: registers a Stripe connected account as a re-homing target of a
//! tenant, on proof that the tenant controls it. The proof is Stripe Connect's OAuth: the
//! tenant authorizes the platform in Stripe and hands the operator the authorization code;
//! this exchanges it at Stripe's token endpoint (`POST <connect base>/oauth/token`, with the
//! platform key) and records the account Stripe answers (`stripe_user_id`). An account id
//! is never typed in: only Stripe names it.
//!
//! The endpoint is `STRIPE_CONNECT_BASE` (default `https://connect.stripe.com`; the local
//! stack points it at localstripe, whose patch answers codes: infra/stack.sh).

use serde_json::{json, Value};

use super::{secrets, Result};
use crate::tenants::tenant_id;
use crate::vault::{chained, AdminVault};
use cardvault::domain::Actor;
use cardvault::vault::rehome::PROOF_STRIPE_OAUTH;

pub struct ConnectArgs {
    pub tenant: String,
    pub oauth_code: String,
    pub platform_secret_id: String,
    pub connect_base: String,
}

/// The tenant must exist before its code is spent; the registration (its checks and its
/// `rehome.targetRegistered` event) is the vault's (`vault::admin`).
pub async fn connect_account(
    aws: &aws_config::SdkConfig,
    vault: &AdminVault,
    args: ConnectArgs,
    operator: &Actor,
) -> Result<Value> {
    let tenant = vault
        .stored_tenant(&tenant_id(&args.tenant)?)
        .await
        .map_err(chained)?
        .id;
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let key = secrets::read_secret(&sm, &args.platform_secret_id)
        .await?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("the platform key {} is not set", args.platform_secret_id))?;
    let account = exchange_code(&args.connect_base, &key, &args.oauth_code).await?;
    vault
        .register_rehome_target(&tenant, &account, PROOF_STRIPE_OAUTH, operator)
        .await
        .map_err(chained)?;
    Ok(json!({
        "tenant": tenant.as_str(),
        "account": account,
        "proof": PROOF_STRIPE_OAUTH,
    }))
}

/// Stripe's answer to the code: the connected account's id, or Stripe's refusal.
async fn exchange_code(base: &str, platform_key: &str, code: &str) -> Result<String> {
    let url = format!("{}/oauth/token", base.trim_end_matches('/'));
    // An operator's one call: bounded, so a Stripe that does not answer fails the command.
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let resp = http
        .post(&url)
        .bearer_auth(platform_key)
        .form(&[("grant_type", "authorization_code"), ("code", code)])
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("{url} answered {status} with no JSON: {e}"))?;
    account_of(status.is_success(), &body)
}

/// The account in a token answer; a refusal in Stripe's own words.
fn account_of(ok: bool, body: &Value) -> Result<String> {
    if !ok {
        return Err(format!(
            "Stripe refused the code: {} ({})",
            body["error"].as_str().unwrap_or("no error"),
            body["error_description"]
                .as_str()
                .unwrap_or("no description"),
        )
        .into());
    }
    body["stripe_user_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "Stripe's answer names no stripe_user_id".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_stripes_answer_and_a_refusal_is_an_error() {
        let answer = json!({"stripe_user_id": "acct_1X", "token_type": "bearer"});
        assert_eq!(account_of(true, &answer).unwrap(), "acct_1X");
        let refused = json!({"error": "invalid_grant", "error_description": "used"});
        let e = account_of(false, &refused).unwrap_err().to_string();
        assert!(e.contains("invalid_grant") && e.contains("used"), "{e}");
        assert!(account_of(true, &json!({})).is_err());
    }
}
