//! The Fusebill-style merchant API and transparent redirect.
//!
//! Errors use Fusebill's envelope:
//! `{"ErrorId":0,"HttpStatusCode":404,"Errors":[{"Key":"Api Error","Value":"…"}]}`.
//! A field's validation error carries the field's name as its `Key`.
//!
//! Request bodies are read as Fusebill's Json.NET reads them ([`lenient`], [`json_body`]).

use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{geo, Customer, CustomerFields, Instrument, NewCustomer};
use crate::error::{Error, FieldError};

/// Renders a handler's outcome: the success body, or the error envelope.
pub fn render<T: Serialize>(result: Result<(StatusCode, T), Error>) -> Response<Body> {
    match result {
        Ok((status, body)) => super::json(status, &body),
        Err(e) => render_error(&e),
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    error_id: u32,
    http_status_code: u16,
    errors: Vec<KeyValue>,
    /// What the page needs to finish a 3-D Secure authentication (402): beside the
    /// envelope's own fields, so a client that knows only those still reads an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    requires_action: Option<RequiresAction>,
}

/// [`crate::error::ActionRequired`] in Fusebill's PascalCase.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct RequiresAction {
    /// `setup_intent` or `payment_intent`.
    r#type: &'static str,
    id: String,
    client_secret: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    next_action: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_method_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    key: String,
    value: String,
}

const API_ERROR: &str = "Api Error";

/// A Fusebill JSON body: a `Content-Type` other than JSON is a 415, more than
/// [`crate::http::MAX_BODY_BYTES`] a 413; then strict JSON, or else Json.NET's tolerance,
/// with property names in any case and whole numbers from strings ([`lenient::body`]).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    crate::http::require_json(req)?;
    lenient::body(crate::http::body_bytes(req)?)
}

pub fn render_error(e: &Error) -> Response<Body> {
    super::log_internal(e);
    let status = super::status_of(e);
    let errors = match e {
        Error::Invalid(fields) => fields
            .iter()
            .map(|f| KeyValue {
                key: f.field.clone(),
                value: f.message.clone(),
            })
            .collect(),
        Error::Internal { .. } => vec![api_error("An internal error occurred.")],
        other => vec![api_error(other.to_string())],
    };
    super::json(
        status,
        &Envelope {
            error_id: 0,
            http_status_code: status.as_u16(),
            errors,
            requires_action: super::action_of(e).map(|a| RequiresAction {
                r#type: a.kind,
                id: a.intent_id.clone(),
                client_secret: a.client_secret.clone(),
                next_action: a.next_action.clone(),
                payment_method_id: a.payment_method_id,
                expires_at: a.expires_at.and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
            }),
        },
    )
}

fn api_error(value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: API_ERROR.into(),
        value: value.into(),
    }
}

// ---- customers -------------------------------------------------------------------------

/// `POST /v1/customers`. Unknown fields are ignored, as Fusebill's customer has many.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRequest {
    #[serde(default, deserialize_with = "lenient::text")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    company_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    primary_email: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    reference: Option<String>,
}

