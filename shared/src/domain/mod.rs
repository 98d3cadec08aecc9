//! Domain types. Each parses once at the boundary and is valid ever after.

mod card;
mod customer;
pub mod geo;
mod ids;
mod payment_method;
mod stripe_customer;
mod tenant;
mod text;

pub use card::{CardNumber, Cvv, Expiry};
pub use customer::{Customer, CustomerFields, NewCustomer};
pub use ids::{CustomerId, PaymentMethodId, TenantId, MAX_JSON_SAFE_INT};
pub use payment_method::{
    stripe_dedupe_key, AtStripe, CardBrand, Holder, Instrument, PaymentMethod, Status, StripeRef,
};
pub use stripe_customer::{account_ref, user_ref, StripeCustomerLink};
pub use tenant::{ApiKeyRecord, StripeConnection, Tenant};
pub use text::Text;

/// Timestamps are stored and rendered as RFC 3339 in UTC.
pub type Timestamp = time::OffsetDateTime;

pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}
