//! Tenant administration (`vault::admin`): each operator command as a vault operation, its
//! checks, its retry against a concurrent revocation, and its audit event. Tests named
//! `..._the_readers_...` pin a rule the admin CLI did not apply though the request path
//! does (see the module's documentation): each failed on the CLI's old behaviour.

use time::macros::datetime;

use super::*;
use crate::domain::{Actor, Origin, VelocityLimits};
use crate::ports::{Clock, RehomeStore, TenantAdminStore, TenantStore};
use crate::vault::admin::{NewTenant, StripeSetting, TokenPolicyChange};
use crate::vault::rehome::{register_target, PROOF_STRIPE_OAUTH};

const ARN: &str = "arn:aws:sts::123456789012:assumed-role/cardvault-operator/alice";

fn operator() -> Actor {
    Actor::Operator { name: ARN.into() }
}

/// The tenant's events as (action, object), each checked to be the operator's.
fn events(v: &Vault<Memory>, tenant: &str) -> Vec<(String, Option<String>)> {
    v.store
        .audit_events(&tid(tenant))
        .into_iter()
        .map(|r| {
            assert_eq!(r.event.actor, format!("operator:{ARN}"));
            assert_eq!(r.event.outcome, "ok");
            (r.event.action, r.event.object)
        })
        .collect()
}

fn setting(name: &str) -> (String, Option<String>) {
    ("tenant.settingsChanged".into(), Some(name.into()))
}

async fn stored(v: &Vault<Memory>, tenant: &str) -> Tenant {
    v.store.get_tenant(&tid(tenant)).await.unwrap().unwrap()
}

fn revoked(mut t: Tenant, at: crate::domain::Timestamp) -> Tenant {
    t.stripe_revoked_at = Some(at);
    t
}

#[tokio::test]
async fn a_tenant_is_created_once_with_its_currency_in_lower_case_and_audited() {
    let v = vault();
    let new = || NewTenant {
        id: tid("acme"),
        name: "Acme".into(),
        currency: "EUR".into(),
    };
    let t = ok(v.create_tenant(new(), &operator()).await);
    assert_eq!((t.currency.as_str(), t.name.as_str()), ("eur", "Acme"));
    assert!(t.created_at <= v.clock.now());
    assert!(t.trusted_issuers.is_empty() && t.public_api_key.is_none());
    assert_eq!(stored(&v, "acme").await, t);
    assert_eq!(events(&v, "acme"), [setting("create-tenant")]);
    // Again: refused, and nothing recorded for it.
    let e = err(v.create_tenant(new(), &operator()).await);
    assert!(
        matches!(&e, Error::Conflict(m) if m.contains("already exists")),
        "{e:?}"
    );
    assert_eq!(events(&v, "acme").len(), 1);
}

#[tokio::test]
async fn every_operation_on_a_tenant_that_does_not_exist_names_it() {
    let v = vault();
    let id = tid("nobody");
    let op = operator();
    let refusals = [
        err(v.tenant_overview(&id).await),
        err(v.set_public_key(&id, None, &op).await),
        err(v.set_origins(&id, vec![ORIGIN.into()], &op).await),
        err(v.set_redirect_settings(&id, true, true, &op).await),
        err(v.set_legacy_query_string_cards(&id, true, &op).await),
        err(v
            .set_velocity(&id, VelocityLimits::default(), true, &op)
            .await),
        err(v
            .set_token_policy(&id, TokenPolicyChange::default(), &op)
            .await),
        err(v.trust_issuer(&id, ISSUER, AUDIENCE, true, &op).await),
        err(v.issue_api_key(&id, &op).await),
        err(v.revoke_api_key(&id, "key_1", &op).await),
        err(v
            .register_rehome_target(&id, "acct_1New", PROOF_STRIPE_OAUTH, &op)
            .await),
    ];
    for e in refusals {
        assert_eq!(bad_request(e), "no tenant nobody");
    }
    assert!(v.store.audit_events(&id).is_empty());
}

#[tokio::test]
async fn the_overview_lists_keys_and_the_origins_no_stack_honours() {
    let v = vault();
    let mut t = stored(&v, CONNECT).await;
    t.allowed_origins.push("http://shop.example".into());
    v.store.insert_tenant(t);
    let issued = ok(v.issue_api_key(&tid(CONNECT), &operator()).await);
    let seen = ok(v.tenant_overview(&tid(CONNECT)).await);
    assert_eq!(seen.ignored_origins, ["http://shop.example"]);
    assert_eq!(seen.api_keys.len(), 1);
    assert_eq!(seen.api_keys[0].key_id, issued.key_id);
    // A read records nothing.
    assert_eq!(
        events(&v, CONNECT),
        [("key.created".into(), Some(issued.key_id))]
    );
}

