//! Whether a human solved the transparent redirect's reCAPTCHA.

use super::*;
use crate::domain::Stage;
use crate::ports::Verdict;

const MISSING: &str = "The recaptcha token is required.";
const FAILED: &str = "The recaptcha token is not valid.";
const REUSED: &str = "The recaptcha token is expired or was already used.";
const WRONG_HOST: &str = "The recaptcha was solved on a site this account does not allow.";

fn solved_on(host: Option<&str>) -> Option<Verdict> {
    Some(Verdict {
        success: true,
        hostname: host.map(str::to_owned),
        error_codes: vec![],
    })
}

fn refused(codes: &[&str]) -> Option<Verdict> {
    Some(Verdict {
        success: false,
        hostname: Some("shop.example".into()),
        error_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
    })
}

fn asked_with(v: &Vault<Memory>) -> Vec<String> {
    std::mem::take(&mut *v.captcha.asked_with.lock().unwrap())
}

async fn verify(v: &Vault<Memory>, token: Option<&str>) -> Result<(), Error> {
    v.verify_human(&connect_tenant(), token, Some("203.0.113.7"))
        .await
}

#[tokio::test]
async fn a_token_solved_on_an_allowed_host_passes() {
    let v = vault();
    v.captcha.answer("tok-ok", solved_on(Some("shop.example")));
    ok(verify(&v, Some("tok-ok")).await);
    assert_eq!(asked_with(&v), [PLATFORM_RECAPTCHA]);

    // Hosts compare without case, and an origin's port is not part of its host; the
    // token is trimmed before it is sent.
    for (token, host) in [
        ("tok-case", "SHOP.Example"),
        ("tok-port", "checkout.example"),
    ] {
        v.captcha.answer(token, solved_on(Some(host)));
        ok(verify(&v, Some(&format!("  {token} "))).await);
    }
}

#[tokio::test]
async fn a_missing_or_blank_token_is_refused_without_asking() {
    let v = vault();
    for token in [None, Some(""), Some("   ")] {
        assert_eq!(
            bad_request(err(verify(&v, token).await)),
            MISSING,
            "{token:?}"
        );
    }
    assert!(asked_with(&v).is_empty());
}

#[tokio::test]
async fn a_failed_token_is_refused() {
    let v = vault();
    v.captcha
        .answer("tok-bad", refused(&["invalid-input-response"]));
    assert_eq!(bad_request(err(verify(&v, Some("tok-bad")).await)), FAILED);
    v.captcha.answer("tok-none", refused(&[]));
    assert_eq!(bad_request(err(verify(&v, Some("tok-none")).await)), FAILED);
    // A token siteverify never issued.
    assert_eq!(
        bad_request(err(verify(&v, Some("tok-forged")).await)),
        FAILED
    );
}

#[tokio::test]
async fn a_reused_or_expired_token_says_so() {
    let v = vault();
    v.captcha.answer(
        "tok-used",
        refused(&["invalid-input-response", "timeout-or-duplicate"]),
    );
    assert_eq!(bad_request(err(verify(&v, Some("tok-used")).await)), REUSED);
}

#[tokio::test]
async fn a_token_solved_on_another_site_is_refused() {
    let v = vault();
    for (token, host) in [
        ("tok-evil", Some("evil.example")),
        ("tok-suffix", Some("shop.example.evil")),
        ("tok-sub", Some("www.shop.example")),
        ("tok-nohost", None),
    ] {
        v.captcha.answer(token, solved_on(host));
        assert_eq!(
            bad_request(err(verify(&v, Some(token)).await)),
            WRONG_HOST,
            "{host:?}"
        );
    }
}

#[tokio::test]
async fn a_tenant_without_origins_allows_no_host() {
    let v = vault();
    let mut t = connect_tenant();
    t.allowed_origins.clear();
    v.captcha.answer("tok-ok", solved_on(Some("shop.example")));
    let e = err(v.verify_human(&t, Some("tok-ok"), None).await);
    assert_eq!(bad_request(e), WRONG_HOST);
}

