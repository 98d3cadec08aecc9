//! Who invoked the re-homing function, as STS says, not as the caller says. A direct
//! Lambda Invoke passes no caller identity to the function, so the operator's CLI signs an
//! `sts:GetCallerIdentity` request with its own credentials and sends it, unsent, in the
//! payload (the HashiCorp Vault "aws iam auth" pattern); the function sends it to STS (its
//! endpoint from configuration, never from the payload) and takes the ARN STS answers. STS
//! answers only a valid signature (moto, locally, does not check it).
//!
//! Only the signed request's own headers go on, to one fixed host, with one fixed body: the
//! payload can choose neither where the request goes nor what it asks (no SSRF, no other
//! STS action), and redirects are not followed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// The one request the function sends to STS.
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The header that binds a signed caller to one invocation: the SHA-256 of the payload it
/// came with, `caller` left out ([`binding`]). Signed with the rest, so STS vouches for it
/// too: a caller copied from one run (a log, a ticket) cannot ask for another.
pub const BINDING_HEADER: &str = "x-cardvault-rehome";
/// How old (or how far ahead) a caller's signature may be. STS itself takes 15 minutes.
pub const MAX_AGE_SECS: i64 = 300;

/// The headers a signed GetCallerIdentity carries, lower-case; no other is sent on.
const FORWARDED: &[&str] = &[
    "authorization",
    "content-type",
    "host",
    "x-amz-date",
    "x-amz-security-token",
    BINDING_HEADER,
];

/// What a caller's [`BINDING_HEADER`] must be for `payload`: SHA-256 of its JSON without
/// `caller` (keys in order: serde_json's map is sorted), hex.
pub fn binding(payload: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let mut rest = payload.clone();
    if let Some(map) = rest.as_object_mut() {
        map.remove("caller");
    }
    hex::encode(Sha256::digest(rest.to_string().as_bytes()))
}

/// The signed request's headers, as the CLI sends them (`caller` in the payload).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIdentity {
    pub headers: BTreeMap<String, String>,
}

/// STS's endpoint and the operator role the function serves.
pub struct CallerCheck {
    http: reqwest::Client,
    url: String,
    host: String,
    operator: Option<String>,
}