#[tokio::test]
async fn a_public_key_is_generated_or_given_and_moves_its_lookup_with_it() {
    let v = vault();
    let t = ok(v.set_public_key(&tid(CONNECT), None, &operator()).await);
    let key = t.public_api_key.clone().unwrap();
    assert!(key.starts_with("pk_") && key.len() == 27, "{key}");
    let found = ok(v.tenant_by_public_key(&key).await).unwrap();
    assert_eq!(found.id, tid(CONNECT));
    let old = format!("pk_{CONNECT}");
    assert_eq!(v.store.tenant_by_public_key(&old).await.unwrap(), None);
    ok(
        v.set_public_key(&tid(CONNECT), Some("pk_mine".into()), &operator())
            .await,
    );
    assert_eq!(
        v.store.tenant_by_public_key("pk_mine").await.unwrap(),
        Some(tid(CONNECT))
    );
    assert_eq!(
        events(&v, CONNECT),
        [setting("public-key"), setting("public-key")]
    );
}

#[tokio::test]
async fn a_public_key_another_tenant_has_is_refused_and_nothing_changes() {
    let v = vault();
    let before = stored(&v, CONNECT).await;
    let theirs = format!("pk_{OWN}");
    let e = err(v
        .set_public_key(&tid(CONNECT), Some(theirs.clone()), &operator())
        .await);
    assert!(
        matches!(&e, Error::Conflict(m) if m.contains("already in use")),
        "{e:?}"
    );
    assert_eq!(stored(&v, CONNECT).await, before);
    assert_eq!(
        v.store.tenant_by_public_key(&theirs).await.unwrap(),
        Some(tid(OWN))
    );
    assert!(events(&v, CONNECT).is_empty());
}

/// The redirect trims the `publicApiKey` it is sent: a key with spaces could never be
/// found, and an empty one would be named by any blank field. The CLI took both.
#[tokio::test]
async fn a_public_key_the_readers_could_never_match_is_refused() {
    let v = vault();
    for bad in [
        "",
        " ",
        " pk_padded",
        "pk_padded ",
        "pk_\n",
        "pk_\u{7f}",
        "pk_\u{200B}",
    ] {
        let e = err(v
            .set_public_key(&tid(CONNECT), Some(bad.into()), &operator())
            .await);
        assert!(bad_request(e).contains("public API key"), "{bad:?}");
    }
    let long = "k".repeat(256);
    assert!(v
        .set_public_key(&tid(CONNECT), Some(long), &operator())
        .await
        .is_err());
    assert_eq!(
        stored(&v, CONNECT).await.public_api_key.as_deref(),
        Some("pk_shop-connect")
    );
    assert!(events(&v, CONNECT).is_empty());
    // Text the redirect can be sent is taken, spaces inside it too.
    let t = ok(v
        .set_public_key(&tid(CONNECT), Some("pk é 1".into()), &operator())
        .await);
    assert_eq!(t.public_api_key.as_deref(), Some("pk é 1"));
    assert_eq!(events(&v, CONNECT), [setting("public-key")]);
}

#[tokio::test]
async fn origins_are_https_or_loopback_http_and_replace_the_list_and_its_index() {
    let v = vault();
    for bad in [
        "http://shop.example",
        "https://shop.example/checkout",
        "ftp://x.example",
    ] {
        let e = err(v
            .set_origins(
                &tid(CONNECT),
                vec!["https://fine.example".into(), bad.into()],
                &operator(),
            )
            .await);
        assert!(bad_request(e).contains("origin"), "{bad}");
    }
    let e = err(v
        .set_origins(
            &tid(CONNECT),
            vec!["http://shop.example".into()],
            &operator(),
        )
        .await);
    assert!(bad_request(e).contains("https"));
    let t = ok(v
        .set_origins(
            &tid(CONNECT),
            vec!["https://new.example".into(), "http://localhost:3000".into()],
            &operator(),
        )
        .await);
    assert_eq!(
        t.allowed_origins,
        ["https://new.example", "http://localhost:3000"]
    );
    let allowed = |o: &'static str| {
        let v = &v;
        async move { v.store.origin_allowed(&Origin::new(o)).await.unwrap() }
    };
    assert!(allowed("https://new.example").await);
    // Still the other tenant's.
    assert!(allowed(ORIGIN).await);
    ok(
        v.set_origins(&tid(OWN), vec!["https://own.example".into()], &operator())
            .await,
    );
    ok(v.set_origins(
        &tid(CONNECT),
        vec!["https://new.example".into()],
        &operator(),
    )
    .await);
    assert!(!allowed(ORIGIN).await, "no tenant lists it any more");
    assert_eq!(
        events(&v, CONNECT),
        [setting("origins"), setting("origins")]
    );
    assert_eq!(events(&v, OWN), [setting("origins")]);
}

