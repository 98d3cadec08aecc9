//! The source documents' own samples, replayed against the stack: one file per document
//! (`../shared/seeds/`). Each sample is kept here as the document writes it; only the host,
//! keys and ids are put in, as a reader trying the sample would. Each test asserts the
//! answer and its shape against the document's sample response.
//!
//! | document | file |
//! |---|---|
//! | 000 Stripe Connect card import (Fusebill) | `import_000.rs` |
//! | 001 the same page, another copy | `import_001.rs` |
//! | 002 Add Credit Card, transparent redirect (Fusebill), with its jQuery page | `redirect_002.rs` |
//! | 003 Stripe customers of a user (Rechat) | `user_api_003.rs` |
//! | 004 billing cards (EmbedThis) | `billing_004.rs` |

mod billing_004;
mod import_000;
mod import_001;
mod redirect_002;
mod user_api_003;

use std::path::PathBuf;

use serde_json::Value;

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Asserts that each sample is the document's own text. The documents live beside the
/// project, in `../shared/seeds`; where they are not (a clone on its own), this says so and
/// checks nothing, since the samples above are copies.
fn assert_in_document(seed: &str, samples: &[&str]) {
    let path = root().join("../shared/seeds").join(seed);
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "{}: not found; the samples are not compared",
            path.display()
        );
        return;
    };
    for sample in samples {
        assert!(text.contains(sample), "not verbatim from {seed}:\n{sample}");
    }
}

/// The JSON kind of a value, for shape comparisons.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that `ours` has each of the sample's fields, with the sample's JSON kind (a
/// field the sample shows as null may hold any value), and answers the fields the sample
/// does not show.
fn assert_shape(sample: &Value, ours: &Value) -> Vec<String> {
    let (want, got) = (
        sample.as_object().unwrap(),
        ours.as_object().expect("an object"),
    );
    for (k, v) in want {
        let mine = got.get(k).unwrap_or_else(|| panic!("no {k}: {ours}"));
        if !v.is_null() {
            assert_eq!(kind(mine), kind(v), "{k}: {ours}");
        }
    }
    got.keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect()
}

/// A sample's text with its placeholders filled in, in order: each `(from, to)` replaces
/// the first `from` still there, so repeated placeholders (`{id}`) take values in turn.
fn fill(sample: &str, values: &[(&str, &str)]) -> String {
    let mut out = sample.to_owned();
    for (from, to) in values {
        let at = out
            .find(from)
            .unwrap_or_else(|| panic!("no {from} left in the sample"));
        out.replace_range(at..at + from.len(), to);
    }
    out
}
