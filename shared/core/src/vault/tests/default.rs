//! The default card: the merchant API's `make_default`, the billing card API's
//! `set_current`.

use super::*;
use crate::memory::FailWith;
use crate::ports::PaymentGateway;

fn source_id(view: &CardView) -> String {
    view.payment_method.stripe.clone().unwrap().source_id
}

async fn default_of(
    v: &Vault<Memory>,
    tenant: &str,
    customer: CustomerId,
) -> Option<crate::domain::PaymentMethodId> {
    ok(v.customer(&tid(tenant), customer).await).default_payment_method_id
}

#[tokio::test]
async fn make_default_moves_the_default() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    imported(&v, &c, "4242").await;
    let second = imported(&v, &c, "4444").await.payment_method.id;

    ok(v.make_default(&tid(CONNECT), c.id, second).await);
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_with_payment_methods",
            "set_default_payment_method",
        ]
    );
    assert_eq!(default_of(&v, CONNECT, c.id).await, Some(second));
    v.store.take_calls();
    let view = ok(v.payment_method(&tid(CONNECT), second).await);
    assert!(view.is_default);
    // By id alone: the index names the customer, one Query reads it with its cards.
    assert_eq!(
        v.store.take_calls(),
        ["locate_payment_method", "customer_with_payment_methods"]
    );
}

#[tokio::test]
async fn make_default_with_another_customers_payment_method_is_not_found() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let mine = imported(&v, &c, "4242").await.payment_method.id;
    let d = customer(&v, CONNECT).await;
    let theirs = imported(&v, &d, "4444").await.payment_method.id;

    let e = err(v.make_default(&tid(CONNECT), c.id, theirs).await);
    assert_eq!(
        not_found(e),
        format!("Payment method with id {theirs} not found.")
    );
    assert_eq!(default_of(&v, CONNECT, c.id).await, Some(mine));
    assert_eq!(default_of(&v, CONNECT, d.id).await, Some(theirs));
}

#[tokio::test]
async fn make_default_across_tenants_or_of_an_unknown_id_is_not_found() {
    let v = vault();
    let foreign = customer(&v, OWN).await;
    let theirs = imported(&v, &foreign, "4242").await.payment_method.id;
    let c = customer(&v, CONNECT).await;
    let unknown = crate::domain::PaymentMethodId::try_from(5).unwrap();

    // Their customer with their card, asked in this tenant; and an id no one has.
    for (customer, id) in [(foreign.id, theirs), (c.id, theirs), (c.id, unknown)] {
        let e = err(v.make_default(&tid(CONNECT), customer, id).await);
        assert_eq!(
            not_found(e),
            format!("Payment method with id {id} not found.")
        );
    }
    assert_eq!(default_of(&v, OWN, foreign.id).await, Some(theirs));
    assert_eq!(default_of(&v, CONNECT, c.id).await, None);
}

#[tokio::test]
async fn set_current_true_makes_it_the_one_current_card_and_stripe_follows() {
    let v = vault();
    let first = attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "4444", false).await;
    let cus = second.payment_method.stripe.clone().unwrap().customer_id;

    let view = ok(v
        .set_current(&tid(CONNECT), "a1", second.payment_method.id, true)
        .await);
    assert!(view.is_default);
    let c = first.payment_method.customer_id;
    assert_eq!(
        default_of(&v, CONNECT, c).await,
        Some(second.payment_method.id)
    );
    assert_eq!(v.gateway.default_source_of(&cus), Some(source_id(&second)));
    assert_eq!(
        v.gateway.take_calls(),
        [format!("set_default_source {cus} {}", source_id(&second))]
    );

    // Again: still the one current card.
    ok(
        v.set_current(&tid(CONNECT), "a1", second.payment_method.id, true)
            .await,
    );
    assert_eq!(
        default_of(&v, CONNECT, c).await,
        Some(second.payment_method.id)
    );
}

#[tokio::test]
async fn set_current_false_on_the_current_card_leaves_none() {
    let v = vault();
    let only = attached(&v, "a1", "4242", false).await;
    assert!(only.is_default);

    let view = ok(v
        .set_current(&tid(CONNECT), "a1", only.payment_method.id, false)
        .await);
    assert!(!view.is_default);
    assert_eq!(
        default_of(&v, CONNECT, only.payment_method.customer_id).await,
        None
    );
    assert!(v.gateway.take_calls().is_empty(), "Stripe is not asked");
}

#[tokio::test]
async fn set_current_false_on_another_card_changes_nothing() {
    let v = vault();
    let current = attached(&v, "a1", "4242", false).await;
    let other = attached(&v, "a1", "4444", false).await;

    let view = ok(v
        .set_current(&tid(CONNECT), "a1", other.payment_method.id, false)
        .await);
    assert!(!view.is_default);
    assert_eq!(
        default_of(&v, CONNECT, current.payment_method.customer_id).await,
        Some(current.payment_method.id)
    );
}

