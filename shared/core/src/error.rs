//! The domain's one error type. Each dialect maps it to its own status codes and envelope
//! in exactly one place (`dialect::*::render_error`). The port errors convert into it in
//! `crate::ports`, keeping their source.

/// Any error kept as a cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A problem with one input field. `message` names the field so it reads well alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The one message a declined card gets, whatever Stripe said: its reason ("Your card's
/// security code is incorrect.") would tell a card tester which detail was wrong. The
/// words are Fusebill's own error sample's (seed 002).
/// What the user and billing card APIs say of a declined card, whatever Stripe's reason.
pub const CARD_DECLINED: &str = "The card was declined.";
pub const DECLINED: &str = "There was an error validating the payment method: Failed validation";
/// What every dialect says of a card waiting for its authentication.
pub const AUTHENTICATION_REQUIRED: &str = "The card's issuer requires authentication. Complete it \
with Stripe.js (confirmCardSetup or confirmCardPayment with the client secret given), then \
confirm; nothing is charged or listed until then.";

/// What a page needs to finish an authentication with Stripe.js.
#[derive(Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRequired {
    /// `setup_intent` (saving a card) or `payment_intent` (a collection).
    pub kind: &'static str,
    /// `seti_…` or `pi_…`.
    pub intent_id: String,
    /// The intent's client secret: Stripe.js's `confirmCardSetup`/`confirmCardPayment`
    /// take it. It lets the page finish this one intent, nothing else; never logged.
    pub client_secret: String,
    /// Stripe's `next_action`, as Stripe gave it.
    pub next_action: serde_json::Value,
    /// The vault card waiting for it (its id; the error layer sits below the domain).
    pub payment_method_id: Option<u64>,
    /// When a pending card is given up (setups only).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<time::OffsetDateTime>,
}

impl std::fmt::Debug for ActionRequired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionRequired")
            .field("kind", &self.kind)
            .field("intent_id", &self.intent_id)
            .field("client_secret", &"[REDACTED]")
            .field("payment_method_id", &self.payment_method_id)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that match nothing active.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Absent, or outside the caller's scope: the two are indistinguishable on purpose.
    #[error("{entity} with id {id} not found.")]
    NotFound { entity: &'static str, id: String },
    /// One or more fields failed validation.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// A request that is wrong as a whole (not JSON, empty, …).
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type {0:?}; send application/json")]
    UnsupportedMediaType(String),
    /// Credentials are fine but this caller may not do this (a browser origin not allowed).
    #[error("{0}")]
    Forbidden(String),
    /// A dependency we must consult before writing (siteverify) is down; nothing was written.
    #[error("{message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The record changed under the request (a concurrent delete); safe to retry.
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but cannot be taken as it is: an `Idempotency-Key`
    /// already used with other parameters.
    #[error("{0}")]
    Unprocessable(String),
    /// A velocity limit tripped (card-testing defence); the attempt was not made.
    #[error("{0}")]
    TooManyRequests(String),
    /// The card issuer (through Stripe) refused the card. The caller sees only the generic
    /// [`DECLINED`]; `reason`, Stripe's own words, is logged and may be kept on a record.
    #[error("{DECLINED}")]
    Declined { reason: String },
    /// The card's issuer asks the cardholder to authenticate (3-D Secure) before the card is
    /// saved or charged. The page finishes it with Stripe.js and what this carries; the
    /// card is pending meanwhile (never listed, charged or default).
    #[error("{AUTHENTICATION_REQUIRED}")]
    ActionRequired(Box<ActionRequired>),
    /// A dependency (Stripe, siteverify) failed; nothing was written. The message is the
    /// caller's; the source is logged.
    #[error("{message}")]
    Upstream {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Ours. The context and source are logged, never sent.
    #[error("internal error: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl Error {
    /// Ours, caused by `source`.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// Ours, with no cause to keep: a state that should not happen.
    pub fn bug(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// A dependency failed: `message` for the caller, `source` for the log.
    pub fn upstream(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Upstream {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The whole chain of causes, for the log: `context: cause: cause`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}
