//! `openapi.yaml`: the four dialects' contract, built from the wire types' `ToSchema`
//! derives (feature `openapi`, so no Lambda binary carries utoipa). `shared/edge/tests/openapi.rs`
//! fails when the checked-in file differs from [`yaml`], and when its routes differ from
//! template.yaml's; `UPDATE_OPENAPI=1 cargo test -p cardvault --features openapi --test
//! openapi` rewrites it.
//!
//! To add an operation: one more row in [`operations`]. To add a request header to every
//! write: [`Op::header`] in [`operations`]' loop, as `write_header` shows.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::ToSchema;

use super::{embedthis, fusebill, rechat, stripe_webhook};

/// The four dialects: one tag each, with its own auth and error envelope.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Merchant,
    Redirect,
    User,
    Billing,
    /// Stripe's webhooks: signed by Stripe, no API key.
    Webhook,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::Merchant,
        Dialect::Redirect,
        Dialect::User,
        Dialect::Billing,
        Dialect::Webhook,
    ];

    /// The tag's name, as Redoc shows it.
    pub fn tag(self) -> &'static str {
        match self {
            Dialect::Merchant => "Merchant API (Fusebill style)",
            Dialect::Redirect => "Transparent redirect (Fusebill paymentsv2)",
            Dialect::User => "User API (Rechat style)",
            Dialect::Billing => "Billing card API (EmbedThis style)",
            Dialect::Webhook => "Stripe webhooks",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Dialect::Merchant => "A merchant's back end: customers, Stripe card import, payment methods, countries. `Authorization: Basic <private API key>` (the raw key, as Fusebill's samples send it, or standard Basic with the key as user name). Errors: `{ErrorId, HttpStatusCode, Errors:[{Key, Value}]}`.",
            Dialect::Redirect => "The cardholder's browser posts the card here (JSON or form). No Authorization header: `publicApiKey` in the body names the tenant and `recaptcha` carries a reCAPTCHA v2 token. A card number, CVV or reCAPTCHA token in the query string is refused. Errors: Fusebill's envelope.",
            Dialect::User => "A signed-in user's Stripe customers. `Authorization: Bearer <JWT>`. Errors: `{code, message, http, attributes?}`.",
            Dialect::Billing => "An account's billing cards (OneTable style). `Authorization: Bearer <JWT>`. Errors: `{error, message, fields?}`.",
            Dialect::Webhook => "Stripe's events, keeping the vault's cards in step (README, \"Stripe webhooks\"). No API key: `Stripe-Signature` (`t=<unix>,v1=<hex HMAC-SHA256 of t.body>`, the endpoint's signing secret, 5 minutes' tolerance) is checked before the body is read. 200 `{received, result}` once received; errors in Stripe's own shape, `{error: {type, message}}` (400 for a bad or missing signature).",
        }
    }

    /// The error envelope's component, and its example for a 404.
    fn error_schema(self) -> &'static str {
        match self {
            Dialect::Merchant | Dialect::Redirect => "Envelope",
            Dialect::User => "ErrorEnvelope",
            Dialect::Billing => "ErrorJson",
            Dialect::Webhook => "WebhookErrorJson",
        }
    }

    fn error_example(self, status: u16) -> Value {
        let message = reason(status);
        match self {
            Dialect::Merchant | Dialect::Redirect => json!({
                "ErrorId": 0, "HttpStatusCode": status,
                "Errors": [{"Key": "Api Error", "Value": message}]
            }),
            Dialect::User => json!({"code": code(status), "message": message, "http": status}),
            Dialect::Billing => json!({"error": code(status), "message": message}),
            Dialect::Webhook => {
                json!({"error": {"type": "invalid_request_error", "message": message}})
            }
        }
    }

    fn security(self) -> Option<&'static str> {
        match self {
            Dialect::Merchant => Some("merchantKey"),
            Dialect::Redirect => Some("publicKey"),
            Dialect::User | Dialect::Billing => Some("bearerJwt"),
            Dialect::Webhook => None,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "The request is not valid.",
        401 => "Authorization is missing or not valid.",
        402 => "The card's issuer asks for 3-D Secure: the card waits (never listed or charged) and the body's action (`RequiresAction` / `action`) carries the intent's client secret for Stripe.js.",
        403 => "The caller may not do this.",
        404 => "Not found.",
        409 => "The request conflicts with the current state.",
        413 => "The request body is too large.",
        415 => "The request body must be JSON.",
        429 => "Too many requests.",
        502 => "Stripe answered with an error.",
        503 => "A dependency is unavailable; nothing was changed.",
        _ => "Error.",
    }
}