impl CustomerRequest {
    pub fn parse(&self) -> Result<NewCustomer, Error> {
        NewCustomer::parse(CustomerFields {
            first_name: self.first_name.as_deref(),
            last_name: self.last_name.as_deref(),
            company_name: self.company_name.as_deref(),
            primary_email: self.primary_email.as_deref(),
            reference: self.reference.as_deref(),
        })
        .map_err(Error::Invalid)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerJson {
    id: u64,
    first_name: Option<String>,
    last_name: Option<String>,
    company_name: Option<String>,
    primary_email: Option<String>,
    reference: Option<String>,
    status: &'static str,
    created_timestamp: String,
    modified_timestamp: String,
    uri: Option<String>,
}

impl From<Customer> for CustomerJson {
    fn from(c: Customer) -> Self {
        let text = |t: Option<crate::domain::Text>| t.map(String::from);
        let d = c.details;
        Self {
            id: c.id.get(),
            first_name: text(d.first_name),
            last_name: text(d.last_name),
            company_name: text(d.company_name),
            primary_email: text(d.primary_email),
            reference: text(d.reference),
            status: "Active",
            created_timestamp: timestamp(c.created_at),
            modified_timestamp: timestamp(c.modified_at),
            uri: None,
        }
    }
}

/// Fusebill's timestamps, as its documents show them: RFC 3339 in UTC with exactly six
/// fractional digits and a `Z` (`2020-05-22T04:50:27.211012Z`), whatever the precision of
/// the clock.
pub fn timestamp(t: crate::domain::Timestamp) -> String {
    const MICROS: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(MICROS)
        .unwrap_or_default()
}

// ---- payment methods -------------------------------------------------------------------

/// A card as Fusebill renders it (the import and transparent-redirect samples' fields);
/// a bank account (ACH) in the same frame with its own number fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodJson {
    #[serde(flatten)]
    instrument: InstrumentJson,
    customer_id: u64,
    first_name: String,
    last_name: String,
    address1: String,
    address2: String,
    country_id: Option<u16>,
    country: String,
    state_id: Option<u32>,
    state: String,
    city: String,
    postal_zip: String,
    is_default: bool,
    external_customer_id: Option<String>,
    external_card_id: Option<String>,
    stored_in_fusebill_vault: bool,
    /// What Stripe last said of the card (webhooks): `Active`, `Expiring`
    /// (`customer.source.expiring`), `RemovedAtStripe` (deleted or detached there; the
    /// card is kept, and is no longer the default) or `AuthenticationRequired` (its last
    /// charge, off-session, was declined for want of the cardholder's authentication, until
    /// a charge succeeds). Not in Fusebill's samples: an added field.
    stripe_status: &'static str,
    email: Option<String>,
    modified_date: String,
    original_payment_method_id: Option<u64>,
    id: u64,
    uri: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum InstrumentJson {
    #[serde(rename_all = "camelCase")]
    Card {
        masked_card_number: String,
        card_type: &'static str,
        expiration_month: u8,
        /// Two digits, as the samples show (`17`, `23`).
        expiration_year: u16,
    },
    #[serde(rename_all = "camelCase")]
    Ach {
        masked_account_number: String,
        payment_method_type: &'static str,
        bank_name: Option<String>,
        transit_number: Option<String>,
    },
}

impl From<crate::vault::CardView> for PaymentMethodJson {
    fn from(view: crate::vault::CardView) -> Self {
        let pm = view.payment_method;
        let instrument = match &pm.instrument {
            Instrument::Card {
                brand,
                exp_month,
                exp_year,
                ..
            } => InstrumentJson::Card {
                masked_card_number: pm.masked_number(),
                card_type: brand.as_str(),
                expiration_month: *exp_month,
                expiration_year: exp_year % 100,
            },
            Instrument::Ach {
                bank_name,
                routing_number,
            } => InstrumentJson::Ach {
                masked_account_number: format!("********{}", pm.last4),
                payment_method_type: "ACH",
                bank_name: bank_name.clone(),
                transit_number: routing_number.clone(),
            },
        };
        let text = |t: &Option<crate::domain::Text>| {
            t.as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default()
        };
        let h = &pm.holder;
        let (country, state) = geo::names(h.country_id, h.state_id);
        let external = pm.stripe.as_ref().filter(|_| !pm.stored_in_vault);
        Self {
            instrument,
            customer_id: pm.customer_id.get(),
            first_name: text(&h.first_name),
            last_name: text(&h.last_name),
            address1: text(&h.address1),
            address2: text(&h.address2),
            country_id: h.country_id,
            country,
            state_id: h.state_id,
            state,
            city: text(&h.city),
            postal_zip: text(&h.postal_zip),
            is_default: view.is_default,
            // Imported cards name their external vault; cards in cardvault's own vault keep
            // their Stripe verification copy internal (null, as the redirect's sample shows).
            external_customer_id: external.map(|s| s.customer_id.clone()),
            external_card_id: external.map(|s| s.source_id.clone()),
            stored_in_fusebill_vault: pm.stored_in_vault,
            stripe_status: pm.stripe_status().as_str(),
            email: pm.email.as_ref().map(|e| e.as_str().to_owned()),
            modified_date: timestamp(pm.modified_at),
            original_payment_method_id: None,
            id: pm.id.get(),
            uri: None,
        }
    }
}

// ---- Stripe import -----------------------------------------------------------------------

/// `POST /v1/paymentMethodImport/stripeConnect` (and `/Stripe`, `/v1/AchCardImport/…`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequestJson {
    #[serde(default, deserialize_with = "lenient::whole_number")]
    customer_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::text")]
    stripe_customer_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    stripe_card_id: Option<String>,
}

impl ImportRequestJson {
    /// Every problem at once, each naming its field.
    pub fn parse(&self) -> Result<crate::domain::ImportRequest, Error> {
        use crate::domain::CustomerId;
        use crate::domain::{CustomerRef, SourceRef};
        let mut errors = Vec::new();
        let customer_id = match self.customer_id {
            None => {
                errors.push(FieldError::new("customerId", "customerId is required"));
                None
            }
            Some(n) => CustomerId::try_from(n)
                .map_err(|e| errors.push(FieldError::new("customerId", format!("customerId {e}"))))
                .ok(),
        };
        let stripe_customer = required(&mut errors, "stripeCustomerId", &self.stripe_customer_id)
            .and_then(|raw| {
                CustomerRef::parse(raw).or_else(|| {
                    errors.push(FieldError::new(
                        "stripeCustomerId",
                        "stripeCustomerId must be a Stripe customer id, starting with cus_",
                    ));
                    None
                })
            });
        let source = required(&mut errors, "stripeCardId", &self.stripe_card_id).and_then(|raw| {
            SourceRef::parse(raw).or_else(|| {
                errors.push(FieldError::new(
                    "stripeCardId",
                    "stripeCardId must be a Stripe card or bank account id, starting with card_ or ba_",
                ));
                None
            })
        });
        match (customer_id, stripe_customer, source) {
            (Some(customer_id), Some(stripe_customer), Some(source)) if errors.is_empty() => {
                Ok(crate::domain::ImportRequest {
                    customer_id,
                    stripe_customer,
                    source,
                })
            }
            _ => Err(Error::Invalid(errors)),
        }
    }
}

fn required<'a>(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &'a Option<String>,
) -> Option<&'a str> {
    let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    if v.is_none() {
        errors.push(FieldError::new(field, format!("{field} is required")));
    }
    v
}

