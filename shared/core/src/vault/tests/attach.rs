//! A card from a Stripe token, attached to a billing account's Stripe customer
//! (`/card/create`).

use super::*;
use crate::domain::{CardBrand, Instrument};
use crate::error::FieldError;
use crate::memory::FailWith;

async fn attach(v: &Vault<Memory>, account: &str, new: NewTokenCard) -> Result<CardView, Error> {
    v.attach_token_card(&tid(CONNECT), account, new).await
}

/// The account's vault customer and its Stripe customer.
async fn account(v: &Vault<Memory>, account: &str) -> (Customer, String) {
    let c = ok(v
        .customer_for_ref(&tid(CONNECT), &format!("account:{account}"))
        .await);
    v.store.take_calls();
    let stripe = c.stripe_customer_id.clone().expect("linked to Stripe");
    (c, stripe)
}

fn field_errors(e: Error) -> Vec<FieldError> {
    match e {
        Error::Invalid(fields) => fields,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_card_is_stored_with_only_its_last4() {
    let v = vault();
    let token = v.gateway.seed_token(stripe_card("4242"));

    let view = ok(attach(&v, "a1", token_card(token, "4242", false)).await);
    assert!(view.is_default, "the account's first card is current");
    assert_eq!(view.account.as_deref(), Some("a1"));
    let pm = &view.payment_method;
    assert_eq!(pm.last4, "4242");
    assert_eq!(
        pm.instrument,
        Instrument::Card {
            brand: CardBrand::Visa,
            first6: None,
            exp_month: 12,
            exp_year: 2030,
        }
    );
    assert_eq!(pm.nickname.as_deref(), Some("Work card"));
    assert!(!pm.stored_in_vault);
    assert_eq!(pm.encrypted_pan, None);

    let (c, stripe) = account(&v, "a1").await;
    assert_eq!(c.external_ref.as_deref(), Some("account:a1"));
    assert_eq!(c.default_payment_method_id, Some(pm.id));
    assert_eq!(stored_of(&v, c.id), std::slice::from_ref(pm));
    let source = &pm.stripe.as_ref().unwrap().source_id;
    assert_eq!(pm.stripe.as_ref().unwrap().customer_id, stripe);
    assert_eq!(v.gateway.sources_of(&stripe), std::slice::from_ref(source));
    assert_eq!(v.gateway.default_source_of(&stripe).as_ref(), Some(source));
}

#[tokio::test]
async fn attaching_makes_the_documented_round_trips() {
    let v = vault();
    let token = v.gateway.seed_token(stripe_card("4242"));
    let view = ok(attach(&v, "a1", token_card(token, "4242", false)).await);
    let id = view.payment_method.id;
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_by_external_ref",
            "create_customer_with_ref",
            "get_tenant",
            "link_stripe_customer",
            "create_payment_method",
        ]
    );
    let calls = v.gateway.take_calls();
    let stripe = view.payment_method.stripe.clone().unwrap();
    assert_eq!(
        calls,
        [
            format!(
                "create_vault_customer cardvault-customer-{CONNECT}-{}",
                view.payment_method.customer_id
            ),
            format!("create_payment_method cardvault-pm-{id}"),
            format!("setup_off_session cardvault-setup-{id}"),
            // The account's first card is current: Stripe's default follows.
            format!(
                "set_default_source {} {}",
                stripe.customer_id, stripe.source_id
            ),
        ]
    );

    // A second card, warm: the account's customer (linked already), the write.
    let token = v.gateway.seed_token(stripe_card("4444"));
    ok(attach(&v, "a1", token_card(token, "4444", false)).await);
    assert_eq!(
        v.store.take_calls(),
        ["customer_by_external_ref", "create_payment_method",]
    );
    assert_eq!(
        stripe_ops(&v),
        ["create_payment_method", "setup_off_session"]
    );
}

