//! Wiring: what a function builds once per cold start. Building makes no network call: the
//! AWS SDK resolves credentials lazily, secrets are read on first use, and the one HTTP
//! client is built on first use (its TLS roots load once, and only if a call goes out).

use lambda_http::Request;

use crate::auth::{self, jwt::JwtVerifier};
use crate::aws::kms::KmsDataKeys;
use crate::config::{Config, ConfigError};
use crate::crypto::VaultKeys;
use crate::domain::{Principal, TenantId};
use crate::error::Error;
use crate::net::HttpClient;
use crate::ports::{Ports, RandomIds, SecretSource, SystemClock};
use crate::recaptcha::SiteVerify;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::stripe::{RetryPolicy, StripeClient};
use crate::vault::{Adapters, Settings, Vault};

/// The production adapters: DynamoDB, Stripe over HTTPS, Secrets Manager, KMS, siteverify.
pub struct Aws;

impl Ports for Aws {
    type Store = Store;
    type Gateway = StripeClient;
    type Keys = VaultKeys<Secrets, KmsDataKeys>;
    type Secrets = Secrets;
    type Captcha = SiteVerify;
    type Clock = SystemClock;
    type Ids = RandomIds;
}

pub struct App {
    pub config: Config,
    pub vault: Vault<Aws>,
    users: JwtVerifier,
    /// For the HS256 secret, which no vault rule reads.
    secrets: Secrets,
}

impl App {
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(config, &crate::aws::sdk::sdk_config()?))
    }

    pub fn new(config: Config, aws: &aws_types::SdkConfig) -> Self {
        let http = HttpClient::default();
        let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(aws));
        let adapters = Adapters::<Aws> {
            store: Store::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name),
            gateway: StripeClient::new(
                http.clone(),
                &config.stripe_api_base,
                RetryPolicy {
                    timeout: config.stripe_timeout,
                    ..RetryPolicy::default()
                },
            ),
            keys: VaultKeys::new(
                secrets.clone(),
                KmsDataKeys::new(aws_sdk_kms::Client::new(aws), &config.vault_kms_key_id),
                &config.fingerprint_secret_id,
                &config.cursor_secret_id,
            ),
            secrets: secrets.clone(),
            captcha: SiteVerify::new(http, &config.recaptcha_verify_url),
            clock: SystemClock,
            ids: RandomIds,
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

    /// The tenant behind a merchant API request's private key.
    pub async fn merchant(&self, req: &Request) -> Result<TenantId, Error> {
        self.vault.merchant(&auth::merchant_key(req)?).await
    }

    /// The user behind a bearer JWT (user and billing card APIs), if the tenant it names
    /// trusts its issuer. The HS256 secret is read only for an HS256 token, and only when
    /// no JWKS is configured.
    pub async fn user(&self, req: &Request) -> Result<Principal, Error> {
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
}

/// The audit chainer's adapters: the table, and the chain's KMS HMAC key.
pub struct AuditChainer {
    pub store: Store,
    pub key: crate::aws::kms::KmsChainKey,
}

impl AuditChainer {
    pub fn from_env(config: &Config) -> Result<Self, ConfigError> {
        let aws = crate::aws::sdk::sdk_config()?;
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
            key: crate::aws::kms::KmsChainKey::new(
                aws_sdk_kms::Client::new(&aws),
                &config.audit_kms_key_id,
            ),
        })
    }
}
