//! Bearer JWTs: the user API (Rechat style) and the billing card API (EmbedThis style).
//!
//! Two kinds of token are accepted, told apart by the header's `alg`:
//!
//! - **RS256**, issued by an identity provider (a Cognito user pool, any OIDC provider) and
//!   verified against its JWKS (`JWT_JWKS_URL`). The JWKS is fetched on first use, cached,
//!   and fetched again when a token names a `kid` the cache lacks (a key rotation), at most
//!   once per [`JWKS_REFRESH_MIN`] so that tokens with made-up `kid`s cannot make us hammer
//!   the provider. Without `JWT_JWKS_URL`, RS256 tokens are refused.
//! - **HS256**, self-issued (the admin CLI's `mint-jwt`, local development), verified with
//!   the platform secret's `jwtSecret`. With no such secret, HS256 tokens are refused.
//!
//! Any other `alg` (`none` included: it does not even parse) is refused. The key is chosen
//! by the algorithm and the validation allows only that algorithm, so an HS256 token is
//! never checked against RSA key material (the classic alg-confusion attack) nor an RS256
//! token against the HMAC secret.
//!
//! Every token must carry `iss` (= `JWT_ISSUER`), `aud` (= `JWT_AUDIENCE`, or an array
//! holding it), `exp` and `sub`; `nbf` is checked when present. Clock skew of
//! [`LEEWAY_SECS`] is allowed. The claims that scope the caller, with their default names
//! (each renameable through `JWT_TENANT_CLAIM`, `JWT_ACCOUNT_CLAIM`, `JWT_ROLE_CLAIM`, for
//! example to Cognito's `custom:tenant`):
//!
//! | claim     | meaning                                                    | required |
//! |-----------|------------------------------------------------------------|----------|
//! | `sub`     | the user                                                   | yes      |
//! | `tenant`  | the tenant (cardvault's tenant id, `demo-a`)               | yes      |
//! | `account` | the billing account (EmbedThis `accountId`)                | no       |
//! | `role`    | `owner`, `admin` or `user`                                 | no       |
//!
//! Every failure is a 401 ([`Error::Unauthorized`]), except a JWKS that cannot be read,
//! which is the provider's outage, not the caller's fault (502, [`Error::Upstream`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::{http::header::AUTHORIZATION, Request};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::domain::TenantId;
use crate::error::Error;

pub const DEFAULT_ISSUER: &str = "cardvault";
pub const DEFAULT_AUDIENCE: &str = "cardvault";
/// Allowed clock skew on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// The JWKS is fetched again on an unknown `kid` at most this often.
pub const JWKS_REFRESH_MIN: Duration = Duration::from_secs(30);
/// Cached keys are trusted this long; after it the JWKS is read again, so a key the
/// provider withdrew stops working in warm containers too.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_TIMEOUT: Duration = Duration::from_secs(3);
/// Real tokens are well under 2 KiB; anything past this is refused unparsed.
const TOKEN_MAX_LEN: usize = 8 * 1024;
const SUB_MAX: usize = 255;
const ACCOUNT_MAX: usize = 128;

/// The names of the claims that scope a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimNames {
    pub tenant: String,
    pub account: String,
    pub role: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant".into(),
            account: "account".into(),
            role: "role".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// RS256 tokens are accepted only when this is set.
    pub jwks_url: Option<String>,
    pub claims: ClaimNames,
}

impl JwtConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            claims: ClaimNames::default(),
        }
    }

    /// `JWT_ISSUER`, `JWT_AUDIENCE` (both default `cardvault`), `JWT_JWKS_URL` (optional),
    /// `JWT_TENANT_CLAIM`, `JWT_ACCOUNT_CLAIM`, `JWT_ROLE_CLAIM`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let defaults = ClaimNames::default();
        Self {
            issuer: var("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            jwks_url: var("JWT_JWKS_URL"),
            claims: ClaimNames {
                tenant: var("JWT_TENANT_CLAIM").unwrap_or(defaults.tenant),
                account: var("JWT_ACCOUNT_CLAIM").unwrap_or(defaults.account),
                role: var("JWT_ROLE_CLAIM").unwrap_or(defaults.role),
            },
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE)
    }
}

