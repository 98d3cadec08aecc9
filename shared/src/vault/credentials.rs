//! The one place that decides which Stripe credentials a tenant's call uses, and what a UI
//! may know of them.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Vault;
use crate::domain::{StripeConnection, Tenant, TenantId};
use crate::error::Error;
use crate::ports::{Ports, SecretSource, SecretsError, StripeAuth};

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
}

/// Which kind of connection a request insists on. The merchant API has a route per kind;
/// the other dialects take whatever the tenant has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeRoute {
    /// The platform key with `Stripe-Account` (`/paymentMethodImport/stripeConnect`).
    Connect,
    /// The tenant's own secret key (`/paymentMethodImport/Stripe`).
    OwnKey,
    /// The tenant's connection, whichever it is.
    Any,
}

/// What a UI needs to tokenize cards for a tenant: never a secret key.
pub struct StripeConfig {
    pub publishable_key: Option<String>,
    pub account_id: Option<String>,
}

/// The refusal when a tenant's connection is not the kind the route needs. Only the
/// merchant API's two import routes insist on a kind, so the advice names the other one.
fn wrong_kind(route: StripeRoute) -> Error {
    Error::BadRequest(match route {
        StripeRoute::Connect => "This account is not connected through Stripe Connect; use POST /v1/paymentMethodImport/Stripe.".into(),
        _ => "This account uses Stripe Connect; use POST /v1/paymentMethodImport/stripeConnect.".into(),
    })
}

impl<P: Ports> Vault<P> {
    pub async fn platform_secrets(&self) -> Result<PlatformSecrets, Error> {
        let id = &self.settings.platform_secret_id;
        let raw = self.secrets.secret(id).await?;
        serde_json::from_str(raw.expose_secret()).map_err(|e| {
            SecretsError::Malformed {
                id: id.clone(),
                source: e.into(),
            }
            .into()
        })
    }

    /// The credentials for a tenant's Stripe calls. A tenant with no connection, or with
    /// the other kind than `route` needs, is the caller's problem (400), not ours.
    pub async fn stripe_auth(
        &self,
        tenant: &Tenant,
        route: StripeRoute,
    ) -> Result<StripeAuth, Error> {
        match (&tenant.stripe, route) {
            (None, _) => Err(Error::BadRequest(
                "This account has no Stripe connection configured.".into(),
            )),
            (
                Some(StripeConnection::Connect { account_id }),
                StripeRoute::Connect | StripeRoute::Any,
            ) => {
                let key = self
                    .platform_secrets()
                    .await?
                    .stripe_secret_key
                    .filter(|k| !k.expose_secret().is_empty())
                    .ok_or_else(|| Error::bug("platform Stripe key is not set"))?;
                Ok(StripeAuth {
                    key,
                    account: Some(account_id.clone()),
                })
            }
            (
                Some(StripeConnection::OwnKey { secret_id }),
                StripeRoute::OwnKey | StripeRoute::Any,
            ) => Ok(StripeAuth {
                key: self.secrets.secret(secret_id).await?,
                account: None,
            }),
            (Some(_), route) => Err(wrong_kind(route)),
        }
    }

    /// The publishable key and connected account of a tenant (`/card/getStripe`).
    pub async fn stripe_config(&self, tenant: &TenantId) -> Result<StripeConfig, Error> {
        let t = self.tenant(tenant).await?;
        Ok(match &t.stripe {
            Some(StripeConnection::Connect { account_id }) => StripeConfig {
                publishable_key: self.platform_secrets().await?.stripe_publishable_key,
                account_id: Some(account_id.clone()),
            },
            Some(StripeConnection::OwnKey { .. }) => StripeConfig {
                publishable_key: t.stripe_publishable_key.clone(),
                account_id: None,
            },
            None => StripeConfig {
                publishable_key: None,
                account_id: None,
            },
        })
    }
}
