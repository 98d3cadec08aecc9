//! The vault's keys against the local stack (KMS and Secrets Manager on moto): PANs sealed
//! under KMS data keys bound to their record, the legacy format migrated by
//! `cardvault-admin migrate-pans`, and duplicates still found across the migration.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use base64::{engine::general_purpose::STANDARD, Engine};
use cardvault::domain::{
    CardNumber, CustomerId, EncryptedPan, PanContext, PaymentMethodId, TenantId,
};
use cardvault::secret::ExposeSecret;
use cardvault_aws::kms::KmsDataKeys;
use cardvault_aws::secrets::Secrets;
use cardvault_core::crypto::{legacy::LegacyKeys, VaultKeys};
use cardvault_tests::*;
use serde_json::{json, Value};

async fn customer() -> u64 {
    create_customer(&tenant_a().private_api_key, json!({"firstName": "Karen"})).await
}

/// A redirect request for tenant A, as the browser sends it.
fn body(customer: u64, pan: &str) -> Value {
    json!({
        "customerId": customer,
        "PublicApiKey": tenant_a().public_api_key,
        "cardNumber": pan,
        "firstName": "Karen",
        "lastName": "Wood",
        "expirationMonth": 2,
        "expirationYear": 30,
        "cvv": "012",
        "recaptcha": "cardvault-test-pass",
    })
}

async fn add_card(customer: u64, pan: &str) -> Value {
    let resp = http()
        .post(url("/api/paymentsv2"))
        .header("Origin", &tenant_a().allowed_origin)
        .json(&body(customer, pan))
        .send()
        .await
        .unwrap();
    let (status, card) = json(resp).await;
    assert_eq!(status, 200, "{card}");
    card
}

fn context(customer: u64, card: u64) -> PanContext {
    PanContext::new(
        &TenantId::try_from(tenant_a().id.clone()).unwrap(),
        CustomerId::try_from(customer).unwrap(),
        PaymentMethodId::try_from(card).unwrap(),
    )
}

/// The key service as the re-homing role would hold it: it may decrypt.
async fn reader() -> VaultKeys<Secrets, KmsDataKeys> {
    let aws = aws().await;
    VaultKeys::new(
        Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
        KmsDataKeys::new(
            aws_sdk_kms::Client::new(&aws),
            cardvault::config::DEFAULT_VAULT_KMS_KEY_ID,
        ),
        cardvault::config::DEFAULT_FINGERPRINT_SECRET_ID,
        cardvault::config::DEFAULT_CURSOR_SECRET_ID,
    )
}

fn sealed_of(item: &Value) -> EncryptedPan {
    serde_json::from_value(item["encryptedPan"].clone()).unwrap()
}

#[tokio::test]
async fn a_pan_is_sealed_under_a_kms_data_key_bound_to_its_record() {
    let customer = customer().await;
    let card = add_card(customer, "4000056655665556").await;
    let id = card["id"].as_u64().unwrap();
    let item = payment_method_item(customer, id).await;
    let sealed = sealed_of(&item);
    assert!(sealed.is_envelope(), "{item}");
    assert!(
        sealed.key_id.starts_with("arn:aws:kms:"),
        "{}",
        sealed.key_id
    );

    let keys = reader().await;
    let opened = keys
        .open_pan(&sealed, &context(customer, id))
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), "4000056655665556");
    assert!(
        keys.open_pan(&sealed, &context(customer, id + 1))
            .await
            .is_err(),
        "another card"
    );

    // KMS itself refuses the data key under another tenant's encryption context.
    let kms = aws_sdk_kms::Client::new(&aws().await);
    let edk = STANDARD.decode(sealed.encrypted_data_key.unwrap()).unwrap();
    let decrypt = |tenant: &str| {
        kms.decrypt()
            .ciphertext_blob(Blob::new(edk.clone()))
            .encryption_context("cardvault:purpose", "pan")
            .encryption_context("cardvault:tenant", tenant)
            .send()
    };
    assert!(decrypt(&tenant_a().id).await.is_ok());
    assert!(decrypt("demo-b").await.is_err(), "another tenant's context");
}

