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

/// Issue 26: only the operator role (a parameter) may invoke the re-homing function, the
/// one function that opens stored PANs: its resource policy names that role and nothing
/// else in the template grants `lambda:InvokeFunction` on it (no route, no event source, no
/// policy of another function); the function gets the role to check its callers against.
#[test]
fn only_the_operator_role_may_invoke_the_rehoming_function() {
    let t = template();
    let param = &t["Parameters"]["OperatorRoleArn"];
    assert_eq!(param["Type"], "String");
    let pattern = param["AllowedPattern"].as_str().unwrap();
    assert!(
        pattern.contains(":iam::") && pattern.contains(":role/"),
        "{pattern}"
    );

    let resources = t["Resources"].as_mapping().unwrap();
    let names_rehome = |v: &Value| format!("{v:?}").contains("RehomeCardsFunction");
    let permissions: Vec<(&Value, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Permission")
        .filter(|(_, r)| names_rehome(&r["Properties"]["FunctionName"]))
        .collect();
    assert_eq!(permissions.len(), 1, "one resource policy statement");
    let (_, permission) = permissions[0];
    let props = &permission["Properties"];
    assert_eq!(props["Action"], "lambda:InvokeFunction");
    let principal = format!("{:?}", props["Principal"]);
    assert!(
        principal.contains("Ref") && principal.contains("OperatorRoleArn"),
        "{principal}"
    );
    for key in [
        "SourceArn",
        "SourceAccount",
        "EventSourceToken",
        "PrincipalOrgID",
    ] {
        assert!(props[key].is_null(), "{key}: the role alone");
    }

    // No other grant: no route or event source, and no policy anywhere that allows invoking.
    let function = &t["Resources"]["RehomeCardsFunction"];
    assert!(
        function["Properties"]["Events"].is_null(),
        "no event source"
    );
    for (name, r) in resources {
        let text = format!("{r:?}");
        let invokes = text.contains("lambda:InvokeFunction") || text.contains("lambda:*");
        if r["Type"] != "AWS::Lambda::Permission" {
            assert!(!invokes, "{name:?} grants lambda:InvokeFunction");
        }
    }
    let env = format!(
        "{:?}",
        function["Properties"]["Environment"]["Variables"]["OPERATOR_ROLE_ARN"]
    );
    assert!(env.contains("OperatorRoleArn"), "{env}");
}
