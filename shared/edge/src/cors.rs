//! CORS for the transparent redirect: only a tenant's allowed origins may call it from a
//! browser. The preflight carries no body, so no public key: it asks whether any tenant
//! allows the origin; the real request then checks the origin against its own tenant.
//!
//! Every answer of the redirect, errors included, carries the CORS headers when its origin
//! is on some tenant's list, so that the merchant's page can show what went wrong. A request
//! with no `Origin` comes from no browser (a server, curl): CORS protects browsers only, and
//! anyone outside one can send any `Origin`, so such a request goes on to the checks that do
//! protect the redirect (the public key, reCAPTCHA).

use lambda_http::{
    http::{header, HeaderValue, StatusCode},
    Body, Request, Response,
};

use crate::domain::{Origin, Stage, Tenant};
use crate::error::Error;

pub fn origin(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|o| !o.is_empty())
}

/// The request's origin if the tenant allows it on this `stage`, or none when the request
/// has no `Origin` (not a browser's); an origin the tenant does not allow is a 403.
pub fn check(req: &Request, tenant: &Tenant, stage: Stage) -> Result<Option<String>, Error> {
    let Some(origin) = origin(req) else {
        return Ok(None);
    };
    if Origin::new(origin).is_in(&tenant.allowed_origins, stage) {
        Ok(Some(origin.to_owned()))
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
