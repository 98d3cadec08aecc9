//! openapi.yaml is what the wire types generate, and names exactly template.yaml's routes.
//! `UPDATE_OPENAPI=1 cargo test -p cardvault --features openapi --test openapi` rewrites it.
#![cfg(feature = "openapi")]

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn checked_in_document_is_the_generated_one() {
    let generated = cardvault::dialect::openapi::yaml();
    let path = root().join("openapi.yaml");
    let rewrite = may_rewrite(
        std::env::var_os("UPDATE_OPENAPI").is_some(),
        // As CI services set it (`CI=true`); `CI=false` or empty is no CI.
        std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false")),
    );
    if rewrite.unwrap_or_else(|refused| panic!("{refused}")) {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi.yaml differs from what the wire types generate: run \
         UPDATE_OPENAPI=1 cargo test -p cardvault --features openapi --test openapi"
    );
}

/// Whether to rewrite openapi.yaml: only when asked, and never under `CI`, where a rewrite
/// would make the comparison below pass whatever the wire types generate.
fn may_rewrite(update: bool, ci: bool) -> Result<bool, &'static str> {
    match (update, ci) {
        (true, true) => Err(
            "UPDATE_OPENAPI is refused under CI: run it locally and commit \
             openapi.yaml",
        ),
        (update, _) => Ok(update),
    }
}

#[test]
fn update_openapi_is_refused_under_ci() {
    assert_eq!(may_rewrite(false, false), Ok(false));
    assert_eq!(may_rewrite(false, true), Ok(false));
    assert_eq!(may_rewrite(true, false), Ok(true));
    assert!(may_rewrite(true, true).is_err());
}

/// (METHOD, path) of every HttpApi event in template.yaml.
fn template_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut routes = BTreeSet::new();
    for (_, res) in doc["Resources"].as_mapping().unwrap() {
        let Some(events) = res["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, ev) in events {
            if ev["Type"].as_str() == Some("HttpApi") {
                let p = &ev["Properties"];
                routes.insert((
                    p["Method"].as_str().unwrap().to_ascii_uppercase(),
                    p["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    routes
}

#[test]
fn document_routes_are_template_routes() {
    let doc: serde_json::Value =
        serde_json::to_value(cardvault::dialect::openapi::document()).unwrap();
    let mut routes = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            routes.insert((method.to_ascii_uppercase(), path.clone()));
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
    }
    let template = template_routes();
    assert!(!template.is_empty());
    assert_eq!(
        routes, template,
        "openapi.yaml's routes are not template.yaml's"
    );
}
