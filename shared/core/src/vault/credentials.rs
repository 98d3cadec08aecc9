//! The one place that decides which Stripe credentials a tenant's call uses, and what a UI
//! may know of them.

use secrecy::{ExposeSecret, SecretString};

use super::Vault;
use crate::domain::{PublishableKey, StripeConnection, Tenant, TenantId};
use crate::error::Error;
use crate::ports::{Ports, SecretSource, StripeAuth};

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

/// The refusal of every Stripe call of a tenant whose connected account revoked the
/// platform's access (`account.application.deauthorized`, `vault::webhooks`), until
/// `cardvault-admin set-stripe` sets a connection again.
pub const STRIPE_REVOKED: &str = "This account's Stripe connection was revoked at Stripe \
                                  (the account disconnected the platform); connect it again \
                                  before importing or adding cards.";

/// The refusal when a tenant's connection is not the kind the route needs. Only the
/// merchant API's two import routes insist on a kind, so the advice names the other one.
fn wrong_kind(route: StripeRoute) -> Error {
    Error::BadRequest(match route {
        StripeRoute::Connect => "This account is not connected through Stripe Connect; use POST /v1/paymentMethodImport/Stripe.".into(),
        _ => "This account uses Stripe Connect; use POST /v1/paymentMethodImport/stripeConnect.".into(),
    })
}

/// The tenant's connection, if `route` may use it: none, a revoked one, or the other kind
/// than `route` needs is the caller's problem (400), not ours. No secret is read, so a
/// rule may check the route before it answers from the vault alone (a repeated import).
pub(crate) fn connection(tenant: &Tenant, route: StripeRoute) -> Result<&StripeConnection, Error> {
    if tenant.stripe_revoked_at.is_some() {
        return Err(Error::BadRequest(STRIPE_REVOKED.into()));
    }
    match (&tenant.stripe, route) {
        (None, _) => Err(Error::BadRequest(
            "This account has no Stripe connection configured.".into(),
        )),
        (Some(c @ StripeConnection::Connect { .. }), StripeRoute::Connect | StripeRoute::Any)
        | (Some(c @ StripeConnection::OwnKey { .. }), StripeRoute::OwnKey | StripeRoute::Any) => {
            Ok(c)
        }
        (Some(_), route) => Err(wrong_kind(route)),
    }
}

impl<P: Ports> Vault<P> {
    /// A platform secret (the Stripe key, the reCAPTCHA secret): a plain string, each in a
    /// secret of its own so that a function reads only the one it uses. Empty is unset.
    pub(crate) async fn platform_secret(
        &self,
        id: &str,
        what: &str,
    ) -> Result<SecretString, Error> {
        let value = self.secrets.secret(id).await?;
        if value.expose_secret().trim().is_empty() {
            return Err(Error::bug(format!("the platform {what} is not set")));
        }
        Ok(value)
    }

    /// The credentials for a tenant's Stripe calls, on the connection [`connection`] allows.
    pub async fn stripe_auth(
        &self,
        tenant: &Tenant,
        route: StripeRoute,
    ) -> Result<StripeAuth, Error> {
        match connection(tenant, route)? {
            StripeConnection::Connect { account_id } => {
                let key = self
                    .platform_secret(&self.settings.stripe_platform_secret_id, "Stripe key")
                    .await?;
                Ok(StripeAuth {
                    key,
                    account: Some(account_id.clone()),
                })
            }
            StripeConnection::OwnKey { secret_id } => Ok(StripeAuth {
                key: self.secrets.secret(secret_id).await?,
                account: None,
            }),
        }
    }

    /// The publishable key and connected account of a tenant (`/card/getStripe`).
    pub async fn stripe_config(&self, tenant: &TenantId) -> Result<StripeConfig, Error> {
        let t = self.tenant(tenant).await?;
        Ok(match &t.stripe {
            Some(StripeConnection::Connect { account_id }) => StripeConfig {
                publishable_key: self
                    .settings
                    .stripe_publishable_key
                    .as_ref()
                    .map(|k| k.as_str().to_owned()),
                account_id: Some(account_id.clone()),
            },
            Some(StripeConnection::OwnKey { .. }) => StripeConfig {
                // Checked again on the way out: a key stored before the check existed, or
                // written around the admin CLI, is never answered unless it is a pk_ key.
                publishable_key: t
                    .stripe_publishable_key
                    .as_deref()
                    .and_then(|k| PublishableKey::parse(k).ok())
                    .map(|k| k.as_str().to_owned()),
                account_id: None,
            },
            None => StripeConfig {
                publishable_key: None,
                account_id: None,
            },
        })
    }
}
