use std::fmt;

use rand::{rngs::OsRng, Rng};
use serde::{Deserialize, Serialize};

/// The largest integer a JSON client (JavaScript's `Number`) holds exactly: 2^53 − 1.
pub const MAX_JSON_SAFE_INT: u64 = (1 << 53) - 1;

/// A positive, JSON-safe numeric id. Ids are random rather than sequential: one
/// conditional write allocates one (no counter item to round-trip to), and ids say
/// nothing about a tenant's volume.
macro_rules! json_safe_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name(u64);

        impl $name {
            /// The smallest id: a placeholder until the real one is known.
            pub const MIN: Self = Self(1);

            /// Never a number that passes the Luhn check: no id this service issues looks
            /// like a card number (to a DLP scanner, or to the fuzzing's `no_card_echo`).
            pub fn random() -> Self {
                loop {
                    let n = OsRng.gen_range(1_000_000..=MAX_JSON_SAFE_INT);
                    if !super::card::luhn_ok(&n.to_string()) {
                        return Self(n);
                    }
                }
            }

            pub fn get(self) -> u64 {
                self.0
            }

            /// Parses a path segment such as `12345`.
            pub fn parse(raw: &str) -> Option<Self> {
                if raw.is_empty() || raw.len() > 16 || !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                raw.parse::<u64>().ok().and_then(|n| Self::try_from(n).ok())
            }
        }

        impl TryFrom<u64> for $name {
            type Error = String;

            fn try_from(n: u64) -> Result<Self, Self::Error> {
                if (1..=MAX_JSON_SAFE_INT).contains(&n) {
                    Ok(Self(n))
                } else {
                    Err(format!("must be an integer from 1 to {MAX_JSON_SAFE_INT}"))
                }
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

json_safe_id!(
    /// A customer's id, as Fusebill-style clients expect it.
    CustomerId
);
json_safe_id!(
    /// A payment method's (card's or bank account's) id.
    PaymentMethodId
);

/// A tenant's id: a short slug chosen by the operator (`demo-a`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s))
        } else {
            Err("a tenant id is 1 to 64 of a-z, 0-9 and '-', not starting with '-'".into())
        }
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_id_is_positive_and_json_safe() {
        assert!(CustomerId::try_from(0).is_err());
        assert!(CustomerId::try_from(MAX_JSON_SAFE_INT).is_ok());
        assert!(CustomerId::try_from(MAX_JSON_SAFE_INT + 1).is_err());
        for _ in 0..1000 {
            let id = CustomerId::random().get();
            assert!((1_000_000..=MAX_JSON_SAFE_INT).contains(&id));
            assert!(!crate::domain::card::luhn_ok(&id.to_string()), "{id}");
        }
    }

    #[test]
    fn customer_id_parses_digits_only() {
        assert_eq!(CustomerId::parse("42").map(CustomerId::get), Some(42));
        for bad in [
            "",
            "0",
            "-1",
            "1.5",
            "abc",
            " 1",
            "+1",
            "99999999999999999999",
        ] {
            assert!(CustomerId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(serde_json::from_str::<CustomerId>("9007199254740992").is_err());
        assert!(serde_json::from_str::<CustomerId>("\"5\"").is_err());
    }

    #[test]
    fn tenant_id_is_a_slug() {
        let id = TenantId::try_from("demo-a".to_string()).unwrap();
        assert_eq!(String::from(id), "demo-a");
        for bad in ["", "-a", "Demo", "a b", "a#b", &"a".repeat(65)] {
            assert!(TenantId::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
    }
}