impl CallerCheck {
    /// The region's STS, or on a development stack (`stage`, the app's `CARDVAULT_STAGE`)
    /// `AWS_ENDPOINT_URL_STS` (locally: moto); the operator role is `OPERATOR_ROLE_ARN`
    /// (template.yaml's OperatorRoleArn): unset, no one is served. In production the
    /// endpoint is never configuration: a function whose environment someone could change
    /// must not be pointed at an STS that vouches for anyone.
    pub fn from_env(stage: crate::domain::Stage) -> Result<Self, String> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let url = match (stage, var("AWS_ENDPOINT_URL_STS")) {
            (crate::domain::Stage::Dev, Some(u)) => u,
            _ => {
                let region = var("AWS_REGION").ok_or("AWS_REGION is not set")?;
                format!("https://sts.{region}.amazonaws.com")
            }
        };
        Self::new(&url, var("OPERATOR_ROLE_ARN"))
    }

    pub fn new(url: &str, operator: Option<String>) -> Result<Self, String> {
        let host = host_of(url)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // As the shared client's (cardvault-net): a lost connect fails before the call.
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            url: url.trim_end_matches('/').to_owned() + "/",
            host,
            operator,
        })
    }

    /// The invoking principal's ARN, if STS vouches for the signature and it is the
    /// operator role (or a session of it); `Forbidden` otherwise.
    /// `binding` is [`binding`] of the payload the caller came with; `now`, Unix seconds.
    pub async fn operator(
        &self,
        signed: &SignedIdentity,
        binding: &str,
        now: i64,
    ) -> Result<String, Error> {
        let role = self.operator.as_deref().ok_or_else(|| {
            Error::Forbidden(
                "no operator role is configured (OPERATOR_ROLE_ARN): no one may re-home".into(),
            )
        })?;
        let headers = forwarded(signed, &self.host, binding, now).map_err(Error::Forbidden)?;
        let mut request = self.http.post(&self.url).body(GET_CALLER_IDENTITY_BODY);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let resp = request.send().await.map_err(|e| Error::Unavailable {
            message: format!("STS did not answer: {e}"),
            source: None,
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let arn = match (status.is_success(), arn_of(&text)) {
            (true, Some(arn)) => arn,
            _ => {
                return Err(Error::Forbidden(format!(
                    "STS did not vouch for the caller's signature ({status})"
                )))
            }
        };
        if !is_operator(&arn, role) {
            return Err(Error::Forbidden(format!(
                "{arn} is not the operator role {role}"
            )));
        }
        Ok(arn)
    }
}

/// The headers to send on: only those a signed GetCallerIdentity has, the host the one
/// configured, signed within [`MAX_AGE_SECS`] of `now`, bound to this payload (`binding`),
/// and a SigV4 signature for STS that covers the host and the binding.
pub fn forwarded(
    signed: &SignedIdentity,
    host: &str,
    binding: &str,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (name, value) in &signed.headers {
        let name = name.to_ascii_lowercase();
        if !FORWARDED.contains(&name.as_str()) {
            return Err(format!(
                "caller: header {name} is not one a signed GetCallerIdentity has"
            ));
        }
        if out.iter().any(|(k, _)| *k == name) {
            return Err(format!("caller: header {name} twice"));
        }
        out.push((name, value.clone()));
    }
    let get = |n: &str| out.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if get("host") != Some(host) {
        return Err(format!("caller: the request must be signed for {host}"));
    }
    let signed_at = get("x-amz-date")
        .and_then(amz_date)
        .ok_or("caller: no x-amz-date")?;
    if (now - signed_at).abs() > MAX_AGE_SECS {
        return Err(format!(
            "caller: signed more than {MAX_AGE_SECS} s from now; sign again"
        ));
    }
    if get(BINDING_HEADER) != Some(binding) {
        return Err(format!(
            "caller: {BINDING_HEADER} does not name this payload (a caller is good for one)"
        ));
    }
    let auth = get("authorization").ok_or("caller: no signature")?;
    let signed_headers = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .filter(|a| a.contains("/sts/aws4_request"))
        .and_then(|a| a.split("SignedHeaders=").nth(1))
        .and_then(|s| s.split(',').next())
        .ok_or("caller: not a SigV4 signature for STS")?;
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    if !signed_headers.contains(&"host") {
        return Err("caller: the signature does not cover the host".into());
    }
    if !signed_headers.contains(&BINDING_HEADER) {
        return Err(format!(
            "caller: the signature does not cover {BINDING_HEADER}"
        ));
    }
    if let Some(h) = signed_headers.iter().find(|h| !FORWARDED.contains(h)) {
        return Err(format!("caller: signed header {h} is not one sent on"));
    }
    Ok(out)
}

/// The role itself, or a session of it (`arn:…:sts::<acct>:assumed-role/<name>/<session>`;
/// an assumed-role ARN drops the role's path).
pub fn is_operator(arn: &str, role: &str) -> bool {
    if arn == role {
        return true;
    }
    let Some((prefix, path)) = role.split_once(":role/") else {
        return false;
    };
    let (Some(name), Some(sts_prefix)) = (
        path.rsplit('/').next().filter(|n| !n.is_empty()),
        prefix
            .split_once(":iam::")
            .map(|(p, acct)| format!("{p}:sts::{acct}")),
    ) else {
        return false;
    };
    arn.strip_prefix(&format!("{sts_prefix}:assumed-role/{name}/"))
        .is_some_and(|session| !session.is_empty() && !session.contains('/'))
}

/// The `Host` a request to the STS endpoint `url` carries, and its signature covers:
/// `host[:port]`. The CLI signs for it and the function checks it, so both derive it here.
pub fn host_of(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("STS endpoint {url}: {e}"))?;
    match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => Ok(format!("{h}:{p}")),
        (Some(h), None) => Ok(h.to_owned()),
        (None, _) => Err(format!("STS endpoint {url}: no host")),
    }
}

