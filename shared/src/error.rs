//! The domain's one error type. Each dialect maps it to its own status codes and envelope
//! in exactly one place (`dialect::*::render_error`).

use crate::{secrets::SecretsError, store::StoreError};

/// A problem with one input field. `message` names the field so it reads well alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that match nothing active.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Absent, or outside the caller's scope: the two are indistinguishable on purpose.
    #[error("{entity} with id {id} not found.")]
    NotFound { entity: &'static str, id: String },
    /// One or more fields failed validation.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// A request that is wrong as a whole (not JSON, empty, …).
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type {0:?}; send application/json")]
    UnsupportedMediaType(String),
    /// Credentials are fine but this caller may not do this (a browser origin not allowed).
    #[error("{0}")]
    Forbidden(String),
    /// A dependency we must consult before writing (siteverify) is down; nothing was written.
    #[error("{0}")]
    Unavailable(String),
    /// The record changed under the request (a concurrent delete); safe to retry.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (Stripe, siteverify) failed; nothing was written.
    #[error("{0}")]
    Upstream(String),
    /// Ours. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<SecretsError> for Error {
    fn from(e: SecretsError) -> Self {
        Self::Internal(e.to_string())
    }
}
