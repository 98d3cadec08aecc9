use serde::{Deserialize, Serialize};

use super::KeyHash;
use super::{TenantId, Timestamp};

/// A merchant or app that uses the vault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Identifies the tenant on the transparent redirect; public by design.
    #[serde(default)]
    pub public_api_key: Option<String>,
    /// Origins (`https://shop.example`) allowed to use the transparent redirect.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub stripe: Option<StripeConnection>,
    /// Secrets Manager id of the tenant's own reCAPTCHA secret; the platform's is used otherwise.
    #[serde(default)]
    pub recaptcha_secret_id: Option<String>,
    /// The publishable key of a tenant with its own Stripe account (for `/card/getStripe`).
    #[serde(default)]
    pub stripe_publishable_key: Option<String>,
    /// The transparent redirect requires the AVS fields (address, city, country, postal code).
    #[serde(default)]
    pub require_avs: bool,
    /// The transparent redirect requires the risk fields (`clientIp`, `riskToken`).
    #[serde(default)]
    pub require_risk_fields: bool,
    /// ISO 4217 code, lower case as Stripe spells it.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

fn default_currency() -> String {
    "usd".into()
}

/// How the vault reaches Stripe for a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StripeConnection {
    /// The platform key plus `Stripe-Account: acct_…`.
    #[serde(rename_all = "camelCase")]
    Connect { account_id: String },
    /// The tenant's own secret key, kept in Secrets Manager under this id.
    #[serde(rename_all = "camelCase")]
    OwnKey { secret_id: String },
}

impl StripeConnection {
    pub fn parse_account_id(raw: &str) -> Result<Self, String> {
        let ok = raw.len() > 5
            && raw.len() <= 64
            && raw.starts_with("acct_")
            && raw[5..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self::Connect {
                account_id: raw.to_owned(),
            })
        } else {
            Err(format!("{raw:?} is not a Stripe account id (acct_…)"))
        }
    }
}

/// A private API key as stored: its hash, never the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub hash: KeyHash,
    /// A public handle for listing and revoking, unrelated to the key's characters.
    pub key_id: String,
    pub tenant_id: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}
