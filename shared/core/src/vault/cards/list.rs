//! Reading many cards: a customer's, paged by number (merchant API), and an account's,
//! paged by signed cursors (billing card API).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};

use super::{CardView, Vault};
use crate::domain::{account_ref, CustomerId, ListPosition, PaymentMethod, TenantId};
use crate::error::Error;
use crate::ports::{Clock, CustomerStore, KeyService, PaymentMethodStore, Ports};

pub const PAGE_SIZE_MAX: usize = 100;

/// How long a `/card/find` cursor pages after its page was served: long enough to page
/// through an account at a person's pace, short enough that a cursor copied out of a log,
/// a proxy or a browser's history is useless soon after.
pub const CURSOR_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Fusebill-style paging: `pageNumber` counts from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub number: usize,
    pub size: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            number: 0,
            size: 20,
        }
    }
}

/// Where a tenant-wide page starts.
pub enum PageFrom {
    Start,
    /// A `next` cursor: older cards.
    Next(String),
    /// A `prev` cursor: newer cards.
    Prev(String),
}

/// One page of an account's cards, newest first, with cursors to the pages around it.
pub struct CardPage {
    pub cards: Vec<CardView>,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// An opaque page cursor: where to continue, for which tenant and account, in which
/// direction, signed so that no one can forge one (to read another account, or to jump
/// anywhere).
#[derive(Serialize, Deserialize)]
struct Cursor {
    t: String,
    a: String,
    k: String,
    /// "n": next (older), "p": previous (newer).
    d: String,
    /// Issued at (Unix seconds, the vault's clock): [`CURSOR_LIFETIME`]. Required: a cursor
    /// signed before cursors expired has none and is refused.
    i: i64,
}

const CURSOR_PURPOSE: &str = "card-find-cursor";

fn invalid_cursor() -> Error {
    Error::BadRequest("The cursor is not valid; start again without one.".into())
}

fn expired_cursor() -> Error {
    Error::BadRequest("The cursor has expired; start again without one.".into())
}

impl<P: Ports> Vault<P> {
    /// A customer's cards, newest first, one page of them, and how many there are in all.
    /// One Query reads the customer with every payment method it has.
    pub async fn list_cards(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        page: Page,
    ) -> Result<(Vec<CardView>, usize), Error> {
        let (customer, mut methods) = self
            .store
            .customer_with_payment_methods(tenant, customer)
            .await?
            .ok_or_else(|| Error::not_found("Customer", customer))?;
        methods.retain(PaymentMethod::is_card_on_file);
        methods.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        let total = methods.len();
        let views = methods
            .into_iter()
            .skip(page.number.saturating_mul(page.size))
            .take(page.size)
            .map(|pm| CardView::of(pm, &customer))
            .collect();
        Ok((views, total))
    }

    /// One page of an account's cards that `keep` holds for, newest first. Round trips:
    /// the account's customer by its reference (two GetItems), then one Query of its
    /// partition: an account holds a handful of cards, so `keep` and the page are applied in
    /// memory, `keep` first (a page holds `limit` kept cards while that many are left).
    pub async fn find_cards(
        &self,
        tenant: &TenantId,
        account: &str,
        limit: usize,
        from: PageFrom,
        keep: impl Fn(&CardView) -> bool + Send,
    ) -> Result<CardPage, Error> {
        let (after, newest_first) = match &from {
            PageFrom::Start => (None, true),
            PageFrom::Next(raw) => (
                Some(self.decode_cursor(raw, tenant, account, "n").await?),
                true,
            ),
            PageFrom::Prev(raw) => (
                Some(self.decode_cursor(raw, tenant, account, "p").await?),
                false,
            ),
        };
        let empty = || CardPage {
            cards: Vec::new(),
            next: None,
            prev: None,
        };
        // The reference's id, then one Query of its partition, which holds the customer
        // too: two round trips (reading the customer on its own as well made three).
        let Some(id) = self
            .store
            .customer_id_by_external_ref(tenant, &account_ref(account))
            .await?
        else {
            return Ok(empty());
        };
        // A customer deleted since its reference was read has no cards.
        let Some((customer, mut cards)) =
            self.store.customer_with_payment_methods(tenant, id).await?
        else {
            return Ok(empty());
        };
        cards.retain(PaymentMethod::is_card_on_file);
        cards.sort_by_key(PaymentMethod::list_position);
        if newest_first {
            cards.reverse();
        }
        // Strictly beyond the cursor, in the direction of travel.
        cards.retain(|c| match &after {
            Some(a) if newest_first => c.list_position() < *a,
            Some(a) => c.list_position() > *a,
            None => true,
        });
        let mut cards: Vec<CardView> = cards
            .into_iter()
            .map(|c| CardView::of(c, &customer))
            .filter(|view| keep(view))
            .collect();
        let more = cards.len() > limit;
        cards.truncate(limit);
        if !newest_first {
            cards.reverse();
        }
        // Going forward, "more" means older cards exist; going back, newer ones.
        let (has_older, has_newer) = match from {
            PageFrom::Start => (more, false),
            PageFrom::Next(_) => (more, true),
            PageFrom::Prev(_) => (true, more),
        };
        let next = match cards.last().filter(|_| has_older) {
            Some(c) => Some(
                self.encode_cursor(tenant, account, &c.payment_method, "n")
                    .await?,
            ),
            None => None,
        };
        let prev = match cards.first().filter(|_| has_newer) {
            Some(c) => Some(
                self.encode_cursor(tenant, account, &c.payment_method, "p")
                    .await?,
            ),
            None => None,
        };
        Ok(CardPage { cards, next, prev })
    }

    async fn encode_cursor(
        &self,
        tenant: &TenantId,
        account: &str,
        at: &PaymentMethod,
        direction: &str,
    ) -> Result<String, Error> {
        let cursor = Cursor {
            t: tenant.to_string(),
            a: account.to_owned(),
            k: at.list_position().as_str().to_owned(),
            d: direction.into(),
            i: self.clock.now().unix_timestamp(),
        };
        let body = serde_json::to_vec(&cursor).map_err(|e| Error::internal("cursor", e))?;
        let mac = self.keys.sign(CURSOR_PURPOSE, &body).await?;
        Ok(format!("{}.{mac}", URL_SAFE_NO_PAD.encode(&body)))
    }

    async fn decode_cursor(
        &self,
        raw: &str,
        tenant: &TenantId,
        account: &str,
        direction: &str,
    ) -> Result<ListPosition, Error> {
        let (body, mac) = raw.split_once('.').ok_or_else(invalid_cursor)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid_cursor())?;
        if !self.keys.verify(CURSOR_PURPOSE, &body, mac).await? {
            return Err(invalid_cursor());
        }
        let cursor: Cursor = serde_json::from_slice(&body).map_err(|_| invalid_cursor())?;
        // Another tenant's or account's cursor, or a `prev` cursor given as `next`, is not
        // this page's.
        if cursor.t != tenant.as_str() || cursor.a != account || cursor.d != direction {
            return Err(invalid_cursor());
        }
        let age = self.clock.now().unix_timestamp().saturating_sub(cursor.i);
        if age > CURSOR_LIFETIME.as_secs() as i64 {
            return Err(expired_cursor());
        }
        Ok(ListPosition::from_signed(cursor.k))
    }
}
