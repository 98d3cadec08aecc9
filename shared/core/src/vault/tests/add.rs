//! A card entered through the transparent redirect: verified at Stripe, sealed in the
//! vault, optionally charged once.

use super::*;
use crate::domain::{CardBrand, Instrument, PanContext};
use crate::memory::{FailWith, DECLINED_AT_ATTACH, DECLINES_CHARGES};
use crate::vault::Added;
use secrecy::ExposeSecret;

async fn add(v: &Vault<Memory>, c: &Customer, entry: CardEntry) -> Result<Added, Error> {
    v.add_entered_card(&connect_tenant(), c.id, entry).await
}

#[tokio::test]
async fn a_new_card_is_stored_with_its_pan_sealed() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let added = ok(add(&v, &c, card(VISA).holder("Karen", "Wood").build()).await);
    assert!(added.created);
    assert!(added.collection.is_none());
    assert!(added.view.is_default, "the first card is the default");

    let [pm] = stored_of(&v, c.id).try_into().expect("one card stored");
    assert_eq!(pm, added.view.payment_method);
    assert_eq!(
        pm.instrument,
        Instrument::Card {
            brand: CardBrand::Visa,
            first6: Some("424242".into()),
            exp_month: 12,
            exp_year: 2030,
        }
    );
    assert_eq!(pm.last4, "4242");
    assert_eq!(
        pm.holder.first_name.as_ref().map(Text::as_str),
        Some("Karen")
    );
    assert!(pm.stored_in_vault);
    let fingerprint = pm.fingerprint.clone().expect("a fingerprint");
    assert_eq!(fingerprint.len(), 64);
    assert!(!fingerprint.contains("4242"));

    // The PAN is sealed under a data key (envelope encryption): nowhere in the record in
    // the clear, and it opens only through the key service with the record's own context.
    let sealed = pm.encrypted_pan.clone().expect("the PAN is sealed");
    assert_eq!(sealed.key_id, "memory-kms-key");
    assert!(sealed.is_envelope());
    assert!(!sealed.ciphertext.contains(VISA) && !sealed.ciphertext.contains("424242"));
    let record = serde_json::to_string(&pm).unwrap();
    assert!(!record.contains(VISA), "{record}");
    let context = PanContext::new(&tid(CONNECT), c.id, pm.id);
    let opened = v.keys.open_pan(&sealed, &context).await.unwrap();
    assert_eq!(opened.expose_secret(), VISA);
    // Another tenant (the data key's KMS context) or another record (the AES associated
    // data) does not open it.
    let elsewhere = PanContext::new(&tid(OWN), c.id, pm.id);
    assert!(v.keys.open_pan(&sealed, &elsewhere).await.is_err());
    let other_card = PanContext::new(
        &tid(CONNECT),
        c.id,
        crate::domain::PaymentMethodId::try_from(7_000_001).unwrap(),
    );
    assert!(v.keys.open_pan(&sealed, &other_card).await.is_err());

    // Stripe holds the card, on the customer's own Stripe customer.
    let stripe = pm.stripe.clone().expect("a Stripe reference");
    let linked = reread(&v, &c).await;
    assert_eq!(
        linked.stripe_customer_id.as_ref(),
        Some(&stripe.customer_id)
    );
    assert_eq!(linked.default_payment_method_id, Some(pm.id));
    assert_eq!(
        v.gateway.sources_of(&stripe.customer_id),
        [stripe.source_id]
    );
}

#[tokio::test]
async fn a_new_card_makes_the_documented_round_trips() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let first = ok(add(&v, &c, card(VISA).build()).await);
    let id = first.view.payment_method.id;
    let stripe = first.view.payment_method.stripe.clone().unwrap();
    let (cus, source) = (stripe.customer_id, stripe.source_id);
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_and_dedupe",
            "link_stripe_customer",
            "create_payment_method"
        ]
    );
    assert_eq!(
        v.gateway.take_calls(),
        [
            format!(
                "create_vault_customer cardvault-customer-{CONNECT}-{}",
                c.id
            ),
            format!("create_payment_method cardvault-pm-{id}"),
            format!("setup_off_session cardvault-setup-{id}"),
            // The first card is the default: Stripe's follows (a PaymentMethod attached
            // through a SetupIntent is not made the default there, as a first source was).
            format!("set_default_source {cus} {source}"),
        ]
    );

    // The Stripe customer exists now: one read, one write, and two Stripe calls.
    ok(add(&v, &c, card(MASTERCARD).build()).await);
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "create_payment_method"]
    );
    assert_eq!(
        stripe_ops(&v),
        ["create_payment_method", "setup_off_session"]
    );
    assert_eq!(v.gateway.live_customers(), 1);
}

