use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A short piece of user-supplied text: trimmed, bounded, and free of control and
/// invisible format characters (which only ever arrive by mistake or by malice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    /// `None` for an absent or blank value; an error naming `field` for a bad one.
    pub fn parse_optional(
        field: &str,
        raw: Option<&str>,
        max_chars: usize,
    ) -> Result<Option<Self>, FieldError> {
        let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if value.chars().count() > max_chars {
            return Err(FieldError::new(
                field,
                format!("{field} must be at most {max_chars} characters"),
            ));
        }
        if value.chars().any(is_forbidden) {
            return Err(FieldError::new(
                field,
                format!("{field} contains control or invisible characters"),
            ));
        }
        Ok(Some(Self(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For text from a trusted system (Stripe) rather than a caller: unwanted characters
    /// are dropped and overlong values cut, instead of failing the request.
    pub fn from_external(raw: Option<&str>, max_chars: usize) -> Option<Self> {
        let cleaned: String = raw?
            .chars()
            .filter(|c| !is_forbidden(*c))
            .take(max_chars)
            .collect();
        let trimmed = cleaned.trim();
        (!trimmed.is_empty()).then(|| Self(trimmed.to_owned()))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width and direction marks
            | '\u{202A}'..='\u{202E}' // bidi embedding and override
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // byte order mark
            | '\u{FFF9}'..='\u{FFFB}')
}

/// Non-empty, at most `max` bytes, no surrounding spaces, no control characters and no
/// invisible or direction-changing ones: safe in keys and logs, and shown as it is. A
/// token's claims are read with it (`auth::jwt`), and so what a tenant trusts is set with it.
pub fn plain_text(s: &str, max: usize) -> bool {
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}');
    !s.is_empty()
        && s.trim() == s
        && s.len() <= max
        && !s.chars().any(|c| c.is_control() || invisible(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_treats_blank_as_absent() {
        assert_eq!(Text::parse_optional("f", Some("  "), 5), Ok(None));
        assert_eq!(Text::parse_optional("f", None, 5), Ok(None));
        let t = Text::parse_optional("f", Some(" Zoë "), 5)
            .unwrap()
            .unwrap();
        assert_eq!(t.as_str(), "Zoë");
        assert_eq!(String::from(t), "Zoë");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(Text::parse_optional("f", Some("ééééé"), 5).is_ok());
        let err = Text::parse_optional("firstName", Some("éééééé"), 5).unwrap_err();
        assert_eq!(err.field, "firstName");
        assert!(err.message.contains("firstName"));
    }

    #[test]
    fn rejects_control_and_bidi_characters() {
        for bad in ["a\u{0}b", "a\nb", "a\u{202E}b", "\u{FEFF}a", "a\u{200B}"] {
            assert!(Text::parse_optional("f", Some(bad), 50).is_err(), "{bad:?}");
        }
    }
}
