//! template.yaml's API Gateway access logs: on, kept for a bounded time, and in a format
//! that never records the query string (which may carry a card number). Needs no stack.

use std::path::Path;

use serde_yaml::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The `$context` variables an access log may use: none of them carries the raw URL.
/// `$context.path` is left out on purpose: it is the request path as sent, and the route key
/// names the route without it.
const ALLOWED: &[&str] = &[
    "$context.requestId",
    "$context.extendedRequestId",
    "$context.identity.sourceIp",
    "$context.requestTime",
    "$context.requestTimeEpoch",
    "$context.httpMethod",
    "$context.routeKey",
    "$context.stage",
    "$context.status",
    "$context.protocol",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integrationStatus",
    "$context.integrationLatency",
    "$context.error.message",
    "$context.error.messageString",
    "$context.error.responseType",
];

/// The variables of an access-log format that are not on [`ALLOWED`]: any variable that
/// could carry the URL (`$context.path`, a `$request.querystring.*`, `$input.params()`, …).
fn unsafe_variables(format: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = format;
    while let Some(at) = rest.find('$') {
        let var: String = rest[at..]
            .char_indices()
            .take_while(|(i, c)| *i == 0 || c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
            .map(|(_, c)| c)
            .collect();
        rest = &rest[at + var.len().max(1)..];
        if !ALLOWED.contains(&var.trim_end_matches('.')) {
            found.push(var);
        }
    }
    found
}

#[test]
fn a_variable_that_can_carry_the_query_is_caught() {
    for (bad, var) in [
        ("$context.path", "$context.path"),
        (
            "$request.querystring.cardNumber",
            "$request.querystring.cardNumber",
        ),
        ("$input.params('cvv')", "$input.params"),
        (
            "$method.request.querystring.cvv",
            "$method.request.querystring.cvv",
        ),
        ("$context.identity.userAgent", "$context.identity.userAgent"),
    ] {
        let format = format!(r#"{{"requestId":"$context.requestId","x":"{bad}"}}"#);
        assert_eq!(unsafe_variables(&format), [var], "{format}");
    }
    assert!(
        unsafe_variables(r#"{"id":"$context.requestId","route":"$context.routeKey"}"#).is_empty()
    );
}

#[test]
fn access_logs_are_on_kept_for_a_bounded_time_and_never_record_the_query_string() {
    let t = template();
    let api = &t["Resources"]["Api"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let settings = &api["Properties"]["AccessLogSettings"];
    let format = settings["Format"].as_str().expect("an access-log format");
    assert!(format.contains("$context.requestId"), "{format}");
    assert_eq!(unsafe_variables(format), Vec::<String>::new(), "{format}");
    for word in ["querystring", "rawQueryString", "$context.path"] {
        assert!(
            !format
                .to_ascii_lowercase()
                .contains(&word.to_ascii_lowercase()),
            "{word}"
        );
    }

    // The destination is the template's own log group, with a retention period.
    let destination = format!("{:?}", settings["DestinationArn"]);
    assert!(destination.contains("ApiAccessLogs"), "{destination}");
    let group = &t["Resources"]["ApiAccessLogs"];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert!(
        !group["Properties"]["RetentionInDays"].is_null(),
        "access logs need a retention period"
    );
}
