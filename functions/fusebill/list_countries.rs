//! `GET /v1/countries`: Fusebill's "Read Country ID": countries with their ISO 3166-1
//! numeric ids, and their states with cardvault's permanent ids. The body is serialised
//! once per container (`fusebill::countries_body`); a warm request checks the key only.

use cardvault::deps::Uses;
use cardvault::dialect::{self, fusebill};
use lambda_http::http::StatusCode;

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move {
        match app.merchant(&req).await {
            Ok(_) => dialect::json_text(StatusCode::OK, fusebill::countries_body().to_owned()),
            Err(e) => fusebill::render_error(&e),
        }
    })
    .await
}
