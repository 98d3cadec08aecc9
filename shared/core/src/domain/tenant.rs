use serde::{Deserialize, Serialize};

use super::KeyHash;
use super::{TenantId, Timestamp, VelocityLimits};

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
    /// The transparent redirect takes the card number, CVV and reCAPTCHA token from the
    /// query string too, as the document's sample request sends them. Off by default: a URL
    /// is recorded by API Gateway, proxies and the Lambda event.
    #[serde(default)]
    pub legacy_query_string_cards: bool,
    /// How the transparent redirect takes a card: the number itself (`server`, the
    /// document's flow) or only a PaymentMethod the browser made with Stripe.js
    /// (`stripeJs`: the vault never sees a PAN; README, "PCI scope").
    #[serde(default, skip_serializing_if = "CardFlow::is_server")]
    pub card_flow: CardFlow,
    /// The token issuers (with the audience each issues for) whose bearer tokens may act
    /// for this tenant. Empty: no bearer token does.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// How long a bearer token may live, and whether one without `iat` is taken.
    #[serde(default, skip_serializing_if = "TokenPolicy::is_default")]
    pub token_policy: TokenPolicy,
    /// The transparent redirect's card-testing limits this tenant overrides.
    #[serde(default, skip_serializing_if = "VelocityLimits::is_default")]
    pub velocity: VelocityLimits,
    /// When the connected account took the platform's access away
    /// (`account.application.deauthorized`): every Stripe call of the tenant (imports,
    /// redirects, …) is refused with a 4xx until `cardvault-admin set-stripe` sets a
    /// connection again, which clears it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub stripe_revoked_at: Option<Timestamp>,
    /// ISO 4217 code, lower case as Stripe spells it.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// An identity provider a tenant trusts: its `iss`, and the `aud` its tokens carry for
/// cardvault (a Cognito user pool's issuer URL and app client id, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
}

impl TrustedIssuer {
    /// A pair a tenant may trust. The issuer is plain text (`domain::plain_text`), as the
    /// token verifier reads `iss` (`auth::jwt`): one it would refuse (padded with spaces,
    /// over [`ISSUER_MAX`](super::limits::ISSUER_MAX) bytes, with control or invisible
    /// characters) could never match a token, and would still hold the tenant's one issuer
    /// place. The audience is compared as the token carries it: only a blank one is refused.
    pub fn parse(issuer: &str, audience: &str) -> Result<Self, String> {
        use super::limits::ISSUER_MAX;
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err("--issuer and --audience must not be empty".into());
        }
        if !super::plain_text(issuer, ISSUER_MAX) {
            return Err(format!(
                "issuer {issuer:?}: at most {ISSUER_MAX} bytes with no surrounding spaces, \
                 control or invisible characters (a token's iss is read so)"
            ));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }
}

/// The longest a public API key may be.
pub const PUBLIC_API_KEY_MAX: usize = 255;

/// A public API key a tenant may be given: one the transparent redirect can be sent and
/// find. The redirect trims the `publicApiKey` it reads, so a key with spaces around it
/// could never be found, and an empty one would be named by any blank field: plain text
/// (`domain::plain_text`) of at most [`PUBLIC_API_KEY_MAX`] bytes.
pub fn parse_public_api_key(raw: &str) -> Result<String, String> {
    if super::plain_text(raw, PUBLIC_API_KEY_MAX) {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "a public API key is 1 to {PUBLIC_API_KEY_MAX} bytes with no surrounding spaces, \
             control or invisible characters (the redirect trims what it is sent)"
        ))
    }
}

impl Tenant {
    /// A new tenant: no keys, origins, Stripe connection or trusted issuers yet, and the
    /// default token policy and card-testing limits.
    pub fn new(id: TenantId, name: String, currency: String, created_at: Timestamp) -> Self {
        Self {
            id,
            name,
            public_api_key: None,
            allowed_origins: Vec::new(),
            stripe: None,
            recaptcha_secret_id: None,
            stripe_publishable_key: None,
            require_avs: false,
            require_risk_fields: false,
            legacy_query_string_cards: false,
            card_flow: CardFlow::Server,
            stripe_revoked_at: None,
            trusted_issuers: Vec::new(),
            token_policy: TokenPolicy::default(),
            velocity: VelocityLimits::default(),
            currency,
            created_at,
        }
    }

    /// Whether a token from `issuer` for one of `audiences` may act for this tenant.
    pub fn trusts(&self, issuer: &str, audiences: &[String]) -> bool {
        self.trusted_issuers
            .iter()
            .any(|t| t.issuer == issuer && audiences.contains(&t.audience))
    }
}

/// The longest lifetime a tenant takes by default: a day. A token that lives longer is a
/// credential that outlives a session, and a stolen one is good for that long.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// A tenant's rule for bearer tokens' lifetimes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicy {
    /// The longest lifetime taken: `exp` − `iat`, or `exp` − now without `iat`.
    #[serde(default = "default_max_token_lifetime")]
    pub max_lifetime_secs: u64,
    /// Whether a token without `iat` is taken at all. Off: such a token's lifetime cannot
    /// be told, only what is left of it.
    #[serde(default)]
    pub allow_missing_iat: bool,
}