#[tokio::test]
async fn a_connected_account_is_set_unless_another_tenant_holds_or_registered_it() {
    let v = vault();
    v.store
        .insert_tenant(tenant_with_account("acct_1Neighbour"));
    ok(register_target(
        &v.store,
        &tid("neighbour"),
        "acct_1NextHome",
        PROOF_STRIPE_OAUTH,
    )
    .await);
    for theirs in ["acct_1Neighbour", "acct_1NextHome"] {
        let e = err(v
            .set_stripe(
                &tid(CONNECT),
                StripeSetting::Account(theirs.into()),
                &operator(),
            )
            .await);
        assert!(bad_request(e).contains("another tenant"), "{theirs}");
    }
    let e = err(v
        .set_stripe(
            &tid(CONNECT),
            StripeSetting::Account("cus_1NotAnAccount".into()),
            &operator(),
        )
        .await);
    assert!(bad_request(e).contains("acct_"));
    assert_eq!(stored(&v, CONNECT).await, connect_tenant());
    // Its own, again, or a new one of its own.
    for mine in [CONNECT_ACCOUNT, "acct_1Fresh"] {
        let t = ok(v
            .set_stripe(
                &tid(CONNECT),
                StripeSetting::Account(mine.into()),
                &operator(),
            )
            .await);
        assert_eq!(
            t.stripe,
            Some(StripeConnection::Connect {
                account_id: mine.into()
            })
        );
    }
    assert_eq!(events(&v, CONNECT), [setting("stripe"), setting("stripe")]);
}

#[tokio::test]
async fn an_own_key_is_a_secret_under_the_tenants_prefix_with_a_publishable_key() {
    let v = vault();
    let id = tid(CONNECT);
    let own = |secret: &str, pk: Option<&str>| StripeSetting::OwnKey {
        secret_id: secret.into(),
        publishable_key: pk.map(Into::into),
    };
    for (setting_, says) in [
        (
            own("cardvault/tenant/shop-connect/stripe", Some("sk_test_oops")),
            "pk_",
        ),
        (own("cardvault/elsewhere/stripe", None), "cardvault/tenant/"),
        (
            own("cardvault/tenant/shop-own/stripe", None),
            "cardvault/tenant/shop-connect/",
        ),
        (
            own("cardvault/tenant/shop-connect/", None),
            "cardvault/tenant/",
        ),
    ] {
        let e = err(v.set_stripe(&id, setting_, &operator()).await);
        let m = bad_request(e);
        assert!(m.contains(says), "{m}");
    }
    let t = ok(v
        .set_stripe(
            &id,
            own("cardvault/tenant/shop-connect/stripe", Some("pk_test_mine")),
            &operator(),
        )
        .await);
    assert_eq!(
        t.stripe,
        Some(StripeConnection::OwnKey {
            secret_id: "cardvault/tenant/shop-connect/stripe".into()
        })
    );
    assert_eq!(t.stripe_publishable_key.as_deref(), Some("pk_test_mine"));
    // Back to an account: the own key's publishable key goes with it.
    let t = ok(v
        .set_stripe(
            &id,
            StripeSetting::Account(CONNECT_ACCOUNT.into()),
            &operator(),
        )
        .await);
    assert_eq!(t.stripe_publishable_key, None);
}

