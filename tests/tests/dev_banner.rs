//! The curl examples `make dev` prints work as printed: the banner is generated against the
//! test stack, and every command in it is run through bash.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python")
}

fn facts(cmd: &str, path: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/facts.py");
    let out = Command::new(python())
        .arg(script)
        .args([cmd, path.to_str().unwrap()])
        .output()
        .expect("facts.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The banner's shell commands, continuation lines joined.
fn commands(banner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in banner.lines().map(str::trim) {
        if current.is_empty() && !line.starts_with("curl ") {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

#[test]
fn every_printed_curl_example_works() {
    let dir = std::env::temp_dir().join(format!("cardvault-banner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev_json = dir.join("dev.json");
    std::fs::copy(std::env::var("CARDVAULT_STACK").unwrap(), &dev_json).unwrap();
    facts("demo", &dev_json);
    let banner = facts("banner", &dev_json);
    let cmds = commands(&banner);
    assert!(cmds.len() >= 19, "{banner}");

    let mut payment_method = None::<String>;
    let mut card = None::<String>;
    for mut cmd in cmds {
        for (placeholder, id) in [("PAYMENT_METHOD_ID", &payment_method), ("CARD_ID", &card)] {
            if let Some(id) = id {
                cmd = cmd.replace(placeholder, id);
            }
            assert!(!cmd.contains(placeholder), "no id yet for: {cmd}");
        }
        let out = Command::new("bash").args(["-c", &cmd]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if cmd.contains("%{http_code}") {
            assert_eq!(stdout.lines().last(), Some("204"), "{cmd}");
            continue;
        }
        let body: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{cmd}: {stdout}"));
        // No dialect's error envelope: Fusebill's Errors, Rechat's code, EmbedThis's error.
        assert!(body.get("Errors").is_none(), "{cmd}: {body}");
        assert!(body.get("code").is_none_or(|c| c == "OK"), "{cmd}: {body}");
        assert!(!body["error"].is_string(), "{cmd}: {body}");
        if cmd.contains("paymentMethodImport/stripeConnect") {
            payment_method = Some(body["id"].as_u64().unwrap().to_string());
        }
        if cmd.contains("/card/create") {
            card = Some(body["id"].as_str().unwrap().to_owned());
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