// ---- listing, paging, defaults, countries -------------------------------------------------

/// Fusebill's paging query options: `pageSize` (1–100, default 20) and `pageNumber`
/// (from 0). Names are matched case-insensitively, as Fusebill's (ASP.NET) are.
pub fn page(req: &lambda_http::Request) -> Result<crate::vault::Page, Error> {
    use lambda_http::RequestExt;
    let mut page = crate::vault::Page::default();
    let mut errors = Vec::new();
    let params = req.query_string_parameters();
    for (name, value) in params.iter() {
        let parsed = value.trim().parse::<usize>();
        if name.eq_ignore_ascii_case("pageSize") {
            match parsed {
                Ok(n) if (1..=crate::vault::cards::PAGE_SIZE_MAX).contains(&n) => page.size = n,
                _ => errors.push(FieldError::new(
                    "pageSize",
                    format!(
                        "pageSize must be an integer from 1 to {}",
                        crate::vault::cards::PAGE_SIZE_MAX
                    ),
                )),
            }
        } else if name.eq_ignore_ascii_case("pageNumber") {
            match parsed {
                Ok(n) if n <= 1_000_000 => page.number = n,
                _ => errors.push(FieldError::new(
                    "pageNumber",
                    "pageNumber must be an integer from 0",
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(page)
    } else {
        Err(Error::Invalid(errors))
    }
}

/// `PUT /v1/customerbillingsetting`: of Fusebill's billing settings, cardvault keeps the
/// default payment method. Other settings in the body are accepted and ignored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingSettingRequest {
    #[serde(default, deserialize_with = "lenient::whole_number")]
    id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::whole_number")]
    default_payment_method_id: Option<u64>,
}

impl BillingSettingRequest {
    pub fn parse(
        &self,
    ) -> Result<(crate::domain::CustomerId, crate::domain::PaymentMethodId), Error> {
        use crate::domain::{CustomerId, PaymentMethodId};
        let mut errors = Vec::new();
        let customer = match self.id.map(CustomerId::try_from) {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                errors.push(FieldError::new("id", format!("id {e}")));
                None
            }
            None => {
                errors.push(FieldError::new("id", "id (the customer's id) is required"));
                None
            }
        };
        let pm = match self
            .default_payment_method_id
            .map(PaymentMethodId::try_from)
        {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                errors.push(FieldError::new(
                    "defaultPaymentMethodId",
                    format!("defaultPaymentMethodId {e}"),
                ));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "defaultPaymentMethodId",
                    "defaultPaymentMethodId is required",
                ));
                None
            }
        };
        match (customer, pm) {
            (Some(c), Some(p)) => Ok((c, p)),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingSettingJson {
    pub id: u64,
    pub default_payment_method_id: u64,
    pub has_payment_method: bool,
}

/// `GET /v1/countries`: Fusebill's "Read Country ID".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct CountryJson {
    id: u16,
    name: &'static str,
    /// ISO 3166-1 alpha-2.
    iso: &'static str,
    /// ISO 3166-1 alpha-3, as payment methods show `country`.
    iso3: &'static str,
    states: Vec<StateJson>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Serialize)]
