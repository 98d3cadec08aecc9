//! The Stripe gateway contract: every case below is written once, over the
//! [`PaymentGateway`] port, and runs against both adapters: `memory::*` against the
//! in-memory fake (`cardvault_testkit::memory::MemoryGateway`), `localstripe::*` against the
//! Stripe client (`cardvault_stripe::StripeClient`) on the stack's localstripe. A fake
//! that answers otherwise fails its `memory::` case.
//!
//! Only what localstripe models the way Stripe does is held here. Left out, and why:
//! - Idempotency-Key replays (create_vault_customer, create_customer_with_source,
//!   create_card_token, attach_source, add_card_on_file, collect with a key used before):
//!   localstripe ignores the header and makes a second object; Stripe replays the first
//!   answer, as the fake does.
//! - A card token used twice: Stripe refuses it (`token_already_used`), localstripe
//!   attaches its one card object again.
//! - `Stripe-Account`: localstripe keeps one store for every account, Stripe keeps
//!   connected accounts apart (the fake records the account of what it made).
//! - The card's `brand`: localstripe answers "Visa" for every number; the fake spells
//!   Stripe's brands its own way ("AmericanExpress" for Stripe's "American Express",
//!   which `CardBrand::from_stripe` reads the same).
//! - Error `type` and `message`: localstripe answers a decline as `invalid_request_error`
//!   "Your card was declined." and a missing object as "Not Found" (Stripe: `card_error`,
//!   "No such customer: …"); the cases hold the status, the `code` and the port's own
//!   classifiers (`card_declined`, `is_resource_missing`, `is_not_found`), which the vault
//!   decides on. (The stack gives localstripe's 404s Stripe's `resource_missing` code.)
//! - `retrieve_source` of a bank account, `list_cards` skipping bank accounts: the port
//!   makes no bank account, and localstripe's are Sources of another shape.
//! - `set_default_source` and the default after a detach: the port reads no default back,
//!   and localstripe answers a default naming no source of the customer with a 500 (Stripe:
//!   a 4xx; the fake takes it).
//! - More cards than one page of `list_cards` (10): localstripe answers `has_more` but
//!   refuses the `starting_after` Stripe takes for the next page (400 "Unexpected
//!   starting_after"), so the client's paging is not checked here.
//! - Charges that need authentication (3-D Secure) and PaymentIntent statuses other than
//!   `succeeded`: the fake takes them as set by a test (`MemoryGateway::intent_status`).

use cardvault::domain::{CardNumber, Cvv, Expiry, PaymentMethodId, StripeToken};
use cardvault_core::ports::{
    Card, CardDetails, CardOnFile, NewCard, PaymentGateway, SetupIntent, Source, StripeAuth,
    StripeError, CARD_METADATA_KEY,
};
use cardvault_stripe::{RetryPolicy, StripeClient};

// ---- the two adapters ---------------------------------------------------------------

fn localstripe() -> StripeClient {
    StripeClient::new(
        reqwest::Client::new(),
        cardvault_tests::stack().stripe_url.clone(),
        RetryPolicy::default(),
    )
}

/// Runs each case on both adapters: `memory::<case>` and `localstripe::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&cardvault_testkit::memory::MemoryGateway::default()).await
            })*
        }
        mod localstripe {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::localstripe()).await
            })*
        }
    };
}

contract!(
    a_token_becomes_a_customer_with_its_card,
    a_card_attaches_to_a_vault_customer,
    a_declined_card_is_refused_at_attach_and_not_attached,
    attach_to_an_absent_customer_is_resource_missing,
    a_card_is_retrieved_only_from_its_own_customer,
    a_detached_card_is_gone,
    a_deleted_customer_is_gone_and_deleting_it_again_is_fine,
    a_token_names_its_card_before_and_after_the_attach,
    one_number_one_fingerprint,
    a_card_on_file_keeps_the_vault_card_and_has_no_cvc_check,
    list_cards_answers_every_card_of_the_customer,
    collect_succeeds_or_declines_by_the_card,
    a_cvc_sent_with_the_card_passes,
    an_unknown_token_is_resource_missing,
    a_declined_card_on_file_is_refused_and_not_added,
    a_declined_card_makes_no_customer_with_it,
    a_detached_card_collects_nothing,
    a_card_saved_by_a_setup_intent_is_the_customers_payment_method,
    a_card_asking_for_3ds_waits_attached_to_no_one,
    a_declined_card_is_refused_at_setup_and_not_attached,
    a_token_becomes_a_payment_method,
    a_browser_payment_method_reads_back_with_its_customer,
);

