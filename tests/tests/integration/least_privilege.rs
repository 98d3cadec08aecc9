//! What each function may read, encrypt and decrypt, as `template.yaml` grants it, against
//! the table below. Any widening (a new secret, a KMS action, a DynamoDB action) fails
//! here and must be made in this table too, where a reviewer sees it. The README's
//! "Who can read what" table says the same in prose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

/// A function's grants: DynamoDB actions on the table, whether it may Query GSI1, the
/// secrets it may read (`tenant/*`: the tenants' own Stripe and reCAPTCHA secrets;
/// `JwtHs256Secret?`: only while HS256 is on) and its KMS actions.
struct Grants {
    table: &'static [&'static str],
    gsi1: bool,
    secrets: &'static [&'static str],
    kms: &'static [&'static str],
    /// The audit trail's managed policy: [`APPEND`] (a PutItem of pending events,
    /// `AUDITQ#…`, and nothing else on any audit item) or [`UNTOUCHABLE`] (nothing at all
    /// on them); [`CHAINER`] for the chainer, whose own statements say what it may.
    audit: &'static str,
}

const APPEND: &str = "AuditAppendOnlyPolicy";
const UNTOUCHABLE: &str = "AuditUntouchablePolicy";
/// The audit chainer: no managed audit policy.
const CHAINER: &str = "";

const TENANT: &str = "tenant/*";
/// Tenants' webhook signing secrets (`cardvault/webhook/tenant/*`): the webhook function's
/// alone.
const WEBHOOK_TENANT: &str = "webhook/tenant/*";
const HS256: &str = "JwtHs256Secret?";

