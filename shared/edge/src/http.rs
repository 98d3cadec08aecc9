//! Request plumbing shared by every dialect: body limits, content types, JSON with
//! field-naming errors, path parameters.

use std::net::IpAddr;
use std::sync::OnceLock;

use lambda_http::{http::header::CONTENT_TYPE, Body, Request, RequestExt};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::{Error, FieldError};

/// Bodies past this are refused before parsing. Card and customer payloads are tiny.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn body_bytes(req: &Request) -> Result<&[u8], Error> {
    body_bytes_up_to(req, MAX_BODY_BYTES)
}

/// The raw body, as sent (a webhook's signature covers these exact bytes), refused past
/// `limit`.
pub fn body_bytes_up_to(req: &Request, limit: usize) -> Result<&[u8], Error> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        // Body is non-exhaustive upstream; an unknown variant is treated as no body.
        #[allow(unreachable_patterns)]
        _ => &[],
    };
    if bytes.len() > limit {
        return Err(Error::PayloadTooLarge { limit });
    }
    Ok(bytes)
}

/// The media type without parameters, lower-cased: `application/json`.
pub fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
}

/// Parses a JSON body into `T`. A body that is not JSON, or a field of the wrong type,
/// is a 400 whose message says which; a non-JSON content type is a 415.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    require_json(req)?;
    parse_json(body_bytes(req)?)
}

/// A `Content-Type` other than JSON (`application/json`, `…+json`) is a 415; none is fine.
pub fn require_json(req: &Request) -> Result<(), Error> {
    match media_type(req) {
        // `text/json` too, as ASP.NET's JSON input formatter takes it (the merchant API's
        // .NET clients send it).
        Some(media)
            if media != "application/json" && media != "text/json" && !media.ends_with("+json") =>
        {
            Err(Error::UnsupportedMediaType(media))
        }
        _ => Ok(()),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let object = json_object(bytes, |b| {
        serde_json::from_slice(b).map_err(|e| e.to_string())
    })?;
    from_value(serde_json::Value::Object(object))
}

/// A body that must be a JSON object, read with `parse` (which says what is wrong, never
/// quoting the body). Empty, unreadable or not an object: a 400 saying which.
pub fn json_object(
    bytes: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<serde_json::Value, String>,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "The request body is empty; expected a JSON object.".into(),
        ));
    }
    match parse(bytes) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::BadRequest(
            "The request body must be a JSON object.".into(),
        )),
        Err(e) => Err(Error::BadRequest(format!(
            "The request body is not valid JSON: {e}."
        ))),
    }
}

/// A parsed body into `T`: a field of the wrong type, or a missing one, is a 400 naming it.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing field is reported at the parent path; name the field itself.
        let field = match inner.strip_prefix("missing field `") {
            Some(rest) => rest.trim_end_matches('`').to_owned(),
            None => field,
        };
        Error::Invalid(vec![FieldError::new(
            field.clone(),
            format!("{field}: {}", without_values(&inner)),
        )])
    })
}

/// serde's message less the values it quotes (`invalid type: string "4242…", expected u64`):
/// the caller's input is never echoed, since it may be a card number (the fuzzing's
/// `no_card_echo` found a token sent as a number coming back).
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unexpected, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            // The kind only: `integer`, `string`, `floating point`, …
            let kind = unexpected
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim();
            let expected = if expected.is_empty() {
                String::new()
            } else {
                format!(", expected{expected}")
            };
            return format!("{prefix}{kind}{expected}");
        }
    }
    // Other messages quote names between backticks (`unknown field `x``): drop them too.
    message
        .split('`')
        .step_by(2)
        .collect::<Vec<_>>()
        .join("")
        .trim()
        .to_owned()
}

/// The caller's IP: as API Gateway saw it, or, behind the edge (where API Gateway sees
/// CloudFront), as CloudFront saw it ([`VIEWER_IP_HEADER`]).
pub fn source_ip(req: &Request) -> Option<String> {
    client_ip(req, edge_secret().is_some())
}

