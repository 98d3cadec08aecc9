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

/// The one status each printed command must answer, by method and route (ids as `{id}`).
/// Every row must be printed once, and every printed command must have its row.
const EXPECTED: &[(&str, &str, u16)] = &[
    ("POST", "/v1/customers", 200),
    ("GET", "/v1/customers/{id}", 200),
    ("POST", "/v1/paymentMethodImport/stripeConnect", 200),
    // The Connect route's alias, with the same card: the record the first import made.
    ("POST", "/v1/AchCardImport/stripeConnect", 200),
    ("GET", "/v1/customers/{id}/paymentMethods/creditCard", 200),
    ("GET", "/v1/paymentMethods/{id}", 200),
    ("PUT", "/v1/customerbillingsetting", 200),
    ("DELETE", "/v1/paymentMethods/{id}/creditCard", 204),
    ("GET", "/v1/countries", 200),
    ("OPTIONS", "/api/paymentsv2", 204),
    ("POST", "/api/paymentsv2", 200),
    ("POST", "/payments/stripe/customers", 200),
    ("GET", "/payments/stripe/customers", 200),
    ("POST", "/card/create", 200),
    ("POST", "/card/find", 200),
    ("POST", "/card/get", 200),
    ("POST", "/card/updateCurrent", 200),
    ("POST", "/card/getStripe", 200),
    ("POST", "/card/remove", 200),
];

/// (method, route) of a printed curl: `-X` or GET, the URL's path with ids as `{id}`.
fn route(cmd: &str, base: &str) -> (String, String) {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let method = words
        .iter()
        .position(|w| *w == "-X")
        .map_or("GET", |i| words[i + 1]);
    let url = words
        .iter()
        .map(|w| w.trim_matches('\''))
        .find(|w| w.starts_with(base))
        .unwrap_or_else(|| panic!("no URL under {base}: {cmd}"));
    let path = url[base.len()..].split('?').next().unwrap();
    let path = path
        .split('/')
        .map(|seg| {
            let id = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
            if id || seg == "PAYMENT_METHOD_ID" {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    (method.to_owned(), path)
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
    let base: Value = serde_json::from_str(&std::fs::read_to_string(&dev_json).unwrap()).unwrap();
    let base = base["baseUrl"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();

    let mut payment_method = None::<String>;
    let mut card = None::<String>;
    for mut cmd in cmds {
        for (placeholder, id) in [("PAYMENT_METHOD_ID", &payment_method), ("CARD_ID", &card)] {
            if let Some(id) = id {
                cmd = cmd.replace(placeholder, id);
            }
            assert!(!cmd.contains(placeholder), "no id yet for: {cmd}");
        }
        let (method, path) = route(&cmd, &base);
        let want = EXPECTED
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .unwrap_or_else(|| panic!("no expected status for {method} {path}: {cmd}"))
            .2;
        seen.push((method.clone(), path.clone()));
        // The status on a line of its own after the body (the banner's `-w` already prints
        // it for the commands without one).
        let run = if cmd.contains("%{http_code}") {
            cmd.clone()
        } else {
            format!("{cmd} -w '\\n%{{http_code}}\\n'")
        };
        let out = Command::new("bash").args(["-c", &run]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (text, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        assert_eq!(status, want.to_string(), "{method} {path}: {cmd}: {text}");
        if want == 204 {
            assert!(text.is_empty(), "{cmd}: {text}");
            continue;
        }
        let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{cmd}: {text}"));
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
    // Every expected command was printed, once.
    let mut printed = seen.clone();
    printed.sort();
    printed.dedup();
    assert_eq!(
        printed.len(),
        seen.len(),
        "a command printed twice: {seen:?}"
    );
    assert_eq!(seen.len(), EXPECTED.len(), "printed {seen:?}");
    let _ = std::fs::remove_dir_all(dir);
}