/// `rehome-cards` parses an own-key secret id with [`StripeConnection::parse_secret_id`]:
/// Secrets Manager's alphabet, at most 512 characters. The CLI's `set-stripe --secret-id`
/// and `set-recaptcha-secret` checked the prefix alone, and stored ids that no function
/// can read and that the re-homing function refuses.
#[tokio::test]
async fn a_secret_id_the_readers_would_refuse_is_refused_for_stripe_and_recaptcha() {
    let v = vault();
    let id = tid(CONNECT);
    let long = format!("cardvault/tenant/shop-connect/{}", "s".repeat(500));
    for bad in [
        "cardvault/tenant/shop-connect/my key",
        "cardvault/tenant/shop-connect/key\n",
        "cardvault/tenant/shop-connect/ключ",
        "cardvault/tenant/shop-connect/a#b",
        long.as_str(),
    ] {
        let e = err(v
            .set_stripe(
                &id,
                StripeSetting::OwnKey {
                    secret_id: bad.into(),
                    publishable_key: None,
                },
                &operator(),
            )
            .await);
        assert!(bad_request(e).contains("cardvault/tenant/"), "{bad:?}");
        let e = err(v.set_recaptcha_secret(&id, bad.into(), &operator()).await);
        assert!(bad_request(e).contains("cardvault/tenant/"), "{bad:?}");
    }
    let e = err(v
        .set_recaptcha_secret(&id, "recaptcha/elsewhere".into(), &operator())
        .await);
    assert!(bad_request(e).contains("cardvault/tenant/"));
    assert_eq!(stored(&v, CONNECT).await, connect_tenant());
    let t = ok(v
        .set_recaptcha_secret(
            &id,
            "cardvault/tenant/shop-connect/recaptcha".into(),
            &operator(),
        )
        .await);
    assert_eq!(
        t.recaptcha_secret_id.as_deref(),
        Some("cardvault/tenant/shop-connect/recaptcha")
    );
    assert_eq!(events(&v, CONNECT), [setting("recaptcha-secret")]);
}

/// A webhook revokes the connection between the operator's read and write: the write is
/// refused (its condition on the mark), read again and retried, so the revocation stands
/// under any change but setting the connection, which clears it.
#[tokio::test]
async fn a_change_racing_a_revocation_is_retried_and_never_undoes_it() {
    let v = vault();
    let at = datetime!(2026-01-01 0:00 UTC);
    v.store
        .interleave("save_tenant", revoked(connect_tenant(), at));
    let t = ok(v
        .set_redirect_settings(&tid(CONNECT), true, false, &operator())
        .await);
    assert_eq!(t.stripe_revoked_at, Some(at));
    assert!(t.require_avs);
    assert_eq!(stored(&v, CONNECT).await, t);
    let saves = v
        .store
        .take_calls()
        .into_iter()
        .filter(|c| *c == "save_tenant")
        .count();
    assert_eq!(saves, 2);
    // One change, one event: the refused write recorded nothing.
    assert_eq!(events(&v, CONNECT), [setting("redirect-settings")]);

    // Setting the connection again clears the mark, even one set meanwhile.
    let v = vault();
    v.store
        .interleave("save_tenant", revoked(connect_tenant(), at));
    let t = ok(v
        .set_stripe(
            &tid(CONNECT),
            StripeSetting::Account(CONNECT_ACCOUNT.into()),
            &operator(),
        )
        .await);
    assert_eq!(t.stripe_revoked_at, None);
    assert_eq!(stored(&v, CONNECT).await.stripe_revoked_at, None);
}

#[tokio::test]
async fn a_tenant_that_keeps_changing_is_given_up_on() {
    let v = vault();
    for minute in 1..=3 {
        let at = datetime!(2026-01-01 0:00 UTC) + time::Duration::minutes(minute);
        v.store
            .interleave("save_tenant", revoked(connect_tenant(), at));
    }
    let e = err(v
        .set_legacy_query_string_cards(&tid(CONNECT), true, &operator())
        .await);
    assert!(
        matches!(&e, Error::Conflict(m) if m.contains("kept changing")),
        "{e:?}"
    );
    assert!(!stored(&v, CONNECT).await.legacy_query_string_cards);
    assert!(events(&v, CONNECT).is_empty());
}

#[tokio::test]
async fn a_store_failure_is_the_operators_error_and_records_nothing() {
    let v = vault();
    v.store.fail("save_tenant");
    assert_internal(err(v
        .set_legacy_query_string_cards(&tid(CONNECT), true, &operator())
        .await));
    assert!(events(&v, CONNECT).is_empty());
}