/// The longest maximum a tenant may set: 30 days. Longer, a token is a standing credential.
pub const MAX_TOKEN_LIFETIME_LIMIT_SECS: u64 = 30 * 24 * 3600;

fn default_max_token_lifetime() -> u64 {
    DEFAULT_MAX_TOKEN_LIFETIME_SECS
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            max_lifetime_secs: DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            allow_missing_iat: false,
        }
    }
}

/// Why a tenant's policy refuses a token (a 401; [`TokenRefusal::message`] is the
/// caller's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    NoIssuedAt,
    /// `iat` after now (beyond the clock skew), or not before `exp`: a lifetime measured
    /// from it would be short or negative however long the token really lives.
    BadIssuedAt,
    TooLong,
}

/// The clock skew allowed on `iat`, as on `exp` and `nbf` (`auth::jwt`).
pub const TOKEN_CLOCK_SKEW_SECS: i64 = 30;

impl TokenRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::NoIssuedAt => "The token has no iat claim, and its tenant requires one.",
            Self::BadIssuedAt => "The token's iat claim is in the future or not before its exp.",
            Self::TooLong => "The token's lifetime is longer than its tenant allows.",
        }
    }
}

impl TokenPolicy {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// A maximum lifetime a tenant may set: 0 would refuse every token, and one over
    /// [`MAX_TOKEN_LIFETIME_LIMIT_SECS`] is a standing credential.
    pub fn check_max_lifetime(secs: u64) -> Result<u64, String> {
        const MAX: u64 = MAX_TOKEN_LIFETIME_LIMIT_SECS;
        if (1..=MAX).contains(&secs) {
            Ok(secs)
        } else {
            Err(format!("--max-lifetime-secs {secs}: from 1 to {MAX}"))
        }
    }

    /// Whether a token issued at `issued_at` and expiring at `expires_at` may act, at
    /// `now` (Unix seconds).
    pub fn admits(
        &self,
        issued_at: Option<i64>,
        expires_at: i64,
        now: i64,
    ) -> Result<(), TokenRefusal> {
        let from = match issued_at {
            Some(iat) if iat > now.saturating_add(TOKEN_CLOCK_SKEW_SECS) || iat >= expires_at => {
                return Err(TokenRefusal::BadIssuedAt)
            }
            Some(iat) => iat,
            None if self.allow_missing_iat => now,
            None => return Err(TokenRefusal::NoIssuedAt),
        };
        let lifetime = i128::from(expires_at) - i128::from(from);
        if lifetime > i128::from(self.max_lifetime_secs) {
            return Err(TokenRefusal::TooLong);
        }
        Ok(())
    }
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
    /// A short name of the connection, for the records that say where a card's Stripe
    /// references point: `acct_…`, or `secret:<secret id>`. Never a key.
    pub fn label(&self) -> String {
        match self {
            Self::Connect { account_id } => account_id.clone(),
            Self::OwnKey { secret_id } => format!("secret:{secret_id}"),
        }
    }

    /// A tenant's own key must live under `cardvault/tenant/<id>/`: IAM lets the functions
    /// read nothing else.
    pub fn parse_secret_id(tenant: &TenantId, raw: &str) -> Result<Self, String> {
        let prefix = format!("cardvault/tenant/{tenant}/");
        let ok = raw.starts_with(&prefix)
            && raw.len() > prefix.len()
            && raw.len() <= 512
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
        if ok {
            Ok(Self::OwnKey {
                secret_id: raw.to_owned(),
            })
        } else {
            Err(format!("{raw:?} is not a secret id under {prefix}"))
        }
    }

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

/// How the transparent redirect takes a card (`Tenant::card_flow`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CardFlow {
    /// The card number, CVV and expiry are posted to the vault, which sends them to
    /// Stripe's raw-card API and keeps the number sealed (SAQ D).
    #[default]
    Server,
    /// The browser makes the PaymentMethod with Stripe.js and posts only its `pm_…` id; a
    /// posted card number is refused.
    StripeJs,
}

impl CardFlow {
    pub fn is_server(&self) -> bool {
        *self == Self::Server
    }

