use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::domain::{CustomerId, PaymentMethodId};
use crate::memory::{MemoryDataKeys, MemorySecrets};

fn tid(s: &str) -> TenantId {
    TenantId::try_from(s.to_owned()).unwrap()
}

fn pan(s: &str) -> CardNumber {
    CardNumber::parse(s).unwrap()
}

fn context(tenant: &str, card: u64) -> PanContext {
    PanContext::new(
        &tid(tenant),
        CustomerId::try_from(1_000_001).unwrap(),
        PaymentMethodId::try_from(card).unwrap(),
    )
}

fn keys() -> VaultKeys<MemorySecrets, MemoryDataKeys> {
    let secrets = MemorySecrets::default();
    secrets.set("fp", &crate::memory::ring());
    secrets.set("cursor", &crate::memory::ring());
    VaultKeys::new(secrets, MemoryDataKeys::default(), "fp", "cursor")
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[test]
fn fingerprints_match_per_tenant_and_survive_a_rotation() {
    let v1 = rotated_ring(None, now()).unwrap();
    let ring1 = KeyRing::parse(&v1.to_string()).unwrap();
    let a = ring1.fingerprints(&tid("t"), &pan("4242424242424242"));
    let b = ring1.fingerprints(&tid("t"), &pan("4242 4242 4242 4242"));
    assert_eq!(a, b);
    assert_eq!(a.current.len(), 64);
    assert_ne!(
        a.current,
        ring1
            .fingerprints(&tid("u"), &pan("4242424242424242"))
            .current
    );

    let v2 = rotated_ring(Some(&v1.to_string()), now()).unwrap();
    let ring2 = KeyRing::parse(&v2.to_string()).unwrap();
    assert_ne!(ring2.current_id(), ring1.current_id());
    let after = ring2.fingerprints(&tid("t"), &pan("4242424242424242"));
    assert_ne!(after.current, a.current, "new cards get the new version's");
    assert_eq!(after.all.len(), 2);
    assert_eq!(after.all[0], after.current);
    assert!(
        after.all.contains(&a.current),
        "a card stored before still matches"
    );
    assert_eq!(after.dedupe_keys()[1], format!("fp:{}", a.current));
}

#[test]
fn a_rotation_never_writes_over_what_it_cannot_read() {
    for garbage in [
        "not json",
        r#"{"current":"x","keys":{}}"#,
        r#"{"keys":{"a":"short"}}"#,
    ] {
        assert!(rotated_ring(Some(garbage), now()).is_err(), "{garbage}");
    }
    for empty in ["", "{}", "  "] {
        let ring = rotated_ring(Some(empty), now()).unwrap();
        assert_eq!(ring["keys"].as_object().unwrap().len(), 1);
    }
    // Version ids are never reused: two rotations in the same second still differ.
    let t = now();
    let first = rotated_ring(None, t).unwrap();
    let second = rotated_ring(Some(&first.to_string()), t).unwrap();
    assert_eq!(second["keys"].as_object().unwrap().len(), 2);
    assert_ne!(first["current"], second["current"]);
    assert_eq!(
        second["keys"][first["current"].as_str().unwrap()],
        first["keys"][first["current"].as_str().unwrap()]
    );
}

#[test]
fn cursor_macs_check_across_a_rotation_and_refuse_tampering() {
    let v1 = rotated_ring(None, now()).unwrap();
    let ring1 = KeyRing::parse(&v1.to_string()).unwrap();
    let signed = ring1.sign("cursor", b"page 2");
    assert!(ring1.verify("cursor", b"page 2", &signed));
    assert!(!ring1.verify("cursor", b"page 3", &signed));
    assert!(!ring1.verify("other", b"page 2", &signed));
    let ring2 = KeyRing::parse(
        &rotated_ring(Some(&v1.to_string()), now())
            .unwrap()
            .to_string(),
    )
    .unwrap();
    assert!(
        ring2.verify("cursor", b"page 2", &signed),
        "an old cursor still works"
    );
    let (version, mac) = signed.split_once('~').unwrap();
    assert!(!ring2.verify("cursor", b"page 2", mac), "no version");
    assert!(
        !ring2.verify("cursor", b"page 2", &format!("v0~{mac}")),
        "unknown version"
    );
    assert!(!ring2.verify("cursor", b"page 2", &format!("{version}~{}", &mac[1..])));
}

#[tokio::test]
async fn a_pan_is_sealed_under_a_data_key_and_opens_only_in_its_context() {
    let k = keys();
    let sealed = k
        .seal_pan(&pan("4242424242424242"), &context("t", 7_000_001))
        .await
        .unwrap();
    assert!(sealed.is_envelope());
    assert!(!sealed.ciphertext.contains("4242"));
    let opened = k.open_pan(&sealed, &context("t", 7_000_001)).await.unwrap();
    assert_eq!(opened.expose_secret(), "4242424242424242");
    assert!(
        k.open_pan(&sealed, &context("u", 7_000_001)).await.is_err(),
        "another tenant"
    );
    assert!(
        k.open_pan(&sealed, &context("t", 7_000_002)).await.is_err(),
        "another card"
    );

    // A writer (kms:GenerateDataKey only) seals but cannot open.
    k.data_keys().writer_only.store(true, Ordering::SeqCst);
    assert!(k
        .seal_pan(&pan("4242424242424242"), &context("t", 7_000_003))
        .await
        .is_ok());
    assert!(k.open_pan(&sealed, &context("t", 7_000_001)).await.is_err());
}

#[tokio::test]
async fn a_data_key_is_reused_within_its_bounds_and_per_tenant() {
    let k = keys();
    let generated = || k.data_keys().generated.load(Ordering::SeqCst);
    for i in 0..u64::from(DATA_KEY_MAX_USES) {
        k.seal_pan(&pan("4242424242424242"), &context("t", 7_000_001 + i))
            .await
            .unwrap();
    }
    assert_eq!(generated(), 1, "one KMS call for {DATA_KEY_MAX_USES} cards");
    k.seal_pan(&pan("4242424242424242"), &context("t", 8_000_000))
        .await
        .unwrap();
    assert_eq!(generated(), 2, "a spent key is replaced");
    k.seal_pan(&pan("4242424242424242"), &context("u", 8_000_001))
        .await
        .unwrap();
    assert_eq!(generated(), 3, "another tenant gets its own data key");

    // Age: a cache whose keys are already too old generates every time.
    let cache = DataKeyCache::new(Duration::ZERO, 100);
    let dk = MemoryDataKeys::default();
    let t = tid("t");
    for _ in 0..3 {
        cache.get_or_generate(&t, || dk.generate(&t)).await.unwrap();
    }
    assert_eq!(dk.generated.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_idle_tenants_data_key_is_dropped_once_it_is_too_old() {
    let cache = DataKeyCache::new(Duration::from_millis(50), 100);
    let dk = MemoryDataKeys::default();
    let (a, b) = (tid("a"), tid("b"));
    cache.get_or_generate(&a, || dk.generate(&a)).await.unwrap();
    assert_eq!(cache.held(), 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Another tenant's card: tenant a's expired key does not wait for tenant a.
    cache.get_or_generate(&b, || dk.generate(&b)).await.unwrap();
    assert_eq!(cache.held(), 1, "only b's key is left");
}

#[test]
fn a_legacy_fingerprint_key_carried_into_a_ring_gives_the_same_fingerprints() {
    let legacy = legacy::LegacyKeys::parse(&legacy::generate()).unwrap();
    let ring = serde_json::json!({
        "current": "legacy",
        "keys": {"legacy": legacy.fingerprint_key_b64().expose_secret()},
    });
    let ring = KeyRing::parse(&ring.to_string()).unwrap();
    let card = pan("5555555555554444");
    assert_eq!(
        ring.fingerprints(&tid("t"), &card).current,
        legacy.fingerprint("t", &card)
    );

    let sealed = legacy.encrypt(&card, "t:1:2");
    assert!(!sealed.is_envelope());
    assert_eq!(
        legacy.decrypt(&sealed, "t:1:2").unwrap().expose_secret(),
        "5555555555554444"
    );
    assert!(legacy.decrypt(&sealed, "t:1:3").is_err());
}

/// A key ring or legacy key set that does not read says why in words of ours: no part of
/// the value (key material, ids, whatever was typed where) reaches the error, which is
/// logged. serde's own text would quote it (`invalid type: string "…"`).
#[test]
fn a_malformed_key_secret_never_quotes_its_value() {
    const M: &str = "Zq9SECRETvalue7Xw";
    let good = STANDARD.encode([7u8; 32]);
    let values = [
        M.to_owned(),
        format!("\"{M}\""),
        format!("{{\"current\": \"v1\", \"keys\": \"{M}\"}}"),
        format!("{{\"current\": \"{M}\""),
        format!("{{\"current\": 5, \"keys\": \"{M}\"}}"),
        format!("{{\"current\": \"{M}\", \"keys\": {{\"v1\": \"{good}\"}}}}"),
        format!("{{\"current\": \"v1\", \"keys\": {{\"v1\": \"{M}!!\"}}}}"),
        format!("{{\"current\": \"{M}\", \"keys\": {{\"{M}\": \"{M}\"}}}}"),
        format!("{{\"current\": [\"{M}\"], \"keys\": {{}}}}"),
        format!("{{\"current\": \"v1\", \"keys\": {{\"v1\": \"{good}\"}}, \"fingerprintKey\": 1, \"{M}\": 2}}"),
    ];
    for value in &values {
        let mut said = Vec::new();
        if let Err(e) = KeyRing::parse(value) {
            said.push(format!("{e} {e:?}"));
        }
        if let Err(e) = legacy::LegacyKeys::parse(value) {
            said.push(format!("{e} {e:?}"));
        }
        if let Err(e) = rotated_ring(Some(value), now()) {
            said.push(format!("{e} {e:?}"));
        }
        assert!(!said.is_empty(), "{value} read as a ring");
        for text in said {
            assert!(!text.contains("SECRET"), "{value} -> {text}");
        }
    }
}
