//! Reading many cards: a customer's by page number, a tenant's by signed cursors.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::*;
use crate::domain::PaymentMethodId;
use crate::vault::{CardPage, Page, PageFrom};

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

async fn find(
    v: &Vault<Memory>,
    tenant: &str,
    limit: usize,
    from: PageFrom,
) -> Result<CardPage, Error> {
    v.find_cards(&tid(tenant), limit, from, |_| true).await
}

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
    let (a, b) = (customer(&v, CONNECT).await, customer(&v, CONNECT).await);
    let mut made = cards(&v, &a, 2).await;
    made.extend(cards(&v, &b, 2).await);
    made.extend(cards(&v, &a, 1).await);
    let n: Vec<_> = made.iter().rev().copied().collect(); // newest first

    let first = ok(find(&v, CONNECT, 2, PageFrom::Start).await);
    assert_eq!(ids(&first.cards), n[0..2]);
    assert!(first.prev.is_none(), "nothing is newer than the first page");
    let next1 = first.next.expect("older cards exist");

    let second = ok(find(&v, CONNECT, 2, PageFrom::Next(next1.clone())).await);
    assert_eq!(ids(&second.cards), n[2..4]);
    let prev2 = second.prev.expect("the first page is newer");
    let next2 = second.next.expect("one more card");

    let third = ok(find(&v, CONNECT, 2, PageFrom::Next(next2.clone())).await);
    assert_eq!(ids(&third.cards), n[4..]);
    assert!(third.next.is_none(), "the oldest card is on this page");
    let prev3 = third.prev.expect("newer cards exist");

    // Back again: the same pages, and the same cursors.
    let back2 = ok(find(&v, CONNECT, 2, PageFrom::Prev(prev3)).await);
    assert_eq!(ids(&back2.cards), n[2..4]);
    assert_eq!(back2.next.as_deref(), Some(next2.as_str()));
    assert_eq!(back2.prev.as_deref(), Some(prev2.as_str()));
    let back1 = ok(find(&v, CONNECT, 2, PageFrom::Prev(prev2)).await);
    assert_eq!(ids(&back1.cards), n[0..2]);
    assert!(back1.prev.is_none());
    assert_eq!(back1.next.as_deref(), Some(next1.as_str()));

    // Each card carries its own customer's view of it.
    let owners: Vec<_> = first
        .cards
        .iter()
        .map(|c| c.payment_method.customer_id)
        .collect();
    assert_eq!(owners, [a.id, b.id]);
    assert!(second.cards.iter().any(|c| c.is_default));
}

#[tokio::test]
async fn find_cards_keeps_what_the_filter_holds_for_and_pages_as_before() {
    let v = vault();
    let (a, b) = (customer(&v, CONNECT).await, customer(&v, CONNECT).await);
    let mut made = cards(&v, &a, 2).await;
    made.extend(cards(&v, &b, 2).await);
    let n: Vec<_> = made.iter().rev().copied().collect(); // newest first: b, b, a, a
    let of_a = |c: &CardView| c.payment_method.customer_id == a.id;

    // The limit counts the cards read: the first page of two holds none of a's, and its
    // cursor still leads on to the next page, which holds both.
    let first = ok(v.find_cards(&tid(CONNECT), 2, PageFrom::Start, of_a).await);
    assert!(first.cards.is_empty());
    let next = first.next.expect("older cards exist");
    let second = ok(v
        .find_cards(&tid(CONNECT), 2, PageFrom::Next(next), of_a)
        .await);
    assert_eq!(ids(&second.cards), n[2..]);
    assert_eq!(
        v.store.take_calls(),
        ["tenant_payment_methods", "customers"].repeat(2)
    );
}

#[tokio::test]
async fn find_cards_makes_one_query_and_one_batch_read() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    cards(&v, &c, 3).await;
    let first = ok(find(&v, CONNECT, 2, PageFrom::Start).await);
    assert_eq!(
        v.store.take_calls(),
        ["tenant_payment_methods", "customers"]
    );
    ok(find(&v, CONNECT, 2, PageFrom::Next(first.next.unwrap())).await);
    assert_eq!(
        v.store.take_calls(),
        ["tenant_payment_methods", "customers"]
    );
}

#[tokio::test]
async fn a_tampered_cursor_is_bad_request() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    cards(&v, &c, 3).await;
    let next = ok(find(&v, CONNECT, 1, PageFrom::Start).await)
        .next
        .unwrap();
    let (body, mac) = next.split_once('.').unwrap();
    v.store.take_calls();

    // Another position under the old MAC.
    let mut cursor: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    assert_eq!(cursor["t"], CONNECT);
    cursor["k"] = "99999999999999999999#1".into();
    let moved = format!(
        "{}.{mac}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap())
    );
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
            let e = err(find(&v, CONNECT, 1, from).await);
            assert_eq!(
                bad_request(e),
                "The cursor is not valid; start again without one.",
                "{bad:?}"
            );
        }
    }
    assert!(v.store.take_calls().is_empty(), "refused before any read");
}

#[tokio::test]
async fn another_tenants_cursor_is_bad_request() {
    let v = vault();
    let own = customer(&v, OWN).await;
    cards(&v, &own, 3).await;
    let theirs = ok(find(&v, OWN, 1, PageFrom::Start).await);
    let next = theirs.next.unwrap();
    let prev = ok(find(&v, OWN, 1, PageFrom::Next(next.clone())).await)
        .prev
        .unwrap();
    v.store.take_calls();

    for from in [PageFrom::Next(next), PageFrom::Prev(prev)] {
        let e = err(find(&v, CONNECT, 1, from).await);
        assert_eq!(
            bad_request(e),
            "The cursor is not valid; start again without one."
        );
    }
    assert!(v.store.take_calls().is_empty(), "refused before any read");
}

#[tokio::test]
async fn a_cursor_works_in_its_own_direction_only() {
    let v = vault();
    let c = customer(&v, CONNECT).await;
    cards(&v, &c, 3).await;
    let next = ok(find(&v, CONNECT, 1, PageFrom::Start).await)
        .next
        .unwrap();
    let prev = ok(find(&v, CONNECT, 1, PageFrom::Next(next.clone())).await)
        .prev
        .unwrap();

    bad_request(err(find(&v, CONNECT, 1, PageFrom::Next(prev)).await));
    bad_request(err(find(&v, CONNECT, 1, PageFrom::Prev(next)).await));
}

#[tokio::test]
async fn other_tenants_cards_never_appear() {
    let v = vault();
    let mine = customer(&v, CONNECT).await;
    let theirs = customer(&v, OWN).await;
    cards(&v, &theirs, 2).await;
    let made = cards(&v, &mine, 3).await;
    cards(&v, &theirs, 2).await;

    let mut seen = Vec::new();
    let mut page = ok(find(&v, CONNECT, 2, PageFrom::Start).await);
    loop {
        seen.extend(ids(&page.cards));
        assert!(page
            .cards
            .iter()
            .all(|c| c.payment_method.tenant_id == tid(CONNECT)));
        match page.next.take() {
            Some(next) => page = ok(find(&v, CONNECT, 2, PageFrom::Next(next)).await),
            None => break,
        }
    }
    assert_eq!(seen, made.into_iter().rev().collect::<Vec<_>>());
}
