//! cardvault's core: the domain types, the errors, the ports (what the rules need from the
//! outside world) and the vault's rules over them. It names no AWS, HTTP or Lambda crate:
//! the compiler holds that line, since none is among its dependencies.
//!
//! ```text
//! cardvault (edge) ─┬─> cardvault-aws ───────┬─> cardvault-core
//!                   ├─> cardvault-stripe ──┐ │
//!                   ├─> cardvault-recaptcha┴─┴─> cardvault-net (stripe, recaptcha only)
//!                   └─> cardvault-core
//! ```

// The bottom: types every layer speaks.
pub mod domain;
pub mod error;
pub use domain::secret;

// What the rules need from the outside world, and the rules themselves.
pub mod ports;
pub mod vault;
// The audit chainer's rules, off the request path.
pub mod chain;

// Pure helpers the rules and the adapters share: a TTL cache, the vault's envelope
// cryptography over the key ports, logging and metrics.
pub mod cache;
pub mod crypto;
pub mod telemetry;

// The in-memory adapters (the `cardvault-testkit` crate), compiled into this crate's own
// unit tests too: the vault's tests reach its crate-private state, which a test kit above
// the core could not. One source, so the fakes the contract suites hold to DynamoDB and
// Stripe are the fakes the rules are tested against.
#[cfg(test)]
#[path = "../../testkit/src/memory/mod.rs"]
pub mod memory;
// Stripe's webhook wire format (the `cardvault-stripe` crate's `webhook`), compiled in the
// same way: the vault's webhook tests sign and send real bodies. The test kit names it
// `crate::stripe_webhook` too.
#[cfg(test)]
#[path = "../../stripe/src/webhook.rs"]
pub mod stripe_webhook;

pub use error::{Error, FieldError};
