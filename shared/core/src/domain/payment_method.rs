use serde::{Deserialize, Serialize};

use super::{CustomerId, PaymentMethodId, TenantId, Text, Timestamp};

/// Card brands, named as Fusebill names them on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardBrand {
    Visa,
    MasterCard,
    AmericanExpress,
    Discover,
    #[serde(rename = "JCB")]
    Jcb,
    Diners,
    UnionPay,
    Unknown,
}

impl CardBrand {
    /// Fusebill's spelling: `Visa`, `MasterCard`, `AmericanExpress`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "Visa",
            Self::MasterCard => "MasterCard",
            Self::AmericanExpress => "AmericanExpress",
            Self::Discover => "Discover",
            Self::Jcb => "JCB",
            Self::Diners => "Diners",
            Self::UnionPay => "UnionPay",
            Self::Unknown => "Unknown",
        }
    }

    /// From Stripe's `brand` (`"American Express"`, `"Diners Club"`, …) or its
    /// PaymentMethod spelling (`"amex"`, `"diners"`, …).
    pub fn from_stripe(brand: &str) -> Self {
        let key: String = brand
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "visa" => Self::Visa,
            "mastercard" => Self::MasterCard,
            "americanexpress" | "amex" => Self::AmericanExpress,
            "discover" => Self::Discover,
            "jcb" => Self::Jcb,
            "dinersclub" | "diners" => Self::Diners,
            "unionpay" => Self::UnionPay,
            _ => Self::Unknown,
        }
    }
}

/// What the payment method is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Instrument {
    #[serde(rename_all = "camelCase")]
    Card {
        brand: CardBrand,
        /// The BIN, where known (cards entered through the transparent redirect).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first6: Option<String>,
        exp_month: u8,
        /// Four digits.
        exp_year: u16,
    },
    #[serde(rename_all = "camelCase")]
    Ach {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bank_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routing_number: Option<String>,
    },
}

/// The holder's names and address: the AVS fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_zip: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_id: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_id: Option<u32>,
}

/// The expiry as the client wrote it: the billing card API's `month` and `year`, strings
/// in its document (`"08"`, `"30"`), shown back exactly as sent. The numbers in
/// [`Instrument::Card`] are what the rules use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryAsSent {
    pub month: String,
    pub year: String,
}

/// Where the payment method lives at Stripe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeRef {
    pub customer_id: String,
    /// `card_…`, `ba_…` or `pm_…`.
    pub source_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Active,
    /// Saved through a SetupIntent that waits for the cardholder's authentication (3-D
    /// Secure): not on file until it succeeds ([`PendingSetup`]). Never listed, charged,
    /// counted or made the default.
    Pending,
}

/// How long a card may wait for its authentication: after this it is gone (unlisted at
/// once, and its item deleted by the table's time to live), and entering it again starts
/// afresh. Stripe's challenge pages time out well inside it.
pub const PENDING_WINDOW: time::Duration = time::Duration::hours(1);

/// A card waiting for its authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSetup {
    /// `seti_…`: what the webhook and the confirm call name.
    pub setup_intent: String,
    /// Whether the card becomes the default once authenticated (the add request's own
    /// default rule, applied then).
    pub make_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// A customer's card or bank account. Whether it is the default is not stored here:
/// the customer's `defaultPaymentMethodId` is the one source of truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub customer_id: CustomerId,
    pub tenant_id: TenantId,
    pub instrument: Instrument,
    pub last4: String,
    pub holder: Holder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe: Option<StripeRef>,
    /// The Stripe connection `stripe` points into ([`super::StripeConnection::label`]),
    /// set when re-homing moved the card there. `None`: wherever the tenant's connection
    /// was when the card was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_home: Option<String>,
    /// True when the PAN is held (encrypted) by cardvault itself.
    #[serde(default)]
    pub stored_in_vault: bool,
    /// The PAN, AES-256-GCM under a versioned vault key (transparent-redirect cards only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_pan: Option<super::EncryptedPan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub status: Status,
    /// Set while [`Status::Pending`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingSetup>,
    /// The SetupIntent (`seti_…`) a card that waited for its authentication was saved by:
    /// kept once it is active, so that the page's confirm, arriving after the webhook,
    /// still finds its card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_intent: Option<String>,
    #[serde(default)]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Stripe's code for the last failed charge, when it gave one (`authentication_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// The email the card was entered with (the transparent redirect's `email`), echoed
    /// back as Fusebill does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_as_sent: Option<ExpiryAsSent>,
    /// The newest Stripe events applied to the card's details and to its charges: an older
    /// event of the same kind, or one already taken, changes nothing
    /// (`domain::stripe_event`, webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_card_events: Option<super::EventClock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_charge_events: Option<super::ChargeClock>,
    /// The one clock cards had before there were two: kept until the next Stripe event
    /// folds it into both (`apply_stripe`).
    #[serde(
        default,
        rename = "stripeEventAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub legacy_stripe_event_at: Option<i64>,
    /// Stripe said the card expires soon (`customer.source.expiring`); a new expiry from
    /// Stripe clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stripe_expiring: bool,
    /// When Stripe said the card is gone there (deleted, detached, or its customer deleted).
    /// The card stays in the vault, marked, and is no longer the default.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub removed_at_stripe: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub modified_at: Timestamp,
}

