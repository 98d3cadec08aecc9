//! The vault's keys: the KMS key that seals PANs, the fingerprint and cursor key rings, and
//! the one-off migration of PANs sealed in the pre-KMS format.
//!
//! Rotation: the KMS key rotates itself (`EnableKeyRotation`; old data keys still
//! decrypt). The rings rotate with `rotate-fingerprint-key` / `rotate-cursor-key`, which add
//! a version and make it current and never write over a value they cannot read.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use cardvault::domain::{CustomerId, EncryptedPan, PanContext, PaymentMethodId, TenantId};
use cardvault_aws::kms::KmsDataKeys;
use cardvault_core::crypto::{self, legacy::LegacyKeys, DataKeyCache, DataKeys};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::secrets::{put_secret, read_secret};
use crate::Result;

/// `create-vault-key`: a symmetric KMS key with yearly rotation, under an alias; the
/// existing key when the alias exists (the template makes it in a deployment).
pub async fn create_kms_key(aws: &SdkConfig, alias: String) -> Result<Value> {
    let kms = aws_sdk_kms::Client::new(aws);
    let create = kms
        .create_key()
        .description("cardvault: data keys for stored card numbers");
    aliased_key(&kms, alias, create, true).await
}

/// `create-audit-key`: the audit chain's HMAC key (HMAC_256, GENERATE_VERIFY_MAC) under
/// an alias; the existing key when the alias exists (the template makes it in a deployment).
pub async fn create_audit_key(aws: &SdkConfig, alias: String) -> Result<Value> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let kms = aws_sdk_kms::Client::new(aws);
    let create = kms
        .create_key()
        .description("cardvault: audit chain HMAC key")
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac);
    aliased_key(&kms, alias, create, false).await
}

/// The key under `alias`, or a new one made by `create` (rotated yearly if `rotate`: KMS
/// rotates symmetric encryption keys only) and given the alias.
async fn aliased_key(
    kms: &aws_sdk_kms::Client,
    alias: String,
    create: aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder,
    rotate: bool,
) -> Result<Value> {
    if let Ok(found) = kms.describe_key().key_id(&alias).send().await {
        if let Some(meta) = found.key_metadata() {
            return Ok(json!({"alias": alias, "keyArn": meta.arn(), "created": false}));
        }
    }
    let created = create.send().await?;
    let meta = created.key_metadata().ok_or("KMS answered no key")?;
    if rotate {
        kms.enable_key_rotation()
            .key_id(meta.key_id())
            .send()
            .await?;
    }
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(meta.key_id())
        .send()
        .await?;
    Ok(json!({"alias": alias, "keyArn": meta.arn(), "created": true}))
}

/// `rotate-fingerprint-key` / `rotate-cursor-key`: a new version, made current. A secret
/// that does not exist or holds `{}` gets its first version; one that exists but cannot be
/// read, or holds something else, is an error and is left as it is.
pub async fn rotate_ring(aws: &SdkConfig, secret_id: String) -> Result<Value> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let existing = read_secret(&client, &secret_id).await?;
    let ring = crypto::rotated_ring(existing.as_deref(), time::OffsetDateTime::now_utc())?;
    put_secret(&client, &secret_id, ring.to_string()).await?;
    let versions = ring["keys"].as_object().map_or(0, |k| k.len());
    Ok(json!({"secretId": secret_id, "current": ring["current"], "versions": versions}))
}

/// The fields of a payment method item that migration needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sealed {
    id: PaymentMethodId,
    customer_id: CustomerId,
    tenant_id: TenantId,
    encrypted_pan: EncryptedPan,
}

