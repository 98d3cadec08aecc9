//! Stripe's webhook endpoints (`POST /v1/webhooks/stripe`, `…/stripe/{tenantId}`): what
//! Stripe reads back. Stripe looks only at the status (2xx: delivered; anything else: it
//! retries for up to three days), so the bodies are for people reading the dashboard's
//! delivery log: `{"received": true, "result": "applied"|"duplicate"|"ignored"}`, and for a
//! refusal Stripe's own error shape, `{"error": {"type": "invalid_request_error",
//! "message": "…"}}` (400 for a bad or missing signature or a body that is no event, 409
//! while the same event is being processed, 5xx for our failures: all retried).

use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::Error;
use crate::vault::Handled;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct ReceivedJson {
    received: bool,
    /// `applied`, `duplicate` (the event id was processed already) or `ignored` (an event
    /// type, or cards, the vault does not keep).
    result: &'static str,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct WebhookErrorJson {
    error: WebhookErrorBody,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct WebhookErrorBody {
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
}

pub fn render(result: Result<Handled, Error>) -> Response<Body> {
    match result {
        Ok(handled) => super::json(
            lambda_http::http::StatusCode::OK,
            &ReceivedJson {
                received: true,
                result: handled.as_str(),
            },
        ),
        Err(e) => render_error(&e),
    }
}

pub fn render_error(e: &Error) -> Response<Body> {
    super::log_internal(e);
    let status = super::status_of(e);
    let (kind, message) = match e {
        Error::Internal { .. } => ("api_error", "An internal error occurred.".to_owned()),
        e if status.is_server_error() => ("api_error", e.to_string()),
        e => ("invalid_request_error", e.to_string()),
    };
    super::json(
        status,
        &WebhookErrorJson {
            error: WebhookErrorBody { kind, message },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: &Response<Body>) -> serde_json::Value {
        match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_use_stripes_error_shape_and_never_show_internals() {
        let resp = render_error(&Error::BadRequest("bad signature".into()));
        assert_eq!(resp.status(), 400);
        assert_eq!(
            body(&resp),
            serde_json::json!({"error": {"type": "invalid_request_error", "message": "bad signature"}})
        );
        let resp = render_error(&Error::internal(
            "store",
            std::io::Error::other("secret detail"),
        ));
        assert_eq!(resp.status(), 500);
        assert!(!body(&resp).to_string().contains("secret detail"));
        let resp = render(Ok(Handled::Applied { changes: 2 }));
        assert_eq!(
            body(&resp),
            serde_json::json!({"received": true, "result": "applied"})
        );
    }
}
