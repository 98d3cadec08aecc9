//! Bearer JWTs: the user API (Rechat style) and the billing card API (EmbedThis style).
//!
//! Two kinds of token are accepted, told apart by the header's `alg`:
//!
//! - **RS256**, issued by an identity provider (a Cognito user pool, any OIDC provider) and
//!   verified against its JWKS (`JWT_JWKS_URL`). The JWKS is fetched on first use, cached,
//!   and fetched again when a token names a `kid` the cache lacks (a key rotation), at most
//!   once per [`JWKS_REFRESH_MIN`] so that tokens with made-up `kid`s cannot make us hammer
//!   the provider. The cache is described at [`JwtVerifier`]'s JWKS lookup. Without
//!   `JWT_JWKS_URL`, RS256 tokens are refused.
//! - **HS256**, self-issued (the admin CLI's `mint-jwt`), verified with the secret
//!   `JWT_HS256_SECRET_ID` (at least [`HS256_SECRET_MIN`] bytes), and only while no
//!   `JWT_JWKS_URL` is set: beside an identity provider, a minting secret must not exist.
//!
//! Any other `alg` (`none` included: it does not even parse) is refused. The key is chosen
//! by the algorithm and the validation allows only that algorithm, so an HS256 token is
//! never checked against RSA key material (the classic alg-confusion attack) nor an RS256
//! token against the HMAC secret.
//!
//! Every token must carry `iss`, `aud` (a string or an array), `exp` and `sub`; `nbf` is
//! checked when present. Whether the tenant the token names trusts its `iss` and `aud` is
//! the vault's question (`vault::callers`), not this module's. Clock skew of
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
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::{http::header::AUTHORIZATION, Request};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::domain::TenantId;
use crate::error::{BoxError, Error};

pub const DEFAULT_ISSUER: &str = "cardvault";
pub const DEFAULT_AUDIENCE: &str = "cardvault";
/// Allowed clock skew on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = crate::domain::TOKEN_CLOCK_SKEW_SECS as u64;
/// The JWKS is fetched again on an unknown `kid` at most this often.
pub const JWKS_REFRESH_MIN: Duration = Duration::from_secs(30);
/// Cached keys are trusted this long; after it the JWKS is read again, so a key the
/// provider withdrew stops working in warm containers too.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Through an identity-provider outage, cached keys keep working this long past their age
/// (stale-if-error); after it, bearer calls answer 502 until the JWKS can be read.
pub const JWKS_STALE_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// After a failed refresh, the JWKS is not asked again for this long.
pub const JWKS_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// An HS256 secret shorter than this is refused (RFC 7518 §3.2: at least the hash size).
pub const HS256_SECRET_MIN: usize = 32;
const JWKS_TIMEOUT: Duration = Duration::from_secs(3);
/// Real tokens are well under 2 KiB; anything past this is refused unparsed.
const TOKEN_MAX_LEN: usize = 8 * 1024;
const SUB_MAX: usize = 255;
const ACCOUNT_MAX: usize = 128;
/// The longest `iss` taken: the same bound a tenant's trusted issuer is set with.
use crate::domain::limits::ISSUER_MAX;

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

    /// `JWT_ISSUER`, `JWT_AUDIENCE` (both default `cardvault`: what self-issued tokens
    /// carry), `JWT_JWKS_URL` (optional; https, or http on loopback), `JWT_TENANT_CLAIM`,
    /// `JWT_ACCOUNT_CLAIM`, `JWT_ROLE_CLAIM`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let defaults = ClaimNames::default();
        let jwks_url = var("JWT_JWKS_URL");
        if let Some(url) = &jwks_url {
            check_jwks_url(url)?;
        }
        Ok(Self {
            issuer: var("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            jwks_url,
            claims: ClaimNames {
                tenant: var("JWT_TENANT_CLAIM").unwrap_or(defaults.tenant),
                account: var("JWT_ACCOUNT_CLAIM").unwrap_or(defaults.account),
                role: var("JWT_ROLE_CLAIM").unwrap_or(defaults.role),
            },
        })
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

pub use crate::domain::{Principal, Role, Token};

/// Reads the caller of a token whose signature and registered claims were checked: the
/// scoping claims, and the issuer and audiences its tenant must trust.
pub fn token_from_claims(claims: &Map<String, Value>, names: &ClaimNames) -> Result<Token, Error> {
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|s| plain_text(s, ISSUER_MAX))
        .ok_or(Error::Unauthorized("The token's iss claim is not valid."))?
        .to_owned();
    // `aud` is a string or an array of them (RFC 7519 §4.1.3).
    let audiences = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if audiences.is_empty() {
        return Err(Error::Unauthorized("The token's aud claim is not valid."));
    }
    // `exp` is required and checked by the validation; `iat` is the tenant's question.
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Error::Unauthorized("The token's exp claim is not valid."))?;
    let issued_at = match claims.get("iat") {
        None => None,
        Some(iat) => Some(
            iat.as_i64()
                .ok_or(Error::Unauthorized("The token's iat claim is not valid."))?,
        ),
    };
    Ok(Token {
        principal: principal_from_claims(claims, names)?,
        issuer,
        audiences,
        issued_at,
        expires_at,
    })
}

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