// A write function Puts and Deletes its idempotency records (`store::once`).
#[rustfmt::skip]
const EXPECTED: &[(&str, Grants)] = &[
    ("CreateCustomerFunction", Grants { table: &["DeleteItem", "GetItem", "PutItem"], gsi1: false, secrets: &[], kms: &[], audit: APPEND }),
    ("GetCustomerFunction", Grants { table: &["GetItem"], gsi1: false, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("ImportStripeConnectFunction", Grants { table: &["BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &["StripePlatformSecret"], kms: &[], audit: APPEND }),
    ("ImportStripeFunction", Grants { table: &["BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &[TENANT], kms: &[], audit: APPEND }),
    // Pages one customer's audit events: the customer, and one Query of the audit index.
    ("ListAuditEventsFunction", Grants { table: &["GetItem"], gsi1: false, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("ListPaymentMethodsFunction", Grants { table: &["GetItem", "Query"], gsi1: false, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("GetPaymentMethodFunction", Grants { table: &["GetItem", "Query"], gsi1: true, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("DeletePaymentMethodFunction", Grants { table: &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: true, secrets: &["StripePlatformSecret", TENANT], kms: &[], audit: APPEND }),
    ("SetDefaultPaymentMethodFunction", Grants { table: &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &[], kms: &[], audit: APPEND }),
    ("ListCountriesFunction", Grants { table: &["GetItem"], gsi1: false, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("CreateStripeCustomerFunction", Grants { table: &["DeleteItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &[HS256, "StripePlatformSecret", TENANT], kms: &[], audit: APPEND }),
    ("ListStripeCustomersFunction", Grants { table: &["GetItem", "Query"], gsi1: false, secrets: &[HS256], kms: &[], audit: APPEND }),
    // The only function that seals PANs: a data key, never a decrypt.
    ("AddCreditCardFunction", Grants { table: &["BatchGetItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: false, secrets: &["FingerprintKeySecret", "RecaptchaSecret", "StripePlatformSecret", TENANT], kms: &["kms:GenerateDataKey"], audit: APPEND }),
    ("AddCreditCardPreflightFunction", Grants { table: &["Query"], gsi1: false, secrets: &[], kms: &[], audit: UNTOUCHABLE }),
    ("CardCreateFunction", Grants { table: &["BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &[HS256, "StripePlatformSecret", TENANT], kms: &[], audit: APPEND }),
    // Lists cards: signs its cursors with a key of its own, reads no card key.
    ("CardFindFunction", Grants { table: &["GetItem", "Query"], gsi1: false, secrets: &["CursorKeySecret", HS256], kms: &[], audit: APPEND }),
    ("CardGetFunction", Grants { table: &["GetItem", "Query"], gsi1: true, secrets: &[HS256], kms: &[], audit: APPEND }),
    ("CardRemoveFunction", Grants { table: &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: true, secrets: &[HS256, "StripePlatformSecret", TENANT], kms: &[], audit: APPEND }),
    ("CardUpdateCurrentFunction", Grants { table: &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: true, secrets: &[HS256, "StripePlatformSecret", TENANT], kms: &[], audit: APPEND }),
    // The publishable key is configuration (an environment variable), not a secret.
    ("CardGetStripeFunction", Grants { table: &["GetItem"], gsi1: false, secrets: &[HS256], kms: &[], audit: APPEND }),
    // Stripe's webhooks: the signing secrets only (no Stripe key, no card key); cards by
    // their Stripe ids (the StripeRefs index), Connect tenants by account (GSI1); a card
    // and its customer's default in one transaction; its idempotency records.
    ("StripeWebhookFunction", Grants { table: &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: true, secrets: &["StripeWebhookSecret", WEBHOOK_TENANT], kms: &[], audit: APPEND }),
    // No route. The only function that may decrypt a stored PAN (re-homing, issue 15).
    ("RehomeCardsFunction", Grants { table: &["DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], gsi1: true, secrets: &["StripePlatformSecret", TENANT], kms: &["kms:Decrypt"], audit: APPEND }),
    // No route: the table's stream. Pending events, the chain and its head only (its
    // statements' conditions, `only_the_chainer_writes_the_chain_and_uses_its_key`), and
    // GenerateMac with the chain's key, which no other function may use.
    ("AuditChainFunction", Grants { table: &["BatchGetItem", "GetItem", "PutItem", "UpdateItem"], gsi1: false, secrets: &[], kms: &["kms:GenerateMac"], audit: CHAINER }),
];

/// The one function whose role may decrypt a stored PAN.
const DECRYPTER: &str = "RehomeCardsFunction";

/// What a resource reference says, shortened: `Ref X` → `X`, `GetAtt X.Arn` → `X`,
/// the tenants' secret prefix → `tenant/*`.
fn resource_name(v: &Value) -> String {
    match v {
        Value::Tagged(t) => {
            let inner = match &t.value {
                Value::String(s) => s.clone(),
                other => panic!("unexpected resource {other:?}"),
            };
            match t.tag.to_string().as_str() {
                "!Ref" => inner,
                "!GetAtt" => inner.trim_end_matches(".Arn").to_owned(),
                "!Sub" if inner.ends_with(":secret:cardvault/tenant/*") => TENANT.into(),
                "!Sub" if inner.ends_with(":secret:cardvault/webhook/tenant/*") => {
                    WEBHOOK_TENANT.into()
                }
                "!Sub" if inner == "${VaultTable.Arn}/index/StripeRefs" => {
                    "VaultTable/StripeRefs".into()
                }
                "!Sub" if inner == "${VaultTable.Arn}/index/GSI1" => "VaultTable/GSI1".into(),
                "!Sub" if inner == "${VaultTable.Arn}/index/AuditByCustomer" => {
                    "VaultTable/AuditByCustomer".into()
                }
                _ => panic!("unexpected resource {inner}"),
            }
        }
        Value::String(s) => s.clone(),
        other => panic!("unexpected resource {other:?}"),
    }
}

/// Every (action, resource) a function's policies allow; a statement under `!If [UseHs256,
/// …]` adds `?` to its resources' names.
fn grants(function: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for policy in function["Properties"]["Policies"].as_sequence().unwrap() {
        // A managed policy: named here, its statements checked on their own.
        if let Value::Tagged(t) = policy {
            assert_eq!(t.tag.to_string(), "!Ref");
            out.insert(("policy".into(), t.value.as_str().unwrap().to_owned()));
            continue;
        }
        for statement in policy["Statement"].as_sequence().unwrap() {
            let (statement, conditional) = match statement {
                Value::Tagged(t) if t.tag == "!If" => {
                    let branches = t.value.as_sequence().unwrap();
                    assert_eq!(branches[0].as_str(), Some("UseHs256"));
                    assert!(
                        matches!(&branches[2], Value::Tagged(n) if n.value.as_str() == Some("AWS::NoValue"))
                    );
                    (&branches[1], true)
                }
                s => (s, false),
            };
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            let resources: Vec<String> = match &statement["Resource"] {
                Value::Sequence(list) => list.iter().map(resource_name).collect(),
                one => vec![resource_name(one)],
            };
            for action in statement["Action"].as_sequence().unwrap() {
                for r in &resources {
                    let r = if conditional {
                        format!("{r}?")
                    } else {
                        r.clone()
                    };
                    out.insert((action.as_str().unwrap().to_owned(), r));
                }
            }
        }
    }
    out
}

/// What the vault key's policy grants a function's role (`<name>Role`): the key policy, not
/// the role's own policy, is where a use of the vault key is granted.
fn key_grants(template: &Value, function: &str) -> BTreeSet<(String, String)> {
    let role = format!("{function}Role.Arn");
    let mut out = BTreeSet::new();
    for s in template["Resources"]["VaultKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap()
    {
        let named = matches!(&s["Principal"]["AWS"], Value::Tagged(t) if t.value.as_str() == Some(role.as_str()));
        if named && s["Effect"].as_str() == Some("Allow") {
            for a in s["Action"].as_sequence().unwrap() {
                out.insert((a.as_str().unwrap().to_owned(), "VaultKey".to_owned()));
            }
        }
    }
    out
}

/// A function's grants: its role's policies and the vault key's policy.
fn all_grants(template: &Value, name: &str, function: &Value) -> BTreeSet<(String, String)> {
    let mut out = grants(function);
    out.extend(key_grants(template, name));
    out
}

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn each_function_reads_encrypts_and_decrypts_only_what_the_table_says() {
    let template = template();
    let functions: BTreeMap<String, &Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r))
        .collect();
    let expected: BTreeMap<&str, &Grants> = EXPECTED.iter().map(|(n, g)| (*n, g)).collect();
    assert_eq!(
        functions.keys().map(String::as_str).collect::<Vec<_>>(),
        expected.keys().copied().collect::<Vec<_>>(),
        "every function is in the table, and nothing else"
    );
    for (name, function) in &functions {
        let want = expected[name.as_str()];
        let mut wanted = BTreeSet::new();
        for a in want.table {
            wanted.insert((format!("dynamodb:{a}"), "VaultTable".to_owned()));
        }
        if want.gsi1 {
            wanted.insert(("dynamodb:Query".to_owned(), "VaultTable/GSI1".to_owned()));
        }
        for s in want.secrets {
            wanted.insert(("secretsmanager:GetSecretValue".to_owned(), (*s).to_owned()));
        }
        let key = if want.audit == CHAINER {
            "AuditChainKey"
        } else {
            "VaultKey"
        };
        for k in want.kms {
            wanted.insert(((*k).to_owned(), key.to_owned()));
        }
        if want.audit != CHAINER {
            wanted.insert(("policy".to_owned(), want.audit.to_owned()));
        }
        if *name == "ListAuditEventsFunction" {
            let index = "VaultTable/AuditByCustomer".to_owned();
            wanted.insert(("dynamodb:Query".to_owned(), index));
        }
        if *name == "StripeWebhookFunction" {
            let index = "VaultTable/StripeRefs".to_owned();
            wanted.insert(("dynamodb:Query".to_owned(), index));
        }
        assert_eq!(
            all_grants(&template, name, function),
            wanted,
            "{name}'s grants"
        );
    }
}

/// `*` matches any run of characters, as IAM's resource globs do.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(rest, &text[head.len() + i..]))
        }
    }
}

/// Every secret resource of a function, as written (`Ref` names, `Sub` patterns).
fn secret_resources(function: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"].as_sequence().unwrap() {
        let Some(statements) = policy["Statement"].as_sequence() else {
            continue;
        };
        for statement in statements {
            let statement = match statement {
                Value::Tagged(t) if t.tag == "!If" => &t.value.as_sequence().unwrap()[1],
                s => s,
            };
            let reads = statement["Action"].as_sequence().is_some_and(|a| {
                a.iter()
                    .any(|a| a.as_str().unwrap().starts_with("secretsmanager:"))
            });
            if !reads {
                continue;
            }
            let resources = match &statement["Resource"] {
                Value::Sequence(list) => list.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                out.push(match r {
                    Value::Tagged(t) => t.value.as_str().unwrap().to_owned(),
                    Value::String(s) => s,
                    other => panic!("unexpected resource {other:?}"),
                });
            }
        }
    }
    out
}

/// The webhook signing secrets (the platform endpoint's, and each tenant's under
/// `cardvault/webhook/tenant/<id>`) are readable by the webhook function alone: no other
/// function names them, and no other grant's pattern (the tenants' `cardvault/tenant/*`
/// included) reaches a tenant's webhook secret's ARN.
#[test]
fn only_the_webhook_function_reads_webhook_signing_secrets() {
    let template = template();
    // As Secrets Manager names them: the name, then a random suffix.
    let tenant_secret = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:cardvault/webhook/tenant/demo-b-AbCdEf";
    let mut readers = Vec::new();
    for (name, r) in template["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        for resource in secret_resources(r) {
            if resource == "StripeWebhookSecret" || glob(&resource, tenant_secret) {
                readers.push((name.to_owned(), resource));
            }
        }
    }
    assert_eq!(
        readers,
        [
            ("StripeWebhookFunction".to_owned(), "StripeWebhookSecret".to_owned()),
            (
                "StripeWebhookFunction".to_owned(),
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:cardvault/webhook/tenant/*".to_owned()
            ),
        ]
    );
    // The glob is IAM's: the tenants' Stripe-key grant does not reach, a broader one would.
    assert!(!glob("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:cardvault/tenant/*", tenant_secret));
    assert!(glob(
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:cardvault/*",
        tenant_secret
    ));
}

#[test]
fn only_the_rehome_function_can_decrypt_a_stored_pan_and_the_keys_the_data_needs_are_retained() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut decrypters = Vec::new();
    for (name, r) in resources {
        let name = name.as_str().unwrap();
        if r["Type"].as_str() == Some("AWS::Serverless::Function")
            && all_grants(&template, name, r)
                .iter()
                .any(|(a, _)| a == "kms:Decrypt" || a == "kms:*")
        {
            decrypters.push(name.to_owned());
        }
    }
    assert_eq!(decrypters, [DECRYPTER], "who may decrypt");
    let function = &template["Resources"][DECRYPTER];
    // Not reachable from the API: a plain Lambda, invoked by the operator's tool.
    assert!(
        function["Properties"]["Events"].is_null(),
        "{DECRYPTER} must have no route"
    );
    // Its Decrypt (the key policy's) is only for a PAN's data keys, each bound to a
    // tenant: the_vault_keys_policy_names_its_users_statement_by_statement.
    // The stored PANs, their fingerprints and the legacy records depend on these.
    for name in [
        "VaultTable",
        "VaultKey",
        "FingerprintKeySecret",
        "VaultKeysSecret",
    ] {
        let r = &template["Resources"][name];
        assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"), "{name}");
        assert_eq!(r["UpdateReplacePolicy"].as_str(), Some("Retain"), "{name}");
    }
    assert_eq!(
        template["Resources"]["VaultKey"]["Properties"]["EnableKeyRotation"].as_bool(),
        Some(true)
    );
}

/// A statement's effect, actions and conditions (`operator key=v1,v2`, sorted).
fn statement(s: &Value) -> (String, BTreeSet<String>, Vec<String>) {
    let actions = match &s["Action"] {
        Value::Sequence(list) => list
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        one => BTreeSet::from([one.as_str().unwrap().to_owned()]),
    };
    let mut conditions = Vec::new();
    for (op, keys) in s["Condition"].as_mapping().into_iter().flatten() {
        for (key, values) in keys.as_mapping().unwrap() {
            let values: Vec<&str> = match values {
                Value::Sequence(v) => v.iter().map(|k| k.as_str().unwrap()).collect(),
                one => vec![one.as_str().unwrap()],
            };
            conditions.push(format!(
                "{} {}={}",
                op.as_str().unwrap(),
                key.as_str().unwrap(),
                values.join(",")
            ));
        }
    }
    conditions.sort();
    (
        s["Effect"].as_str().unwrap().to_owned(),
        actions,
        conditions,
    )
}

fn dynamodb(a: &[&str]) -> BTreeSet<String> {
    a.iter().map(|a| format!("dynamodb:{a}")).collect()
}

/// Every action on an item but PutItem.
const NOT_PUT: [&str; 7] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "ConditionCheckItem",
];

fn conditions(c: &[&str]) -> Vec<String> {
    let mut c: Vec<String> = c.iter().map(|s| (*s).to_owned()).collect();
    c.sort();
    c
}

/// The audit trail's two managed policies, statement by statement: a request-path function
/// that records events may only Put pending events (`AUDITQ#…`), never with `expiresAt`
/// (the table's TTL would delete it) or `seq` (the chainer's mark), and may read, update
/// or delete none, and do nothing at all to the chain (`AUDIT#…`) or its head
/// (`AUDITHEAD#…`); the others may do nothing on any audit item.
#[test]
fn audit_events_are_put_only_for_the_functions() {
    let template = template();
    let r = &template["Resources"];
    let statements = |name: &str| {
        assert_eq!(r[name]["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
        r[name]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(resource_name(&s["Resource"]), "VaultTable");
                statement(s)
            })
            .collect::<Vec<_>>()
    };
    let mut all = NOT_PUT.to_vec();
    all.push("PutItem");
    // No request-path write may carry the keys of AuditByCustomer: a forged entry in a
    // customer's audit listing.
    let index_keys = (
        "Deny".to_owned(),
        dynamodb(&["PutItem", "UpdateItem", "BatchWriteItem"]),
        conditions(&["ForAnyValue:StringEquals dynamodb:Attributes=AUDITPK,AUDITSK"]),
    );
    assert_eq!(
        statements(APPEND),
        [
            (
                "Allow".to_owned(),
                dynamodb(&["PutItem"]),
                conditions(&["ForAllValues:StringLike dynamodb:LeadingKeys=AUDITQ#*"])
            ),
            (
                "Deny".to_owned(),
                dynamodb(&["PutItem"]),
                conditions(&[
                    "ForAnyValue:StringLike dynamodb:LeadingKeys=AUDITQ#*",
                    "ForAnyValue:StringEquals dynamodb:Attributes=expiresAt,seq"
                ])
            ),
            // A Put that would hand back the pending event it overwrites.
            (
                "Deny".to_owned(),
                dynamodb(&["PutItem"]),
                conditions(&[
                    "ForAnyValue:StringLike dynamodb:LeadingKeys=AUDITQ#*",
                    "StringEquals dynamodb:ReturnValues=ALL_OLD,ALL_NEW,UPDATED_OLD,UPDATED_NEW"
                ])
            ),
            index_keys.clone(),
            (
                "Deny".to_owned(),
                dynamodb(&NOT_PUT),
                conditions(&["ForAnyValue:StringLike dynamodb:LeadingKeys=AUDITQ#*"])
            ),
            (
                "Deny".to_owned(),
                dynamodb(&all),
                conditions(&["ForAnyValue:StringLike dynamodb:LeadingKeys=AUDIT#*,AUDITHEAD#*"])
            ),
        ]
    );
    assert_eq!(
        statements(UNTOUCHABLE),
        [
            (
                "Deny".to_owned(),
                dynamodb(&all),
                conditions(&[
                    "ForAnyValue:StringLike dynamodb:LeadingKeys=AUDIT#*,AUDITHEAD#*,AUDITQ#*"
                ])
            ),
            index_keys,
        ]
    );
}

/// The chainer alone writes the chain and its head, and only marks pending events (`seq`);
/// it alone may GenerateMac with the chain's HMAC key, which the key policy refuses to any
/// other principal; no other function names the key. The stream it reads carries keys
/// only, and it is invoked for INSERTs of pending events only.
#[test]
fn only_the_chainer_writes_the_chain_and_uses_its_key() {
    let template = template();
    let r = &template["Resources"];
    let chainer = &r["AuditChainFunction"];
    let statements: Vec<_> = chainer["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(statement)
        .collect();
    let allow =
        |actions: &[&str], c: &[&str]| ("Allow".to_owned(), dynamodb(actions), conditions(c));
    assert_eq!(
        statements[..3],
        [
            allow(
                &["GetItem", "BatchGetItem"],
                &["ForAllValues:StringLike dynamodb:LeadingKeys=AUDITQ#*,AUDITHEAD#*"]
            ),
            allow(
                &["UpdateItem"],
                &[
                    "ForAllValues:StringLike dynamodb:LeadingKeys=AUDITQ#*",
                    "ForAllValues:StringLike dynamodb:Attributes=PK,SK,seq"
                ]
            ),
            allow(
                &["PutItem"],
                &["ForAllValues:StringLike dynamodb:LeadingKeys=AUDIT#*,AUDITHEAD#*"]
            ),
        ]
    );
    let key = &r["AuditChainKey"]["Properties"];
    assert_eq!(key["KeySpec"].as_str(), Some("HMAC_256"));
    assert_eq!(key["KeyUsage"].as_str(), Some("GENERATE_VERIFY_MAC"));
    assert_eq!(
        r["AuditChainKey"]["DeletionPolicy"].as_str(),
        Some("Retain")
    );
    let deny = key["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .expect("the key policy's Deny");
    assert_eq!(deny["Action"].as_str(), Some("kms:GenerateMac"));
    assert_eq!(deny["Principal"].as_str(), Some("*"));
    let role = format!("{:?}", deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]);
    assert!(role.contains("-AuditChainFunctionRole-*"), "{role}");

    // No other function's policies or environment name the chain's key.
    for (name, f) in r.as_mapping().unwrap() {
        if f["Type"].as_str() != Some("AWS::Serverless::Function") || name == "AuditChainFunction" {
            continue;
        }
        let text = serde_yaml::to_string(&f["Properties"]).unwrap();
        assert!(
            !text.contains("AuditChainKey"),
            "{name:?} names the chain's key"
        );
    }

    let stream = &r["VaultTable"]["Properties"]["StreamSpecification"];
    assert_eq!(stream["StreamViewType"].as_str(), Some("KEYS_ONLY"));
    let source = &chainer["Properties"]["Events"]["PendingAuditEvents"]["Properties"];
    let pattern: serde_json::Value = serde_json::from_str(
        source["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "AUDITQ#"}]}}}})
    );
    assert_eq!(source["StartingPosition"].as_str(), Some("TRIM_HORIZON"));
    // A whole-batch failure is bisected to its record; retries are not bounded, so a
    // transient failure is retried until the event is chained.
    assert_eq!(source["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert!(source["MaximumRetryAttempts"].is_null());
}

/// A key policy statement, shortened: (effect, principal, actions, conditions). The
/// principal is `root`, a role parameter's name (`Ref X` → `X`), a function's generated
/// role (`GetAtt XRole.Arn` → `XRole`), or `service:<name>` for an AWS service.
fn key_statement(s: &Value) -> (String, String, BTreeSet<String>, Vec<String>) {
    let principal = &s["Principal"];
    let who = if let Some(service) = principal["Service"].as_str() {
        format!("service:{service}")
    } else {
        match &principal["AWS"] {
            Value::Tagged(t) if t.tag == "!Sub" => {
                let arn = t.value.as_str().unwrap();
                assert_eq!(arn, "arn:${AWS::Partition}:iam::${AWS::AccountId}:root");
                "root".to_owned()
            }
            Value::Tagged(t) if t.tag == "!GetAtt" || t.tag == "!Ref" => t
                .value
                .as_str()
                .unwrap()
                .trim_end_matches(".Arn")
                .to_owned(),
            other => panic!("unexpected principal {other:?}"),
        }
    };
    assert_eq!(s["Resource"].as_str(), Some("*"));
    let (effect, actions, conditions) = statement(s);
    (effect, who, actions, conditions)
}

fn actions(a: &[&str]) -> BTreeSet<String> {
    a.iter().map(|a| (*a).to_owned()).collect()
}

/// What administering a key takes, and nothing that uses it: no cryptographic operation
/// and no CreateGrant (a grant could hand the administrator a use of the key).
const KEY_ADMINISTRATION: [&str; 18] = [
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
];

/// Every use of a symmetric key's material, and a grant of one.
const KEY_USE: [&str; 7] = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:GenerateMac",
    "kms:ReEncrypt*",
    "kms:Sign",
];

/// Issue 26, item 2: the vault key's policy names its users. The add-card role alone gets
/// data keys, for PANs; the re-home role alone decrypts, a PAN's data key of a named
/// tenant; the administrator role (a parameter) administers it and is refused every use;
/// the account root keeps only `kms:PutKeyPolicy`, the recovery path AWS's lockout check
/// asks for. Nothing delegates use to IAM: no function's own policy names the key.
#[test]
fn the_vault_keys_policy_names_its_users_statement_by_statement() {
    let template = template();
    let r = &template["Resources"];
    let parameter = &template["Parameters"]["KeyAdministratorRoleArn"];
    assert_eq!(parameter["Type"].as_str(), Some("String"));
    assert!(
        parameter["Default"].is_null(),
        "the administrator has no default"
    );
    let statements: Vec<_> = r["VaultKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(key_statement)
        .collect();
    let pan = "StringEquals kms:EncryptionContext:cardvault:purpose=pan";
    let named_tenant = "Null kms:EncryptionContext:cardvault:tenant=false";
    assert_eq!(
        statements,
        [
            (
                "Allow".to_owned(),
                "root".to_owned(),
                actions(&["kms:PutKeyPolicy"]),
                vec![]
            ),
            (
                "Allow".to_owned(),
                "KeyAdministratorRoleArn".to_owned(),
                actions(&KEY_ADMINISTRATION),
                vec![]
            ),
            (
                "Deny".to_owned(),
                "KeyAdministratorRoleArn".to_owned(),
                actions(&KEY_USE),
                vec![]
            ),
            (
                "Allow".to_owned(),
                "AddCreditCardFunctionRole".to_owned(),
                actions(&["kms:GenerateDataKey"]),
                conditions(&[pan, named_tenant])
            ),
            (
                "Allow".to_owned(),
                "RehomeCardsFunctionRole".to_owned(),
                actions(&["kms:Decrypt"]),
                conditions(&[pan, named_tenant])
            ),
        ]
    );
    // No function's own policy or grant names the vault key: the key policy is the one
    // place that says who may use it.
    for (name, f) in r.as_mapping().unwrap() {
        if f["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let kms: Vec<_> = grants(f)
            .into_iter()
            .filter(|(a, _)| a.starts_with("kms:"))
            .collect();
        if name != "AuditChainFunction" {
            assert!(kms.is_empty(), "{name:?} grants itself {kms:?}");
        }
    }
}

/// Issue 26, item 9: each of the template's secrets has a resource policy that refuses
/// GetSecretValue to every principal but its readers: the roles of the functions whose own
/// policies grant it (as computed from the template, so a new grant without the secret's
/// consent fails here) and the operator's role (`cardvault-admin` rotates, sets and
/// migrates). A role that gains a broad IAM grant still cannot read it.
#[test]
fn each_secret_refuses_every_reader_but_the_roles_granted_it() {
    let template = template();
    let r = template["Resources"].as_mapping().unwrap();
    let secrets: Vec<&str> = r
        .iter()
        .filter(|(_, v)| v["Type"].as_str() == Some("AWS::SecretsManager::Secret"))
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert!(secrets.len() >= 7, "{secrets:?}");
    for secret in secrets {
        let mut readers: BTreeSet<String> = r
            .iter()
            .filter(|(_, f)| f["Type"].as_str() == Some("AWS::Serverless::Function"))
            .filter(|(_, f)| {
                grants(f).iter().any(|(a, res)| {
                    a == "secretsmanager:GetSecretValue" && res.trim_end_matches('?') == secret
                })
            })
            .map(|(name, _)| format!("GetAtt {}Role.Arn", name.as_str().unwrap()))
            .collect();
        readers.insert("Ref OperatorRoleArn".to_owned());

        let policies: Vec<&Value> = r
            .values()
            .filter(|p| {
                p["Type"].as_str() == Some("AWS::SecretsManager::ResourcePolicy")
                    && matches!(&p["Properties"]["SecretId"], Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some(secret))
            })
            .collect();
        assert_eq!(policies.len(), 1, "{secret}: one resource policy");
        let policy = policies[0];
        // Exists exactly when the secret does.
        assert_eq!(policy["Condition"], r[secret]["Condition"], "{secret}");
        let p = &policy["Properties"];
        assert_eq!(p["BlockPublicPolicy"].as_bool(), Some(true), "{secret}");
        let statements = p["ResourcePolicy"]["Statement"].as_sequence().unwrap();
        assert_eq!(statements.len(), 2, "{secret}");
        // First: no one but the operator and the deployer changes the secret or the policy.
        let manage = &statements[0];
        assert_eq!(manage["Effect"].as_str(), Some("Deny"), "{secret}");
        assert_eq!(manage["Principal"].as_str(), Some("*"), "{secret}");
        let actions: BTreeSet<&str> = manage["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for action in [
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecret",
            "secretsmanager:DeleteSecret",
            "secretsmanager:PutResourcePolicy",
            "secretsmanager:DeleteResourcePolicy",
            "secretsmanager:RotateSecret",
            "secretsmanager:UpdateSecretVersionStage",
        ] {
            assert!(actions.contains(action), "{secret}: {action} is not denied");
        }
        let managers = format!(
            "{:?}",
            manage["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        );
        assert!(
            managers.contains("OperatorRoleArn")
                && managers.contains("KeyAdministratorRoleArn")
                && managers.matches("Tagged").count() == 2,
            "{secret}: {managers}"
        );
        // Then: only its readers read it.
        let s = &statements[1];
        assert_eq!(s["Effect"].as_str(), Some("Deny"), "{secret}");
        assert_eq!(s["Principal"].as_str(), Some("*"), "{secret}");
        assert_eq!(
            s["Action"].as_str(),
            Some("secretsmanager:GetSecretValue"),
            "{secret}"
        );
        assert_eq!(s["Resource"].as_str(), Some("*"), "{secret}");
        let condition = s["Condition"].as_mapping().unwrap();
        assert_eq!(condition.len(), 1, "{secret}");
        let allowed: BTreeSet<String> = s["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{secret}: ArnNotEquals aws:PrincipalArn"))
            .iter()
            .map(|v| match v {
                Value::Tagged(t) => format!(
                    "{} {}",
                    t.tag.to_string().trim_start_matches('!'),
                    t.value.as_str().unwrap()
                ),
                other => panic!("{secret}: {other:?}"),
            })
            .collect();
        assert_eq!(allowed, readers, "{secret}'s readers");
    }
}
