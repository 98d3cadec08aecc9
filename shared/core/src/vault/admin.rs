//! Tenant administration: the operator's commands (`cardvault-admin`), one operation each,
//! with every check they make. The admin CLI is their caller; the request path reads what
//! they write through [`tenants`](super::tenants), and the rules here are the ones those
//! readers hold a tenant to:
//!
//! - origins are what [`Origin::parse_allowed`] takes (the readers skip anything else);
//! - a secret id is one the functions may read ([`StripeConnection::parse_secret_id`], as
//!   `rehome-cards` parses one), for the tenant's own Stripe key and its reCAPTCHA secret;
//! - a trusted issuer is text a token's `iss` can be ([`TrustedIssuer::parse`]), one issuer
//!   per tenant;
//! - a public API key is one the redirect can be sent ([`parse_public_api_key`]);
//! - a connected account is no other tenant's ([`account_free_for`], as re-homing's).
//!
//! Each change reads the tenant, changes it and writes it on condition that nothing it does
//! not own changed meanwhile (a webhook's revocation of the Stripe connection); refused for
//! that, it reads again and retries. Its audit event (actor: the operator's AWS identity,
//! which the caller establishes before any change) rides in the change's own write.
//! Reads record nothing.

use super::rehome::{account_free_for, register_target};
use super::Vault;
use crate::domain::secret::random_token;
use crate::domain::{
    parse_public_api_key, Actor, ApiKey, ApiKeyRecord, AuditAction, AuditEvent, Origin,
    PublishableKey, StripeConnection, Tenant, TenantId, TokenPolicy, TrustedIssuer, VelocityLimits,
};
use crate::error::Error;
use crate::ports::{
    AuditLog, Clock, Ports, RehomeStore, StoreError, TenantAdminStore, TenantStore,
};

/// How many times a change is tried against concurrent revocations before giving up.
pub const UPDATE_ATTEMPTS: usize = 3;

/// A tenant to create.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    /// ISO 4217, in any case: stored lower case, as Stripe spells it.
    pub currency: String,
}

/// A tenant as the operator sees it: its settings, its keys (never a hash: the records
/// are for ids, dates and state) and the origins it lists that are honoured nowhere.
#[derive(Clone, Debug)]
pub struct TenantOverview {
    pub tenant: Tenant,
    pub api_keys: Vec<ApiKeyRecord>,
    /// Listed, but no stack honours them (plain http stored before https was required).
    pub ignored_origins: Vec<String>,
}

/// The Stripe connection to set, as the operator names it.
#[derive(Clone, Debug)]
pub enum StripeSetting {
    /// A connected account (`acct_…`), used with the platform key.
    Account(String),
    /// A secret under `cardvault/tenant/<id>/` holding the tenant's own key, and its
    /// publishable key, if any.
    OwnKey {
        secret_id: String,
        publishable_key: Option<String>,
    },
}

/// A private API key just issued: shown once, stored only as its hash.
pub struct IssuedKey {
    pub key_id: String,
    pub key: ApiKey,
}

/// Token policy changes; `None` keeps the value.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenPolicyChange {
    pub max_lifetime_secs: Option<u64>,
    pub allow_missing_iat: Option<bool>,
}