/// The claims' text rule, the same as a tenant's trusted issuers are held to when set.
use crate::domain::plain_text;

/// What to put in a self-issued token. `iss` and `aud` come from the config.
#[derive(Clone, Debug)]
pub struct Mint<'a> {
    pub tenant: &'a TenantId,
    pub sub: &'a str,
    pub account: Option<&'a str>,
    pub role: Option<Role>,
    pub ttl: Duration,
}

/// The claims the verifier reads: `iss`, `aud`, `sub`, `iat`, `nbf`, `exp` and the scoping
/// claims under `config`'s names.
fn mint_claims(config: &JwtConfig, mint: &Mint<'_>) -> Value {
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
    claims
}

/// Signs an HS256 token (deployments without a JWKS, and tests).
pub fn mint_hs256(
    config: &JwtConfig,
    secret: &SecretString,
    mint: &Mint<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &mint_claims(config, mint),
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

/// Signs an RS256 token with a PKCS#1 DER private key, under `kid` (the local stack's
/// stand-in for an identity provider, and tests).
pub fn mint_rs256(
    config: &JwtConfig,
    private_key_der: &[u8],
    kid: &str,
    mint: &Mint<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &mint_claims(config, mint),
        &EncodingKey::from_rsa_der(private_key_der),
    )
}

/// A JWKS URL must be https; plain http is allowed only on loopback (the local stack).
pub fn check_jwks_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let host = url
        .strip_prefix("http://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .map(|authority| match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        });
    match host {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        _ => Err(format!(
            "JWT_JWKS_URL must be https (plain http only on loopback): {url:?}"
        )),
    }
}

/// The JWKS as last read, and how the last refresh went.
#[derive(Default)]
struct JwksState {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
    failed: Option<Instant>,
    refreshing: bool,
}

/// What a key lookup may do next.
enum Next {
    Use(DecodingKey),
    Refresh,
    Wait,
    Refuse(Error),
}

/// Ends a refresh: whatever happened to the lookup that ran it.
struct RefreshDone<'a>(&'a JwtVerifier);

impl Drop for RefreshDone<'_> {
    fn drop(&mut self) {
        self.0
            .jwks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refreshing = false;
        self.0.refreshed.notify_waiters();
    }
}

/// Verifies bearer tokens. One per container; the JWKS cache lives as long.
pub struct JwtVerifier {
    config: JwtConfig,
    http: OnceLock<reqwest::Client>,
    jwks: std::sync::Mutex<JwksState>,
    refreshed: Notify,
    refresh_min: Duration,
    max_age: Duration,
}

impl JwtVerifier {
    pub fn new(config: JwtConfig) -> Self {
        Self {
            config,
            http: OnceLock::new(),
            jwks: std::sync::Mutex::new(JwksState::default()),
            refreshed: Notify::new(),
            refresh_min: JWKS_REFRESH_MIN,
            max_age: JWKS_MAX_AGE,
        }
    }

    /// Another minimum interval between JWKS fetches on unknown `kid`s (tests).
    pub fn with_jwks_refresh_min(mut self, interval: Duration) -> Self {
        self.refresh_min = interval;
        self
    }

