//! The Lambda entry point every function shares.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::{run, service_fn, Body, Request, Response};

use crate::App;

/// Builds the [`App`] once per cold start and serves `handler` with it. A handler always
/// answers (errors are rendered by its dialect), so the runtime never sees a failure.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    crate::telemetry::init();
    // Lives as long as the container; leaking it lets handlers borrow it across awaits.
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    run(service_fn(move |req| {
        let response = handler(app, req);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}
