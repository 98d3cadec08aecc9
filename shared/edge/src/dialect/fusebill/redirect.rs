//! Fusebill's transparent redirect, `POST /api/paymentsv2`: the cardholder's browser posts
//! the card as JSON, as `x-www-form-urlencoded` (the document's jQuery page) or in the query
//! string (its sample request). Field names match in any case (`CustomerId`, `customerId`),
//! and `PaymentCollectOptions.collectionAmount` arrives dotted in form data and as a nested
//! object in JSON.
//!
//! A card number, CVV or reCAPTCHA token in the query string is refused (400) unless the
//! tenant turned on `legacyQueryStringCards` for clients built on the document's sample:
//! API Gateway, proxies and the Lambda event record URLs. It is refused even when the body
//! holds the same field: once in the URL, the value has already been recorded on the way.

use std::borrow::Cow;
use std::collections::HashMap;

use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::domain::limits::{ADDRESS_MAX, NAME_MAX, POSTAL_MAX};
use crate::domain::{
    geo, CardEntry, CardNumber, CustomerId, Cvv, Expiry, Holder, StripeJsEntry, Tenant, Text,
};
use crate::error::{Error, FieldError};
use crate::http;

/// The fields that must not travel in a URL.
const NOT_IN_URL: &[&str] = &["cardNumber", "cvv", "recaptcha", "setupIntentClientSecret"];

/// Every parameter, keyed by its lower-cased name (nested JSON objects flattened with `.`).
/// No `Debug`: it holds the raw card number and CVV.
#[derive(Clone, Default)]
pub struct Params {
    values: HashMap<String, Value>,
    /// The fields of [`NOT_IN_URL`] that the query string carried (not blank).
    in_query: Vec<&'static str>,
}

