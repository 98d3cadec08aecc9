//! `/card/find`'s `where` and `filter` options: the grammar, and whether a card matches.
//!
//! `where` is OneTable's filter template, over the card's wire fields:
//!
//! ```text
//! where      := or
//! or         := and ( "or" and )*
//! and        := not ( "and" not )*
//! not        := "not" not | "(" where ")" | test
//! test       := ${field} op {value}
//!             | ${field} "between" {value} "and" {value}
//!             | ${field} "in" "(" {value} ( "," {value} )* ")"
//!             | ( "begins_with" | "begins" | "contains" | "not_contains" ) "(" ${field} "," {value} ")"
//!             | ( "attribute_exists" | "attribute_not_exists" ) "(" ${field} ")"
//! op         := "=" | "==" | "<>" | "!=" | "<" | "<=" | ">" | ">="
//! ```
//!
//! Words are case-insensitive (`AND`, `and`). A `{value}` is typed by its field:
//!
//! | field | kind | values | compared |
//! |---|---|---|---|
//! | `accountId`, `error`, `id`, `name`, `number` | text | `{x}`, `{"x y"}` (a JSON string), `{5}` (its text), `{null}` | exactly, by code point; `null` is absent |
//! | `failures`, `month`, `year` | number | `{5}` | as numbers (`year` has four digits, `month` is 1–12, whatever was sent) |
//! | `current` | boolean | `{true}`, `{false}` | |
//! | `submitted` | time | `{2026-05-01}`, `{2026-05-01T12:00:00Z}` (RFC 3339) | as instants |
//!
//! `<>` is the negation of `=`; an ordering test on an absent value is false. `begins_with`,
//! `contains` and `not_contains` take text fields. OneTable's `@{…}` substitutions, `size`
//! and `attribute_type` are not supported. Anything outside the grammar is refused with its
//! column: `where: expected an operator after the field at column 12`.
//!
//! `filter` is a case-insensitive text search: a card matches when its name or number
//! contains the text.
//!
//! No error quotes the query: only what was expected and where.

use std::cmp::Ordering;

use crate::domain::{Instrument, Timestamp};
use crate::vault::CardView;

/// A `where` of at most this many characters, nested at most this deep.
pub const WHERE_MAX_CHARS: usize = 1024;
pub const WHERE_MAX_DEPTH: usize = 32;

/// What `/card/find` keeps of the tenant's cards: every `where` given (all must hold) and
/// the `filter` text.
#[derive(Debug, Default)]
pub struct CardFilter {
    wheres: Vec<Expr>,
    text: Option<String>,
}

impl CardFilter {
    /// Adds a `where` option.
    pub fn add_where(&mut self, src: &str) -> Result<(), QueryError> {
        self.wheres.push(parse(src)?);
        Ok(())
    }

    /// Sets the `filter` text; blank is no filter.
    pub fn set_text(&mut self, text: &str) {
        let text = text.trim();
        self.text = (!text.is_empty()).then(|| text.to_lowercase());
    }

    pub fn matches(&self, card: &CardView) -> bool {
        let text_ok = self.text.as_ref().is_none_or(|t| {
            [Field::Name, Field::Number]
                .iter()
                .any(|f| match f.value(card) {
                    Val::Text(Some(v)) => v.to_lowercase().contains(t.as_str()),
                    _ => false,
                })
        });
        text_ok && self.wheres.iter().all(|w| w.eval(card))
    }
}

/// What is wrong with a `where`, and at which column (from 1, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub what: String,
    pub column: usize,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at column {}", self.what, self.column)
    }
}

// ---- the card's fields ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    AccountId,
    Current,
    Error,
    Failures,
    Id,
    Name,
    Number,
    Month,
    Year,
    Submitted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    Time,
}

const FIELDS: &[(&str, Field)] = &[
    ("accountId", Field::AccountId),
    ("current", Field::Current),
    ("error", Field::Error),
    ("failures", Field::Failures),
    ("id", Field::Id),
    ("name", Field::Name),
    ("number", Field::Number),
    ("month", Field::Month),
    ("year", Field::Year),
    ("submitted", Field::Submitted),
];

/// A field's value on a card; `None` is absent (null on the wire).
#[derive(Debug)]
enum Val {
    Text(Option<String>),
    Number(Option<f64>),
    Bool(bool),
    Time(Timestamp),
}

impl Field {
    fn kind(self) -> Kind {
        match self {
            Self::AccountId | Self::Error | Self::Id | Self::Name | Self::Number => Kind::Text,
            Self::Failures | Self::Month | Self::Year => Kind::Number,
            Self::Current => Kind::Bool,
            Self::Submitted => Kind::Time,
        }
    }

