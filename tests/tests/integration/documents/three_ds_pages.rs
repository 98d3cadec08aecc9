//! The sample pages beside seed 002's jQuery page (`tests/browser/pages/`), in headless
//! Chromium: cards whose issuer asks for 3-D Secure, finished with Stripe.js
//! (`confirmCardSetup`, then the client secret posted back), on the redirect as the
//! document uses it (`add_card_3ds.html`, the page posts the card) and on the PAN-less flow
//! (`add_card_stripe_js.html`, the page posts a `pm_…` made by Stripe.js, never the
//! number). Each driver checks what the page showed and what cardvault answered, and exits
//! non-zero on a mismatch; these tests assert its report again, so a driver that stopped
//! checking something would show here. Each prints its screenshot's path.

use std::path::Path;
use std::process::Command;

use cardvault_tests::*;
use serde_json::{json, Value};

use super::{chromium_turn, root};

/// Runs `tests/browser/<script>` against the test stack's facts, writing into `<out>` beside
/// them, and answers its report.
fn run_driver(script: &str, out: &str) -> Value {
    let _turn = chromium_turn();
    let facts = std::env::var("CARDVAULT_STACK").expect("CARDVAULT_STACK (make test)");
    let out_dir = Path::new(&facts).parent().unwrap().join(out);
    let started = std::time::Instant::now();
    let run = Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .arg(&facts)
        .arg(&out_dir)
        .output()
        .expect("node");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or(Value::Null);
    assert!(
        run.status.success(),
        "{script}: {}\n{report:#}",
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{report:#}\n(in {:?})", started.elapsed());
    eprintln!("{script}: screenshot {}", report["screenshot"]);
    assert_eq!(report["mismatches"], json!([]), "{report:#}");
    let shot = std::path::PathBuf::from(report["screenshot"].as_str().unwrap());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{shot:?}");
    report
}

/// The scenario named `name` of a report.
fn scenario<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name}: {report:#}"))
}

/// A scenario's add and confirm statuses, whether it was challenged, and what the page
/// showed (`added` / `failed`).
fn outline(s: &Value) -> (Value, Value, Value, Value) {
    (
        s["addStatus"].clone(),
        s["confirmStatus"].clone(),
        s["challenged"].clone(),
        s["shown"]["outcome"].clone(),
    )
}

#[test]
fn the_3ds_page_finishes_authentication_with_stripe_js() {
    let report = run_driver("add_card_3ds.cjs", "add-card-3ds");
    let origin = tenant_a().allowed_origin.as_str();
    let added = |s: &Value| outline(s) == (json!(402), json!(200), json!(true), json!("added"));
    let plain = scenario(&report, "no authentication");
    assert_eq!(
        outline(plain),
        (json!(200), Value::Null, json!(false), json!("added")),
        "{plain}"
    );
    assert_eq!(plain["requiresAction"], Value::Null);
    for name in [
        "3DS required, completed",
        "3DS always, completed",
        "3DS required, completed, made default",
    ] {
        let s = scenario(&report, name);
        assert!(added(s), "{name}: {s}");
        let action = &s["requiresAction"];
        assert_eq!(action["type"], "setup_intent", "{s}");
        assert_eq!(action["idIsSetupIntent"], true, "{s}");
        assert_eq!(action["clientSecretNamesIt"], true, "{s}");
        assert_eq!(
            s["shown"]["id"], action["paymentMethodId"],
            "the card shown is the one that was pending: {s}"
        );
    }
    let failed = scenario(&report, "3DS always, failed");
    assert_eq!(
        (
            &failed["addStatus"],
            &failed["challenged"],
            &failed["shown"]["outcome"]
        ),
        (&json!(402), &json!(true), &json!("failed")),
        "{failed}"
    );
    assert_ne!(failed["confirmStatus"], 200, "{failed}");
    assert!(
        failed["shown"]["text"]
            .as_str()
            .unwrap()
            .contains("authentication failed"),
        "{failed}"
    );
    for s in report["scenarios"].as_array().unwrap() {
        assert_eq!(s["allowOrigin"], json!([origin]), "{s}");
        assert_eq!(s["pageErrors"], json!([]), "{s}");
    }
    // The customer's cards afterwards: the four added, the failed attempt nowhere, and the
    // last (made default on the page) the only default.
    let listed = report["listed"].as_array().unwrap();
    let mut last4: Vec<&str> = listed
        .iter()
        .map(|c| c["last4"].as_str().unwrap())
        .collect();
    last4.sort_unstable();
    assert_eq!(last4, ["3155", "3184", "3220", "4242"], "{report:#}");
    let defaults: Vec<&Value> = listed.iter().filter(|c| c["isDefault"] == true).collect();
    assert_eq!(defaults.len(), 1, "{report:#}");
    assert_eq!(defaults[0]["last4"], "3220");
}

#[test]
fn the_pan_less_page_sends_cardvault_no_card_number() {
    let report = run_driver("add_card_stripe_js.cjs", "add-card-stripe-js");
    assert_eq!(report["tenant"]["cardFlow"], "stripeJs", "{report:#}");
    let requests = &report["requests"];
    assert_eq!(requests["vaultWithNumber"], json!([]), "{report:#}");
    assert!(requests["vault"].as_u64().unwrap() >= 5, "{report:#}");
    // The numbers did go somewhere, to Stripe only: the check looked at real traffic.
    let to_stripe = requests["stripeWithNumber"].as_array().unwrap();
    assert_eq!(to_stripe.len(), 3, "{report:#}");
    assert!(
        to_stripe.iter().all(|r| r == "POST /v1/payment_methods"),
        "{report:#}"
    );
    let sent = json!([
        "customerId",
        "firstName",
        "lastName",
        "makeDefault",
        "paymentMethodId",
        "publicApiKey",
        "recaptcha"
    ]);
    for s in report["scenarios"].as_array().unwrap() {
        assert_eq!(s["sentFields"], sent, "{s}");
        assert_eq!(s["paymentMethodIdSent"], true, "{s}");
        assert_eq!(
            s["allowOrigin"],
            json!([tenant_a().allowed_origin.as_str()]),
            "{s}"
        );
        assert_eq!(s["pageErrors"], json!([]), "{s}");
    }
    assert_eq!(
        outline(scenario(&report, "no authentication")),
        (json!(200), Value::Null, json!(false), json!("added"))
    );
    assert_eq!(
        outline(scenario(&report, "3DS required, completed")),
        (json!(402), json!(200), json!(true), json!("added"))
    );
    let failed = scenario(&report, "3DS always, failed");
    assert_eq!(
        (&failed["addStatus"], &failed["shown"]["outcome"]),
        (&json!(402), &json!("failed")),
        "{failed}"
    );
    assert_ne!(failed["confirmStatus"], 200, "{failed}");
    let mut last4: Vec<&str> = report["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["last4"].as_str().unwrap())
        .collect();
    last4.sort_unstable();
    assert_eq!(last4, ["3155", "4242"], "{report:#}");
}
