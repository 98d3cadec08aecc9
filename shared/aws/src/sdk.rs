//! The AWS SDK's configuration, from the environment alone, built once per cold start and
//! without a network call.
//!
//! Lambda hands a function its credentials and region as environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`); the
//! local stack and `sam local` set the same ones. aws-config's default provider chains would
//! also look for profile files, SSO, web identity, ECS and IMDS: code a function never needs
//! (about 0.5 MiB of binary, and init time; bench/results.md). The admin CLI and the tests
//! keep the default chains. Endpoints come from `AWS_ENDPOINT_URL_<SERVICE>` or
//! `AWS_ENDPOINT_URL`, as the SDK itself reads them; an empty value counts as unset.
//!
//! Every client built from it carries [`timeouts`] and [`retries`]: without them an SDK
//! call has no read or operation timeout, and a stalled DynamoDB call would hold the
//! function until Lambda stops it, with no answer and no compensation.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_types::region::Region;
use aws_types::sdk_config::{RetryConfig, SdkConfig, TimeoutConfig};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// A missing or malformed setting in the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// The SDK configuration every function's clients are built from, read from the process
/// environment.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    from_vars(|name| std::env::var(name).ok())
}

/// [`sdk_config`] from any source of variables.
pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let endpoints = Endpoints(
        ENDPOINT_VARIABLES
            .iter()
            .filter_map(|name| var(name).map(|v| ((*name).to_owned(), v)))
            .collect(),
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries())
        .region(Region::new(required("AWS_REGION")?))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(endpoints);
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}

/// The SDK's timeouts, fitted to the README's budgets ("Deadlines and compensation"): a
/// chain counts 2 s for all its AWS calls (a handful of DynamoDB, KMS and Secrets Manager
/// calls, each tens of milliseconds in-region), and the functions without a Stripe call
/// have 6 s in all.
///
/// - **connect 0.5 s**: an in-region endpoint connects in a few milliseconds; a connect
///   that has not happened by then is retried on a fresh connection.
/// - **read 1 s**, **attempt 1 s**: some 20 times a slow DynamoDB, KMS or Secrets Manager
///   answer; a stalled attempt is abandoned and retried.
/// - **operation 2 s**: all attempts and their backoffs together, the whole AWS budget of a
///   chain, so one stalled call cannot outlive it; under the 6 s of the shortest function,
///   which then still answers (503) instead of being stopped.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(2))
        .build()
}

/// The SDK's standard retry mode, 3 attempts (throttling, 5xx, timeouts, I/O errors), with
/// jittered exponential backoff from 50 ms up to 0.5 s: a second attempt fits in the
/// operation's 2 s after a first that timed out (1 s + at most 0.5 s).
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

/// The endpoint variables of the services the functions call.
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_KMS",
];

/// Per-service endpoints, as the SDK asks for them: for the key `AWS_ENDPOINT_URL` and the
/// service id "Secrets Manager", the variable `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
#[derive(Debug)]
struct Endpoints(BTreeMap<String, String>);