impl Params {
    /// The request's parameters: as [`Self::parse_once`] kept them, or parsed now.
    pub fn of(req: &Request) -> Result<Cow<'_, Self>, Error> {
        match req.extensions().get::<Self>() {
            Some(kept) => Ok(Cow::Borrowed(kept)),
            None => Self::from_request(req).map(Cow::Owned),
        }
    }

    /// Parses the request once and keeps what it found in it, for whoever reads it next
    /// ([`Self::of`]). A request that does not parse is left as it is: its reader answers
    /// the error.
    pub fn parse_once(req: &mut Request) {
        if let Ok(params) = Self::from_request(req) {
            req.extensions_mut().insert(params);
        }
    }

    /// Query string first, then the body, whose values win.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let mut params = Self::default();
        for (k, v) in req.query_string_parameters().iter() {
            let secret = NOT_IN_URL.iter().find(|f| f.eq_ignore_ascii_case(k));
            if let Some(field) = secret.filter(|_| !v.trim().is_empty()) {
                if !params.in_query.contains(field) {
                    params.in_query.push(field);
                }
            }
            params.insert(k, Value::String(v.to_owned()));
        }
        let body = http::body_bytes(req)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        match http::media_type(req).as_deref() {
            Some("application/x-www-form-urlencoded") => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                    .map_err(|_| Error::BadRequest("The form body is not valid.".into()))?;
                for (k, v) in pairs {
                    params.insert(&k, Value::String(v));
                }
            }
            Some("application/json") | Some("text/json") | None => {
                params.flatten("", super::lenient::object(body)?);
            }
            Some(other) => return Err(Error::UnsupportedMediaType(other.to_owned())),
        }
        Ok(params)
    }

    /// From a JSON object, as a JSON body would give them.
    pub fn from_json(body: &Value) -> Self {
        let mut params = Self::default();
        if let Value::Object(map) = body.clone() {
            params.flatten("", map);
        }
        params
    }

    /// Refuses a card number, CVV or reCAPTCHA token that came in the query string, unless
    /// the tenant allows the document's query-string sample (`legacyQueryStringCards`).
    pub fn refuse_secrets_in_url(&self, tenant: &Tenant) -> Result<(), Error> {
        if self.in_query.is_empty() {
            return Ok(());
        }
        // No document's client sends the confirm's secret: it never comes from a URL, even
        // for a tenant that lets the sample's card fields.
        let secret_in_url = self.in_query.contains(&"setupIntentClientSecret");
        if tenant.legacy_query_string_cards && !secret_in_url {
            // Which tenants' clients still need moving to the body; no field names, no values.
            tracing::info!(tenant = %tenant.id, "card fields read from the query string (legacyQueryStringCards)");
            return Ok(());
        }
        Err(Error::Invalid(
            NOT_IN_URL
                .iter()
                .filter(|f| self.in_query.contains(f))
                .filter(|f| !tenant.legacy_query_string_cards || **f == "setupIntentClientSecret")
                .map(|&f| {
                    FieldError::new(
                        f,
                        format!(
                            "{f} must be sent in the request body (JSON or form), not in the URL's query string"
                        ),
                    )
                })
                .collect(),
        ))
    }

    fn insert(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_ascii_lowercase(), value);
    }

    fn flatten(&mut self, prefix: &str, map: serde_json::Map<String, Value>) {
        for (k, v) in map {
            let name = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(inner) => self.flatten(&name, inner),
                other => self.insert(&name, other),
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .get(&name.to_ascii_lowercase())
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
    }

    /// A string, from a JSON string or number (clients send either).
    fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn integer(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
        let raw = self.get(name)?;
        let parsed = match raw {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            errors.push(FieldError::new(
                name,
                format!("{name} must be a whole number"),
            ));
        }
        parsed
    }

    fn boolean(&self, name: &str, errors: &mut Vec<FieldError>) -> bool {
        match self.get(name) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                errors.push(FieldError::new(
                    name,
                    format!("{name} must be true or false"),
                ));
                false
            }
        }
    }

    /// The public API key and the customer: what identifies the request, read first.
    pub fn identity(&self) -> Result<(String, CustomerId), Error> {
        let mut errors = Vec::new();
        let key = self.text("publicApiKey");
        if key.is_none() {
            errors.push(FieldError::new("publicApiKey", "publicApiKey is required"));
        }
        let customer = match self.integer("customerId", &mut errors) {
            Some(n) => CustomerId::try_from(n)
                .map_err(|e| errors.push(FieldError::new("customerId", format!("customerId {e}"))))
                .ok(),
            None => {
                if !errors.iter().any(|e| e.field == "customerId") {
                    errors.push(FieldError::new("customerId", "customerId is required"));
                }
                None
            }
        };
        match (key, customer) {
            (Some(k), Some(c)) if errors.is_empty() => Ok((k, c)),
            _ => Err(Error::Invalid(errors)),
        }
    }

    pub fn recaptcha(&self) -> Option<String> {
        self.text("recaptcha")
    }

    /// The confirm call after 3-D Secure: the SetupIntent's client secret.
    pub fn setup_intent_client_secret(&self) -> Option<String> {
        self.text("setupIntentClientSecret")
    }

    /// Validates the card and its holder under the tenant's settings, reporting every
    /// failure at once. No message ever contains the card number or CVV.
    pub fn card_entry(&self, tenant: &Tenant, today: time::Date) -> Result<CardEntry, Error> {
        let mut errors = Vec::new();
        if self.get("paymentMethodId").is_some_and(|v| !v.is_null()) {
            errors.push(FieldError::new(
                "paymentMethodId",
                "paymentMethodId is not taken by this tenant's page: it sends the card itself",
            ));
        }
        let (number, cvv, expiry) = self.card(today, &mut errors);
        let holder = self.holder(tenant.require_avs, &mut errors);
        let risk = tenant.require_risk_fields;
        let client_ip = self.text_field("clientIp", 45, risk, &mut errors);
        let risk_token = self.text_field("riskToken", 255, risk, &mut errors);
        let email = self.text_field("email", 255, false, &mut errors);
        let make_default = self.boolean("makeDefault", &mut errors);
        let collect = self.amount("paymentCollectOptions.collectionAmount", &mut errors);
        match (number, cvv, expiry) {
            (Some(number), Some(cvv), Some(expiry)) if errors.is_empty() => Ok(CardEntry {
                number,
                cvv,
                expiry,
                holder,
                make_default,
                collect_minor: collect,
                client_ip,
                risk_token,
                email,
            }),
            _ => Err(Error::Invalid(errors)),
        }
    }

    /// The card of a tenant whose page makes it a PaymentMethod with Stripe.js
    /// (`CardFlow::StripeJs`): its `paymentMethodId`, and no card number, CVV or expiry,
    /// which such a page must never send (they are refused, not ignored).
    pub fn stripe_js_entry(&self, tenant: &Tenant) -> Result<StripeJsEntry, Error> {
        let mut errors = Vec::new();
        for field in ["cardNumber", "cvv", "expirationMonth", "expirationYear"] {
            if self.get(field).is_some_and(|v| !v.is_null()) {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "{field} is not taken here: this page makes the card a PaymentMethod \
                         with Stripe.js and sends paymentMethodId"
                    ),
                ));
            }
        }
        let payment_method = match self.text("paymentMethodId") {
            Some(raw) => StripeJsEntry::parse_payment_method(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "paymentMethodId",
                    "paymentMethodId must be a Stripe PaymentMethod id (pm_…)",
                ));
                None
            }),
            None => {
                errors.push(FieldError::new(
                    "paymentMethodId",
                    "paymentMethodId is required",
                ));
                None
            }
        };
        let holder = self.holder(tenant.require_avs, &mut errors);
        let email = self.text_field("email", 255, false, &mut errors);
        let make_default = self.boolean("makeDefault", &mut errors);
        let collect = self.amount("paymentCollectOptions.collectionAmount", &mut errors);
        match payment_method {
            Some(payment_method) if errors.is_empty() => Ok(StripeJsEntry {
                payment_method,
                holder,
                make_default,
                collect_minor: collect,
                email,
            }),
            _ => Err(Error::Invalid(errors)),
        }
    }

    /// The number, CVV and expiry.
    fn card(
        &self,
        today: time::Date,
        errors: &mut Vec<FieldError>,
    ) -> (Option<CardNumber>, Option<Cvv>, Option<Expiry>) {
        let number = match CardNumber::parse(&self.text("cardNumber").unwrap_or_default()) {
            Ok(n) => Some(n),
            Err(why) => {
                errors.push(FieldError::new("cardNumber", format!("cardNumber {why}")));
                None
            }
        };
        // A JSON number has already lost any leading zero, so only a string is a CVV.
        if matches!(self.get("cvv"), Some(Value::Number(_))) {
            errors.push(FieldError::new(
                "cvv",
                "cvv must be sent as a string (a number loses leading zeros)",
            ));
        }
        let cvv = Cvv::parse(
            &self.text("cvv").unwrap_or_default(),
            number.as_ref().map(CardNumber::brand),
        )
        .map_err(|why| errors.push(FieldError::new("cvv", format!("cvv {why}"))))
        .ok();
        let month = self.integer("expirationMonth", errors);
        let year = self.integer("expirationYear", errors);
        let expiry = match (month, year) {
            (Some(m), Some(y)) => Expiry::parse(m, y, today)
                .map_err(|(field, msg)| errors.push(FieldError::new(field, msg)))
                .ok(),
            _ => {
                for (field, v) in [("expirationMonth", month), ("expirationYear", year)] {
                    if v.is_none() && !errors_has(errors, field) {
                        errors.push(FieldError::new(field, format!("{field} is required")));
                    }
                }
                None
            }
        };
        (number, cvv, expiry)
    }

    /// The holder's names and address; with `avs`, the address fields are required.
    fn holder(&self, avs: bool, errors: &mut Vec<FieldError>) -> Holder {
        let first_name = self.text_field("firstName", NAME_MAX, true, errors);
        let last_name = self.text_field("lastName", NAME_MAX, true, errors);
        let address1 = self.text_field("address1", ADDRESS_MAX, avs, errors);
        let address2 = self.text_field("address2", ADDRESS_MAX, false, errors);
        let city = self.text_field("city", ADDRESS_MAX, avs, errors);
        let postal_zip = self.text_field("postalZip", POSTAL_MAX, avs, errors);
        let country = self.integer("countryId", errors);
        let state = self.integer("stateId", errors);
        if avs && country.is_none() && !errors_has(errors, "countryId") {
            errors.push(FieldError::new("countryId", "countryId is required"));
        }
        let (country_id, state_id) = match geo::validate(country, state) {
            Ok((c, s)) => (c.map(|c| c.id), s.map(|s| s.id)),
            Err(errs) => {
                let fresh: Vec<_> = errs
                    .into_iter()
                    .filter(|e| !errors_has(errors, &e.field))
                    .collect();
                errors.extend(fresh);
                (None, None)
            }
        };
        Holder {
            first_name,
            last_name,
            address1,
            address2,
            city,
            postal_zip,
            country_id,
            state_id,
        }
    }

    /// A text field of at most `max` bytes; a missing required one is an error.
    fn text_field(
        &self,
        field: &str,
        max: usize,
        required: bool,
        errors: &mut Vec<FieldError>,
    ) -> Option<Text> {
        let raw = self.text(field);
        if required && raw.is_none() {
            errors.push(FieldError::new(field, format!("{field} is required")));
            return None;
        }
        Text::parse_optional(field, raw.as_deref(), max)
            .map_err(|e| errors.push(e))
            .ok()
            .flatten()
    }

    /// A positive amount with at most two decimals, in minor units (`0.50` → 50).
    fn amount(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
        let raw = self.text(name)?;
        let minor = parse_minor_units(&raw);
        if minor.is_none() {
            errors.push(FieldError::new(
                name,
                format!("{name} must be a positive amount with at most two decimals"),
            ));
        }
        minor
    }
}