/// The parts of a new payment method whose card is held at Stripe.
pub struct AtStripe {
    pub id: PaymentMethodId,
    pub at: Timestamp,
    pub customer_id: CustomerId,
    pub tenant_id: TenantId,
    pub instrument: Instrument,
    pub last4: String,
    pub holder: Holder,
    pub stripe: StripeRef,
    pub fingerprint: Option<String>,
}

impl PaymentMethod {
    /// A new, active payment method whose card Stripe holds (imported, or attached from a
    /// token): nothing in cardvault's own vault (until a caller seals the PAN there), no
    /// failures yet.
    pub fn at_stripe(parts: AtStripe) -> Self {
        let at = parts.at;
        Self {
            id: parts.id,
            customer_id: parts.customer_id,
            tenant_id: parts.tenant_id,
            instrument: parts.instrument,
            last4: parts.last4,
            holder: parts.holder,
            stripe: Some(parts.stripe),
            stripe_home: None,
            stored_in_vault: false,
            encrypted_pan: None,
            fingerprint: parts.fingerprint,
            status: Status::Active,
            pending: None,
            setup_intent: None,
            failures: 0,
            last_error: None,
            last_error_code: None,
            nickname: None,
            email: None,
            expiry_as_sent: None,
            stripe_card_events: None,
            stripe_charge_events: None,
            legacy_stripe_event_at: None,
            stripe_expiring: false,
            removed_at_stripe: None,
            created_at: at,
            modified_at: at,
        }
    }

    /// `************4242`: twelve stars and the last four, as Fusebill masks numbers.
    pub fn masked_number(&self) -> String {
        format!("************{}", self.last4)
    }

    pub fn is_card(&self) -> bool {
        matches!(self.instrument, Instrument::Card { .. })
    }

    /// Active: not waiting for an authentication. Only these are listed, read, charged,
    /// counted or made the default.
    pub fn is_on_file(&self) -> bool {
        self.status == Status::Active
    }

    /// A card on file (not a bank account, not pending).
    pub fn is_card_on_file(&self) -> bool {
        self.is_card() && self.is_on_file()
    }

    /// Waiting for an authentication that has not run out of time at `now`.
    pub fn pending_at(&self, now: Timestamp) -> Option<&PendingSetup> {
        self.pending
            .as_ref()
            .filter(|p| self.status == Status::Pending && p.expires_at > now)
    }

    /// Holds the card until its SetupIntent `setup_intent` succeeds.
    pub fn hold_for_authentication(&mut self, setup_intent: String, make_default: bool) {
        self.status = Status::Pending;
        self.pending = Some(PendingSetup {
            setup_intent,
            make_default,
            expires_at: self.created_at + PENDING_WINDOW,
        });
    }

    /// The card is authenticated: on file from `at`.
    pub fn activate(&mut self, at: Timestamp) {
        self.status = Status::Active;
        if let Some(p) = self.pending.take() {
            self.setup_intent = Some(p.setup_intent);
        }
        self.modified_at = at;
    }

    /// Whether SetupIntent `id` saved this card (waiting for it, or authenticated by it).
    pub fn saved_by(&self, id: &str) -> bool {
        self.pending.as_ref().is_some_and(|p| p.setup_intent == id)
            || self.setup_intent.as_deref() == Some(id)
    }

    /// Whether cardvault itself attached the card at Stripe, to the vault customer's own
    /// Stripe customer (cards entered through the redirect or made from a token): removing
    /// such a card detaches it there. A merchant's imported card sits on the merchant's
    /// Stripe customer and is left there.
    pub fn attached_by_vault(&self, customer: &super::Customer) -> bool {
        self.stored_in_vault
            || matches!(
                (&self.stripe, &customer.stripe_customer_id),
                (Some(s), Some(own)) if &s.customer_id == own
            )
    }

    /// The keys under which a customer may hold this payment method only once.
    pub fn dedupe_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(s) = &self.stripe {
            keys.push(stripe_dedupe_key(&s.source_id));
        }
        if let (true, Some(fp)) = (self.stored_in_vault, &self.fingerprint) {
            keys.push(format!("fp:{fp}"));
        }
        keys
    }
}

