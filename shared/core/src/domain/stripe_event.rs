//! Stripe webhooks, the domain's side: the event a delivery carries, read into the one change
//! it makes to the vault ([`StripeEvent`], [`EventChange`]), and how a card takes it
//! ([`CardChange`], the event and charge clocks); the signing secrets an endpoint accepts,
//! as we store them ([`SigningSecrets`]), and why a delivery is refused.
//!
//! Stripe's wire format (the `Stripe-Signature` HMAC check, and reading an event's JSON) is
//! the Stripe adapter's, behind the [`WebhookFormat`](crate::ports::WebhookFormat) port:
//! `cardvault_stripe::webhook`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::CardBrand;

/// Where a tenant's webhook signing secrets live: `cardvault/webhook/tenant/<tenant id>`.
/// Only the webhook function may read `cardvault/webhook/*`; the other functions read
/// tenants' Stripe keys under `cardvault/tenant/*`, which does not reach here.
pub const TENANT_WEBHOOK_SECRET_PREFIX: &str = "cardvault/webhook/tenant/";
/// The platform endpoint's signing secrets, locally (the template names its own).
pub const DEFAULT_PLATFORM_WEBHOOK_SECRET_ID: &str = "cardvault/webhook/platform";

/// How far a signature's timestamp may be from now (Stripe's libraries' default).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
pub const SIGNATURE_TOLERANCE: std::time::Duration =
    std::time::Duration::from_secs(SIGNATURE_TOLERANCE_SECS as u64);

/// Why a delivery was refused. Each is a 400; the text is for our logs and the response,
/// and says nothing about our secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
    /// No signing secret is set for this endpoint: nothing can verify.
    #[error("no signing secret is set for this endpoint")]
    NoSecret,
}

/// The secrets one endpoint accepts: the value a secret holds is either one `whsec_…`
/// string or `{"secrets": ["whsec_new", "whsec_old"]}` (several while one rolls).
pub struct SigningSecrets(Vec<SecretString>);

impl SigningSecrets {
    pub fn parse(value: &SecretString) -> Self {
        let raw = value.expose_secret().trim();
        let list: Vec<String> = if raw.starts_with('{') {
            serde_json::from_str::<Value>(raw)
                .ok()
                .and_then(|v| v.get("secrets").cloned())
                .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
                .unwrap_or_default()
        } else {
            vec![raw.to_owned()]
        };
        Self(
            list.into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .map(SecretString::from)
                .collect(),
        )
    }

    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each secret, in the order stored: what a signature is checked against.
    pub fn iter(&self) -> impl Iterator<Item = &SecretString> {
        self.0.iter()
    }
}

/// A verified event, read: its id, when Stripe made it, the connected account it is about
/// (Connect events), and what it changes.
#[derive(Clone, Debug, PartialEq)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    /// Unix seconds: what orders events about one card.
    pub created: i64,
    pub account: Option<String>,
    pub change: EventChange,
}

/// A card as Stripe names it: the Stripe customer it sits on, and its own id (`card_…`,
/// `src_…`, `pm_…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeCardRef {
    pub customer: String,
    pub source: String,
}

/// A card's details from Stripe (the card updater's new expiry, last 4, brand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardDetails {
    pub brand: Option<CardBrand>,
    pub last4: Option<String>,
    pub exp_month: Option<u8>,
    pub exp_year: Option<u16>,
}

/// What an event does to the vault.
#[derive(Clone, Debug, PartialEq)]
pub enum EventChange {
    /// `customer.source.updated`, `payment_method.updated`,
    /// `payment_method.automatically_updated`.
    CardUpdated(StripeCardRef, CardDetails),
    /// `customer.source.expiring`.
    CardExpiring(StripeCardRef),
    /// `customer.source.deleted`, `payment_method.detached`.
    CardRemoved(StripeCardRef),
    /// `customer.deleted`: every card on it.
    CustomerDeleted { customer: String },
    /// `charge.failed`, `payment_intent.payment_failed`, with Stripe's message (cut, and
    /// with any run of digits long enough to be a card number masked).
    /// With Stripe's code for it, when it gives one (`authentication_required`: the issuer
    /// wants the cardholder, which an off-session charge cannot ask).
    ChargeFailed(StripeCardRef, String, Option<String>),
    /// `charge.succeeded`, `payment_intent.succeeded`.
    ChargeSucceeded(StripeCardRef),
    /// `account.application.deauthorized`: the connected account (`account`) revoked the
    /// platform's access.
    Deauthorized,
    /// `setup_intent.succeeded`, `setup_intent.setup_failed`, `setup_intent.canceled`: a
    /// pending card's authentication ended (`vault::cards::setup`).
    SetupSettled {
        customer: String,
        setup_intent: String,
        status: String,
        /// The PaymentMethod it was confirmed with (must be the card's own).
        payment_method: Option<String>,
    },
    /// Another type, or an object the vault cannot name a card from: 200, no change.
    Ignored,
}

