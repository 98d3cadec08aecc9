//! cardvault's domain crate, in layers that only point down:
//!
//! ```text
//! functions/*  →  dialect  →  vault  →  ports  ←  adapters (store, stripe, secrets,
//!                (wire)      (rules)   (traits)    crypto, recaptcha, memory)
//!                          domain, error: the types every layer speaks
//! ```
//!
//! Every Lambda in `functions/` is a thin shell: it builds an [`app::App`] once per cold
//! start (the wiring of the production adapters into a [`vault::Vault`]), parses the
//! request into domain types, calls the vault and renders the result in its dialect.
//! `tests/layers.rs` in this crate checks that no module imports from a layer above it.

// The bottom: types every layer speaks.
pub mod domain;
pub mod error;
pub use domain::secret;

// What the rules need from the outside world, and the rules themselves.
pub mod ports;
pub mod vault;
// The audit chainer, off the request path.
pub mod caller_identity;
pub mod chain;

// Adapters of the ports.
pub mod cache;
pub mod crypto;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod net;
pub mod recaptcha;
pub mod secrets;
pub mod store;
pub mod stripe;

// The HTTP edge: callers' credentials, request plumbing, the wire formats.
pub mod auth;
pub mod cors;
pub mod dialect;
pub mod http;
pub mod idempotent;
// The table's stream, as the audit chainer receives it.
pub mod audit_stream;

// Wiring.
pub mod app;
pub mod aws;
pub mod config;
mod lambda;
pub mod telemetry;

pub use app::App;
pub use error::{Error, FieldError};
pub use idempotent::Caller;
pub use lambda::{serve, serve_event, serve_write};