/// `20261207T150000Z` as Unix seconds.
fn amz_date(raw: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(raw, format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// `<Arn>…</Arn>` of a GetCallerIdentity answer.
fn arn_of(xml: &str) -> Option<String> {
    let (_, rest) = xml.split_once("<Arn>")?;
    let (arn, _) = rest.split_once("</Arn>")?;
    Some(arn.trim().to_owned()).filter(|a| a.starts_with("arn:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "sts.us-east-1.amazonaws.com";
    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIA/20261207/us-east-1/sts/aws4_request, \
                        SignedHeaders=content-type;host;x-amz-date;x-cardvault-rehome, Signature=ab";
    /// 2026-12-07T15:00:00Z, the test signatures' x-amz-date.
    const NOW: i64 = 1_796_655_600;
    const BINDING: &str = "b1nd";

    fn signed(extra: &[(&str, &str)]) -> SignedIdentity {
        let mut headers: BTreeMap<String, String> = [
            ("Authorization", AUTH),
            ("Host", HOST),
            ("X-Amz-Date", "20261207T150000Z"),
            ("Content-Type", CONTENT_TYPE),
            ("X-Cardvault-Rehome", BINDING),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            headers.insert((*k).to_owned(), (*v).to_owned());
        }
        SignedIdentity { headers }
    }

    #[test]
    fn only_a_signed_identity_request_for_the_configured_host_goes_on() {
        let forwarded = |s: &SignedIdentity, host: &str| forwarded(s, host, BINDING, NOW);
        assert_eq!(forwarded(&signed(&[]), HOST).unwrap().len(), 5);
        let token = forwarded(&signed(&[("X-Amz-Security-Token", "t")]), HOST);
        assert_eq!(token.unwrap().len(), 6);
        for (bad, says) in [
            (signed(&[("Host", "169.254.169.254")]), "signed for"),
            (signed(&[("X-Forwarded-Host", "evil")]), "not one"),
            (signed(&[("Authorization", "Bearer x")]), "SigV4"),
            (
                signed(&[("Authorization", &AUTH.replace("/sts/", "/s3/"))]),
                "SigV4",
            ),
            (
                signed(&[(
                    "Authorization",
                    &AUTH.replace("content-type;host;", "content-type;"),
                )]),
                "host",
            ),
            (
                signed(&[(
                    "Authorization",
                    &AUTH.replace("x-amz-date", "x-amz-date;range"),
                )]),
                "range",
            ),
            // Another payload's caller, one whose binding is not signed, a stale one.
            (signed(&[("X-Cardvault-Rehome", "other")]), "this payload"),
            (
                signed(&[("Authorization", &AUTH.replace(";x-cardvault-rehome", ""))]),
                "does not cover x-cardvault-rehome",
            ),
            (signed(&[("X-Amz-Date", "20261207T145459Z")]), "sign again"),
            (signed(&[("X-Amz-Date", "20261207T150501Z")]), "sign again"),
            (signed(&[("X-Amz-Date", "yesterday")]), "x-amz-date"),
        ] {
            let e = forwarded(&bad, HOST).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        let twice = forwarded(&signed(&[("host", "169.254.169.254")]), HOST);
        assert!(twice.unwrap_err().contains("twice"));
        let mut no_date = signed(&[]);
        no_date.headers.remove("X-Amz-Date");
        assert!(forwarded(&no_date, HOST).is_err());
        let mut unbound = signed(&[]);
        unbound.headers.remove("X-Cardvault-Rehome");
        assert!(forwarded(&unbound, HOST).is_err());
        // Within the window either way, the edges included.
        for date in ["20261207T145500Z", "20261207T150500Z"] {
            assert!(
                forwarded(&signed(&[("X-Amz-Date", date)]), HOST).is_ok(),
                "{date}"
            );
        }
    }

    #[test]
    fn a_binding_names_the_payload_without_its_caller() {
        let a = serde_json::json!({"tenant": "t", "toAccount": "acct_1", "caller": {"x": 1}});
        let b = serde_json::json!({"toAccount": "acct_1", "tenant": "t"});
        assert_eq!(binding(&a), binding(&b));
        let c = serde_json::json!({"tenant": "t", "toAccount": "acct_2"});
        assert_ne!(binding(&a), binding(&c));
        assert_eq!(binding(&b).len(), 64);
    }

    #[test]
    fn the_operator_is_the_role_or_a_session_of_it() {
        let role = "arn:aws:iam::123456789012:role/ops/cardvault-operator";
        for (arn, ok) in [
            (
                "arn:aws:sts::123456789012:assumed-role/cardvault-operator/alice",
                true,
            ),
            (role, true),
            (
                "arn:aws:sts::123456789012:assumed-role/cardvault-operator/",
                false,
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/cardvault-operator-2/alice",
                false,
            ),
            (
                "arn:aws:sts::999999999999:assumed-role/cardvault-operator/alice",
                false,
            ),
            ("arn:aws:iam::123456789012:user/cardvault-operator", false),
            (
                "arn:aws:sts::123456789012:assumed-role/other/cardvault-operator",
                false,
            ),
        ] {
            assert_eq!(is_operator(arn, role), ok, "{arn}");
        }
        assert_eq!(
            arn_of("<GetCallerIdentityResult><Arn>arn:aws:sts::1:user/moto</Arn></GetCallerIdentityResult>"),
            Some("arn:aws:sts::1:user/moto".into())
        );
        assert_eq!(arn_of("<Error>denied</Error>"), None);
    }
}
