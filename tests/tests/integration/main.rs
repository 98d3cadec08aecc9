//! Every integration test, one binary (it links once, not once per area), one module per
//! area, against the local stack `make test` starts (`tests/src` holds the shared helpers).
//! Run one area with a filter: `cargo test -p cardvault-tests --test integration bola::`.

// The four dialects and the redirect, end to end.
mod billing;
mod merchant_customers;
mod payment_methods;
mod redirect;
mod three_ds;
mod user_api;
// The source documents' own samples, replayed.
mod documents;
// Who may see what, and what never leaks.
mod audit;
mod bola;
mod card_testing;
mod exposure;
mod secrets;
mod vault_keys;
// Writes that must hold under retries, races and faults.
mod deadline;
mod idempotency;
mod storage;
mod stripe_faults;
mod stripe_import;
mod stripe_side;
mod webhooks;
// Operations.
mod rehome;
// The in-memory fakes held to the real stand-ins: each case runs on both.
mod gateway_contract;
mod store_contract;
// The template, the local tooling and the docs page.
mod dev_banner;
mod docs_page;
mod events;
mod least_privilege;
mod sam_template;
mod template;
