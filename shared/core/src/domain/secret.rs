//! Secret values. Their `Debug` prints a placeholder and they have no `Display`,
//! so a key or token cannot end up in a log line by accident.

use std::fmt;

use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
pub use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A merchant's private API key, as presented in `Authorization: Basic`.
/// Only its [`KeyHash`] is ever stored.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub const PREFIX: &'static str = "cvk_";
    const RANDOM_LEN: usize = 40;
    const MAX_LEN: usize = 128;

    /// A new key: the prefix and 40 alphanumerics from the OS RNG (about 238 bits).
    pub fn generate() -> Self {
        let random: String = (&mut OsRng)
            .sample_iter(&Alphanumeric)
            .take(Self::RANDOM_LEN)
            .map(char::from)
            .collect();
        Self(SecretString::from(format!("{}{random}", Self::PREFIX)))
    }

    /// Accepts any printable ASCII token of sane length; whether it exists is the store's question.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(
            self.0.expose_secret().as_bytes(),
        )))
    }

    /// The key itself: for the one time the admin CLI shows it, never for logs.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

/// Hex SHA-256 of an API key. A hash of a 238-bit random key needs no salt or KDF:
/// there is nothing to brute-force.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, so timing tells nothing about how much of a hash matched.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// A random token for public identifiers (public API keys, key ids).
pub fn random_token(prefix: &str, len: usize) -> String {
    let random: String = (&mut OsRng)
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Public keys and key ids: the prefix, then `len` random letters and digits, never
    /// the same twice.
    #[test]
    fn a_random_token_is_its_prefix_and_fresh_alphanumerics() {
        let a = random_token("pk_", 24);
        let b = random_token("pk_", 24);
        assert_ne!(a, b);
        for t in [&a, &b] {
            let rest = t.strip_prefix("pk_").expect("the prefix");
            assert_eq!(rest.len(), 24);
            assert!(rest.bytes().all(|c| c.is_ascii_alphanumeric()), "{t}");
        }
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = ApiKey::generate();
        let printed = format!("{key:?}");
        assert!(!printed.contains(key.reveal()));
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn generated_keys_are_unique_and_prefixed() {
        let (a, b) = (ApiKey::generate(), ApiKey::generate());
        assert!(a.reveal().starts_with(ApiKey::PREFIX));
        assert_eq!(a.reveal().len(), ApiKey::PREFIX.len() + 40);
        assert_ne!(a.reveal(), b.reveal());
    }

    #[test]
    fn hash_is_sha256_hex() {
        let key = ApiKey::parse("abc").unwrap();
        assert_eq!(
            key.hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(key.hash().ct_eq(&ApiKey::parse(" abc ").unwrap().hash()));
        assert!(!key.hash().ct_eq(&ApiKey::parse("abd").unwrap().hash()));
    }

    #[test]
    fn parse_rejects_empty_control_and_oversize() {
        assert!(ApiKey::parse("").is_none());
        assert!(ApiKey::parse("a\u{7}b").is_none());
        assert!(ApiKey::parse("ké").is_none());
        assert!(ApiKey::parse(&"a".repeat(129)).is_none());
    }
}
