//! Wiring: what a function builds once per cold start. Building makes no network call: the
//! AWS SDK resolves credentials lazily, secrets are read on first use, and the one HTTP
//! client is built on first use (its TLS roots load once, and only if a call goes out).

use lambda_http::Request;

use crate::auth::{self, caller, jwt::JwtVerifier, Caller};
use crate::config::{Config, ConfigError};
use crate::deps::{All, Build, Deps, Webhooks, Wired, Wiring};
use crate::domain::{Principal, TenantId};
use crate::error::Error;
use crate::ports::{RandomIds, SecretSource, SystemClock};
use crate::vault::{Adapters, Settings, Vault};

/// A function's vault, built from its [`Deps`] (every adapter unless a function says less).
pub struct App<D: Deps = All> {
    pub config: Config,
    pub vault: Vault<Wired<D>>,
    users: JwtVerifier,
    /// For the HS256 secret, which no vault rule reads.
    secrets: D::Secrets,
}

impl<D: Deps> App<D> {
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(config, &crate::aws::sdk::sdk_config()?))
    }

    pub fn new(config: Config, aws: &aws_types::SdkConfig) -> Self {
        let w = Wiring::new(&config, aws);
        let secrets = D::Secrets::build(&w);
        let adapters = Adapters::<Wired<D>> {
            store: w.store(),
            gateway: D::Gateway::build(&w),
            keys: D::Keys::build(&w),
            secrets: secrets.clone(),
            captcha: D::Captcha::build(&w),
            clock: SystemClock,
            ids: RandomIds,
            webhooks: Webhooks::build(&w),
        };
        let settings = Settings {
            stripe_platform_secret_id: config.stripe_platform_secret_id.clone(),
            recaptcha_secret_id: config.recaptcha_secret_id.clone(),
            stripe_publishable_key: config.stripe_publishable_key.clone(),
            stripe_webhook_secret_id: config.stripe_webhook_secret_id.clone(),
            stage: config.stage,
        };
        Self {
            vault: Vault::new(adapters, settings),
            users: JwtVerifier::new(config.jwt.clone()),
            secrets,
            config,
        }
    }

    /// The tenant behind a merchant API request's private key: as the idempotency guard
    /// found it, if it looked first ([`Self::authenticate_once`]), else now.
    pub async fn merchant(&self, req: &Request) -> Result<TenantId, Error> {
        match req.extensions().get::<Authenticated>() {
            Some(Authenticated::Merchant(tenant)) => Ok(tenant.clone()),
            Some(Authenticated::Refused(Caller::Merchant, message)) => {
                Err(Error::Unauthorized(message))
            }
            _ => self.vault.merchant(&auth::merchant_key(req)?).await,
        }
    }

    /// The user behind a bearer JWT (user and billing card APIs), if the tenant it names
    /// trusts its issuer: as the idempotency guard found it, if it looked first, else now.
    /// The HS256 secret is read only for an HS256 token, and only when no JWKS is configured.
    pub async fn user(&self, req: &Request) -> Result<Principal, Error> {
        match req.extensions().get::<Authenticated>() {
            Some(Authenticated::User(user)) => return Ok(user.clone()),
            Some(Authenticated::Refused(Caller::User, message)) => {
                return Err(Error::Unauthorized(message))
            }
            _ => {}
        }
        let token = self
            .users
            .authenticate(req, || async {
                Ok(Some(
                    self.secrets
                        .secret(&self.config.jwt_hs256_secret_id)
                        .await?,
                ))
            })
            .await?;
        self.vault.user(token).await
    }

    /// Authenticates `req` as `K`'s caller and keeps the answer in it, so that whoever asks next
    /// (the idempotency guard, then the handler) gets it without a second check: one
    /// authentication per request, and a refused key costs one lookup, not two. A failure
    /// that is not a refusal (the table unreachable) is not kept: the next asker tries again.
    pub async fn authenticate_once<K: caller::Kind>(&self, req: &mut Request) {
        // A constant per caller type: the other callers' code is not compiled in.
        let found = match K::CALLER {
            Caller::Merchant => self.merchant(req).await.map(Authenticated::Merchant),
            Caller::User => self.user(req).await.map(Authenticated::User),
            Caller::Redirect => return,
        };
        let kept = match found {
            Ok(found) => found,
            Err(Error::Unauthorized(message)) => Authenticated::Refused(K::CALLER, message),
            Err(_) => return,
        };
        req.extensions_mut().insert(kept);
    }
}

/// A request's caller as authenticated once, kept in the request's extensions (which only
/// this process writes: nothing a client sends can put one there).
#[derive(Clone)]
enum Authenticated {
    Merchant(TenantId),
    User(Principal),
    /// Refused as this kind of caller: an answer for that kind only.
    Refused(Caller, &'static str),
}

/// The audit chainer's own adapter: the chain's KMS HMAC key. Its table is its app's
/// (`App::vault`'s store), so the chainer builds no second DynamoDB client.
pub struct AuditChainer {
    pub key: crate::aws::kms::KmsChainKey,
}

impl AuditChainer {
    pub fn from_env(config: &Config) -> Result<Self, ConfigError> {
        let aws = crate::aws::sdk::sdk_config()?;
        Ok(Self {
            key: crate::aws::kms::KmsChainKey::new(
                aws_sdk_kms::Client::new(&aws),
                &config.audit_kms_key_id,
            ),
        })
    }
}
