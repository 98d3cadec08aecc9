//! Secrets are read from Secrets Manager (moto) on first use, then served from the cache.

use cardvault::ports::SecretSource;
use cardvault::secret::ExposeSecret;
use cardvault::secrets::Secrets;
use cardvault_tests::*;

#[tokio::test]
async fn fetched_once_then_cached_until_forgotten() {
    let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(&cfg));
    let id = format!("cardvault/test/cache-{}", std::process::id());

    admin(&["put-secret", "--id", &id, "--value", "first"]);
    assert_eq!(secrets.secret(&id).await.unwrap().expose_secret(), "first");

    admin(&["put-secret", "--id", &id, "--value", "second"]);
    assert_eq!(
        secrets.secret(&id).await.unwrap().expose_secret(),
        "first",
        "a warm container does not re-fetch"
    );

    secrets.forget(&id).await;
    assert_eq!(secrets.secret(&id).await.unwrap().expose_secret(), "second");
}

#[tokio::test]
async fn a_missing_secret_is_an_error_not_a_panic() {
    let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(&cfg));
    let err = secrets
        .secret("cardvault/test/does-not-exist")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does-not-exist"));
}