/// An http origin stored before https was required is not honoured: not for reCAPTCHA's
/// hostname, not for the preflight's origin index (which answers without a read). A
/// loopback origin is honoured by a development stack only.
#[tokio::test]
async fn an_http_origin_stored_before_https_was_required_is_not_honoured() {
    for stage in [Stage::Dev, Stage::Prod] {
        let v = memory::vault_at(stage);
        let mut t = connect_tenant();
        t.allowed_origins = vec!["http://shop.example".into(), "http://localhost:3000".into()];
        v.store.insert_tenant(t.clone());
        v.captcha.answer("tok-ok", solved_on(Some("shop.example")));
        let e = err(v.verify_human(&t, Some("tok-ok"), None).await);
        assert_eq!(bad_request(e), WRONG_HOST);
        v.captcha.answer("tok-local", solved_on(Some("localhost")));
        let local_token = v.verify_human(&t, Some("tok-local"), None).await;

        v.store.take_calls();
        let http = crate::domain::Origin::new("http://shop.example");
        assert!(!ok(v.origin_allowed(&http).await));
        assert_eq!(v.store.take_calls(), Vec::<&str>::new(), "no read for it");
        let local = crate::domain::Origin::new("http://localhost:3000");
        let local_origin = ok(v.origin_allowed(&local).await);
        match stage {
            Stage::Dev => {
                ok(local_token);
                assert!(local_origin);
            }
            Stage::Prod => {
                assert_eq!(bad_request(err(local_token)), WRONG_HOST);
                assert!(!local_origin);
                assert_eq!(v.store.take_calls(), Vec::<&str>::new(), "no read for it");
            }
        }
    }
}

/// siteverify refusing our own secret is our fault, not the cardholder's: unavailable
/// (a 5xx the operator sees logged), never "the token is not valid".
#[tokio::test]
async fn our_secret_refused_by_siteverify_is_unavailable_not_a_bad_token() {
    let v = vault();
    for code in ["invalid-input-secret", "missing-input-secret"] {
        v.captcha
            .answer("tok-x", refused(&[code, "invalid-input-response"]));
        match err(verify(&v, Some("tok-x")).await) {
            Error::Unavailable { message, .. } => assert_eq!(
                message,
                "reCAPTCHA verification is unavailable; nothing was stored. Try again."
            ),
            other => panic!("{code}: expected Unavailable, got {other:?}"),
        }
    }
    v.captcha
        .answer("tok-y", refused(&["invalid-input-response"]));
    assert_eq!(bad_request(err(verify(&v, Some("tok-y")).await)), FAILED);
}

#[tokio::test]
async fn siteverify_unavailable_is_unavailable() {
    let v = vault();
    v.captcha.answer("tok-down", None);
    match err(verify(&v, Some("tok-down")).await) {
        Error::Unavailable { message, source } => {
            assert_eq!(
                message,
                "reCAPTCHA verification is unavailable; nothing was stored. Try again."
            );
            assert!(source.is_some());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_tenants_own_secret_is_used_when_it_has_one() {
    let v = vault();
    v.secrets
        .set("tenants/shop-connect/recaptcha", "tenant-recaptcha");
    let t = Tenant {
        recaptcha_secret_id: Some("tenants/shop-connect/recaptcha".into()),
        ..connect_tenant()
    };
    v.captcha.answer("tok-ok", solved_on(Some("shop.example")));

    ok(v.verify_human(&t, Some("tok-ok"), None).await);
    assert_eq!(asked_with(&v), ["tenant-recaptcha"]);
    ok(v.verify_human(&own_key_tenant(), Some("tok-ok"), None)
        .await);
    assert_eq!(asked_with(&v), [PLATFORM_RECAPTCHA]);
}

#[tokio::test]
async fn a_missing_secret_is_internal() {
    let v = vault();
    v.captcha.answer("tok-ok", solved_on(Some("shop.example")));
    let t = Tenant {
        recaptcha_secret_id: Some("tenants/nowhere".into()),
        ..connect_tenant()
    };
    assert_internal(err(v.verify_human(&t, Some("tok-ok"), None).await));

    v.secrets.remove(crate::memory::RECAPTCHA_SECRET_ID);
    assert_internal(err(verify(&v, Some("tok-ok")).await));
    assert!(
        asked_with(&v).is_empty(),
        "siteverify is not asked without a secret"
    );
}
