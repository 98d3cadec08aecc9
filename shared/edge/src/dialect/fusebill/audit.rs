//! `GET /v1/customers/{id}/auditEvents`: one customer's audit events, newest first. Fusebill
//! has no such endpoint; it follows the merchant API's casing and error envelope, and pages
//! with a cursor (`before`, the last page's `nextBefore`), since the index is read one
//! Query per page and cannot skip to a page number.

use lambda_http::RequestExt;
use serde::Serialize;

use crate::domain::AuditRecord;
use crate::error::{Error, FieldError};

/// Events per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 25;

/// `limit` (1 to 100) and `before` (a sequence number from `nextBefore`).
#[derive(Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub limit: usize,
    pub before: Option<u64>,
}

pub fn audit_page(req: &lambda_http::Request) -> Result<AuditPage, Error> {
    let mut page = AuditPage {
        limit: DEFAULT_LIMIT,
        before: None,
    };
    let mut errors = Vec::new();
    let max = crate::vault::audit::AUDIT_PAGE_MAX;
    for (name, value) in req.query_string_parameters().iter() {
        if name.eq_ignore_ascii_case("limit") {
            match value.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => page.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("limit must be an integer from 1 to {max}"),
                )),
            }
        } else if name.eq_ignore_ascii_case("before") {
            match value.trim().parse::<u64>() {
                Ok(n) if n >= 1 => page.before = Some(n),
                _ => errors.push(FieldError::new(
                    "before",
                    "before must be a positive integer (a nextBefore)",
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

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEventJson {
    pub seq: u64,
    pub at: String,
    pub action: String,
    pub actor: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub customer_id: Option<u64>,
    pub payment_method_id: Option<u64>,
    pub object: Option<String>,
    pub outcome: String,
    /// The chain: this event's hash and its predecessor's (`cardvault-admin audit verify`).
    pub hash: String,
    pub prev_hash: String,
}

impl From<AuditRecord> for AuditEventJson {
    fn from(r: AuditRecord) -> Self {
        let e = r.event;
        Self {
            seq: r.seq,
            at: e.at,
            action: e.action,
            actor: e.actor,
            source_ip: e.source_ip,
            request_id: e.request_id,
            customer_id: e.customer_id,
            payment_method_id: e.payment_method_id,
            object: e.object,
            outcome: e.outcome,
            hash: r.hash,
            prev_hash: r.prev_hash,
        }
    }
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEventsJson {
    pub audit_events: Vec<AuditEventJson>,
    /// The next (older) page's `before`; null on the last page.
    pub next_before: Option<u64>,
}

impl AuditEventsJson {
    pub fn page(records: Vec<AuditRecord>, limit: usize) -> Self {
        let next_before = (records.len() == limit)
            .then(|| records.last().map(|r| r.seq))
            .flatten();
        Self {
            audit_events: records.into_iter().map(Into::into).collect(),
            next_before,
        }
    }
}