// ---- helpers ----------------------------------------------------------------------

fn auth() -> StripeAuth {
    StripeAuth {
        key: "sk_test_contract".to_owned().into(),
        account: None,
    }
}

/// A fresh idempotency key: localstripe keeps none, the fake keeps every one.
fn key(what: &str) -> String {
    format!("contract-{what}-{:016x}", rand::random::<u64>())
}

fn number(pan: &str) -> CardNumber {
    CardNumber::parse(pan).unwrap()
}

const EXPIRY: Expiry = Expiry {
    month: 8,
    year: 2031,
};

async fn token_of<G: PaymentGateway>(g: &G, pan: &str, cvc: &str, name: &str) -> String {
    let number = number(pan);
    let cvv = Cvv::parse(cvc, Some(number.brand())).unwrap();
    let card = CardDetails {
        number: &number,
        cvv: &cvv,
        expiry: EXPIRY,
        name,
        address_line1: Some("1 Main St"),
        address_line2: None,
        address_city: Some("Springfield"),
        address_zip: Some("12345"),
        address_country: Some("US"),
    };
    let tok = g
        .create_card_token(&auth(), &card, &key("token"))
        .await
        .unwrap();
    assert!(tok.starts_with("tok_"), "{tok}");
    tok
}

async fn token<G: PaymentGateway>(g: &G, pan: &str) -> String {
    token_of(g, pan, "123", "Jane Roe").await
}

async fn vault_customer<G: PaymentGateway>(g: &G) -> String {
    let cus = g
        .create_vault_customer(&auth(), &key("customer"), "4711")
        .await
        .unwrap();
    assert!(cus.starts_with("cus_"), "{cus}");
    cus
}

fn missing(e: &StripeError) -> bool {
    e.is_resource_missing() && e.is_not_found() && e.card_declined().is_none()
}

// ---- cases ------------------------------------------------------------------------

async fn a_token_becomes_a_customer_with_its_card<G: PaymentGateway>(g: &G) {
    let tok = token(g, "4242424242424242").await;
    let created = g
        .create_customer_with_source(
            &auth(),
            &StripeToken::parse(&tok).unwrap(),
            &[("cardvault_customer_id", "4711")],
            &key("cws"),
        )
        .await
        .unwrap();
    assert!(created.id.starts_with("cus_"));
    let card = &created.source;
    assert!(card.id.starts_with("card_"), "{card:?}");
    assert_eq!(card.customer.as_deref(), Some(created.id.as_str()));
    assert_eq!(card.last4.as_deref(), Some("4242"));
    assert_eq!((card.exp_month, card.exp_year), (Some(8), Some(2031)));
    assert_eq!(card.name.as_deref(), Some("Jane Roe"));
    assert_eq!(card.object, "card");
    // The card as held: the address it was tokenised with, the CVC's verdict.
    assert_eq!(card.address_line1.as_deref(), Some("1 Main St"));
    assert_eq!(card.address_city.as_deref(), Some("Springfield"));
    assert_eq!(card.address_zip.as_deref(), Some("12345"));
    assert_eq!(card.address_country.as_deref(), Some("US"));
    assert_eq!(card.cvc_check.as_deref(), Some("pass"));
    assert!(g.customer_exists(&auth(), &created.id).await.unwrap());
    match g
        .retrieve_source(&auth(), &created.id, &card.id)
        .await
        .unwrap()
    {
        Source::Card(c) => {
            assert_eq!(c.id, card.id);
            assert_eq!(c.last4.as_deref(), Some("4242"));
            assert_eq!(c.customer.as_deref(), Some(created.id.as_str()));
        }
        other => panic!("{other:?}"),
    }
    let ids: Vec<String> = g
        .list_cards(&auth(), &created.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![card.id.clone()]);
}

