//! cardvault's test kit: an in-memory adapter of every port (`memory`), and a vault built
//! from them. The core compiles the same source into its own unit tests (see its `lib.rs`);
//! the contract suites in `tests/` run each case on these and on the real stand-ins, so a
//! fake that drifts from DynamoDB or Stripe fails there.

pub mod memory;

// The core's modules under the names the adapters use (`crate::ports`, …).
use cardvault_core::{crypto, domain, ports, vault};
// Stripe's webhook wire format, under the name the core's own test build gives it (there,
// the same source compiled in by `#[path]`).
use cardvault_stripe::webhook as stripe_webhook;
