//! The parts of Stripe's objects cardvault reads. Unknown fields are ignored.

use serde::Deserialize;

/// A customer's source: a card or a bank account, told apart by `object`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum Source {
    Card(Card),
    BankAccount(BankAccount),
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Card {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub exp_month: Option<u8>,
    #[serde(default)]
    pub exp_year: Option<u16>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub address_city: Option<String>,
    #[serde(default)]
    pub address_state: Option<String>,
    #[serde(default)]
    pub address_zip: Option<String>,
    #[serde(default)]
    pub address_country: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub funding: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BankAccount {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub routing_number: Option<String>,
    #[serde(default)]
    pub account_holder_name: Option<String>,
    #[serde(default)]
    pub account_holder_type: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}
