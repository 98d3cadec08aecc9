//! The billing card API (EmbedThis Builder style): `POST /card/*`, bearer JWT with a role.
//!
//! Success bodies are the document's shapes: a card, or for `/card/find` a paged
//! `{data, next, prev}`. Errors, which the document does not show, are
//! `{"error": "<Code>", "message": "<text>"}` with the HTTP status:
//! `BadRequest`/`Validation` 400 (`fields` names each bad field), `Unauthorized` 401,
//! `Forbidden` 403 (a role that may not call the endpoint), `NotFound` 404 (absent, or
//! another account's or tenant's), `Conflict` 409, `PayloadTooLarge` 413,
//! `UnsupportedMediaType` 415, `BadGateway` 502, `ServiceUnavailable` 503, `InternalError` 500.

use std::collections::BTreeMap;

use lambda_http::{http::StatusCode, Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::limits::NAME_MAX;
use crate::domain::StripeToken;
use crate::domain::{ExpiryAsSent, NewTokenCard};
use crate::domain::{PaymentMethodId, Text};
use crate::error::{Error, FieldError};
use crate::vault::{CardPage, CardView, PageFrom, StripeConfig};

pub mod query;
pub use query::CardFilter;

pub fn render<T: Serialize>(result: Result<(StatusCode, T), Error>) -> Response<Body> {
    match result {
        Ok((status, body)) => super::json(status, &body),
        Err(e) => render_error(&e),
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Serialize)]
pub struct ErrorJson<'a> {
    error: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fields: BTreeMap<&'a str, &'a str>,
    /// What the page needs to finish a 3-D Secure authentication (`RequiresAction`, 402).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    action: Option<&'a crate::error::ActionRequired>,
}

pub fn render_error(e: &Error) -> Response<Body> {
    super::log_internal(e);
    let (status, code) = (super::status_of(e), super::code_of(e));
    let joined;
    let (message, fields) = match e {
        Error::Invalid(list) => {
            joined = list
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            (
                joined.as_str(),
                list.iter()
                    .map(|f| (f.field.as_str(), f.message.as_str()))
                    .collect(),
            )
        }
        Error::Internal { .. } => ("An internal error occurred.", BTreeMap::new()),
        _ => {
            joined = e.to_string();
            (joined.as_str(), BTreeMap::new())
        }
    };
    super::json(
        status,
        &ErrorJson {
            error: code,
            message,
            fields,
            action: super::action_of(e),
        },
    )
}

