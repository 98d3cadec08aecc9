//! cardvault's edge: what a Lambda function is built from. Callers' credentials (`auth`),
//! request plumbing (`http`, `cors`), the four dialects' wire formats (`dialect`), clients'
//! idempotency keys (`idempotent`), the Lambda entry (`serve*`) and the wiring of the
//! adapters into a vault (`app`).
//!
//! The layers are crates, so the compiler holds them apart (README, "Architecture"):
//!
//! ```text
//! functions ─> cardvault (edge) ─┬─> cardvault-aws ─────────┬─> cardvault-core
//!                                ├─> cardvault-stripe ────┐ │   (domain, ports, rules)
//!                                ├─> cardvault-recaptcha ─┼─┘
//!                                │                        └─> cardvault-net
//!                                └─> cardvault-core
//! ```
//!
//! A function binary sees only what this crate makes public: the domain types, the vault's
//! operations, the dialects and the wiring, never an adapter or a port.

// The core, as the edge and the functions name it.
pub use cardvault_core::{domain, error, secret, telemetry, vault};
// The operations functions' own adapters: who invoked re-homing (STS), and the table's
// stream as the audit chainer receives it.
pub use cardvault_aws::{audit_stream, caller_identity};
use cardvault_core::{crypto, ports};
// The adapters the wiring builds.
use cardvault_aws as aws;
use cardvault_aws::{secrets, store};
use cardvault_net as net;
use cardvault_recaptcha as recaptcha;
use cardvault_stripe as stripe;

// The HTTP edge: callers' credentials, request plumbing, the wire formats.
pub mod auth;
pub mod cors;
pub mod dialect;
pub mod http;
pub mod idempotent;

// Wiring: what a function is built from (`deps`), and its app.
pub mod app;
pub mod config;
pub mod deps;
mod lambda;

pub use app::App;
pub use auth::{caller, Caller};
pub use deps::Deps;
pub use error::{Error, FieldError};
