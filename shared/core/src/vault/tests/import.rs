//! Importing a card or bank account from a Stripe customer (`paymentMethodImport`).

use super::*;
use crate::domain::{CardBrand, Instrument};
use crate::memory::FailWith;

async fn import(
    v: &Vault<Memory>,
    tenant: &str,
    route: StripeRoute,
    req: ImportRequest,
) -> Result<CardView, Error> {
    v.import_card(&tid(tenant), route, req).await
}

#[tokio::test]
async fn a_card_is_imported_from_its_stripe_customer() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));

    let view = ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert!(view.is_default, "the first payment method is the default");
    assert_eq!(view.account, None);
    let pm = &view.payment_method;
    assert_eq!(
        pm.instrument,
        Instrument::Card {
            brand: CardBrand::Visa,
            first6: None,
            exp_month: 8,
            exp_year: 2030,
        }
    );
    assert_eq!(pm.last4, "4242");
    assert_eq!(
        pm.holder.first_name.as_ref().map(Text::as_str),
        Some("Karen")
    );
    assert_eq!(pm.holder.last_name.as_ref().map(Text::as_str), Some("Wood"));
    let stripe = pm.stripe.as_ref().unwrap();
    assert_eq!(
        (stripe.customer_id.as_str(), stripe.source_id.as_str()),
        (cus.as_str(), card.as_str())
    );
    assert!(!pm.stored_in_vault);
    assert_eq!(pm.encrypted_pan, None);
    assert_eq!(pm.fingerprint.as_deref(), Some("fp4242"));

    assert_eq!(v.store.payment_methods(), std::slice::from_ref(pm));
    assert_eq!(reread(&v, &c).await.default_payment_method_id, Some(pm.id));
    assert_eq!(
        v.gateway.take_calls(),
        [format!("retrieve_source {cus} {card}")]
    );
}

#[tokio::test]
async fn a_bank_account_is_imported() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, ba) = v.gateway.seed_customer_with_bank_account("6789");

    let view = ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &ba),
    )
    .await);
    let pm = &view.payment_method;
    assert!(!pm.is_card());
    assert_eq!(
        pm.instrument,
        Instrument::Ach {
            bank_name: Some("STRIPE TEST BANK".into()),
            routing_number: Some("110000000".into()),
        }
    );
    assert_eq!(pm.last4, "6789");
    assert_eq!(
        pm.holder.first_name.as_ref().map(Text::as_str),
        Some("Jenny")
    );
    assert_eq!(
        pm.holder.last_name.as_ref().map(Text::as_str),
        Some("Rosen")
    );
    assert_eq!(pm.stripe.as_ref().unwrap().source_id, ba);
    assert!(view.is_default);
    assert_eq!(v.store.payment_methods().len(), 1);
}

#[tokio::test]
async fn an_own_key_tenant_imports_on_its_own_route() {
    let v = vault();
    let c = customer(&v, OWN).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("1881"));

    let view = ok(import(
        &v,
        OWN,
        StripeRoute::OwnKey,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(view.payment_method.tenant_id, tid(OWN));
    assert_eq!(view.payment_method.last4, "1881");
}

#[tokio::test]
async fn the_same_source_twice_answers_the_first_record() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    let first = ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    v.gateway.take_calls();
    v.store.take_calls();

    let again = ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(again.payment_method, first.payment_method);
    assert!(again.is_default);
    assert!(v.gateway.take_calls().is_empty(), "answered before Stripe");
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "payment_method_of"]
    );
    assert_eq!(v.store.payment_methods().len(), 1);
}

#[tokio::test]
async fn an_import_makes_one_read_and_one_write() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));

    // A cold container reads the tenant once.
    ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "get_tenant", "create_payment_method",]
    );

    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("5556"));
    ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(
        v.store.take_calls(),
        ["customer_and_dedupe", "create_payment_method",]
    );
    assert_eq!(stripe_ops(&v), ["retrieve_source", "retrieve_source"]);
}

#[tokio::test]
async fn an_unknown_source_and_an_unknown_customer_are_told_apart() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, _card) = v.gateway.seed_customer_with_card(stripe_card("4242"));

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, "card_nope"),
    )
    .await);
    assert_eq!(bad_request(e), "No such source: card_nope");
    assert_eq!(
        v.gateway.take_calls(),
        [
            format!("retrieve_source {cus} card_nope"),
            format!("customer_exists {cus}"),
        ]
    );

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, "cus_nope", "card_nope"),
    )
    .await);
    assert_eq!(bad_request(e), "No such customer: cus_nope");

    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn the_wrong_route_for_the_connection_is_bad_request() {
    let v = vault();
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.gateway.take_calls();

    let c = customer(&v, CONNECT).await;
    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::OwnKey,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(
        bad_request(e),
        "This account uses Stripe Connect; use POST /v1/paymentMethodImport/stripeConnect."
    );

    let c = customer(&v, OWN).await;
    let e = err(import(
        &v,
        OWN,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(
        bad_request(e),
        "This account is not connected through Stripe Connect; use POST /v1/paymentMethodImport/Stripe."
    );

    assert!(v.gateway.take_calls().is_empty());
    assert!(v.store.payment_methods().is_empty());
}

/// README: "the wrong route for the tenant's connection [...]: 400 saying so", also for a
/// source imported before (the route is checked before a repeated import is answered).
#[tokio::test]
async fn the_wrong_route_is_bad_request_even_for_a_source_imported_before() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    ok(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::OwnKey,
        import_request(c.id, &cus, &card),
    )
    .await);
    bad_request(e);
}