    fn value(self, card: &CardView) -> Val {
        let pm = &card.payment_method;
        let expiry = match pm.instrument {
            Instrument::Card {
                exp_month,
                exp_year,
                ..
            } => Some((f64::from(exp_month), f64::from(exp_year))),
            Instrument::Ach { .. } => None,
        };
        match self {
            Self::AccountId => Val::Text(card.account.clone()),
            Self::Current => Val::Bool(card.is_default),
            Self::Error => Val::Text(pm.last_error.clone()),
            Self::Failures => Val::Number(Some(f64::from(pm.failures))),
            Self::Id => Val::Text(Some(pm.id.to_string())),
            Self::Name => Val::Text(super::card_name(card)),
            Self::Number => Val::Text(Some(pm.last4.clone())),
            Self::Month => Val::Number(expiry.map(|e| e.0)),
            Self::Year => Val::Number(expiry.map(|e| e.1)),
            Self::Submitted => Val::Time(pm.created_at),
        }
    }
}

// ---- the tree and its evaluation -----------------------------------------------------------

#[derive(Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Test(Field, Test),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
enum Test {
    Compare(Op, Literal),
    Between(Literal, Literal),
    In(Vec<Literal>),
    BeginsWith(String),
    Contains(String),
    Exists,
}

/// A `{value}`, typed by its field at parse time.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Time(Timestamp),
    Null,
}

impl Expr {
    fn eval(&self, card: &CardView) -> bool {
        match self {
            Self::Or(list) => list.iter().any(|e| e.eval(card)),
            Self::And(list) => list.iter().all(|e| e.eval(card)),
            Self::Not(e) => !e.eval(card),
            Self::Test(field, test) => test.eval(&field.value(card)),
        }
    }
}

impl Test {
    fn eval(&self, v: &Val) -> bool {
        let text = || match v {
            Val::Text(t) => t.as_deref(),
            _ => None,
        };
        match self {
            Self::Compare(Op::Eq, lit) => equal(v, lit),
            Self::Compare(Op::Ne, lit) => !equal(v, lit),
            Self::Compare(op, lit) => order(v, lit).is_some_and(|o| match op {
                Op::Lt => o == Ordering::Less,
                Op::Le => o != Ordering::Greater,
                Op::Gt => o == Ordering::Greater,
                Op::Ge => o != Ordering::Less,
                Op::Eq | Op::Ne => unreachable!("handled above"),
            }),
            Self::Between(lo, hi) => {
                order(v, lo).is_some_and(|o| o != Ordering::Less)
                    && order(v, hi).is_some_and(|o| o != Ordering::Greater)
            }
            Self::In(list) => list.iter().any(|lit| equal(v, lit)),
            Self::BeginsWith(prefix) => text().is_some_and(|t| t.starts_with(prefix.as_str())),
            Self::Contains(part) => text().is_some_and(|t| t.contains(part.as_str())),
            Self::Exists => !matches!(v, Val::Text(None) | Val::Number(None)),
        }
    }
}

fn equal(v: &Val, lit: &Literal) -> bool {
    match (v, lit) {
        (Val::Text(None) | Val::Number(None), Literal::Null) => true,
        (Val::Bool(a), Literal::Bool(b)) => a == b,
        _ => order(v, lit) == Some(Ordering::Equal),
    }
}

fn order(v: &Val, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (Val::Text(Some(a)), Literal::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        (Val::Number(Some(a)), Literal::Number(b)) => a.partial_cmp(b),
        (Val::Time(a), Literal::Time(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

// ---- the tokens ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `${name}`
    Field(String),
    /// `{…}`: the text inside, and whether it was a quoted (JSON) string.
    Value(String, bool),
    Op(Op),
    Word(String),
    Open,
    Close,
    Comma,
}

fn err(what: impl Into<String>, column: usize) -> QueryError {
    QueryError {
        what: what.into(),
        column,
    }
}

/// The tokens with their columns, and the column just past the end.
fn tokens(src: &str) -> Result<(Vec<(Tok, usize)>, usize), QueryError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let two = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => out.push((Tok::Open, col)),
            ')' => out.push((Tok::Close, col)),
            ',' => out.push((Tok::Comma, col)),
            '@' if two == Some('{') => {
                return Err(err("substitutions (@{…}) are not supported", col))
            }
            '$' if two == Some('{') => {
                let end = (i + 2..chars.len())
                    .find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_'))
                    .filter(|&j| chars[j] == '}')
                    .ok_or_else(|| err("a ${field} that is not closed", col))?;
                out.push((Tok::Field(chars[i + 2..end].iter().collect()), col));
                i = end + 1;
                continue;
            }
            '{' => {
                let (token, next) = value_token(&chars, i)?;
                out.push((token, col));
                i = next;
                continue;
            }
            '=' | '!' | '<' | '>' => {
                let (op, len) = match (c, two) {
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('=', _) => (Op::Eq, 1),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('>')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('>', _) => (Op::Gt, 1),
                    _ => return Err(err("an unknown operator", col)),
                };
                out.push((Tok::Op(op), col));
                i += len;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = (i..chars.len())
                    .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_'))
                    .unwrap_or(chars.len());
                let word: String = chars[i..end].iter().collect();
                out.push((Tok::Word(word.to_ascii_lowercase()), col));
                i = end;
                continue;
            }
            _ => return Err(err("an unexpected character", col)),
        }
        i += 1;
    }
    Ok((out, chars.len() + 1))
}

