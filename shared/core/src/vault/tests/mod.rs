//! Unit tests of the business rules, over the in-memory adapters (`crate::memory`): no AWS,
//! no Stripe, no network, and a fresh vault per test.
//!
//! The fixtures: two tenants (one connected through Stripe Connect, one with its own
//! secret key), both trusting the token issuer [`ISSUER`] for [`AUDIENCE`], a
//! [`CardEntry`] builder, a [`Principal`] (and [`Token`]) builder, and helpers that seed a
//! customer or a card and read the adapters' logs.

mod add;
mod admin;
mod attach;
mod audit;
mod callers;
mod credentials;
mod customers;
mod deadline;
mod default;
mod human;
mod import;
mod list;
mod mutants_stripe_customers;
mod once;
mod rehome;
mod rehome_plan;
mod remove;
mod setup;
mod stripe_customers;
mod stripe_js;
mod velocity;
mod webhooks;

use secrecy::SecretString;
use time::macros::datetime;

use crate::domain::{
    CardEntry, CardNumber, Customer, CustomerId, CustomerRef, Cvv, Expiry, Holder, NewCustomer,
    PaymentMethod, Principal, Role, SourceRef, StripeConnection, StripeToken, Tenant, TenantId,
    Text, Token, TrustedIssuer,
};
use crate::error::Error;
use crate::memory::{self, FakeCard, Memory};
use crate::ports::StripeAuth;
use crate::vault::{CardView, ImportRequest, NewTokenCard, StripeRoute, Vault};

/// The tenant connected through Stripe Connect (the platform key plus its account).
pub(super) const CONNECT: &str = "shop-connect";
pub(super) const CONNECT_ACCOUNT: &str = "acct_1Connect";
/// The tenant with its own Stripe secret key, kept under [`OWN_KEY_SECRET_ID`].
pub(super) const OWN: &str = "shop-own";
pub(super) const OWN_KEY_SECRET_ID: &str = "tenants/shop-own/stripe";
pub(super) const OWN_KEY: &str = "sk_test_own";
pub(super) const OWN_PUBLISHABLE_KEY: &str = "pk_test_own";
/// The platform's Stripe keys as `memory::vault()` sets them.
pub(super) const PLATFORM_KEY: &str = "sk_test_platform";
pub(super) const PLATFORM_PUBLISHABLE_KEY: &str = "pk_test_platform";
pub(super) const PLATFORM_RECAPTCHA: &str = "platform-recaptcha";
/// Both tenants allow these origins.
pub(super) const ORIGIN: &str = "https://shop.example";
pub(super) const PORT_ORIGIN: &str = "https://checkout.example:8443";

/// The identity provider every fixture tenant trusts, and the audience it issues for.
pub(super) const ISSUER: &str = "test-issuer";
pub(super) const AUDIENCE: &str = "test-aud";

pub(super) const VISA: &str = "4242424242424242";
pub(super) const MASTERCARD: &str = "5555555555554444";
pub(super) const AMEX: &str = "378282246310005";

pub(super) fn tid(raw: &str) -> TenantId {
    TenantId::try_from(raw.to_owned()).expect("a valid tenant id")
}

fn tenant(id: &str, stripe: Option<StripeConnection>) -> Tenant {
    Tenant {
        id: tid(id),
        name: format!("{id} Ltd"),
        public_api_key: Some(format!("pk_{id}")),
        allowed_origins: vec![ORIGIN.into(), PORT_ORIGIN.into()],
        stripe,
        recaptcha_secret_id: None,
        stripe_publishable_key: None,
        require_avs: false,
        require_risk_fields: false,
        legacy_query_string_cards: false,
        card_flow: Default::default(),
        stripe_revoked_at: None,
        trusted_issuers: vec![TrustedIssuer {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
        }],
        token_policy: Default::default(),
        velocity: Default::default(),
        currency: "usd".into(),
        created_at: datetime!(2025-06-01 0:00 UTC),
    }
}

/// A tenant whose Stripe calls use the platform key and `Stripe-Account`.
pub(super) fn connect_tenant() -> Tenant {
    tenant(
        CONNECT,
        Some(StripeConnection::Connect {
            account_id: CONNECT_ACCOUNT.into(),
        }),
    )
}

/// Another tenant, "neighbour", connected through `account`.
pub(super) fn tenant_with_account(account: &str) -> Tenant {
    tenant(
        "neighbour",
        Some(StripeConnection::Connect {
            account_id: account.into(),
        }),
    )
}