#[tokio::test]
async fn the_first_card_is_the_default_and_make_default_moves_it() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let a = ok(add(&v, &c, card(VISA).build()).await).view;
    let b = ok(add(&v, &c, card(MASTERCARD).build()).await).view;
    assert!(a.is_default);
    assert!(!b.is_default, "a second card does not take the default");
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(a.payment_method.id)
    );

    let x = ok(add(&v, &c, card(AMEX).make_default().build()).await).view;
    assert!(x.is_default);
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(x.payment_method.id)
    );
}

#[tokio::test]
async fn the_same_card_again_answers_the_record_on_file() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = ok(add(&v, &c, card(VISA).build()).await);
    v.gateway.take_calls();
    v.store.take_calls();

    // The same number as people type it.
    let again = ok(add(&v, &c, card("4242 4242-4242 4242").build()).await);
    assert!(!again.created);
    assert_eq!(again.view.payment_method, first.view.payment_method);
    // The entered details pass at Stripe first, on a copy detached again: a matching
    // number alone reads nothing.
    assert_eq!(
        stripe_ops(&v),
        ["create_card_token", "attach_source", "detach_source"]
    );
    let stripe = first.view.payment_method.stripe.clone().unwrap();
    assert_eq!(
        v.gateway.sources_of(&stripe.customer_id),
        [stripe.source_id]
    );
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "payment_method_of"]
    );
    assert_eq!(stored_of(&v, c.id).len(), 1);

    // Another customer of the tenant may hold the same card.
    let d = customer(&v, CONNECT).await;
    assert!(ok(add(&v, &d, card(VISA).build()).await).created);
}

/// The card on file answers with the holder the request entered, never the stored one: a
/// caller with the number and expiry learns neither whose card it is nor where they live.
/// A CVC the issuer fails declines (the copy undone), on file or new, and reads nothing.
#[tokio::test]
async fn the_card_on_file_answers_no_stored_holder_and_a_failed_cvc_declines() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let mut karen = card(VISA).holder("Karen", "Wood").build();
    karen.email = Text::parse_optional("email", Some("karen@example.com"), 100).unwrap();
    let first = ok(add(&v, &c, karen).await);
    let again = ok(add(&v, &c, card(VISA).holder("Mallory", "Other").build()).await);
    assert!(!again.created);
    assert_eq!(again.view.payment_method.id, first.view.payment_method.id);
    let holder = &again.view.payment_method.holder;
    assert_eq!(
        (
            holder.first_name.as_ref().map(Text::as_str),
            holder.last_name.as_ref().map(Text::as_str)
        ),
        (Some("Mallory"), Some("Other"))
    );
    assert_eq!(again.view.payment_method.email, None);
    // The record on file keeps its holder.
    let [stored] = stored_of(&v, c.id).try_into().expect("one card");
    assert_eq!(stored.holder, first.view.payment_method.holder);

    let stripe = first.view.payment_method.stripe.clone().unwrap();
    for entry in [
        card(VISA).cvv(crate::memory::CVC_FAILS).build(),
        card(MASTERCARD).cvv(crate::memory::CVC_FAILS).build(),
    ] {
        let e = err(add(&v, &c, entry).await);
        assert!(matches!(e, Error::Declined { .. }), "{e:?}");
    }
    assert_eq!(
        v.gateway.sources_of(&stripe.customer_id),
        [stripe.source_id],
        "each copy was detached"
    );
    assert_eq!(stored_of(&v, c.id).len(), 1);
}

#[tokio::test]
async fn a_duplicate_adds_nothing_not_even_the_default() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let a = ok(add(&v, &c, card(VISA).build()).await).view;
    let b = ok(add(&v, &c, card(MASTERCARD).make_default().build()).await).view;

    let again = ok(add(&v, &c, card(VISA).make_default().build()).await);
    assert!(!again.created);
    assert_eq!(again.view.payment_method.id, a.payment_method.id);
    assert!(!again.view.is_default);
    assert_eq!(
        reread(&v, &c).await.default_payment_method_id,
        Some(b.payment_method.id)
    );
}

#[tokio::test]
async fn a_decline_at_the_attach_is_bad_request_and_stores_nothing() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let e = err(add(&v, &c, card(DECLINED_AT_ATTACH).build()).await);
    // The caller gets the generic message; Stripe's words are kept for the log only.
    assert_eq!(
        e.to_string(),
        "There was an error validating the payment method: Failed validation"
    );
    assert!(
        matches!(&e, Error::Declined { reason } if reason == "Your card was declined."),
        "{e:?}"
    );
    assert!(v.store.payment_methods().is_empty());
    assert!(!v.store.take_calls().contains(&"create_payment_method"));
}

