use super::*;
use crate::domain::{
    AtStripe, CardBrand, Customer, CustomerId, Holder, PaymentMethod, PaymentMethodId, StripeRef,
    TenantId, Text,
};

/// A card as `/card/find` would see it.
struct Card {
    id: u64,
    nickname: Option<&'static str>,
    holder: Option<(&'static str, &'static str)>,
    last4: &'static str,
    month: u8,
    year: u16,
    failures: u32,
    error: Option<&'static str>,
    current: bool,
    account: Option<&'static str>,
    submitted: &'static str,
}

const BASE: Card = Card {
    id: 2_000_001,
    nickname: Some("Work Visa"),
    holder: None,
    last4: "4242",
    month: 8,
    year: 2030,
    failures: 0,
    error: None,
    current: true,
    account: Some("acct-1"),
    submitted: "2026-05-01T10:00:00Z",
};

fn view(c: &Card) -> CardView {
    let tenant = TenantId::try_from("t1".to_owned()).unwrap();
    let at = Timestamp::parse(c.submitted, &time::format_description::well_known::Rfc3339).unwrap();
    let text = |s: &str| Text::parse_optional("x", Some(s), 50).unwrap();
    let holder = match c.holder {
        Some((first, last)) => Holder {
            first_name: text(first),
            last_name: text(last),
            ..Default::default()
        },
        None => Holder::default(),
    };
    let id = PaymentMethodId::try_from(c.id).unwrap();
    let mut pm = PaymentMethod::at_stripe(AtStripe {
        id,
        at,
        customer_id: CustomerId::try_from(1_000_001).unwrap(),
        tenant_id: tenant.clone(),
        instrument: Instrument::Card {
            brand: CardBrand::Visa,
            first6: None,
            exp_month: c.month,
            exp_year: c.year,
        },
        last4: c.last4.into(),
        holder,
        stripe: StripeRef {
            customer_id: "cus_1".into(),
            source_id: "card_1".into(),
        },
        fingerprint: None,
    });
    pm.nickname = c.nickname.map(str::to_owned);
    pm.failures = c.failures;
    pm.last_error = c.error.map(str::to_owned);
    let customer = Customer {
        id: pm.customer_id,
        tenant_id: tenant,
        details: Default::default(),
        default_payment_method_id: c.current.then_some(id),
        external_ref: c.account.map(|a| format!("account:{a}")),
        stripe_customer_id: None,
        created_at: at,
        modified_at: at,
    };
    CardView::of(pm, &customer)
}

