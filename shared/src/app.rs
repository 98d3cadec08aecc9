//! What a function builds once per cold start. Building makes no network call: the AWS
//! SDK resolves credentials lazily and secrets are read on first use.

use aws_config::BehaviorVersion;
use lambda_http::Request;

use crate::auth::MerchantAuth;
use crate::config::{Config, ConfigError};
use crate::domain::TenantId;
use crate::error::Error;
use crate::secrets::Secrets;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub secrets: Secrets,
    merchant_auth: MerchantAuth,
}

impl App {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
            secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
            merchant_auth: MerchantAuth::new(),
            config,
        })
    }

    /// The tenant behind a merchant API request's private key.
    pub async fn merchant(&self, req: &Request) -> Result<TenantId, Error> {
        self.merchant_auth.authenticate(&self.store, req).await
    }
}
