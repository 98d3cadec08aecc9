use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId, TenantId, Text, Timestamp};
use crate::error::FieldError;

/// A customer of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: CustomerId,
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub details: NewCustomer,
    /// The one source of truth for which payment method is the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_payment_method_id: Option<PaymentMethodId>,
    /// Who this customer is elsewhere: `account:<id>` (billing card API), `user:<sub>`
    /// (user API). Unique within the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// The Stripe customer that holds this customer's cards, created on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub modified_at: Timestamp,
}

/// What a caller may set on a customer; every field is optional, as in Fusebill.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Text>,
}

/// The raw fields, before validation. Dialects deserialize into this.
#[derive(Debug, Default)]
pub struct CustomerFields<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub company_name: Option<&'a str>,
    pub primary_email: Option<&'a str>,
    pub reference: Option<&'a str>,
}

impl NewCustomer {
    pub const NAME_MAX: usize = super::limits::NAME_MAX;
    pub const LONG_MAX: usize = 255;

    /// Validates every field and reports all failures together, each naming its field.
    pub fn parse(fields: CustomerFields<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut take = |name: &str, raw: Option<&str>, max: usize| {
            Text::parse_optional(name, raw, max)
                .map_err(|e| errors.push(e))
                .ok()
                .flatten()
        };
        let customer = Self {
            first_name: take("firstName", fields.first_name, Self::NAME_MAX),
            last_name: take("lastName", fields.last_name, Self::NAME_MAX),
            company_name: take("companyName", fields.company_name, Self::LONG_MAX),
            primary_email: take("primaryEmail", fields.primary_email, Self::LONG_MAX),
            reference: take("reference", fields.reference, Self::LONG_MAX),
        };
        if let Some(email) = &customer.primary_email {
            if !looks_like_email(email.as_str()) {
                errors.push(FieldError::new(
                    "primaryEmail",
                    "primaryEmail must be an email address",
                ));
            }
        }
        if errors.is_empty() {
            Ok(customer)
        } else {
            Err(errors)
        }
    }
}

/// Deliberately loose: one `@`, something on each side, a dot in the domain, no spaces.
fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_trims() {
        let c = NewCustomer::parse(CustomerFields {
            first_name: Some(" Karen "),
            primary_email: Some("karen@example.com"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.first_name.unwrap().as_str(), "Karen");
        assert!(c.last_name.is_none());
    }

    #[test]
    fn reports_every_bad_field() {
        let long = "x".repeat(51);
        let errors = NewCustomer::parse(CustomerFields {
            first_name: Some(&long),
            last_name: Some("ok"),
            primary_email: Some("not-an-email"),
            reference: Some("a\u{202E}b"),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["firstName", "reference", "primaryEmail"]);
    }

    #[test]
    fn email_shape() {
        assert!(looks_like_email("a@b.co"));
        for bad in ["a", "@b.co", "a@b", "a@.b", "a@b.", "a b@c.d", "a@b@c.d"] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