#[tokio::test]
async fn set_current_on_another_accounts_card_answers_exactly_like_a_missing_one() {
    let v = vault();
    let mine = attached(&v, "a1", "4242", false).await;
    let theirs = attached(&v, "a2", "4444", false).await;
    attached(&v, "a2", "1881", false).await;
    let merchant = customer(&v, CONNECT).await;
    let merchants = imported(&v, &merchant, "0005").await.payment_method.id;
    // The same account name in the other tenant.
    let token = v.gateway.seed_token(stripe_card("5556"));
    let other_tenant = ok(v
        .attach_token_card(&tid(OWN), "a1", token_card(token, "5556", false))
        .await)
    .payment_method
    .id;
    let absent = crate::domain::PaymentMethodId::try_from(77).unwrap();
    v.gateway.take_calls();

    for current in [true, false] {
        for id in [theirs.payment_method.id, merchants, other_tenant, absent] {
            let e = err(v.set_current(&tid(CONNECT), "a1", id, current).await);
            assert!(matches!(e, Error::NotFound { .. }), "{id}: {e:?}");
            assert_eq!(e.to_string(), format!("Card with id {id} not found."));
        }
    }
    assert!(v.gateway.take_calls().is_empty(), "Stripe is not asked");
    assert_eq!(
        default_of(&v, CONNECT, mine.payment_method.customer_id).await,
        Some(mine.payment_method.id)
    );
    assert_eq!(
        default_of(&v, CONNECT, theirs.payment_method.customer_id).await,
        Some(theirs.payment_method.id)
    );
    assert_eq!(default_of(&v, CONNECT, merchant.id).await, Some(merchants));
}

#[tokio::test]
async fn the_account_card_view_is_the_accounts_card_only() {
    let v = vault();
    let mine = attached(&v, "a1", "4242", false).await;
    let theirs = attached(&v, "a2", "4444", false).await;
    let merchant = customer(&v, CONNECT).await;
    let merchants = imported(&v, &merchant, "1881").await.payment_method.id;
    let absent = crate::domain::PaymentMethodId::try_from(77).unwrap();

    let view = ok(v
        .account_card_view(&tid(CONNECT), "a1", mine.payment_method.id)
        .await);
    assert_eq!(view.payment_method, mine.payment_method);
    assert!(view.is_default);
    assert_eq!(view.account.as_deref(), Some("a1"));

    for id in [theirs.payment_method.id, merchants, absent] {
        let e = err(v.account_card_view(&tid(CONNECT), "a1", id).await);
        assert_eq!(not_found(e), format!("Card with id {id} not found."));
    }
    // The same card asked in another tenant's account of the same name.
    let e = err(v
        .account_card_view(&tid(OWN), "a1", mine.payment_method.id)
        .await);
    assert_eq!(
        not_found(e),
        format!("Card with id {} not found.", mine.payment_method.id)
    );
}

/// Stripe's default source following the vault's is best effort on purpose (the vault's
/// change has committed: `cards::default::follow_on_stripe`), and a failure is seen: a
/// `warn` line with ids only, one `StripeDefaultSourceFailures` count for the tenant, and a
/// `stripe.defaultSourceSet` event with outcome `failed`. A success writes none of them.
#[tokio::test]
async fn a_stripe_failure_to_follow_is_not_fatal_but_logged_counted_and_audited() {
    use crate::telemetry::{capture, STRIPE_DEFAULT_SOURCE_FAILURES};
    let v = vault();
    let first = attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "4444", false).await;
    let (cus, card) = {
        let s = second.payment_method.stripe.clone().unwrap();
        (s.customer_id, s.source_id)
    };
    let events = v.store.audit_events(&tid(CONNECT)).len();
    v.gateway.fail("set_default_source", FailWith::Unavailable);

    let (guard, out) = capture();
    let view = ok(v
        .set_current(&tid(CONNECT), "a1", second.payment_method.id, true)
        .await);
    drop(guard);
    assert!(view.is_default);
    assert_eq!(
        default_of(&v, CONNECT, second.payment_method.customer_id).await,
        Some(second.payment_method.id)
    );
    assert_eq!(
        v.gateway.default_source_of(&cus),
        Some(source_id(&first)),
        "Stripe's default did not move"
    );

    let logs = out.text();
    let [warn] = logs
        .lines()
        .filter(|l| l.contains("Stripe default source not updated"))
        .collect::<Vec<_>>()
        .try_into()
        .expect("one warning");
    assert!(warn.contains("WARN"), "{warn}");
    assert!(warn.contains(&card) && warn.contains(&cus), "{warn}");
    let [metric] = out.metrics().try_into().expect("one metric line");
    assert_eq!(metric[STRIPE_DEFAULT_SOURCE_FAILURES], 1);
    assert_eq!(metric["Tenant"], CONNECT);

    let chain = v.store.audit_events(&tid(CONNECT));
    let [made, failed] = &chain[events..] else {
        panic!("{chain:?}")
    };
    assert_eq!(made.event.action, "card.madeDefault");
    let e = &failed.event;
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str(), e.object.as_deref()),
        ("stripe.defaultSourceSet", "failed", Some(card.as_str()))
    );
    assert_eq!(e.payment_method_id, Some(second.payment_method.id.get()));
    assert_eq!(e.customer_id, Some(second.payment_method.customer_id.get()));

    // Healed: the same change follows, and nothing is counted or audited.
    v.gateway.heal("set_default_source");
    let events = v.store.audit_events(&tid(CONNECT)).len();
    let (guard, out) = capture();
    ok(
        v.set_current(&tid(CONNECT), "a1", second.payment_method.id, true)
            .await,
    );
    drop(guard);
    assert_eq!(v.gateway.default_source_of(&cus), Some(card));
    assert!(out.metrics().is_empty(), "{}", out.text());
    assert!(!out.text().contains("not updated"), "{}", out.text());
    let chain = v.store.audit_events(&tid(CONNECT));
    assert!(chain[events..]
        .iter()
        .all(|r| r.event.action != "stripe.defaultSourceSet"));
}