// ---- requests ---------------------------------------------------------------------------

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{current?, name, number, month, year, stripeToken}`. No `Debug`: `number` may be a
/// full card number until it is cut to its last four.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    #[serde(default)]
    current: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default)]
    number: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default)]
    month: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default)]
    year: Option<Value>,
    #[serde(default)]
    stripe_token: Option<String>,
}

impl CreateRequest {
    /// Every bad field is reported at once.
    pub fn parse(&self, today: time::Date) -> Result<NewTokenCard, Error> {
        let mut errors = Vec::new();
        let name = keep(&mut errors, self.name());
        let last4 = keep(&mut errors, self.last4());
        let month = keep(&mut errors, self.month());
        let year = keep(&mut errors, self.year());
        let token = keep(&mut errors, self.token());
        if let (Some((m, _)), Some((y, _))) = (&month, &year) {
            if (i32::from(*y), *m) < (today.year(), u8::from(today.month())) {
                errors.push(FieldError::new("year", "the card has expired"));
            }
        }
        match (name, last4, month, year, token) {
            (Some(name), Some(last4), Some((month, m)), Some((year, y)), Some(token))
                if errors.is_empty() =>
            {
                Ok(NewTokenCard {
                    name,
                    last4,
                    month,
                    year,
                    as_sent: ExpiryAsSent { month: m, year: y },
                    token,
                    current: self.current.unwrap_or(false),
                })
            }
            _ => Err(Error::Invalid(errors)),
        }
    }

    fn name(&self) -> Result<Text, FieldError> {
        Text::parse_optional("name", self.name.as_deref(), NAME_MAX)?
            .ok_or_else(|| FieldError::new("name", "name is required"))
    }

    /// Only the last four digits are kept; the rest is never stored.
    fn last4(&self) -> Result<String, FieldError> {
        let n = required(self.number.as_ref(), "number")?;
        let digits: String = n.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if (4..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(digits[digits.len() - 4..].to_owned())
        } else {
            Err(FieldError::new("number", "number must be 4 to 19 digits"))
        }
    }

    /// The month, and its text as sent (`"08"`).
    fn month(&self) -> Result<(u8, String), FieldError> {
        let raw = required(self.month.as_ref(), "month")?;
        match raw.parse::<u8>() {
            Ok(m) if (1..=12).contains(&m) => Ok((m, raw)),
            _ => Err(FieldError::new("month", "month must be from 1 to 12")),
        }
    }

    /// The four-digit year, and its text as sent (`"30"` or `"2030"`).
    fn year(&self) -> Result<(u16, String), FieldError> {
        let raw = required(self.year.as_ref(), "year")?;
        match raw.parse::<u16>() {
            Ok(y) if y < 100 => Ok((2000 + y, raw)),
            Ok(y) if (2000..=2099).contains(&y) => Ok((y, raw)),
            _ => Err(FieldError::new("year", "year must be YY or YYYY")),
        }
    }

    fn token(&self) -> Result<StripeToken, FieldError> {
        match self.stripe_token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => StripeToken::parse(t).ok_or_else(|| {
                FieldError::new("stripeToken", "stripeToken must be a Stripe token (tok_…)")
            }),
            _ => Err(FieldError::new("stripeToken", "stripeToken is required")),
        }
    }
}

/// A field's text (a JSON string or number), or "`<field>` is required".
fn required(value: Option<&Value>, field: &str) -> Result<String, FieldError> {
    value
        .and_then(text_of)
        .ok_or_else(|| FieldError::new(field, format!("{field} is required")))
}

/// The value, or its error added to the others.
fn keep<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// `{id}` (get, remove) and `{id, current}` (updateCurrent). `id` is a string, as the
/// document types it; a JSON number is accepted too.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
pub struct IdRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    current: Option<bool>,
}

impl IdRequest {
    pub fn id(&self) -> Result<PaymentMethodId, Error> {
        let raw = self
            .id
            .as_ref()
            .and_then(text_of)
            .ok_or_else(|| Error::field("id", "id is required"))?;
        PaymentMethodId::parse(&raw).ok_or_else(|| Error::not_found("Card", raw))
    }

    /// `current` defaults to true: the point of the call is to make a card current.
    pub fn current(&self) -> bool {
        self.current.unwrap_or(true)
    }
}

/// `/card/find`'s query-string options, as the document lists them:
///
/// - `limit` (1–100, default 20), `next`, `prev`: the page;
/// - `where` (OneTable's filter template) and `filter` (a text search over the name and
///   number): which cards of each page are kept ([`query`]);
/// - `log` and `hidden`: accepted, with no effect (OneTable's request log and hidden
///   attributes have no meaning here);
/// - `index`: refused, naming it; an account's cards are read one way, newest first.
pub fn find_options(req: &Request) -> Result<(usize, PageFrom, CardFilter), Error> {
    let params = req.query_string_parameters();
    let mut limit = 20;
    let mut from = PageFrom::Start;
    let mut filter = CardFilter::default();
    for (name, value) in params.iter() {
        match name {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return Err(Error::field("limit", "limit must be from 1 to 100")),
            },
            "next" => from = PageFrom::Next(value.to_owned()),
            "prev" => from = PageFrom::Prev(value.to_owned()),
            "where" => filter
                .add_where(value)
                .map_err(|e| Error::field("where", format!("where: {e}")))?,
            "filter" => filter.set_text(value),
            "index" => {
                return Err(Error::field(
                    "index",
                    "index is not supported: an account's cards are read one way, newest first",
                ))
            }
            "hidden" | "log" => {}
            _ => {}
        }
    }
    if params.first("next").is_some() && params.first("prev").is_some() {
        return Err(Error::BadRequest("Give next or prev, not both.".into()));
    }
    Ok((limit, from, filter))
}

// ---- responses --------------------------------------------------------------------------

/// The document's card: `accountId, current, error, failures, id, name, number, month,
/// submitted, year`, with `number` the last four digits only.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardJson {
    // An unset field is left out, as OneTable leaves it out, not `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    current: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    failures: u32,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    number: String,
    month: String,
    submitted: String,
    year: String,
}

