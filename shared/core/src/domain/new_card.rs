//! The ways a new card arrives, each checked at its dialect's boundary.

use super::{
    CardNumber, CustomerId, CustomerRef, Cvv, Expiry, ExpiryAsSent, Holder, SourceRef, StripeToken,
    Text,
};

/// A validated card from the transparent redirect. The CVV is held only until Stripe has it.
#[derive(Debug)]
pub struct CardEntry {
    pub number: CardNumber,
    pub cvv: Cvv,
    pub expiry: Expiry,
    pub holder: Holder,
    pub make_default: bool,
    /// `paymentCollectOptions.collectionAmount`, in minor units.
    pub collect_minor: Option<u64>,
    pub client_ip: Option<Text>,
    pub risk_token: Option<Text>,
    pub email: Option<Text>,
}

/// A card from the transparent redirect of a tenant whose browser page makes the
/// PaymentMethod with Stripe.js (`CardFlow::StripeJs`): its id, never its number.
#[derive(Debug)]
pub struct StripeJsEntry {
    /// `pm_…`.
    pub payment_method: String,
    pub holder: Holder,
    pub make_default: bool,
    pub collect_minor: Option<u64>,
    pub email: Option<Text>,
}

impl StripeJsEntry {
    /// A PaymentMethod id as Stripe writes one: `pm_` and letters and digits.
    pub fn parse_payment_method(raw: &str) -> Option<String> {
        let rest = raw.strip_prefix("pm_")?;
        let plain = !rest.is_empty()
            && rest.len() <= 250
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        plain.then(|| raw.to_owned())
    }
}

/// A card or bank account to import from a Stripe customer (the merchant API).
pub struct ImportRequest {
    pub customer_id: CustomerId,
    pub stripe_customer: CustomerRef,
    pub source: SourceRef,
}

/// A card from a Stripe token (the billing card API's `/card/create`), checked.
pub struct NewTokenCard {
    pub name: Text,
    pub last4: String,
    pub month: u8,
    pub year: u16,
    /// `month` and `year` as the client wrote them, to show back.
    pub as_sent: ExpiryAsSent,
    pub token: StripeToken,
    /// Make it the account's current card (otherwise only if it has none).
    pub current: bool,
}