/// Puts a card back into the pre-KMS format, as a record written before this change:
/// sealed with the legacy keys, fingerprinted with the legacy key, its dedupe marker too.
async fn make_legacy(customer: u64, id: u64, pan: &str, legacy: &LegacyKeys) {
    let dynamo = aws_sdk_dynamodb::Client::new(&aws().await);
    let table = &stack().table;
    let item = payment_method_item(customer, id).await;
    let number = CardNumber::parse(pan).unwrap();
    let sealed = legacy.encrypt(&number, context(customer, id).as_str());
    let fingerprint = legacy.fingerprint(&tenant_a().id, &number);
    dynamo
        .update_item()
        .table_name(table)
        .key("PK", AttributeValue::S(format!("CUST#{customer}")))
        .key("SK", AttributeValue::S(format!("PM#{id}")))
        .update_expression("SET encryptedPan = :p, fingerprint = :f")
        .expression_attribute_values(":p", serde_dynamo::to_attribute_value(&sealed).unwrap())
        .expression_attribute_values(":f", AttributeValue::S(fingerprint.clone()))
        .send()
        .await
        .unwrap();
    let old_marker = format!("PMKEY#fp:{}", item["fingerprint"].as_str().unwrap());
    dynamo
        .delete_item()
        .table_name(table)
        .key("PK", AttributeValue::S(format!("CUST#{customer}")))
        .key("SK", AttributeValue::S(old_marker))
        .send()
        .await
        .unwrap();
    dynamo
        .put_item()
        .table_name(table)
        .item("PK", AttributeValue::S(format!("CUST#{customer}")))
        .item("SK", AttributeValue::S(format!("PMKEY#fp:{fingerprint}")))
        .item("paymentMethodId", AttributeValue::N(id.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn legacy_records_migrate_to_kms_and_are_still_found_as_duplicates() {
    const PAN: &str = "5200828282828210";
    let customer = customer().await;
    let card = add_card(customer, PAN).await;
    let id = card["id"].as_u64().unwrap();

    let legacy_raw = cardvault_core::crypto::legacy::generate();
    let legacy_id = format!("cardvault/test-legacy-{customer}");
    admin(&["put-secret", "--id", &legacy_id, "--value", &legacy_raw]);
    let legacy = LegacyKeys::parse(&legacy_raw).unwrap();
    make_legacy(customer, id, PAN, &legacy).await;
    assert!(!sealed_of(&payment_method_item(customer, id).await).is_envelope());

    let migrate = |extra: &[&str]| {
        let named = [
            "migrate-pans",
            "--legacy-secret-id",
            &legacy_id,
            "--fingerprint-secret-id",
            cardvault::config::DEFAULT_FINGERPRINT_SECRET_ID,
            "--kms-key-id",
            cardvault::config::DEFAULT_VAULT_KMS_KEY_ID,
        ];
        admin(&[&named[..], extra].concat())
    };
    let dry = migrate(&["--dry-run"]);
    assert!(dry["migrated"].as_u64().unwrap() >= 1, "{dry}");
    assert!(
        !sealed_of(&payment_method_item(customer, id).await).is_envelope(),
        "dry run"
    );

    let out = migrate(&[]);
    assert!(out["migrated"].as_u64().unwrap() >= 1, "{out}");
    let migrated = payment_method_item(customer, id).await;
    let sealed = sealed_of(&migrated);
    assert!(sealed.is_envelope(), "{migrated}");
    let keys = reader().await;
    let opened = keys
        .open_pan(&sealed, &context(customer, id))
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), PAN);

    // Idempotent: a second run leaves the record as it is.
    migrate(&[]);
    assert_eq!(sealed_of(&payment_method_item(customer, id).await), sealed);

    // The legacy fingerprint key joined the ring: the same card again is the same record.
    // (A cold container: the warm functions keep the ring they read for 5 minutes.)
    let app = app_with_stripe(&stack().stripe_url).await;
    let tenant = app
        .vault
        .tenant_by_public_key(&tenant_a().public_api_key)
        .await
        .unwrap()
        .unwrap();
    let params = cardvault::dialect::fusebill::redirect::Params::from_json(&body(customer, PAN));
    let entry = params.card_entry(&tenant, app.vault.today()).unwrap();
    let again = app
        .vault
        .add_entered_card(&tenant, CustomerId::try_from(customer).unwrap(), entry)
        .await
        .unwrap();
    assert!(!again.created, "found by its legacy fingerprint");
    assert_eq!(again.view.payment_method.id.get(), id);
    assert_eq!(payment_method_count(customer).await, 1);
}

#[tokio::test]
async fn a_rotation_refuses_to_write_over_what_it_cannot_read() {
    let id = "cardvault/tenant/test/not-a-ring";
    admin(&["put-secret", "--id", id, "--value", "not a key ring"]);
    let bin = env!("CARGO_MANIFEST_DIR").to_owned() + "/../target/debug/cardvault-admin";
    let out = std::process::Command::new(bin)
        .args([
            "--table",
            &stack().table,
            "rotate-fingerprint-key",
            "--secret-id",
            id,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(&aws().await));
    use cardvault_core::ports::SecretSource;
    assert_eq!(
        secrets.secret(id).await.unwrap().expose_secret(),
        "not a key ring",
        "left as it was"
    );
}