/// `{text}` or `{"a JSON string"}`, from the `{` at `start`; answers the index after `}`.
fn value_token(chars: &[char], start: usize) -> Result<(Tok, usize), QueryError> {
    let col = start + 1;
    let first = (start + 1..chars.len()).find(|&j| !chars[j].is_whitespace());
    if first.is_some_and(|j| chars[j] == '"') {
        let open = first.unwrap_or_default();
        // The closing quote: the first one not escaped.
        let mut j = open + 1;
        while j < chars.len() && chars[j] != '"' {
            j += if chars[j] == '\\' { 2 } else { 1 };
        }
        if j >= chars.len() {
            return Err(err("a quoted {value} that is not closed", col));
        }
        let quoted: String = chars[open..=j].iter().collect();
        let text: String = serde_json::from_str(&quoted)
            .map_err(|_| err("a quoted {value} that is not a JSON string", col))?;
        let close = (j + 1..chars.len())
            .find(|&k| !chars[k].is_whitespace())
            .filter(|&k| chars[k] == '}')
            .ok_or_else(|| err("expected '}' after a quoted {value}", j + 2))?;
        return Ok((Tok::Value(text, true), close + 1));
    }
    let close = (start + 1..chars.len())
        .find(|&j| chars[j] == '}')
        .ok_or_else(|| err("a {value} that is not closed", col))?;
    let text: String = chars[start + 1..close].iter().collect();
    Ok((Tok::Value(text.trim().to_owned(), false), close + 1))
}

// ---- the parser ----------------------------------------------------------------------------

