//! What lands in DynamoDB: no private API key in plain text, ever.

use cardvault::secret::ApiKey;
use cardvault_tests::*;

#[tokio::test]
async fn private_keys_are_stored_only_as_sha256_hashes() {
    let issued = admin(&["issue-key", "--tenant", &tenant_a().id]);
    let fresh = issued["privateApiKey"].as_str().unwrap().to_owned();
    let strings = scan_table_strings().await;
    assert!(!strings.is_empty());
    for key in [
        fresh.as_str(),
        &tenant_a().private_api_key,
        &tenant_b().private_api_key,
    ] {
        assert!(
            !strings.iter().any(|s| s.contains(key)),
            "a private key is stored in plain text"
        );
        let hash = ApiKey::parse(key).unwrap().hash();
        assert!(
            strings.iter().any(|s| s.contains(hash.as_str())),
            "the key's hash is stored"
        );
    }
}