fn code(status: u16) -> &'static str {
    match status {
        400 => "Validation",
        401 => "Unauthorized",
        402 => "RequiresAction",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        _ => "Error",
    }
}

/// One operation of the document: a row of [`operations`].
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub dialect: Dialect,
    summary: &'static str,
    body: Option<(RefOr<Schema>, Value)>,
    form: bool,
    ok: (u16, Option<RefOr<Schema>>),
    errors: Vec<u16>,
    params: Vec<(&'static str, ParameterIn, RefOr<Schema>, bool, &'static str)>,
    headers: Vec<(&'static str, &'static str)>,
}

impl Op {
    fn new(method: &'static str, path: &'static str, id: &'static str, dialect: Dialect) -> Self {
        // What every operation can answer (status_of): bad input, auth, absence, the
        // velocity limits, and a dependency out of time.
        let mut errors = vec![400, 404, 429, 503];
        if !matches!(dialect, Dialect::Redirect | Dialect::Webhook) {
            errors.extend([401, 403]);
        }
        Self {
            method,
            path,
            id,
            dialect,
            summary: "",
            body: None,
            form: false,
            ok: (200, None),
            errors,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }
    fn summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }
    /// A JSON body (so also 413 and 415), with an example from the source document.
    fn body(mut self, schema: RefOr<Schema>, example: Value) -> Self {
        self.body = Some((schema, example));
        self.errors.extend([413, 415]);
        self
    }
    fn ok(mut self, status: u16, schema: Option<RefOr<Schema>>) -> Self {
        self.ok = (status, schema);
        self
    }
    fn errors(mut self, more: &[u16]) -> Self {
        self.errors.extend(more);
        self
    }
    fn path_id(mut self, what: &'static str) -> Self {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .build();
        self.params
            .push(("id", ParameterIn::Path, schema.into(), true, what));
        self
    }
    fn path_text(mut self, name: &'static str, about: &'static str) -> Self {
        self.params
            .push((name, ParameterIn::Path, text(), true, about));
        self
    }
    fn query(mut self, name: &'static str, schema: RefOr<Schema>, about: &'static str) -> Self {
        self.params
            .push((name, ParameterIn::Query, schema, false, about));
        self
    }
    /// An optional request header (for example an idempotency key on every write).
    pub fn header(mut self, name: &'static str, about: &'static str) -> Self {
        self.headers.push((name, about));
        self
    }
}

fn int(min: i64, max: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
        .into()
}

fn text() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .build()
        .into()
}

/// The schemas the operations name, collected as they are referenced.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// A named component for `T` (and the types it names), and a reference to it.
    fn named<T: ToSchema>(&mut self) -> RefOr<Schema> {
        self.0.insert(T::name().into_owned(), T::schema());
        self.nested::<T>();
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    }
    fn nested<T: ToSchema>(&mut self) {
        let mut more = Vec::new();
        T::schemas(&mut more);
        self.0.extend(more);
    }
}

/// The user API's `{code, data, info?}` ([`rechat::Data`]), around one Stripe customer or
/// a page of them (with `info`). Built here: utoipa names a generic type's parameter, not
/// its argument.
fn rechat_data(s: &mut Schemas, list: bool) -> RefOr<Schema> {
    let item = s.named::<rechat::StripeCustomerJson>();
    let data = if list {
        utoipa::openapi::ArrayBuilder::new()
            .items(item)
            .build()
            .into()
    } else {
        item
    };
    let mut b = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["OK"])),
        )
        .required("code")
        .property("data", data)
        .required("data");
    if list {
        b = b
            .property("info", s.named::<rechat::Info>())
            .required("info");
    }
    b.build().into()
}

/// Every operation, in template.yaml's order.
pub fn operations() -> Vec<Op> {
    let mut s = Schemas::default();
    operations_with(&mut s)
}