/// `migrate-pans`: every PAN still sealed in the legacy format is opened with the legacy
/// keys and sealed again under a KMS data key, one conditional write each (a record
/// changed meanwhile is left for the next run). The legacy fingerprint key joins the
/// fingerprint ring as a version `legacy-…`, so the fingerprints already stored keep finding
/// duplicates. Idempotent: a second run finds nothing to do.
pub async fn migrate_pans(aws: &SdkConfig, table: &str, args: MigrateArgs) -> Result<Value> {
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    let legacy_raw = read_secret(&secrets, &args.legacy_secret_id)
        .await?
        .ok_or("the legacy keys secret does not exist")?;
    let legacy = LegacyKeys::parse(&legacy_raw)?;

    let ring_added = carry_fingerprint_key(&secrets, &args, &legacy).await?;

    let dynamo = aws_sdk_dynamodb::Client::new(aws);
    let kms = KmsDataKeys::new(aws_sdk_kms::Client::new(aws), &args.kms_key_id);
    let cache = DataKeyCache::default();
    let (mut migrated, mut skipped) = (0u64, 0u64);
    let mut unopened = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = dynamo
            .scan()
            .table_name(table)
            .filter_expression(
                "attribute_exists(encryptedPan) AND attribute_not_exists(encryptedPan.encryptedDataKey)",
            )
            .set_exclusive_start_key(start.take())
            .send()
            .await?;
        for item in page.items() {
            let (pk, sk) = (item["PK"].clone(), item["SK"].clone());
            let record: Sealed = serde_dynamo::from_item(item.clone())?;
            let context = PanContext::new(&record.tenant_id, record.customer_id, record.id);
            // One record that does not open (another legacy secret, a damaged item) is
            // reported and left as it is; the rest still migrate.
            let Ok(pan) = legacy.decrypt(&record.encrypted_pan, context.as_str()) else {
                unopened.push(json!({"customerId": record.customer_id, "id": record.id}));
                continue;
            };
            if args.dry_run {
                migrated += 1;
                continue;
            }
            let key = cache
                .get_or_generate(context.tenant(), || kms.generate(context.tenant()))
                .await?;
            let sealed = crypto::seal(&key, pan.expose_secret(), context.as_str());
            let written = dynamo
                .update_item()
                .table_name(table)
                .key("PK", pk)
                .key("SK", sk)
                .update_expression("SET encryptedPan = :new")
                .condition_expression(
                    "encryptedPan.keyId = :old AND encryptedPan.ciphertext = :ct AND attribute_not_exists(encryptedPan.encryptedDataKey)",
                )
                .expression_attribute_values(":new", serde_dynamo::to_attribute_value(&sealed)?)
                .expression_attribute_values(
                    ":old",
                    AttributeValue::S(record.encrypted_pan.key_id.clone()),
                )
                .expression_attribute_values(
                    ":ct",
                    AttributeValue::S(record.encrypted_pan.ciphertext.clone()),
                )
                .send()
                .await;
            match written {
                Ok(_) => migrated += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    skipped += 1
                }
                Err(e) => {
                    return Err(aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        .to_string()
                        .into())
                }
            }
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    Ok(json!({
        "migrated": migrated,
        "changedMeanwhile": skipped,
        "notOpened": unopened,
        "dryRun": args.dry_run,
        "fingerprintRingGainedLegacyKey": ring_added,
    }))
}

pub struct MigrateArgs {
    pub legacy_secret_id: String,
    pub fingerprint_secret_id: String,
    pub kms_key_id: String,
    pub dry_run: bool,
}

/// Adds the legacy fingerprint key to the ring as version `legacy` (not current), creating
/// the ring if need be. Answers whether it changed the ring.
async fn carry_fingerprint_key(
    secrets: &aws_sdk_secretsmanager::Client,
    args: &MigrateArgs,
    legacy: &LegacyKeys,
) -> Result<bool> {
    let existing = read_secret(secrets, &args.fingerprint_secret_id).await?;
    let mut ring: Value = match existing.as_deref().map(str::trim) {
        None | Some("") | Some("{}") => {
            crypto::rotated_ring(None, time::OffsetDateTime::now_utc())?
        }
        Some(raw) => {
            crypto::KeyRing::parse(raw)?;
            serde_json::from_str(raw)?
        }
    };
    let legacy_b64 = legacy.fingerprint_key_b64().expose_secret();
    if ring["keys"]
        .as_object()
        .is_some_and(|k| k.values().any(|v| v.as_str() == Some(legacy_b64)))
    {
        return Ok(false);
    }
    if args.dry_run {
        return Ok(true);
    }
    // Named after the key (a hash of it reveals nothing), so two legacy keys never share
    // a version id.
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        legacy_b64.as_bytes(),
    ));
    let version = format!("legacy-{}", &digest[..12]);
    ring["keys"][version] = json!(legacy_b64);
    put_secret(secrets, &args.fingerprint_secret_id, ring.to_string()).await?;
    Ok(true)
}
