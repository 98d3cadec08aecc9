use serde_json::json;

use super::*;
use crate::dialect::fusebill::{BillingSettingRequest, CustomerRequest, ImportRequestJson};

const PAN: &str = "4242424242424242";

fn ok(text: &str) -> Value {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> SyntaxError {
    match parse(text.as_bytes()) {
        Ok(v) => panic!("{text}: parsed as {v}"),
        Err(e) => e,
    }
}

/// What an import body reads as: (customerId, stripeCustomerId, stripeCardId).
fn import(text: &str) -> (Option<u64>, Option<String>, Option<String>) {
    let r: ImportRequestJson = body(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    (r.customer_id, r.stripe_customer_id, r.stripe_card_id)
}

fn import_error(text: &str) -> Error {
    match body::<ImportRequestJson>(text.as_bytes()) {
        Ok(r) => panic!("{text}: read as {:?}", r.customer_id),
        Err(e) => e,
    }
}

fn ids(customer: u64) -> (Option<u64>, Option<String>, Option<String>) {
    (
        Some(customer),
        Some("cus_AExsNjBZDLMNDK".into()),
        Some("card_19uTyBAXix6Ggd0efp4HNNp7".into()),
    )
}

#[test]
fn the_import_documents_samples_read_as_json_net_reads_them() {
    // curl: `-d "{customerId:1,stripeCustomerId:{id},stripeCardId:{id}}"`, ids filled in.
    assert_eq!(
        import("{customerId:1,stripeCustomerId:cus_AExsNjBZDLMNDK,stripeCardId:card_19uTyBAXix6Ggd0efp4HNNp7}"),
        ids(1)
    );
    // C#: `"{'customerId':{id},'stripeCustomerId':{id},'stripeCardId':{id}}"`, ids filled
    // in quoted and bare.
    assert_eq!(
        import("{'customerId':1,'stripeCustomerId':'cus_AExsNjBZDLMNDK','stripeCardId':'card_19uTyBAXix6Ggd0efp4HNNp7'}"),
        ids(1)
    );
    assert_eq!(
        import("{'customerId':1,'stripeCustomerId':cus_AExsNjBZDLMNDK,'stripeCardId':card_19uTyBAXix6Ggd0efp4HNNp7}"),
        ids(1)
    );
    // Python's json.dumps and the document's own body are JSON already.
    assert_eq!(
        import(
            r#"{"customerId": 2526546, "stripeCustomerId": "cus_AExsNjBZDLMNDK", "stripeCardId": "card_19uTyBAXix6Ggd0efp4HNNp7"}"#
        ),
        ids(2526546)
    );
    // The samples with their placeholders left in are not JSON for Json.NET either.
    let e = import_error("{customerId:1,stripeCustomerId:{id},stripeCardId:{id}}");
    assert!(
        matches!(&e, Error::BadRequest(m) if m == "The request body is not valid JSON: expected ':' after a property name at line 1 column 35."),
        "{e:?}"
    );
}

#[test]
fn strict_json_reads_exactly_as_serde_json_reads_it() {
    for text in [
        r#"{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9\ud83d\ude00"},"f":-1.5e3}"#,
        r#"{"a":"\"\\\/\b\f\n\r\t"}"#,
        r#"{"big":18446744073709551615,"neg":-9223372036854775808,"f":0.1}"#,
    ] {
        let strict: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ok(text), strict, "{text}");
        assert_eq!(
            object(text.as_bytes()).unwrap(),
            *strict.as_object().unwrap()
        );
    }
}

#[test]
fn names_and_strings_unquoted_or_single_quoted() {
    assert_eq!(
        ok("{a:1, 'b':'x', \"c\":\"y\", $d_1:z}"),
        json!({"a": 1, "b": "x", "c": "y", "$d_1": "z"})
    );
    // Inside single quotes a double quote needs no escape, and \' is one.
    assert_eq!(
        ok(r#"{'a':'say "hi"', 'b':'it\'s'}"#),
        json!({"a": "say \"hi\"", "b": "it's"})
    );
    assert_eq!(ok(r#"{"a":"it's"}"#), json!({"a": "it's"}));
    // Bare words: keywords, numbers, else strings.
    assert_eq!(
        ok("[true,false,null,undefined,5,-5,1.5e3,01,0x1F,NaN,tok_visa,a.b-c+d]"),
        json!([true, false, null, null, 5, -5, 1500.0, "01", "0x1F", "NaN", "tok_visa", "a.b-c+d"])
    );
    // Keywords are case-sensitive, as in Json.NET.
    assert_eq!(ok("[True, NULL]"), json!(["True", "NULL"]));
}

#[test]
fn comments_and_trailing_commas() {
    let text =
        "// a body\n{ /* the customer */ customerId: 1, // one\n 'list': [1, 2, ], }\n/* end */";
    assert_eq!(ok(text), json!({"customerId": 1, "list": [1, 2]}));
    assert_eq!(ok("{}"), json!({}));
    assert_eq!(ok("[]"), json!([]));
    assert_eq!(ok("{a:1,}"), json!({"a": 1}));
    for bad in ["{,}", "[,]", "{a:1,,}", "[1,,2]", "{a:1 b:2}", "[1 2]"] {
        err(bad);
    }
}

#[test]
fn errors_give_a_line_and_column() {
    assert_eq!(
        err("{\n  a: 1,\n  b 2\n}"),
        SyntaxError {
            what: "expected ':' after a property name",
            line: 3,
            column: 5
        }
    );
    for (text, what) in [
        ("", "expected a value"),
        ("{a:", "expected a value"),
        ("{a:1", "an object that is not closed"),
        ("[1", "an array that is not closed"),
        ("{a:'x", "a string that is not closed"),
        ("{a:1} x", "more text after the value"),
        ("{a:1} /* x", "a comment that is not closed"),
        ("{a:1}/", "a '/' that starts no comment"),
        (r#"{"a":"\x"}"#, "an unknown escape sequence"),
        (r#"{"a":"\u12"}"#, "a \\u escape without four hex digits"),
        ("{:1}", "expected a property name"),
        ("{a:#}", "expected a value"),
    ] {
        assert_eq!(err(text).what, what, "{text}");
    }
    // Columns count characters, not bytes.
    assert_eq!(err("{\"é\":1 x}").column, 8);
}

#[test]
fn odd_unicode() {
    // Escapes and pairs; a lone surrogate is no character.
    assert_eq!(ok(r#"{'a':'\u00e9\ud83d\ude00'}"#), json!({"a": "é😀"}));
    for lone in [
        r#"{'a':'\ud83d'}"#,
        r#"{'a':'\ude00'}"#,
        r#"{'a':'\ud83d\u0041'}"#,
    ] {
        assert_eq!(err(lone).what, "a lone surrogate in a \\u escape", "{lone}");
    }
    // Unicode white space between tokens, as .NET's IsWhiteSpace; a zero-width space is
    // not white space.
    assert_eq!(ok("{\u{a0}a\u{2003}:\u{2028}1\u{3000}}"), json!({"a": 1}));
    assert_eq!(err("{a:\u{200b}1}").what, "expected a value");
    // A byte-order mark, as a .NET StreamReader skips it.
    assert_eq!(ok("\u{feff}{a:1}"), json!({"a": 1}));
    // Letters of any script in unquoted names and values.
    assert_eq!(
        ok("{ñame:Zoë, 名前:値}"),
        json!({"ñame": "Zoë", "名前": "値"})
    );
    // Bidi overrides and control characters inside strings are kept: the fields' own
    // rules (domain::Text) refuse them, naming the field.
    assert_eq!(
        ok("{'a':'x\u{202e}y\u{1}'}"),
        json!({"a": "x\u{202e}y\u{1}"})
    );
    // Bytes that are not UTF-8.
    let e = parse(b"{a:'\xff'}").unwrap_err();
    assert_eq!((e.what, e.line, e.column), ("text that is not UTF-8", 1, 5));
}

#[test]
fn nesting_is_limited_to_json_net_s_64_levels() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    ok(&nested(MAX_DEPTH));
    assert_eq!(
        err(&nested(MAX_DEPTH + 1)).what,
        "nesting deeper than 64 levels"
    );
    let objects = |n: usize| format!("{}1{}", "{a:".repeat(n), "}".repeat(n));
    ok(&objects(MAX_DEPTH));
    err(&objects(MAX_DEPTH + 1));
    // Far deeper input stops at the limit, long before the stack would.
    assert_eq!(
        err(&"[".repeat(16 * 1024)).what,
        "nesting deeper than 64 levels"
    );
}

#[test]
fn property_names_match_the_fields_in_any_case() {
    assert_eq!(
        import(
            r#"{"CustomerId":1,"STRIPECUSTOMERID":"cus_AExsNjBZDLMNDK","stripecardid":"card_19uTyBAXix6Ggd0efp4HNNp7"}"#
        ),
        ids(1)
    );
    // An exact spelling wins over another case, whatever the order.
    assert_eq!(import(r#"{"CUSTOMERID":2,"customerId":1}"#).0, Some(1));
    assert_eq!(import(r#"{"customerId":1,"CUSTOMERID":2}"#).0, Some(1));
    // A name given twice keeps its last value.
    assert_eq!(import("{customerId:1,customerId:2}").0, Some(2));
    // .NET's ordinal case-insensitivity: a dotless ı upper-cases to I; ß has no one-letter
    // upper case, and a Kelvin sign is not a K.
    assert!(same_ignoring_case("customerId", "CUSTOMERıD"));
    assert!(!same_ignoring_case("ss", "ß"));
    assert!(!same_ignoring_case("k", "\u{212a}"));
    // Other properties stay as they are.
    let m = match_fields(
        json!({"Other": 1, "customerid": 2})
            .as_object()
            .unwrap()
            .clone(),
        &["customerId"],
    );
    assert_eq!(Value::Object(m), json!({"Other": 1, "customerId": 2}));
}

#[test]
fn field_names_come_from_the_derive() {
    assert_eq!(
        field_names::<ImportRequestJson>(),
        ["customerId", "stripeCustomerId", "stripeCardId"]
    );
    assert_eq!(
        field_names::<BillingSettingRequest>(),
        ["id", "defaultPaymentMethodId"]
    );
    assert_eq!(field_names::<CustomerRequest>().len(), 5);
    assert!(field_names::<Value>().is_empty());
}

#[test]
fn whole_numbers_from_numbers_and_strings() {
    for (text, want) in [
        ("{customerId:5}", Some(5)),
        ("{customerId:'5'}", Some(5)),
        (r#"{"customerId":" 5 "}"#, Some(5)),
        (r#"{"customerId":"+5"}"#, Some(5)),
        ("{customerId:5.0}", Some(5)),
        ("{customerId:''}", None),
        ("{customerId:null}", None),
        ("{}", None),
    ] {
        assert_eq!(import(text).0, want, "{text}");
    }
    for bad in [
        "{customerId:-5}",
        "{customerId:'-5'}",
        "{customerId:5.5}",
        "{customerId:'5.5'}",
        "{customerId:'1e3'}",
        "{customerId:'x'}",
        "{customerId:true}",
        "{customerId:[5]}",
        "{customerId:'99999999999999999999'}",
    ] {
        match import_error(bad) {
            Error::Invalid(f) => {
                assert_eq!(f[0].field, "customerId", "{bad}");
                assert_eq!(f[0].message, "customerId: must be a whole number from 0");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let r: BillingSettingRequest = body(b"{Id:'7',DefaultPaymentMethodId:8}").unwrap();
    assert_eq!((r.id, r.default_payment_method_id), (Some(7), Some(8)));
}

#[test]
fn strings_from_strings_numbers_and_booleans() {
    let (_, cus, card) = import("{stripeCustomerId:123,stripeCardId:true}");
    assert_eq!(
        (cus.as_deref(), card.as_deref()),
        (Some("123"), Some("true"))
    );
    match import_error("{stripeCardId:{a:1}}") {
        Error::Invalid(f) => assert_eq!(f[0].message, "stripeCardId: must be a string"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_card_number_never_appears_in_an_error() {
    let bodies = [
        format!("{{customerId:'{PAN}x'}}"),
        format!("{{customerId:{PAN}.5}}"),
        format!("{{customerId:-{PAN}}}"),
        format!("{{customerId:[{PAN}]}}"),
        format!("{{stripeCardId:{{'n':{PAN}}}}}"),
        format!("{{customerId:1,cardNumber:'{PAN}"),
        format!("{{cardNumber:'{PAN}' x}}"),
        format!("{{cardNumber:{PAN} {PAN}}}"),
        format!("{{'{PAN}'}}"),
        format!("{{cardNumber:'\\q{PAN}'}}"),
        format!("{{cardNumber:'{PAN}\\ud800'}}"),
        format!("[{PAN},"),
        format!("{PAN} /*"),
        format!("\"{PAN}\""),
        PAN.to_string(),
    ];
    for text in &bodies {
        let e = match body::<ImportRequestJson>(text.as_bytes()) {
            Ok(_) => continue,
            Err(e) => e,
        };
        let shown = format!("{e:?} {e}");
        assert!(
            !shown.contains(PAN) && !shown.contains("424242"),
            "{text}: {shown}"
        );
        let resp = crate::dialect::fusebill::render_error(&e);
        let lambda_http::Body::Text(t) = resp.body() else {
            panic!("no body")
        };
        assert!(!t.contains("424242"), "{text}: {t}");
    }
}

#[test]
fn the_fusebill_bodies_read_tolerantly() {
    let r: CustomerRequest =
        body(b"{FirstName:Karen, lastName:'Wood', // note\n reference: 42,}").unwrap();
    assert_eq!(
        (
            r.first_name.as_deref(),
            r.last_name.as_deref(),
            r.reference.as_deref()
        ),
        (Some("Karen"), Some("Wood"), Some("42"))
    );
    // Not an object, empty: the same answers as for strict JSON.
    for (text, says) in [
        ("[1]", "JSON object"),
        ("  ", "empty"),
        ("5", "JSON object"),
    ] {
        match body::<CustomerRequest>(text.as_bytes()) {
            Err(Error::BadRequest(m)) => assert!(m.contains(says), "{text}: {m}"),
            other => panic!("{text}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn the_depth_limit_counts_nesting_not_siblings() {
    // MAX_DEPTH arrays side by side, each closed before the next: one level deep.
    let siblings = format!("[{}]", vec!["[1]"; MAX_DEPTH + 1].join(","));
    assert_eq!(ok(&siblings).as_array().unwrap().len(), MAX_DEPTH + 1);
    let objects = format!("[{}]", vec!["{\"a\":1}"; MAX_DEPTH + 1].join(","));
    assert_eq!(ok(&objects).as_array().unwrap().len(), MAX_DEPTH + 1);
}
