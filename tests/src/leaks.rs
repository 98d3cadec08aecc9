//! Card data that must never be stored or logged, made fresh for each scan, and the one
//! search for it: in any text (a log), and in the table and each of its indexes (every
//! attribute type, numbers and binaries included).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::Rng;

use crate::{aws, scan_items, stack};

/// The shortest run of a PAN's digits that counts as the PAN: a masked number shows at most
/// the first six and last four.
pub const PAN_RUN: usize = 12;

/// How far (in characters) `cvv` or `cvc` may be from the CVV to count as naming it.
const CVV_NEAR: usize = 12;

/// How many other characters may stand between two digits of a PAN that still counts as
/// written out: a separator (` `, `-`, `+`, `.`, a no-break space) or two (`, `).
const MAX_GAP: usize = 2;

/// The shortest base64 token that is decoded and searched: 12 bytes, room for a PAN run.
const BASE64_MIN: usize = 16;

/// A Visa number (16 digits, the only length localstripe takes) with a random body and the
/// right Luhn check digit: no other test, and no id the vault issues, holds it.
pub fn fresh_pan() -> String {
    let mut rng = rand::thread_rng();
    let body: String = std::iter::once('4')
        .chain((0..14).map(|_| char::from(b'0' + rng.gen_range(0..10u8))))
        .collect();
    let check = luhn_check_digit(&body);
    format!("{body}{check}")
}

/// A fresh number whose check digit is wrong: it fails validation.
pub fn fresh_luhn_invalid() -> String {
    let pan = fresh_pan();
    let (body, check) = pan.split_at(15);
    let wrong = (check.parse::<u8>().unwrap() + 1) % 10;
    format!("{body}{wrong}")
}

/// The digit that makes `body` + digit pass the Luhn check.
pub fn luhn_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .map(|c| c.to_digit(10).expect("digits"))
        .enumerate()
        .map(|(i, d)| match i % 2 {
            0 if d * 2 > 9 => d * 2 - 9,
            0 => d * 2,
            _ => d,
        })
        .sum();
    (10 - sum % 10) % 10
}

/// The card data one scan sends, and looks for afterwards.
#[derive(Clone, Debug)]
pub struct CardData {
    /// Every number sent: valid, declined and Luhn-invalid ones alike.
    pub pans: Vec<String>,
    /// Three random digits (localstripe takes no other length); empty: look for PANs only.
    pub cvv: String,
}

impl CardData {
    /// `pans`, and a random CVV that is part of none of `fields` (the requests' other
    /// values: ids, expiry, names), that `seen` (the logs so far) never shows in a shape
    /// [`Self::findings_in`] looks for, and that no value in `stored` (the table so far,
    /// [`stored_values`]) is or shows: any of it found later came from a request.
    pub fn new(pans: Vec<String>, fields: &[&str], seen: &[&str], stored: &[String]) -> Self {
        let mut rng = rand::thread_rng();
        loop {
            let probe = Self {
                pans: Vec::new(),
                cvv: format!("{:03}", rng.gen_range(0..1000u32)),
            };
            let cvv = probe.cvv.as_str();
            let shown = |t: &str| t.contains(cvv) && !probe.findings_in_value("", t).is_empty();
            if pans
                .iter()
                .map(String::as_str)
                .chain(fields.iter().copied())
                .all(|f| !f.contains(cvv))
                && !seen.iter().any(|t| shown(t))
                && !stored.iter().any(|v| shown(v))
            {
                return Self {
                    pans,
                    cvv: probe.cvv,
                };
            }
        }
    }

    /// Where `text` (found at `place`) holds card data: any run of [`PAN_RUN`] of a PAN's
    /// digits, also with up to [`MAX_GAP`] other characters between any two of them
    /// (`4111 1111`, `4111+1111`, `4111.1111`, a no-break space), also once `%XX` escapes
    /// are decoded (`4111%201111`); or the CVV quoted (`"739"`), after `=`, or beside
    /// `cvv`/`cvc`. Both are also looked for inside every base64 token of 16 characters or
    /// more (a logged body or blob). Each finding names the place and shows its
    /// surroundings.
    pub fn findings_in(&self, place: &str, text: &str) -> Vec<String> {
        let mut found = self.findings_in_plain(place, text);
        let unescaped = percent_decoded(text);
        if unescaped != text {
            let place = format!("{place} (%-decoded)");
            found.extend(self.findings_in_plain(&place, &unescaped));
        }
        for (token, inner) in base64_tokens(text) {
            let place = format!("{place} (base64 {}…)", head(token, 24));
            found.extend(self.findings_in_plain(&place, &inner));
        }
        found
    }