    /// Another age after which cached JWKS keys are read again (tests: stale-if-error).
    pub fn with_jwks_max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The caller behind `Authorization: Bearer <JWT>`. `hs_secret` is asked for the HS256
    /// key only when the token is HS256 and no JWKS is configured, so an RS256 deployment
    /// never reads it.
    pub async fn authenticate<F, Fut>(&self, req: &Request, hs_secret: F) -> Result<Token, Error>
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

    pub async fn verify<F, Fut>(&self, token: &BearerToken, hs_secret: F) -> Result<Token, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<SecretString>, Error>>,
    {
        let header = jsonwebtoken::decode_header(token.reveal())
            .map_err(|_| Error::Unauthorized("The bearer token is not a well-formed JWT."))?;
        let key = match header.alg {
            // With an identity provider configured, its keys are the only ones: a secret
            // that could mint tokens must not exist beside it.
            Algorithm::HS256 if self.config.jwks_url.is_some() => {
                return Err(Error::Unauthorized(
                    "HS256 tokens are not accepted by this deployment.",
                ))
            }
            Algorithm::HS256 => {
                let secret = hs_secret().await?.ok_or(Error::Unauthorized(
                    "HS256 tokens are not accepted by this deployment.",
                ))?;
                if secret.expose_secret().len() < HS256_SECRET_MIN {
                    tracing::error!(
                        min_bytes = HS256_SECRET_MIN,
                        "the HS256 secret is too short; HS256 tokens are refused until it is replaced"
                    );
                    return Err(Error::Unauthorized(
                        "HS256 tokens are not accepted by this deployment.",
                    ));
                }
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
            &validation(header.alg),
        )
        .map_err(|e| Error::Unauthorized(rejection(e.kind())))?;
        token_from_claims(&data.claims, &self.config.claims)
    }

    /// The provider's key `kid`, from the cache or a refresh of the JWKS. No lock is held
    /// across the fetch; one refresh runs at a time and the others wait for it; a failed
    /// refresh is not retried for [`JWKS_FAILURE_BACKOFF`]; and cached keys keep being
    /// served through an outage for up to [`JWKS_STALE_LIMIT`] past their age.
    async fn rsa_key(&self, kid: &str) -> Result<DecodingKey, Error> {
        let url = self.config.jwks_url.as_deref().ok_or(Error::Unauthorized(
            "RS256 tokens are not accepted by this deployment.",
        ))?;
        // Two rounds at most: a lookup, then (after a refresh, ours or another's) the last.
        for round in 0..2 {
            let refreshed = self.refreshed.notified();
            match self.next_step(kid, round > 0) {
                Next::Use(key) => return Ok(key),
                Next::Refuse(e) => return Err(e),
                Next::Wait => {
                    let _ = tokio::time::timeout(JWKS_TIMEOUT, refreshed).await;
                }
                Next::Refresh => {
                    // Clears `refreshing` and wakes the waiters even if this lookup is
                    // cancelled mid-fetch (a dropped request), so refreshes never stall.
                    let done = RefreshDone(self);
                    let fetched = self.fetch_jwks(url).await;
                    let mut state = self.jwks.lock().unwrap_or_else(|p| p.into_inner());
                    match fetched {
                        Ok(keys) => {
                            state.keys = keys;
                            state.fetched = Some(Instant::now());
                            state.failed = None;
                        }
                        Err(e) => {
                            state.failed = Some(Instant::now());
                            tracing::warn!(error = %e.chain(), "JWKS refresh failed");
                        }
                    }
                    drop(state);
                    drop(done);
                }
            }
        }
        Err(unknown_key())
    }

    /// Decides, under the lock (never held across a fetch), whether to use a cached key,
    /// refresh, wait for the refresh in flight, or refuse. `after_refresh`: a refresh ran
    /// (or was waited for) for this lookup already.
    fn next_step(&self, kid: &str, after_refresh: bool) -> Next {
        let mut state = self.jwks.lock().unwrap_or_else(|p| p.into_inner());
        let age = state.fetched.map(|t| t.elapsed());
        let fresh = age.is_some_and(|a| a < self.max_age);
        let usable = age.is_some_and(|a| a < self.max_age + JWKS_STALE_LIMIT);
        let backing_off = state
            .failed
            .is_some_and(|t| t.elapsed() < JWKS_FAILURE_BACKOFF);
        if let Some(key) = state.keys.get(kid) {
            // A stale key serves while a refresh runs, after one failed, and in back-off.
            if fresh || (usable && (after_refresh || backing_off || state.refreshing)) {
                return Next::Use(key.clone());
            }
        }
        if after_refresh || backing_off {
            return Next::Refuse(if usable {
                unknown_key()
            } else {
                jwks_unavailable()
            });
        }
        // An unknown kid refreshes a fresh cache only so often: made-up kids must not make
        // us hammer the provider.
        if fresh && age.is_some_and(|a| a < self.refresh_min) {
            return Next::Refuse(unknown_key());
        }
        if state.refreshing {
            return Next::Wait;
        }
        state.refreshing = true;
        Next::Refresh
    }

    /// RSA signing keys with a `kid`; keys for other uses or algorithms are left out.
    async fn fetch_jwks(&self, url: &str) -> Result<HashMap<String, DecodingKey>, Error> {
        let unavailable = |e: BoxError| Error::Upstream {
            message: JWKS_UNAVAILABLE.into(),
            source: Some(e),
        };
        // No redirects: the https-only rule checked at start-up must hold for every hop.
        let http = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // The shared connect timeout; the request's own is JWKS_TIMEOUT.
                .connect_timeout(cardvault_net::TIMEOUTS.connect)
                .build()
                .unwrap_or_default()
        });
        let resp = http
            .get(url)
            .timeout(JWKS_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(e.into()))?;
        if !resp.status().is_success() {
            return Err(unavailable(
                format!("JWKS answered HTTP {}", resp.status().as_u16()).into(),
            ));
        }
        let set: JwkSet = resp.json().await.map_err(|e| unavailable(e.into()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let c = &jwk.common;
            let usable = matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                && c.public_key_use
                    .as_ref()
                    .is_none_or(|u| *u == PublicKeyUse::Signature)
                && c.key_algorithm.is_none_or(|a| a == KeyAlgorithm::RS256)
                && c.key_operations
                    .as_ref()
                    .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
            if let (true, Some(kid)) = (usable, &c.key_id) {
                if let Ok(key) = DecodingKey::from_jwk(jwk) {
                    keys.insert(kid.clone(), key);
                }
            }
        }
        Ok(keys)
    }
}