/// A bearer token as presented. Its `Debug` never prints it and it has no `Display`.
#[derive(Clone)]
pub struct BearerToken(SecretString);

impl BearerToken {
    /// The token in an `Authorization: Bearer …` header (scheme case-insensitive).
    pub fn from_header(header: &str) -> Option<Self> {
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        Self::parse(token.trim())
    }

    /// A compact JWS: base64url segments and dots, of sane length.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= TOKEN_MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='));
        ok.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

pub use crate::domain::{Principal, Role};

/// Reads the scoping claims of a token whose signature and registered claims were checked.
pub fn principal_from_claims(
    claims: &Map<String, Value>,
    names: &ClaimNames,
) -> Result<Principal, Error> {
    let tenant = claims
        .get(&names.tenant)
        .and_then(Value::as_str)
        .and_then(|t| TenantId::try_from(t.to_owned()).ok())
        .ok_or(Error::Unauthorized("The token names no valid tenant."))?;
    let user = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| plain_text(s, SUB_MAX))
        .ok_or(Error::Unauthorized(
            "The token's sub claim is not a valid user id.",
        ))?
        .to_owned();
    let account = match claims.get(&names.account) {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if plain_text(a, ACCOUNT_MAX) => Some(a.clone()),
        Some(_) => {
            return Err(Error::Unauthorized(
                "The token's account claim is not a valid account id.",
            ))
        }
    };
    let role = match claims.get(&names.role) {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(Role::parse(r).ok_or(Error::Unauthorized(
            "The token's role claim is not one of owner, admin, user.",
        ))?),
        Some(_) => {
            return Err(Error::Unauthorized(
                "The token's role claim is not one of owner, admin, user.",
            ))
        }
    };
    Ok(Principal {
        tenant,
        user,
        account,
        role,
    })
}

/// Non-empty, at most `max` bytes, no control characters: safe in keys and logs.
fn plain_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

/// What to put in a self-issued token.
#[derive(Clone, Debug)]
pub struct Mint<'a> {
    pub tenant: &'a TenantId,
    pub sub: &'a str,
    pub account: Option<&'a str>,
    pub role: Option<Role>,
    pub ttl: Duration,
}