/// The merchant API's default follows at Stripe too, for a card cardvault attached (the
/// redirect's, on the customer's own Stripe customer); an imported card is the merchant's
/// and Stripe is not asked (`make_default_moves_the_default`).
#[tokio::test]
async fn make_default_of_a_redirect_card_moves_stripes_default_source() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = entered(&v, &c, VISA).await;
    let second = entered(&v, &c, MASTERCARD).await;
    let cus = second.payment_method.stripe.clone().unwrap().customer_id;
    assert_eq!(v.gateway.default_source_of(&cus), Some(source_id(&first)));
    v.gateway.take_calls();
    v.gateway.take_credentials();

    ok(
        v.make_default(&tid(CONNECT), c.id, second.payment_method.id)
            .await,
    );
    assert_eq!(
        default_of(&v, CONNECT, c.id).await,
        Some(second.payment_method.id)
    );
    assert_eq!(
        v.gateway.take_calls(),
        [format!("set_default_source {cus} {}", source_id(&second))]
    );
    assert_eq!(v.gateway.default_source_of(&cus), Some(source_id(&second)));
    let [creds] = v.gateway.take_credentials().try_into().unwrap();
    assert_eq!(creds.account.as_deref(), Some(CONNECT_ACCOUNT));
}

/// Review A3: the merchant API's default and the billing API's current follow one rule,
/// `attached_by_vault`: a card cardvault attached from a token (not held in the vault) to
/// the account's own Stripe customer moves Stripe's default through either API.
#[tokio::test]
async fn make_default_of_a_card_attached_from_a_token_moves_stripes_default_source() {
    let v = vault();
    attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "4444", false).await;
    assert!(!second.payment_method.stored_in_vault);
    let cus = second.payment_method.stripe.clone().unwrap().customer_id;
    v.gateway.take_calls();

    ok(v.make_default(
        &tid(CONNECT),
        second.payment_method.customer_id,
        second.payment_method.id,
    )
    .await);
    assert_eq!(
        v.gateway.take_calls(),
        [format!("set_default_source {cus} {}", source_id(&second))]
    );
    assert_eq!(v.gateway.default_source_of(&cus), Some(source_id(&second)));
}

#[tokio::test]
async fn a_merchants_imported_card_made_current_leaves_the_merchants_stripe_default_alone() {
    let v = vault();
    // The merchant's own Stripe customer, with two cards; the first is its default.
    let (cus_m, card_x) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    let tok = v.gateway.seed_token(stripe_card("4444"));
    let card_y = ok(v
        .gateway
        .attach_source(&any_auth(), &cus_m, tok.reveal(), "seed")
        .await
        .map_err(|e| Error::bug(e.to_string())))
    .id;
    // The account's own card, then the merchant's second card imported onto the account.
    attached(&v, "a1", "1111", false).await;
    let account = ok(v
        .customer_for_ref(&tid(CONNECT), &crate::domain::account_ref("a1"))
        .await);
    let y = ok(v
        .import_card(
            &tid(CONNECT),
            StripeRoute::Any,
            import_request(account.id, &cus_m, &card_y),
        )
        .await);
    v.gateway.take_calls();
    let made = ok(v
        .set_current(&tid(CONNECT), "a1", y.payment_method.id, true)
        .await);
    assert!(made.is_default);
    assert!(
        v.gateway.take_calls().is_empty(),
        "no call to the merchant's Stripe customer"
    );
    assert_eq!(
        v.gateway.default_source_of(&cus_m).as_deref(),
        Some(card_x.as_str())
    );
}