#[tokio::test]
async fn a_store_failure_after_the_attach_detaches_the_card_again() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.store.fail("create_payment_method");

    assert_internal(err(add(&v, &c, card(VISA).build()).await));
    assert!(v.store.payment_methods().is_empty());
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
    let stripe_customer = reread(&v, &c).await.stripe_customer_id.unwrap();
    assert!(
        calls[3].starts_with(&format!("detach_source {stripe_customer} pm_")),
        "{calls:?}"
    );
    assert!(v.gateway.sources_of(&stripe_customer).is_empty());

    // Once the store is back, the same card goes in.
    v.store.heal("create_payment_method");
    assert!(ok(add(&v, &c, card(VISA).build()).await).created);
    assert_eq!(v.gateway.sources_of(&stripe_customer).len(), 1);
}

#[tokio::test]
async fn stripe_unavailable_is_upstream_and_stores_nothing() {
    for (op, message) in [
        (
            "create_vault_customer",
            "Stripe is unavailable; nothing was stored. Try again.",
        ),
        (
            "create_payment_method",
            "Stripe is unavailable; the card was not stored. Try again.",
        ),
        (
            "setup_off_session",
            "Stripe is unavailable; the card was not stored. Try again.",
        ),
    ] {
        let v = vault();
        let c = customer(&v, CONNECT).await;
        v.gateway.fail(op, FailWith::Unavailable);
        let e = err(add(&v, &c, card(VISA).build()).await);
        assert_eq!(upstream(e), message, "{op}");
        assert!(v.store.payment_methods().is_empty(), "{op}");
    }
}

#[tokio::test]
async fn a_tenant_without_stripe_is_bad_request_and_stores_nothing() {
    let v = vault();
    let t = unconnected_tenant("no-stripe");
    v.store.insert_tenant(t.clone());
    let c = customer(&v, "no-stripe").await;

    let e = err(v.add_entered_card(&t, c.id, card(VISA).build()).await);
    assert_eq!(
        bad_request(e),
        "This account has no Stripe connection configured."
    );
    assert!(v.gateway.take_calls().is_empty());
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn a_collection_is_charged_on_the_new_card() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let added = ok(add(&v, &c, card(VISA).collect(550).build()).await);
    let id = added.view.payment_method.id;
    let collection = added.collection.expect("a collection");
    assert_eq!(collection.succeeded, Some(true));
    assert_eq!(collection.amount_minor, 550);
    assert_eq!(collection.currency, "usd");
    assert!(collection.payment_intent_id.unwrap().starts_with("pi_"));
    assert_eq!(collection.message, None);
    assert_eq!(v.gateway.intents(), 1);
    // The key is the card's and this request's: a later collection is a new charge.
    let calls = v.gateway.take_calls();
    let collect = calls.iter().find(|c| c.starts_with("collect ")).unwrap();
    assert!(
        collect.starts_with(&format!("collect cardvault-collect-{id}-")),
        "{calls:?}"
    );
    assert_eq!(added.view.payment_method.failures, 0);
}

#[tokio::test]
async fn a_declined_collection_keeps_the_card_and_counts_the_failure() {
    let v = vault();
    let c = customer(&v, CONNECT).await;

    let added = ok(add(&v, &c, card(DECLINES_CHARGES).collect(550).build()).await);
    assert!(added.created);
    let collection = added.collection.expect("a collection");
    assert_eq!(collection.succeeded, Some(false));
    assert_eq!(collection.payment_intent_id, None);
    // Stripe's reason is kept on the record; the answer says only that it was declined.
    let message = "Your card has insufficient funds.";
    assert_eq!(
        collection.message.as_deref(),
        Some(crate::vault::cards::COLLECTION_DECLINED)
    );
    assert_eq!(added.view.payment_method.failures, 1);
    assert_eq!(
        added.view.payment_method.last_error.as_deref(),
        Some(message)
    );

    let [pm] = stored_of(&v, c.id).try_into().expect("the card is kept");
    assert_eq!(pm.failures, 1);
    assert_eq!(pm.last_error.as_deref(), Some(message));
    assert_eq!(v.gateway.intents(), 0);
}

