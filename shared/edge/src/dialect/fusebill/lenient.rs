//! Fusebill's request bodies, read as its ASP.NET back end (Json.NET) reads them, so that the
//! documents' own samples work as written: the import document's curl body
//! `{customerId:1,stripeCustomerId:cus_…,stripeCardId:card_…}` and its C# body
//! `{'customerId':1,'stripeCustomerId':'cus_…',…}` are not JSON, but Json.NET takes both.
//!
//! - [`object`] parses strictly first (`serde_json`), and only when that fails with the
//!   tolerant reader [`parse`]: property names unquoted (letters, digits, `_`, `$`), single-
//!   or double-quoted; string values the same, or bare (`cus_123`); `//` and `/* */`
//!   comments; a trailing comma in an object or array; a UTF-8 byte-order mark. Nesting
//!   deeper than [`MAX_DEPTH`] (Json.NET's default) is refused.
//! - [`match_fields`] matches property names to a struct's fields in any case
//!   (`CustomerId`, `customerid`), as Json.NET does; an exact match wins over another case.
//! - [`whole_number`] and [`text`] are the fields' readers: a whole number from a JSON
//!   number or a string of digits (`"5"`), a string from a string or a number, as Json.NET
//!   converts them.
//!
//! No error message quotes the body: syntax errors give a line and column, and field errors
//! name the field, never its value (a card number sent by mistake stays out of answers).

use std::fmt;

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::Error;
use crate::http;

/// Json.NET's default `MaxDepth`: objects and arrays nested deeper are refused.
pub const MAX_DEPTH: usize = 64;

/// Where and why the tolerant reader gave up. Never holds any of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub what: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

impl std::error::Error for SyntaxError {}

/// A Fusebill body as a JSON object: strictly parsed when it is JSON, tolerantly when it
/// is not. A body that neither reads is a 400 from the tolerant reader's point of view.
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    http::json_object(bytes, |b| {
        serde_json::from_slice(b).or_else(|_| parse(b).map_err(|e| e.to_string()))
    })
}

/// A Fusebill body deserialized into `T`: [`object`], then [`match_fields`] against `T`'s
/// field names, then `T`'s own readers (a wrong value is a 400 naming its field).
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let object = match_fields(object(bytes)?, field_names::<T>());
    http::from_value(Value::Object(object))
}

/// Renames each property that matches one of `fields` in another case to that field's
/// name. A property spelled exactly as a field wins over its other spellings; properties
/// that match no field are kept as they are (and ignored by the struct).
pub fn match_fields(object: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut inexact = Vec::new();
    for (name, value) in object {
        match fields.iter().find(|f| same_ignoring_case(f, &name)) {
            Some(field) if *field != name => inexact.push((field.to_string(), value)),
            _ => {
                out.insert(name, value);
            }
        }
    }
    for (field, value) in inexact {
        out.entry(field).or_insert(value);
    }
    out
}

/// Json.NET's `OrdinalIgnoreCase`: each character compared by its simple upper case.
fn same_ignoring_case(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    }
    a.chars().map(fold).eq(b.chars().map(fold))
}

/// The field names a derived `Deserialize` struct reads (after its `rename_all`), taken
/// from the derive itself so that they are never listed twice.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);

    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names read")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> Deserializer<'de> for Names<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut fields));
    fields
}

// ---- the fields' readers ---------------------------------------------------------------

/// An optional whole number, from a JSON number or a string of digits (`5`, `"5"`,
/// `" 5 "`, `5.0`), as Json.NET reads an integer property. Null or an empty string is
/// absent; anything else (a fraction, a negative number, words) is an error naming the
/// field, without its value.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let not_whole = || de::Error::custom("must be a whole number from 0");
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => Ok(Some(n)),
            (None, Some(f)) if f.fract() == 0.0 && (0.0..9.007_199_254_740_992e15).contains(&f) => {
                Ok(Some(f as u64))
            }
            _ => Err(not_whole()),
        },
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let digits = s.strip_prefix('+').unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits.parse().map(Some).map_err(|_| not_whole())
            } else {
                Err(not_whole())
            }
        }
        _ => Err(not_whole()),
    }
}

/// An optional string, from a JSON string, number or boolean, as Json.NET reads a string
/// property. Null is absent; an object or array is an error naming the field.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(de::Error::custom("must be a string")),
    }
}

// ---- the tolerant reader -----------------------------------------------------------------

