//! Secrets are read from Secrets Manager (moto) on first use, then served from the cache.

use cardvault::secret::ExposeSecret;
use cardvault_aws::secrets::Secrets;
use cardvault_core::ports::SecretSource;
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

#[test]
fn the_admin_cli_refuses_a_secret_key_as_publishable_and_secrets_the_functions_cannot_read() {
    let tenant = &tenant_b().id;
    let own = format!("cardvault/tenant/{tenant}/stripe");
    let before = admin(&["show-tenant", "--tenant", tenant]);
    for (args, says) in [
        (
            vec![
                "set-stripe",
                "--tenant",
                tenant,
                "--secret-id",
                &own,
                "--publishable-key",
                "sk_test_oops",
            ],
            "pk_",
        ),
        (
            vec![
                "set-stripe",
                "--tenant",
                tenant,
                "--secret-id",
                "cardvault/elsewhere/stripe",
            ],
            "cardvault/tenant/",
        ),
        // Another tenant's folder is not this tenant's.
        (
            vec![
                "set-stripe",
                "--tenant",
                tenant,
                "--secret-id",
                "cardvault/tenant/demo-a/stripe",
            ],
            "cardvault/tenant/",
        ),
        (
            vec![
                "set-recaptcha-secret",
                "--tenant",
                tenant,
                "--secret-id",
                "recaptcha/elsewhere",
            ],
            "cardvault/tenant/",
        ),
    ] {
        let refused = admin_refuses(&args);
        assert!(refused.contains(says), "{args:?}: {refused}");
    }
    assert_eq!(
        admin(&["show-tenant", "--tenant", tenant]),
        before,
        "nothing changed"
    );
}
