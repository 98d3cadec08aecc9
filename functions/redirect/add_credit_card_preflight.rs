//! `OPTIONS /api/paymentsv2`: the CORS preflight. Allowed when some tenant allows the
//! origin; the POST itself then checks the origin against its own tenant.

use cardvault::deps::Uses;
use cardvault::domain::Origin;
use cardvault::{cors, dialect::fusebill};
use lambda_http::Request;

/// Built from the table alone: no other port's client is built or linked (`Uses<gateway,
/// keys, secrets, captcha>`, each `Unwired` unless named).
type App = cardvault::App<Uses>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req: Request| async move {
        let origin = cors::origin(&req);
        match origin {
            Some(o) => match app.vault.origin_allowed(&Origin::new(o)).await {
                Ok(true) => cors::preflight(Some(o)),
                Ok(false) => cors::preflight(None),
                Err(e) => fusebill::render_error(&e),
            },
            None => cors::preflight(None),
        }
    })
    .await
}
