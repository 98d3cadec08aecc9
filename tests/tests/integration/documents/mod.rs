//! The source documents' own samples, replayed against the stack: one file per document
//! (`../shared/seeds/`). Each sample is a fixture file, `fixtures/<document>/<name>`, kept
//! as the document writes it (`fixtures/README.md` names its document and lines); only the
//! host, keys and ids are put in, as a reader trying the sample would. Each test asserts
//! the answer and its shape against the document's sample response. The tests read the
//! fixtures only: a clone without `../shared` runs every one of them.
//!
//! | document | file |
//! |---|---|
//! | 000 Stripe Connect card import (Fusebill) | `import_000.rs` |
//! | 001 the same page, another copy | `import_001.rs` |
//! | 002 Add Credit Card, transparent redirect (Fusebill), with its jQuery page | `redirect_002.rs` |
//! | 003 Stripe customers of a user (Rechat) | `user_api_003.rs` |
//! | 004 billing cards (EmbedThis) | `billing_004.rs` |
//!
//! Beside seed 002's jQuery page, `three_ds_pages.rs` runs the project's own sample pages
//! (`tests/browser/pages/`): 3-D Secure finished with Stripe.js, and the PAN-less flow.

mod billing_004;
mod import_000;
mod import_001;
mod redirect_002;
mod three_ds_pages;
mod user_api_003;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::Value;

/// One headless Chromium at a time among these tests (redirect_002's and three_ds_pages'):
/// each driver waits up to 30 s for a page's outcome, and three browsers at once on a
/// two-core machine, beside the rest of the suite, would make those waits the test.
static CHROMIUM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`CHROMIUM`]'s turn, even after another browser test panicked holding it.
fn chromium_turn() -> std::sync::MutexGuard<'static, ()> {
    CHROMIUM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn fixtures_dir() -> PathBuf {
    root().join("tests/tests/integration/documents/fixtures")
}

/// One row of `fixtures/README.md`'s table, and the file's text.
struct Fixture {
    document: String,
    /// 1-based, inclusive.
    lines: (usize, usize),
    /// The file's text without the newline that ends the file.
    text: String,
}

/// Every fixture, by its path under `fixtures/`, as the README's table lists them.
static FIXTURES: LazyLock<BTreeMap<String, Fixture>> = LazyLock::new(|| {
    let index = std::fs::read_to_string(fixtures_dir().join("README.md")).unwrap();
    let mut all = BTreeMap::new();
    for row in index.lines().filter(|l| l.starts_with("| 00")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let [_, file, document, lines, _what, _] = cells[..] else {
            panic!("fixtures/README.md: not a row of four cells: {row}");
        };
        let (first, last) = lines
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .filter(|(a, b): &(usize, usize)| *a >= 1 && a <= b)
            .unwrap_or_else(|| panic!("fixtures/README.md: lines {lines:?} in {row}"));
        let raw = std::fs::read_to_string(fixtures_dir().join(file))
            .unwrap_or_else(|e| panic!("fixtures/{file}: {e}"));
        let text = raw
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("fixtures/{file}: no final newline"))
            .to_owned();
        let fixture = Fixture {
            document: document.to_owned(),
            lines: (first, last),
            text,
        };
        assert!(
            all.insert(file.to_owned(), fixture).is_none(),
            "fixtures/README.md lists {file} twice"
        );
    }
    all
});

/// A document's sample, from its fixture file (`fixtures/<file>`, listed in the README).
fn verbatim(file: &str) -> &'static str {
    &FIXTURES
        .get(file)
        .unwrap_or_else(|| panic!("fixtures/{file} is not in fixtures/README.md"))
        .text
}

/// Where the documents are: `CARDVAULT_SEEDS`, or `../shared/seeds` beside the project.
fn seeds_dir() -> PathBuf {
    std::env::var_os("CARDVAULT_SEEDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/seeds"))
}

/// The fixtures whose last line ends inside the document's line, and the exact text the
/// document runs on with there: seed 003 runs its next heading into a closing brace, twice.
/// Every other fixture ends where its last line ends, so a cut-short last line is caught.
const RUNS_ON: &[(&str, &str)] = &[
    ("003/request.http", "Response"),
    ("003/post-response.json", "Get a user's customer list ¶"),
];

/// Whether `fixture` (at `file`) is `document`'s text from the start of its first line,
/// spanning exactly its lines and ending where the last one ends (or runs on as `RUNS_ON`
/// says); else where it differs.
fn in_document(file: &str, fixture: &Fixture, document: &str) -> Result<(), String> {
    let (first, last) = fixture.lines;
    let start: usize = document
        .split_inclusive('\n')
        .take(first - 1)
        .map(str::len)
        .sum();
    let from = &document[start..];
    let spans = fixture.text.split('\n').count();
    if spans != last + 1 - first {
        return Err(format!(
            "spans {spans} lines, the README says {first}-{last}"
        ));
    }
    if let Some(after) = from.strip_prefix(fixture.text.as_str()) {
        let rest = after
            .split('\n')
            .next()
            .unwrap_or("")
            .trim_end_matches('\r');
        let runs_on = RUNS_ON
            .iter()
            .find(|(f, _)| *f == file)
            .map_or("", |(_, text)| text);
        return if rest == runs_on {
            Ok(())
        } else {
            Err(format!(
                "line {last}: the document's line goes on with {rest:?} after the fixture's \
                 (RUNS_ON allows {runs_on:?})"
            ))
        };
    }
    let at = fixture
        .text
        .split('\n')
        .zip(from.split('\n'))
        .position(|(ours, theirs)| !theirs.starts_with(ours))
        .unwrap_or(0);
    Err(format!(
        "line {}: the fixture has {:?}, the document {:?}",
        first + at,
        fixture.text.split('\n').nth(at).unwrap_or(""),
        from.split('\n').nth(at).unwrap_or("")
    ))
}

/// Every fixture file is listed in the README and every listed one exists (the index is
/// read); where the documents are, each fixture is still its document's text at its lines.
#[test]
fn the_fixtures_are_the_documents_own() {
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(fixtures_dir()).unwrap() {
        let dir = dir.unwrap();
        if dir.file_type().unwrap().is_dir() {
            for f in std::fs::read_dir(dir.path()).unwrap() {
                let name = f.unwrap().file_name().into_string().unwrap();
                on_disk.push(format!("{}/{name}", dir.file_name().to_str().unwrap()));
            }
        }
    }
    on_disk.sort();
    let listed: Vec<&String> = FIXTURES.keys().collect();
    assert_eq!(
        on_disk.iter().collect::<Vec<_>>(),
        listed,
        "fixtures/README.md's table"
    );

    let seeds = seeds_dir();
    if !seeds.is_dir() {
        eprintln!(
            "{}: not found; the {} fixtures are not compared with their documents",
            seeds.display(),
            listed.len()
        );
        return;
    }
    let mut wrong = Vec::new();
    for (file, fixture) in FIXTURES.iter() {
        let path = seeds.join(&fixture.document);
        let document = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (named by fixtures/{file})", path.display()));
        if let Err(why) = in_document(file, fixture, &document) {
            wrong.push(format!(
                "fixtures/{file} is not {}: {why}",
                fixture.document
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    eprintln!(
        "{} fixtures compared with {}",
        listed.len(),
        seeds.display()
    );
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
