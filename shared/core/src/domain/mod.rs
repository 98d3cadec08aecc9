//! Domain types. Each parses once at the boundary and is valid ever after.

pub mod audit;
mod caller;
mod card;
mod customer;
pub mod deadline;
mod encrypted;
pub mod geo;
mod ids;
pub mod limits;
mod new_card;
mod once;
mod origin;
mod payment_method;
pub mod secret;
mod stripe;
mod stripe_customer;
pub mod stripe_event;
mod tenant;
mod text;
pub mod velocity;

pub use audit::{
    Actor, AuditAction, AuditEvent, AuditRecord, ChainBreak, ChainHead, Outbox, PendingEvent,
    RequestScope, Trail,
};
pub use caller::{Principal, Role, Token};
pub use card::{luhn_ok, CardNumber, Cvv, Expiry};
pub use customer::{Customer, CustomerFields, NewCustomer};
pub use deadline::{Deadline, OutOfTime};
pub use encrypted::{EncryptedPan, PanContext};
pub use ids::{CustomerId, PaymentMethodId, TenantId, MAX_JSON_SAFE_INT};
pub use new_card::{CardEntry, ImportRequest, NewTokenCard, StripeJsEntry};
pub use once::{ClientKey, OnceRecord, OnceState, StoredResponse};
pub use origin::{Origin, Stage};
pub use payment_method::{
    stripe_dedupe_key, AtStripe, CardBrand, ExpiryAsSent, Holder, Instrument, ListPosition,
    PaymentMethod, PendingSetup, Status, StripeRef, PENDING_WINDOW,
};
pub use secret::{ApiKey, KeyHash};
pub use stripe::{CustomerRef, PublishableKey, SourceCard, SourceRef, StripeToken};
pub use stripe_customer::{account_ref, account_ref_of, user_ref, StripeCustomerLink};
pub use stripe_event::{
    Applied, CardChange, CardDetails, ChargeClock, EventChange, EventClock, SignatureError,
    SigningSecrets, StripeCardRef, StripeEvent,
};
pub use tenant::{
    parse_public_api_key, ApiKeyRecord, CardFlow, StripeConnection, Tenant, TokenPolicy,
    TokenRefusal, TrustedIssuer, DEFAULT_MAX_TOKEN_LIFETIME_SECS, MAX_TOKEN_LIFETIME_LIMIT_SECS,
    PUBLIC_API_KEY_MAX, TOKEN_CLOCK_SKEW_SECS,
};
pub use text::{plain_text, Text};
pub use velocity::VelocityLimits;

/// Timestamps are stored and rendered as RFC 3339 in UTC.
pub type Timestamp = time::OffsetDateTime;