/// A tenant whose Stripe calls use its own secret key.
pub(super) fn own_key_tenant() -> Tenant {
    Tenant {
        stripe_publishable_key: Some(OWN_PUBLISHABLE_KEY.into()),
        ..tenant(
            OWN,
            Some(StripeConnection::OwnKey {
                secret_id: OWN_KEY_SECRET_ID.into(),
            }),
        )
    }
}

/// A tenant with no Stripe connection at all.
pub(super) fn unconnected_tenant(id: &str) -> Tenant {
    tenant(id, None)
}

/// A vault over fresh in-memory adapters, with both tenants seeded (not yet in the
/// vault's tenant cache) and the own-key tenant's secret in place.
/// The memory clock's first second (2026-01-01T00:00:00Z).
pub(super) const CLOCK_START: i64 = 1_767_225_600;

pub(super) fn vault() -> Vault<Memory> {
    let v = memory::vault();
    v.store.insert_tenant(connect_tenant());
    v.store.insert_tenant(own_key_tenant());
    v.secrets.set(OWN_KEY_SECRET_ID, OWN_KEY);
    v
}

/// The value, or a panic with the error's whole chain.
pub(super) fn ok<T>(r: Result<T, Error>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {}", e.chain()),
    }
}

/// The error (for results whose value has no `Debug`).
pub(super) fn err<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// A `BadRequest`'s message.
pub(super) fn bad_request(e: Error) -> String {
    match e {
        Error::BadRequest(m) => m,
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

/// A `NotFound`'s message.
pub(super) fn not_found(e: Error) -> String {
    match e {
        Error::NotFound { .. } => e.to_string(),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// An `Upstream`'s message.
pub(super) fn upstream(e: Error) -> String {
    match e {
        Error::Upstream { message, .. } => message,
        other => panic!("expected Upstream, got {other:?}"),
    }
}

pub(super) fn assert_internal(e: Error) {
    assert!(
        matches!(e, Error::Internal { .. }),
        "expected Internal, got {e:?}"
    );
}

/// The Stripe calls made since the last look, by operation name only.
pub(super) fn stripe_ops(v: &Vault<Memory>) -> Vec<String> {
    v.gateway
        .take_calls()
        .into_iter()
        .map(|c| c.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

/// Any credentials: the in-memory gateway does not look at them.
pub(super) fn any_auth() -> StripeAuth {
    StripeAuth {
        key: SecretString::from("sk_test_any"),
        account: None,
    }
}

/// A merchant customer of `tenant`, with the store's call log cleared after it.
pub(super) async fn customer(v: &Vault<Memory>, tenant: &str) -> Customer {
    let c = ok(v
        .create_customer(&tid(tenant), NewCustomer::default())
        .await);
    v.store.take_calls();
    c
}

/// A customer as the store has it now.
pub(super) async fn reread(v: &Vault<Memory>, c: &Customer) -> Customer {
    let c = ok(v.customer(&c.tenant_id, c.id).await);
    v.store.take_calls();
    c
}

/// A Visa card on a new Stripe customer, as a merchant's Stripe account holds it.
pub(super) fn stripe_card(last4: &'static str) -> FakeCard {
    FakeCard {
        brand: "Visa",
        last4,
        exp_month: 8,
        exp_year: 2030,
        name: Some("Karen Wood"),
        declines_charges: false,
    }
}

pub(super) fn import_request(
    customer: CustomerId,
    stripe_customer: &str,
    source: &str,
) -> ImportRequest {
    ImportRequest {
        customer_id: customer,
        stripe_customer: CustomerRef::parse(stripe_customer).expect("a cus_ id"),
        source: SourceRef::parse(source).expect("a card_ or ba_ id"),
    }
}

/// Seeds a card at Stripe and imports it for `customer` (store and Stripe logs cleared).
pub(super) async fn imported(
    v: &Vault<Memory>,
    customer: &Customer,
    last4: &'static str,
) -> CardView {
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card(last4));
    let view = ok(v
        .import_card(
            &customer.tenant_id,
            StripeRoute::Any,
            import_request(customer.id, &cus, &card),
        )
        .await);
    v.store.take_calls();
    v.gateway.take_calls();
    view
}

/// A card of `pan` entered through the redirect for `customer` of the Connect tenant.
pub(super) async fn entered(v: &Vault<Memory>, customer: &Customer, pan: &str) -> CardView {
    ok(
        v.add_entered_card(&connect_tenant(), customer.id, card(pan).build())
            .await,
    )
    .view
}

/// A `/card/create` body for a token whose card ends in `last4`.
pub(super) fn token_card(token: StripeToken, last4: &str, current: bool) -> NewTokenCard {
    NewTokenCard {
        name: Text::parse_optional("name", Some("Work card"), 50)
            .unwrap()
            .unwrap(),
        last4: last4.into(),
        month: 12,
        year: 2030,
        as_sent: crate::domain::ExpiryAsSent {
            month: "12".into(),
            year: "30".into(),
        },
        token,
        current,
    }
}

/// Attaches a new token card ending in `last4` to a billing account (logs cleared).
pub(super) async fn attached(
    v: &Vault<Memory>,
    account: &str,
    last4: &'static str,
    current: bool,
) -> CardView {
    let token = v.gateway.seed_token(stripe_card(last4));
    let view = ok(v
        .attach_token_card(&tid(CONNECT), account, token_card(token, last4, current))
        .await);
    v.store.take_calls();
    v.gateway.take_calls();
    view
}

/// Every payment method stored for a customer.
pub(super) fn stored_of(v: &Vault<Memory>, customer: CustomerId) -> Vec<PaymentMethod> {
    v.store
        .payment_methods()
        .into_iter()
        .filter(|pm| pm.customer_id == customer)
        .collect()
}

/// A transparent-redirect card entry: a valid card expiring 12/2030, no holder details
/// unless asked for.
pub(super) struct CardBuilder {
    pan: String,
    expiry: Expiry,
    holder: Holder,
    make_default: bool,
    collect_minor: Option<u64>,
    cvv: Option<String>,
}

pub(super) fn card(pan: &str) -> CardBuilder {
    CardBuilder {
        pan: pan.into(),
        expiry: Expiry {
            month: 12,
            year: 2030,
        },
        holder: Holder::default(),
        make_default: false,
        collect_minor: None,
        cvv: None,
    }
}

impl CardBuilder {
    pub(super) fn make_default(mut self) -> Self {
        self.make_default = true;
        self
    }

    pub(super) fn collect(mut self, minor: u64) -> Self {
        self.collect_minor = Some(minor);
        self
    }

    pub(super) fn holder(mut self, first: &str, last: &str) -> Self {
        let text = |s: &str| Text::parse_optional("name", Some(s), 50).unwrap();
        self.holder.first_name = text(first);
        self.holder.last_name = text(last);
        self
    }

    /// The CVV entered (`memory::gateway::CVC_FAILS` fails the issuer's check).
    pub(super) fn cvv(mut self, cvv: &str) -> Self {
        self.cvv = Some(cvv.to_owned());
        self
    }

    pub(super) fn build(self) -> CardEntry {
        let number = CardNumber::parse(&self.pan).expect("a valid test card number");
        let cvv = match (self.cvv.as_deref(), number.brand()) {
            (Some(cvv), _) => cvv,
            (None, crate::domain::CardBrand::AmericanExpress) => "1234",
            (None, _) => "123",
        };
        CardEntry {
            cvv: Cvv::parse(cvv, Some(number.brand())).expect("a valid cvv"),
            number,
            expiry: self.expiry,
            holder: self.holder,
            make_default: self.make_default,
            collect_minor: self.collect_minor,
            client_ip: None,
            risk_token: None,
            email: None,
        }
    }
}

/// A verified bearer-token caller of the connect tenant, with no role or account unless
/// asked for.
#[derive(Clone)]
pub(super) struct PrincipalBuilder(Principal);

pub(super) fn principal(user: &str) -> PrincipalBuilder {
    PrincipalBuilder(Principal {
        tenant: tid(CONNECT),
        user: user.into(),
        account: None,
        role: None,
    })
}

impl PrincipalBuilder {
    pub(super) fn tenant(mut self, tenant: &str) -> Self {
        self.0.tenant = tid(tenant);
        self
    }

    pub(super) fn owner(mut self, account: &str) -> Self {
        self.0.role = Some(Role::Owner);
        self.0.account = Some(account.into());
        self
    }

    pub(super) fn admin(mut self) -> Self {
        self.0.role = Some(Role::Admin);
        self
    }

    pub(super) fn build(self) -> Principal {
        self.0
    }

    /// The principal as a verified token from [`ISSUER`] for [`AUDIENCE`].
    pub(super) fn token(self) -> Token {
        self.token_from(ISSUER, &[AUDIENCE])
    }

    /// The principal as a verified token from `issuer` for `audiences`.
    pub(super) fn token_from(self, issuer: &str, audiences: &[&str]) -> Token {
        Token {
            principal: self.0,
            issuer: issuer.into(),
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
            // Ten minutes, from the memory clock's start.
            issued_at: Some(CLOCK_START),
            expires_at: CLOCK_START + 600,
        }
    }
}
