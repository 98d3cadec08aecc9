//! Reading many cards: a customer's by page number, a billing account's by signed cursors.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::*;
use crate::domain::PaymentMethodId;
use crate::vault::{CardPage, Page, PageFrom, CURSOR_LIFETIME};

fn ids(views: &[CardView]) -> Vec<PaymentMethodId> {
    views.iter().map(|c| c.payment_method.id).collect()
}

/// Imports `n` cards for `customer`, oldest first.
async fn cards(v: &Vault<Memory>, customer: &Customer, n: usize) -> Vec<PaymentMethodId> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(imported(v, customer, "4242").await.payment_method.id);
    }
    out
}

/// Attaches `n` token cards to `account` of `tenant`, oldest first (logs cleared).
async fn account_cards(
    v: &Vault<Memory>,
    tenant: &str,
    account: &str,
    n: usize,
) -> Vec<PaymentMethodId> {
    let mut out = Vec::new();
    for _ in 0..n {
        let token = v.gateway.seed_token(stripe_card("4242"));
        let view = ok(v
            .attach_token_card(&tid(tenant), account, token_card(token, "4242", false))
            .await);
        out.push(view.payment_method.id);
    }
    v.store.take_calls();
    v.gateway.take_calls();
    out
}

async fn find(
    v: &Vault<Memory>,
    tenant: &str,
    account: &str,
    limit: usize,
    from: PageFrom,
) -> Result<CardPage, Error> {
    v.find_cards(&tid(tenant), account, limit, from, |_| true)
        .await
}

/// Every card `find` shows `account`, page after page of `limit`.
async fn find_all(v: &Vault<Memory>, tenant: &str, account: &str, limit: usize) -> Vec<CardView> {
    let mut seen = Vec::new();
    let mut page = ok(find(v, tenant, account, limit, PageFrom::Start).await);
    loop {
        seen.append(&mut page.cards);
        match page.next.take() {
            Some(next) => page = ok(find(v, tenant, account, limit, PageFrom::Next(next)).await),
            None => break,
        }
    }
    seen
}

const INVALID_CURSOR: &str = "The cursor is not valid; start again without one.";

#[tokio::test]
async fn list_cards_pages_by_number_newest_first_with_the_total() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    let made = cards(&v, &c, 5).await;
    // A bank account is not a card: not listed, not counted.
    let (cus, ba) = v.gateway.seed_customer_with_bank_account("6789");
    ok(v.import_card(
        &tid(CONNECT),
        StripeRoute::Any,
        import_request(c.id, &cus, &ba),
    )
    .await);
    let newest_first: Vec<_> = made.iter().rev().copied().collect();

    let page = |number| Page { number, size: 2 };
    let (p0, total) = ok(v.list_cards(&tid(CONNECT), c.id, page(0)).await);
    assert_eq!(total, 5);
    assert_eq!(ids(&p0), newest_first[0..2]);
    let (p1, _) = ok(v.list_cards(&tid(CONNECT), c.id, page(1)).await);
    assert_eq!(ids(&p1), newest_first[2..4]);
    let (p2, total) = ok(v.list_cards(&tid(CONNECT), c.id, page(2)).await);
    assert_eq!(ids(&p2), newest_first[4..]);
    assert_eq!(total, 5);
    let (p3, total) = ok(v.list_cards(&tid(CONNECT), c.id, page(3)).await);
    assert!(p3.is_empty());
    assert_eq!(total, 5);

    // The default is marked on the one card that holds it.
    let (all, _) = ok(v.list_cards(&tid(CONNECT), c.id, Page::default()).await);
    let defaults: Vec<_> = all
        .iter()
        .filter(|c| c.is_default)
        .map(|c| c.payment_method.id)
        .collect();
    assert_eq!(defaults, [made[0]]);

    v.store.take_calls();
    ok(v.list_cards(&tid(CONNECT), c.id, Page::default()).await);
    assert_eq!(v.store.take_calls(), ["customer_with_payment_methods"]);
}

