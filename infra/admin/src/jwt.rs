//! `mint-jwt`: a bearer token the functions accept (shared/edge/src/auth/jwt.rs verifies it):
//! HS256 with the HS256 secret, or RS256 with a PKCS#1 DER private key whose public half
//! a JWKS serves (the local stack's stand-in identity provider).

use aws_config::SdkConfig;
use cardvault::auth::jwt::{mint_hs256, mint_rs256, JwtConfig, Mint, Role, HS256_SECRET_MIN};
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
    /// The HS256 key itself; without it (and without an RSA key), the HS256 secret's value.
    pub secret: Option<String>,
    pub hs256_secret_id: String,
    /// RS256 instead: a PKCS#1 DER private key file, and the `kid` its JWKS names it by.
    pub rsa_der: Option<String>,
    pub kid: String,
}

pub async fn mint(aws: &SdkConfig, mut a: MintArgs) -> Result<Value> {
    let signer = match (a.rsa_der.take(), a.secret.take()) {
        (Some(path), _) => Signer::Rs256(std::fs::read(&path)?),
        (None, Some(s)) => Signer::Hs256(s),
        (None, None) => Signer::Hs256(hs256_secret(aws, &a.hs256_secret_id).await?),
    };
    sign(a, signer)
}

enum Signer {
    Hs256(String),
    Rs256(Vec<u8>),
}

fn sign(a: MintArgs, signer: Signer) -> Result<Value> {
    let tenant = TenantId::try_from(a.tenant)?;
    let role = match a.role.as_deref() {
        Some(r) => Some(Role::parse(r).ok_or("--role must be owner, admin or user")?),
        None => None,
    };
    let config = JwtConfig {
        issuer: a.issuer,
        audience: a.audience,
        ..JwtConfig::from_env()?
    };
    let ttl = std::time::Duration::from_secs(a.ttl_secs);
    let mint = Mint {
        tenant: &tenant,
        sub: &a.sub,
        account: a.account.as_deref(),
        role,
        ttl,
    };
    let (token, algorithm) = match signer {
        Signer::Hs256(secret) => {
            if secret.len() < HS256_SECRET_MIN {
                return Err(
                    format!("the HS256 secret must be at least {HS256_SECRET_MIN} bytes").into(),
                );
            }
            (
                mint_hs256(&config, &SecretString::from(secret), &mint)?,
                "HS256",
            )
        }
        Signer::Rs256(der) => (mint_rs256(&config, &der, &a.kid, &mint)?, "RS256"),
    };
    let expires = OffsetDateTime::now_utc() + ttl;
    Ok(json!({
        "token": token,
        "algorithm": algorithm,
        "tenant": tenant,
        "sub": a.sub,
        "account": a.account,
        "role": role.map(|r| r.as_str()),
        "issuer": config.issuer,
        "audience": config.audience,
        "expiresAt": expires.unix_timestamp(),
    }))
}

async fn hs256_secret(aws: &SdkConfig, id: &str) -> Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    out.secret_string()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{id} is empty; put the HS256 secret there or pass --secret").into())
}