/// The longest error message kept on a card.
pub const ERROR_MAX: usize = 500;

/// Why a verified body is still not an event.
#[derive(Debug, thiserror::Error)]
#[error("not a Stripe event: {0}")]
pub struct NotAnEvent(pub &'static str);

impl StripeEvent {
    /// Whether the event says it was made later than its signature allows. Stripe makes
    /// an event before it signs a delivery of it, so only a signer's clock or a forgery
    /// dates it later; kept, it would set a card's event clock in the future and every
    /// genuine event after it would be dropped as stale.
    pub fn dated_after(&self, signed_at: i64) -> bool {
        self.created > signed_at.saturating_add(SIGNATURE_TOLERANCE_SECS)
    }
}

/// Stripe's message, kept short, with any run of 12 or more digits masked: an error
/// message is shown to callers and must never carry a card number, whatever Stripe put in
/// it. A run may have up to [`MAX_GAP`] separators (spaces, dashes, dots, slashes…) between
/// its digits, as numbers are written (`4242 4242…`, `4242.4242…`, `4242 - 4242…`); a
/// letter ends it.
pub fn safe_message(message: &str) -> String {
    // Masked before it is cut, so that a number across the cut is masked whole; a message
    // longer than twice the limit is cut first (the rest is never shown).
    let chars: Vec<char> = message.chars().take(2 * ERROR_MAX).collect();
    let cut = message.chars().nth(2 * ERROR_MAX).is_some();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (end, digits) = digit_run(&chars, i);
        if digits >= 12 || (cut && end == chars.len()) {
            // A run cut by the limit might be the start of a number: masked too.
            out.extend("[redacted]".chars());
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    if out.len() > ERROR_MAX {
        out.truncate(ERROR_MAX);
        // Digits left at the cut are part of a run that went on.
        while out.last().is_some_and(|c| is_digit(*c) || is_separator(*c)) {
            out.pop();
        }
    }
    out.into_iter().collect()
}

/// A digit, of any script (Stripe's are ASCII; a forged message need not be).
fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// Separators a digit run may have in a row.
const MAX_GAP: usize = 3;

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '/'
                | '_'
                | ':'
                | ','
                | '*'
                | '|'
                | '+'
                | '\u{00AD}'
                | '\u{200B}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// The end of the digit run starting at `start` (a digit), and how many digits it holds.
fn digit_run(chars: &[char], start: usize) -> (usize, usize) {
    let (mut end, mut digits, mut j) = (start, 0, start);
    while j < chars.len() {
        if is_digit(chars[j]) {
            digits += 1;
            j += 1;
            end = j;
            continue;
        }
        let gap = chars[j..]
            .iter()
            .take(MAX_GAP)
            .take_while(|c| is_separator(**c))
            .count();
        match chars.get(j + gap) {
            Some(c) if gap > 0 && is_digit(*c) => j += gap,
            _ => break,
        }
    }
    (end, digits)
}

/// What one event does to one card.
#[derive(Clone, Debug, PartialEq)]
pub enum CardChange {
    Details(CardDetails),
    Expiring,
    Removed,
    Failed(String, Option<String>),
    Succeeded,
}

impl CardChange {
    /// The change `change` makes to each card it names, and the Stripe ids it names them by
    /// (`None`: no card; `Some((customer, None))`: every card on that Stripe customer).
    pub fn of(change: &EventChange) -> Option<(&str, Option<&str>, CardChange)> {
        fn one(r: &StripeCardRef) -> (&str, Option<&str>) {
            (r.customer.as_str(), Some(r.source.as_str()))
        }
        let ((customer, source), c) = match change {
            EventChange::CardUpdated(r, d) => (one(r), Self::Details(d.clone())),
            EventChange::CardExpiring(r) => (one(r), Self::Expiring),
            EventChange::CardRemoved(r) => (one(r), Self::Removed),
            EventChange::CustomerDeleted { customer } => ((customer.as_str(), None), Self::Removed),
            EventChange::ChargeFailed(r, m, code) => {
                (one(r), Self::Failed(m.clone(), code.clone()))
            }
            EventChange::ChargeSucceeded(r) => (one(r), Self::Succeeded),
            EventChange::Deauthorized | EventChange::SetupSettled { .. } | EventChange::Ignored => {
                return None
            }
        };
        Some((customer, source, c))
    }

    /// Whether the user API shows it (its source card has an expiry, last 4 and brand, and
    /// its link a `deleted_at`; no failure count).
    pub fn shown_to_users(&self) -> bool {
        matches!(self, Self::Details(_) | Self::Removed)
    }

    /// The audit trail's name for it.
    pub fn action(&self) -> super::AuditAction {
        use super::AuditAction as A;
        match self {
            Self::Details(_) => A::StripeCardUpdated,
            Self::Expiring => A::StripeCardExpiring,
            Self::Removed => A::StripeCardRemoved,
            Self::Failed(..) => A::StripeChargeFailed,
            Self::Succeeded => A::StripeChargeSucceeded,
        }
    }
}

/// Whether a change was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// The card took this very event already (a redelivery after a failure part-way): the
    /// card stays as it is, and what follows a change (the user API's copy, the audit
    /// event) is done again, each safe to repeat.
    Taken,
    /// The card already holds what a newer event said: this older one changes nothing.
    Stale,
}

/// The order of the Stripe events about a card itself (updates, expiring, removal): the
/// `created` second of the newest taken, and the ids of those taken at that second (events
/// of one second apply in the order they arrive, each once).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventClock {
    pub at: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// Ids kept per second; more events than this about one card in one second is not Stripe.
const CLOCK_IDS: usize = 16;

impl EventClock {
    /// Whether event `id` made at `created` is news to this clock.
    pub fn admits(clock: Option<&Self>, id: &str, created: i64) -> Applied {
        match clock {
            Some(c) if c.at == created && c.ids.iter().any(|i| i == id) => Applied::Taken,
            Some(c) if created < c.at => Applied::Stale,
            _ => Applied::Changed,
        }
    }

    /// The clock after taking event `id` made at `created` (which it admits).
    fn advanced(clock: Option<Self>, id: &str, created: i64) -> Self {
        let mut ids = match clock {
            Some(c) if c.at == created => c.ids,
            _ => Vec::new(),
        };
        push_bounded(&mut ids, id.to_owned(), CLOCK_IDS);
        Self { at: created, ids }
    }
}

/// Appends `item`, dropping the oldest first so that `list` holds at most `max`.
fn push_bounded<T>(list: &mut Vec<T>, item: T, max: usize) {
    if list.len() >= max {
        list.remove(0);
    }
    list.push(item);
}

/// What a card's charges have told: each failure counts once, whatever order failures and
/// successes arrive in. A success at `t` leaves counted only the failures taken since that
/// are not older than `t`; a failure older than the last success is history.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeClock {
    /// `created` of the newest success taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<i64>,
    /// `created` of the newest failure taken: its message is the card's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<i64>,
    /// `created` of each failure taken since the last success (the newest
    /// [`FAILURES_KEPT`]), so that a success arriving late resets only older ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<i64>,
    /// The charge events taken lately, so that a redelivery is not counted again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// Charge event ids kept (Stripe redelivers within hours; a card fails a few times a day).
const CHARGE_IDS: usize = 32;
/// Failure times kept: a card failing more often than this between successes keeps its
/// count, but a late success then forgets the oldest.
const FAILURES_KEPT: usize = 64;

impl ChargeClock {
    fn admits(&self, id: &str, created: i64) -> Applied {
        if self.ids.iter().any(|i| i == id) {
            Applied::Taken
        } else if self.reset_at.is_some_and(|at| created < at) {
            Applied::Stale
        } else {
            Applied::Changed
        }
    }
}

impl super::PaymentMethod {
    /// Applies event `event_id`'s change made at `created` (Unix seconds), unless the card
    /// already took a newer event of its kind, or this one.
    pub fn apply_stripe(
        &mut self,
        change: &CardChange,
        event_id: &str,
        created: i64,
        now: super::Timestamp,
    ) -> Applied {
        // Cards written before there were two clocks kept one, `stripeEventAt`: a floor.
        if let Some(at) = self.legacy_stripe_event_at.take() {
            self.stripe_card_events.get_or_insert(EventClock {
                at,
                ids: Vec::new(),
            });
            let charges = self
                .stripe_charge_events
                .get_or_insert_with(Default::default);
            charges.reset_at = Some(charges.reset_at.map_or(at, |r| r.max(at)));
        }
        let applied = match change {
            CardChange::Failed(..) | CardChange::Succeeded => {
                self.take_charge(change, event_id, created)
            }
            card => self.take_card_news(card, event_id, created, now),
        };
        if applied == Applied::Changed {
            self.modified_at = now;
        }
        applied
    }

    /// An update, expiring or removal, ordered by the card clock.
    fn take_card_news(
        &mut self,
        change: &CardChange,
        id: &str,
        created: i64,
        now: super::Timestamp,
    ) -> Applied {
        let applied = EventClock::admits(self.stripe_card_events.as_ref(), id, created);
        if applied != Applied::Changed {
            return applied;
        }
        let clock = self.stripe_card_events.take();
        self.stripe_card_events = Some(EventClock::advanced(clock, id, created));
        match change {
            CardChange::Details(d) => self.take_details(d),
            CardChange::Expiring => self.stripe_expiring = true,
            _ => {
                self.removed_at_stripe.get_or_insert(now);
            }
        }
        Applied::Changed
    }

    /// A failed or succeeded charge, counted by the charge clock.
    fn take_charge(&mut self, change: &CardChange, id: &str, created: i64) -> Applied {
        let clock = self
            .stripe_charge_events
            .get_or_insert_with(Default::default);
        let applied = clock.admits(id, created);
        if applied != Applied::Changed {
            return applied;
        }
        push_bounded(&mut clock.ids, id.to_owned(), CHARGE_IDS);
        if let CardChange::Failed(message, code) = change {
            push_bounded(&mut clock.failures, created, FAILURES_KEPT);
            self.failures = self.failures.saturating_add(1);
            if clock.failed_at.is_none_or(|at| created >= at) {
                clock.failed_at = Some(created);
                self.last_error = Some(message.clone());
                self.last_error_code = code.clone();
            }
        } else {
            clock.reset_at = Some(created);
            // Failures of the same second count as after it: the order is not known.
            clock.failures.retain(|at| *at >= created);
            self.failures = clock.failures.len() as u32;
            if clock.failures.is_empty() {
                self.last_error = None;
                self.last_error_code = None;
            }
        }
        Applied::Changed
    }

    fn take_details(&mut self, d: &CardDetails) {
        if let Some(l) = &d.last4 {
            self.last4 = l.clone();
        }
        let super::Instrument::Card {
            brand,
            exp_month,
            exp_year,
            ..
        } = &mut self.instrument
        else {
            return;
        };
        if let Some(b) = d.brand.filter(|b| *b != CardBrand::Unknown) {
            *brand = b;
        }
        let before = (*exp_month, *exp_year);
        *exp_month = d.exp_month.unwrap_or(*exp_month);
        *exp_year = d.exp_year.unwrap_or(*exp_year);
        if (*exp_month, *exp_year) != before {
            self.stripe_expiring = false;
            // Shown back in the width its client first wrote it (`"08"`/`"30"`).
            if let Some(sent) = &mut self.expiry_as_sent {
                sent.month = if sent.month.len() == 2 {
                    format!("{:02}", exp_month)
                } else {
                    exp_month.to_string()
                };
                sent.year = if sent.year.len() <= 2 {
                    format!("{:02}", *exp_year % 100)
                } else {
                    exp_year.to_string()
                };
            }
        }
    }
}

/// What Stripe last said of a card, as the dialects show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeStatus {
    Active,
    /// `customer.source.expiring`, and no new expiry since.
    Expiring,
    /// Deleted or detached at Stripe, or its Stripe customer deleted.
    RemovedAtStripe,
    /// Its last charge was declined because the issuer wants the cardholder to
    /// authenticate (`authentication_required`): an off-session charge cannot succeed
    /// until they do, on-session.
    AuthenticationRequired,
}