fn errors_has(errors: &[FieldError], field: &str) -> bool {
    errors.iter().any(|e| e.field == field)
}

fn parse_minor_units(raw: &str) -> Option<u64> {
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        // Stripe's ceiling is 99,999,999 minor units: six digits of whole units.
        || whole.len() > 6
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = format!("{frac:0<2}").parse().ok()?;
    let minor = whole * 100 + frac;
    (minor > 0).then_some(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_true_or_false_in_any_case_and_nothing_else() {
        let p = Params::from_json(&serde_json::json!(
            {"a": "FALSE", "b": "True", "c": true, "d": "yes"}
        ));
        let mut errors = Vec::new();
        assert!(!p.boolean("a", &mut errors));
        assert!(p.boolean("b", &mut errors));
        assert!(p.boolean("c", &mut errors));
        assert!(!p.boolean("missing", &mut errors));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!p.boolean("d", &mut errors));
        assert_eq!(errors[0].field, "d");
    }

    #[test]
    fn a_collection_amount_is_read_in_minor_units_from_its_nested_field() {
        let p = Params::from_json(&serde_json::json!(
            {"paymentCollectOptions": {"collectionAmount": "5.50"}, "bad": "5.505"}
        ));
        let mut errors = Vec::new();
        let name = "paymentCollectOptions.collectionAmount";
        assert_eq!(p.amount(name, &mut errors), Some(550));
        assert_eq!(p.amount("missing", &mut errors), None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p.amount("bad", &mut errors), None);
        assert_eq!(errors[0].field, "bad");
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_minor_units("0.50"), Some(50));
        assert_eq!(parse_minor_units("0.5"), Some(50));
        assert_eq!(parse_minor_units("12"), Some(1200));
        assert_eq!(parse_minor_units(".5"), Some(50));
        for bad in ["", "0", "0.00", "-1", "1.234", "abc", "1e3", ".", "1,5"] {
            assert_eq!(parse_minor_units(bad), None, "{bad}");
        }
    }

    /// A POST with these query pairs and a JSON body.
    fn request(query: &[(&str, &str)], body: &str) -> Request {
        let map: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        lambda_http::http::Request::builder()
            .method("POST")
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body))
            .unwrap()
            .with_query_string_parameters(map)
    }

    fn tenant(legacy: bool) -> Tenant {
        let mut t: Tenant = serde_json::from_value(serde_json::json!({
            "id": "t1", "name": "T1", "createdAt": "2025-06-01T00:00:00Z"
        }))
        .unwrap();
        t.legacy_query_string_cards = legacy;
        t
    }

    fn refused_fields(req: &Request, legacy: bool) -> Vec<String> {
        let params = Params::from_request(req).unwrap();
        match params.refuse_secrets_in_url(&tenant(legacy)) {
            Ok(()) => vec![],
            Err(Error::Invalid(fields)) => {
                for f in &fields {
                    assert!(f.message.contains("request body"), "{}", f.message);
                    assert!(!f.message.contains("4242"), "{}", f.message);
                }
                fields.into_iter().map(|f| f.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn card_fields_in_the_query_string_are_refused_unless_the_tenant_allows_them() {
        let query = [
            ("CustomerId", "5"),
            ("PublicApiKey", "pk_1"),
            ("CardNumber", "4242424242424242"),
            ("CVV", "123"),
            ("Recaptcha", "tok"),
        ];
        let req = request(&query, "");
        assert_eq!(
            refused_fields(&req, false),
            ["cardNumber", "cvv", "recaptcha"]
        );
        assert!(refused_fields(&req, true).is_empty(), "legacy tenant");
        // The tenant is still found from the query: identity is no secret.
        let (key, customer) = Params::from_request(&req).unwrap().identity().unwrap();
        assert_eq!((key.as_str(), customer.get()), ("pk_1", 5));
    }

    #[test]
    fn a_mixed_request_is_refused_if_any_secret_was_in_the_url() {
        let body = r#"{"cardNumber":"4242424242424242","cvv":"123","recaptcha":"tok"}"#;
        // Identity in the query, the card in the body: fine.
        let ok = request(&[("customerId", "5"), ("publicApiKey", "pk_1")], body);
        assert!(refused_fields(&ok, false).is_empty());
        // The CVV in the URL too: refused, though the body's value would win.
        let mixed = request(&[("customerId", "5"), ("cvv", "999")], body);
        assert_eq!(refused_fields(&mixed, false), ["cvv"]);
        // A blank value carries nothing.
        let blank = request(&[("cardNumber", " ")], body);
        assert!(refused_fields(&blank, false).is_empty());
    }
}

/// The document's sample response, plus `paymentCollection` when a collection was asked for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectResponse {
    #[serde(flatten)]
    payment_method: super::PaymentMethodJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_collection: Option<CollectionJson>,
}

/// How the collection went: `status` is `Succeeded`, `Failed` (the card stays stored, and
/// the failure is counted against it) or `Unknown` (Stripe did not answer in time).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionJson {
    status: &'static str,
    amount: String,
    currency: String,
    payment_intent_id: Option<String>,
    message: Option<String>,
}

impl RedirectResponse {
    /// A card authenticated and confirmed: on file, nothing collected.
    pub fn confirmed(view: crate::vault::CardView) -> Self {
        Self {
            payment_method: view.into(),
            payment_collection: None,
        }
    }
}

impl From<crate::vault::Added> for RedirectResponse {
    fn from(added: crate::vault::Added) -> Self {
        Self {
            payment_method: added.view.into(),
            payment_collection: added.collection.map(|c| CollectionJson {
                status: match c.succeeded {
                    Some(true) => "Succeeded",
                    Some(false) => "Failed",
                    None => "Unknown",
                },
                amount: format!("{}.{:02}", c.amount_minor / 100, c.amount_minor % 100),
                currency: c.currency.to_ascii_uppercase(),
                payment_intent_id: c.payment_intent_id,
                message: c.message,
            }),
        }
    }
}