impl<P: Ports> Vault<P>
where
    P::Store: TenantAdminStore,
{
    /// An event of an operator's change.
    fn operator_event(
        &self,
        tenant: &TenantId,
        action: AuditAction,
        operator: &Actor,
        object: Option<&str>,
    ) -> AuditEvent {
        let event = self.event(tenant, action, "ok").actor(operator);
        match object {
            Some(o) => event.object(o),
            None => event,
        }
    }

    /// The tenant as stored now, never the request path's cache; an error naming it when
    /// there is none.
    pub async fn stored_tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or_else(|| Error::BadRequest(format!("no tenant {id}")))
    }

    /// `create-tenant`.
    pub async fn create_tenant(&self, new: NewTenant, operator: &Actor) -> Result<Tenant, Error> {
        let tenant = Tenant::new(
            new.id,
            new.name,
            new.currency.to_ascii_lowercase(),
            self.clock.now(),
        );
        let event = self.operator_event(
            &tenant.id,
            AuditAction::TenantSettingsChanged,
            operator,
            Some("create-tenant"),
        );
        match self
            .recorded(vec![event], self.store.create_tenant(&tenant))
            .await
        {
            Ok(()) => Ok(tenant),
            Err(StoreError::AlreadyExists) => Err(Error::Conflict(format!(
                "tenant {} already exists",
                tenant.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `show-tenant`.
    pub async fn tenant_overview(&self, id: &TenantId) -> Result<TenantOverview, Error> {
        let tenant = self.stored_tenant(id).await?;
        let api_keys = self.store.list_api_keys(&tenant.id).await?;
        let ignored_origins = tenant
            .allowed_origins
            .iter()
            .filter(|o| Origin::parse_allowed(o).is_err())
            .cloned()
            .collect();
        Ok(TenantOverview {
            tenant,
            api_keys,
            ignored_origins,
        })
    }

    /// Reads the tenant, applies `change` and writes it on condition that its Stripe
    /// revocation mark is as read; a revocation meanwhile is read again and the change
    /// applied to it. Any other refusal (a public key already taken) is the operator's.
    /// Its event, `tenant.settingsChanged` naming `setting`, commits with the write.
    async fn update_tenant(
        &self,
        id: &TenantId,
        setting: &str,
        operator: &Actor,
        change: impl Fn(&mut Tenant) -> Result<(), Error>,
    ) -> Result<Tenant, Error> {
        let mut old = self.stored_tenant(id).await?;
        for _ in 0..UPDATE_ATTEMPTS {
            let mut tenant = old.clone();
            change(&mut tenant)?;
            let event = self.operator_event(
                id,
                AuditAction::TenantSettingsChanged,
                operator,
                Some(setting),
            );
            match self
                .recorded(vec![event], self.store.save_tenant(&tenant, &old))
                .await
            {
                Ok(()) => return Ok(tenant),
                Err(StoreError::Conflict) => {
                    let now = self.stored_tenant(id).await?;
                    if now.stripe_revoked_at == old.stripe_revoked_at {
                        // Not the revocation: another condition (a public key already taken).
                        return Err(Error::Conflict(format!(
                            "tenant {id}: the write was refused (a public key or origin already in use?)"
                        )));
                    }
                    old = now;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(format!(
            "tenant {id} kept changing; try again"
        )))
    }

    /// `set-public-key`: `key`, or a new random `pk_…` key.
    pub async fn set_public_key(
        &self,
        id: &TenantId,
        key: Option<String>,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        let key = match key {
            Some(k) => parse_public_api_key(&k).map_err(Error::BadRequest)?,
            None => random_token("pk_", 24),
        };
        self.update_tenant(id, "public-key", operator, |t| {
            t.public_api_key = Some(key.clone());
            Ok(())
        })
        .await
    }

    /// `set-origins`: replaces the list. https only, but http on localhost and 127.0.0.1
    /// for development ([`Origin::parse_allowed`]); which of them a stack honours is the
    /// stack's stage, read where they are honoured.
    pub async fn set_origins(
        &self,
        id: &TenantId,
        origins: Vec<String>,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        for o in &origins {
            Origin::parse_allowed(o).map_err(Error::BadRequest)?;
        }
        self.update_tenant(id, "origins", operator, |t| {
            t.allowed_origins = origins.clone();
            Ok(())
        })
        .await
    }

    /// `set-stripe`: a connected account no other tenant holds or registered, or a secret
    /// the functions may read holding the tenant's own key (with its publishable key, never
    /// a secret one: `/card/getStripe` answers it). A connection set again is no longer
    /// revoked.
    pub async fn set_stripe(
        &self,
        id: &TenantId,
        setting: StripeSetting,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        self.set_stripe_as(id, setting, operator, "stripe").await
    }

    /// [`Vault::set_stripe`], recorded under `label` (`rehome-cards` switching a tenant
    /// whose cards it moved names itself).
    pub async fn set_stripe_as(
        &self,
        id: &TenantId,
        setting: StripeSetting,
        operator: &Actor,
        label: &str,
    ) -> Result<Tenant, Error> {
        let (connection, publishable_key) = match setting {
            StripeSetting::Account(account) => {
                let connection =
                    StripeConnection::parse_account_id(&account).map_err(Error::BadRequest)?;
                // The same rule as a re-homing target: another tenant's account would see
                // this tenant's cardholders' cards.
                account_free_for(&self.store, id, &account).await?;
                (connection, None)
            }
            StripeSetting::OwnKey {
                secret_id,
                publishable_key,
            } => {
                let connection = own_secret(id, &secret_id)?;
                if let Some(key) = &publishable_key {
                    PublishableKey::parse(key).map_err(Error::BadRequest)?;
                }
                (connection, publishable_key)
            }
        };
        self.update_tenant(id, label, operator, |t| {
            t.stripe = Some(connection.clone());
            t.stripe_publishable_key = publishable_key.clone();
            t.stripe_revoked_at = None;
            Ok(())
        })
        .await
    }

    /// `set-redirect-settings`.
    pub async fn set_redirect_settings(
        &self,
        id: &TenantId,
        require_avs: bool,
        require_risk_fields: bool,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        self.update_tenant(id, "redirect-settings", operator, |t| {
            t.require_avs = require_avs;
            t.require_risk_fields = require_risk_fields;
            Ok(())
        })
        .await
    }

    /// `set-legacy-query-string-cards`.
    pub async fn set_legacy_query_string_cards(
        &self,
        id: &TenantId,
        on: bool,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        self.update_tenant(id, "legacy-query-string-cards", operator, |t| {
            t.legacy_query_string_cards = on;
            Ok(())
        })
        .await
    }

    /// `set-card-flow`: how the transparent redirect takes a card.
    pub async fn set_card_flow(
        &self,
        id: &TenantId,
        flow: crate::domain::CardFlow,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        self.update_tenant(id, "card-flow", operator, |t| {
            t.card_flow = flow;
            Ok(())
        })
        .await
    }

    /// `set-velocity`: overrides the limits given; with `reset`, from the defaults.
    pub async fn set_velocity(
        &self,
        id: &TenantId,
        limits: VelocityLimits,
        reset: bool,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        self.update_tenant(id, "velocity", operator, |t| {
            t.velocity = t
                .velocity
                .overridden(&limits, reset)
                .map_err(Error::BadRequest)?;
            Ok(())
        })
        .await
    }

    /// `set-recaptcha-secret`: a secret the functions may read.
    pub async fn set_recaptcha_secret(
        &self,
        id: &TenantId,
        secret_id: String,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        own_secret(id, &secret_id)?;
        self.update_tenant(id, "recaptcha-secret", operator, |t| {
            t.recaptcha_secret_id = Some(secret_id.clone());
            Ok(())
        })
        .await
    }

    /// `set-token-policy`.
    pub async fn set_token_policy(
        &self,
        id: &TenantId,
        change: TokenPolicyChange,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        if let Some(secs) = change.max_lifetime_secs {
            TokenPolicy::check_max_lifetime(secs).map_err(Error::BadRequest)?;
        }
        self.update_tenant(id, "token-policy", operator, |t| {
            if let Some(secs) = change.max_lifetime_secs {
                t.token_policy.max_lifetime_secs = secs;
            }
            if let Some(allow) = change.allow_missing_iat {
                t.token_policy.allow_missing_iat = allow;
            }
            Ok(())
        })
        .await
    }

    /// `trust-issuer` (`trust`) and `distrust-issuer`. Users and accounts are keyed by
    /// `sub` and `account` alone, which are unique only within one issuer: a second issuer
    /// could speak for the first one's users, so a tenant trusts one (for any audiences).
    pub async fn trust_issuer(
        &self,
        id: &TenantId,
        issuer: &str,
        audience: &str,
        trust: bool,
        operator: &Actor,
    ) -> Result<Tenant, Error> {
        let pair = if trust {
            TrustedIssuer::parse(issuer, audience).map_err(Error::BadRequest)?
        } else {
            // Any pair stored may be removed, even one set before the rule.
            if issuer.trim().is_empty() || audience.trim().is_empty() {
                return Err(Error::BadRequest(
                    "--issuer and --audience must not be empty".into(),
                ));
            }
            TrustedIssuer {
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
            }
        };
        let setting = if trust {
            "trust-issuer"
        } else {
            "distrust-issuer"
        };
        self.update_tenant(id, setting, operator, |t| {
            if trust && t.trusted_issuers.iter().any(|p| p.issuer != pair.issuer) {
                return Err(Error::BadRequest(format!(
                    "tenant {} already trusts another issuer; one issuer per tenant (several audiences may share it)",
                    t.id
                )));
            }
            t.trusted_issuers.retain(|p| *p != pair);
            if trust {
                t.trusted_issuers.push(pair.clone());
            }
            Ok(())
        })
        .await
    }

    /// `issue-key`: a new private API key of an existing tenant.
    pub async fn issue_api_key(&self, id: &TenantId, operator: &Actor) -> Result<IssuedKey, Error> {
        let tenant = self.stored_tenant(id).await?;
        let key = ApiKey::generate();
        let record = ApiKeyRecord {
            hash: key.hash(),
            key_id: random_token("key_", 12),
            tenant_id: tenant.id,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        let event =
            self.operator_event(id, AuditAction::KeyCreated, operator, Some(&record.key_id));
        self.recorded(vec![event], self.store.create_api_key(&record))
            .await?;
        Ok(IssuedKey {
            key_id: record.key_id,
            key,
        })
    }

    /// `revoke-key`: the tenant's key `key_id`, revoked (again is no change of date).
    pub async fn revoke_api_key(
        &self,
        id: &TenantId,
        key_id: &str,
        operator: &Actor,
    ) -> Result<(), Error> {
        let tenant = self.stored_tenant(id).await?;
        match self.store.revoke_api_key(&tenant.id, key_id).await {
            Ok(()) => {}
            Err(StoreError::Missing(_)) => {
                return Err(Error::BadRequest(format!(
                    "tenant {id} has no api key {key_id}"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        // The revocation is one conditional update of its own: its event follows it, and
        // a failure to record it is the operator's to see (the key is revoked already).
        let event = self.operator_event(id, AuditAction::KeyRevoked, operator, Some(key_id));
        self.store.append(event).await?;
        Ok(())
    }

    /// `connect-account`'s registration: `account` (Stripe's answer to the tenant's OAuth
    /// code, never typed in) as a re-homing target of an existing tenant, proven by
    /// `proof`, if no other tenant holds or registered it. Recorded as
    /// `rehome.targetRegistered` naming the account.
    pub async fn register_rehome_target(
        &self,
        id: &TenantId,
        account: &str,
        proof: &str,
        operator: &Actor,
    ) -> Result<(), Error>
    where
        P::Store: RehomeStore,
    {
        let tenant = self.stored_tenant(id).await?;
        register_target(&self.store, &tenant.id, account, proof).await?;
        let event = self.operator_event(
            id,
            AuditAction::RehomeTargetRegistered,
            operator,
            Some(account),
        );
        self.store.append(event).await?;
        Ok(())
    }
}

/// A tenant's own secret: under `cardvault/tenant/<id>/`, as the functions' IAM grants
/// `cardvault/tenant/*` and nothing else, in Secrets Manager's own alphabet
/// ([`StripeConnection::parse_secret_id`], the rule `rehome-cards` parses a target by). A
/// secret elsewhere would fail every request of the tenant at run time: refused here.
fn own_secret(id: &TenantId, secret_id: &str) -> Result<StripeConnection, Error> {
    StripeConnection::parse_secret_id(id, secret_id).map_err(|e| {
        Error::BadRequest(format!(
            "{e}: a tenant's secret id starts with cardvault/tenant/{id}/ (the functions may read nothing else)"
        ))
    })
}