    /// [`Self::findings_in`] in `text` as it is: no decoding.
    fn findings_in_plain(&self, place: &str, text: &str) -> Vec<String> {
        let mut found = self.pan_findings(place, text);
        if !self.cvv.is_empty() {
            for at in tokens_equal_to(text, &self.cvv) {
                let before = &text[..at];
                let after = &text[at + self.cvv.len()..];
                let quoted = before.ends_with(['"', '\'']) && after.starts_with(['"', '\'', '\\'])
                    || before.ends_with("\\\"") && after.starts_with("\\\"");
                let assigned = before.ends_with('=');
                let near = |s: &str| {
                    let s = s.to_ascii_lowercase();
                    s.contains("cvv") || s.contains("cvc")
                };
                let beside = near(tail(before, CVV_NEAR)) || near(head(after, CVV_NEAR));
                if quoted || assigned || beside {
                    found.push(format!(
                        "{place}: the CVV {}: …{}…",
                        self.cvv,
                        around(text, at, self.cvv.len())
                    ));
                }
            }
        }
        found
    }

    /// Every PAN of which `text` holds a run of [`PAN_RUN`] digits, at most [`MAX_GAP`]
    /// characters apart: the first such run of each PAN, to show where.
    fn pan_findings(&self, place: &str, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let runs = digit_runs(text);
        for pan in &self.pans {
            let hit = pan.as_bytes().windows(PAN_RUN).find_map(|run| {
                let run = std::str::from_utf8(run).unwrap();
                runs.iter().find_map(|(digits, at)| {
                    digits.find(run).map(|i| (run, at[i], at[i + PAN_RUN - 1]))
                })
            });
            if let Some((run, from, to)) = hit {
                found.push(format!(
                    "{place}: {run} of PAN {pan}: …{}…",
                    around(text, from, to + 1 - from)
                ));
            }
        }
        found
    }

    /// [`Self::findings_in`] for one stored value: also the CVV as the whole value (a
    /// number or a string `739`).
    fn findings_in_value(&self, place: &str, value: &str) -> Vec<String> {
        let mut found = self.findings_in(place, value);
        if value.trim() == self.cvv {
            found.push(format!("{place}: the CVV {} is the value", self.cvv));
        }
        found
    }

    /// Every finding in the table and in each of its indexes, item by item.
    pub async fn findings_in_table(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (index, items) in table_and_indexes().await {
            for item in &items {
                let key = ["PK", "SK"]
                    .iter()
                    .filter_map(|k| match item.get(*k) {
                        Some(AttributeValue::S(s)) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                for (name, value) in item {
                    let place = format!("{index} item [{key}] {name}");
                    found.extend(self.findings_in_value(&format!("{place} (name)"), name));
                    for (path, text) in values(name, value) {
                        found.extend(
                            self.findings_in_value(&format!("{index} [{key}] {path}"), &text),
                        );
                    }
                }
            }
        }
        found
    }
}

/// `text`'s digits, in runs whose digits stand at most [`MAX_GAP`] characters apart: each
/// run's digits, and each digit's byte offset in `text`.
fn digit_runs(text: &str) -> Vec<(String, Vec<usize>)> {
    let mut runs: Vec<(String, Vec<usize>)> = Vec::new();
    let mut gap = usize::MAX;
    for (at, c) in text.char_indices() {
        if !c.is_ascii_digit() {
            gap = gap.saturating_add(1);
            continue;
        }
        match runs.last_mut() {
            Some((digits, offsets)) if gap <= MAX_GAP => {
                digits.push(c);
                offsets.push(at);
            }
            _ => runs.push((c.to_string(), vec![at])),
        }
        gap = 0;
    }
    runs.retain(|(digits, _)| digits.len() >= PAN_RUN);
    runs
}

/// `text` with its `%XX` escapes decoded (lossily: the bytes as latin-1).
fn percent_decoded(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(char::from((h * 16 + l) as u8));
                i += 3;
                continue;
            }
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Every token of `text` of [`BASE64_MIN`] base64 characters or more (standard or URL-safe
/// alphabet), with what it decodes to as latin-1: a card number or CVV logged encoded.
fn base64_tokens(text: &str) -> Vec<(&str, String)> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
    let mut out = Vec::new();
    for token in text.split(|c: char| !is_b64(c)) {
        if token.len() < BASE64_MIN {
            continue;
        }
        // A token need not start on a 3-byte boundary of what was encoded (a longer blob
        // cut at a separator): each of the four shifts, its tail cut to whole groups.
        for shift in 0..4 {
            let t = &token[shift..];
            let t = &t[..t.len() - t.len() % 4];
            let decoded = STANDARD_NO_PAD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t));
            if let Ok(b) = decoded {
                out.push((token, b.iter().map(|&c| char::from(c)).collect()));
            }
        }
    }
    out
}

