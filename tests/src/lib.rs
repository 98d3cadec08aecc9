//! Shared by the integration tests: the running stack's facts, an HTTP client, the admin CLI.
//!
//! `make test` starts DynamoDB Local, moto, localstripe, the siteverify stand-in,
//! the fleet of function instances (infra/fleet.py) and the router, then runs these tests with `CARDVAULT_STACK`
//! naming a JSON file of the stack's facts. Without it, the tests fail: they never skip.
//!
//! Each test file in `tests/` takes everything with `use cardvault_tests::*;`.

mod app;
pub mod billing;
mod http;
pub mod invoke;
mod jwt;
pub mod leaks;
mod stack;
mod stripe;
mod stripe_sign;
mod table;

pub use app::*;
pub use http::*;
pub use jwt::*;
pub use stack::*;
pub use stripe::*;
pub use stripe_sign::*;
pub use table::*;
