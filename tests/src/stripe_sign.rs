//! `Stripe-Signature` headers made by Stripe's own Node library (`tests/stripe_sign.cjs`,
//! the pinned `stripe` package infra/tools.sh installs), so that a webhook test checks the
//! vault against Stripe's signing, not against the vault's own `sign` (which would agree
//! with the verifier however both were wrong).
//!
//! One node process per test binary, started at the first signature and fed one JSON line
//! per signature: it ends by itself when the binary exits and its stdin closes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

struct Signer {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _child: Child,
}

static SIGNER: OnceLock<Mutex<Signer>> = OnceLock::new();

fn start() -> Signer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/stripe_sign.cjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg("--lines")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node {script}: {e}"));
    Signer {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        _child: child,
    }
}

/// The header Stripe's library makes for `payload` signed with `secret` at `t` (Unix
/// seconds): `t=<t>,v1=<hex>`.
pub fn stripe_signature(secret: &str, t: i64, payload: &str) -> String {
    let signer = SIGNER.get_or_init(|| Mutex::new(start()));
    let mut s = signer.lock().unwrap_or_else(|e| e.into_inner());
    let line = serde_json::json!({"payload": payload, "secret": secret, "timestamp": t});
    writeln!(s.stdin, "{line}")
        .and_then(|_| s.stdin.flush())
        .expect("tests/stripe_sign.cjs stopped (is the stripe package installed? infra/tools.sh)");
    let mut header = String::new();
    s.stdout
        .read_line(&mut header)
        .expect("tests/stripe_sign.cjs");
    let header = header.trim_end();
    assert!(
        header.starts_with(&format!("t={t},v1=")),
        "tests/stripe_sign.cjs answered {header:?} (is the stripe package installed? infra/tools.sh)"
    );
    header.to_owned()
}
