//! What lands in DynamoDB: no private API key in plain text, ever.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use cardvault::secret::ApiKey;
use common::*;

async fn scan_all_strings() -> Vec<String> {
    let cfg = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let items = client
        .scan()
        .table_name(&stack().table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan");
    fn walk(v: &AttributeValue, out: &mut Vec<String>) {
        match v {
            AttributeValue::S(s) => out.push(s.clone()),
            AttributeValue::L(l) => l.iter().for_each(|x| walk(x, out)),
            AttributeValue::M(m) => m.values().for_each(|x| walk(x, out)),
            AttributeValue::Ss(ss) => out.extend(ss.iter().cloned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in &items {
        for (k, v) in item {
            out.push(k.clone());
            walk(v, &mut out);
        }
    }
    out
}

#[tokio::test]
async fn private_keys_are_stored_only_as_sha256_hashes() {
    let issued = admin(&["issue-key", "--tenant", &tenant_a().id]);
    let fresh = issued["privateApiKey"].as_str().unwrap().to_owned();
    let strings = scan_all_strings().await;
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