#[tokio::test]
async fn a_last4_mismatch_is_an_error_on_number_and_the_card_is_detached() {
    let v = vault();
    let token = v.gateway.seed_token(stripe_card("4242"));

    let e = err(attach(&v, "a1", token_card(token, "1111", false)).await);
    assert_eq!(
        field_errors(e),
        [FieldError::new(
            "number",
            "number does not match the card of stripeToken"
        )]
    );
    let (c, stripe) = account(&v, "a1").await;
    assert!(stored_of(&v, c.id).is_empty());
    assert_eq!(c.default_payment_method_id, None);
    assert!(v.gateway.sources_of(&stripe).is_empty(), "detached again");
    let calls = v.gateway.take_calls();
    let ops: Vec<_> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "create_vault_customer",
            "create_payment_method",
            "setup_off_session",
            "detach_source"
        ]
    );
    // The PaymentMethod the SetupIntent attached is the one detached.
    assert!(
        calls[3].starts_with(&format!("detach_source {stripe} pm_")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn the_first_card_is_current_and_current_true_moves_it_with_stripe_following() {
    let v = vault();
    let first = attached(&v, "a1", "4242", false).await;
    let second = attached(&v, "a1", "4444", false).await;
    let (c, stripe) = account(&v, "a1").await;
    let source = |view: &CardView| view.payment_method.stripe.clone().unwrap().source_id;

    assert!(first.is_default);
    assert!(
        !second.is_default,
        "a later card is not current unless asked"
    );
    assert_eq!(c.default_payment_method_id, Some(first.payment_method.id));
    assert_eq!(v.gateway.default_source_of(&stripe), Some(source(&first)));

    let token = v.gateway.seed_token(stripe_card("1881"));
    let third = ok(attach(&v, "a1", token_card(token, "1881", true)).await);
    assert!(third.is_default);
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(third.payment_method.id)
    );
    assert_eq!(v.gateway.default_source_of(&stripe), Some(source(&third)));
    assert_eq!(
        v.gateway.take_calls().last().unwrap(),
        &format!("set_default_source {stripe} {}", source(&third))
    );
    assert_eq!(v.gateway.sources_of(&stripe).len(), 3);
}

#[tokio::test]
async fn a_card_that_is_not_current_leaves_stripe_default_alone() {
    let v = vault();
    attached(&v, "a1", "4242", false).await;
    let token = v.gateway.seed_token(stripe_card("4444"));
    ok(attach(&v, "a1", token_card(token, "4444", false)).await);
    assert!(!stripe_ops(&v).contains(&"set_default_source".to_owned()));
}

#[tokio::test]
async fn a_stripe_default_failure_does_not_fail_the_card() {
    let v = vault();
    v.gateway.fail("set_default_source", FailWith::Unavailable);
    let token = v.gateway.seed_token(stripe_card("4242"));
    let view = ok(attach(&v, "a1", token_card(token, "4242", false)).await);
    assert!(view.is_default);
    assert_eq!(v.store.payment_methods().len(), 1);
}

#[tokio::test]
async fn an_unknown_or_used_token_is_an_error_on_stripe_token() {
    let v = vault();
    let e = err(attach(
        &v,
        "a1",
        token_card(StripeToken::parse("tok_unknown").unwrap(), "4242", false),
    )
    .await);
    let [f] = field_errors(e).try_into().unwrap();
    assert_eq!(f.field, "stripeToken");
    assert_eq!(f.message, "stripeToken: No such token: 'tok_unknown'");

    let token = v.gateway.seed_token(stripe_card("4242"));
    ok(attach(&v, "a1", token_card(token.clone(), "4242", false)).await);
    let e = err(attach(&v, "a1", token_card(token, "4242", false)).await);
    let [f] = field_errors(e).try_into().unwrap();
    assert_eq!(f.field, "stripeToken");
    assert_eq!(v.store.payment_methods().len(), 1);
}

/// A decline answers with the vault's own words, never Stripe's message (which can say
/// why: fraud, lost card…), and stores nothing.
#[tokio::test]
async fn a_declined_card_is_an_error_on_stripe_token_in_the_vaults_words() {
    for op in ["create_payment_method", "setup_off_session"] {
        let v = vault();
        v.gateway.fail(op, FailWith::Api(402));
        let token = v.gateway.seed_token(stripe_card("4242"));

        let e = err(attach(&v, "a1", token_card(token, "4242", false)).await);
        let [f] = field_errors(e).try_into().unwrap();
        assert_eq!(f.field, "stripeToken", "{op}");
        assert_eq!(
            f.message,
            format!("stripeToken: {}", crate::error::CARD_DECLINED),
            "{op}"
        );
        assert!(v.store.payment_methods().is_empty(), "{op}");
    }
}

#[tokio::test]
async fn stripe_unavailable_is_upstream_and_stores_nothing() {
    for op in ["create_payment_method", "setup_off_session"] {
        let v = vault();
        v.gateway.fail(op, FailWith::Unavailable);
        let token = v.gateway.seed_token(stripe_card("4242"));

        let e = err(attach(&v, "a1", token_card(token, "4242", false)).await);
        assert_eq!(
            upstream(e),
            "Stripe is unavailable; nothing was stored. Try again.",
            "{op}"
        );
        assert!(v.store.payment_methods().is_empty(), "{op}");
    }
}

#[tokio::test]
async fn a_store_failure_detaches_the_card_again() {
    let v = vault();
    v.store.fail("create_payment_method");
    let token = v.gateway.seed_token(stripe_card("4242"));

    assert_internal(err(attach(&v, "a1", token_card(token, "4242", false)).await));
    let (c, stripe) = account(&v, "a1").await;
    assert!(stored_of(&v, c.id).is_empty());
    assert!(v.gateway.sources_of(&stripe).is_empty());
    assert_eq!(stripe_ops(&v).last().unwrap(), "detach_source");
}

#[tokio::test]
async fn each_account_has_its_own_customers() {
    let v = vault();
    let a = attached(&v, "a1", "4242", false).await;
    let b = attached(&v, "a2", "4242", false).await;
    assert_ne!(a.payment_method.customer_id, b.payment_method.customer_id);
    assert_ne!(
        a.payment_method.stripe.unwrap().customer_id,
        b.payment_method.stripe.unwrap().customer_id
    );
    assert!(b.is_default, "each account's first card is its current one");
    assert_eq!(v.gateway.live_customers(), 2);
}
