//! Safe retries: a client's `Idempotency-Key`, and the record a write keeps under it (its
//! state while it runs, then its answer), as Stripe's and Powertools' idempotency do.

use crate::error::Error;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters, as Stripe takes them.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey(String);

impl ClientKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        // `implicit:` is the redirect's own double-submit key (`vault::once`): a client key
        // must not pass for one.
        let ok = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_graphic())
            && !raw.starts_with("implicit:");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::field(
                "Idempotency-Key",
                "Idempotency-Key: must be 1 to 255 visible ASCII characters, not starting with implicit:",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// A key may be a secret of the client's making; it is never printed.
impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey([REDACTED])")
    }
}

/// A first answer, kept to be replayed byte for byte: status, headers, body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Where a keyed request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnceState {
    /// Running, until this instant (Unix milliseconds): after it, the attempt is taken as
    /// crashed and the key is free again.
    InProgress {
        until_ms: i64,
    },
    Completed(StoredResponse),
}

/// The record of one keyed request. `key` is the store's handle: a hash of the tenant, the
/// caller's scope and the client's key, never the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnceRecord {
    pub tenant: super::TenantId,
    pub key: String,
    /// SHA-256 of the request (method, path, query, body), hex: never the body.
    pub request_hash: String,
    /// Which attempt holds the record: only it may complete or release it.
    pub owner: String,
    pub state: OnceState,
    /// The replay window's end (Unix seconds), also the table's TTL attribute.
    pub expires_at: i64,
}

#[cfg(test)]
mod client_key_tests {
    use super::ClientKey;

    #[test]
    fn a_client_key_is_kept_as_sent_and_never_printed() {
        let key = ClientKey::parse("order-42/retry").unwrap();
        assert_eq!(key.as_str(), "order-42/retry");
        assert_eq!(format!("{key:?}"), "ClientKey([REDACTED])");
    }
}