impl From<CardView> for CardJson {
    fn from(b: CardView) -> Self {
        let (month, year) = match (
            &b.payment_method.expiry_as_sent,
            &b.payment_method.instrument,
        ) {
            // A card made here shows its expiry as its client sent it.
            (Some(sent), _) => (sent.month.clone(), sent.year.clone()),
            (
                None,
                crate::domain::Instrument::Card {
                    exp_month,
                    exp_year,
                    ..
                },
            ) => (exp_month.to_string(), exp_year.to_string()),
            (None, crate::domain::Instrument::Ach { .. }) => (String::new(), String::new()),
        };
        Self {
            name: card_name(&b),
            account_id: b.account.clone(),
            current: b.is_default,
            error: card_error(&b.payment_method),
            failures: b.payment_method.failures,
            id: b.payment_method.id.to_string(),
            number: b.payment_method.last4.clone(),
            month,
            submitted: rfc3339(b.payment_method.created_at),
            year,
        }
    }
}

/// `error`: what is wrong with the card, most pressing first: removed at Stripe, the last
/// failed charge's message (Stripe's words), expiring soon (webhooks keep all three).
fn card_error(pm: &crate::domain::PaymentMethod) -> Option<String> {
    use crate::domain::stripe_event::{StripeStatus, EXPIRING, REMOVED_AT_STRIPE};
    match (pm.stripe_status(), &pm.last_error) {
        (StripeStatus::RemovedAtStripe, _) => Some(REMOVED_AT_STRIPE.into()),
        (_, Some(e)) => Some(e.clone()),
        (StripeStatus::Expiring, None) => Some(EXPIRING.into()),
        (StripeStatus::Active | StripeStatus::AuthenticationRequired, None) => None,
    }
}

/// `submitted`: UTC with milliseconds, as JavaScript's `toISOString` writes a date
/// (`2026-12-08T01:10:00.123Z`), which is how OneTable stores one.
fn rfc3339(t: crate::domain::Timestamp) -> String {
    const ISO: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(ISO)
        .unwrap_or_default()
}

/// A card's `name`: its nickname (`/card/create`'s `name`), or else its holder's names.
fn card_name(b: &CardView) -> Option<String> {
    let h = &b.payment_method.holder;
    let parts: Vec<&str> = [&h.first_name, &h.last_name]
        .iter()
        .filter_map(|t| t.as_ref().map(|t| t.as_str()))
        .collect();
    b.payment_method
        .nickname
        .clone()
        .or_else(|| (!parts.is_empty()).then(|| parts.join(" ")))
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct PageJson {
    data: Vec<CardJson>,
    /// Left out at the ends of the list, as OneTable leaves them out (not `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<String>,
}

impl From<CardPage> for PageJson {
    fn from(p: CardPage) -> Self {
        PageJson {
            data: p.cards.into_iter().map(Into::into).collect(),
            next: p.next,
            prev: p.prev,
        }
    }
}

/// `/card/getStripe`: what a UI needs to tokenize cards. Never a secret key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeConfigJson {
    publishable_key: Option<String>,
    account_id: Option<String>,
}