#[tokio::test]
async fn redirect_settings_and_query_string_cards_are_set_as_given() {
    let v = vault();
    let t = ok(v
        .set_redirect_settings(&tid(CONNECT), true, true, &operator())
        .await);
    assert!(t.require_avs && t.require_risk_fields);
    let t = ok(v
        .set_redirect_settings(&tid(CONNECT), false, true, &operator())
        .await);
    assert!(!t.require_avs && t.require_risk_fields);
    let t = ok(v
        .set_legacy_query_string_cards(&tid(CONNECT), true, &operator())
        .await);
    assert!(t.legacy_query_string_cards);
    let t = ok(v
        .set_legacy_query_string_cards(&tid(CONNECT), false, &operator())
        .await);
    assert!(!t.legacy_query_string_cards);
    assert_eq!(
        events(&v, CONNECT),
        [
            setting("redirect-settings"),
            setting("redirect-settings"),
            setting("legacy-query-string-cards"),
            setting("legacy-query-string-cards"),
        ]
    );
}

#[tokio::test]
async fn velocity_overrides_keep_what_they_do_not_name_and_reset_to_the_defaults() {
    let v = vault();
    let id = tid(CONNECT);
    let t = ok(v
        .set_velocity(
            &id,
            VelocityLimits {
                per_ip: Some(50),
                declines: Some(3),
                ..VelocityLimits::default()
            },
            false,
            &operator(),
        )
        .await);
    assert_eq!(
        (t.velocity.per_ip, t.velocity.declines),
        (Some(50), Some(3))
    );
    let t = ok(v
        .set_velocity(
            &id,
            VelocityLimits {
                window_secs: Some(60),
                ..VelocityLimits::default()
            },
            false,
            &operator(),
        )
        .await);
    assert_eq!(
        (t.velocity.window_secs, t.velocity.per_ip),
        (Some(60), Some(50))
    );
    let t = ok(v
        .set_velocity(
            &id,
            VelocityLimits {
                per_customer: Some(2),
                ..VelocityLimits::default()
            },
            true,
            &operator(),
        )
        .await);
    assert_eq!(
        t.velocity,
        VelocityLimits {
            per_customer: Some(2),
            ..VelocityLimits::default()
        }
    );
    let zero = VelocityLimits {
        window_secs: Some(0),
        ..VelocityLimits::default()
    };
    let e = err(v.set_velocity(&id, zero, false, &operator()).await);
    assert!(bad_request(e).contains("at least 1"));
    assert_eq!(stored(&v, CONNECT).await.velocity, t.velocity);
    assert_eq!(events(&v, CONNECT).len(), 3);
}

#[tokio::test]
async fn a_token_policy_lifetime_is_from_a_second_to_thirty_days() {
    let v = vault();
    let id = tid(CONNECT);
    for bad in [0, 30 * 24 * 3600 + 1, u64::MAX] {
        let change = TokenPolicyChange {
            max_lifetime_secs: Some(bad),
            allow_missing_iat: Some(true),
        };
        let e = err(v.set_token_policy(&id, change, &operator()).await);
        assert!(bad_request(e).contains("from 1 to 2592000"), "{bad}");
    }
    assert!(stored(&v, CONNECT).await.token_policy.is_default());
    let t = ok(v
        .set_token_policy(
            &id,
            TokenPolicyChange {
                max_lifetime_secs: Some(30 * 24 * 3600),
                allow_missing_iat: None,
            },
            &operator(),
        )
        .await);
    assert_eq!(
        (
            t.token_policy.max_lifetime_secs,
            t.token_policy.allow_missing_iat
        ),
        (2_592_000, false)
    );
    let t = ok(v
        .set_token_policy(
            &id,
            TokenPolicyChange {
                max_lifetime_secs: None,
                allow_missing_iat: Some(true),
            },
            &operator(),
        )
        .await);
    assert_eq!(
        (
            t.token_policy.max_lifetime_secs,
            t.token_policy.allow_missing_iat
        ),
        (2_592_000, true)
    );
    assert_eq!(
        events(&v, CONNECT),
        [setting("token-policy"), setting("token-policy")]
    );
}