#[tokio::test]
async fn list_cards_of_a_foreign_or_unknown_customer_is_not_found() {
    let v = vault();
    let foreign = customer(&v, OWN).await;
    cards(&v, &foreign, 1).await;

    let e = err(v
        .list_cards(&tid(CONNECT), foreign.id, Page::default())
        .await);
    assert_eq!(
        not_found(e),
        format!("Customer with id {} not found.", foreign.id)
    );
    let e = err(v
        .list_cards(
            &tid(CONNECT),
            CustomerId::try_from(9).unwrap(),
            Page::default(),
        )
        .await);
    assert_eq!(not_found(e), "Customer with id 9 not found.");
}

#[tokio::test]
async fn find_cards_pages_newest_first_and_the_cursors_round_trip() {
    let v = vault();
    let mut made = account_cards(&v, CONNECT, "a1", 2).await;
    // Another account's cards, made in between, are not on a1's pages.
    account_cards(&v, CONNECT, "a2", 2).await;
    made.extend(account_cards(&v, CONNECT, "a1", 3).await);
    let n: Vec<_> = made.iter().rev().copied().collect(); // newest first

    let first = ok(find(&v, CONNECT, "a1", 2, PageFrom::Start).await);
    assert_eq!(ids(&first.cards), n[0..2]);
    assert!(first.prev.is_none(), "nothing is newer than the first page");
    let next1 = first.next.expect("older cards exist");

    let second = ok(find(&v, CONNECT, "a1", 2, PageFrom::Next(next1.clone())).await);
    assert_eq!(ids(&second.cards), n[2..4]);
    let prev2 = second.prev.expect("the first page is newer");
    let next2 = second.next.expect("one more card");

    let third = ok(find(&v, CONNECT, "a1", 2, PageFrom::Next(next2.clone())).await);
    assert_eq!(ids(&third.cards), n[4..]);
    assert!(third.next.is_none(), "the oldest card is on this page");
    let prev3 = third.prev.expect("newer cards exist");

    // Back again: the same pages, and the same cursors.
    let back2 = ok(find(&v, CONNECT, "a1", 2, PageFrom::Prev(prev3)).await);
    assert_eq!(ids(&back2.cards), n[2..4]);
    assert_eq!(back2.next.as_deref(), Some(next2.as_str()));
    assert_eq!(back2.prev.as_deref(), Some(prev2.as_str()));
    let back1 = ok(find(&v, CONNECT, "a1", 2, PageFrom::Prev(prev2)).await);
    assert_eq!(ids(&back1.cards), n[0..2]);
    assert!(back1.prev.is_none());
    assert_eq!(back1.next.as_deref(), Some(next1.as_str()));

    // Every card is the account's, and the current one (the first attached) is marked.
    let all = [first.cards, second.cards, third.cards].concat();
    assert!(all.iter().all(|c| c.account.as_deref() == Some("a1")));
    let current: Vec<_> = all
        .into_iter()
        .filter(|c| c.is_default)
        .map(|c| c.payment_method.id)
        .collect();
    assert_eq!(current, [made[0]]);
}

#[tokio::test]
async fn find_cards_keeps_what_the_filter_holds_for_before_cutting_the_page() {
    let v = vault();
    let made = account_cards(&v, CONNECT, "a1", 5).await;
    let n: Vec<_> = made.iter().rev().copied().collect(); // newest first
                                                          // Every other card, newest first: n[0], n[2], n[4].
    let kept = [n[0], n[2], n[4]];
    let keep = |c: &CardView| kept.contains(&c.payment_method.id);
    let first = ok(v
        .find_cards(&tid(CONNECT), "a1", 2, PageFrom::Start, keep)
        .await);
    assert_eq!(ids(&first.cards), kept[..2], "a full page of kept cards");
    let next = first.next.expect("one more kept card");
    let second = ok(v
        .find_cards(&tid(CONNECT), "a1", 2, PageFrom::Next(next), keep)
        .await);
    assert_eq!(ids(&second.cards), kept[2..]);
    assert!(second.next.is_none(), "nothing kept is older");
    let prev = second.prev.expect("the first page");
    let back = ok(v
        .find_cards(&tid(CONNECT), "a1", 2, PageFrom::Prev(prev), keep)
        .await);
    assert_eq!(ids(&back.cards), kept[..2]);
    // Nothing kept: an empty page without cursors.
    let none = ok(v
        .find_cards(&tid(CONNECT), "a1", 2, PageFrom::Start, |_| false)
        .await);
    assert!(none.cards.is_empty() && none.next.is_none() && none.prev.is_none());
}

