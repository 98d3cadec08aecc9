//! Logging. Request bodies and headers are never logged: they carry card numbers and keys.

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
