//! `set-webhook-secret`: the signing secrets of a Stripe webhook endpoint, kept as
//! `{"secrets": ["whsec_new", "whsec_old"]}` (several while one rolls; README, "Stripe
//! webhooks"). The platform endpoint's secret is the template's `StripeWebhookSecret`; a
//! tenant's own endpoint's lives at `cardvault/webhook/tenant/<tenant>`, which only the
//! webhook function may read.

use aws_config::SdkConfig;
use cardvault::domain::TenantId;
use cardvault::secret::random_token;
use cardvault::vault::webhooks::tenant_webhook_secret_id;
use serde_json::{json, Value};

use crate::secrets::{put_secret, read_secret};
use crate::Result;

/// Which endpoint's secrets.
pub enum Endpoint {
    Platform { secret_id: String },
    Tenant(String),
}

/// What to do with them.
pub enum Change {
    /// Set `secret` (or a new random one) as the first; keep the others only if asked.
    Set {
        secret: Option<String>,
        keep_previous: bool,
    },
    /// Drop one (after a roll).
    Remove(String),
}

pub async fn set_secret(aws: &SdkConfig, endpoint: Endpoint, change: Change) -> Result<Value> {
    let id = match endpoint {
        Endpoint::Platform { secret_id } => secret_id,
        Endpoint::Tenant(t) => tenant_webhook_secret_id(&TenantId::try_from(t)?),
    };
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let current: Vec<String> = read_secret(&client, &id)
        .await?
        .and_then(|raw| {
            let raw = raw.trim().to_owned();
            if raw.starts_with('{') {
                serde_json::from_str::<Value>(&raw)
                    .ok()?
                    .get("secrets")
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
            } else {
                Some(vec![raw]).filter(|v| !v[0].is_empty())
            }
        })
        .unwrap_or_default();
    let (list, generated) = match change {
        Change::Set {
            secret,
            keep_previous,
        } => {
            let generated = secret.is_none();
            let secret = secret.unwrap_or_else(|| random_token("whsec_", 32));
            if !secret.starts_with("whsec_") || secret.len() < 10 {
                return Err("a webhook signing secret starts with whsec_ (Stripe shows it on the endpoint's page)".into());
            }
            let mut list = vec![secret.clone()];
            if keep_previous {
                list.extend(current.iter().filter(|s| **s != secret).cloned());
            }
            (list, generated.then_some(secret))
        }
        Change::Remove(gone) => {
            if !current.contains(&gone) {
                return Err("that secret is not set for this endpoint".into());
            }
            let list: Vec<String> = current.into_iter().filter(|s| *s != gone).collect();
            if list.is_empty() {
                return Err(
                    "refusing to remove the endpoint's last secret: set a new one first".into(),
                );
            }
            (list, None)
        }
    };
    put_secret(&client, &id, json!({ "secrets": list }).to_string()).await?;
    // A generated secret is printed once, to be registered at Stripe (or localstripe).
    let mut out = json!({ "secretId": id, "active": list.len() });
    if let Some(secret) = generated {
        out["secret"] = json!(secret);
    }
    Ok(out)
}
