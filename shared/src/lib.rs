//! cardvault's domain crate.
//!
//! Every Lambda in `functions/` is a thin shell over this crate: it builds an [`app::App`]
//! once per cold start, parses the request into domain types, calls the domain and renders
//! the result in its dialect (see [`dialect`]).

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod cors;
pub mod crypto;
pub mod dialect;
pub mod domain;
pub mod error;
pub mod http;
pub mod recaptcha;
pub mod secret;
pub mod secrets;
pub mod store;
pub mod stripe;
pub mod telemetry;
pub mod vault;

mod lambda;
pub use lambda::serve;

pub use app::App;
pub use error::{Error, FieldError};