fn holds(q: &str, c: &Card) -> bool {
    let mut f = CardFilter::default();
    f.add_where(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    f.matches(&view(c))
}

fn assert_holds(c: &Card, cases: &[(&str, bool)]) {
    for (q, want) in cases {
        assert_eq!(holds(q, c), *want, "{q}");
    }
}

fn refused(q: &str) -> QueryError {
    let mut f = CardFilter::default();
    match f.add_where(q) {
        Ok(()) => panic!("{q}: accepted"),
        Err(e) => e,
    }
}

#[test]
fn onetable_comparisons_over_the_wire_fields() {
    let c = &BASE;
    assert_eq!(c.account, Some("acct-1"), "the view names its account");
    assert_holds(
        c,
        &[
            ("${number} = {4242}", true),
            ("${number} == {\"4242\"}", true),
            ("${number} <> {4242}", false),
            ("${number} != {1881}", true),
            ("${id} = {2000001}", true),
            ("${name} = {Work Visa}", true),
            ("${name} = {\"Work Visa\"}", true),
            ("${name} = {work visa}", false),
            ("${accountId} = {acct-1}", true),
            ("${current} = {true}", true),
            ("${current} = {false}", false),
            ("${current} <> {false}", true),
            ("${failures} = {0}", true),
            ("${failures} < {1}", true),
            ("${failures} >= {1}", false),
            ("${month} = {8}", true),
            ("${month} <= {08}", true),
            ("${year} > {2029}", true),
            ("${year} = {2030.0}", true),
            ("${error} = {null}", true),
            ("${error} <> {null}", false),
            ("${error} = {declined}", false),
            ("${error} <> {declined}", true),
            ("${error} < {z}", false),
            ("${submitted} >= {2026-05-01}", true),
            ("${submitted} < {2026-05-01T10:00:00.000001Z}", true),
            ("${submitted} > {2026-05-01T11:00:00+02:00}", true),
            ("${name} < {Xylophone}", true),
            ("${name} > {work}", false),
        ],
    );
}

#[test]
fn and_or_not_parentheses_and_functions() {
    let c = &Card {
        failures: 2,
        error: Some("Your card was declined."),
        current: false,
        ..BASE
    };
    assert_holds(
        c,
        &[
            ("${failures} > {1} and ${current} = {false}", true),
            ("${failures} > {5} or ${current} = {false}", true),
            ("${failures} > {5} OR ${current} = {true}", false),
            (
                "(${failures} > {5} or ${number} = {4242}) AND ${year} = {2030}",
                true,
            ),
            (
                "${failures} > {5} or ${number} = {4242} and ${year} = {1999}",
                false,
            ),
            ("not ${current} = {true}", true),
            ("NOT (${current} = {false} and ${failures} = {2})", false),
            ("not not ${current} = {false}", true),
            ("${failures} between {1} and {2}", true),
            ("${failures} BETWEEN {3} AND {9}", false),
            ("${number} in ({1881}, {4242})", true),
            ("${number} in ({1881})", false),
            ("begins_with(${error}, {Your card})", true),
            ("begins(${name}, {Work})", true),
            ("contains(${error}, {declined})", true),
            ("contains(${error}, {Declined})", false),
            ("not_contains(${error}, {declined})", false),
            ("not_contains(${name}, {declined})", true),
            ("attribute_exists(${error})", true),
            ("attribute_not_exists(${error})", false),
            ("attribute_exists(${accountId})", true),
            ("begins_with(${accountId}, {acct-})", true),
        ],
    );
    // An absent value: no ordering, no prefix, not there.
    let bare = &Card {
        account: None,
        nickname: None,
        ..BASE
    };
    assert_holds(
        bare,
        &[
            ("${accountId} = {null}", true),
            ("${accountId} > {a}", false),
            ("begins_with(${accountId}, {a})", false),
            ("contains(${name}, {a})", false),
            ("attribute_not_exists(${name})", true),
            ("${name} <> {x}", true),
        ],
    );
}

#[test]
fn quoted_values_are_json_strings() {
    let c = &Card {
        nickname: Some("The \"best\" card, {really}"),
        ..BASE
    };
    assert!(holds(r#"${name} = {"The \"best\" card, {really}"}"#, c));
    assert!(holds(r#"contains(${name}, { "{really}" })"#, c));
    // Unquoted, a value runs to the first '}', quotes and commas included.
    assert!(!holds("${name} = {The \"best\" card, {really}", c));
    let plain = &Card {
        nickname: Some("a \"b\", c"),
        ..BASE
    };
    assert!(holds("${name} = {a \"b\", c}", plain));
}

#[test]
fn the_name_is_the_nickname_or_the_holder() {
    let c = &Card {
        nickname: None,
        holder: Some(("Karen", "Wood")),
        ..BASE
    };
    assert!(holds("${name} = {Karen Wood}", c));
}

#[test]
fn anything_outside_the_grammar_is_refused_with_its_column() {
    for (q, column, what) in [
        ("x", 1, "an unknown word"),
        ("${nope} = {1}", 3, "an unknown field"),
        ("${name}", 8, "expected an operator"),
        ("${name} ~ {x}", 9, "an unexpected character"),
        ("${name} = ", 11, "expected a {value}"),
        ("${name} = x", 11, "expected a {value}"),
        ("${name} = {x", 11, "a {value} that is not closed"),
        ("${name = {x}", 1, "a ${field} that is not closed"),
        ("${name} = {x} and", 18, "expected ${field}"),
        (
            "${name} = {x} ${id} = {1}",
            15,
            "expected 'and', 'or' or the end",
        ),
        ("(${name} = {x}", 15, "expected ')'"),
        ("${failures} = {x}", 15, "this field takes a number"),
        ("${failures} = {\"5\"}", 15, "this field takes a number"),
        ("${failures} = {NaN}", 15, "this field takes a number"),
        (
            "${current} = {yes}",
            14,
            "this field takes {true} or {false}",
        ),
        ("${submitted} > {yesterday}", 16, "this field takes a date"),
        (
            "${failures} > {null}",
            13,
            "{null} compares with = or <> only",
        ),
        (
            "${failures} between {1} {2}",
            25,
            "expected 'and' in between",
        ),
        ("${number} in {1}", 14, "expected '(' after in"),
        (
            "${number} in ({1} {2})",
            19,
            "expected ')' after the values of in",
        ),
        (
            "contains(${failures}, {1})",
            10,
            "this function takes a text field",
        ),
        (
            "contains ${name}, {1}",
            10,
            "expected '(' after the function's name",
        ),
        ("size(${name}) > {1}", 1, "an unknown word"),
        (
            "${name} = @{name}",
            11,
            "substitutions (@{…}) are not supported",
        ),
        ("${name} = {\"x}", 11, "a quoted {value} that is not closed"),
        (
            "${name} = {\"x\" y}",
            15,
            "expected '}' after a quoted {value}",
        ),
        (
            "${name} = {\"\\q\"}",
            11,
            "a quoted {value} that is not a JSON string",
        ),
        ("", 1, "expected ${field}, a function, 'not' or '('"),
    ] {
        let e = refused(q);
        assert_eq!(e.column, column, "{q}: {e}");
        assert!(e.what.starts_with(what), "{q}: {e}");
    }
    // Limits on length and nesting.
    let long = format!("${{name}} = {{{}}}", "x".repeat(WHERE_MAX_CHARS));
    assert!(refused(&long).what.contains("longer than"));
    let deep = format!("{}${{id}} = {{1}}{}", "(".repeat(40), ")".repeat(40));
    assert!(refused(&deep).what.starts_with("nesting deeper"));
    let nots = format!("{}${{id}} = {{1}}", "not ".repeat(40));
    assert!(refused(&nots).what.starts_with("nesting deeper"));
    // No error quotes the query.
    let e = refused("${number} = {4242424242424242} and ${pan4242424242424242} = {1}");
    assert!(!e.to_string().contains("4242"), "{e}");
}

#[test]
fn filter_is_a_case_insensitive_search_of_name_and_number() {
    let c = view(&BASE);
    let keeps = |text: &str| {
        let mut f = CardFilter::default();
        f.set_text(text);
        f.matches(&c)
    };
    assert!(keeps("work"));
    assert!(keeps("VISA"));
    assert!(keeps("42"));
    assert!(keeps("  "), "blank is no filter");
    assert!(!keeps("1881"));
    assert!(!keeps("acct"), "not the account");
    let accented = view(&Card {
        nickname: Some("ÉCOLE"),
        ..BASE
    });
    let mut f = CardFilter::default();
    f.set_text("école");
    assert!(f.matches(&accented));
    // With a where, both must hold.
    f.set_text("work");
    f.add_where("${failures} = {0}").unwrap();
    assert!(f.matches(&c));
    f.add_where("${failures} = {1}").unwrap();
    assert!(!f.matches(&c));
}
