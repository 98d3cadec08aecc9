//! Card-testing defences on the transparent redirect: attempts counted per source IP, per
//! public key and per customer before any Stripe call, declines locking a customer out.

use super::*;
use crate::domain::VelocityLimits;
use crate::memory::DECLINED_AT_ATTACH;
use crate::vault::velocity::TOO_MANY;
use crate::vault::{Added, Outcome};

const IP: &str = "203.0.113.7";

/// The connect tenant with these limits.
fn limited(limits: VelocityLimits) -> Tenant {
    Tenant {
        velocity: limits,
        ..connect_tenant()
    }
}

async fn attempt(
    v: &Vault<Memory>,
    t: &Tenant,
    c: &Customer,
    pan: &str,
    ip: &str,
) -> Result<Added, Error> {
    v.add_from_redirect(t, c.id, card(pan).build(), Some(ip))
        .await
}

fn too_many(e: Error) {
    match e {
        Error::TooManyRequests(m) => assert_eq!(m, TOO_MANY),
        other => panic!("expected TooManyRequests, got {other:?}"),
    }
}

/// Distinct valid card numbers (Luhn), so that none is a duplicate of another.
const CARDS: [&str; 6] = [
    VISA,
    MASTERCARD,
    AMEX,
    "6011111111111117",
    "3566002020360505",
    "4000056655665556",
];

#[tokio::test]
async fn the_attempt_over_the_ip_limit_is_refused_before_stripe() {
    let v = vault();
    let t = limited(VelocityLimits {
        per_ip: Some(3),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    let d = customer(&v, CONNECT).await;
    for pan in &CARDS[..3] {
        ok(attempt(&v, &t, &c, pan, IP).await);
    }
    v.gateway.take_calls();
    v.store.take_calls();

    // The fourth from that IP, even for another customer: refused, Stripe never asked.
    too_many(err(attempt(&v, &t, &d, CARDS[3], IP).await));
    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "admit"],
        "the customer read and the count, no more"
    );
    assert!(stored_of(&v, d.id).is_empty());

    // Another IP is not held back.
    ok(attempt(&v, &t, &d, CARDS[3], "198.51.100.1").await);
}

