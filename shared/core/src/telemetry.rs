//! Logging. Request bodies and headers are never logged: they carry card numbers, CVVs,
//! API keys and bearer tokens. Our own log lines name ids, never those; the dependencies
//! that would log whole events or requests at debug and trace (the Lambda runtime logs the
//! raw event, the AWS SDK the requests and responses) are capped at `info` here, whatever
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for.

use std::io::Write;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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
    // Metric lines are written by [`EmfLayer`] alone, whatever the level.
    kept.push(format!("{METRIC_TARGET}=off"));
    kept.join(",")
}

/// JSON logs to stdout (CloudWatch) when Lambda asks for JSON, plain text otherwise.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = subscriber(level.as_deref(), json, std::io::stdout, std::io::stdout).try_init();
    // Crate names and levels only: what a trace-level run can show, and proof it is on.
    tracing::trace!(filter = %directives(level.as_deref()), "log filter");
}

/// The subscriber a function runs with ([`init`]), and the one the tests log through: log
/// lines filtered by [`directives`] at `level`, as JSON or text, to `logs`; metric lines
/// by [`EmfLayer`] to `metrics` (both stdout in a function). One builder, so a test sees
/// exactly what a function would write.
pub fn subscriber<L, M>(
    level: Option<&str>,
    json: bool,
    logs: L,
    metrics: M,
) -> impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>
where
    L: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder().parse_lossy(directives(level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(logs);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(EmfLayer::filtered(metrics))
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
    emf_line(
        tenant,
        at_ms,
        &[
            ("CardAdds", adds),
            ("CardDeclines", declines),
            ("VelocityRefusals", refused),
        ],
    )
}

/// An EMF line of `counts` (each a `Count` metric), by tenant and in total (the empty
/// dimension set).
fn emf_line(tenant: &str, at_ms: u128, counts: &[(&str, u32)]) -> String {
    let metrics: Vec<_> = counts
        .iter()
        .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Tenant"], []],
                "Metrics": metrics,
            }],
        },
        "Tenant": tenant,
    });
    for (name, n) in counts {
        line[*name] = (*n).into();
    }
    line.to_string()
}

/// The target of metric events ([`count`]): [`EmfLayer`] writes each as its own line, and
/// the log formatter never sees them (its fields would wrap the line, and CloudWatch reads
/// a metric only from a line that is the EMF object itself).
pub const METRIC_TARGET: &str = "cardvault::metric";

/// A best-effort step at Stripe that failed: Stripe's default source did not follow the
/// vault's default card (`vault::cards::default`). The vault's record stands; the count is
/// what an alarm watches.
pub const STRIPE_DEFAULT_SOURCE_FAILURES: &str = "StripeDefaultSourceFailures";

/// One count of `metric` as an EMF line, by tenant and in total.
pub fn count_line(metric: &str, tenant: &str, at_ms: u128) -> String {
    emf_line(tenant, at_ms, &[(metric, 1)])
}

/// Counts one `metric` for `tenant`: an event at [`METRIC_TARGET`] that [`EmfLayer`] writes
/// out, so that a test's subscriber sees exactly what CloudWatch would.
pub fn count(metric: &str, tenant: &str) {
    let line = count_line(metric, tenant, now_ms());
    tracing::info!(target: METRIC_TARGET, emf = %line);
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Writes each [`METRIC_TARGET`] event's `emf` field, alone on its line, to its writer
/// (stdout in a function), at every log level.
pub struct EmfLayer<W> {
    writer: W,
}

impl<W: for<'w> MakeWriter<'w> + 'static> EmfLayer<W> {
    /// The layer, seeing only [`METRIC_TARGET`]: no other event is made for it.
    pub fn filtered<S>(writer: W) -> Filtered<Self, Targets, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        Self { writer }.with_filter(Targets::new().with_target(METRIC_TARGET, LevelFilter::TRACE))
    }
}

