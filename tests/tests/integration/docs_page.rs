//! The API reference at /docs (Redoc over openapi.yaml, served by the router) renders every
//! tag and operation in headless Chromium, with nothing fetched from outside.

use std::path::Path;
use std::process::Command;

#[test]
fn the_reference_page_renders_every_tag() {
    let facts = std::env::var("CARDVAULT_STACK").expect("CARDVAULT_STACK (make test)");
    let out_dir = Path::new(&facts).parent().unwrap().join("docs-page");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/docs_page.cjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&facts)
        .arg(&out_dir)
        .output()
        .expect("node");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "docs_page.cjs: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["tags"].as_array().unwrap().len(), 5, "{report}");
    assert!(out_dir.join("docs.png").exists());
}