    /// `server` or `stripe-js`, as the admin CLI takes it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "server" => Ok(Self::Server),
            "stripe-js" => Ok(Self::StripeJs),
            other => Err(format!("{other:?} is not a card flow: server or stripe-js")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(trusted: &[(&str, &str)]) -> Tenant {
        Tenant {
            id: TenantId::try_from("t1".to_owned()).unwrap(),
            name: "T1".into(),
            public_api_key: None,
            allowed_origins: Vec::new(),
            stripe: None,
            recaptcha_secret_id: None,
            stripe_publishable_key: None,
            require_avs: false,
            require_risk_fields: false,
            legacy_query_string_cards: false,
            card_flow: CardFlow::Server,
            stripe_revoked_at: None,
            trusted_issuers: trusted
                .iter()
                .map(|(issuer, audience)| TrustedIssuer {
                    issuer: (*issuer).into(),
                    audience: (*audience).into(),
                })
                .collect(),
            token_policy: TokenPolicy::default(),
            velocity: VelocityLimits::default(),
            currency: "usd".into(),
            created_at: time::macros::datetime!(2025-06-01 0:00 UTC),
        }
    }

    #[test]
    fn a_token_policy_measures_a_lifetime_from_iat_or_from_now() {
        let p = TokenPolicy::default();
        assert_eq!(p.admits(Some(100), 100 + 86_400, 5_000), Ok(()));
        assert_eq!(
            p.admits(Some(100), 100 + 86_401, 5_000),
            Err(TokenRefusal::TooLong)
        );
        assert_eq!(p.admits(None, 6_000, 5_000), Err(TokenRefusal::NoIssuedAt));
        // An `iat` in the future or not before `exp` would make a long token look short:
        // refused, past the clock skew; extremes do not overflow.
        let year = 365 * 86_400;
        for (iat, exp) in [
            (5_000 + year, 5_000 + year + 60),
            (5_000 + 31, 5_000 + 600),
            (i64::MAX, i64::MIN),
            (i64::MAX, i64::MAX),
            (6_000, 6_000),
            (4_000, 3_000),
        ] {
            assert_eq!(
                p.admits(Some(iat), exp, 5_000),
                Err(TokenRefusal::BadIssuedAt)
            );
        }
        assert_eq!(p.admits(Some(5_030), 5_600, 5_000), Ok(()));
        assert_eq!(
            p.admits(Some(i64::MIN), i64::MAX, 0),
            Err(TokenRefusal::TooLong)
        );
        let lax = TokenPolicy {
            max_lifetime_secs: 60,
            allow_missing_iat: true,
        };
        assert_eq!(lax.admits(None, 5_060, 5_000), Ok(()));
        assert_eq!(lax.admits(None, 5_061, 5_000), Err(TokenRefusal::TooLong));
        // Stored tenants without a policy read as the default, which is not written.
        let t: Tenant = serde_json::from_value(serde_json::json!({
            "id": "t1", "name": "T1", "createdAt": "2025-06-01T00:00:00Z"}))
        .unwrap();
        assert!(t.token_policy.is_default());
        assert!(serde_json::to_value(&t)
            .unwrap()
            .get("tokenPolicy")
            .is_none());
    }

    fn auds(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn a_stripe_account_id_is_acct_and_up_to_59_letters_digits_or_underscores() {
        for ok in [
            "acct_1",
            "acct_1DemoShop_A",
            &format!("acct_{}", "a".repeat(59)),
        ] {
            assert!(StripeConnection::parse_account_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "acct_",
            "acct_1Demo-A",
            "acct_1 Demo",
            "cus_1DemoShopA",
            &format!("acct_{}", "a".repeat(60)),
        ] {
            assert!(StripeConnection::parse_account_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tenant_trusts_an_issuer_only_for_its_audience() {
        let t = tenant(&[("idp-a", "app-a"), ("idp-b", "app-b")]);
        assert!(t.trusts("idp-a", &auds(&["app-a"])));
        assert!(t.trusts("idp-b", &auds(&["app-b"])));
        // One of the token's audiences is enough.
        assert!(t.trusts("idp-a", &auds(&["other", "app-a"])));
        for (iss, list) in [
            ("idp-a", &["app-b"][..]),
            ("idp-b", &["app-a"]),
            ("idp-c", &["app-a"]),
            ("idp-a", &[]),
            ("IDP-A", &["app-a"]),
            ("idp-a", &["APP-A"]),
            ("idp-a ", &["app-a"]),
            ("", &[""]),
        ] {
            assert!(!t.trusts(iss, &auds(list)), "{iss:?} {list:?}");
        }
    }

    #[test]
    fn a_tenant_with_no_trusted_issuer_trusts_no_token() {
        let t = tenant(&[]);
        assert!(!t.trusts("idp-a", &auds(&["app-a"])));
        assert!(!t.trusts("", &auds(&[""])));
    }

    #[test]
    fn trusted_issuers_default_to_none_and_round_trip_in_camel_case() {
        let mut json = serde_json::to_value(tenant(&[("https://idp.example", "app")])).unwrap();
        assert_eq!(
            json["trustedIssuers"],
            serde_json::json!([{"issuer": "https://idp.example", "audience": "app"}])
        );
        let back: Tenant = serde_json::from_value(json.clone()).unwrap();
        assert!(back.trusts("https://idp.example", &auds(&["app"])));
        // A tenant stored before trusted issuers existed trusts no one.
        json.as_object_mut().unwrap().remove("trustedIssuers");
        let old: Tenant = serde_json::from_value(json).unwrap();
        assert!(old.trusted_issuers.is_empty());
        // ...and one stored before tenants had a currency charges in US dollars.
        let mut json = serde_json::to_value(tenant(&[])).unwrap();
        json["currency"] = "eur".into();
        let eur: Tenant = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(eur.currency, "eur");
        json.as_object_mut().unwrap().remove("currency");
        let old: Tenant = serde_json::from_value(json).unwrap();
        assert_eq!(old.currency, "usd");
    }
}