async fn a_card_attaches_to_a_vault_customer<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    assert!(g.customer_exists(&auth(), &cus).await.unwrap());
    assert!(g.list_cards(&auth(), &cus).await.unwrap().is_empty());
    let tok = token(g, "5555555555554444").await;
    let card = g
        .attach_source(&auth(), &cus, &tok, &key("attach"))
        .await
        .unwrap();
    assert!(card.id.starts_with("card_"));
    assert_eq!(card.customer.as_deref(), Some(cus.as_str()));
    assert_eq!(card.last4.as_deref(), Some("4444"));
    assert_eq!((card.exp_month, card.exp_year), (Some(8), Some(2031)));
    // The address given with the card is kept (AVS reads it).
    assert_eq!(card.address_line1.as_deref(), Some("1 Main St"));
    assert_eq!(card.address_city.as_deref(), Some("Springfield"));
    assert_eq!(card.address_zip.as_deref(), Some("12345"));
    assert_eq!(card.address_country.as_deref(), Some("US"));
    let listed = g.list_cards(&auth(), &cus).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, card.id);
    g.set_default_source(&auth(), &cus, &card.id).await.unwrap();
}

async fn a_declined_card_is_refused_at_attach_and_not_attached<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let tok = token(g, "4000000000000002").await;
    let e = g
        .attach_source(&auth(), &cus, &tok, &key("attach"))
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    assert!(
        matches!(&e, StripeError::Api { status: 402, code: Some(c), .. } if c == "card_declined"),
        "{e:?}"
    );
    assert!(!e.is_not_found());
    assert!(g.list_cards(&auth(), &cus).await.unwrap().is_empty());
}