/// Signs an HS256 token the verifier accepts: `iss`, `aud`, `sub`, `iat`, `nbf`, `exp`
/// and the scoping claims under `config`'s names.
pub fn mint_hs256(
    config: &JwtConfig,
    secret: &SecretString,
    mint: &Mint<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": config.issuer,
        "aud": config.audience,
        "sub": mint.sub,
        "iat": now,
        "nbf": now,
        "exp": now + mint.ttl.as_secs(),
    });
    claims[&config.claims.tenant] = json!(mint.tenant.as_str());
    if let Some(a) = mint.account {
        claims[&config.claims.account] = json!(a);
    }
    if let Some(r) = mint.role {
        claims[&config.claims.role] = json!(r.as_str());
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

#[derive(Default)]
struct JwksCache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Verifies bearer tokens. One per container; the JWKS cache lives as long.
pub struct JwtVerifier {
    config: JwtConfig,
    http: OnceLock<reqwest::Client>,
    jwks: Mutex<JwksCache>,
    refresh_min: Duration,
}

impl JwtVerifier {
    pub fn new(config: JwtConfig) -> Self {
        Self {
            config,
            http: OnceLock::new(),
            jwks: Mutex::new(JwksCache::default()),
            refresh_min: JWKS_REFRESH_MIN,
        }
    }

    /// Another minimum interval between JWKS fetches on unknown `kid`s (tests).
    pub fn with_jwks_refresh_min(mut self, interval: Duration) -> Self {
        self.refresh_min = interval;
        self
    }

    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The caller behind `Authorization: Bearer <JWT>`. `hs_secret` is asked for the HS256
    /// key only when the token is HS256, so an RS256-only deployment never reads it.
    pub async fn authenticate<F, Fut>(
        &self,
        req: &Request,
        hs_secret: F,
    ) -> Result<Principal, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<SecretString>, Error>>,
    {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthorized(
                "Missing Authorization header; send Authorization: Bearer <JWT>.",
            ))?;
        let token = BearerToken::from_header(header).ok_or(Error::Unauthorized(
            "Malformed Authorization header; send Authorization: Bearer <JWT>.",
        ))?;
        self.verify(&token, hs_secret).await
    }

    pub async fn verify<F, Fut>(
        &self,
        token: &BearerToken,
        hs_secret: F,
    ) -> Result<Principal, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<SecretString>, Error>>,
    {
        let header = jsonwebtoken::decode_header(token.reveal())
            .map_err(|_| Error::Unauthorized("The bearer token is not a well-formed JWT."))?;
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret = hs_secret()
                    .await?
                    .filter(|s| !s.expose_secret().is_empty())
                    .ok_or(Error::Unauthorized(
                        "HS256 tokens are not accepted by this deployment.",
                    ))?;
                DecodingKey::from_secret(secret.expose_secret().as_bytes())
            }
            Algorithm::RS256 => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or(Error::Unauthorized("The token's header has no kid."))?;
                self.rsa_key(kid).await?
            }
            _ => {
                return Err(Error::Unauthorized(
                    "Unsupported token algorithm; tokens must be RS256 or HS256.",
                ))
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token.reveal(),
            &key,
            &self.validation(header.alg),
        )
        .map_err(|e| Error::Unauthorized(rejection(e.kind())))?;
        principal_from_claims(&data.claims, &self.config.claims)
    }

    /// Exactly one algorithm, the one whose key was chosen.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v
    }

    /// The provider's key `kid`, from the cache or a (rate-limited) fetch of the JWKS. The
    /// lock is held across the fetch, so concurrent requests make one call, not several.
    async fn rsa_key(&self, kid: &str) -> Result<DecodingKey, Error> {
        let url = self.config.jwks_url.as_deref().ok_or(Error::Unauthorized(
            "RS256 tokens are not accepted by this deployment.",
        ))?;
        let mut cache = self.jwks.lock().await;
        let age = cache.fetched.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a >= JWKS_MAX_AGE);
        let may_refresh = age.is_none_or(|a| a >= self.refresh_min);
        if stale || (!cache.keys.contains_key(kid) && may_refresh) {
            cache.keys = self.fetch_jwks(url).await?;
            cache.fetched = Some(Instant::now());
        }
        cache.keys.get(kid).cloned().ok_or(Error::Unauthorized(
            "The token was signed with an unknown key.",
        ))
    }

    /// RSA signing keys with a `kid`; keys for other uses or algorithms are left out.
    async fn fetch_jwks(&self, url: &str) -> Result<HashMap<String, DecodingKey>, Error> {
        let unavailable = || Error::Upstream {
            message: "The identity provider's signing keys could not be read; try again.".into(),
            source: None,
        };
        let http = self.http.get_or_init(reqwest::Client::new);
        let resp = http
            .get(url)
            .timeout(JWKS_TIMEOUT)
            .send()
            .await
            .map_err(|_| unavailable())?;
        if !resp.status().is_success() {
            return Err(unavailable());
        }
        let set: JwkSet = resp.json().await.map_err(|_| unavailable())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let c = &jwk.common;
            let usable = matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                && c.public_key_use
                    .as_ref()
                    .is_none_or(|u| *u == PublicKeyUse::Signature)
                && c.key_algorithm.is_none_or(|a| a == KeyAlgorithm::RS256);
            if let (true, Some(kid)) = (usable, &c.key_id) {
                if let Ok(key) = DecodingKey::from_jwk(jwk) {
                    keys.insert(kid.clone(), key);
                }
            }
        }
        Ok(keys)
    }
}

