//! A built function binary run for one event, as Lambda runs it: its Runtime API played by
//! wiremock, the stack's services its dependencies. For the runs a test must see whole (at
//! trace, with a setting of its own) rather than through the stack's fleet.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::random;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An API Gateway (HTTP API) event for `function` (its `events/<function>.json`) with
/// `body`, its content type and `headers` added, from a source IP of its own (the
/// redirect's card-testing limits count per IP) and with a request id of its own.
pub fn http_event(
    function: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/{function}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let ip = format!(
        "10.{}.{}.{}",
        random::<u8>(),
        random::<u8>(),
        random::<u8>()
    );
    event["headers"]["content-type"] = json!(content_type);
    event["headers"]["x-forwarded-for"] = json!(ip);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    event["requestContext"]["http"]["sourceIp"] = json!(ip);
    event["requestContext"]["requestId"] = json!(format!("{:016x}=", random::<u64>()));
    event["body"] = json!(body);
    event
}

/// Runs a built function binary for one event, as Lambda runs it (its Runtime API played
/// by wiremock), with `RUST_LOG=trace` and `AWS_LAMBDA_LOG_LEVEL=trace`, on the stack's
/// services: its answer (a function error as `{"functionError": …}`), and everything it
/// wrote to stdout and stderr, once that holds the invocation's own request id.
pub async fn once_at_trace(function: &str, event: &Value, log_format: &str) -> (Value, String) {
    once_at_trace_with(function, event, log_format, &[]).await
}

/// [`once_at_trace`] with `env` set for the function (a secret id of a test's own, say).
pub async fn once_at_trace_with(
    function: &str,
    event: &Value,
    log_format: &str,
    env: &[(&str, &str)],
) -> (Value, String) {
    let request_id = format!("{:032x}", random::<u128>());
    let runtime = MockServer::start().await;
    let next = "/2018-06-01/runtime/invocation/next";
    Mock::given(method("GET"))
        .and(path(next))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("lambda-runtime-aws-request-id", request_id.as_str())
                .insert_header("lambda-runtime-deadline-ms", deadline_ms())
                .insert_header(
                    "lambda-runtime-invoked-function-arn",
                    format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
                )
                .set_body_json(event),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&runtime)
        .await;
    // Then no more events: the next poll answers a request id that is no text, which the
    // runtime reports as an error (no id at all would be a panic): `run` returns, main
    // ends, and the process exits by itself, having written everything it was going to.
    let no_id = reqwest::header::HeaderValue::from_bytes(b"\xffnone").unwrap();
    Mock::given(method("GET"))
        .and(path(next))
        .respond_with(
            ResponseTemplate::new(500).insert_header("lambda-runtime-aws-request-id", no_id),
        )
        .with_priority(2)
        .mount(&runtime)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/2018-06-01/runtime/"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime)
        .await;

    let binary = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/" + function;
    assert!(
        std::path::Path::new(&binary).exists(),
        "{binary}: build it first (make test does: cargo build -p cardvault-functions --bins)"
    );
    let mut child = std::process::Command::new(&binary)
        .env("RUST_LOG", "trace")
        .env("AWS_LAMBDA_LOG_LEVEL", "trace")
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_FORMAT", log_format)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it writes, so a full pipe never stalls the function, into one buffer the
    // wait below reads.
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let drain = |mut from: Box<dyn std::io::Read + Send>| {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    };
    let drains = [
        drain(Box::new(child.stdout.take().unwrap())),
        drain(Box::new(child.stderr.take().unwrap())),
    ];
    let written = || String::from_utf8_lossy(&output.lock().unwrap()).into_owned();

    // Until the process exits (the second poll's error ends it), or 60 s; then everything
    // it wrote, read to its end.
    let started = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for d in drains {
        d.join().unwrap();
    }
    let logs = written();
    // Exit code 1: main returned the runtime's error; a panic (101) or a kill is not the
    // end this wait is for.
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(1),
        "{function} ended by returning from main after its one event:\n{logs}"
    );
    let answer = runtime
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap_or_else(|| panic!("no answer to {request_id}:\n{logs}"));
    // Every HTTP function logs its request's deadline inside the invocation (at debug): a
    // trace that does not name the invocation was not the whole output.
    if event.get("requestContext").is_some() {
        assert!(
            logs.contains(&request_id),
            "the output names invocation {request_id}:\n{logs}"
        );
    }

    let at = answer.url.path();
    assert!(
        at.ends_with(&format!("/{request_id}/response"))
            || at.ends_with(&format!("/{request_id}/error")),
        "{}",
        answer.url
    );
    assert!(
        logs.contains("TRACE") || logs.contains(r#""level":"TRACE""#),
        "trace logging was on:\n{logs}"
    );
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    if at.ends_with("/error") {
        (json!({ "functionError": body }), logs)
    } else {
        (body, logs)
    }
}

fn deadline_ms() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_millis() + 30_000).to_string()
}