impl From<StripeConfig> for StripeConfigJson {
    fn from(c: StripeConfig) -> Self {
        Self {
            publishable_key: c.publishable_key,
            account_id: c.account_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AtStripe, CardBrand, Customer, CustomerId, Instrument, PaymentMethod, StripeRef, TenantId,
    };

    fn today() -> time::Date {
        time::macros::date!(2026 - 05 - 01)
    }

    fn create(body: serde_json::Value) -> Result<NewTokenCard, Error> {
        serde_json::from_value::<CreateRequest>(body)
            .unwrap()
            .parse(today())
    }

    fn card_json(as_sent: Option<ExpiryAsSent>) -> serde_json::Value {
        card_json_with(|pm| pm.expiry_as_sent = as_sent)
    }

    /// A Visa card's JSON, its record changed by `edit` first.
    fn card_json_with(edit: impl FnOnce(&mut PaymentMethod)) -> serde_json::Value {
        let tenant = TenantId::try_from("t1".to_owned()).unwrap();
        let customer = Customer {
            id: CustomerId::try_from(1_000_001).unwrap(),
            tenant_id: tenant.clone(),
            details: Default::default(),
            default_payment_method_id: None,
            external_ref: None,
            stripe_customer_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            modified_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let mut pm = PaymentMethod::at_stripe(AtStripe {
            id: PaymentMethodId::try_from(2_000_002).unwrap(),
            at: time::OffsetDateTime::UNIX_EPOCH,
            customer_id: customer.id,
            tenant_id: tenant,
            instrument: Instrument::Card {
                brand: CardBrand::Visa,
                first6: None,
                exp_month: 8,
                exp_year: 2030,
            },
            last4: "4242".into(),
            holder: Default::default(),
            stripe: StripeRef {
                customer_id: "cus_1".into(),
                source_id: "card_1".into(),
            },
            fingerprint: None,
        });
        edit(&mut pm);
        serde_json::to_value(CardJson::from(CardView::of(pm, &customer))).unwrap()
    }

    #[test]
    fn error_says_the_most_pressing_thing_wrong_with_the_card() {
        use crate::domain::stripe_event::{EXPIRING, REMOVED_AT_STRIPE};
        let error = |edit: fn(&mut PaymentMethod)| card_json_with(edit)["error"].clone();
        assert_eq!(error(|_| {}), serde_json::Value::Null);
        assert_eq!(error(|pm| pm.stripe_expiring = true), EXPIRING);
        let declined = |pm: &mut PaymentMethod| {
            pm.stripe_expiring = true;
            pm.last_error = Some("Your card was declined.".into());
        };
        assert_eq!(error(declined), "Your card was declined.");
        let removed = |pm: &mut PaymentMethod| {
            pm.last_error = Some("Your card was declined.".into());
            pm.removed_at_stripe = Some(time::OffsetDateTime::UNIX_EPOCH);
        };
        assert_eq!(error(removed), REMOVED_AT_STRIPE);
    }

    #[test]
    fn errors_render_as_the_dialects_envelope() {
        let resp = render_error(&Error::field("number", "number must be 4 to 19 digits"));
        assert_eq!(resp.status(), 400);
        let Body::Text(text) = resp.body() else {
            panic!("{:?}", resp.body())
        };
        let body: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["message"], "number must be 4 to 19 digits");
        assert_eq!(body["fields"]["number"], "number must be 4 to 19 digits");
    }

    #[test]
    fn only_the_last_four_digits_of_number_are_kept() {
        let body = |number: &str| {
            serde_json::json!({"name": "Work", "number": number, "month": "08", "year": "30",
                               "stripeToken": "tok_1"})
        };
        for (number, last4) in [
            ("4242 4242 4242 4242", "4242"),
            ("4000-0000-0000-0002", "0002"),
            ("1881", "1881"),
        ] {
            assert_eq!(create(body(number)).unwrap().last4, last4, "{number}");
        }
        for bad in ["424", "4242x", "42424242424242424242"] {
            assert!(create(body(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_and_year_come_back_as_sent() {
        let body = |month: serde_json::Value, year: serde_json::Value| {
            serde_json::json!({"name": "Work", "number": "4242", "month": month, "year": year,
                               "stripeToken": "tok_1"})
        };
        for (month, year, want) in [
            (
                serde_json::json!("08"),
                serde_json::json!("30"),
                ("08", "30"),
            ),
            (
                serde_json::json!("8"),
                serde_json::json!("2030"),
                ("8", "2030"),
            ),
            (serde_json::json!(8), serde_json::json!(30), ("8", "30")),
        ] {
            let new = create(body(month, year)).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!((new.month, new.year), (8, 2030));
            assert_eq!(
                (new.as_sent.month.as_str(), new.as_sent.year.as_str()),
                want
            );
            let shown = card_json(Some(new.as_sent));
            assert_eq!(
                (shown["month"].as_str(), shown["year"].as_str()),
                (Some(want.0), Some(want.1))
            );
        }
        // A card made through another dialect has no text: its numbers are shown.
        let shown = card_json(None);
        assert_eq!(
            (shown["month"].as_str(), shown["year"].as_str()),
            (Some("8"), Some("2030"))
        );
    }
}