fn operations_with(s: &mut Schemas) -> Vec<Op> {
    use Dialect::*;
    let customer = s.named::<fusebill::CustomerJson>();
    let payment_method = s.named::<fusebill::PaymentMethodJson>();
    let card = s.named::<embedthis::CardJson>();
    let id_request = s.named::<embedthis::IdRequest>();
    let page_size = int(1, crate::vault::cards::PAGE_SIZE_MAX as i64);
    let list_of = |item: RefOr<Schema>| -> RefOr<Schema> {
        utoipa::openapi::ArrayBuilder::new()
            .items(item)
            .build()
            .into()
    };
    let import = s.named::<fusebill::ImportRequestJson>();
    let received = s.named::<stripe_webhook::ReceivedJson>();
    let import_example = json!({"customerId": 5, "stripeCustomerId": "cus_G9LifKdYGybmcQ", "stripeCardId": "card_1FhuXsKC6bAhbxFqpVbCkDRT"});
    vec![
        Op::new("post", "/v1/customers", "createCustomer", Merchant)
            .summary("Create a customer")
            .body(
                s.named::<fusebill::CustomerRequest>(),
                json!({"firstName": "John", "lastName": "Doe", "companyName": "Acme", "primaryEmail": "john@example.com", "reference": "A-1"}),
            )
            .ok(200, Some(customer.clone()))
            .errors(&[409])
            .idempotent(),
        Op::new("get", "/v1/customers/{id}/auditEvents", "listAuditEvents", Merchant)
            .summary("A customer's audit events, newest first")
            .path_id("The customer's id.")
            .query(
                "limit",
                int(1, crate::vault::audit::AUDIT_PAGE_MAX as i64),
                "Events per page.",
            )
            .query("before", int(1, i64::MAX), "The last page's `nextBefore`.")
            .ok(200, Some(s.named::<fusebill::audit::AuditEventsJson>())),
        Op::new("get", "/v1/customers/{id}", "getCustomer", Merchant)
            .summary("Read a customer")
            .path_id("The customer's id.")
            .ok(200, Some(customer)),
        Op::new("post", "/v1/paymentMethodImport/stripeConnect", "importStripeConnect", Merchant)
            .summary("Import a card from the merchant's connected Stripe account")
            .body(import.clone(), import_example.clone())
            .ok(200, Some(payment_method.clone()))
            .errors(&[409, 502])
            .idempotent(),
        Op::new("post", "/v1/AchCardImport/stripeConnect", "importAchStripeConnect", Merchant)
            .summary("Import a bank account (ACH) from the merchant's connected Stripe account")
            .body(import.clone(), json!({"customerId": 5, "stripeCustomerId": "cus_G9LifKdYGybmcQ", "stripeCardId": "ba_1FhuXsKC6bAhbxFqpVbCkDRT"}))
            .ok(200, Some(payment_method.clone()))
            .errors(&[409, 502])
            .idempotent(),
        Op::new("post", "/v1/paymentMethodImport/Stripe", "importStripe", Merchant)
            .summary("Import a card from the platform's Stripe account")
            .body(import, import_example)
            .ok(200, Some(payment_method.clone()))
            .errors(&[409, 502])
            .idempotent(),
        Op::new("get", "/v1/customers/{id}/paymentMethods/creditCard", "listCreditCards", Merchant)
            .summary("A customer's payment methods, paged")
            .path_id("The customer's id.")
            .query("pageSize", page_size, "Payment methods per page.")
            .query("pageNumber", int(0, 1_000_000), "The page, from 0.")
            .ok(200, Some(list_of(payment_method.clone()))),
        Op::new("get", "/v1/paymentMethods/{id}", "getPaymentMethod", Merchant)
            .summary("Read a payment method")
            .path_id("The payment method's id.")
            .ok(200, Some(payment_method.clone())),
        Op::new("delete", "/v1/paymentMethods/{id}/creditCard", "deleteCreditCard", Merchant)
            .summary("Delete a payment method")
            .path_id("The payment method's id.")
            .ok(204, None)
            .errors(&[409, 502])
            .idempotent(),
        Op::new("put", "/v1/customerbillingsetting", "setDefaultPaymentMethod", Merchant)
            .summary("Set a customer's default payment method")
            .body(
                s.named::<fusebill::BillingSettingRequest>(),
                json!({"id": 5, "defaultPaymentMethodId": 12}),
            )
            .ok(200, Some(s.named::<fusebill::BillingSettingJson>()))
            .errors(&[409])
            .idempotent(),
        Op::new("get", "/v1/countries", "listCountries", Merchant)
            .summary("Countries and their states")
            .ok(200, Some(list_of(s.named::<fusebill::CountryJson>()))),
        Op::new("post", "/payments/stripe/customers", "createStripeCustomer", User)
            .summary("Save a card (a Stripe token) as the user's Stripe customer")
            .body(
                s.named::<rechat::CreateStripeCustomerRequest>(),
                json!({"token": "tok_visa"}),
            )
            .ok(200, Some(rechat_data(s, false)))
            .errors(&[402, 409, 502])
            .idempotent(),
        Op::new("get", "/payments/stripe/customers", "listStripeCustomers", User)
            .summary("The user's Stripe customers")
            .query("start", int(0, 1_000_000), "The offset, from 0.")
            .query(
                "limit",
                int(1, crate::vault::stripe_customers::LINKS_LIMIT_MAX as i64),
                "Items per page.",
            )
            .ok(200, Some(rechat_data(s, true))),
        Op::new("post", "/api/paymentsv2", "addCreditCard", Redirect)
            .summary("Add a credit card from the cardholder's browser")
            .body(s.named::<RedirectRequest>(), redirect_example())
            .form()
            .ok(200, Some(s.named::<fusebill::redirect::RedirectResponse>()))
            .errors(&[402, 403, 409, 502])
            .idempotent(),
        Op::new("post", "/api/paymentsv2/", "addCreditCardSlash", Redirect)
            .summary("Add a credit card (the same, with a trailing slash)")
            .body(s.named::<RedirectRequest>(), redirect_example())
            .form()
            .ok(200, Some(s.named::<fusebill::redirect::RedirectResponse>()))
            .errors(&[402, 403, 409, 502])
            .idempotent(),
        Op::new("options", "/api/paymentsv2", "addCreditCardPreflight", Redirect)
            .summary("CORS preflight")
            .ok(204, None)
            .errors(&[403]),
        Op::new("options", "/api/paymentsv2/", "addCreditCardPreflightSlash", Redirect)
            .summary("CORS preflight (trailing slash)")
            .ok(204, None)
            .errors(&[403]),
        Op::new("post", "/card/create", "cardCreate", Billing)
            .summary("Save a card (a Stripe token) on the caller's account")
            .body(
                s.named::<embedthis::CreateRequest>(),
                json!({"current": true, "name": "Work card", "number": "4242", "month": "12", "year": "2030", "stripeToken": "tok_visa"}),
            )
            .ok(200, Some(card.clone()))
            .errors(&[402, 409, 502])
            .idempotent(),
        Op::new("post", "/card/find", "cardFind", Billing)
            .summary("The account's cards, newest first")
            .query("limit", int(1, 100), "Cards per page (default 20).")
            .query("next", text(), "The cursor of the next page.")
            .query("prev", text(), "The cursor of the previous page.")
            .query("where", text(), "OneTable's filter template, e.g. `${current} = {true}`.")
            .query("filter", text(), "A text search over the card's name and number.")
            .ok(200, Some(s.named::<embedthis::PageJson>())),
        Op::new("post", "/card/get", "cardGet", Billing)
            .summary("Read a card")
            .body(id_request.clone(), json!({"id": "12"}))
            .ok(200, Some(card.clone())),
        Op::new("post", "/card/remove", "cardRemove", Billing)
            .summary("Remove a card")
            .body(id_request.clone(), json!({"id": "12"}))
            .ok(200, Some(card.clone()))
            .errors(&[409, 502])
            .idempotent(),
        Op::new("post", "/card/updateCurrent", "cardUpdateCurrent", Billing)
            .summary("Make a card the account's current one")
            .body(id_request, json!({"id": "12", "current": true}))
            .ok(200, Some(card))
            .errors(&[409])
            .idempotent(),
        Op::new("post", "/card/getStripe", "cardGetStripe", Billing)
            .summary("The Stripe settings a UI needs to tokenize cards")
            .ok(200, Some(s.named::<embedthis::StripeConfigJson>())),
        Op::new("post", "/v1/webhooks/stripe", "stripeWebhookPlatform", Webhook)
            .summary("Stripe's events of the platform, Connect events (with `account`) among them")
            .body(stripe_event(), stripe_event_example())
            .header("Stripe-Signature", SIGNATURE)
            .ok(200, Some(received.clone()))
            .errors(&[409, 500]),
        Op::new("post", "/v1/webhooks/stripe/{tenantId}", "stripeWebhookTenant", Webhook)
            .summary("Stripe's events of a tenant with its own Stripe account")
            .path_text("tenantId", "The tenant whose endpoint (and signing secret) this is.")
            .body(stripe_event(), stripe_event_example())
            .header("Stripe-Signature", SIGNATURE)
            .ok(200, Some(received))
            .errors(&[409, 500]),
    ]
}

