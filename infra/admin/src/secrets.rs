//! Secrets Manager: any secret's value.

use aws_config::SdkConfig;
use serde_json::{json, Value};

use crate::Result;

/// A secret given on the command line, or `-`: read from standard input (its first line),
/// so that it stays out of the shell's history and of other users' process lists.
pub fn given(value: String) -> Result<String> {
    if value != "-" {
        return Ok(value);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err("standard input held no secret".into());
    }
    Ok(line)
}

/// `put-secret`: create the secret or overwrite its value.
pub async fn put(aws: &SdkConfig, id: String, value: String) -> Result<Value> {
    let value = given(value)?;
    put_secret(&aws_sdk_secretsmanager::Client::new(aws), &id, value).await?;
    Ok(json!({ "secretId": id }))
}

/// A secret's string value; `None` only when the secret does not exist. Any other failure
/// is an error: a caller that would create the secret must not write over one it could not
/// read.
pub async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<Option<String>> {
    match client.get_secret_value().secret_id(id).send().await {
        Ok(out) => Ok(Some(out.secret_string().unwrap_or_default().to_owned())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            .to_string()
            .into()),
    }
}

pub async fn put_secret(
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