impl PaymentMethod {
    /// The payment method's place in its tenant's list.
    pub fn list_position(&self) -> ListPosition {
        ListPosition::of(self.created_at, self.id)
    }
}

/// A place in a tenant's list of payment methods: creation time (nanoseconds, fixed width,
/// so that it sorts as text), then id. Page cursors carry it; the store indexes by it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListPosition(String);

impl ListPosition {
    pub fn of(created_at: Timestamp, id: PaymentMethodId) -> Self {
        let t = created_at.to_offset(time::UtcOffset::UTC);
        Self(format!("{:020}#{id}", t.unix_timestamp_nanos()))
    }

    /// A position read back from a cursor this service signed.
    pub fn from_signed(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Stripe source may be imported once per customer.
pub fn stripe_dedupe_key(source_id: &str) -> String {
    format!("stripe:{source_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Customer, NewCustomer};
    use time::macros::datetime;

    fn card(stripe_customer: Option<&str>, stored_in_vault: bool) -> PaymentMethod {
        let mut pm = PaymentMethod::at_stripe(AtStripe {
            id: PaymentMethodId::try_from(7).unwrap(),
            at: datetime!(2026-01-01 0:00 UTC),
            customer_id: CustomerId::try_from(3).unwrap(),
            tenant_id: TenantId::try_from("t1".to_owned()).unwrap(),
            instrument: Instrument::Card {
                brand: CardBrand::Visa,
                first6: None,
                exp_month: 12,
                exp_year: 2030,
            },
            last4: "4242".into(),
            holder: Holder::default(),
            stripe: StripeRef {
                customer_id: stripe_customer.unwrap_or("cus_x").into(),
                source_id: "card_1".into(),
            },
            fingerprint: None,
        });
        if stripe_customer.is_none() {
            pm.stripe = None;
        }
        pm.stored_in_vault = stored_in_vault;
        pm
    }

    #[test]
    fn a_card_shows_twelve_stars_and_its_last_four() {
        assert_eq!(card(None, true).masked_number(), "************4242");
    }

    /// Fixed width, so that positions sort as text in time order, then by id.
    #[test]
    fn a_list_position_is_its_time_in_nanoseconds_then_its_id() {
        let at = datetime!(2026-01-01 0:00:00.5 UTC);
        let id = PaymentMethodId::try_from(7).unwrap();
        let p = ListPosition::of(at, id);
        assert_eq!(p.as_str(), "01767225600500000000#7");
        assert_eq!(ListPosition::from_signed(p.as_str().to_owned()), p);
        assert!(ListPosition::of(datetime!(2025-12-31 23:59 UTC), id) < p);
    }

    fn customer(own_stripe_customer: Option<&str>) -> Customer {
        Customer {
            id: CustomerId::try_from(3).unwrap(),
            tenant_id: TenantId::try_from("t1".to_owned()).unwrap(),
            details: NewCustomer::default(),
            default_payment_method_id: None,
            external_ref: Some("account:a1".into()),
            stripe_customer_id: own_stripe_customer.map(str::to_owned),
            created_at: datetime!(2026-01-01 0:00 UTC),
            modified_at: datetime!(2026-01-01 0:00 UTC),
        }
    }

    #[test]
    fn cardvault_attached_a_vault_card_or_one_on_the_customers_own_stripe_customer() {
        // Entered through the redirect: always.
        assert!(card(Some("cus_own"), true).attached_by_vault(&customer(None)));
        assert!(card(None, true).attached_by_vault(&customer(Some("cus_own"))));
        // From a token, on the vault customer's own Stripe customer.
        assert!(card(Some("cus_own"), false).attached_by_vault(&customer(Some("cus_own"))));
        // Imported from the merchant's Stripe customer: not cardvault's to detach.
        for (pm, c) in [
            (card(Some("cus_merchant"), false), customer(Some("cus_own"))),
            (card(Some("cus_merchant"), false), customer(None)),
            (card(None, false), customer(Some("cus_own"))),
            (card(None, false), customer(None)),
        ] {
            assert!(
                !pm.attached_by_vault(&c),
                "{:?} {:?}",
                pm.stripe,
                c.stripe_customer_id
            );
        }
    }

    #[test]
    fn stripe_brands_map_to_fusebill_names() {
        for (stripe, fusebill) in [
            ("Visa", "Visa"),
            ("MasterCard", "MasterCard"),
            ("mastercard", "MasterCard"),
            ("American Express", "AmericanExpress"),
            ("amex", "AmericanExpress"),
            ("Discover", "Discover"),
            ("JCB", "JCB"),
            ("Diners Club", "Diners"),
            ("UnionPay", "UnionPay"),
            ("Cartes Bancaires", "Unknown"),
        ] {
            assert_eq!(
                CardBrand::from_stripe(stripe).as_str(),
                fusebill,
                "{stripe}"
            );
        }
    }
}
