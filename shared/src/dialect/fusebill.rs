//! The Fusebill-style merchant API and transparent redirect.
//!
//! Errors use Fusebill's envelope:
//! `{"ErrorId":0,"HttpStatusCode":404,"Errors":[{"Key":"Api Error","Value":"…"}]}`.
//! A field's validation error carries the field's name as its `Key`.

use lambda_http::{http::StatusCode, Body, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{Customer, CustomerFields, NewCustomer};
use crate::error::Error;

/// Renders a handler's outcome: the success body, or the error envelope.
pub fn render<T: Serialize>(result: Result<(StatusCode, T), Error>) -> Response<Body> {
    match result {
        Ok((status, body)) => super::json(status, &body),
        Err(e) => render_error(&e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    error_id: u32,
    http_status_code: u16,
    errors: Vec<KeyValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyValue {
    key: String,
    value: String,
}

const API_ERROR: &str = "Api Error";

pub fn render_error(e: &Error) -> Response<Body> {
    super::log_internal(e);
    let status = match e {
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Upstream(_) => StatusCode::BAD_GATEWAY,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let errors = match e {
        Error::Invalid(fields) => fields
            .iter()
            .map(|f| KeyValue {
                key: f.field.clone(),
                value: f.message.clone(),
            })
            .collect(),
        Error::Internal(_) => vec![api_error("An internal error occurred.")],
        other => vec![api_error(other.to_string())],
    };
    super::json(
        status,
        &Envelope {
            error_id: 0,
            http_status_code: status.as_u16(),
            errors,
        },
    )
}

fn api_error(value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: API_ERROR.into(),
        value: value.into(),
    }
}

// ---- customers -------------------------------------------------------------------------

/// `POST /v1/customers`. Unknown fields are ignored, as Fusebill's customer has many.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRequest {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    primary_email: Option<String>,
    #[serde(default)]
    reference: Option<String>,
}

impl CustomerRequest {
    pub fn parse(&self) -> Result<NewCustomer, Error> {
        NewCustomer::parse(CustomerFields {
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            company_name: self.company_name.as_deref(),
            primary_email: self.primary_email.as_deref(),
            reference: self.reference.as_deref(),
        })
        .map_err(Error::Invalid)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerJson {
    id: u64,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    primary_email: Option<String>,
    reference: Option<String>,
    status: &'static str,
    created_timestamp: String,
    modified_timestamp: String,
    uri: Option<String>,
}

impl From<Customer> for CustomerJson {
    fn from(c: Customer) -> Self {
        let text = |t: Option<crate::domain::Text>| t.map(String::from);
        let d = c.details;
        Self {
            id: c.id.get(),
            first_name: text(d.first_name),
            last_name: text(d.last_name),
            company_name: text(d.company_name),
            primary_email: text(d.primary_email),
            reference: text(d.reference),
            status: "Active",
            created_timestamp: timestamp(c.created_at),
            modified_timestamp: timestamp(c.modified_at),
            uri: None,
        }
    }
}

/// Fusebill's timestamps: RFC 3339 in UTC with a `Z`.
pub fn timestamp(t: crate::domain::Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
