//! Stripe customers of the user API: cases make mutants found untested (kept apart from
//! `stripe_customers.rs`).

use super::*;
use crate::error::CARD_DECLINED;
use crate::memory::FailWith;

/// A token whose card Stripe declines: a 400 in the vault's words (Stripe's message can
/// say why: fraud, a lost card…), and nothing stored.
#[tokio::test]
async fn a_declined_card_is_a_bad_request_in_the_vaults_words() {
    for op in ["create_payment_method", "setup_off_session"] {
        let v = vault();
        let user = principal("u1").build();
        v.gateway.fail(op, FailWith::Api(402));
        let token = v.gateway.seed_token(stripe_card("4242"));

        let e = err(v.create_stripe_customer(&user, token).await);

        assert_eq!(bad_request(e), format!("Stripe: {CARD_DECLINED}"), "{op}");
        assert_eq!(v.store.link_count(), 0, "{op}");
        assert_eq!(
            v.gateway.live_customers(),
            0,
            "{op}: the customer is deleted again"
        );
    }
}