impl StripeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expiring => "Expiring",
            Self::RemovedAtStripe => "RemovedAtStripe",
            Self::AuthenticationRequired => "AuthenticationRequired",
        }
    }
}

/// Stripe's decline code for a charge the issuer wants the cardholder to authenticate.
pub const AUTHENTICATION_REQUIRED_CODE: &str = "authentication_required";

/// The billing card API's `error` for a card removed at Stripe, and for one expiring.
pub const REMOVED_AT_STRIPE: &str = "The card was removed at Stripe.";
pub const EXPIRING: &str = "The card expires soon.";

impl super::PaymentMethod {
    pub fn stripe_status(&self) -> StripeStatus {
        if self.removed_at_stripe.is_some() {
            StripeStatus::RemovedAtStripe
        } else if self.stripe_expiring {
            StripeStatus::Expiring
        } else if self.last_error_code.as_deref() == Some(AUTHENTICATION_REQUIRED_CODE) {
            StripeStatus::AuthenticationRequired
        } else {
            StripeStatus::Active
        }
    }
}

impl CardBrand {
    /// Stripe's card-object spelling (`"American Express"`), as the user API shows a source.
    pub fn stripe_name(self) -> &'static str {
        match self {
            Self::AmericanExpress => "American Express",
            Self::Diners => "Diners Club",
            other => other.as_str(),
        }
    }
}

#[cfg(test)]
mod tests;
