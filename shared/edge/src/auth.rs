//! Caller authentication.
//!
//! Merchant API: `Authorization: Basic <private API key>`. Fusebill's own samples send the
//! raw key after `Basic `; HTTP clients that build Basic auth themselves (`curl -u key:`)
//! send base64 of `key:`. Both are accepted.
//!
//! User and billing-card APIs: `Authorization: Bearer <JWT>`, in [`jwt`].

pub mod jwt;

use base64::{engine::general_purpose::STANDARD, Engine};
use lambda_http::{http::header::AUTHORIZATION, Request};

use crate::domain::ApiKey;
use crate::error::Error;

/// The key in a Basic `Authorization` header, raw or base64 `key:` / `:key`.
pub fn basic_api_key(header: &str) -> Option<ApiKey> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = token.trim();
    if token.starts_with(ApiKey::PREFIX) {
        return ApiKey::parse(token);
    }
    let decoded = String::from_utf8(STANDARD.decode(token).ok()?).ok()?;
    let key = match decoded.split_once(':') {
        Some((user, "")) => user,
        Some(("", pass)) => pass,
        Some(_) => return None,
        None => decoded.as_str(),
    };
    ApiKey::parse(key)
}

/// Who calls a write endpoint, which says what a key is scoped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A private API key: its tenant.
    Merchant,
    /// A bearer token: its tenant and `sub`.
    User,
    /// The transparent redirect: the public key's tenant and the customer. Without a key,
    /// a double submit of the same card within `vault::once::DOUBLE_SUBMIT_WINDOW` is one request.
    Redirect,
}

/// Each [`Caller`] as a type, for the write endpoints (`App::serve_write(caller::Merchant,
/// …)`): the idempotency guard is compiled for that caller alone, so that a merchant
/// endpoint's binary carries no bearer-token or redirect-form code by construction, not by
/// the optimizer's grace (`make bench` saw no size change: fat LTO had already dropped them).
pub mod caller {
    use super::Caller;

    pub trait Kind: Copy + Send + Sync + 'static {
        const CALLER: Caller;
    }

    /// A private API key: its tenant.
    #[derive(Clone, Copy, Debug)]
    pub struct Merchant;
    /// A bearer token: its tenant and `sub`.
    #[derive(Clone, Copy, Debug)]
    pub struct User;
    /// The transparent redirect: the public key's tenant and the customer.
    #[derive(Clone, Copy, Debug)]
    pub struct Redirect;

    impl Kind for Merchant {
        const CALLER: Caller = Caller::Merchant;
    }
    impl Kind for User {
        const CALLER: Caller = Caller::User;
    }
    impl Kind for Redirect {
        const CALLER: Caller = Caller::Redirect;
    }
}

/// The private API key of a merchant API request. Whether it is worth anything is the
/// vault's question (`vault::callers`).
pub fn merchant_key(req: &Request) -> Result<ApiKey, Error> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthorized(
            "Missing Authorization header; send Authorization: Basic <API key>.",
        ))?;
    basic_api_key(header).ok_or(Error::Unauthorized(
        "Malformed Authorization header; send Authorization: Basic <API key>.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "cvk_abcDEF123";

    #[test]
    fn raw_key_as_in_fusebill_samples() {
        let k = basic_api_key(&format!("Basic {KEY}")).unwrap();
        assert_eq!(k.reveal(), KEY);
        assert!(basic_api_key(&format!("basic   {KEY} ")).is_some());
    }

    #[test]
    fn base64_user_or_password() {
        for pair in [format!("{KEY}:"), format!(":{KEY}"), KEY.to_string()] {
            let header = format!("Basic {}", STANDARD.encode(pair));
            assert_eq!(basic_api_key(&header).unwrap().reveal(), KEY);
        }
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert!(basic_api_key(&format!("Bearer {KEY}")).is_none());
        assert!(basic_api_key("Basic").is_none());
        assert!(basic_api_key("Basic !!!").is_none());
        let both = STANDARD.encode("user:pass");
        assert!(basic_api_key(&format!("Basic {both}")).is_none());
    }
}
