//! `Idempotency-Key` on the write endpoints, around a whole handler, so that no endpoint
//! repeats it: the caller's scope, the claim (`vault::once`), the handler under the key,
//! and its answer kept or the key freed. Replays carry `Idempotent-Replayed: true`.

use std::future::Future;
use std::time::Duration;

use lambda_http::{http::HeaderValue, Body, Request, Response};

use crate::auth::{caller, Caller};
use crate::deps::Deps;
use crate::dialect::fusebill::redirect::Params;
use crate::domain::{CardFlow, ClientKey, Deadline, StoredResponse, TenantId};
use crate::error::Error;
use crate::vault::once::{DOUBLE_SUBMIT_WINDOW, REPLAY_WINDOW};
use crate::vault::{idempotency, Begun, OnceRequest};
use crate::App;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// How often a double submit looks again for the first one's answer.
const DOUBLE_SUBMIT_POLL: Duration = Duration::from_millis(200);

/// Serves `handler` under the request's `Idempotency-Key`, if any. Errors of its own (a
/// malformed key, 422, 409) are rendered by `render_error`, in the endpoint's dialect; a
/// request whose caller cannot be told runs as it would without a key (and answers its
/// own error).
pub async fn guard<D: Deps, K: caller::Kind, F, Fut>(
    app: &'static App<D>,
    req: Request,
    _caller: K,
    render_error: fn(&Error) -> Response<Body>,
    handler: &F,
) -> Response<Body>
where
    F: Fn(&'static App<D>, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let client_key = match req.headers().get(HEADER).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(raw)) => match ClientKey::parse(raw) {
            Ok(k) => Some(k),
            Err(e) => return render_error(&e),
        },
        Some(Err(_)) => return render_error(&ClientKey::parse("\u{0}").unwrap_err()),
    };
    if client_key.is_none() && K::CALLER != Caller::Redirect {
        return handler(app, req).await;
    }
    // The guard needs the caller (and the redirect its form) first: found once, kept in
    // the request for the handler.
    let mut req = req;
    app.authenticate_once::<K>(&mut req).await;
    if K::CALLER == Caller::Redirect {
        Params::parse_once(&mut req);
    }
    let Some(Keyed {
        tenant,
        scope,
        key,
        request_hash,
        cors_origin,
    }) = keyed::<D, K>(app, &req, client_key).await
    else {
        return handler(app, req).await;
    };
    let implicit = key.starts_with(crate::vault::once::IMPLICIT_PREFIX);
    let window = if implicit {
        DOUBLE_SUBMIT_WINDOW
    } else {
        REPLAY_WINDOW
    };
    let begin = || {
        app.vault.begin_once(OnceRequest {
            tenant: &tenant,
            scope: &scope,
            key: &key,
            request_hash: request_hash.clone(),
            window,
        })
    };
    let mut begun = begin().await;
    // A double submit waits for the first one's answer rather than answering 409.
    while implicit && matches!(begun, Err(Error::Conflict(_))) && waiting_allowed() {
        tokio::time::sleep(DOUBLE_SUBMIT_POLL).await;
        begun = begin().await;
    }
    let ticket = match begun {
        Ok(Begun::Run(ticket)) => ticket,
        Ok(Begun::Replay(answer)) => return replay(answer),
        Ok(Begun::Fresh) => return handler(app, req).await,
        Err(e) => {
            crate::dialect::log_internal(&e);
            return match cors_origin {
                // The redirect's browser must be able to read a 409 or 422 too.
                Some(origin) => crate::cors::allow(render_error(&e), Some(&origin)),
                None => render_error(&e),
            };
        }
    };
    let response = match ticket.stripe_seed() {
        Some(seed) => idempotency::under_client_key(seed.to_owned(), handler(app, req)).await,
        None => handler(app, req).await,
    };
    if let Err(e) = app
        .vault
        .finish_once(ticket, kept(&response, implicit))
        .await
    {
        // The answer stands; the key stays in progress until its expiry.
        crate::dialect::log_internal(&e);
    }
    response
}

/// Whether a waiting double submit may look once more and still answer in time.
fn waiting_allowed() -> bool {
    Deadline::current().is_none_or(|d| d.remaining() > d.reserve() + DOUBLE_SUBMIT_POLL)
}

/// A keyed request: whose, under which key, and what it asks.
struct Keyed {
    tenant: TenantId,
    scope: String,
    key: String,
    request_hash: String,
    /// The redirect's `Origin`, when its tenant allows it: for the CORS headers.
    cors_origin: Option<String>,
}