#[tokio::test]
async fn a_page_exactly_as_long_as_the_account_has_no_next() {
    let v = vault();
    let made = account_cards(&v, CONNECT, "a1", 2).await;
    let page = ok(find(&v, CONNECT, "a1", 2, PageFrom::Start).await);
    assert_eq!(ids(&page.cards), made.into_iter().rev().collect::<Vec<_>>());
    assert!(page.next.is_none() && page.prev.is_none());
}

#[tokio::test]
async fn an_accounts_customer_gone_behind_its_reference_has_an_empty_page() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 2).await;
    let customer = v
        .customer_for_ref(&tid(CONNECT), &crate::domain::account_ref("a1"))
        .await
        .unwrap();
    v.store.remove_customer(customer.id);
    v.store.take_calls();
    let page = ok(find(&v, CONNECT, "a1", 20, PageFrom::Start).await);
    assert!(page.cards.is_empty() && page.next.is_none() && page.prev.is_none());
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_id_by_external_ref",
            "customer_with_payment_methods"
        ]
    );
}

#[tokio::test]
async fn find_cards_reads_the_accounts_customer_then_its_partition() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    let first = ok(find(&v, CONNECT, "a1", 2, PageFrom::Start).await);
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_id_by_external_ref",
            "customer_with_payment_methods"
        ]
    );
    ok(find(&v, CONNECT, "a1", 2, PageFrom::Next(first.next.unwrap())).await);
    assert_eq!(
        v.store.take_calls(),
        [
            "customer_id_by_external_ref",
            "customer_with_payment_methods"
        ]
    );
}

#[tokio::test]
async fn find_lists_only_the_callers_account() {
    let v = vault();
    // Around a1's cards: another account's, a merchant customer's, a user API user's, and
    // the same account name's in the other tenant.
    account_cards(&v, CONNECT, "a2", 2).await;
    let mut made = account_cards(&v, CONNECT, "a1", 2).await;
    let merchant = customer(&v, CONNECT).await;
    imported(&v, &merchant, "4444").await;
    ok(v.create_stripe_customer(
        &principal("u1").build(),
        v.gateway.seed_token(stripe_card("1881")),
    )
    .await);
    account_cards(&v, OWN, "a1", 2).await;
    made.extend(account_cards(&v, CONNECT, "a1", 1).await);
    account_cards(&v, CONNECT, "a10", 1).await;
    v.store.take_calls();

    let seen = find_all(&v, CONNECT, "a1", 2).await;
    assert_eq!(ids(&seen), made.into_iter().rev().collect::<Vec<_>>());
    assert!(seen
        .iter()
        .all(|c| c.account.as_deref() == Some("a1") && c.payment_method.tenant_id == tid(CONNECT)));
    // The tenant holds 2 + 3 + 1 + 1 + 1 cards in all; a1 sees its 3.
    let in_tenant = v
        .store
        .payment_methods()
        .into_iter()
        .filter(|pm| pm.tenant_id == tid(CONNECT))
        .count();
    assert_eq!(in_tenant, 8);

    // Each account sees its own.
    assert_eq!(find_all(&v, CONNECT, "a2", 10).await.len(), 2);
    assert_eq!(find_all(&v, OWN, "a1", 10).await.len(), 2);
    assert!(find_all(&v, OWN, "a2", 10).await.is_empty());
}

#[tokio::test]
async fn a_bank_account_on_the_accounts_customer_is_not_listed() {
    let v = vault();
    let made = account_cards(&v, CONNECT, "a1", 1).await;
    let c = ok(v
        .customer_for_ref(&tid(CONNECT), &crate::domain::account_ref("a1"))
        .await);
    let (cus, ba) = v.gateway.seed_customer_with_bank_account("6789");
    ok(v.import_card(
        &tid(CONNECT),
        StripeRoute::Any,
        import_request(c.id, &cus, &ba),
    )
    .await);
    assert_eq!(stored_of(&v, c.id).len(), 2);

    let page = ok(find(&v, CONNECT, "a1", 1, PageFrom::Start).await);
    assert_eq!(ids(&page.cards), made);
    assert!(page.next.is_none(), "the bank account is no older card");
}

