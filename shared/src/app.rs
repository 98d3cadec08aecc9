//! What a function builds once per cold start. Building makes no network call: the AWS
//! SDK resolves credentials lazily, secrets are read on first use, and the HTTP client
//! (whose TLS roots cost a few milliseconds to load) is built on first use.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::BehaviorVersion;
use lambda_http::Request;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::jwt::{JwtVerifier, Principal};
use crate::auth::MerchantAuth;
use crate::cache::TtlCache;
use crate::config::{Config, ConfigError};
use crate::domain::{StripeConnection, Tenant, TenantId};
use crate::error::Error;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::stripe::{RetryPolicy, StripeAuth, StripeClient};

/// Tenant settings change rarely; a warm container re-reads them after this.
const TENANT_CACHE_TTL: Duration = Duration::from_secs(30);

pub struct App {
    pub config: Config,
    pub store: Store,
    pub secrets: Secrets,
    merchant_auth: MerchantAuth,
    users: JwtVerifier,
    tenants: TtlCache<TenantId, Tenant>,
    stripe: OnceLock<StripeClient>,
    http: OnceLock<reqwest::Client>,
}

/// The platform secret's JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSecrets {
    #[serde(default)]
    pub stripe_secret_key: Option<SecretString>,
    #[serde(default)]
    pub stripe_publishable_key: Option<String>,
    #[serde(default)]
    pub recaptcha_secret: Option<SecretString>,
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
}

/// Which of the two Stripe import routes a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeMode {
    /// The platform key with `Stripe-Account`.
    Connect,
    /// The tenant's own secret key.
    OwnKey,
}