async fn attach_to_an_absent_customer_is_resource_missing<G: PaymentGateway>(g: &G) {
    let tok = token(g, "4242424242424242").await;
    let e = g
        .attach_source(&auth(), "cus_contractnone", &tok, &key("attach"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    let e = g.list_cards(&auth(), "cus_contractnone").await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    assert!(!g
        .customer_exists(&auth(), "cus_contractnone")
        .await
        .unwrap());
    let e = g
        .set_default_source(&auth(), "cus_contractnone", "card_contractnone")
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
}

async fn a_card_is_retrieved_only_from_its_own_customer<G: PaymentGateway>(g: &G) {
    let (a, b) = (vault_customer(g).await, vault_customer(g).await);
    let tok = token(g, "4242424242424242").await;
    let card = g
        .attach_source(&auth(), &a, &tok, &key("attach"))
        .await
        .unwrap();
    let e = g.retrieve_source(&auth(), &b, &card.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    let e = g
        .retrieve_source(&auth(), &a, "card_contractnone")
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    let e = g
        .retrieve_source(&auth(), "cus_contractnone", &card.id)
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    // Detaching it from the other customer: not there either, and it stays on its own.
    let e = g.detach_source(&auth(), &b, &card.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    assert_eq!(g.list_cards(&auth(), &a).await.unwrap().len(), 1);
}

async fn a_detached_card_is_gone<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let tok = token(g, "4242424242424242").await;
    let card = g
        .attach_source(&auth(), &cus, &tok, &key("attach"))
        .await
        .unwrap();
    g.detach_source(&auth(), &cus, &card.id).await.unwrap();
    assert!(g.list_cards(&auth(), &cus).await.unwrap().is_empty());
    let e = g
        .retrieve_source(&auth(), &cus, &card.id)
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    // Detaching it again: resource_missing, which the vault takes as "already detached".
    let e = g.detach_source(&auth(), &cus, &card.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    assert!(g.customer_exists(&auth(), &cus).await.unwrap());
}

async fn a_deleted_customer_is_gone_and_deleting_it_again_is_fine<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    g.delete_customer(&auth(), &cus).await.unwrap();
    assert!(!g.customer_exists(&auth(), &cus).await.unwrap());
    g.delete_customer(&auth(), &cus).await.unwrap();
    g.delete_customer(&auth(), "cus_contractnone")
        .await
        .unwrap();
    let e = g.list_cards(&auth(), &cus).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    let tok = token(g, "4242424242424242").await;
    let e = g
        .attach_source(&auth(), &cus, &tok, &key("attach"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
}

async fn a_token_names_its_card_before_and_after_the_attach<G: PaymentGateway>(g: &G) {
    let tok = token(g, "4242424242424242").await;
    let before = g.token_card_id(&auth(), &tok).await.unwrap();
    assert!(before.starts_with("card_"), "{before}");
    let cus = vault_customer(g).await;
    let card = g
        .attach_source(&auth(), &cus, &tok, &key("attach"))
        .await
        .unwrap();
    assert_eq!(card.id, before);
    assert_eq!(g.token_card_id(&auth(), &tok).await.unwrap(), before);
    let e = g
        .token_card_id(&auth(), "tok_contractnone")
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
}

/// Stripe's fingerprint names the number: the same number has one, another number
/// another, even with the same last four digits.
async fn one_number_one_fingerprint<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let mut prints = Vec::new();
    for pan in [
        "4242424242424242",
        "4242424242424242",
        "4000056655665556",
        "4000000000095556",
    ] {
        let tok = token(g, pan).await;
        let card = g
            .attach_source(&auth(), &cus, &tok, &key("attach"))
            .await
            .unwrap();
        prints.push(card.fingerprint.expect("a fingerprint"));
    }
    assert_eq!(prints[0], prints[1]);
    assert_ne!(prints[0], prints[2]);
    assert_ne!(prints[2], prints[3], "same last4, another number");
}

async fn a_card_on_file_keeps_the_vault_card_and_has_no_cvc_check<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let number = number("4242424242424242");
    let vault_card = PaymentMethodId::try_from(9_000_123).unwrap();
    let on_file = CardOnFile {
        number: &number,
        expiry: EXPIRY,
        name: "Jane Roe",
        address_line1: Some("1 Main St"),
        address_line2: None,
        address_city: None,
        address_zip: Some("12345"),
        address_country: None,
        vault_card,
    };
    let card = g
        .add_card_on_file(&auth(), &cus, &on_file, &key("onfile"))
        .await
        .unwrap();
    assert_eq!(card.customer.as_deref(), Some(cus.as_str()));
    assert_eq!(card.last4.as_deref(), Some("4242"));
    assert_eq!(card.name.as_deref(), Some("Jane Roe"));
    assert_eq!(card.cvc_check, None);
    assert_eq!(
        card.metadata.get(CARD_METADATA_KEY).map(String::as_str),
        Some("9000123")
    );
    let listed = g.list_cards(&auth(), &cus).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]
            .metadata
            .get(CARD_METADATA_KEY)
            .map(String::as_str),
        Some("9000123")
    );
    let e = g
        .add_card_on_file(&auth(), "cus_contractnone", &on_file, &key("onfile"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
}

async fn list_cards_answers_every_card_of_the_customer<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let mut ids = Vec::new();
    for pan in ["4242424242424242", "5555555555554444", "4000056655665556"] {
        let tok = token(g, pan).await;
        ids.push(
            g.attach_source(&auth(), &cus, &tok, &key("attach"))
                .await
                .unwrap()
                .id,
        );
    }
    let mut listed: Vec<String> = g
        .list_cards(&auth(), &cus)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);
}

async fn collect_succeeds_or_declines_by_the_card<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let good = g
        .attach_source(
            &auth(),
            &cus,
            &token(g, "4242424242424242").await,
            &key("a"),
        )
        .await
        .unwrap();
    let pi = g
        .collect(&auth(), 1234, "usd", &cus, &good.id, &key("collect"))
        .await
        .unwrap();
    assert!(pi.id.starts_with("pi_"), "{pi:?}");
    assert_eq!(pi.status, "succeeded");
    // Attaches, then declines every charge.
    let bad = g
        .attach_source(
            &auth(),
            &cus,
            &token(g, "4000000000000341").await,
            &key("a"),
        )
        .await
        .unwrap();
    let e = g
        .collect(&auth(), 1234, "usd", &cus, &bad.id, &key("collect"))
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    assert!(matches!(&e, StripeError::Api { status: 402, .. }), "{e:?}");
    // The same card as a new customer's (the user API) declines its charges too.
    let tok = token(g, "4000000000000341").await;
    let created = g
        .create_customer_with_source(
            &auth(),
            &StripeToken::parse(&tok).unwrap(),
            &[],
            &key("cws"),
        )
        .await
        .unwrap();
    let e = g
        .collect(
            &auth(),
            1234,
            "usd",
            &created.id,
            &created.source.id,
            &key("collect"),
        )
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    // The same card added on file (re-homing) declines its charges too.
    let number = number("4000000000000341");
    let on_file = CardOnFile {
        number: &number,
        expiry: EXPIRY,
        name: "Jane Roe",
        address_line1: None,
        address_line2: None,
        address_city: None,
        address_zip: None,
        address_country: None,
        vault_card: PaymentMethodId::try_from(9_000_125).unwrap(),
    };
    let moved = g
        .add_card_on_file(&auth(), &cus, &on_file, &key("onfile"))
        .await
        .unwrap();
    let e = g
        .collect(&auth(), 1234, "usd", &cus, &moved.id, &key("collect"))
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
}

