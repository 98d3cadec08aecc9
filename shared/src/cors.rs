//! CORS for the transparent redirect: only a tenant's allowed origins may call it from a
//! browser. The preflight carries no body, so no public key: it asks whether any tenant
//! allows the origin; the real request then checks the origin against its own tenant.

use lambda_http::{
    http::{header, HeaderValue, StatusCode},
    Body, Request, Response,
};

use crate::domain::{Origin, Tenant};
use crate::error::Error;

pub fn origin(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|o| !o.is_empty())
}

/// The request's origin if the tenant allows it; otherwise 403, and no CORS headers.
pub fn check(req: &Request, tenant: &Tenant) -> Result<String, Error> {
    let origin = origin(req).ok_or_else(|| {
        Error::Forbidden(
            "The transparent redirect takes requests from a browser on an allowed origin only."
                .into(),
        )
    })?;
    if Origin::new(origin).is_in(&tenant.allowed_origins) {
        Ok(origin.to_owned())
    } else {
        Err(Error::Forbidden(
            "This origin is not allowed to add payment methods for this account.".into(),
        ))
    }
}

/// Adds the CORS headers that let the browser read the answer, for an allowed origin.
pub fn allow(mut resp: Response<Body>, origin: Option<&str>) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    resp
}

/// The preflight's answer: 204 with the allowances for an allowed origin, 403 otherwise.
pub fn preflight(origin: Option<&str>) -> Response<Body> {
    let builder = Response::builder().header(header::VARY, "Origin");
    match origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        Some(value) => builder
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, value)
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS")
            .header(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Content-Type, X-Requested-With",
            )
            .header(header::ACCESS_CONTROL_MAX_AGE, "600")
            .body(Body::Empty),
        None => builder.status(StatusCode::FORBIDDEN).body(Body::Empty),
    }
    .expect("static response is valid")
}