impl App {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Ok(Self::new(config, &aws))
    }

    pub fn new(config: Config, aws: &aws_config::SdkConfig) -> Self {
        Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name),
            secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(aws)),
            merchant_auth: MerchantAuth::new(),
            users: JwtVerifier::new(config.jwt.clone()),
            tenants: TtlCache::new(TENANT_CACHE_TTL),
            stripe: OnceLock::new(),
            http: OnceLock::new(),
            config,
        }
    }

    /// The tenant behind a merchant API request's private key.
    pub async fn merchant(&self, req: &Request) -> Result<TenantId, Error> {
        self.merchant_auth.authenticate(&self.store, req).await
    }

    /// The user behind a bearer JWT (user and billing card APIs). The HS256 key, the
    /// platform secret's `jwtSecret`, is read only for an HS256 token. A token for a tenant
    /// that does not exist is refused like a forged one.
    pub async fn user(&self, req: &Request) -> Result<Principal, Error> {
        let principal = self
            .users
            .authenticate(req, || async {
                Ok(self.platform_secrets().await?.jwt_secret)
            })
            .await?;
        if self.tenants.get(&principal.tenant).is_none() {
            let tenant = self
                .store
                .get_tenant(&principal.tenant)
                .await?
                .ok_or(Error::Unauthorized("The token's tenant does not exist."))?;
            self.tenants.insert(tenant.id.clone(), tenant);
        }
        Ok(principal)
    }

    /// The tenant a public API key (transparent redirect) belongs to.
    pub async fn tenant_by_public_key(&self, key: &str) -> Result<Option<Tenant>, Error> {
        match self.store.tenant_by_public_key(key).await? {
            // A key whose tenant is gone names no one: the same 404 as an unknown key.
            Some(id) => self.find_tenant(&id).await,
            None => Ok(None),
        }
    }

    /// Verifies a reCAPTCHA token with the tenant's own secret, or the platform's.
    pub async fn verify_recaptcha(
        &self,
        tenant: &Tenant,
        token: Option<&str>,
        remote_ip: Option<&str>,
    ) -> Result<(), Error> {
        use crate::recaptcha::{verify, RecaptchaError};
        let secret = match &tenant.recaptcha_secret_id {
            Some(id) => self.secrets.get(id).await?,
            None => self
                .platform_secrets()
                .await?
                .recaptcha_secret
                .ok_or_else(|| Error::Internal("platform reCAPTCHA secret is not set".into()))?,
        };
        let url = &self.config.recaptcha_verify_url;
        match verify(
            self.http(),
            url,
            &secret,
            token,
            remote_ip,
            &tenant.allowed_origins,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(e @ RecaptchaError::Unavailable) => Err(Error::Unavailable(e.to_string())),
            Err(e) => Err(Error::BadRequest(e.to_string())),
        }
    }

    /// A tenant's settings, cached for a short while in the warm container.
    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.find_tenant(id)
            .await?
            .ok_or_else(|| Error::Internal(format!("tenant {id} vanished")))
    }

    async fn find_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        if let Some(t) = self.tenants.get(id) {
            return Ok(Some(t));
        }
        let tenant = self.store.get_tenant(id).await?;
        if let Some(t) = &tenant {
            self.tenants.insert(id.clone(), t.clone());
        }
        Ok(tenant)
    }

    pub async fn platform_secrets(&self) -> Result<PlatformSecrets, Error> {
        let raw = self.secrets.get(&self.config.platform_secret_id).await?;
        serde_json::from_str(raw.expose_secret())
            .map_err(|e| Error::Internal(format!("platform secret is not valid JSON: {e}")))
    }

    /// The HTTP client (Stripe, siteverify), built on first use and kept for the container.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(reqwest::Client::new)
    }

    /// The vault's encryption and fingerprint keys (re-read as the secrets cache expires,
    /// so a new current key reaches warm containers within `SECRET_CACHE_TTL`).
    pub async fn vault_keys(&self) -> Result<crate::crypto::VaultKeys, Error> {
        let raw = self.secrets.get(&self.config.vault_keys_secret_id).await?;
        crate::crypto::VaultKeys::parse(raw.expose_secret())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// The credentials for a tenant's Stripe calls, as its connection says.
    pub async fn stripe_credentials(&self, tenant: &Tenant) -> Result<StripeAuth, Error> {
        let mode = match &tenant.stripe {
            Some(StripeConnection::OwnKey { .. }) => StripeMode::OwnKey,
            _ => StripeMode::Connect,
        };
        self.stripe_auth(tenant, mode).await
    }

    pub fn stripe(&self) -> &StripeClient {
        self.stripe.get_or_init(|| {
            StripeClient::new(
                self.http().clone(),
                &self.config.stripe_api_base,
                RetryPolicy {
                    timeout: self.config.stripe_timeout,
                    ..RetryPolicy::default()
                },
            )
        })
    }

    /// The credentials for a tenant's Stripe calls through `mode`'s route. A tenant with no
    /// connection, or with the other kind, is the caller's problem (400), not ours.
    pub async fn stripe_auth(
        &self,
        tenant: &Tenant,
        mode: StripeMode,
    ) -> Result<StripeAuth, Error> {
        match (&tenant.stripe, mode) {
            (None, _) => Err(Error::BadRequest(
                "This account has no Stripe connection configured.".into(),
            )),
            (Some(StripeConnection::Connect { account_id }), StripeMode::Connect) => {
                let key = self
                    .platform_secrets()
                    .await?
                    .stripe_secret_key
                    .filter(|k| !k.expose_secret().is_empty())
                    .ok_or_else(|| Error::Internal("platform Stripe key is not set".into()))?;
                Ok(StripeAuth {
                    key,
                    account: Some(account_id.clone()),
                })
            }
            (Some(StripeConnection::OwnKey { secret_id }), StripeMode::OwnKey) => Ok(StripeAuth {
                key: self.secrets.get(secret_id).await?,
                account: None,
            }),
            (Some(StripeConnection::OwnKey { .. }), StripeMode::Connect) => Err(Error::BadRequest(
                "This account is not connected through Stripe Connect; use POST /v1/paymentMethodImport/Stripe.".into(),
            )),
            (Some(StripeConnection::Connect { .. }), StripeMode::OwnKey) => Err(Error::BadRequest(
                "This account uses Stripe Connect; use POST /v1/paymentMethodImport/stripeConnect.".into(),
            )),
        }
    }
}
