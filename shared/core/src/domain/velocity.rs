//! The transparent redirect's card-testing limits: how many attempts one source IP, one
//! public key and one customer may make in a window, and how many declines lock a
//! customer's redirect until the window ends. A tenant stores only what it overrides.

use serde::{Deserialize, Serialize};

/// The defaults, for a tenant that overrides nothing (README, "Card-testing limits").
pub const DEFAULT_WINDOW_SECS: u32 = 3600;
pub const DEFAULT_PER_IP: u32 = 20;
pub const DEFAULT_PER_PUBLIC_KEY: u32 = 1000;
pub const DEFAULT_PER_CUSTOMER: u32 = 10;
pub const DEFAULT_DECLINES: u32 = 5;

/// A tenant's overrides; `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VelocityLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_ip: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_public_key: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_customer: Option<u32>,
    /// Declines in a window that lock the customer's redirect for the rest of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declines: Option<u32>,
}

impl VelocityLimits {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// At least one second: a zero window would put every attempt in a window of its own.
    /// These limits with `overrides` applied: each limit given replaces this one, each not
    /// given is kept; with `reset`, from the defaults instead. A zero window is refused:
    /// [`VelocityLimits::window_secs`] would read it as one second, not as what was meant.
    pub fn overridden(&self, overrides: &VelocityLimits, reset: bool) -> Result<Self, String> {
        let base = if reset { Self::default() } else { self.clone() };
        let v = Self {
            window_secs: overrides.window_secs.or(base.window_secs),
            per_ip: overrides.per_ip.or(base.per_ip),
            per_public_key: overrides.per_public_key.or(base.per_public_key),
            per_customer: overrides.per_customer.or(base.per_customer),
            declines: overrides.declines.or(base.declines),
        };
        if v.window_secs == Some(0) {
            return Err("--window-secs must be at least 1".into());
        }
        Ok(v)
    }

    pub fn window_secs(&self) -> u32 {
        self.window_secs.unwrap_or(DEFAULT_WINDOW_SECS).max(1)
    }

    pub fn per_ip(&self) -> u32 {
        self.per_ip.unwrap_or(DEFAULT_PER_IP)
    }

    pub fn per_public_key(&self) -> u32 {
        self.per_public_key.unwrap_or(DEFAULT_PER_PUBLIC_KEY)
    }

    pub fn per_customer(&self) -> u32 {
        self.per_customer.unwrap_or(DEFAULT_PER_CUSTOMER)
    }

    pub fn declines(&self) -> u32 {
        self.declines.unwrap_or(DEFAULT_DECLINES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant that overrides nothing stores no limits (`Tenant`'s serde skips them).
    #[test]
    fn only_no_override_at_all_is_the_default() {
        assert!(VelocityLimits::default().is_default());
        let one = VelocityLimits {
            per_ip: Some(DEFAULT_PER_IP),
            ..VelocityLimits::default()
        };
        assert!(
            !one.is_default(),
            "an override equal to the default is still kept"
        );
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let none = VelocityLimits::default();
        assert_eq!(none.per_ip(), DEFAULT_PER_IP);
        assert_eq!(none.window_secs(), DEFAULT_WINDOW_SECS);
        let some = VelocityLimits {
            per_ip: Some(3),
            window_secs: Some(0),
            ..VelocityLimits::default()
        };
        assert_eq!(some.per_ip(), 3);
        assert_eq!(some.window_secs(), 1);
        assert_eq!(some.per_customer(), DEFAULT_PER_CUSTOMER);
        assert_eq!(
            serde_json::to_value(&some).unwrap(),
            serde_json::json!({"windowSecs": 0, "perIp": 3})
        );
        assert!(serde_json::to_value(&none).unwrap() == serde_json::json!({}));
    }
}
