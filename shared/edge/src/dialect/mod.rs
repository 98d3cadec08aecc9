//! One wire-format module per API dialect. Each keeps its source document's field names,
//! status codes and envelopes, and maps [`crate::Error`] to responses in one function.

pub mod embedthis;
pub mod fusebill;
pub mod rechat;
pub mod stripe_webhook;

use lambda_http::{
    http::{header, StatusCode},
    Body, Response,
};
use serde::Serialize;

/// A JSON response. `no-store`, because every body here is about someone's payment card.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => json_text(status, text),
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::Empty)
                .expect("static response is valid")
        }
    }
}

/// A JSON body serialised already (a list that never changes, serialised once).
pub fn json_text(status: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text))
        .expect("static headers are valid")
}

/// The HTTP status of each kind of error: the same in every dialect, whose envelopes differ.
pub fn status_of(e: &crate::Error) -> StatusCode {
    use crate::Error;
    match e {
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid(_) | Error::BadRequest(_) | Error::Declined { .. } => {
            StatusCode::BAD_REQUEST
        }
        Error::Conflict(_) => StatusCode::CONFLICT,
        // Stripe's own status for a payment that needs the cardholder.
        Error::ActionRequired(_) => StatusCode::PAYMENT_REQUIRED,
        Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A short code for envelopes that carry one (the user and billing card APIs).
pub fn code_of(e: &crate::Error) -> &'static str {
    use crate::Error;
    match e {
        Error::Unauthorized(_) => "Unauthorized",
        Error::Forbidden(_) => "Forbidden",
        Error::NotFound { .. } => "NotFound",
        Error::Invalid(_) => "Validation",
        Error::BadRequest(_) => "BadRequest",
        Error::Conflict(_) => "Conflict",
        Error::Unprocessable(_) => "Unprocessable",
        Error::TooManyRequests(_) => "TooManyRequests",
        Error::Declined { .. } => "Declined",
        Error::ActionRequired(_) => "RequiresAction",
        Error::PayloadTooLarge { .. } => "PayloadTooLarge",
        Error::UnsupportedMediaType(_) => "UnsupportedMediaType",
        Error::Internal { .. } => "InternalError",
        Error::Upstream { .. } => "BadGateway",
        Error::Unavailable { .. } => "ServiceUnavailable",
    }
}

/// What a page needs to finish an authentication, when the error is that.
pub fn action_of(e: &crate::Error) -> Option<&crate::error::ActionRequired> {
    match e {
        crate::Error::ActionRequired(a) => Some(a),
        _ => None,
    }
}

/// Logs the causes of our own and our dependencies' errors, which never go on the wire.
pub fn log_internal(e: &crate::Error) {
    match e {
        crate::Error::Internal { .. } => tracing::error!(error = %e.chain(), "internal error"),
        crate::Error::Upstream {
            source: Some(_), ..
        }
        | crate::Error::Unavailable {
            source: Some(_), ..
        } => tracing::warn!(error = %e.chain(), "dependency failed"),
        // Stripe's reason stays in the log; the caller gets the generic message.
        crate::Error::Declined { reason } => tracing::info!(%reason, "card declined"),
        _ => {}
    }
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("static response is valid")
}

#[cfg(feature = "openapi")]
pub mod openapi;