async fn a_cvc_sent_with_the_card_passes<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let ok = g
        .attach_source(
            &auth(),
            &cus,
            &token(g, "4242424242424242").await,
            &key("a"),
        )
        .await
        .unwrap();
    assert_eq!(ok.cvc_check.as_deref(), Some("pass"));
}

async fn an_unknown_token_is_resource_missing<G: PaymentGateway>(g: &G) {
    let none = StripeToken::parse("tok_contractnone").unwrap();
    let e = g
        .create_customer_with_source(&auth(), &none, &[], &key("cws"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    let cus = vault_customer(g).await;
    let e = g
        .attach_source(&auth(), &cus, none.reveal(), &key("attach"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
    assert!(g.list_cards(&auth(), &cus).await.unwrap().is_empty());
}

/// A card on file is checked as any card added to a customer is: the issuer's refusal is
/// a decline at the add, and nothing is added.
async fn a_declined_card_on_file_is_refused_and_not_added<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let number = number("4000000000000002");
    let on_file = CardOnFile {
        number: &number,
        expiry: EXPIRY,
        name: "Jane Roe",
        address_line1: None,
        address_line2: None,
        address_city: None,
        address_zip: None,
        address_country: None,
        vault_card: PaymentMethodId::try_from(9_000_124).unwrap(),
    };
    let e = g
        .add_card_on_file(&auth(), &cus, &on_file, &key("onfile"))
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    assert!(
        matches!(&e, StripeError::Api { status: 402, code: Some(c), .. } if c == "card_declined"),
        "{e:?}"
    );
    assert!(g.list_cards(&auth(), &cus).await.unwrap().is_empty());
}

/// One call makes the customer and attaches the card: a card the issuer refuses is a
/// decline of the call.
async fn a_declined_card_makes_no_customer_with_it<G: PaymentGateway>(g: &G) {
    let tok = token(g, "4000000000000002").await;
    let e = g
        .create_customer_with_source(
            &auth(),
            &StripeToken::parse(&tok).unwrap(),
            &[],
            &key("cws"),
        )
        .await
        .unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    assert!(
        matches!(&e, StripeError::Api { status: 402, code: Some(c), .. } if c == "card_declined"),
        "{e:?}"
    );
}

/// A card detached from its customer is gone at Stripe: a collection from it names no
/// payment method, and takes nothing.
async fn a_detached_card_collects_nothing<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let card = g
        .attach_source(
            &auth(),
            &cus,
            &token(g, "4242424242424242").await,
            &key("a"),
        )
        .await
        .unwrap();
    g.detach_source(&auth(), &cus, &card.id).await.unwrap();
    let e = g
        .collect(&auth(), 1234, "usd", &cus, &card.id, &key("collect"))
        .await
        .unwrap_err();
    assert!(missing(&e), "{e:?}");
}

// ---- PaymentMethods saved through SetupIntents ------------------------------------------

async fn payment_method<G: PaymentGateway>(g: &G, pan: &str) -> Card {
    let number = number(pan);
    let cvv = Cvv::parse("123", Some(number.brand())).unwrap();
    let card = CardDetails {
        number: &number,
        cvv: &cvv,
        expiry: EXPIRY,
        name: "Jane Roe",
        address_line1: Some("1 Main St"),
        address_line2: None,
        address_city: Some("Springfield"),
        address_zip: Some("12345"),
        address_country: Some("US"),
    };
    let pm = g
        .create_payment_method(&auth(), NewCard::Details(&card), &key("pm"))
        .await
        .unwrap();
    assert!(pm.id.starts_with("pm_"), "{}", pm.id);
    assert_eq!(pm.last4.as_deref(), Some(&pan[pan.len() - 4..]));
    assert_eq!(pm.customer, None, "made, not yet saved");
    pm
}

async fn setup<G: PaymentGateway>(g: &G, cus: &str, pm: &str) -> Result<SetupIntent, StripeError> {
    let meta = [("cardvault_tenant", "contract")];
    g.setup_off_session(&auth(), cus, pm, &meta, &key("setup"))
        .await
}

async fn a_card_saved_by_a_setup_intent_is_the_customers_payment_method<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let pm = payment_method(g, "4242424242424242").await;
    let si = setup(g, &cus, &pm.id).await.unwrap();
    assert_eq!(si.status, "succeeded");
    assert_eq!(si.payment_method.as_deref(), Some(pm.id.as_str()));
    let Source::Card(card) = g.retrieve_source(&auth(), &cus, &pm.id).await.unwrap() else {
        panic!("a card")
    };
    assert_eq!(card.last4.as_deref(), Some("4242"));
    g.set_default_source(&auth(), &cus, &pm.id).await.unwrap();
    g.detach_source(&auth(), &cus, &pm.id).await.unwrap();
    let e = g.retrieve_source(&auth(), &cus, &pm.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
    // Detached already: Stripe's refusal reads as "not there", as a source's 404 does.
    let e = g.detach_source(&auth(), &cus, &pm.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
}

async fn a_card_asking_for_3ds_waits_attached_to_no_one<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let pm = payment_method(g, "4000002500003155").await;
    let si = setup(g, &cus, &pm.id).await.unwrap();
    assert_eq!(si.status, "requires_action");
    assert!(si
        .client_secret
        .as_deref()
        .is_some_and(|c| c.starts_with(&format!("{}_secret_", si.id))));
    assert_eq!(si.next_action.as_ref().unwrap()["type"], "use_stripe_sdk");
    let e = g.retrieve_source(&auth(), &cus, &pm.id).await.unwrap_err();
    assert!(missing(&e), "not the customer's until authenticated: {e:?}");
    let read = g.retrieve_setup_intent(&auth(), &si.id).await.unwrap();
    assert_eq!(read.status, "requires_action");
    let canceled = g.cancel_setup_intent(&auth(), &si.id).await.unwrap();
    assert_eq!(canceled.status, "canceled");
}

async fn a_declined_card_is_refused_at_setup_and_not_attached<G: PaymentGateway>(g: &G) {
    let cus = vault_customer(g).await;
    let pm = payment_method(g, "4000000000000002").await;
    let e = setup(g, &cus, &pm.id).await.unwrap_err();
    assert!(e.card_declined().is_some(), "{e:?}");
    let e = g.retrieve_source(&auth(), &cus, &pm.id).await.unwrap_err();
    assert!(missing(&e), "{e:?}");
}

async fn a_token_becomes_a_payment_method<G: PaymentGateway>(g: &G) {
    let tok = token(g, "5555555555554444").await;
    let pm = g
        .create_payment_method(&auth(), NewCard::Token(&tok), &key("pm"))
        .await
        .unwrap();
    assert!(pm.id.starts_with("pm_"), "{}", pm.id);
    assert_eq!(pm.last4.as_deref(), Some("4444"));
    assert_eq!((pm.exp_month, pm.exp_year), (Some(8), Some(2031)));
}

async fn a_browser_payment_method_reads_back_with_its_customer<G: PaymentGateway>(g: &G) {
    let pm = payment_method(g, "4242424242424242").await;
    let read = g
        .create_payment_method(&auth(), NewCard::Made(&pm.id), &key("read"))
        .await
        .unwrap();
    assert_eq!(
        (read.id.as_str(), read.customer.as_deref()),
        (pm.id.as_str(), None)
    );
    let cus = vault_customer(g).await;
    setup(g, &cus, &pm.id).await.unwrap();
    let read = g
        .create_payment_method(&auth(), NewCard::Made(&pm.id), &key("read"))
        .await
        .unwrap();
    assert_eq!(read.customer.as_deref(), Some(cus.as_str()), "saved now");
    let e = g
        .create_payment_method(&auth(), NewCard::Made("pm_NoSuchOne"), &key("read"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}