#[tokio::test]
async fn an_account_without_a_customer_has_an_empty_page_and_gets_no_customer() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 2).await;
    let customers = v.store.customer_count();

    let page = ok(find(&v, CONNECT, "new-account", 20, PageFrom::Start).await);
    assert!(page.cards.is_empty());
    assert!(page.next.is_none() && page.prev.is_none());
    assert_eq!(v.store.take_calls(), ["customer_id_by_external_ref"]);
    assert_eq!(v.store.customer_count(), customers, "find made no customer");
    // Nor at Stripe.
    assert!(v.gateway.take_calls().is_empty());

    // Another tenant's account of that name has cards; this one still has none.
    account_cards(&v, OWN, "new-account", 1).await;
    let page = ok(find(&v, CONNECT, "new-account", 20, PageFrom::Start).await);
    assert!(page.cards.is_empty());
}

#[tokio::test]
async fn an_account_whose_cards_were_all_removed_has_an_empty_page() {
    let v = vault();
    let [only] = account_cards(&v, CONNECT, "a1", 1).await[..] else {
        unreachable!()
    };
    ok(v.remove_account_card(&tid(CONNECT), "a1", only).await);
    let page = ok(find(&v, CONNECT, "a1", 20, PageFrom::Start).await);
    assert!(page.cards.is_empty());
    assert!(page.next.is_none() && page.prev.is_none());
}

#[tokio::test]
async fn a_tampered_cursor_is_bad_request() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    account_cards(&v, CONNECT, "a2", 3).await;
    let next = ok(find(&v, CONNECT, "a1", 1, PageFrom::Start).await)
        .next
        .unwrap();
    let (body, mac) = next.split_once('.').unwrap();
    v.store.take_calls();

    let cursor: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    assert_eq!(cursor["t"], CONNECT);
    assert_eq!(cursor["a"], "a1");
    // The cursor changed under the old MAC.
    let resigned = |field: &str, value: serde_json::Value| {
        let mut c = cursor.clone();
        c[field] = value;
        format!(
            "{}.{mac}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
        )
    };
    let moved = resigned("k", "99999999999999999999#1".into());
    let other_account = resigned("a", "a2".into());
    // The MAC's last digit changed.
    let last = mac.chars().last().unwrap();
    let flipped = format!(
        "{body}.{}{}",
        &mac[..mac.len() - 1],
        if last == '0' { '1' } else { '0' }
    );

    for bad in [
        moved,
        flipped,
        format!("{body}."),
        body.to_owned(),
        format!("!!!.{mac}"),
        String::new(),
    ] {
        for from in [PageFrom::Next(bad.clone()), PageFrom::Prev(bad.clone())] {
            let e = err(find(&v, CONNECT, "a1", 1, from).await);
            assert_eq!(bad_request(e), INVALID_CURSOR, "{bad:?}");
        }
    }
    // Pointed at another account under the old MAC: refused to both accounts.
    for account in ["a1", "a2"] {
        let e = err(find(
            &v,
            CONNECT,
            account,
            1,
            PageFrom::Next(other_account.clone()),
        )
        .await);
        assert_eq!(bad_request(e), INVALID_CURSOR, "{account}");
    }
    assert!(v.store.take_calls().is_empty(), "refused before any read");
}

#[tokio::test]
async fn another_tenants_cursor_is_bad_request() {
    let v = vault();
    account_cards(&v, OWN, "a1", 3).await;
    account_cards(&v, CONNECT, "a1", 3).await;
    let theirs = ok(find(&v, OWN, "a1", 1, PageFrom::Start).await);
    let next = theirs.next.unwrap();
    let prev = ok(find(&v, OWN, "a1", 1, PageFrom::Next(next.clone())).await)
        .prev
        .unwrap();
    v.store.take_calls();

    // The same account name in another tenant is another account.
    for from in [PageFrom::Next(next), PageFrom::Prev(prev)] {
        let e = err(find(&v, CONNECT, "a1", 1, from).await);
        assert_eq!(bad_request(e), INVALID_CURSOR);
    }
    assert!(v.store.take_calls().is_empty(), "refused before any read");
}

