//! The user API (Rechat style): `POST` and `GET /payments/stripe/customers`.
//!
//! Success: `{"code":"OK","data":…}`, and for lists `"info":{"count":N,"total":M}` (`count`
//! items in this page, `total` in all).
//!
//! The document shows no error envelope. Errors mirror the success shape, with a `code`
//! that is not `OK`, a readable `message`, and the HTTP status repeated as `http`:
//! `{"code":"Unauthorized","message":"The token has expired.","http":401}`. A validation
//! error also names its fields: `"attributes":{"token":"token is required"}`. Codes:
//!
//! | status | code                   |
//! |--------|------------------------|
//! | 400    | `Validation` (a field), `BadRequest` (the request as a whole, or Stripe refused the token) |
//! | 401    | `Unauthorized` (with `WWW-Authenticate: Bearer`) |
//! | 403    | `Forbidden`            |
//! | 404    | `ResourceNotFound`     |
//! | 409    | `Conflict`             |
//! | 413    | `PayloadTooLarge`      |
//! | 415    | `UnsupportedMediaType` |
//! | 500    | `InternalError`        |
//! | 502    | `BadGateway` (Stripe or the identity provider failed; nothing was stored) |
//! | 503    | `ServiceUnavailable`   |

use std::collections::BTreeMap;

use lambda_http::{
    http::{header, HeaderValue, StatusCode},
    Body, RequestExt, Response,
};
use serde::{Deserialize, Serialize};

use crate::domain::{SourceCard, StripeToken};
use crate::domain::{StripeCustomerLink, Timestamp};
use crate::error::{Error, FieldError};
use crate::vault::stripe_customers::{Offset, LINKS_LIMIT_MAX};

/// `{"code":"OK","data":…}`
#[derive(Debug, Serialize)]
pub struct Data<T> {
    code: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<Info>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct Info {
    count: usize,
    total: usize,
}

pub fn data<T>(data: T) -> Data<T> {
    Data {
        code: "OK",
        data,
        info: None,
    }
}

/// A page of a list, with how many are in it and in all.
pub fn list<T>(items: Vec<T>, total: usize) -> Data<Vec<T>> {
    Data {
        code: "OK",
        info: Some(Info {
            count: items.len(),
            total,
        }),
        data: items,
    }
}

/// Renders a handler's outcome: the success body, or the error envelope.
pub fn render<T: Serialize>(result: Result<(StatusCode, T), Error>) -> Response<Body> {
    match result {
        Ok((status, body)) => super::json(status, &body),
        Err(e) => render_error(&e),
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct ErrorEnvelope {
    code: &'static str,
    message: String,
    http: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<BTreeMap<String, String>>,
    /// What the page needs to finish a 3-D Secure authentication (`RequiresAction`, 402).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    action: Option<crate::error::ActionRequired>,
}

pub fn render_error(e: &Error) -> Response<Body> {
    super::log_internal(e);
    let status = super::status_of(e);
    // The user API's own name for a missing resource; the shared codes otherwise.
    let code = match e {
        Error::NotFound { .. } => "ResourceNotFound",
        other => super::code_of(other),
    };
    let (message, attributes) = match e {
        Error::Invalid(fields) => (
            fields
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            Some(
                fields
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect(),
            ),
        ),
        Error::Internal { .. } => ("An internal error occurred.".into(), None),
        other => (other.to_string(), None),
    };
    let mut resp = super::json(
        status,
        &ErrorEnvelope {
            code,
            message,
            http: status.as_u16(),
            attributes,
            action: super::action_of(e).cloned(),
        },
    );
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750: a 401 names the scheme it wants.
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="cardvault", error="invalid_token""#),
        );
    }
    resp
}

// ---- Stripe customers ----------------------------------------------------------------

/// `POST /payments/stripe/customers`: `{"token": "tok_…"}`. Other fields are ignored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
pub struct CreateStripeCustomerRequest {
    #[serde(default)]
    token: Option<String>,
}

impl CreateStripeCustomerRequest {
    pub fn parse(&self) -> Result<StripeToken, Error> {
        let raw = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::field("token", "token is required"))?;
        StripeToken::parse(raw).ok_or_else(|| {
            Error::field(
                "token",
                "token must be a Stripe card token, starting with tok_",
            )
        })
    }
}

