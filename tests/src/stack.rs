//! The running stack's facts (`CARDVAULT_STACK`) and the admin CLI on its table.

use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stack {
    pub base_url: String,
    pub stripe_url: String,
    pub lambda_invoke_port: u16,
    pub table: String,
    pub tenants: Vec<DemoTenant>,
    /// bootstrap.py's JWT facts: algorithm, secret, issuer, audience, claims, tokens.
    #[serde(default)]
    pub jwt: Value,
    /// bootstrap.py's Stripe webhook endpoints and signing secrets:
    /// `{platform: {url, secret}, tenants: {<id>: {url, secret}}, events}`.
    #[serde(default)]
    pub webhooks: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoTenant {
    pub id: String,
    pub private_api_key: String,
    pub public_api_key: String,
    pub allowed_origin: String,
    pub stripe: Value,
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let path = std::env::var("CARDVAULT_STACK")
            .expect("CARDVAULT_STACK is not set: run the integration tests with `make test`");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

pub fn tenant_a() -> &'static DemoTenant {
    &stack().tenants[0]
}

pub fn tenant_b() -> &'static DemoTenant {
    &stack().tenants[1]
}

fn run_admin(args: &[&str]) -> std::process::Output {
    run_admin_env(&[], args)
}

/// With `env` set over the test runner's environment; `CARDVAULT_OPERATOR` only if `env`
/// sets it.
fn run_admin_env(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin";
    let mut command = Command::new(bin);
    command
        .env_remove("CARDVAULT_OPERATOR")
        .envs(env.iter().copied());
    command
        .args(["--table", &stack().table])
        .args(args)
        .output()
        .expect("run cardvault-admin (built by make test)")
}

/// Runs the admin CLI against the test stack and returns its JSON output.
pub fn admin(args: &[&str]) -> Value {
    let out = run_admin(args);
    assert!(
        out.status.success(),
        "cardvault-admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

/// [`admin`], by an operator who labels themself `label` (`CARDVAULT_OPERATOR`).
pub fn admin_as(label: &str, args: &[&str]) -> Value {
    admin_env(&[("CARDVAULT_OPERATOR", label)], args)
}

/// [`admin`], with `env` over the test runner's environment (other AWS credentials, say).
pub fn admin_env(env: &[(&str, &str)], args: &[&str]) -> Value {
    let out = run_admin_env(env, args);
    assert!(
        out.status.success(),
        "cardvault-admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

/// A payload for the re-homing function with its `caller`: a GetCallerIdentity signed by
/// `cardvault-admin caller-identity` with the credentials `env` sets (the stack's when
/// empty), bound to this payload.
pub fn signed_for(env: &[(&str, &str)], mut payload: Value) -> Value {
    let caller = admin_env(env, &["caller-identity", "--payload", &payload.to_string()]);
    payload["caller"] = caller;
    payload
}

/// Runs the admin CLI, which must refuse: its error message.
pub fn admin_refuses(args: &[&str]) -> String {
    let out = run_admin(args);
    assert!(!out.status.success(), "cardvault-admin {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tenant of one test's own for the transparent redirect: Connect like demo-a, allowing
/// demo-a's origin, then set up by `settings` (admin subcommands and their flags; each gets
/// `--tenant`).
pub struct RedirectTenant {
    pub id: String,
    pub private_api_key: String,
    pub public_api_key: String,
    /// Its own connected account: no two tenants share one (`set-stripe` refuses).
    pub stripe_account: String,
}

pub fn redirect_tenant(prefix: &str, settings: &[&[&str]]) -> RedirectTenant {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = format!("{prefix}-{}-{n}", nanos % 10_000_000_000);
    admin(&["create-tenant", "--id", &id, "--name", prefix]);
    let field = |v: Value, name: &str| v[name].as_str().unwrap().to_owned();
    let private_api_key = field(admin(&["issue-key", "--tenant", &id]), "privateApiKey");
    let public_api_key = field(admin(&["set-public-key", "--tenant", &id]), "publicApiKey");
    let origin = tenant_a().allowed_origin.as_str();
    admin(&["set-origins", "--tenant", &id, "--origin", origin]);
    let stripe_account = format!("acct_1Rt{}x{n}", nanos % 10_000_000_000);
    admin(&["set-stripe", "--tenant", &id, "--account", &stripe_account]);
    for s in settings {
        let (command, flags) = s.split_first().expect("a subcommand");
        admin(&[&[*command, "--tenant", &id], flags].concat());
    }
    RedirectTenant {
        id,
        private_api_key,
        public_api_key,
        stripe_account,
    }
}

/// The chainer numbers audit events off the request path, from the table's stream: waits
/// (at most 30 s) until none of `tenant`'s is left unchained, and answers `audit verify`
/// then (its last answer if the wait ran out, for the caller's assertion to show). The
/// wait's end says nothing by itself: the caller asserts `pending` (hence `must_use`).
#[must_use = "a wait that ran out returns all the same: assert its `pending` is 0"]
pub fn audit_settled(tenant: &str) -> Value {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = run_admin(&["audit", "verify", "--tenant", tenant]);
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if answer["pending"] == 0 || std::time::Instant::now() > until {
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