/// The caller-facing reason a verified-shape token was refused.
fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "The token has expired.",
        ErrorKind::ImmatureSignature => "The token is not valid yet (nbf).",
        ErrorKind::InvalidAudience => "The token was issued for another audience.",
        ErrorKind::InvalidIssuer => "The token was issued by an unknown issuer.",
        ErrorKind::InvalidSignature => "The token's signature is invalid.",
        ErrorKind::MissingRequiredClaim(_) => {
            "The token lacks a required claim (exp, iss, aud and sub are required)."
        }
        _ => "The bearer token is invalid.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::try_from("demo-a".to_string()).unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn secret() -> SecretString {
        SecretString::from("test-secret-test-secret-test-secret".to_owned())
    }

    async fn verify(config: JwtConfig, token: &str) -> Result<Principal, Error> {
        let v = JwtVerifier::new(config);
        let token = BearerToken::parse(token).ok_or(Error::Unauthorized("unparsable"))?;
        v.verify(&token, || async { Ok(Some(secret())) }).await
    }

    fn unauthorized(r: Result<Principal, Error>) -> &'static str {
        match r {
            Err(Error::Unauthorized(m)) => m,
            other => panic!("expected 401, got {other:?}"),
        }
    }

    #[test]
    fn claims_give_tenant_user_account_and_role() {
        let names = ClaimNames::default();
        let p = principal_from_claims(
            &claims(
                json!({"sub": "u-1", "tenant": "demo-a", "account": "acct-1", "role": "owner"}),
            ),
            &names,
        )
        .unwrap();
        assert_eq!(p.tenant, tenant());
        assert_eq!(p.user, "u-1");
        assert_eq!(p.account.as_deref(), Some("acct-1"));
        assert_eq!(p.role, Some(Role::Owner));

        let p = principal_from_claims(&claims(json!({"sub": "u", "tenant": "demo-a"})), &names)
            .unwrap();
        assert_eq!((p.account, p.role), (None, None));
    }

    #[test]
    fn claim_names_are_configurable() {
        let names = ClaimNames {
            tenant: "custom:tenant".into(),
            account: "custom:account".into(),
            role: "custom:role".into(),
        };
        let p = principal_from_claims(
            &claims(json!({"sub": "u", "custom:tenant": "demo-a", "custom:role": "admin"})),
            &names,
        )
        .unwrap();
        assert_eq!(p.role, Some(Role::Admin));
        assert!(
            principal_from_claims(&claims(json!({"sub": "u", "tenant": "demo-a"})), &names)
                .is_err()
        );
    }

    #[test]
    fn bad_claims_are_refused() {
        let names = ClaimNames::default();
        for bad in [
            json!({"sub": "u"}),
            json!({"sub": "u", "tenant": "Demo A"}),
            json!({"sub": "u", "tenant": 7}),
            json!({"tenant": "demo-a"}),
            json!({"sub": "", "tenant": "demo-a"}),
            json!({"sub": "a\u{0}b", "tenant": "demo-a"}),
            json!({"sub": "x".repeat(256), "tenant": "demo-a"}),
            json!({"sub": "u", "tenant": "demo-a", "role": "root"}),
            json!({"sub": "u", "tenant": "demo-a", "role": ["owner"]}),
            json!({"sub": "u", "tenant": "demo-a", "account": 5}),
        ] {
            assert!(
                principal_from_claims(&claims(bad.clone()), &names).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_header_parsing_and_redaction() {
        let t = BearerToken::from_header("bearer  abc.def.ghi ").unwrap();
        assert_eq!(t.reveal(), "abc.def.ghi");
        assert!(!format!("{t:?}").contains("abc"));
        assert!(BearerToken::from_header("Basic abc").is_none());
        assert!(BearerToken::from_header("Bearer").is_none());
        assert!(BearerToken::from_header("Bearer a b").is_none());
        assert!(BearerToken::parse(&"a".repeat(TOKEN_MAX_LEN + 1)).is_none());
    }

    fn mint(config: &JwtConfig, ttl: u64) -> String {
        mint_hs256(
            config,
            &secret(),
            &Mint {
                tenant: &tenant(),
                sub: "user-1",
                account: Some("acct-1"),
                role: Some(Role::Admin),
                ttl: Duration::from_secs(ttl),
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn minted_hs256_tokens_verify() {
        let config = JwtConfig::default();
        let p = verify(config.clone(), &mint(&config, 60)).await.unwrap();
        assert_eq!(p.user, "user-1");
        assert_eq!(p.role, Some(Role::Admin));
    }

    #[tokio::test]
    async fn issuer_audience_and_secret_are_checked() {
        let config = JwtConfig::default();
        let other_aud = JwtConfig::new(DEFAULT_ISSUER, "someone-else");
        assert!(
            unauthorized(verify(config.clone(), &mint(&other_aud, 60)).await).contains("audience")
        );
        let other_iss = JwtConfig::new("https://evil.example", DEFAULT_AUDIENCE);
        assert!(
            unauthorized(verify(config.clone(), &mint(&other_iss, 60)).await).contains("issuer")
        );
        let wrong_key = mint_hs256(
            &config,
            &SecretString::from("another-secret".to_owned()),
            &Mint {
                tenant: &tenant(),
                sub: "u",
                account: None,
                role: None,
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap();
        assert!(unauthorized(verify(config.clone(), &wrong_key).await).contains("signature"));
    }

    #[tokio::test]
    async fn expired_and_not_yet_valid_tokens_are_refused() {
        let config = JwtConfig::default();
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret().expose_secret().as_bytes()),
            )
            .unwrap()
        };
        let base = json!({"iss": "cardvault", "aud": "cardvault", "sub": "u", "tenant": "demo-a"});
        let mut expired = base.clone();
        expired["exp"] = json!(now - LEEWAY_SECS - 5);
        assert!(unauthorized(verify(config.clone(), &sign(expired)).await).contains("expired"));
        let mut early = base.clone();
        early["exp"] = json!(now + 600);
        early["nbf"] = json!(now + 300);
        assert!(unauthorized(verify(config.clone(), &sign(early)).await).contains("nbf"));
        let mut no_exp = base.clone();
        no_exp["nbf"] = json!(now);
        assert!(unauthorized(verify(config.clone(), &sign(no_exp)).await).contains("required"));
        let mut aud_list = base;
        aud_list["exp"] = json!(now + 60);
        aud_list["aud"] = json!(["other", "cardvault"]);
        assert!(verify(config, &sign(aud_list)).await.is_ok());
    }

    #[tokio::test]
    async fn alg_none_and_unknown_algorithms_are_refused() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let config = JwtConfig::default();
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = b64(json!({"iss": "cardvault", "aud": "cardvault", "sub": "u",
            "tenant": "demo-a", "exp": jsonwebtoken::get_current_timestamp() + 60}));
        let none = format!("{}.{payload}.", b64(json!({"alg": "none", "typ": "JWT"})));
        assert!(verify(config.clone(), &none).await.is_err());
        let hs512 = format!("{}.{payload}.c2ln", b64(json!({"alg": "HS512"})));
        assert!(unauthorized(verify(config.clone(), &hs512).await).contains("algorithm"));
        // RS256 with no JWKS configured.
        let rs = format!(
            "{}.{payload}.c2ln",
            b64(json!({"alg": "RS256", "kid": "k"}))
        );
        assert!(unauthorized(verify(config, &rs).await).contains("RS256"));
    }

    #[tokio::test]
    async fn hs256_is_refused_without_a_secret() {
        let config = JwtConfig::default();
        let token = BearerToken::parse(&mint(&config, 60)).unwrap();
        let v = JwtVerifier::new(config);
        let r = v.verify(&token, || async { Ok(None) }).await;
        assert!(unauthorized(r).contains("HS256"));
    }
}
#[cfg(test)]
#[path = "jwt_tests.rs"]
mod jwks_tests;
