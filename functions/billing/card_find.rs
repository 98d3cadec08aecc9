//! `POST /card/find` (admin or owner): the caller's account's cards, newest first, paged
//! with `limit` and signed `next`/`prev` cursors in the query string, kept by `where` and
//! `filter`.

use cardvault::deps::{KeyRings, SecretsManager, Unwired, Uses};
use cardvault::dialect::embedthis::{self, PageJson};
use cardvault::domain::Role;
use cardvault::Error;
use lambda_http::{http::StatusCode, Request};

/// Built from the table, the key rings (no KMS) and Secrets Manager: no other port's client
/// is built or linked (`Uses<gateway, keys, secrets, captcha>`, each `Unwired` unless
/// named).
type App = cardvault::App<Uses<Unwired, KeyRings<Unwired>, SecretsManager>>;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    App::serve(|app, req| async move { embedthis::render(find(app, &req).await) }).await
}

async fn find(app: &App, req: &Request) -> Result<(StatusCode, PageJson), Error> {
    let user = app.user(req).await?;
    let account = app.vault.account_with_role(&user, Role::Admin).await?;
    let (limit, from, filter) = embedthis::find_options(req)?;
    let page = app
        .vault
        .find_cards(&user.tenant, account, limit, from, |card| {
            filter.matches(card)
        })
        .await?;
    Ok((StatusCode::OK, page.into()))
}
