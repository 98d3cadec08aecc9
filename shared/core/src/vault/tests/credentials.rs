//! Which Stripe credentials a tenant's call uses, and what a UI may know of them.

use secrecy::ExposeSecret;

use super::*;
use crate::memory::STRIPE_PLATFORM_SECRET_ID;
use crate::ports::StripeAuth;

const NOT_CONNECT: &str =
    "This account is not connected through Stripe Connect; use POST /v1/paymentMethodImport/Stripe.";
const IS_CONNECT: &str =
    "This account uses Stripe Connect; use POST /v1/paymentMethodImport/stripeConnect.";
const NO_CONNECTION: &str = "This account has no Stripe connection configured.";

/// What a call would authenticate with: the key and the connected account.
type Creds = (String, Option<String>);

fn creds(auth: StripeAuth) -> Creds {
    (auth.key.expose_secret().to_owned(), auth.account)
}

#[tokio::test]
async fn each_route_and_connection_kind() {
    let v = vault();
    let platform = Ok((PLATFORM_KEY.to_owned(), Some(CONNECT_ACCOUNT.to_owned())));
    let own = Ok((OWN_KEY.to_owned(), None));
    let cases: [(Tenant, StripeRoute, Result<Creds, &str>); 9] = [
        (connect_tenant(), StripeRoute::Connect, platform.clone()),
        (connect_tenant(), StripeRoute::Any, platform.clone()),
        (connect_tenant(), StripeRoute::OwnKey, Err(IS_CONNECT)),
        (own_key_tenant(), StripeRoute::OwnKey, own.clone()),
        (own_key_tenant(), StripeRoute::Any, own.clone()),
        (own_key_tenant(), StripeRoute::Connect, Err(NOT_CONNECT)),
        (
            unconnected_tenant("bare"),
            StripeRoute::Connect,
            Err(NO_CONNECTION),
        ),
        (
            unconnected_tenant("bare"),
            StripeRoute::OwnKey,
            Err(NO_CONNECTION),
        ),
        (
            unconnected_tenant("bare"),
            StripeRoute::Any,
            Err(NO_CONNECTION),
        ),
    ];
    for (tenant, route, want) in cases {
        let got = v
            .stripe_auth(&tenant, route)
            .await
            .map(creds)
            .map_err(bad_request);
        let want = want.map_err(str::to_owned);
        assert_eq!(got, want, "{} on {route:?}", tenant.id);
    }
}

#[tokio::test]
async fn the_stripe_account_header_is_sent_for_connect_only() {
    let v = vault();
    let connect = ok(v.stripe_auth(&connect_tenant(), StripeRoute::Any).await);
    assert_eq!(connect.account.as_deref(), Some(CONNECT_ACCOUNT));
    let own = ok(v.stripe_auth(&own_key_tenant(), StripeRoute::Any).await);
    assert_eq!(own.account, None);
    assert!(
        !format!("{own:?}").contains(OWN_KEY),
        "the key is never printed"
    );
}

#[tokio::test]
async fn a_missing_or_empty_platform_key_is_internal() {
    for secret in [None, Some(""), Some("  ")] {
        let v = vault();
        match secret {
            Some(value) => v.secrets.set(STRIPE_PLATFORM_SECRET_ID, value),
            None => v.secrets.remove(STRIPE_PLATFORM_SECRET_ID),
        }
        assert_internal(err(v
            .stripe_auth(&connect_tenant(), StripeRoute::Connect)
            .await));
        // A tenant with its own key does not need it.
        ok(v.stripe_auth(&own_key_tenant(), StripeRoute::OwnKey).await);
    }
}

#[tokio::test]
async fn stripe_config_answers_no_key_that_is_not_publishable() {
    let v = vault();
    // Stored before set-stripe checked it, or written around the admin CLI.
    v.store.insert_tenant(Tenant {
        stripe_publishable_key: Some("sk_test_oops".into()),
        ..own_key_tenant()
    });
    let own = ok(v.stripe_config(&tid(OWN)).await);
    assert_eq!(own.publishable_key, None);
}

#[tokio::test]
async fn a_missing_own_key_secret_is_internal() {
    let v = memory::vault();
    assert_internal(err(v
        .stripe_auth(&own_key_tenant(), StripeRoute::OwnKey)
        .await));
}

#[tokio::test]
async fn stripe_config_never_hands_out_a_secret_key() {
    let v = vault();
    v.store.insert_tenant(unconnected_tenant("bare"));

    let connect = ok(v.stripe_config(&tid(CONNECT)).await);
    assert_eq!(
        connect.publishable_key.as_deref(),
        Some(PLATFORM_PUBLISHABLE_KEY)
    );
    assert_eq!(connect.account_id.as_deref(), Some(CONNECT_ACCOUNT));

    let own = ok(v.stripe_config(&tid(OWN)).await);
    assert_eq!(own.publishable_key.as_deref(), Some(OWN_PUBLISHABLE_KEY));
    assert_eq!(own.account_id, None);

    let bare = ok(v.stripe_config(&tid("bare")).await);
    assert_eq!(bare.publishable_key, None);
    assert_eq!(bare.account_id, None);
}