/// Every scalar value stored in the table now, as text (what [`CardData::new`] avoids).
pub async fn stored_values() -> Vec<String> {
    let (_, items) = table_and_indexes().await.swap_remove(0);
    items
        .iter()
        .flat_map(|item| item.iter().flat_map(|(name, v)| values(name, v)))
        .map(|(_, text)| text)
        .collect()
}

/// The byte offsets of every occurrence of `digits` in `text` that is a token of its own:
/// no letter or digit either side (`Parent=739a…` in a trace id, `x=17391` are not).
fn tokens_equal_to(text: &str, digits: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(i) = text[start..].find(digits) {
        let at = start + i;
        let end = at + digits.len();
        let joined_before = at > 0 && bytes[at - 1].is_ascii_alphanumeric();
        let joined_after = end < bytes.len() && bytes[end].is_ascii_alphanumeric();
        if !joined_before && !joined_after {
            out.push(at);
        }
        start = at + 1;
    }
    out
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[i..]
}

fn head(s: &str, n: usize) -> &str {
    let mut i = n.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[..i]
}

/// Up to 60 characters either side of `len` bytes at `at`, on one line.
fn around(text: &str, at: usize, len: usize) -> String {
    let before = tail(&text[..at], 60);
    let after = head(&text[at..], len + 60);
    format!("{before}{after}").replace('\n', "⏎")
}

