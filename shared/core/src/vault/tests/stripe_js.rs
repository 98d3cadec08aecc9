//! The redirect of a tenant whose page makes the PaymentMethod with Stripe.js: the vault
//! takes its `pm_…` id, never a card number.

use super::*;
use crate::domain::StripeJsEntry;
use crate::vault::Added;

fn visa() -> FakeCard {
    FakeCard {
        brand: "visa",
        last4: "4242",
        exp_month: 8,
        exp_year: 2031,
        name: Some("Karen Wood"),
        declines_charges: false,
    }
}

fn entry(pm: &str) -> StripeJsEntry {
    StripeJsEntry {
        payment_method: pm.to_owned(),
        holder: Default::default(),
        make_default: false,
        collect_minor: None,
        email: None,
    }
}

async fn add(v: &Vault<Memory>, c: &Customer, pm: &str) -> Result<Added, Error> {
    v.add_stripe_js_from_redirect(&connect_tenant(), c.id, entry(pm), None)
        .await
}

#[tokio::test]
async fn a_browser_payment_method_is_saved_and_no_pan_is_kept() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let pm = v.gateway.seed_payment_method(visa(), false);

    let added = ok(add(&v, &c, &pm).await);
    assert!(added.created);
    assert!(added.view.is_default, "the customer's first card");
    let stored = &added.view.payment_method;
    assert!(!stored.stored_in_vault, "the vault never saw the number");
    assert!(stored.encrypted_pan.is_none());
    assert_eq!(stored.last4, "4242");
    assert_eq!(
        stored.holder.first_name.as_ref().map(|t| t.as_str()),
        Some("Karen"),
        "the holder Stripe.js gave Stripe, when the form sent none"
    );
    assert_eq!(
        stored.stripe.as_ref().map(|s| s.source_id.as_str()),
        Some(pm.as_str())
    );
    let calls = v.gateway.take_calls();
    assert!(
        calls.iter().any(|c| c.starts_with("setup_off_session")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn an_unknown_or_already_saved_payment_method_is_a_field_error_and_nothing_is_stored() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let pm = v.gateway.seed_payment_method(visa(), false);
    ok(add(&v, &c, &pm).await);
    let other = customer(&v, CONNECT).await;

    for (who, id) in [(&other, pm.as_str()), (&other, "pm_nosuch")] {
        let e = err(add(&v, who, id).await);
        let Error::Invalid(fields) = e else {
            panic!("expected a field error, got {e:?}")
        };
        assert_eq!(fields[0].field, "paymentMethodId", "{fields:?}");
        assert!(stored_of(&v, other.id).is_empty());
    }
}

#[tokio::test]
async fn a_browser_payment_method_that_needs_3ds_is_pending() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let pm = v.gateway.seed_payment_method(visa(), true);

    let e = err(add(&v, &c, &pm).await);
    let Error::ActionRequired(a) = e else {
        panic!("expected ActionRequired, got {e:?}")
    };
    assert_eq!(a.kind, "setup_intent");
    let [stored] = stored_of(&v, c.id).try_into().expect("one card, pending");
    assert!(!stored.is_on_file());
}
