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

// The in-memory adapters, for unit tests here and the contract suites above.
#[cfg(any(test, feature = "memory"))]
pub mod memory;

pub use error::{Error, FieldError};
