//! The Lambda entry point every function shares.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, SystemTime};

use lambda_http::{run, service_fn, Body, Request, RequestExt, Response};

use crate::auth::caller;
use crate::deps::Deps;
use crate::domain::{Deadline, RequestScope};
use crate::idempotent;
use crate::App;

impl<D: Deps> App<D> {
    /// Builds the [`App`] once per cold start and serves `handler` with it. A handler always
    /// answers (errors are rendered by its dialect), so the runtime never sees a failure.
    ///
    /// Each request runs under its [`Deadline`], from the Lambda context, or shorter when
    /// `DEADLINE_MS` is set (read once here: a test's way to make it short under `cargo lambda
    /// watch`, whose context deadline is a placeholder).
    pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
    where
        F: Fn(&'static Self, Request) -> Fut,
        Fut: Future<Output = Response<Body>> + Send,
    {
        crate::telemetry::init();
        // Lives as long as the container; leaking it lets handlers borrow it across awaits.
        let app: &'static Self = Box::leak(Box::new(Self::from_env()?));
        let cap = deadline_cap();
        let edge = crate::http::edge_secret();
        run(service_fn(move |req: Request| {
            // Behind the edge, a request that went around CloudFront (and its web ACL) to the
            // origin domain is refused before anything runs.
            let allowed = crate::http::through_edge(&req, edge);
            let deadline = request_deadline(&req, cap);
            let scope = request_scope(&req);
            let response = allowed.then(|| handler(app, req));
            async move {
                Ok::<_, Infallible>(match response {
                    Some(response) => scope.scope(deadline.scope(response)).await,
                    None => {
                        tracing::warn!("a request without the edge's header, refused");
                        crate::http::edge_refusal()
                    }
                })
            }
        }))
        .await
    }

    /// [`Self::serve`] for an endpoint that writes: under the request's `Idempotency-Key`
    /// (`crate::idempotent`), scoped by `caller`; its own errors rendered by `render_error`.
    pub async fn serve_write<K: caller::Kind, F, Fut>(
        caller: K,
        render_error: fn(&crate::Error) -> Response<Body>,
        handler: F,
    ) -> Result<(), lambda_http::Error>
    where
        F: Fn(&'static Self, Request) -> Fut + Send + Sync,
        Fut: Future<Output = Response<Body>> + Send,
    {
        let handler = &handler;
        Self::serve(move |app, req| idempotent::guard(app, req, caller, render_error, handler))
            .await
    }

    /// Serves a plain Lambda event, not behind API Gateway: a JSON payload in, `handler`'s
    /// JSON out (an operator's tool invokes it with the Lambda Invoke API). The invocation runs
    /// under its [`Deadline`], as a request does; an error becomes the invocation's error
    /// (`errorMessage`, with its chain of causes: the caller is an operator, and no error
    /// carries card data).
    pub async fn serve_event<F, Fut, R>(handler: F) -> Result<(), lambda_http::Error>
    where
        F: Fn(&'static Self, serde_json::Value) -> Fut,
        Fut: Future<Output = Result<R, crate::Error>> + Send,
        R: serde::Serialize,
    {
        use lambda_http::lambda_runtime::{self, LambdaEvent};
        crate::telemetry::init();
        let app: &'static Self = Box::leak(Box::new(Self::from_env()?));
        let cap = deadline_cap();
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: LambdaEvent<serde_json::Value>| {
                let deadline =
                    Deadline::from_context_ms(event.context.deadline, cap, SystemTime::now());
                let answer = handler(app, event.payload);
                async move {
                    deadline.scope(answer).await.map_err(|e| {
                        tracing::error!(error = %e.chain(), "the invocation failed");
                        lambda_http::Error::from(e.chain())
                    })
                }
            },
        ))
        .await
    }
}

/// `DEADLINE_MS`: a budget per request, in milliseconds, that shortens the context's.
fn deadline_cap() -> Option<Duration> {
    std::env::var("DEADLINE_MS")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

fn request_deadline(req: &Request, cap: Option<Duration>) -> Deadline {
    let context_ms = req.lambda_context_ref().map_or(0, |c| c.deadline);
    let deadline = Deadline::from_context_ms(context_ms, cap, SystemTime::now());
    tracing::debug!(
        context_deadline_ms = context_ms,
        budget_ms = deadline.remaining().as_millis() as u64,
        "request deadline"
    );
    deadline
}

/// The audit trail's view of the request: the Lambda request id and the caller's IP as API
/// Gateway saw it.
fn request_scope(req: &Request) -> RequestScope {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty());
    RequestScope::new(request_id, crate::http::source_ip(req))
}
