//! Logging. Request bodies and headers are never logged: they carry card numbers, CVVs,
//! API keys and bearer tokens. Our own log lines name ids, never those; the dependencies
//! that would log whole events or requests at debug and trace (the Lambda runtime logs the
//! raw event, the AWS SDK the requests and responses) are capped at `info` here, whatever
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for.

use tracing_subscriber::EnvFilter;

/// The crates capped at `info`: each can print request or response bodies below it.
pub const CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_sdk_kms",
    "aws_sdk_lambda",
    "aws_sdk_sts",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
];

/// The filter directives: Lambda's log level (or `RUST_LOG`, default `info`) for everything,
/// with any directive naming a capped crate dropped, then the caps.
pub fn directives(level: Option<&str>) -> String {
    let level = level
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("info");
    let mut kept: Vec<String> = level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        // Span filters (`[{requestId}]=trace`) would let events inside the span through
        // whatever their crate's cap: dropped, they are not needed to debug.
        .filter(|d| !d.contains('['))
        .filter(|d| {
            let target = d.split('=').next().unwrap_or("");
            !CAPPED
                .iter()
                .any(|c| target == *c || target.starts_with(&format!("{c}::")))
        })
        .map(|d| d.to_ascii_lowercase())
        .collect();
    kept.extend(CAPPED.iter().map(|c| format!("{c}=info")));
    kept.join(",")
}

/// JSON logs to stdout (CloudWatch) when Lambda asks for JSON, plain text otherwise.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let directives = directives(level.as_deref());
    let filter = EnvFilter::builder().parse_lossy(&directives);
    let fmt = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        fmt.json().try_init()
    } else {
        fmt.try_init()
    };
    // Crate names and levels only: what a trace-level run can show, and proof it is on.
    tracing::trace!(filter = %directives, "log filter");
}

/// The CloudWatch namespace of cardvault's metrics.
pub const NAMESPACE: &str = "cardvault";

/// One transparent redirect's outcome as a CloudWatch Embedded Metric Format line: cards
/// added, declines and velocity refusals, by tenant and in total (the empty dimension set,
/// which the template's decline-ratio alarm watches). CloudWatch Logs turns the line into
/// metrics; no PutMetricData call, no extra latency.
pub fn card_metrics_line(
    tenant: &str,
    adds: u32,
    declines: u32,
    refused: u32,
    at_ms: u128,
) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Tenant"], []],
                "Metrics": [
                    {"Name": "CardAdds", "Unit": "Count"},
                    {"Name": "CardDeclines", "Unit": "Count"},
                    {"Name": "VelocityRefusals", "Unit": "Count"},
                ],
            }],
        },
        "Tenant": tenant,
        "CardAdds": adds,
        "CardDeclines": declines,
        "VelocityRefusals": refused,
    })
    .to_string()
}

/// Writes [`card_metrics_line`] to stdout, a line of its own (not through the log
/// formatter, whose fields would wrap it).
pub fn card_metrics(tenant: &str, adds: u32, declines: u32, refused: u32) {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    println!(
        "{}",
        card_metrics_line(tenant, adds, declines, refused, at_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_everywhere_leaves_the_capped_crates_at_info() {
        let d = directives(Some("TRACE"));
        assert!(d.starts_with("trace,"), "{d}");
        for c in CAPPED {
            assert!(d.contains(&format!("{c}=info")), "{c}: {d}");
        }
    }

    #[test]
    fn a_directive_for_a_capped_crate_is_dropped_not_honoured() {
        let d = directives(Some(
            "cardvault=debug,lambda_runtime=trace,aws_smithy_runtime::client=trace",
        ));
        assert!(!d.contains("=trace"), "{d}");
        assert!(d.starts_with("cardvault=debug,"), "{d}");
    }

    #[test]
    fn a_span_filter_is_dropped_not_honoured() {
        let d = directives(Some("[{requestId}]=trace,cardvault[invoke]=trace,debug"));
        assert!(!d.contains('['), "{d}");
        assert!(d.starts_with("debug,"), "{d}");
        let out = logged_at_trace_with("[{requestId}]=trace", || {
            let span = tracing::info_span!("invoke", requestId = "req-1");
            let _in = span.enter();
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "transmitting request 4242424242424242");
        });
        assert!(!out.contains("4242424242424242"), "{out}");
    }

    #[test]
    fn the_default_is_info() {
        assert!(directives(None).starts_with("info,"));
        assert!(directives(Some("  ")).starts_with("info,"));
    }

    /// Logs through the real filter at `RUST_LOG=trace` into a buffer.
    fn logged_at_trace(emit: impl FnOnce()) -> String {
        logged_at_trace_with("trace", emit)
    }

    /// Logs through the real filter at `level` (as `RUST_LOG`) into a buffer.
    fn logged_at_trace_with(level: &str, emit: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::builder().parse_lossy(directives(Some(level))))
            .with_writer(move || buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn at_trace_the_runtime_and_sdk_bodies_are_not_logged_but_ours_are() {
        let out = logged_at_trace(|| {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "4242424242424242", "raw JSON event received from Lambda");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "transmitting request 4242424242424242");
            tracing::info!(target: "lambda_runtime", "runtime started");
            tracing::trace!(target: "cardvault::vault", "our own trace line");
        });
        assert!(!out.contains("4242424242424242"), "{out}");
        assert!(out.contains("runtime started"), "{out}");
        assert!(out.contains("our own trace line"), "{out}");
    }

    #[test]
    fn a_metric_line_is_embedded_metric_format() {
        let line = card_metrics_line("demo-a", 1, 0, 0, 1_767_225_600_000);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(!line.contains('\n'));
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], NAMESPACE);
        assert_eq!(m["Dimensions"], serde_json::json!([["Tenant"], []]));
        for metric in m["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(v[name].is_u64(), "{name} has a value");
        }
        assert_eq!(
            (v["Tenant"].as_str(), v["CardAdds"].as_u64()),
            (Some("demo-a"), Some(1))
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_767_225_600_000u64);
    }
}