const SIGNATURE: &str = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">`, one `v1` per active signing secret. Required: without it, 400.";

/// A Stripe event: any JSON object (its `id`, `type`, `created`, `account` and
/// `data.object` are read once the signature holds).
fn stripe_event() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A Stripe event object, as Stripe sends it."))
        .build()
        .into()
}

fn stripe_event_example() -> Value {
    json!({"id": "evt_1Example", "object": "event", "type": "customer.source.updated",
           "created": 1795428000, "account": "acct_1DemoShopA00001",
           "data": {"object": {"id": "card_1Example", "object": "card", "customer": "cus_Example",
                               "brand": "Visa", "last4": "4242", "exp_month": 12, "exp_year": 2031}}})
}

impl Op {
    /// A write: `Idempotency-Key` replays its first answer, refuses other parameters (422)
    /// and a request still in flight (409) (`crate::idempotent`).
    fn idempotent(self) -> Self {
        self.header(
            "Idempotency-Key",
            "Replays the first answer (2xx) for 24 h, with `Idempotent-Replayed: true`; the same key with other parameters is 422, one still in flight 409. Scoped to the caller.",
        )
        .errors(&[409, 422])
    }

    /// Form data too (the document's jQuery page posts `x-www-form-urlencoded`).
    fn form(mut self) -> Self {
        self.form = true;
        self
    }
}