/// A Stripe customer link in the document's shape.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct StripeCustomerJson {
    id: String,
    owner: String,
    customer_id: String,
    /// Stripe's card object, with the document's fields.
    source: SourceCard,
    /// Epoch seconds with a fraction (microseconds), as the document shows.
    created_at: f64,
    updated_at: f64,
    deleted_at: Option<f64>,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl From<StripeCustomerLink> for StripeCustomerJson {
    fn from(l: StripeCustomerLink) -> Self {
        Self {
            id: l.id.to_string(),
            owner: l.owner,
            customer_id: l.stripe_customer_id,
            source: l.source,
            created_at: epoch_seconds(l.created_at),
            updated_at: epoch_seconds(l.updated_at),
            deleted_at: l.deleted_at.map(epoch_seconds),
            kind: "stripe_customer",
        }
    }
}

/// `1765163615.609121`: seconds since the epoch, to the microsecond.
pub fn epoch_seconds(t: Timestamp) -> f64 {
    (t.unix_timestamp_nanos() / 1_000) as f64 / 1e6
}

/// The list's paging: `start` (items to skip, from 0) and `limit` (1 to [`LINKS_LIMIT_MAX`];
/// without it, the whole list up to that bound).
pub fn page(req: &lambda_http::Request) -> Result<Offset, Error> {
    let mut page = Offset::default();
    let mut errors = Vec::new();
    let params = req.query_string_parameters();
    if let Some(v) = params.first("start") {
        match v.trim().parse::<usize>() {
            Ok(n) if n <= 1_000_000 => page.start = n,
            _ => errors.push(FieldError::new("start", "start must be an integer from 0")),
        }
    }
    if let Some(v) = params.first("limit") {
        match v.trim().parse::<usize>() {
            Ok(n) if (1..=LINKS_LIMIT_MAX).contains(&n) => page.limit = n,
            _ => errors.push(FieldError::new(
                "limit",
                format!("limit must be an integer from 1 to {LINKS_LIMIT_MAX}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(page)
    } else {
        Err(Error::Invalid(errors))
    }
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
    fn errors_use_one_envelope() {
        let resp = render_error(&Error::Unauthorized("The token has expired."));
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(
            body(&resp),
            serde_json::json!({"code": "Unauthorized", "message": "The token has expired.", "http": 401})
        );
        let resp = render_error(&Error::field("token", "token is required"));
        assert_eq!(resp.status(), 400);
        assert_eq!(body(&resp)["attributes"]["token"], "token is required");
        let resp = render_error(&Error::bug("secret detail"));
        assert!(!body(&resp).to_string().contains("secret detail"));
    }

    #[test]
    fn paging_takes_start_up_to_a_million_and_limit_in_its_range() {
        let page_of = |query: &[(&str, &str)]| {
            let map: std::collections::HashMap<String, String> = query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            page(&lambda_http::Request::default().with_query_string_parameters(map))
        };
        let p = page_of(&[("start", "1000000"), ("limit", "1")]).unwrap();
        assert_eq!((p.start, p.limit), (1_000_000, 1));
        for bad in [
            [("start", "1000001"), ("limit", "1")],
            [("start", "-1"), ("limit", "1")],
            [("start", "0"), ("limit", "0")],
        ] {
            assert!(matches!(page_of(&bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_epoch_seconds_with_microseconds() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_765_163_615_609_121_000).unwrap();
        assert_eq!(
            serde_json::to_string(&epoch_seconds(t)).unwrap(),
            "1765163615.609121"
        );
    }

    #[test]
    fn token_field_is_checked() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<CreateStripeCustomerRequest>(v)
                .unwrap()
                .parse()
        };
        assert!(parse(serde_json::json!({"token": "tok_visa"})).is_ok());
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"token": ""}),
            serde_json::json!({"token": "card_1"}),
        ] {
            assert!(matches!(parse(bad), Err(Error::Invalid(_))));
        }
    }
}