pub struct StateJson {
    id: u32,
    name: &'static str,
    /// ISO 3166-2 (`CA-AB`).
    iso: &'static str,
}

/// `GET /v1/countries`'s body, serialised on first use and kept for the container's life:
/// the list never changes, and serialising its 249 countries and 5,046 states on every
/// request made that warm request cost 13 hellos (bench/results.md).
pub fn countries_body() -> &'static str {
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BODY.get_or_init(|| serde_json::to_string(&countries()).expect("the country list serialises"))
}

pub fn countries() -> Vec<CountryJson> {
    geo::countries()
        .iter()
        .map(|c| CountryJson {
            id: c.id,
            name: c.name,
            iso: c.alpha2,
            iso3: c.alpha3,
            states: c
                .states
                .iter()
                .map(|s| StateJson {
                    id: s.id,
                    name: s.name,
                    iso: s.code,
                })
                .collect(),
        })
        .collect()
}

pub mod audit;
pub mod lenient;
pub mod redirect;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_list_is_serialised_once_and_says_what_countries_says() {
        let body = countries_body();
        assert!(std::ptr::eq(body, countries_body()), "serialised again");
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed, serde_json::to_value(countries()).unwrap());
        assert_eq!(parsed.as_array().unwrap().len(), geo::countries().len());
    }

    #[test]
    fn an_import_names_every_missing_or_blank_field() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<ImportRequestJson>(v)
                .unwrap()
                .parse()
        };
        let ok = parse(serde_json::json!({"customerId": 1_000_001,
            "stripeCustomerId": "cus_AExsNjBZDLMNDK", "stripeCardId": "card_19uTyBAXix6Ggd0e"}))
        .unwrap();
        assert_eq!(ok.stripe_customer.to_string(), "cus_AExsNjBZDLMNDK");
        assert_eq!(ok.source.to_string(), "card_19uTyBAXix6Ggd0e");
        let Err(Error::Invalid(errors)) =
            parse(serde_json::json!({"customerId": 1_000_001, "stripeCardId": "  "}))
        else {
            panic!("expected Invalid")
        };
        let named: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("stripeCustomerId", "stripeCustomerId is required"),
                ("stripeCardId", "stripeCardId is required")
            ]
        );
    }

    #[test]
    fn timestamps_have_six_fractional_digits() {
        let at = |nanos: i128| {
            timestamp(time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap())
        };
        assert_eq!(at(1_590_123_027_211_012_345), "2020-05-22T04:50:27.211012Z");
        assert_eq!(at(1_590_123_027_000_000_000), "2020-05-22T04:50:27.000000Z");
        assert_eq!(at(1_590_123_027_500_000_000), "2020-05-22T04:50:27.500000Z");
        let elsewhere = time::OffsetDateTime::from_unix_timestamp(1_590_123_027)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(timestamp(elsewhere), "2020-05-22T04:50:27.000000Z");
    }
}