#[tokio::test]
async fn the_public_key_and_the_customer_have_limits_of_their_own() {
    let v = vault();
    let t = limited(VelocityLimits {
        per_public_key: Some(4),
        per_customer: Some(2),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    let d = customer(&v, CONNECT).await;
    ok(attempt(&v, &t, &c, CARDS[0], "198.51.100.1").await);
    ok(attempt(&v, &t, &c, CARDS[1], "198.51.100.2").await);
    // The customer's third, from a third IP.
    too_many(err(attempt(&v, &t, &c, CARDS[2], "198.51.100.3").await));
    ok(attempt(&v, &t, &d, CARDS[2], "198.51.100.4").await);
    ok(attempt(&v, &t, &d, CARDS[3], "198.51.100.5").await);
    // The key's fifth: every customer, every IP of the tenant.
    let e = customer(&v, CONNECT).await;
    too_many(err(attempt(&v, &t, &e, CARDS[4], "198.51.100.6").await));
    assert!(stored_of(&v, e.id).is_empty());

    // Another tenant's key is counted apart.
    let own = Tenant {
        velocity: t.velocity.clone(),
        ..own_key_tenant()
    };
    let f = customer(&v, OWN).await;
    ok(attempt(&v, &own, &f, CARDS[0], "198.51.100.6").await);
}

#[tokio::test]
async fn a_refused_attempt_counts_nothing() {
    let v = vault();
    let t = limited(VelocityLimits {
        per_customer: Some(1),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    ok(attempt(&v, &t, &c, CARDS[0], IP).await);
    let before: Vec<u32> = v
        .store
        .counter_keys()
        .iter()
        .map(|k| v.store.counter(k))
        .collect();
    too_many(err(attempt(&v, &t, &c, CARDS[1], IP).await));
    let after: Vec<u32> = v
        .store
        .counter_keys()
        .iter()
        .map(|k| v.store.counter(k))
        .collect();
    assert_eq!(before, after, "all or nothing");
}

#[tokio::test]
async fn declines_lock_the_customer_out_until_the_window_ends() {
    let v = vault();
    let t = limited(VelocityLimits {
        declines: Some(2),
        window_secs: Some(600),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    for _ in 0..2 {
        let e = err(attempt(&v, &t, &c, DECLINED_AT_ATTACH, IP).await);
        assert!(matches!(e, Error::Declined { .. }), "{e:?}");
    }
    v.gateway.take_calls();
    // Locked: even a good card is refused, and Stripe is not asked.
    too_many(err(attempt(&v, &t, &c, VISA, "198.51.100.9").await));
    assert!(v.gateway.take_calls().is_empty());
    // Other customers are not.
    let d = customer(&v, CONNECT).await;
    ok(attempt(&v, &t, &d, VISA, IP).await);

    // The next window opens the redirect again.
    v.clock.advance(600);
    assert!(ok(attempt(&v, &t, &c, VISA, IP).await).created);
}

#[tokio::test]
async fn a_failed_collection_counts_as_a_decline() {
    let v = vault();
    let t = limited(VelocityLimits {
        declines: Some(1),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    let added = ok(v
        .add_from_redirect(
            &t,
            c.id,
            card(crate::memory::DECLINES_CHARGES).collect(500).build(),
            Some(IP),
        )
        .await);
    assert_eq!(
        Outcome::of(&Ok(added)),
        Outcome {
            adds: 1,
            declines: 1,
            refused: 0
        }
    );
    too_many(err(attempt(&v, &t, &c, VISA, IP).await));
}

#[tokio::test]
async fn the_defaults_hold_for_a_tenant_that_overrides_nothing() {
    let v = vault();
    let t = connect_tenant();
    let c = customer(&v, CONNECT).await;
    let limit = t.velocity.per_customer();
    assert_eq!(limit, crate::domain::velocity::DEFAULT_PER_CUSTOMER);
    for i in 0..limit {
        // The same card: answered from file, but still an attempt.
        let r = attempt(&v, &t, &c, VISA, &format!("198.51.100.{i}")).await;
        ok(r);
    }
    too_many(err(attempt(&v, &t, &c, VISA, "198.51.100.200").await));
}

#[tokio::test]
async fn counters_never_hold_the_raw_ip_and_ipv6_counts_by_its_64() {
    let v = vault();
    let t = limited(VelocityLimits {
        per_ip: Some(1),
        ..Default::default()
    });
    let c = customer(&v, CONNECT).await;
    let d = customer(&v, CONNECT).await;
    ok(attempt(&v, &t, &c, VISA, "2001:db8:1:2::1").await);
    // Another host of the same /64 is the same subject.
    too_many(err(attempt(&v, &t, &d, VISA, "2001:db8:1:2:ffff::9").await));
    ok(attempt(&v, &t, &d, VISA, "2001:db8:1:3::1").await);
    ok(attempt(&v, &t, &d, MASTERCARD, IP).await);
    for k in v.store.counter_keys() {
        assert!(
            !k.contains("2001") && !k.contains("203.0.113"),
            "a raw IP in {k}"
        );
        assert!(k.starts_with(&format!("{CONNECT}#")), "{k}");
    }
}

#[test]
fn outcomes_count_adds_declines_and_refusals() {
    let declined = Err(Error::Declined {
        reason: "Your card's security code is incorrect.".into(),
    });
    assert_eq!(Outcome::of(&declined).declines, 1);
    let refused = Err(Error::TooManyRequests(TOO_MANY.into()));
    assert_eq!(Outcome::of(&refused).refused, 1);
    assert_eq!(
        Outcome::of(&Err(Error::BadRequest("x".into()))),
        Outcome::default()
    );
}

#[tokio::test]
async fn a_store_failure_refuses_nothing_silently() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.store.fail("admit");
    let e = err(attempt(&v, &connect_tenant(), &c, VISA, IP).await);
    assert_internal(e);
    assert!(
        v.gateway.take_calls().is_empty(),
        "no Stripe call unless admitted"
    );
}

#[tokio::test]
async fn a_made_up_customer_is_404_and_spends_none_of_the_tenants_budget() {
    let v = vault();
    let t = limited(VelocityLimits {
        per_public_key: Some(5),
        ..Default::default()
    });
    for i in 0..5u64 {
        let phantom = CustomerId::try_from(9_000_000_000 + i).unwrap();
        let e = err(v
            .add_from_redirect(
                &t,
                phantom,
                card(VISA).build(),
                Some(&format!("198.51.100.{i}")),
            )
            .await);
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    }
    assert!(v.gateway.take_calls().is_empty(), "no card reached Stripe");
    // A real cardholder is not locked out by them.
    let c = customer(&v, CONNECT).await;
    ok(
        v.add_from_redirect(&t, c.id, card(MASTERCARD).build(), Some(IP))
            .await,
    );
}
