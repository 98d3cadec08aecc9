//! `mint-jwt`: an HS256 token the functions accept (shared/src/auth/jwt.rs verifies it).

use aws_config::SdkConfig;
use cardvault::auth::jwt::{mint_hs256, JwtConfig, Mint, Role};
use cardvault::domain::TenantId;
use cardvault::secret::SecretString;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::Result;

pub struct MintArgs {
    pub tenant: String,
    pub sub: String,
    pub account: Option<String>,
    pub role: Option<String>,
    pub ttl_secs: u64,
    pub issuer: String,
    pub audience: String,
    /// The HS256 key itself; without it, the platform secret's `jwtSecret`.
    pub secret: Option<String>,
    pub platform_secret_id: String,
}

pub async fn mint(aws: &SdkConfig, mut a: MintArgs) -> Result<Value> {
    let secret = match a.secret.take() {
        Some(s) => s,
        None => platform_jwt_secret(aws, &a.platform_secret_id).await?,
    };
    sign(a, secret)
}

fn sign(a: MintArgs, secret: String) -> Result<Value> {
    if secret.is_empty() {
        return Err("the JWT secret is empty".into());
    }
    let tenant = TenantId::try_from(a.tenant)?;
    let role = match a.role.as_deref() {
        Some(r) => Some(Role::parse(r).ok_or("--role must be owner, admin or user")?),
        None => None,
    };
    let config = JwtConfig {
        issuer: a.issuer,
        audience: a.audience,
        ..JwtConfig::from_env()
    };
    let ttl = std::time::Duration::from_secs(a.ttl_secs);
    let token = mint_hs256(
        &config,
        &SecretString::from(secret),
        &Mint {
            tenant: &tenant,
            sub: &a.sub,
            account: a.account.as_deref(),
            role,
            ttl,
        },
    )?;
    let expires = OffsetDateTime::now_utc() + ttl;
    Ok(json!({
        "token": token,
        "tenant": tenant,
        "sub": a.sub,
        "account": a.account,
        "role": role.map(|r| r.as_str()),
        "issuer": config.issuer,
        "audience": config.audience,
        "expiresAt": expires.unix_timestamp(),
    }))
}

async fn platform_jwt_secret(aws: &SdkConfig, id: &str) -> Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    let platform: Value = serde_json::from_str(out.secret_string().unwrap_or("{}"))?;
    platform["jwtSecret"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{id} has no jwtSecret; set one or pass --secret").into())
}
