//! The operator's identity for the re-homing function: an `sts:GetCallerIdentity` request
//! signed (SigV4) with this CLI's credentials, not sent. The function sends it to STS and
//! takes the ARN STS answers (`cardvault_aws::caller_identity`), so the caller cannot name
//! itself. The signature is good for 15 minutes (STS's window), for GetCallerIdentity only.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use cardvault_aws::caller_identity::{BINDING_HEADER, CONTENT_TYPE, GET_CALLER_IDENTITY_BODY};
use serde_json::{json, Value};

use crate::Result;

/// `{"headers": {...}}`: the signed request's headers, host included, bound to `payload`
/// (`caller_identity::binding`): good for that payload only, for a few minutes.
pub async fn signed_caller_identity(aws: &aws_config::SdkConfig, payload: &Value) -> Result<Value> {
    let binding = cardvault_aws::caller_identity::binding(payload);
    let region = aws
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region: set AWS_REGION")?;
    // The endpoint the SDK would use for STS: AWS_ENDPOINT_URL_STS locally.
    let url = std::env::var("AWS_ENDPOINT_URL_STS")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
    let url = url.trim_end_matches('/').to_owned() + "/";
    let host = cardvault_aws::caller_identity::host_of(&url)?;
    let credentials = aws
        .credentials_provider()
        .ok_or("no AWS credentials")?
        .provide_credentials()
        .await
        .map_err(|e| format!("AWS credentials: {e}"))?;
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", CONTENT_TYPE),
        (BINDING_HEADER, binding.as_str()),
    ];
    let request = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(GET_CALLER_IDENTITY_BODY.as_bytes()),
    )?;
    let (instructions, _) = sign(request, &params)?.into_parts();
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        out.insert(name.to_owned(), json!(value));
    }
    for (name, value) in instructions.headers() {
        out.insert(name.to_ascii_lowercase(), json!(value));
    }
    Ok(json!({ "headers": out }))
}