/// The request's [`Keyed`]; `None` when the caller cannot be told (the handler answers
/// that) or a redirect without a key has no card.
async fn keyed<D: Deps, K: caller::Kind>(
    app: &App<D>,
    req: &Request,
    client_key: Option<ClientKey>,
) -> Option<Keyed> {
    // `keyed`: the redirect's key (the client's, or the implicit one) and keyed hash.
    // A constant per caller type: the other callers' code is not compiled in.
    let (tenant, scope, keyed, cors_origin) = match K::CALLER {
        Caller::Merchant => {
            let tenant = app.merchant(req).await.ok()?;
            (tenant, "merchant".to_owned(), None, None)
        }
        Caller::User => {
            let user = app.user(req).await.ok()?;
            (user.tenant, format!("user:{}", user.user), None, None)
        }
        Caller::Redirect => {
            let params = Params::of(req).ok()?;
            let (public_key, customer) = params.identity().ok()?;
            let tenant = app.vault.tenant_by_public_key(&public_key).await.ok()??;
            // The body holds a card number and a CVV: its hash is a MAC under the
            // fingerprint key, whatever the key, so a record cannot be tried against
            // guessed numbers.
            let request = request_bytes(req);
            let keyed = match &client_key {
                Some(k) => (
                    k.as_str().to_owned(),
                    app.vault.request_digest(&request).await.ok()?,
                ),
                // Without a key and without a card, it is the handler's to refuse.
                None => match tenant.card_flow {
                    CardFlow::Server => {
                        let entry = params.card_entry(&tenant, app.vault.today()).ok()?;
                        app.vault
                            .double_submit(&tenant.id, customer, &entry, &request)
                            .await
                            .ok()?
                    }
                    CardFlow::StripeJs => {
                        let entry = params.stripe_js_entry(&tenant).ok()?;
                        app.vault
                            .double_submit_stripe_js(customer, &entry, &request)
                            .await
                            .ok()?
                    }
                },
            };
            let origin = crate::cors::check(req, &tenant, app.vault.stage())
                .ok()
                .flatten();
            (
                tenant.id,
                format!("redirect:{customer}"),
                Some(keyed),
                origin,
            )
        }
    };
    let (key, request_hash) = match (client_key, keyed) {
        (_, Some(redirect)) => redirect,
        (Some(k), None) => (k.as_str().to_owned(), request_hash(req)),
        (None, None) => return None,
    };
    Some(Keyed {
        tenant,
        scope,
        key,
        request_hash,
        cors_origin,
    })
}

/// What the request asks: method, path, query and body, each ended by a 0 byte so that
/// ("a", "bc") and ("ab", "c") differ.
fn request_bytes(req: &Request) -> Vec<u8> {
    let body = crate::http::body_bytes(req).unwrap_or_default();
    let mut bytes = Vec::with_capacity(body.len() + 64);
    for part in [
        req.method().as_str().as_bytes(),
        req.uri().path().as_bytes(),
        req.uri().query().unwrap_or("").as_bytes(),
        body,
    ] {
        bytes.extend_from_slice(part);
        bytes.push(0);
    }
    bytes
}

/// What the request asks, hashed (never kept itself): a merchant's or user's request.
/// SHA-256 of [`request_bytes`], which is what `once::digest` of the four parts hashes:
/// records kept before the redirect's hash was keyed still match.
fn request_hash(req: &Request) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(request_bytes(req)))
}

/// The answer to keep: a success, or under a client's key a 402 (a card waiting for 3-D
/// Secure, which did write: the client's retry finishes that authentication rather than
/// starting another). A double submit's 402 is not kept: the cardholder who failed the
/// challenge and tries again within the window must get a new one (the first attempt is
/// superseded and cancelled at Stripe). Any other error wrote nothing, so its key is
/// freed for a retry.
fn kept(response: &Response<Body>, implicit: bool) -> Option<StoredResponse> {
    let keyed_402 =
        response.status() == lambda_http::http::StatusCode::PAYMENT_REQUIRED && !implicit;
    if !response.status().is_success() && !keyed_402 {
        return None;
    }
    let body = match response.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        _ => return None,
    };
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    Some(StoredResponse {
        status: response.status().as_u16(),
        headers,
        body,
    })
}

/// The first answer again, byte for byte, saying so.
fn replay(answer: StoredResponse) -> Response<Body> {
    let mut builder = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        builder = builder.header(k, v);
    }
    let body = if answer.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(answer.body)
    };
    builder
        .header(REPLAYED, "true")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
