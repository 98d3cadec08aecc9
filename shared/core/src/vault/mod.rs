//! The vault's business rules, by what they do, over the ports alone (`crate::ports`).
//!
//! - [`customers`]: create, read, and the one customer behind an external reference;
//! - [`cards`]: add (transparent redirect), import (from Stripe), attach (a Stripe token),
//!   list, find, get, remove, and the default card;
//! - [`stripe_customers`]: the user API's Stripe customers;
//! - [`callers`], [`tenants`], [`credentials`], [`human`]: who is calling, for which
//!   tenant, with which Stripe credentials, and whether a human solved the reCAPTCHA;
//! - [`idempotency`] and [`compensation`]: the keys sent to Stripe, and undoing a Stripe
//!   change that could not be recorded;
//! - [`once`]: clients' `Idempotency-Key`s, replayed, refused or freed;
//! - [`admin`]: tenant administration, the operator's commands (`cardvault-admin`).
//!
//! Each dialect maps its own words onto these operations: Fusebill's "default" and
//! EmbedThis's "current" are both [`CardView::is_default`]; Rechat's "source" is the card
//! of a Stripe customer link.

pub mod admin;
pub mod audit;
pub mod callers;
pub mod cards;
pub mod compensation;
pub mod credentials;
pub mod customers;
pub mod human;
pub mod idempotency;
pub mod once;
pub mod rehome;
pub mod stripe_customers;
pub mod tenants;
#[cfg(test)]
mod tests;
pub mod velocity;
pub mod webhooks;

use std::time::Duration;

use crate::cache::TtlCache;
use crate::domain::{KeyHash, Tenant, TenantId};
use crate::ports::{Clock, Ports};

pub use cards::{
    Added, CardPage, CardView, Collection, ImportRequest, NewTokenCard, Page, PageFrom,
    CURSOR_LIFETIME,
};
pub use credentials::{StripeConfig, StripeRoute};
pub use once::{Begun, OnceRequest, Ticket};
pub use stripe_customers::{Offset, LINKS_LIMIT_MAX};
pub use velocity::Outcome;
pub use webhooks::{Handled, WebhookRoute};

/// How the vault is set up: configuration, not adapters.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The secret holding the platform's Stripe secret key (a plain string): read only by
    /// the functions that call Stripe for a Connect tenant.
    pub stripe_platform_secret_id: String,
    /// The secret holding the platform's reCAPTCHA secret (a plain string): read only by
    /// the transparent redirect.
    pub recaptcha_secret_id: String,
    /// The platform's publishable key: configuration, not a secret (`/card/getStripe`).
    pub stripe_publishable_key: Option<crate::domain::PublishableKey>,
    /// The secret holding the platform webhook endpoint's signing secrets: read only by the
    /// webhook function (`webhooks`).
    pub stripe_webhook_secret_id: String,
    /// Development or production: which origins may be honoured.
    pub stage: crate::domain::Stage,
}

/// One of each adapter the vault is built from.
pub struct Adapters<P: Ports> {
    pub store: P::Store,
    pub gateway: P::Gateway,
    pub keys: P::Keys,
    pub secrets: P::Secrets,
    pub captcha: P::Captcha,
    pub clock: P::Clock,
    pub ids: P::Ids,
    pub webhooks: P::Webhooks,
}

/// Tenant settings change rarely; a warm container re-reads them after this.
pub const TENANT_CACHE_TTL: Duration = Duration::from_secs(30);
/// How long a warm container trusts an API key it has already checked (private, or the
/// redirect's public key). A revoked or replaced key is refused at once by a container that
/// has not seen it, and by every container after this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// The vault: built once per cold start from its adapters, then shared by every request.
pub struct Vault<P: Ports> {
    pub(crate) store: P::Store,
    pub(crate) gateway: P::Gateway,
    pub(crate) keys: P::Keys,
    pub(crate) secrets: P::Secrets,
    pub(crate) captcha: P::Captcha,
    pub(crate) clock: P::Clock,
    pub(crate) ids: P::Ids,
    pub(crate) webhooks: P::Webhooks,
    settings: Settings,
    tenants: TtlCache<TenantId, Tenant>,
    api_keys: TtlCache<KeyHash, (TenantId, String)>,
    /// Public API keys found lately (the redirect's), by key: their tenant. Misses are
    /// not kept, so the cache holds only keys that exist.
    public_keys: TtlCache<String, TenantId>,
    /// Refusals recorded lately, by tenant, caller and action (`audit::DENIAL_EVERY`).
    denials: TtlCache<String, ()>,
    /// Webhook secret ids that could not be read lately (`webhooks::SECRET_MISS_TTL`).
    webhook_secret_misses: TtlCache<String, ()>,
    /// Tenant ids the webhook route was called with lately that name no tenant: a cache
    /// of their own, bounded, so made-up ids never crowd out a real endpoint's miss.
    unknown_webhook_tenants: TtlCache<TenantId, ()>,
}

impl<P: Ports> Vault<P> {
    pub fn new(adapters: Adapters<P>, settings: Settings) -> Self {
        Self {
            store: adapters.store,
            gateway: adapters.gateway,
            keys: adapters.keys,
            secrets: adapters.secrets,
            captcha: adapters.captcha,
            clock: adapters.clock,
            ids: adapters.ids,
            webhooks: adapters.webhooks,
            settings,
            tenants: TtlCache::new(TENANT_CACHE_TTL),
            api_keys: TtlCache::new(KEY_CACHE_TTL),
            public_keys: TtlCache::new(KEY_CACHE_TTL),
            denials: TtlCache::new(audit::DENIAL_EVERY),
            webhook_secret_misses: TtlCache::bounded(
                webhooks::SECRET_MISS_TTL,
                webhooks::SECRET_MISSES_MAX,
            ),
            unknown_webhook_tenants: TtlCache::bounded(
                webhooks::SECRET_MISS_TTL,
                webhooks::SECRET_MISSES_MAX,
            ),
        }
    }

    /// The store, for tests and tools.
    pub fn store(&self) -> &P::Store {
        &self.store
    }

    /// Today, as the vault's clock has it (card expiries are checked against it).
    pub fn today(&self) -> time::Date {
        self.clock.now().date()
    }

    /// Now, Unix seconds, as the vault's clock has it.
    pub fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
