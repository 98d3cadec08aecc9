//! `GET /v1/countries`: Fusebill's "Read Country ID": countries with their ISO 3166-1
//! numeric ids, and their states with cardvault's permanent ids.

use cardvault::dialect::fusebill::{self, CountryJson};
use cardvault::{App, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve(|app, req| async move { fusebill::render(list(app, &req).await) }).await
}

async fn list(app: &App, req: &Request) -> Result<(StatusCode, Vec<CountryJson>), Error> {
    app.merchant(req).await?;
    Ok((StatusCode::OK, fusebill::countries()))
}
