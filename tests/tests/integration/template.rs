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

/// The logical ids of the template's functions.
fn functions(t: &Value) -> Vec<String> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect()
}

/// Whether `v` is `!<tag> <text>`.
fn tagged(v: &Value, tag: &str, text: &str) -> bool {
    matches!(v, Value::Tagged(t) if t.tag == tag && t.value.as_str() == Some(text))
}

/// Issue 26, item 9: every function's log group is the template's own (not the one Lambda
/// makes on first use, kept forever and unencrypted): named as Lambda names it, kept for
/// the retention parameter (a year by default), encrypted under the logs key, whose policy
/// lets CloudWatch Logs, and only for log groups, use it. The access logs too.
#[test]
fn every_function_logs_to_a_declared_log_group_kept_and_encrypted() {
    let t = template();
    let retention = &t["Parameters"]["LogRetentionDays"];
    assert_eq!(retention["Default"].as_u64(), Some(365));
    let r = &t["Resources"];
    let names = functions(&t);
    assert!(names.len() >= 20, "{names:?}");
    for name in names.iter().map(String::as_str).chain(["ApiAccess"]) {
        let (id, group) = if name == "ApiAccess" {
            ("ApiAccessLogs".to_owned(), &r["ApiAccessLogs"])
        } else {
            let id = format!("{name}LogGroup");
            let group = &r[id.as_str()];
            assert!(
                tagged(
                    &group["Properties"]["LogGroupName"],
                    "!Sub",
                    &format!("/aws/lambda/${{{name}}}")
                ),
                "{id}: {:?}",
                group["Properties"]["LogGroupName"]
            );
            (id, group)
        };
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{id}");
        let properties = &group["Properties"];
        assert!(
            tagged(&properties["KmsKeyId"], "!GetAtt", "LogsKey.Arn"),
            "{id}: {:?}",
            properties["KmsKeyId"]
        );
        if name != "ApiAccess" {
            assert!(
                tagged(&properties["RetentionInDays"], "!Ref", "LogRetentionDays"),
                "{id}: {:?}",
                properties["RetentionInDays"]
            );
        }
        assert_eq!(group["DeletionPolicy"], "Retain", "{id}");
    }
    // The logs service may use the key for this account's log groups, nothing else.
    let key = &r["LogsKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap();
    let logs = statements
        .iter()
        .find(|s| !s["Principal"]["Service"].is_null())
        .expect("a statement for CloudWatch Logs");
    assert!(tagged(
        &logs["Principal"]["Service"],
        "!Sub",
        "logs.${AWS::Region}.amazonaws.com"
    ));
    assert!(
        tagged(
            &logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
            "!Sub",
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
        ),
        "{:?}",
        logs["Condition"]
    );
}

/// Issue 26, item 9: the table cannot be deleted by a stray call or stack change, and can
/// be restored to any second of the last 35 days.
#[test]
fn the_table_has_deletion_protection_and_point_in_time_recovery() {
    let t = template();
    let table = &t["Resources"]["VaultTable"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

/// The functions anyone may call without a credential: the transparent redirect (and its
/// preflight) and Stripe's webhooks. Each route of theirs has a throttle of its own.
const PUBLIC: &[(&str, &str)] = &[
    ("AddCreditCardFunction", "Redirect"),
    ("AddCreditCardPreflightFunction", "Redirect"),
    ("StripeWebhookFunction", "Webhook"),
];

/// Every route key (`METHOD /path`) of a function's HttpApi events.
fn route_keys(function: &Value) -> Vec<String> {
    function["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["Type"] == "HttpApi")
        .map(|(_, e)| {
            format!(
                "{} {}",
                e["Properties"]["Method"].as_str().unwrap(),
                e["Properties"]["Path"].as_str().unwrap()
            )
        })
        .collect()
}

/// Issue 26, item 8: throttling per route. Every route has the default route settings; the
/// public ones (the redirect, the webhooks) a rate of their own, below the default, so a
/// flood of one cannot use the others' share; and the public functions have reserved
/// concurrency, so a flood cannot take every other function's capacity (nor more than
/// its own).
#[test]
fn the_public_routes_are_throttled_apart_and_their_functions_capped() {
    let t = template();
    let api = &t["Resources"]["Api"]["Properties"];
    assert!(tagged(
        &api["DefaultRouteSettings"]["ThrottlingRateLimit"],
        "!Ref",
        "StageThrottleRate"
    ));
    let settings = api["RouteSettings"].as_mapping().expect("RouteSettings");
    let mut public_routes = Vec::new();
    for (function, prefix) in PUBLIC {
        let f = &t["Resources"][*function];
        let routes = route_keys(f);
        assert!(!routes.is_empty(), "{function}");
        for route in routes {
            let s = settings
                .get(route.as_str())
                .unwrap_or_else(|| panic!("no RouteSettings for {route}"));
            for (field, parameter) in [
                ("ThrottlingRateLimit", format!("{prefix}ThrottleRate")),
                ("ThrottlingBurstLimit", format!("{prefix}ThrottleBurst")),
            ] {
                assert!(tagged(&s[field], "!Ref", &parameter), "{route}: {field}");
                let default = t["Parameters"][parameter.as_str()]["Default"].as_u64();
                let stage = t["Parameters"][if field == "ThrottlingRateLimit" {
                    "StageThrottleRate"
                } else {
                    "StageThrottleBurst"
                }]["Default"]
                    .as_u64();
                assert!(default < stage, "{parameter}: {default:?} < {stage:?}");
            }
            public_routes.push(route);
        }
        assert!(
            matches!(&f["Properties"]["ReservedConcurrentExecutions"], Value::Tagged(i) if i.tag == "!If"
                && i.value[0] == "ReservePublicConcurrency"
                && tagged(&i.value[1], "!Ref", "PublicFunctionConcurrency")
                && tagged(&i.value[2], "!Ref", "AWS::NoValue")),
            "{function}: {:?}",
            f["Properties"]["ReservedConcurrentExecutions"]
        );
    }
    // Every route named in RouteSettings exists (a typo would throttle nothing).
    let all: Vec<String> = functions(&t)
        .iter()
        .flat_map(|f| route_keys(&t["Resources"][f.as_str()]))
        .collect();
    for (key, _) in settings {
        let key = key.as_str().unwrap();
        assert!(all.iter().any(|r| r == key), "{key} is not a route");
    }
    assert_eq!(settings.len(), public_routes.len());
    assert!(t["Parameters"]["PublicFunctionConcurrency"]["Default"].as_u64() > Some(0));
}

/// A condition's value for the given parameters (`!Equals`, `!Not`, `!And`, `!Or`,
/// `!Condition`; a `!Ref` to a parameter is its value there, else its default).
fn condition(t: &Value, params: &[(&str, &str)], v: &Value) -> bool {
    let Value::Tagged(tag) = v else {
        panic!("not a condition: {v:?}")
    };
    let args = &tag.value;
    match tag.tag.to_string().as_str() {
        "!Equals" => scalar(t, params, &args[0]) == scalar(t, params, &args[1]),
        "!Not" => !condition(t, params, &args[0]),
        "!And" => args
            .as_sequence()
            .unwrap()
            .iter()
            .all(|c| condition(t, params, c)),
        "!Or" => args
            .as_sequence()
            .unwrap()
            .iter()
            .any(|c| condition(t, params, c)),
        "!Condition" => named_condition(t, params, args.as_str().unwrap()),
        other => panic!("condition {other}"),
    }
}

fn named_condition(t: &Value, params: &[(&str, &str)], name: &str) -> bool {
    condition(t, params, &t["Conditions"][name])
}

fn scalar(t: &Value, params: &[(&str, &str)], v: &Value) -> String {
    match v {
        Value::Tagged(r) if r.tag == "!Ref" => {
            let name = r.value.as_str().unwrap();
            params
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| scalar(t, params, &t["Parameters"][name]["Default"]))
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `v` with every `!If` taken for the given parameters; a branch of `!Ref AWS::NoValue`
/// drops the key (or item) that holds it.
fn resolve(t: &Value, params: &[(&str, &str)], v: &Value) -> Option<Value> {
    match v {
        Value::Tagged(i) if i.tag == "!If" => {
            let branches = i.value.as_sequence().unwrap();
            let taken = if named_condition(t, params, branches[0].as_str().unwrap()) {
                &branches[1]
            } else {
                &branches[2]
            };
            resolve(t, params, taken)
        }
        Value::Tagged(r) if r.tag == "!Ref" && r.value.as_str() == Some("AWS::NoValue") => None,
        Value::Mapping(m) => Some(Value::Mapping(
            m.iter()
                .filter_map(|(k, v)| resolve(t, params, v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        Value::Sequence(s) => Some(Value::Sequence(
            s.iter().filter_map(|v| resolve(t, params, v)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The resources a deployment with `params` creates, each resolved.
fn deployed(t: &Value, params: &[(&str, &str)]) -> serde_yaml::Mapping {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["Condition"]
                .as_str()
                .is_none_or(|c| named_condition(t, params, c))
        })
        .map(|(k, r)| (k.clone(), resolve(t, params, r).unwrap()))
        .collect()
}

const EDGE_ON: &[(&str, &str)] = &[("EdgeProtection", "true")];

/// Issue 26, item 8, the edge, off (the default): no distribution, no web ACL, the API's
/// own execute-api endpoint as today, and no function expects the edge's header.
#[test]
fn without_edge_protection_the_api_is_served_as_it_is() {
    let t = template();
    assert_eq!(t["Parameters"]["EdgeProtection"]["Default"], "false");
    let r = deployed(&t, &[]);
    for kind in [
        "AWS::CloudFront::Distribution",
        "AWS::WAFv2::WebACL",
        "AWS::ApiGatewayV2::DomainName",
        "AWS::CloudFront::Function",
    ] {
        assert!(
            !r.values().any(|v| v["Type"] == kind),
            "{kind} without EdgeProtection"
        );
    }
    assert_ne!(
        r["Api"]["Properties"]["DisableExecuteApiEndpoint"].as_bool(),
        Some(true)
    );
    let globals = resolve(&t, &[], &t["Globals"]).unwrap();
    assert!(globals["Function"]["Environment"]["Variables"]
        .get("CARDVAULT_EDGE_SECRET")
        .is_none());
}

/// With it on: CloudFront with a WAF web ACL (CLOUDFRONT scope: a rate-based rule per IP
/// on the redirect's path, then AWS's common rule set) in front of the API's regional
/// custom domain; the execute-api endpoint disabled; CloudFront adds the shared secret
/// header and the viewer's IP, and every function is told the secret (so a request that
/// goes around CloudFront, to the custom domain, is refused in code: `cardvault::http`).
#[test]
fn with_edge_protection_cloudfront_and_waf_front_the_api_and_execute_api_is_off() {
    let t = template();
    let r = deployed(&t, EDGE_ON);
    assert_eq!(
        r["Api"]["Properties"]["DisableExecuteApiEndpoint"].as_bool(),
        Some(true)
    );

    let acl = &r["EdgeWebAcl"];
    assert_eq!(acl["Type"], "AWS::WAFv2::WebACL");
    let acl = &acl["Properties"];
    assert_eq!(acl["Scope"], "CLOUDFRONT");
    assert!(acl["DefaultAction"]["Allow"].is_mapping());
    let rules = acl["Rules"].as_sequence().unwrap();
    // WAF keeps no sample of requests: a legacy query-string tenant's card number and CVV
    // are in the URL, and samples are readable for hours (`wafv2:GetSampledRequests`).
    let samples = std::iter::once(&acl["VisibilityConfig"])
        .chain(rules.iter().map(|r| &r["VisibilityConfig"]));
    for visibility in samples {
        assert_eq!(
            visibility["SampledRequestsEnabled"].as_bool(),
            Some(false),
            "{visibility:?}"
        );
    }
    let rate = rules
        .iter()
        .find(|r| !r["Statement"]["RateBasedStatement"].is_null())
        .expect("a rate-based rule");
    assert!(rate["Action"]["Block"].is_mapping());
    let rate = &rate["Statement"]["RateBasedStatement"];
    assert_eq!(rate["AggregateKeyType"], "IP");
    assert!(tagged(&rate["Limit"], "!Ref", "EdgeRedirectRateLimit"));
    let scope = &rate["ScopeDownStatement"]["ByteMatchStatement"];
    assert!(scope["FieldToMatch"]["UriPath"].is_mapping(), "{scope:?}");
    assert_eq!(scope["PositionalConstraint"], "STARTS_WITH");
    assert_eq!(scope["SearchString"], "/api/paymentsv2");
    let common = rules
        .iter()
        .find(|r| !r["Statement"]["ManagedRuleGroupStatement"].is_null())
        .expect("a managed rule group");
    let group = &common["Statement"]["ManagedRuleGroupStatement"];
    assert_eq!(group["VendorName"], "AWS");
    assert_eq!(group["Name"], "AWSManagedRulesCommonRuleSet");
    assert!(common["OverrideAction"]["None"].is_mapping());

    let distribution = &r["EdgeDistribution"];
    assert_eq!(distribution["Type"], "AWS::CloudFront::Distribution");
    let config = &distribution["Properties"]["DistributionConfig"];
    assert!(tagged(&config["WebACLId"], "!GetAtt", "EdgeWebAcl.Arn"));
    let origin = &config["Origins"][0];
    assert!(tagged(&origin["DomainName"], "!Ref", "OriginDomainName"));
    assert_eq!(
        origin["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    let header = &origin["OriginCustomHeaders"][0];
    assert_eq!(header["HeaderName"], "x-cardvault-edge");
    assert!(tagged(&header["HeaderValue"], "!Ref", "EdgeOriginSecret"));
    let behaviour = &config["DefaultCacheBehavior"];
    assert_eq!(behaviour["ViewerProtocolPolicy"], "https-only");
    // The viewer's IP, set by CloudFront on every request (a client's own is overwritten).
    let function = &behaviour["FunctionAssociations"][0];
    assert_eq!(function["EventType"], "viewer-request");
    assert!(tagged(
        &function["FunctionARN"],
        "!GetAtt",
        "EdgeViewerIpFunction.FunctionMetadata.FunctionARN"
    ));
    let code = r["EdgeViewerIpFunction"]["Properties"]["FunctionCode"]
        .as_str()
        .unwrap();
    assert!(
        code.contains("x-cardvault-viewer-ip") && code.contains("event.viewer.ip"),
        "{code}"
    );

    // The API's origin: a regional custom domain mapped to the API's stage.
    let domain = &r["OriginDomain"];
    assert_eq!(domain["Type"], "AWS::ApiGatewayV2::DomainName");
    assert_eq!(
        domain["Properties"]["DomainNameConfigurations"][0]["EndpointType"],
        "REGIONAL"
    );
    assert_eq!(r["OriginMapping"]["Type"], "AWS::ApiGatewayV2::ApiMapping");

    let globals = resolve(&t, EDGE_ON, &t["Globals"]).unwrap();
    assert!(tagged(
        &globals["Function"]["Environment"]["Variables"]["CARDVAULT_EDGE_SECRET"],
        "!Ref",
        "EdgeOriginSecret"
    ));
    assert_eq!(
        t["Parameters"]["EdgeOriginSecret"]["NoEcho"].as_bool(),
        Some(true)
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
