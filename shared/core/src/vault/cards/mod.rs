//! A customer's cards (and the merchant API's bank accounts): every way one arrives, how
//! they are read, removed, and which one is the default.
//!
//! The customer's `defaultPaymentMethodId` is the one source of truth for the default
//! (Fusebill's `isDefault`, EmbedThis's `current`).

mod add;
mod attach;
mod default;
mod import;
mod list;
mod remove;
mod setup;
mod stripe_js;

pub use add::{Added, Collection, COLLECTION_DECLINED, COLLECTION_UNKNOWN};
// The inputs, owned by the domain, under the operations' names too.
pub use crate::domain::{ImportRequest, NewTokenCard};
pub use list::{CardPage, Page, PageFrom, CURSOR_LIFETIME, PAGE_SIZE_MAX};
pub(crate) use setup::Saved;
pub use setup::Settled;

use super::Vault;
use crate::domain::{
    account_ref_of, geo, limits, CardBrand, Customer, Holder, Instrument, PaymentMethod,
    PaymentMethodId, TenantId, Text,
};
use crate::error::Error;
use crate::ports::{Card, PaymentMethodStore, Ports};

/// A payment method with what its customer says about it.
#[derive(Clone, Debug)]
pub struct CardView {
    pub payment_method: PaymentMethod,
    /// The customer's default (Fusebill) or current (EmbedThis) card.
    pub is_default: bool,
    /// The billing account (`account:<id>` reference) the card belongs to, if any.
    pub account: Option<String>,
}

impl CardView {
    pub fn of(payment_method: PaymentMethod, customer: &Customer) -> Self {
        Self {
            is_default: customer.default_payment_method_id == Some(payment_method.id),
            account: account_ref_of(customer).map(str::to_owned),
            payment_method,
        }
    }
}

pub(crate) fn payment_method_not_found(id: PaymentMethodId) -> Error {
    Error::not_found("Payment method", id)
}

pub(crate) fn card_not_found(id: PaymentMethodId) -> Error {
    Error::not_found("Card", id)
}

/// A payment method found by id alone, with its customer and all the customer's payment
/// methods (itself included).
type ById = (PaymentMethod, Customer, Vec<PaymentMethod>);

impl<P: Ports> Vault<P> {
    /// A payment method of the tenant by id alone. Round trips: the index Query that names
    /// its customer (the index holds no card data), then one Query of that customer's
    /// partition: the customer and its payment methods.
    async fn by_id(&self, tenant: &TenantId, id: PaymentMethodId) -> Result<Option<ById>, Error> {
        let Some(customer) = self.store.locate_payment_method(tenant, id).await? else {
            return Ok(None);
        };
        let Some((customer, methods)) = self
            .store
            .customer_with_payment_methods(tenant, customer)
            .await?
        else {
            return Ok(None);
        };
        // A card waiting for its authentication is not on file: read as absent.
        let pm = methods
            .iter()
            .find(|p| p.id == id && p.is_on_file())
            .cloned();
        Ok(pm.map(|pm| (pm, customer, methods)))
    }

    /// One payment method of the tenant, with its customer's view of it.
    pub async fn payment_method(
        &self,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<CardView, Error> {
        let (pm, customer, _) = self
            .by_id(tenant, id)
            .await?
            .ok_or_else(|| payment_method_not_found(id))?;
        Ok(CardView::of(pm, &customer))
    }

    /// A card of `account` (not a bank account): any other card answers as a missing one.
    pub async fn account_card_view(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
    ) -> Result<CardView, Error> {
        let (card, customer) = self.account_card(tenant, account, id).await?;
        Ok(CardView::of(card, &customer))
    }

    /// A card of `account` only: any other card answers as a missing one.
    pub async fn account_card(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
    ) -> Result<(PaymentMethod, Customer), Error> {
        let (card, customer, _) = self.account_card_with_others(tenant, account, id).await?;
        Ok((card, customer))
    }

    /// A card of `account` only, with every payment method of its customer.
    async fn account_card_with_others(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
    ) -> Result<ById, Error> {
        self.by_id(tenant, id)
            .await?
            .filter(|(card, customer, _)| {
                card.is_card_on_file() && account_ref_of(customer) == Some(account)
            })
            .ok_or_else(|| card_not_found(id))
    }

    /// The payment method a dedupe marker points at, read consistently in the customer's
    /// partition (the marker was just read consistently; an index may lag).
    async fn existing_view(
        &self,
        tenant: &TenantId,
        customer: &Customer,
        id: PaymentMethodId,
    ) -> Result<CardView, Error> {
        let pm = self
            .store
            .payment_method_of(customer.id, id)
            .await?
            .filter(|pm| &pm.tenant_id == tenant)
            .ok_or_else(|| Error::bug(format!("dedupe marker points at missing {id}")))?;
        Ok(CardView::of(pm, customer))
    }
}

/// "Karen Wood" → ("Karen", "Wood"); "Cher" → ("Cher", none).
fn split_name(name: Option<&str>) -> (Option<Text>, Option<Text>) {
    let name = name.unwrap_or("").trim();
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    (
        Text::from_external(Some(first), limits::NAME_MAX),
        Text::from_external(Some(last), limits::NAME_MAX),
    )
}

/// A Stripe card as the vault keeps it: the card's fields, and its holder's names and
/// address (Stripe's country and state matched to `countryId`/`stateId`). `Err` names what
/// Stripe left out.
pub(crate) fn card_parts(card: &Card) -> Result<(Instrument, Holder), &'static str> {
    let (first_name, last_name) = split_name(card.name.as_deref());
    let (country_id, state_id) = geo::from_stripe_address(
        card.address_country.as_deref(),
        card.address_state.as_deref(),
    );
    let holder = Holder {
        first_name,
        last_name,
        address1: Text::from_external(card.address_line1.as_deref(), limits::ADDRESS_MAX),
        address2: Text::from_external(card.address_line2.as_deref(), limits::ADDRESS_MAX),
        city: Text::from_external(card.address_city.as_deref(), limits::ADDRESS_MAX),
        postal_zip: Text::from_external(card.address_zip.as_deref(), limits::POSTAL_MAX),
        country_id,
        state_id,
    };
    let instrument = Instrument::Card {
        brand: CardBrand::from_stripe(card.brand.as_deref().unwrap_or("")),
        first6: None,
        exp_month: card.exp_month.ok_or("expiry month")?,
        exp_year: card.exp_year.ok_or("expiry year")?,
    };
    Ok((instrument, holder))
}

/// Stripe's last four digits, if they are four digits.
pub(crate) fn checked_last4(last4: Option<String>) -> Option<String> {
    last4.filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_the_first_space() {
        let (f, l) = split_name(Some("Mary Ann Smith"));
        assert_eq!(f.unwrap().as_str(), "Mary");
        assert_eq!(l.unwrap().as_str(), "Ann Smith");
        let (f, l) = split_name(Some("Cher"));
        assert_eq!(f.unwrap().as_str(), "Cher");
        assert!(l.is_none());
        assert_eq!(split_name(None), (None, None));
    }

    #[test]
    fn last4_must_be_four_digits() {
        assert_eq!(checked_last4(Some("4242".into())).as_deref(), Some("4242"));
        for bad in ["424", "42424", "42a2", ""] {
            assert_eq!(checked_last4(Some(bad.into())), None);
        }
    }
}