const JWKS_UNAVAILABLE: &str = "The identity provider's signing keys could not be read; try again.";

fn unknown_key() -> Error {
    Error::Unauthorized("The token was signed with an unknown key.")
}

fn jwks_unavailable() -> Error {
    Error::Upstream {
        message: JWKS_UNAVAILABLE.into(),
        source: None,
    }
}

/// Exactly one algorithm, the one whose key was chosen. `iss` and `aud` must be present;
/// whether their values are trusted is the tenant's question (`vault::callers`).
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

/// The caller-facing reason a verified-shape token was refused.
fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "The token has expired.",
        ErrorKind::ImmatureSignature => "The token is not valid yet (nbf).",
        ErrorKind::InvalidSignature => "The token's signature is invalid.",
        ErrorKind::MissingRequiredClaim(_) => {
            "The token lacks a required claim (exp, iss, aud and sub are required)."
        }
        _ => "The bearer token is invalid.",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

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

    async fn verify(config: JwtConfig, token: &str) -> Result<Token, Error> {
        verify_with(config, token, secret()).await
    }

    async fn verify_with(
        config: JwtConfig,
        token: &str,
        secret: SecretString,
    ) -> Result<Token, Error> {
        let v = JwtVerifier::new(config);
        let token = BearerToken::parse(token).ok_or(Error::Unauthorized("unparsable"))?;
        v.verify(&token, || async { Ok(Some(secret)) }).await
    }

    fn unauthorized(r: Result<Token, Error>) -> &'static str {
        match r {
            Err(Error::Unauthorized(m)) => m,
            other => panic!("expected 401, got {other:?}"),
        }
    }

    /// Signs `claims` as HS256 with `key`, whatever they hold.
    fn sign_hs256(claims: &Value, key: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    fn sign(claims: &Value) -> String {
        sign_hs256(claims, secret().expose_secret().as_bytes())
    }

    /// Good claims for `demo-a`, valid for a minute.
    fn base_claims() -> Value {
        json!({"iss": "cardvault", "aud": "cardvault", "sub": "u", "tenant": "demo-a",
               "exp": jsonwebtoken::get_current_timestamp() + 60})
    }

    #[test]
    fn claim_values_with_invisible_or_surrounding_characters_are_refused() {
        for bad in [
            "acct\u{202E}1",
            "acct\u{200B}1",
            "acct\u{2028}1",
            " acct-1",
            "acct-1 ",
            "a\u{FEFF}",
            "a\nb",
            "",
        ] {
            assert!(!plain_text(bad, 128), "{bad:?}");
        }
        for good in [
            "acct-1",
            "Ünïcödé account",
            "80a227b2-29a0-11e7-b636-e4a7a08e15d4",
        ] {
            assert!(plain_text(good, 128), "{good:?}");
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
    fn the_token_carries_its_issuer_and_audiences() {
        let names = ClaimNames::default();
        let base = json!({"sub": "u", "tenant": "demo-a", "iss": "https://idp.example",
                          "iat": 1_000, "exp": 2_000});
        for (aud, expected) in [
            (json!("app-1"), vec!["app-1"]),
            (json!(["app-1", "app-2"]), vec!["app-1", "app-2"]),
            // Non-strings in the array are no audience.
            (json!(["app-1", 7, null]), vec!["app-1"]),
        ] {
            let mut c = base.clone();
            c["aud"] = aud.clone();
            let t = token_from_claims(&claims(c), &names).unwrap();
            assert_eq!(t.issuer, "https://idp.example");
            assert_eq!(t.audiences, expected, "{aud}");
            assert_eq!(t.principal.user, "u");
            assert_eq!(t.principal.tenant, tenant());
            assert_eq!((t.issued_at, t.expires_at), (Some(1_000), 2_000));
        }
        // `iat` is optional (the tenant decides), but a present one must be a number.
        let mut no_iat = base.clone();
        no_iat["aud"] = json!("app-1");
        no_iat.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            token_from_claims(&claims(no_iat.clone()), &names)
                .unwrap()
                .issued_at,
            None
        );
        for iat in [json!("1000"), json!(1.5), json!(null)] {
            let mut c = no_iat.clone();
            c["iat"] = iat.clone();
            assert!(token_from_claims(&claims(c), &names).is_err(), "{iat}");
        }
    }

    #[test]
    fn a_token_without_a_valid_iss_or_aud_is_refused() {
        let names = ClaimNames::default();
        let good = json!({"sub": "u", "tenant": "demo-a", "iss": "idp", "aud": "app",
                          "exp": 2_000});
        assert!(token_from_claims(&claims(good.clone()), &names).is_ok());
        for (field, value, reason) in [
            ("iss", None, "iss"),
            ("iss", Some(json!("")), "iss"),
            ("iss", Some(json!(" ")), "iss"),
            ("iss", Some(json!(7)), "iss"),
            ("iss", Some(json!("a\nb")), "iss"),
            ("iss", Some(json!("x".repeat(ISSUER_MAX + 1))), "iss"),
            ("aud", None, "aud"),
            ("aud", Some(json!([])), "aud"),
            ("aud", Some(json!([7])), "aud"),
            ("aud", Some(json!(7)), "aud"),
            ("aud", Some(json!({"a": "b"})), "aud"),
        ] {
            let mut c = good.clone();
            match value {
                Some(v) => c[field] = v,
                None => {
                    c.as_object_mut().unwrap().remove(field);
                }
            }
            match token_from_claims(&claims(c.clone()), &names) {
                Err(Error::Unauthorized(m)) => assert!(m.contains(reason), "{c}: {m}"),
                other => panic!("{c}: expected 401, got {other:?}"),
            }
        }
        // The longest issuer allowed.
        let mut c = good;
        c["iss"] = json!("x".repeat(ISSUER_MAX));
        assert!(token_from_claims(&claims(c), &names).is_ok());
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

    #[test]
    fn jwks_urls_must_be_https_or_loopback_http() {
        for good in [
            "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json",
            "https://idp.example:8443/jwks",
            "http://127.0.0.1/jwks",
            "http://127.0.0.1:4010/.well-known/jwks.json",
            "http://localhost:4010/jwks",
            "http://localhost",
            "http://[::1]:4010/jwks",
            "http://[::1]",
            "http://localhost?x=1",
        ] {
            assert_eq!(check_jwks_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "http://127.0.0.2/jwks",
            "http://localhost.evil.example/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "http://localhost@evil.example/jwks",
            "http://evil.example#@localhost",
            "http://localhost:80@evil.example/",
            "http://evil.example:80@localhost/",
            "http://127.0.0.1\\@evil.example/",
            "http://localhost:port/jwks",
            "http://[::2]/jwks",
            "HTTP://localhost/jwks",
            "ftp://localhost/jwks",
            "file:///etc/jwks.json",
            "localhost/jwks",
            "//localhost/jwks",
            "",
        ] {
            let e = check_jwks_url(bad).unwrap_err();
            assert!(e.contains("JWT_JWKS_URL must be https"), "{bad}: {e}");
        }
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
    async fn minted_hs256_tokens_verify_and_carry_the_configs_issuer_and_audience() {
        let config = JwtConfig::default();
        let t = verify(config.clone(), &mint(&config, 60)).await.unwrap();
        assert_eq!(t.principal.user, "user-1");
        assert_eq!(t.principal.role, Some(Role::Admin));
        assert_eq!(t.principal.account.as_deref(), Some("acct-1"));
        assert_eq!(t.issuer, DEFAULT_ISSUER);
        assert_eq!(t.audiences, [DEFAULT_AUDIENCE]);
    }

    #[tokio::test]
    async fn issuer_and_audience_are_returned_for_the_tenant_to_judge_not_checked_here() {
        // Whether an issuer is trusted is the tenant's question (`vault::callers`): the
        // verifier accepts any, and says which.
        let config = JwtConfig::default();
        let other = JwtConfig::new("https://idp.example/pool", "someone-else");
        let t = verify(config.clone(), &mint(&other, 60)).await.unwrap();
        assert_eq!(t.issuer, "https://idp.example/pool");
        assert_eq!(t.audiences, ["someone-else"]);

        let mut list = base_claims();
        list["aud"] = json!(["other", "cardvault"]);
        let t = verify(config.clone(), &sign(&list)).await.unwrap();
        assert_eq!(t.audiences, ["other", "cardvault"]);

        // The signature is checked all the same.
        let wrong_key = mint_hs256(
            &config,
            &SecretString::from("another-secret-another-secret-another".to_owned()),
            &Mint {
                tenant: &tenant(),
                sub: "u",
                account: None,
                role: None,
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap();
        assert!(unauthorized(verify(config, &wrong_key).await).contains("signature"));
    }

    #[tokio::test]
    async fn a_token_without_iss_or_aud_is_refused() {
        let config = JwtConfig::default();
        for field in ["iss", "aud", "sub", "exp"] {
            let mut c = base_claims();
            c.as_object_mut().unwrap().remove(field);
            let m = unauthorized(verify(config.clone(), &sign(&c)).await);
            assert!(m.contains("required"), "{field}: {m}");
        }
        for (field, value) in [
            ("aud", json!([])),
            ("aud", json!(7)),
            ("iss", json!("")),
            ("iss", json!(7)),
        ] {
            let mut c = base_claims();
            c[field] = value.clone();
            let r = verify(config.clone(), &sign(&c)).await;
            assert!(
                matches!(r, Err(Error::Unauthorized(_))),
                "{field}={value}: {r:?}"
            );
        }
    }

    #[tokio::test]
    async fn expired_and_not_yet_valid_tokens_are_refused() {
        let config = JwtConfig::default();
        let now = jsonwebtoken::get_current_timestamp();
        let base = json!({"iss": "cardvault", "aud": "cardvault", "sub": "u", "tenant": "demo-a"});
        let mut expired = base.clone();
        expired["exp"] = json!(now - LEEWAY_SECS - 5);
        assert!(unauthorized(verify(config.clone(), &sign(&expired)).await).contains("expired"));
        // Within the leeway: still good.
        let mut skewed = base.clone();
        skewed["exp"] = json!(now - LEEWAY_SECS + 10);
        assert!(verify(config.clone(), &sign(&skewed)).await.is_ok());
        let mut early = base.clone();
        early["exp"] = json!(now + 600);
        early["nbf"] = json!(now + 300);
        assert!(unauthorized(verify(config.clone(), &sign(&early)).await).contains("nbf"));
        let mut no_exp = base;
        no_exp["nbf"] = json!(now);
        assert!(unauthorized(verify(config, &sign(&no_exp)).await).contains("required"));
    }

    #[tokio::test]
    async fn alg_none_and_unknown_algorithms_are_refused() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let config = JwtConfig::default();
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = b64(base_claims());
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

    #[tokio::test]
    async fn a_secret_store_failure_is_not_a_401() {
        let config = JwtConfig::default();
        let token = BearerToken::parse(&mint(&config, 60)).unwrap();
        let v = JwtVerifier::new(config);
        let r = v
            .verify(&token, || async { Err(Error::bug("secrets unavailable")) })
            .await;
        assert!(matches!(r, Err(Error::Internal { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn hs256_is_refused_whenever_a_jwks_url_is_set() {
        // A token correctly signed with the deployment's HS256 secret: refused all the
        // same, and the secret is never read.
        let config = JwtConfig {
            jwks_url: Some("https://idp.example/.well-known/jwks.json".into()),
            ..JwtConfig::default()
        };
        let token = BearerToken::parse(&mint(&config, 60)).unwrap();
        let v = JwtVerifier::new(config.clone());
        let asked = AtomicBool::new(false);
        let r = v
            .verify(&token, || async {
                asked.store(true, Ordering::SeqCst);
                Ok(Some(secret()))
            })
            .await;
        assert!(unauthorized(r).contains("HS256"));
        assert!(!asked.load(Ordering::SeqCst), "the HS256 secret was read");

        // The same token verifies where no JWKS is configured.
        let plain = JwtConfig {
            jwks_url: None,
            ..config
        };
        assert!(verify(plain, token.reveal()).await.is_ok());
    }

    #[tokio::test]
    async fn a_short_hs256_secret_is_refused_even_for_a_well_signed_token() {
        let config = JwtConfig::default();
        let mint_with = |key: &str| {
            mint_hs256(
                &config,
                &SecretString::from(key.to_owned()),
                &Mint {
                    tenant: &tenant(),
                    sub: "u",
                    account: None,
                    role: None,
                    ttl: Duration::from_secs(60),
                },
            )
            .unwrap()
        };
        for len in [0, 1, 16, HS256_SECRET_MIN - 1] {
            let key = "k".repeat(len);
            let r = verify_with(config.clone(), &mint_with(&key), SecretString::from(key)).await;
            assert_eq!(
                unauthorized(r),
                "HS256 tokens are not accepted by this deployment.",
                "{len} bytes"
            );
        }
        // Exactly the minimum is enough.
        let key = "k".repeat(HS256_SECRET_MIN);
        let t = verify_with(config.clone(), &mint_with(&key), SecretString::from(key))
            .await
            .unwrap();
        assert_eq!(t.principal.user, "u");
    }

    #[tokio::test]
    async fn authenticate_reads_the_authorization_header() {
        use lambda_http::Body;
        let config = JwtConfig::default();
        let v = JwtVerifier::new(config.clone());
        let request = |auth: Option<String>| {
            let mut b = lambda_http::http::Request::builder();
            if let Some(a) = auth {
                b = b.header(AUTHORIZATION, a);
            }
            b.body(Body::Empty).unwrap()
        };
        let good = mint(&config, 60);
        let t = v
            .authenticate(&request(Some(format!("Bearer {good}"))), || async {
                Ok(Some(secret()))
            })
            .await
            .unwrap();
        assert_eq!(t.principal.user, "user-1");
        for (auth, reason) in [
            (None, "Missing"),
            (Some(format!("Basic {good}")), "Malformed"),
            (Some("Bearer".to_owned()), "Malformed"),
            (Some("Bearer not a token".to_owned()), "Malformed"),
        ] {
            let r = v
                .authenticate(&request(auth.clone()), || async { Ok(Some(secret())) })
                .await;
            assert!(unauthorized(r).contains(reason), "{auth:?}");
        }
    }
}
#[cfg(test)]
#[path = "jwt_tests.rs"]
mod jwks_tests;
