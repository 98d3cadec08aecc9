//! Secrets Manager: any secret's value, and the vault's encryption keys.

use aws_config::SdkConfig;
use serde_json::{json, Value};

use crate::Result;

/// `put-secret`: create the secret or overwrite its value.
pub async fn put(aws: &SdkConfig, id: String, value: String) -> Result<Value> {
    put_secret(&aws_sdk_secretsmanager::Client::new(aws), &id, value).await?;
    Ok(json!({ "secretId": id }))
}

/// A new key `k<n+1>` made current; the fingerprint key is made once and kept.
pub async fn rotate_vault_key(aws: &SdkConfig, secret_id: String) -> Result<Value> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let current = client.get_secret_value().secret_id(&secret_id).send().await;
    let mut keys: Value = match current {
        Ok(out) => serde_json::from_str(out.secret_string().unwrap_or("{}"))?,
        Err(_) => json!({"keys": {}, "fingerprintKey": cardvault::crypto::generate_key()}),
    };
    if keys["fingerprintKey"].is_null() {
        keys["fingerprintKey"] = json!(cardvault::crypto::generate_key());
    }
    let count = keys["keys"].as_object().map_or(0, |k| k.len());
    let id = format!("k{}", count + 1);
    keys["keys"][&id] = json!(cardvault::crypto::generate_key());
    keys["current"] = json!(id);
    put_secret(&client, &secret_id, keys.to_string()).await?;
    Ok(json!({ "secretId": secret_id, "current": id }))
}

async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    value: String,
) -> Result<()> {
    let created = client
        .create_secret()
        .name(id)
        .secret_string(value.clone())
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await?;
            Ok(())
        }
        Err(e) => Err(aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            .to_string()
            .into()),
    }
}