#[tokio::test]
async fn another_accounts_cursor_is_bad_request() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    account_cards(&v, CONNECT, "a2", 3).await;
    let theirs = ok(find(&v, CONNECT, "a2", 1, PageFrom::Start).await);
    let next = theirs.next.unwrap();
    let prev = ok(find(&v, CONNECT, "a2", 1, PageFrom::Next(next.clone())).await)
        .prev
        .unwrap();
    v.store.take_calls();

    // Another account of the same tenant, and one that has no customer at all.
    for account in ["a1", "a3"] {
        for from in [PageFrom::Next(next.clone()), PageFrom::Prev(prev.clone())] {
            let e = err(find(&v, CONNECT, account, 1, from).await);
            assert_eq!(bad_request(e), INVALID_CURSOR, "{account}");
        }
    }
    assert!(v.store.take_calls().is_empty(), "refused before any read");
    // Still good for its own account.
    ok(find(&v, CONNECT, "a2", 1, PageFrom::Next(next)).await);
}

#[tokio::test]
async fn a_cursor_works_in_its_own_direction_only() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    let next = ok(find(&v, CONNECT, "a1", 1, PageFrom::Start).await)
        .next
        .unwrap();
    let prev = ok(find(&v, CONNECT, "a1", 1, PageFrom::Next(next.clone())).await)
        .prev
        .unwrap();

    bad_request(err(find(&v, CONNECT, "a1", 1, PageFrom::Next(prev)).await));
    bad_request(err(find(&v, CONNECT, "a1", 1, PageFrom::Prev(next)).await));
}

const EXPIRED_CURSOR: &str = "The cursor has expired; start again without one.";

/// Issue 26, item 9: a cursor is good for `CURSOR_LIFETIME` (15 minutes) from when its page
/// was served, then refused as expired (400) before any read: a cursor copied out of a
/// log or a browser's history does not page an account's cards forever. A cursor without
/// an issued-at (signed before cursors had one) is refused too.
#[tokio::test]
async fn a_cursor_expires_fifteen_minutes_after_its_page() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    let page = ok(find(&v, CONNECT, "a1", 1, PageFrom::Start).await);
    let next = page.next.unwrap();
    let (body, _) = next.split_once('.').unwrap();
    let cursor: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    assert_eq!(
        cursor["i"].as_i64(),
        Some(crate::ports::Clock::now(&v.clock).unix_timestamp())
    );

    v.clock.advance(CURSOR_LIFETIME.as_secs());
    let older = ok(find(&v, CONNECT, "a1", 1, PageFrom::Next(next.clone())).await);
    // Its own cursors are new: good for another 15 minutes.
    let prev = older.prev.unwrap();
    v.clock.advance(1);
    v.store.take_calls();
    let e = err(find(&v, CONNECT, "a1", 1, PageFrom::Next(next)).await);
    assert_eq!(bad_request(e), EXPIRED_CURSOR);
    assert!(v.store.take_calls().is_empty(), "refused before any read");
    ok(find(&v, CONNECT, "a1", 1, PageFrom::Prev(prev.clone())).await);
    v.clock.advance(CURSOR_LIFETIME.as_secs());
    let e = err(find(&v, CONNECT, "a1", 1, PageFrom::Prev(prev)).await);
    assert_eq!(bad_request(e), EXPIRED_CURSOR);
}

/// A cursor signed without an issued-at (as before cursors expired) never pages again.
#[tokio::test]
async fn a_cursor_without_an_issued_at_is_refused() {
    let v = vault();
    account_cards(&v, CONNECT, "a1", 3).await;
    let next = ok(find(&v, CONNECT, "a1", 1, PageFrom::Start).await)
        .next
        .unwrap();
    let (body, _) = next.split_once('.').unwrap();
    let mut cursor: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    cursor.as_object_mut().unwrap().remove("i");
    let body = serde_json::to_vec(&cursor).unwrap();
    let mac = crate::ports::KeyService::sign(&v.keys, "card-find-cursor", &body)
        .await
        .unwrap();
    let old = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(&body));
    let e = err(find(&v, CONNECT, "a1", 1, PageFrom::Next(old)).await);
    assert_eq!(bad_request(e), INVALID_CURSOR);
}