/// The holder's address goes to Stripe with the card, as entered (its AVS checks read it).
#[tokio::test]
async fn the_holders_address_goes_to_stripe_with_the_card() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let mut entry = card(VISA).holder("Karen", "Wood").build();
    let text = |s: &str| Text::parse_optional("address", Some(s), 100).unwrap();
    entry.holder.address1 = text("1 Main Street");
    entry.holder.address2 = text("Apt 2");
    entry.holder.city = text("Springfield");
    entry.holder.postal_zip = text("10001");

    let added = ok(add(&v, &c, entry).await);

    let s = added.view.payment_method.stripe.unwrap();
    let at_stripe = v.gateway.card_of(&s.customer_id, &s.source_id).unwrap();
    assert_eq!(
        [
            at_stripe.address_line1,
            at_stripe.address_line2,
            at_stripe.address_city,
            at_stripe.address_zip
        ],
        ["1 Main Street", "Apt 2", "Springfield", "10001"].map(|a| Some(a.to_owned()))
    );
}

/// Only a PaymentIntent that `succeeded` is a collection: one still processing is not
/// money taken, and counts as a failure on the card.
#[tokio::test]
async fn a_collection_that_did_not_succeed_at_stripe_is_no_success() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.intent_status("processing");

    let added = ok(add(&v, &c, card(VISA).collect(550).build()).await);
    let collection = added.collection.expect("a collection");
    assert_eq!(collection.succeeded, Some(false));
    assert!(collection.payment_intent_id.is_some());
    assert_eq!(
        collection.message.as_deref(),
        Some(crate::vault::cards::COLLECTION_DECLINED)
    );
    assert_eq!(
        added.view.payment_method.last_error.as_deref(),
        Some("The payment is processing.")
    );
}

/// A collection whose card's issuer asks for 3-D Secure for the payment: the card is on
/// file (and nothing counted against it), and the answer is what the page needs to finish
/// the PaymentIntent with `confirmCardPayment`; its outcome comes by the webhook.
#[tokio::test]
async fn a_collection_that_needs_3ds_answers_the_payment_intents_action() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.intent_status("requires_action");

    let e = err(add(&v, &c, card(VISA).collect(550).build()).await);
    let Error::ActionRequired(a) = e else {
        panic!("expected ActionRequired, got {e:?}")
    };
    assert_eq!(a.kind, "payment_intent");
    assert!(a.intent_id.starts_with("pi_"), "{}", a.intent_id);
    assert!(a.client_secret.starts_with(&a.intent_id));
    let [pm] = stored_of(&v, c.id).try_into().expect("the card is kept");
    assert_eq!(a.payment_method_id, Some(pm.id));
    assert!(pm.is_on_file());
    assert_eq!(pm.failures, 0);
}

#[tokio::test]
async fn an_unanswered_collection_is_unknown_and_no_failure() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    v.gateway.fail("collect", FailWith::Unavailable);

    let added = ok(add(&v, &c, card(VISA).collect(550).build()).await);
    assert!(added.created);
    let collection = added.collection.expect("a collection");
    assert_eq!(collection.succeeded, None);
    assert!(collection.message.is_some());
    let [pm] = stored_of(&v, c.id).try_into().expect("the card is kept");
    assert_eq!(pm.failures, 0);
    assert_eq!(pm.last_error, None);
    assert!(!v.store.take_calls().contains(&"record_payment_failure"));
}

#[tokio::test]
async fn a_collection_with_a_card_on_file_is_charged_on_that_card() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = ok(add(&v, &c, card(VISA).build()).await);
    v.gateway.take_calls();

    let again = ok(add(&v, &c, card(VISA).collect(700).build()).await);
    assert!(!again.created);
    assert_eq!(again.view.payment_method.id, first.view.payment_method.id);
    assert_eq!(again.collection.unwrap().succeeded, Some(true));
    // The entered card is verified again (a copy attached and detached), then charged.
    assert_eq!(
        stripe_ops(&v),
        [
            "create_card_token",
            "attach_source",
            "detach_source",
            "collect"
        ]
    );
    assert_eq!(v.gateway.intents(), 1);
    let stripe = again.view.payment_method.stripe.unwrap();
    assert_eq!(
        v.gateway.sources_of(&stripe.customer_id),
        [stripe.source_id],
        "the verification copy is gone"
    );
}

