//! `POST /card/find` (admin): the tenant's cards, newest first, paged with `limit` and
//! signed `next`/`prev` cursors in the query string.

use cardvault::dialect::embedthis::{self, PageJson};
use cardvault::vault::billing;
use cardvault::{App, Error};
use lambda_http::{http::StatusCode, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    cardvault::serve(|app, req| async move { embedthis::render(find(app, &req).await) }).await
}

async fn find(app: &App, req: &Request) -> Result<(StatusCode, PageJson), Error> {
    let user = app.user(req).await?;
    embedthis::require_admin(&user)?;
    let (limit, from) = embedthis::find_options(req)?;
    let (cards, next, prev) = billing::find_cards(app, &user.tenant, limit, from).await?;
    Ok((StatusCode::OK, embedthis::page(cards, next, prev)))
}
