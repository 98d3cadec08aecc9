//! Time and fresh ids, as ports so that unit tests can fix them.

use uuid::Uuid;

use crate::domain::{CustomerId, PaymentMethodId, Timestamp};

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub trait Ids: Send + Sync {
    fn customer_id(&self) -> CustomerId;
    fn payment_method_id(&self) -> PaymentMethodId;
    fn link_id(&self) -> Uuid;
    /// A fresh id for one request's Stripe calls (a collection's idempotency key).
    fn request_id(&self) -> Uuid;
}

/// The system clock, in UTC.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        time::OffsetDateTime::now_utc()
    }
}

/// Random JSON-safe ids from the OS RNG, and v4 UUIDs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn customer_id(&self) -> CustomerId {
        CustomerId::random()
    }

    fn payment_method_id(&self) -> PaymentMethodId {
        PaymentMethodId::random()
    }

    fn link_id(&self) -> Uuid {
        Uuid::new_v4()
    }

    fn request_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}