#[tokio::test]
async fn a_tenant_trusts_one_issuer_for_any_audiences_and_distrust_removes_a_pair() {
    let v = vault();
    let id = tid(CONNECT);
    let t = ok(v
        .trust_issuer(&id, ISSUER, "second-aud", true, &operator())
        .await);
    assert_eq!(t.trusted_issuers.len(), 2);
    // Trusted again: still one entry.
    let t = ok(v
        .trust_issuer(&id, ISSUER, "second-aud", true, &operator())
        .await);
    assert_eq!(t.trusted_issuers.len(), 2);
    let e = err(v
        .trust_issuer(
            &id,
            "https://other-idp.example",
            AUDIENCE,
            true,
            &operator(),
        )
        .await);
    assert!(bad_request(e).contains("already trusts another issuer"));
    let t = ok(v
        .trust_issuer(&id, ISSUER, AUDIENCE, false, &operator())
        .await);
    let t2 = ok(v
        .trust_issuer(&id, ISSUER, "second-aud", false, &operator())
        .await);
    assert!(t2.trusted_issuers.is_empty(), "{t:?}");
    // With none left, another issuer may be trusted.
    ok(v.trust_issuer(
        &id,
        "https://other-idp.example",
        AUDIENCE,
        true,
        &operator(),
    )
    .await);
    for (bad_iss, bad_aud) in [
        ("", AUDIENCE),
        (ISSUER, ""),
        ("  ", AUDIENCE),
        (ISSUER, " "),
    ] {
        for trust in [true, false] {
            let e = err(v
                .trust_issuer(&id, bad_iss, bad_aud, trust, &operator())
                .await);
            assert!(bad_request(e).contains("must not be empty"));
        }
    }
    assert_eq!(
        events(&v, CONNECT),
        [
            setting("trust-issuer"),
            setting("trust-issuer"),
            setting("distrust-issuer"),
            setting("distrust-issuer"),
            setting("trust-issuer"),
        ]
    );
}

/// A token's `iss` is read only as plain text (`auth::jwt`): no surrounding spaces, no
/// control or invisible characters, at most 512 bytes. The CLI refused only a blank issuer
/// and stored the rest as given: a pair no token can ever match, which still took the
/// tenant's one issuer place, so that the right issuer was then refused.
#[tokio::test]
async fn an_issuer_the_readers_could_never_match_is_not_trusted() {
    let v = vault();
    let id = tid("fresh");
    v.store.insert_tenant(Tenant {
        trusted_issuers: vec![],
        ..unconnected_tenant("fresh")
    });
    let long = format!("https://{}", "i".repeat(512));
    for (iss, aud) in [
        (" https://idp.example", AUDIENCE),
        ("https://idp.example ", AUDIENCE),
        ("https://idp.example\n", AUDIENCE),
        ("https://idp\u{200B}.example", AUDIENCE),
        ("https://idp\u{202E}.example", AUDIENCE),
        (long.as_str(), AUDIENCE),
    ] {
        let e = err(v.trust_issuer(&id, iss, aud, true, &operator()).await);
        let m = bad_request(e);
        assert!(m.contains("surrounding spaces"), "{iss:?} {aud:?}: {m}");
    }
    assert!(stored(&v, "fresh").await.trusted_issuers.is_empty());
    let t = ok(v
        .trust_issuer(&id, "https://idp.example", "app", true, &operator())
        .await);
    assert!(t.trusts("https://idp.example", &["app".to_owned()]));
    // A pair stored before the rule can still be removed.
    let mut legacy = stored(&v, "fresh").await;
    legacy.trusted_issuers = vec![TrustedIssuer {
        issuer: " https://idp.example".into(),
        audience: "app".into(),
    }];
    v.store.insert_tenant(legacy);
    let t = ok(v
        .trust_issuer(&id, " https://idp.example", "app", false, &operator())
        .await);
    assert!(t.trusted_issuers.is_empty());
}

#[tokio::test]
async fn an_issued_key_authenticates_until_it_is_revoked_and_both_are_audited() {
    let v = vault();
    let id = tid(CONNECT);
    let issued = ok(v.issue_api_key(&id, &operator()).await);
    assert!(issued.key_id.starts_with("key_"));
    assert_eq!(ok(v.merchant(&issued.key).await), id);
    let record = ok(v.tenant_overview(&id).await).api_keys.remove(0);
    assert_eq!(record.hash, issued.key.hash());
    assert!(record.is_active());
    ok(v.revoke_api_key(&id, &issued.key_id, &operator()).await);
    assert!(!ok(v.tenant_overview(&id).await).api_keys[0].is_active());
    // A fresh vault (no warm cache of the key): refused.
    let other = crate::memory::vault();
    let revoked_record = v.store.list_api_keys(&id).await.unwrap().remove(0);
    other.store.insert_api_key(revoked_record);
    assert!(matches!(
        other.merchant(&issued.key).await,
        Err(Error::Unauthorized(_))
    ));
    assert_eq!(
        events(&v, CONNECT),
        [
            ("key.created".into(), Some(issued.key_id.clone())),
            ("key.revoked".into(), Some(issued.key_id.clone())),
        ]
    );
}