fn client_ip(req: &Request, behind_edge: bool) -> Option<String> {
    if behind_edge {
        // `serve` refused every request without the edge's secret, so the header is the
        // one CloudFront's viewer-request function set (over any the client sent).
        let header = req.headers().get(VIEWER_IP_HEADER)?.to_str().ok()?;
        return header.parse::<IpAddr>().ok().map(|ip| ip.to_string());
    }
    match req.request_context_ref()? {
        lambda_http::request::RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The header CloudFront adds to every request it forwards when the stack is behind the
/// edge (template.yaml, EdgeProtection): a shared secret proving that the request went
/// through CloudFront and its web ACL, not around them to the API's origin domain.
pub const EDGE_HEADER: &str = "x-cardvault-edge";
/// The viewer's IP, set by the edge's viewer-request function on every request.
pub const VIEWER_IP_HEADER: &str = "x-cardvault-viewer-ip";

/// `CARDVAULT_EDGE_SECRET`, read once: set only on a stack behind the edge.
pub fn edge_secret() -> Option<&'static str> {
    static SECRET: OnceLock<Option<String>> = OnceLock::new();
    SECRET
        .get_or_init(|| {
            std::env::var("CARDVAULT_EDGE_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .as_deref()
}

/// Whether a request may be served: any, without an edge; behind one, only a request
/// carrying its secret (compared in constant time).
pub fn through_edge(req: &Request, secret: Option<&str>) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    req.headers()
        .get(EDGE_HEADER)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(secret.as_bytes())))
}

/// The answer to a request that went around the edge: API Gateway's own 403, so the
/// origin looks like a gateway that refuses, not like the API.
pub fn edge_refusal() -> lambda_http::Response<Body> {
    lambda_http::Response::builder()
        .status(403)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(r#"{"message":"Forbidden"}"#.into()))
        .expect("a static response")
}

/// A `{name}` path parameter, as API Gateway (and the dev router) put it in the event.
pub fn path_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        customer_id: u64,
        #[serde(default)]
        name: Option<String>,
    }

    fn bad_request(r: Result<Sample, Error>) -> String {
        match r {
            Err(Error::BadRequest(m)) => m,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn not_json_says_so() {
        let msg = bad_request(parse_json(b"{customerId:1}"));
        assert!(
            msg.starts_with("The request body is not valid JSON"),
            "{msg}"
        );
        assert!(bad_request(parse_json(b"  ")).contains("empty"));
        assert!(bad_request(parse_json(b"[1]")).contains("JSON object"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        match parse_json::<Sample>(br#"{"customerId":"x"}"#) {
            Err(Error::Invalid(errs)) => {
                assert_eq!(errs[0].field, "customerId");
                assert!(errs[0].message.starts_with("customerId: invalid type"));
                assert!(!errs[0].message.contains('`'), "{}", errs[0].message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_type_never_echoes_the_value() {
        for body in [
            br#"{"customerId":"4242424242424242"}"#.as_slice(),
            br#"{"customerId":4242424242424242.5}"#,
            br#"{"customerId":-4242424242424242}"#,
        ] {
            match parse_json::<Sample>(body) {
                Err(Error::Invalid(errs)) => {
                    assert!(!errs[0].message.contains("424242"), "{}", errs[0].message);
                    assert!(errs[0].message.contains("expected"), "{}", errs[0].message);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn missing_field_names_the_field() {
        match parse_json::<Sample>(br#"{"name":"x"}"#) {
            Err(Error::Invalid(errs)) => assert_eq!(errs[0].field, "customerId"),
            other => panic!("{other:?}"),
        }
    }

    // ---- The edge (EdgeProtection) ----

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut b = lambda_http::http::Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn without_an_edge_every_request_is_served() {
        assert!(through_edge(&request(&[]), None));
        assert!(through_edge(&request(&[(EDGE_HEADER, "anything")]), None));
    }

    #[test]
    fn behind_the_edge_only_a_request_with_its_secret_is_served() {
        let secret = Some("s3cretS3cretS3cretS3cretS3cret00");
        assert!(through_edge(
            &request(&[(EDGE_HEADER, "s3cretS3cretS3cretS3cretS3cret00")]),
            secret
        ));
        for bad in [
            vec![],
            vec![(EDGE_HEADER, "")],
            vec![(EDGE_HEADER, "s3cretS3cretS3cretS3cretS3cret0")],
            vec![(EDGE_HEADER, "s3cretS3cretS3cretS3cretS3cret000")],
            vec![(EDGE_HEADER, "S3CRETS3CRETS3CRETS3CRETS3CRET00")],
            vec![("x-cardvault-edge-other", "s3cretS3cretS3cretS3cretS3cret00")],
        ] {
            assert!(!through_edge(&request(&bad), secret), "{bad:?}");
        }
        let refused = edge_refusal();
        assert_eq!(refused.status(), 403);
        assert_eq!(
            refused.body(),
            &Body::Text(r#"{"message":"Forbidden"}"#.into())
        );
    }

    #[test]
    fn behind_the_edge_the_callers_ip_is_the_viewers_as_cloudfront_saw_it() {
        let ip = |headers: &[(&str, &str)], edge| client_ip(&request(headers), edge);
        assert_eq!(
            ip(&[(VIEWER_IP_HEADER, "203.0.113.7")], true).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            ip(&[(VIEWER_IP_HEADER, "2001:db8::1")], true).as_deref(),
            Some("2001:db8::1")
        );
        // Not an address: none, never the text (nor CloudFront's own address).
        for bad in ["203.0.113.7, 198.51.100.1", "", "localhost"] {
            assert_eq!(ip(&[(VIEWER_IP_HEADER, bad)], true), None, "{bad}");
        }
        assert_eq!(ip(&[], true), None);
        // Without the edge the header is the client's own: never believed.
        assert_eq!(ip(&[(VIEWER_IP_HEADER, "203.0.113.7")], false), None);
    }
}