/// Every scalar inside an attribute, as text, named by its path: strings (and what they
/// decode to, when they are base64), numbers, booleans, and binaries as their raw bytes
/// (latin-1) and in hex (a PAN packed as BCD shows its digits there).
fn values(path: &str, v: &AttributeValue) -> Vec<(String, String)> {
    let bytes = |path: &str, b: &[u8]| {
        let mut out = vec![
            (path.to_owned(), b.iter().map(|&c| char::from(c)).collect()),
            (format!("{path} (hex)"), hex(b)),
        ];
        if let Ok(inner) = std::str::from_utf8(b) {
            out.extend(decoded(path, inner));
        }
        out
    };
    match v {
        AttributeValue::S(s) => {
            let mut out = vec![(path.to_owned(), s.clone())];
            out.extend(decoded(path, s));
            out
        }
        AttributeValue::N(n) => vec![(path.to_owned(), n.clone())],
        AttributeValue::B(b) => bytes(path, b.as_ref()),
        AttributeValue::Bool(b) => vec![(path.to_owned(), b.to_string())],
        AttributeValue::Ss(ss) => ss
            .iter()
            .flat_map(|s| {
                let mut out = vec![(format!("{path}[]"), s.clone())];
                out.extend(decoded(&format!("{path}[]"), s));
                out
            })
            .collect(),
        AttributeValue::Ns(ns) => ns
            .iter()
            .map(|n| (format!("{path}[]"), n.clone()))
            .collect(),
        AttributeValue::Bs(bs) => bs
            .iter()
            .flat_map(|b| bytes(&format!("{path}[]"), b.as_ref()))
            .collect(),
        AttributeValue::L(l) => l
            .iter()
            .enumerate()
            .flat_map(|(i, x)| values(&format!("{path}[{i}]"), x))
            .collect(),
        AttributeValue::M(m) => m
            .iter()
            .flat_map(|(k, x)| {
                let mut out = vec![(format!("{path}.{k} (name)"), k.clone())];
                out.extend(values(&format!("{path}.{k}"), x));
                out
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A string that is base64 (8 characters or more), decoded: as latin-1 and in hex.
fn decoded(path: &str, s: &str) -> Vec<(String, String)> {
    let s = s.trim();
    if s.len() < 8 {
        return Vec::new();
    }
    match STANDARD.decode(s) {
        Ok(b) => vec![
            (
                format!("{path} (base64)"),
                b.iter().map(|&c| char::from(c)).collect(),
            ),
            (format!("{path} (base64, hex)"), hex(&b)),
        ],
        Err(_) => Vec::new(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// Every item of the table (`table`), then of each of its indexes (by name), by Scan.
pub async fn table_and_indexes() -> Vec<(String, Vec<HashMap<String, AttributeValue>>)> {
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let table = &stack().table;
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe the table");
    let described = described.table().expect("a table");
    let mut indexes: Vec<String> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    indexes.extend(
        described
            .local_secondary_indexes()
            .iter()
            .filter_map(|l| l.index_name().map(str::to_owned)),
    );
    assert!(!indexes.is_empty(), "{table} has indexes to scan");
    let mut out = vec![("table".to_owned(), scan_items(None).await)];
    for index in indexes {
        let items = scan_items(Some(&index)).await;
        out.push((index, items));
    }
    out
}

/// The stack's run directory: where infra/stack.sh writes each service's log (the fleet's
/// `lambda.log` holds every function instance's output).
pub fn run_dir() -> std::path::PathBuf {
    std::path::Path::new(&std::env::var("CARDVAULT_STACK").expect("CARDVAULT_STACK"))
        .parent()
        .expect("the stack facts' directory")
        .to_owned()
}

/// Every log of the stack, by file name: cardvault's (the functions, the router) and the
/// stand-ins' (a card number in a URL would show in their request lines).
pub fn stack_logs() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(run_dir())
        .expect("the run directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    out.sort();
    assert!(
        out.iter().any(|(name, _)| name == "lambda.log"),
        "the fleet's log is in {}",
        run_dir().display()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> CardData {
        CardData {
            pans: vec!["4111111111111111".into(), "4532015112830366".into()],
            cvv: "739".into(),
        }
    }

    #[test]
    fn fresh_numbers_pass_or_fail_the_luhn_check_as_meant() {
        for _ in 0..100 {
            let ok = fresh_pan();
            assert_eq!(ok.len(), 16);
            assert!(cardvault::domain::CardNumber::parse(&ok).is_ok(), "{ok}");
            let bad = fresh_luhn_invalid();
            assert!(cardvault::domain::CardNumber::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(luhn_check_digit("453201511283036"), 6);
    }

    #[test]
    fn any_twelve_digit_run_of_a_pan_is_found() {
        let d = data();
        assert_eq!(d.findings_in("log", "number 453201511283 ok").len(), 1);
        assert_eq!(d.findings_in("log", "x=015112830366").len(), 1);
        assert_eq!(d.findings_in("log", "4532 0151 1283 0366").len(), 1);
        assert_eq!(
            d.findings_in("log", "4532015112830366 4111111111111111")
                .len(),
            2
        );
        assert!(d.findings_in("log", "45320151128 and 4532-0151").is_empty());
        assert!(d.findings_in("log", "last4=0366 bin=453201").is_empty());
    }

    #[test]
    fn a_pan_is_found_through_any_separator_and_escape() {
        let d = data();
        for hit in [
            "4532+0151+1283+0366",
            "4532.0151.1283.0366",
            "4532\u{a0}0151\u{a0}1283\u{a0}0366",
            "4532%200151%201283%200366",
            "4532, 0151, 1283",
            "4-5-3-2-0-1-5-1-1-2-8-3",
            "card=4532 01511283 0366&x",
        ] {
            assert_eq!(d.findings_in("log", hit).len(), 1, "{hit}");
        }
        // Three characters apart is no longer one number.
        assert!(d.findings_in("log", "4532 - 0151 - 1283 - 0366").is_empty());
    }

    #[test]
    fn card_data_is_found_inside_base64_in_a_log() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let d = data();
        for hit in [
            format!(
                "body={}",
                STANDARD.encode(r#"{"number":"4532015112830366"}"#)
            ),
            format!(
                "b64 {} end",
                URL_SAFE_NO_PAD.encode("pan 4532-0151-1283-0366")
            ),
            // A blob cut mid-group: its tail after the first character.
            format!("x {}", &STANDARD.encode("..pan 453201511283")[1..]),
            format!("\"{}\"", STANDARD.encode(r#"{"cvv":"739"}"#)),
        ] {
            assert!(!d.findings_in("log", &hit).is_empty(), "{hit}");
        }
        let clean = STANDARD.encode("last4=0366 took 739 ms, Parent=739a8d0e");
        assert!(d.findings_in("log", &clean).is_empty(), "{clean}");
    }

    #[test]
    fn the_cvv_is_found_quoted_assigned_or_beside_its_name() {
        let d = data();
        for hit in [
            r#"{"cvv":"739"}"#,
            r#"body: "{\"x\":\"739\"}""#,
            "Cvv=739&x=1",
            "cvv=739",
            "card_cvc: 739,",
            "value 739 (CVC)",
            "'739'",
        ] {
            assert_eq!(d.findings_in("log", hit).len(), 1, "{hit}");
        }
        for miss in [
            "took 739 ms",
            "id=17391",
            r#""n":"87390""#,
            "budget_ms: 739",
            "cvv is required",
            "xrayTraceId=Root=1-6b16;Parent=739a8d0e",
            "cvv_a739",
        ] {
            assert!(d.findings_in("log", miss).is_empty(), "{miss}");
        }
    }

    #[test]
    fn stored_values_of_every_type_are_searched() {
        use aws_sdk_dynamodb::primitives::Blob;
        let d = data();
        let m = |k: &str, v| AttributeValue::M(HashMap::from([(k.to_owned(), v)]));
        let hits = [
            AttributeValue::N("739".into()),
            AttributeValue::Ns(vec!["4111111111111111".into()]),
            AttributeValue::B(Blob::new(b"pan:4111111111111111".to_vec())),
            AttributeValue::B(Blob::new(vec![0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11])),
            AttributeValue::Bs(vec![Blob::new(b"739".to_vec())]),
            AttributeValue::S(STANDARD.encode("4111111111111111")),
            AttributeValue::L(vec![m("cvv", AttributeValue::S("739".into()))]),
            AttributeValue::Ss(vec!["a".into(), "x 453201511283 y".into()]),
        ];
        for v in hits {
            let found: Vec<String> = values("attr", &v)
                .iter()
                .flat_map(|(p, t)| d.findings_in_value(p, t))
                .collect();
            assert!(!found.is_empty(), "{v:?}");
        }
        let clean = AttributeValue::M(HashMap::from([
            ("last4".to_owned(), AttributeValue::S("1111".into())),
            ("n".to_owned(), AttributeValue::N("7391".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]));
        let found: Vec<String> = values("attr", &clean)
            .iter()
            .flat_map(|(p, t)| d.findings_in_value(p, t))
            .collect();
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_cvv_is_chosen_that_the_logs_so_far_do_not_show() {
        let logs: String = (0..1000)
            .filter(|n| n % 7 != 0)
            .map(|n| format!("x={n:03} "))
            .collect();
        for _ in 0..20 {
            let d = CardData::new(vec![fresh_pan()], &["2030"], &[&logs], &["840".into()]);
            assert_ne!(d.cvv, "840");
            assert!(!d.cvv.contains("2030") && !"2030".contains(&d.cvv));
            assert_eq!(d.cvv.parse::<u32>().unwrap() % 7, 0, "{}", d.cvv);
        }
    }
}