#[tokio::test]
async fn stripe_refusing_the_credentials_is_upstream() {
    for status in [401, 403] {
        let v = vault();
        let c = customer(&v, CONNECT).await;
        let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
        v.gateway.fail("retrieve_source", FailWith::Api(status));

        let e = err(import(
            &v,
            CONNECT,
            StripeRoute::Connect,
            import_request(c.id, &cus, &card),
        )
        .await);
        assert_eq!(
            upstream(e),
            "Stripe rejected this account's Stripe credentials.",
            "{status}"
        );
        assert!(v.store.payment_methods().is_empty());
    }
}

#[tokio::test]
async fn another_stripe_error_is_bad_request_with_its_message() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.gateway.fail("retrieve_source", FailWith::Api(400));

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(bad_request(e), "injected 400");
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn stripe_unavailable_is_upstream_and_stores_nothing() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.gateway.fail("retrieve_source", FailWith::Unavailable);
    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(
        upstream(e),
        "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again."
    );

    // Not found, and then Stripe does not answer which id it did not find.
    v.gateway.heal("retrieve_source");
    v.gateway.fail("customer_exists", FailWith::Unavailable);
    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, "card_nope"),
    )
    .await);
    upstream(e);

    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn a_source_without_last4_is_upstream_and_stores_nothing() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card(""));

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await);
    assert_eq!(upstream(e), "Stripe's source has no last 4 digits");
    assert!(v.store.payment_methods().is_empty());
}

#[tokio::test]
async fn a_store_failure_is_internal_and_stores_nothing() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.store.fail("create_payment_method");

    assert_internal(err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(c.id, &cus, &card),
    )
    .await));
    assert!(v.store.payment_methods().is_empty());
    // An imported card is the merchant's: nothing to undo at Stripe.
    assert_eq!(stripe_ops(&v), ["retrieve_source"]);
    assert_eq!(v.gateway.sources_of(&cus), [card]);
}

#[tokio::test]
async fn an_unknown_or_foreign_customer_is_not_found_with_no_stripe_call() {
    let v = vault();
    let foreign = customer(&v, OWN).await;
    let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
    v.gateway.take_calls();

    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(foreign.id, &cus, &card),
    )
    .await);
    assert_eq!(
        not_found(e),
        format!("Customer with id {} not found.", foreign.id)
    );
    let unknown = CustomerId::try_from(777).unwrap();
    let e = err(import(
        &v,
        CONNECT,
        StripeRoute::Connect,
        import_request(unknown, &cus, &card),
    )
    .await);
    assert_eq!(not_found(e), "Customer with id 777 not found.");

    assert!(v.gateway.take_calls().is_empty());
    assert!(v.store.payment_methods().is_empty());
}

/// Each route calls Stripe with its own credentials, every call of it: the own-key route
/// with the tenant's own secret key and no connected account, the Connect route with the
/// platform's key on the tenant's account. (localstripe takes any key: only here, and at
/// wiremock in `tests/tests/integration/stripe_faults.rs`, is the key checked.)
#[tokio::test]
async fn each_import_route_calls_stripe_with_its_own_credentials() {
    use crate::memory::Credentials;
    let creds = |op, key: &str, account: Option<&str>| Credentials {
        op,
        key: key.to_owned(),
        account: account.map(str::to_owned),
    };
    for (tenant, route, key, account) in [
        (OWN, StripeRoute::OwnKey, OWN_KEY, None),
        (
            CONNECT,
            StripeRoute::Connect,
            PLATFORM_KEY,
            Some(CONNECT_ACCOUNT),
        ),
    ] {
        let v = vault();
        let c = customer(&v, tenant).await;
        let (cus, card) = v.gateway.seed_customer_with_card(stripe_card("4242"));
        ok(import(&v, tenant, route, import_request(c.id, &cus, &card)).await);
        assert_eq!(
            v.gateway.take_credentials(),
            [creds("retrieve_source", key, account)],
            "{tenant}"
        );
        // A missing source asks for the customer too: on the same credentials.
        let e = err(import(&v, tenant, route, import_request(c.id, &cus, "card_gone")).await);
        bad_request(e);
        assert_eq!(
            v.gateway.take_credentials(),
            [
                creds("retrieve_source", key, account),
                creds("customer_exists", key, account),
            ],
            "{tenant}"
        );
    }
}