/// Parses a body as Json.NET would (see the module's notes). Errors carry a position only.
pub fn parse(bytes: &[u8]) -> Result<Value, SyntaxError> {
    let src = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            return Err(Reader::new(valid).at_end("text that is not UTF-8"));
        }
    };
    let mut r = Reader::new(src.strip_prefix('\u{feff}').unwrap_or(src));
    let value = r.value()?;
    r.skip_trivia()?;
    if r.peek().is_some() {
        return Err(r.error("more text after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    depth: usize,
}

/// A character of an unquoted property name, as Json.NET's: a letter, a digit, `_` or `$`.
fn name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A character of an unquoted value: a name's, plus what numbers and ids are made of.
fn bare_char(c: char) -> bool {
    name_char(c) || matches!(c, '-' | '+' | '.')
}

impl<'a> Reader<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, what: &'static str) -> SyntaxError {
        let before = &self.src[..self.pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        SyntaxError {
            what,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    fn at_end(mut self, what: &'static str) -> SyntaxError {
        self.pos = self.src.len();
        self.error(what)
    }

    /// Whitespace (any Unicode white space, as .NET's `char.IsWhiteSpace`) and comments.
    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(), self.peek_second()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => match self.src[self.pos..].find('\n') {
                    Some(i) => self.pos += i + 1,
                    None => self.pos = self.src.len(),
                },
                (Some('/'), Some('*')) => match self.src[self.pos + 2..].find("*/") {
                    Some(i) => self.pos += 2 + i + 2,
                    None => return Err(self.error("a comment that is not closed")),
                },
                (Some('/'), _) => return Err(self.error("a '/' that starts no comment")),
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_trivia()?;
        match self.peek() {
            None => Err(self.error("expected a value")),
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some(q @ ('"' | '\'')) => self.string(q).map(Value::String),
            Some(c) if bare_char(c) => Ok(self.bare_value()),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting deeper than 64 levels"));
        }
        self.bump();
        Ok(())
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        self.enter()?;
        let mut map = Map::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some('}') => break,
                None => return Err(self.error("an object that is not closed")),
                _ => {}
            }
            let name = self.property_name()?;
            self.skip_trivia()?;
            if self.peek() != Some(':') {
                return Err(self.error("expected ':' after a property name"));
            }
            self.bump();
            let value = self.value()?;
            // A name given twice keeps its last value, as Json.NET's does.
            map.insert(name, value);
            self.skip_trivia()?;
            match self.peek() {
                // A trailing comma is fine: the loop then finds the '}'.
                Some(',') => {
                    self.bump();
                }
                Some('}') => break,
                None => return Err(self.error("an object that is not closed")),
                Some(_) => return Err(self.error("expected ',' or '}' after a property")),
            }
        }
        self.bump();
        self.depth -= 1;
        Ok(Value::Object(map))
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some(']') => break,
                None => return Err(self.error("an array that is not closed")),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => break,
                None => return Err(self.error("an array that is not closed")),
                Some(_) => return Err(self.error("expected ',' or ']' after an item")),
            }
        }
        self.bump();
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn property_name(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => self.string(q),
            Some(c) if name_char(c) => {
                let start = self.pos;
                while self.peek().is_some_and(name_char) {
                    self.bump();
                }
                Ok(self.src[start..self.pos].to_owned())
            }
            _ => Err(self.error("expected a property name")),
        }
    }

    /// An unquoted value: `true`, `false`, `null` (`undefined` too, as Json.NET reads it),
    /// a JSON number, or else the word itself as a string (`cus_123`).
    fn bare_value(&mut self) -> Value {
        let start = self.pos;
        while self.peek().is_some_and(bare_char) {
            self.bump();
        }
        let word = &self.src[start..self.pos];
        match word {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" | "undefined" => Value::Null,
            _ => match word.parse::<Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(word.to_owned()),
            },
        }
    }

    /// A string in `quote`s, with JSON's escapes and `\'`. Raw control characters are kept,
    /// as Json.NET keeps them; the fields' own rules refuse them where they matter.
    fn string(&mut self, quote: char) -> Result<String, SyntaxError> {
        self.bump();
        let mut out = String::new();
        loop {
            let c = match self.bump() {
                None => return Err(self.error("a string that is not closed")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\'' | '\\' | '/')) => c,
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('u') => self.unicode_escape()?,
                    None => return Err(self.error("a string that is not closed")),
                    Some(_) => return Err(self.error("an unknown escape sequence")),
                },
                Some(c) => c,
            };
            out.push(c);
        }
    }

    /// `\uXXXX`, and a surrogate pair as two of them. A lone surrogate is refused: it is
    /// no character.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bump() != Some('\\') || self.bump() != Some('u') {
                    return Err(self.error("a lone surrogate in a \\u escape"));
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("a lone surrogate in a \\u escape"));
                }
                0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("a lone surrogate in a \\u escape")),
            other => u32::from(other),
        };
        char::from_u32(code).ok_or_else(|| self.error("a \\u escape that is no character"))
    }

    fn hex4(&mut self) -> Result<u16, SyntaxError> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let digit = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.error("a \\u escape without four hex digits"))?;
            n = n * 16 + digit as u16;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