impl LoadServiceConfig for Endpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let name = format!(
            "{}_{}",
            key.env(),
            key.service_id().to_uppercase().replace(' ', "_")
        );
        self.0.get(&name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "session"),
        ("AWS_REGION", "eu-west-1"),
    ];

    #[tokio::test]
    async fn lambdas_variables_give_region_and_session_credentials() {
        let config = from_vars(vars(LAMBDA)).unwrap();
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        let creds = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("session"));
        // No endpoint override: the SDK's own endpoint for the region.
        assert_eq!(config.endpoint_url(), None);
        let db = aws_sdk_dynamodb::config::Config::from(&config);
        assert_eq!(db.region().unwrap().as_ref(), "eu-west-1");
    }

    #[test]
    fn every_services_config_carries_the_timeouts_and_retries() {
        let config = from_vars(vars(LAMBDA)).unwrap();
        let check = |name: &str, t: Option<&TimeoutConfig>, r: Option<&RetryConfig>| {
            let t = t.unwrap_or_else(|| panic!("{name}: no timeouts"));
            assert_eq!(
                t.connect_timeout(),
                Some(Duration::from_millis(500)),
                "{name}"
            );
            assert_eq!(t.read_timeout(), Some(Duration::from_secs(1)), "{name}");
            assert_eq!(
                t.operation_attempt_timeout(),
                Some(Duration::from_secs(1)),
                "{name}"
            );
            assert_eq!(
                t.operation_timeout(),
                Some(Duration::from_secs(2)),
                "{name}"
            );
            let r = r.unwrap_or_else(|| panic!("{name}: no retries"));
            assert_eq!(r.max_attempts(), 3, "{name}");
            assert_eq!(r.initial_backoff(), Duration::from_millis(50), "{name}");
            assert_eq!(r.max_backoff(), Duration::from_millis(500), "{name}");
        };
        check("sdk", config.timeout_config(), config.retry_config());
        let db = aws_sdk_dynamodb::config::Config::from(&config);
        check("dynamodb", db.timeout_config(), db.retry_config());
        let kms = aws_sdk_kms::config::Config::from(&config);
        check("kms", kms.timeout_config(), kms.retry_config());
        let sm = aws_sdk_secretsmanager::config::Config::from(&config);
        check("secrets", sm.timeout_config(), sm.retry_config());
        // Timeouts need a sleep: building a client checks it has one (it panics if not).
        let _ = aws_sdk_dynamodb::Client::new(&config);
        let _ = aws_sdk_kms::Client::new(&config);
        let _ = aws_sdk_secretsmanager::Client::new(&config);
    }

    #[test]
    fn the_timeouts_fit_the_budgets() {
        let t = timeouts();
        let r = retries();
        let (attempt, operation) = (
            t.operation_attempt_timeout().unwrap(),
            t.operation_timeout().unwrap(),
        );
        // A retry fits after a first attempt that timed out.
        assert!(attempt + r.max_backoff() < operation);
        // The chain's AWS budget, and room to answer in the shortest function (6 s).
        assert!(operation <= Duration::from_secs(2));
        assert!(t.connect_timeout().unwrap() < attempt);
    }

    #[test]
    fn a_missing_credential_or_region_is_a_clear_error() {
        for missing in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            let pairs: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = from_vars(vars(&pairs)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Missing(name) if name == missing),
                "{err}"
            );
        }
        // An empty value is no value (a template's placeholder must not count).
        let mut pairs = LAMBDA.to_vec();
        pairs.push(("AWS_REGION", ""));
        let pairs: Vec<_> = pairs.into_iter().skip(1).collect();
        assert!(from_vars(vars(&pairs)).is_err());
    }

    /// What the SDK asks for when it builds a client of `service_id` (see the generated
    /// `From<&SdkConfig>` of each service's config).
    fn endpoint_of(config: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config()?.load_config(key)
    }

    #[test]
    fn each_service_takes_its_own_endpoint_and_empty_ones_are_ignored() {
        let mut pairs = LAMBDA.to_vec();
        pairs.extend([
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_KMS", ""),
        ]);
        let config = from_vars(vars(&pairs)).unwrap();
        assert_eq!(
            endpoint_of(&config, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint_of(&config, "Secrets Manager").as_deref(),
            Some("https://127.0.0.1:5000")
        );
        assert_eq!(endpoint_of(&config, "KMS"), None);
        assert_eq!(config.endpoint_url(), None);
    }

    #[test]
    fn a_global_endpoint_is_kept_for_the_sdk_to_fall_back_on() {
        let mut pairs = LAMBDA.to_vec();
        pairs.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"));
        let config = from_vars(vars(&pairs)).unwrap();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(endpoint_of(&config, "KMS"), None);
    }
}