#[tokio::test]
async fn a_key_is_revoked_only_for_its_own_tenant() {
    let v = vault();
    let theirs = ok(v.issue_api_key(&tid(OWN), &operator()).await);
    for key_id in [theirs.key_id.as_str(), "key_unknown"] {
        let e = err(v.revoke_api_key(&tid(CONNECT), key_id, &operator()).await);
        assert!(bad_request(e).contains("has no api key"), "{key_id}");
    }
    assert!(ok(v.tenant_overview(&tid(OWN)).await).api_keys[0].is_active());
    assert!(events(&v, CONNECT).is_empty());
}

#[tokio::test]
async fn a_rehome_target_is_registered_once_proven_unless_another_tenant_holds_it() {
    let v = vault();
    let id = tid(CONNECT);
    ok(
        v.register_rehome_target(&id, "acct_1NewHome", PROOF_STRIPE_OAUTH, &operator())
            .await,
    );
    assert!(v
        .store
        .rehome_target_registered(&id, "acct_1NewHome")
        .await
        .unwrap());
    v.store
        .insert_tenant(tenant_with_account("acct_1Neighbour"));
    for (account, says) in [
        ("acct_1Neighbour", "another tenant"),
        ("cus_1NotAnAccount", "acct_"),
    ] {
        let e = err(v
            .register_rehome_target(&id, account, PROOF_STRIPE_OAUTH, &operator())
            .await);
        assert!(bad_request(e).contains(says), "{account}");
    }
    // Registered, it is this tenant's: another may neither register nor connect to it.
    let e = err(v
        .register_rehome_target(
            &tid("neighbour"),
            "acct_1NewHome",
            PROOF_STRIPE_OAUTH,
            &operator(),
        )
        .await);
    assert!(bad_request(e).contains("another tenant"));
    let e = err(v
        .set_stripe(
            &tid("neighbour"),
            StripeSetting::Account("acct_1NewHome".into()),
            &operator(),
        )
        .await);
    assert!(bad_request(e).contains("another tenant"));
    assert_eq!(
        events(&v, CONNECT),
        [(
            "rehome.targetRegistered".into(),
            Some("acct_1NewHome".into())
        )]
    );
    assert!(v.store.audit_events(&tid("neighbour")).is_empty());
}

#[tokio::test]
async fn the_memory_store_keeps_the_admin_writes_conditions() {
    let v = vault();
    let t = connect_tenant();
    assert!(matches!(
        v.store.create_tenant(&t).await,
        Err(crate::ports::StoreError::AlreadyExists)
    ));
    // A save against a read that no longer holds (revoked since) is refused.
    let stale = t.clone();
    v.store
        .insert_tenant(revoked(t.clone(), datetime!(2026-01-01 0:00 UTC)));
    assert!(matches!(
        v.store.save_tenant(&stale, &stale).await,
        Err(crate::ports::StoreError::Conflict)
    ));
    // A save of a tenant that is gone is refused too.
    let gone = unconnected_tenant("gone");
    assert!(matches!(
        v.store.save_tenant(&gone, &gone).await,
        Err(crate::ports::StoreError::Conflict)
    ));
}

/// Two replacements of a public key at once each delete only the lookup of the key they
/// read, so a lookup can outlive its key (the store's tenant Put is not conditioned on the
/// key it replaces). The redirect's lookup opens nothing with such a key: its tenant must
/// still name it.
#[tokio::test]
async fn a_public_key_lookup_that_outlived_its_key_names_no_one() {
    let v = vault();
    let mut t = stored(&v, CONNECT).await;
    let old = t.public_api_key.clone().expect("a seeded public key");
    // The lookup of `old` stays (as a lost race leaves it); the tenant names another key.
    t.public_api_key = Some("pk_replacement".into());
    v.store.insert_tenant(t);
    assert_eq!(
        v.store.tenant_by_public_key(&old).await.unwrap(),
        Some(tid(CONNECT))
    );
    assert!(ok(v.tenant_by_public_key(&old).await).is_none());
    let found = ok(v.tenant_by_public_key("pk_replacement").await).unwrap();
    assert_eq!(found.id, tid(CONNECT));
}