/// Parses a `where` (see the module's grammar).
fn parse(src: &str) -> Result<Expr, QueryError> {
    if src.chars().count() > WHERE_MAX_CHARS {
        return Err(err(
            format!("a where longer than {WHERE_MAX_CHARS} characters"),
            WHERE_MAX_CHARS + 1,
        ));
    }
    let (toks, end) = tokens(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        end,
        depth: 0,
    };
    let expr = p.or()?;
    match p.toks.get(p.at) {
        None => Ok(expr),
        Some((_, col)) => Err(err("expected 'and', 'or' or the end", *col)),
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(t, _)| t)
    }

    fn column(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |(_, c)| *c)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|(t, _)| t.clone());
        self.at += 1;
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == word)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        if self.peek() == Some(&tok) {
            self.at += 1;
            Ok(())
        } else {
            Err(err(format!("expected {what}"), self.column()))
        }
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut list = vec![self.and()?];
        while self.is_word("or") {
            self.at += 1;
            list.push(self.and()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::Or(list)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut list = vec![self.not()?];
        while self.is_word("and") {
            self.at += 1;
            list.push(self.not()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::And(list)
        })
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        self.depth += 1;
        if self.depth > WHERE_MAX_DEPTH {
            return Err(err(
                format!("nesting deeper than {WHERE_MAX_DEPTH} levels"),
                self.column(),
            ));
        }
        let expr = if self.is_word("not") {
            self.at += 1;
            Expr::Not(Box::new(self.not()?))
        } else if self.peek() == Some(&Tok::Open) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Tok::Close, "')'")?;
            inner
        } else {
            self.test()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn test(&mut self) -> Result<Expr, QueryError> {
        let col = self.column();
        match self.next() {
            Some(Tok::Field(_)) => {
                self.at -= 1;
                let field = self.field()?;
                self.comparison(field)
            }
            Some(Tok::Word(w)) => self.function(&w, col),
            _ => Err(err("expected ${field}, a function, 'not' or '('", col)),
        }
    }

    fn field(&mut self) -> Result<Field, QueryError> {
        let col = self.column();
        match self.next() {
            Some(Tok::Field(name)) => FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                    err(
                        format!("an unknown field (the fields: {})", names.join(", ")),
                        col + 2,
                    )
                }),
            _ => Err(err("expected ${field}", col)),
        }
    }

    fn comparison(&mut self, field: Field) -> Result<Expr, QueryError> {
        let col = self.column();
        let test = match self.next() {
            Some(Tok::Op(op)) => {
                let lit = self.value(field)?;
                if lit == Literal::Null && !matches!(op, Op::Eq | Op::Ne) {
                    return Err(err("{null} compares with = or <> only", col));
                }
                Test::Compare(op, lit)
            }
            Some(Tok::Word(w)) if w == "between" => {
                let lo = self.value_not_null(field)?;
                if !self.is_word("and") {
                    return Err(err("expected 'and' in between", self.column()));
                }
                self.at += 1;
                Test::Between(lo, self.value_not_null(field)?)
            }
            Some(Tok::Word(w)) if w == "in" => {
                self.expect(Tok::Open, "'(' after in")?;
                let mut list = vec![self.value(field)?];
                while self.peek() == Some(&Tok::Comma) {
                    self.at += 1;
                    list.push(self.value(field)?);
                }
                self.expect(Tok::Close, "')' after the values of in")?;
                Test::In(list)
            }
            _ => {
                return Err(err(
                    "expected an operator (= <> < <= > >= between in) after the field",
                    col,
                ))
            }
        };
        Ok(Expr::Test(field, test))
    }

    fn function(&mut self, name: &str, col: usize) -> Result<Expr, QueryError> {
        let (negate, test): (bool, fn(String) -> Test) = match name {
            "begins_with" | "begins" => (false, Test::BeginsWith),
            "contains" => (false, Test::Contains),
            "not_contains" => (true, Test::Contains),
            "attribute_exists" | "attribute_not_exists" => {
                self.expect(Tok::Open, "'(' after the function's name")?;
                let field = self.field()?;
                self.expect(Tok::Close, "')'")?;
                let exists = Expr::Test(field, Test::Exists);
                return Ok(if name == "attribute_exists" {
                    exists
                } else {
                    Expr::Not(Box::new(exists))
                });
            }
            _ => {
                return Err(err(
                    "an unknown word (the functions: begins_with, contains, not_contains, \
                     attribute_exists, attribute_not_exists)",
                    col,
                ))
            }
        };
        self.expect(Tok::Open, "'(' after the function's name")?;
        let field_col = self.column();
        let field = self.field()?;
        if field.kind() != Kind::Text {
            return Err(err("this function takes a text field", field_col));
        }
        self.expect(Tok::Comma, "',' after the field")?;
        let text = match self.value_not_null(field)? {
            Literal::Text(t) => t,
            _ => unreachable!("a text field's value is text"),
        };
        self.expect(Tok::Close, "')'")?;
        let expr = Expr::Test(field, test(text));
        Ok(if negate {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn value_not_null(&mut self, field: Field) -> Result<Literal, QueryError> {
        let col = self.column();
        match self.value(field)? {
            Literal::Null => Err(err("{null} compares with = or <> only", col)),
            lit => Ok(lit),
        }
    }

    /// A `{value}`, as the field's kind.
    fn value(&mut self, field: Field) -> Result<Literal, QueryError> {
        let col = self.column();
        let Some(Tok::Value(text, quoted)) = self.next() else {
            return Err(err("expected a {value}", col));
        };
        let bare = !quoted;
        if bare && text == "null" {
            return Ok(Literal::Null);
        }
        let wrong = |kind: &str| err(format!("this field takes {kind}"), col);
        match field.kind() {
            Kind::Text => Ok(Literal::Text(text)),
            Kind::Number => match text.parse::<f64>() {
                Ok(n) if bare && n.is_finite() && is_number(&text) => Ok(Literal::Number(n)),
                _ => Err(wrong("a number, as {5}")),
            },
            Kind::Bool => match (bare, text.as_str()) {
                (true, "true") => Ok(Literal::Bool(true)),
                (true, "false") => Ok(Literal::Bool(false)),
                _ => Err(wrong("{true} or {false}")),
            },
            Kind::Time => instant(&text)
                .map(Literal::Time)
                .ok_or_else(|| wrong("a date (2026-05-01) or an RFC 3339 time")),
        }
    }
}

/// A number written in digits (`5`, `08`, `-1.5`, `2e3`): no `inf`, `NaN` or `+5`.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

fn instant(text: &str) -> Option<Timestamp> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = Timestamp::parse(text, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    );
    date.ok().map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests;
