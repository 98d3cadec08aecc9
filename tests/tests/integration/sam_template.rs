//! template.yaml as `sam build` and `sam local` use it (README, "Develop with SAM"): the
//! architecture is a parameter, the stand-ins' endpoint variables exist only for `sam local`,
//! and every function is built by the Makefile rule that infra/sam-build.sh serves. Needs no
//! stack.

use std::path::Path;

use serde_yaml::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The variables only `sam local` may have: an endpoint of a stand-in or the local issuer.
const LOCAL_ONLY: &[&str] = &[
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_KMS",
    "STRIPE_API_BASE",
    "RECAPTCHA_VERIFY_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
];

/// Whether a variable's value is `!If [UseLocalStandIns, <anything>, !Ref AWS::NoValue]`:
/// declared under sam local, absent from a deployment.
fn local_only(value: &Value) -> bool {
    let Value::Tagged(t) = value else {
        return false;
    };
    let Some(branches) = t.value.as_sequence().filter(|_| t.tag == "!If") else {
        return false;
    };
    branches.len() == 3
        && branches[0].as_str() == Some("UseLocalStandIns")
        && matches!(&branches[2], Value::Tagged(n) if n.tag == "!Ref" && n.value.as_str() == Some("AWS::NoValue"))
}

/// Every `Environment.Variables` map: the Globals' and each resource's.
fn variable_maps(t: &Value) -> Vec<(String, &serde_yaml::Mapping)> {
    let mut maps = vec![(
        "Globals".to_owned(),
        t["Globals"]["Function"]["Environment"]["Variables"]
            .as_mapping()
            .expect("Globals variables"),
    )];
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if let Some(vars) = resource["Properties"]["Environment"]["Variables"].as_mapping() {
            maps.push((name.as_str().unwrap().to_owned(), vars));
        }
    }
    maps
}

/// The names of local-only variables not guarded by the condition.
fn unguarded(t: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (owner, vars) in variable_maps(t) {
        for (name, value) in vars {
            let name = name.as_str().unwrap();
            let local = LOCAL_ONLY.contains(&name) || name.starts_with("AWS_ENDPOINT_URL");
            if local && !local_only(value) {
                found.push(format!("{owner}.{name}"));
            }
        }
    }
    found
}

/// A parameter's AllowedValues.
fn allowed_values(parameter: &Value) -> Vec<&str> {
    parameter["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn the_architecture_is_a_parameter_arm64_by_default() {
    let t = template();
    let p = &t["Parameters"]["Architecture"];
    assert_eq!(p["Default"], "arm64");
    assert_eq!(allowed_values(p), ["arm64", "x86_64"]);
    let arch = &t["Globals"]["Function"]["Architectures"][0];
    assert!(
        matches!(arch, Value::Tagged(r) if r.tag == "!Ref" && r.value.as_str() == Some("Architecture")),
        "Globals.Function.Architectures: {arch:?}"
    );
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        assert!(
            resource["Properties"].get("Architectures").is_none(),
            "{name:?} sets its own Architectures"
        );
    }
}

#[test]
fn the_stand_ins_endpoints_exist_only_under_sam_local() {
    let t = template();
    // Off unless sam local turns it on.
    assert_eq!(t["Parameters"]["LocalStandIns"]["Default"], "false");
    let condition = &t["Conditions"]["UseLocalStandIns"];
    let Value::Tagged(eq) = condition else {
        panic!("UseLocalStandIns: {condition:?}")
    };
    assert_eq!(eq.tag, "!Equals");
    let args = eq.value.as_sequence().unwrap();
    assert!(matches!(&args[0], Value::Tagged(r) if r.value.as_str() == Some("LocalStandIns")));
    assert_eq!(args[1], "true");
    // sam local passes only declared variables: each one is declared, and guarded.
    let globals = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    for name in LOCAL_ONLY {
        assert!(
            globals.contains_key(*name),
            "{name} not declared in Globals"
        );
    }
    assert_eq!(unguarded(&t), Vec::<String>::new());
}

#[test]
fn an_unguarded_endpoint_variable_is_caught() {
    for (name, value) in [
        ("AWS_ENDPOINT_URL_DYNAMODB", "\"\""),
        ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:1"),
        ("STRIPE_API_BASE", "!If [UseHs256, \"\", !Ref AWS::NoValue]"),
        ("AWS_ENDPOINT_URL_KMS", "!If [UseLocalStandIns, \"\", \"\"]"),
    ] {
        let mut t = template();
        let extra: Value = serde_yaml::from_str(value).unwrap();
        t["Resources"]["GetCustomerFunction"]["Properties"]["Environment"]["Variables"][name] =
            extra;
        assert_eq!(
            unguarded(&t),
            [format!("GetCustomerFunction.{name}")],
            "{name}: {value}"
        );
    }
}

/// CreateCustomer -> create-customer, as infra/sam-build.sh derives the binary.
fn kebab(logical: &str) -> String {
    let mut out = String::new();
    for (i, c) in logical.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn every_function_is_built_by_the_makefile_from_its_logical_id() {
    let t = template();
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/Cargo.toml"),
    )
    .unwrap();
    let mut count = 0;
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let name = name.as_str().unwrap();
        let stem = name
            .strip_suffix("Function")
            .unwrap_or_else(|| panic!("{name}: the Makefile's rule is build-%Function"));
        assert_eq!(resource["Metadata"]["BuildMethod"], "makefile", "{name}");
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no Binary"));
        assert_eq!(kebab(stem), binary, "{name}");
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "no [[bin]] {binary}"
        );
        count += 1;
    }
    assert!(count >= 20, "{count} functions");
    let makefile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Makefile")).unwrap();
    assert!(
        makefile.contains("\nbuild-%Function:\n\t@infra/sam-build.sh $* \"$(ARTIFACTS_DIR)\"\n")
    );
}

/// The stack's stage (issue 26, item 7): `dev` or `prod`, `prod` unless said otherwise, and
/// every function is told it (`CARDVAULT_STAGE`) through the Globals, so none can miss it.
#[test]
fn every_function_is_told_the_stage_prod_by_default() {
    let t = template();
    let p = &t["Parameters"]["Stage"];
    assert_eq!(p["Default"], "prod");
    assert_eq!(allowed_values(p), ["dev", "prod"]);
    let stage = &t["Globals"]["Function"]["Environment"]["Variables"]["CARDVAULT_STAGE"];
    assert!(
        matches!(stage, Value::Tagged(r) if r.tag == "!Ref" && r.value.as_str() == Some("Stage")),
        "Globals CARDVAULT_STAGE: {stage:?}"
    );
    // No function overrides it with a value of its own.
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        assert!(
            resource["Properties"]["Environment"]["Variables"]
                .get("CARDVAULT_STAGE")
                .is_none(),
            "{name:?} sets its own CARDVAULT_STAGE"
        );
    }
}