struct EmfField(Option<String>);

impl Visit for EmfField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "emf" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "emf" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != METRIC_TARGET {
            return;
        }
        let mut emf = EmfField(None);
        event.record(&mut emf);
        if let Some(line) = emf.0 {
            let _ = writeln!(self.writer.make_writer(), "{line}");
        }
    }
}

/// Writes [`card_metrics_line`] to stdout, a line of its own (not through the log
/// formatter, whose fields would wrap it).
pub fn card_metrics(tenant: &str, adds: u32, declines: u32, refused: u32) {
    println!(
        "{}",
        card_metrics_line(tenant, adds, declines, refused, now_ms())
    );
}

/// A buffer a test's subscriber writes logs and metric lines into.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The metric lines written so far, parsed.
    pub(crate) fn metrics(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }
}

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Until the guard drops, this thread logs at `debug` and writes its metric lines into
/// the buffer, through the subscriber a function runs with ([`subscriber`]).
#[cfg(test)]
pub(crate) fn capture() -> (tracing::subscriber::DefaultGuard, Captured) {
    capture_with(Some("debug"), false)
}

/// As [`capture`], at `level` (as `RUST_LOG`) and in JSON if `json`.
#[cfg(test)]
pub(crate) fn capture_with(
    level: Option<&str>,
    json: bool,
) -> (tracing::subscriber::DefaultGuard, Captured) {
    let buf = Captured::default();
    let (logs, metrics) = (buf.clone(), buf.clone());
    let subscriber = subscriber(level, json, move || logs.clone(), move || metrics.clone());
    (tracing::subscriber::set_default(subscriber), buf)
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

    /// Logs through the function's subscriber at `level` (as `RUST_LOG`) into a buffer.
    fn logged_at_trace_with(level: &str, emit: impl FnOnce()) -> String {
        let (guard, out) = capture_with(Some(level), false);
        emit();
        drop(guard);
        out.text()
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

    #[test]
    fn a_count_is_its_own_emf_line_and_never_a_log_line() {
        let (guard, out) = capture();
        count(STRIPE_DEFAULT_SOURCE_FAILURES, "demo-a");
        tracing::warn!("a log line");
        drop(guard);
        let [m] = out.metrics().try_into().expect("one metric line");
        let spec = &m["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], serde_json::json!([["Tenant"], []]));
        assert_eq!(spec["Metrics"][0]["Name"], STRIPE_DEFAULT_SOURCE_FAILURES);
        assert_eq!(m["Tenant"], "demo-a");
        assert_eq!(m[STRIPE_DEFAULT_SOURCE_FAILURES], 1);
        // The formatter never wraps it, at any level.
        let text = out.text();
        assert_eq!(text.matches("_aws").count(), 1, "{text}");
        assert!(text.contains("a log line"), "{text}");
        assert!(directives(Some("trace")).ends_with(&format!("{METRIC_TARGET}=off")));
    }

    /// Review A4: in JSON (as Lambda asks), at trace, a count is still the bare EMF
    /// object on a line of its own, and the log lines are JSON.
    #[test]
    fn in_json_logs_a_count_is_still_its_own_emf_line() {
        let (guard, out) = capture_with(Some("trace"), true);
        count(STRIPE_DEFAULT_SOURCE_FAILURES, "demo-a");
        tracing::warn!("a log line");
        drop(guard);
        let [m] = out.metrics().try_into().expect("one metric line");
        assert_eq!(m[STRIPE_DEFAULT_SOURCE_FAILURES], 1);
        let text = out.text();
        assert_eq!(text.matches("_aws").count(), 1, "{text}");
        let logged: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| !l.contains("_aws"))
            .map(|l| serde_json::from_str(l).expect("a JSON log line"))
            .collect();
        assert!(
            logged
                .iter()
                .any(|l| l["fields"]["message"] == "a log line"),
            "{text}"
        );
    }
}