fn redirect_example() -> Value {
    json!({
        "customerId": 5, "publicApiKey": "pk_live_…", "cardNumber": "4242424242424242",
        "firstName": "John", "lastName": "Doe", "expirationMonth": 12, "expirationYear": 30,
        "cvv": "123", "recaptcha": "03AGdBq24…", "address1": "1 Main St", "city": "Ottawa",
        "countryId": 124, "stateId": 9, "postalZip": "K1A 0A1", "makeDefault": true
    })
}

/// `POST /api/paymentsv2`'s fields. The redirect reads them by name in any case, from JSON,
/// a form or the query string (`redirect::Params`), so this type describes them only.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RedirectRequest {
    customer_id: u64,
    /// Names the tenant.
    public_api_key: String,
    /// The full card number: never stored or returned, only its last four digits.
    /// Required unless the tenant's page makes the card with Stripe.js (then refused).
    card_number: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// Required with `cardNumber`.
    expiration_month: Option<u8>,
    /// Two or four digits. Required with `cardNumber`.
    expiration_year: Option<u16>,
    /// Never stored or logged. Required with `cardNumber`.
    cvv: Option<String>,
    /// A tenant whose page makes the card a PaymentMethod with Stripe.js (`cardvault-admin
    /// set-card-flow --flow stripe-js`) sends its `pm_…` id instead of the card: the vault
    /// never sees the number.
    payment_method_id: Option<String>,
    /// The confirm after 3-D Secure: the `RequiresAction.ClientSecret` of a 402, sent back
    /// (with `publicApiKey` and `customerId` only) once Stripe.js finished the
    /// authentication. Never in the query string.
    setup_intent_client_secret: Option<String>,
    /// A reCAPTCHA v2 token.
    recaptcha: String,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    postal_zip: Option<String>,
    country_id: Option<u16>,
    state_id: Option<u32>,
    email: Option<String>,
    make_default: Option<bool>,
    client_ip: Option<String>,
    risk_token: Option<String>,
    payment_collect_options: Option<CollectOptions>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CollectOptions {
    /// An amount to collect now, in the tenant's currency, e.g. `0.50`.
    collection_amount: f64,
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut s = Schemas::default();
    let ops = operations_with(&mut s);
    // The error envelopes, which every operation's error answers name (error_schema).
    s.named::<fusebill::Envelope>();
    s.named::<rechat::ErrorEnvelope>();
    s.named::<embedthis::ErrorJson>();
    s.named::<stripe_webhook::WebhookErrorJson>();
    let mut paths = PathsBuilder::new().build();
    for op in ops {
        let mut b = OperationBuilder::new()
            .operation_id(Some(op.id))
            .tag(op.dialect.tag())
            .summary(Some(op.summary));
        for (name, place, schema, required, about) in op.params {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(place)
                    .required(if required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(about))
                    .schema(Some(schema)),
            );
        }
        for (name, about) in op.headers {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(about))
                    .schema(Some(text())),
            );
        }
        if let Some((schema, example)) = op.body {
            let mut rb = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(schema.clone()))
                        .example(Some(example))
                        .build(),
                );
            if op.form {
                rb = rb.content(
                    "application/x-www-form-urlencoded",
                    ContentBuilder::new().schema(Some(schema)).build(),
                );
            }
            b = b.request_body(Some(rb.build()));
        }
        let (status, schema) = op.ok;
        let mut ok =
            ResponseBuilder::new().description(if status == 204 { "No content." } else { "OK." });
        if let Some(schema) = schema {
            ok = ok.content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            );
        }
        b = b.response(status.to_string(), ok.build());
        let mut errors = op.errors;
        errors.sort_unstable();
        errors.dedup();
        let envelope = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            op.dialect.error_schema(),
        ));
        for status in errors {
            // The preflight refuses with no body (cors::preflight).
            if op.method == "options" {
                b = b.response(
                    status.to_string(),
                    ResponseBuilder::new().description(reason(status)).build(),
                );
                continue;
            }
            b = b.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(reason(status))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(envelope.clone()))
                            .example(Some(op.dialect.error_example(status)))
                            .build(),
                    )
                    .build(),
            );
        }
        b = match op.dialect.security().filter(|_| op.method != "options") {
            Some(name) => b.security(SecurityRequirement::new(name, Vec::<String>::new())),
            None => b.security(SecurityRequirement::default()),
        };
        let method = match op.method {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            "put" => HttpMethod::Put,
            "delete" => HttpMethod::Delete,
            "options" => HttpMethod::Options,
            other => unreachable!("method {other}"),
        };
        paths.add_path_operation(op.path, vec![method], b.build());
    }
    let mut schemas = s.0;
    if let Some(instrument) = schemas.get_mut("InstrumentJson") {
        *instrument = one_object(instrument.clone());
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "merchantKey",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("`Authorization: Basic <private API key>`: the raw key, as Fusebill's samples send it, or base64 of `KEY:`."))
                    .build(),
            ),
        )
        .security_scheme(
            "bearerJwt",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .security_scheme(
            "publicKey",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "publicApiKey",
                "The tenant's public key: the redirect reads `publicApiKey` from the body (or the query string), with a reCAPTCHA token in `recaptcha` (body only).",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("cardvault")
                .version(env!("CARGO_PKG_VERSION"))
                .license(Some(utoipa::openapi::LicenseBuilder::new().name("MIT").identifier(Some("MIT")).build()))
                .description(Some("A card-on-file vault that speaks four API dialects. Generated from the Rust wire types (`cargo test -p cardvault --features openapi --test openapi`); do not edit by hand."))
                .build(),
        )
        .tags(Some(Dialect::ALL.map(|d| {
            TagBuilder::new()
                .name(d.tag())
                .description(Some(d.about()))
                .build()
        })))
        .servers(Some([utoipa::openapi::ServerBuilder::new()
            .url("http://127.0.0.1:8080")
            .description(Some("make dev's router"))
            .build()]))
        .paths(paths)
        .components(Some(components))
        .build()
}

/// A `oneOf` of objects as one object whose fields are each optional. Code generators
/// (openapi-python-client) cannot take `allOf` of a `oneOf`, and a flattened untagged enum
/// (`PaymentMethodJson`'s card or bank-account fields) is exactly that; the document then
/// says less (either set of fields may come) but every client can read it.
fn one_object(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::OneOf(one_of)) = schema else {
        return schema;
    };
    let mut merged = ObjectBuilder::new().description(one_of.description.clone().or(Some(
        "A card's fields or a bank account's (ACH): one set or the other.".into(),
    )));
    for item in one_of.items {
        if let RefOr::T(Schema::Object(object)) = item {
            for (name, property) in object.properties {
                merged = merged.property(name, property);
            }
        }
    }
    merged.build().into()
}

/// The document as YAML, as `openapi.yaml` holds it.
pub fn yaml() -> String {
    document().to_yaml().expect("the document serializes")
}