#[tokio::test]
async fn a_card_on_file_with_another_expiry_is_not_charged() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = ok(add(&v, &c, card(VISA).build()).await);
    v.gateway.take_calls();

    let mut entry = card(VISA).collect(700).build();
    entry.expiry.month = 11;
    let e = err(add(&v, &c, entry).await);
    assert!(
        matches!(&e, Error::Declined { reason } if reason.contains("expiry")),
        "{e:?}"
    );
    // Verified at Stripe all the same, so a wrong expiry takes as long as a decline.
    assert_eq!(
        stripe_ops(&v),
        ["create_card_token", "attach_source", "detach_source"]
    );
    assert_eq!(v.gateway.intents(), 0);
    assert_eq!(
        stored_of(&v, c.id),
        [first.view.payment_method],
        "the card on file is unchanged"
    );
}

#[tokio::test]
async fn a_card_on_file_whose_cvc_fails_again_is_not_charged() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    ok(add(&v, &c, card(VISA).build()).await);
    v.gateway.take_calls();
    // Stripe refuses the verification copy (an incorrect CVC, say).
    v.gateway.fail("attach_source", FailWith::Api(402));

    let e = err(add(&v, &c, card(VISA).collect(700).build()).await);
    assert!(matches!(e, Error::Declined { .. }), "{e:?}");
    assert_eq!(stripe_ops(&v), ["create_card_token", "attach_source"]);
    assert_eq!(v.gateway.intents(), 0);
}

/// README: "A `collectionAmount` sent with [a duplicate] is still collected, on the card on
/// file." Each request's collection has its own idempotency key, so a second collection on
/// a card already charged once is a new PaymentIntent, never the first one replayed.
#[tokio::test]
async fn a_second_collection_on_a_card_on_file_is_a_new_charge() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let first = ok(add(&v, &c, card(VISA).collect(550).build()).await);
    let first_intent = first.collection.unwrap().payment_intent_id.unwrap();

    let again = ok(add(&v, &c, card(VISA).collect(700).build()).await);
    let second = again.collection.unwrap();
    assert_eq!(second.succeeded, Some(true));
    assert_ne!(second.payment_intent_id.unwrap(), first_intent);
    assert_eq!(v.gateway.intents(), 2);
}

#[tokio::test]
async fn an_unknown_or_foreign_customer_is_not_found_with_no_stripe_call() {
    let v = vault();
    let foreign = customer(&v, OWN).await;
    let unknown = CustomerId::try_from(424_242).unwrap();

    let e = err(v
        .add_entered_card(&connect_tenant(), foreign.id, card(VISA).build())
        .await);
    assert_eq!(
        not_found(e),
        format!("Customer with id {} not found.", foreign.id)
    );
    let e = err(v
        .add_entered_card(&connect_tenant(), unknown, card(VISA).build())
        .await);
    assert_eq!(not_found(e), "Customer with id 424242 not found.");

    assert!(v.gateway.take_calls().is_empty());
    assert_eq!(v.store.take_calls(), ["customer_and_dedupe"; 2]);
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn the_email_entered_with_the_card_is_kept() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let mut entry = card(VISA).build();
    entry.email = Text::parse_optional("email", Some("karen@example.com"), 255).unwrap();
    let added = ok(add(&v, &c, entry).await);
    let email =
        |pm: &crate::domain::PaymentMethod| pm.email.as_ref().map(|e| e.as_str().to_owned());
    assert_eq!(
        email(&added.view.payment_method).as_deref(),
        Some("karen@example.com")
    );
    let [pm] = stored_of(&v, c.id).try_into().expect("one card stored");
    assert_eq!(email(&pm).as_deref(), Some("karen@example.com"));
}

#[tokio::test]
async fn a_matching_number_alone_does_not_read_the_card_on_file() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    ok(add(&v, &c, card(VISA).holder("Alice", "Owner").build()).await);
    v.gateway.take_calls();

    // Someone with the number and the customer id, not the CVC: Stripe refuses the copy.
    v.gateway.fail("attach_source", FailWith::Api(402));
    let e = err(add(&v, &c, card(VISA).holder("Mallory", "X").build()).await);
    assert!(matches!(e, Error::Declined { .. }), "{e:?}");
    assert!(!format!("{e:?}").contains("Alice"));
}

#[tokio::test]
async fn a_stripe_error_that_is_not_the_cards_is_not_a_decline() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    // A revoked key, say: ours to fix, not the cardholder's decline, at either step.
    for op in ["create_payment_method", "setup_off_session"] {
        v.gateway.fail(op, FailWith::Api(401));
        let e = err(add(&v, &c, card(VISA).build()).await);
        assert!(matches!(e, Error::Upstream { .. }), "{op}: {e:?}");
        assert!(stored_of(&v, c.id).is_empty(), "{op}");
        v.gateway.heal(op);
    }
}
