//! Card data as entered by a cardholder. `CardNumber` and `Cvv` are secrets: their `Debug`
//! never prints them and they have no `Display`. A PAN leaves this type only to be
//! encrypted, fingerprinted or sent to the card verifier (Stripe).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::CardBrand;
use crate::error::Error;

/// A full card number (PAN) that passed Luhn and its brand's length rules.
#[derive(Clone)]
pub struct CardNumber {
    digits: SecretString,
    brand: CardBrand,
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({:?}, ****{})", self.brand, self.last4())
    }
}

impl CardNumber {
    /// Accepts digits with spaces or dashes between them, as people type card numbers.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() {
            return Err("is required");
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must contain only digits");
        }
        let brand = brand_of(&digits).ok_or("is not a card number of a supported brand")?;
        if !brand_lengths(brand).contains(&digits.len()) {
            return Err("has the wrong number of digits for its brand");
        }
        if !luhn_ok(&digits) {
            return Err("is not a valid card number");
        }
        Ok(Self {
            digits: SecretString::from(digits),
            brand,
        })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    pub fn last4(&self) -> String {
        let d = self.digits.expose_secret();
        d[d.len() - 4..].to_owned()
    }

    pub fn first6(&self) -> String {
        self.digits.expose_secret()[..6].to_owned()
    }

    /// The digits, for the encryptor, the fingerprint and the card verifier only.
    pub fn expose(&self) -> &str {
        self.digits.expose_secret()
    }
}

/// The Luhn check over ASCII digits (issued ids fail it, card numbers pass it).
pub fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (true, d2) if d2 > 9 => d2 - 9,
                (true, d2) => d2,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl Error {
    /// Absent, or outside the caller's scope. Built here, beside the card number's check,
    /// so that no not-found message can echo a card number (see [`shown_id`]).
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: shown_id(id.to_string()),
        }
    }
}

/// The id a not-found message repeats: the caller's own id, unless it is not an id at all
/// (any text a path segment can carry) or could be a card number (13 to 19 digits passing
/// the Luhn check), which no answer echoes (the fuzzing's `no_card_echo` found both).
/// Absent and out-of-scope ids go through here alike, so they still answer the same.
fn shown_id(raw: String) -> String {
    let digits = !raw.is_empty() && raw.len() <= 19 && raw.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return "(not an id)".into();
    }
    if raw.len() >= 13 && luhn_ok(&raw) {
        return "(not shown)".into();
    }
    raw
}

fn prefix(digits: &str, n: usize) -> u32 {
    digits.get(..n).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// The brand from the BIN (IIN) ranges the networks publish.
fn brand_of(d: &str) -> Option<CardBrand> {
    let p2 = prefix(d, 2);
    let p3 = prefix(d, 3);
    let p4 = prefix(d, 4);
    let p6 = prefix(d, 6);
    Some(if d.starts_with('4') {
        CardBrand::Visa
    } else if (51..=55).contains(&p2) || (222_100..=272_099).contains(&p6) {
        CardBrand::MasterCard
    } else if p2 == 34 || p2 == 37 {
        CardBrand::AmericanExpress
    } else if p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (622_126..=622_925).contains(&p6)
    {
        CardBrand::Discover
    } else if (3528..=3589).contains(&p4) {
        CardBrand::Jcb
    } else if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 || p3 == 309 {
        CardBrand::Diners
    } else if p2 == 62 || p2 == 81 {
        CardBrand::UnionPay
    } else {
        return None;
    })
}

fn brand_lengths(brand: CardBrand) -> &'static [usize] {
    match brand {
        CardBrand::Visa => &[13, 16, 19],
        CardBrand::MasterCard => &[16],
        CardBrand::AmericanExpress => &[15],
        CardBrand::Discover => &[16, 17, 18, 19],
        CardBrand::Jcb => &[16, 17, 18, 19],
        CardBrand::Diners => &[14, 15, 16, 17, 18, 19],
        CardBrand::UnionPay => &[16, 17, 18, 19],
        CardBrand::Unknown => &[],
    }
}

/// A card verification value, kept as a string so leading zeros survive. Never stored.
#[derive(Clone)]
pub struct Cvv(SecretString);

impl fmt::Debug for Cvv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvv([REDACTED])")
    }
}

impl Cvv {
    /// Three digits, four for American Express.
    pub fn parse(raw: &str, brand: Option<CardBrand>) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is required");
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must contain only digits");
        }
        let want = match brand {
            Some(CardBrand::AmericanExpress) => 4,
            _ => 3,
        };
        if raw.len() != want {
            return Err(if want == 4 {
                "must be 4 digits for American Express"
            } else {
                "must be 3 digits"
            });
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// For the card verifier only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A card's expiry month and four-digit year, not in the past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub month: u8,
    pub year: u16,
}

impl Expiry {
    /// `year` as the transparent redirect takes it: YY (a four-digit year is accepted too).
    pub fn parse(
        month: u64,
        year: u64,
        today: time::Date,
    ) -> Result<Self, (&'static str, &'static str)> {
        if !(1..=12).contains(&month) {
            return Err(("expirationMonth", "expirationMonth must be from 1 to 12"));
        }
        let year = match year {
            0..=99 => 2000 + year,
            2000..=2099 => year,
            _ => return Err(("expirationYear", "expirationYear must be two digits (YY)")),
        };
        let (y, m) = (year as i32, month as u8);
        if (y, m) < (today.year(), u8::from(today.month())) {
            return Err(("expirationYear", "the card has expired"));
        }
        if y > today.year() + 50 {
            return Err(("expirationYear", "expirationYear is too far in the future"));
        }
        Ok(Self {
            month: m,
            year: year as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn luhn_and_brands() {
        for (pan, brand) in [
            ("4242424242424242", CardBrand::Visa),
            ("4222222222222", CardBrand::Visa),
            ("5555555555554444", CardBrand::MasterCard),
            ("2223003122003222", CardBrand::MasterCard),
            ("378282246310005", CardBrand::AmericanExpress),
            ("6011111111111117", CardBrand::Discover),
            ("3566002020360505", CardBrand::Jcb),
            ("36227206271667", CardBrand::Diners),
            ("6200000000000005", CardBrand::UnionPay),
            ("4242 4242-4242 4242", CardBrand::Visa),
        ] {
            let n = CardNumber::parse(pan).unwrap_or_else(|e| panic!("{pan}: {e}"));
            assert_eq!(n.brand(), brand, "{pan}");
        }
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(
            CardNumber::parse("4242424242424241").unwrap_err(),
            "is not a valid card number"
        );
        assert!(
            CardNumber::parse("424242424242424").is_err(),
            "Visa with 15 digits"
        );
        assert!(
            CardNumber::parse("37828224631000").is_err(),
            "Amex with 14 digits"
        );
        assert!(CardNumber::parse("1234567812345670").is_err(), "no brand");
        assert!(CardNumber::parse("4242abcd42424242").is_err());
        assert!(CardNumber::parse("").is_err());
        assert!(
            CardNumber::parse("４２４２４２４２４２４２４２４２").is_err(),
            "fullwidth digits"
        );
    }

    #[test]
    fn debug_shows_only_last4() {
        let n = CardNumber::parse("4242424242424242").unwrap();
        let printed = format!("{n:?}");
        assert!(!printed.contains("424242424242"));
        assert!(printed.ends_with("****4242)"));
        assert_eq!(n.first6(), "424242");
        let cvv = Cvv::parse("012", None).unwrap();
        assert_eq!(format!("{cvv:?}"), "Cvv([REDACTED])");
    }

    #[test]
    fn cvv_keeps_leading_zeros_and_checks_length() {
        assert_eq!(
            Cvv::parse("012", Some(CardBrand::Visa)).unwrap().expose(),
            "012"
        );
        assert_eq!(
            Cvv::parse("0123", Some(CardBrand::AmericanExpress))
                .unwrap()
                .expose(),
            "0123"
        );
        assert_eq!(
            Cvv::parse("0123", Some(CardBrand::Visa)).unwrap_err(),
            "must be 3 digits"
        );
        assert_eq!(
            Cvv::parse("123", Some(CardBrand::AmericanExpress)).unwrap_err(),
            "must be 4 digits for American Express"
        );
        assert!(Cvv::parse("12a", None).is_err());
    }

    #[test]
    fn expiry() {
        let today = date!(2026 - 11 - 23);
        assert_eq!(
            Expiry::parse(11, 26, today),
            Ok(Expiry {
                month: 11,
                year: 2026
            })
        );
        assert_eq!(
            Expiry::parse(2, 30, today),
            Ok(Expiry {
                month: 2,
                year: 2030
            })
        );
        assert!(Expiry::parse(10, 26, today).is_err(), "last month");
        assert!(Expiry::parse(12, 25, today).is_err(), "last year");
        assert_eq!(
            Expiry::parse(0, 30, today).unwrap_err().0,
            "expirationMonth"
        );
        assert_eq!(
            Expiry::parse(13, 30, today).unwrap_err().0,
            "expirationMonth"
        );
        assert!(Expiry::parse(1, 123, today).is_err());
        // Four digits are taken too; 50 years ahead is the furthest.
        assert_eq!(
            Expiry::parse(2, 2030, today),
            Ok(Expiry {
                month: 2,
                year: 2030
            })
        );
        assert!(Expiry::parse(12, 2076, today).is_ok());
        assert_eq!(
            Expiry::parse(1, 2077, today).unwrap_err().1,
            "expirationYear is too far in the future"
        );
        assert_eq!(
            Expiry::parse(1, 2100, today).unwrap_err().1,
            "expirationYear must be two digits (YY)"
        );
    }

    /// Every range of the brand table, by its first digits (the length check is apart).
    #[test]
    fn each_bin_range_names_its_brand() {
        for (bin, brand) in [
            ("6011", CardBrand::Discover),
            ("6500", CardBrand::Discover),
            ("6440", CardBrand::Discover),
            ("6499", CardBrand::Discover),
            ("622126", CardBrand::Discover),
            ("622925", CardBrand::Discover),
            ("3000", CardBrand::Diners),
            ("3050", CardBrand::Diners),
            ("3090", CardBrand::Diners),
            ("3600", CardBrand::Diners),
            ("3800", CardBrand::Diners),
            ("3900", CardBrand::Diners),
            ("3528", CardBrand::Jcb),
            ("3589", CardBrand::Jcb),
            ("5100", CardBrand::MasterCard),
            ("5500", CardBrand::MasterCard),
            ("222100", CardBrand::MasterCard),
            ("272099", CardBrand::MasterCard),
            ("3400", CardBrand::AmericanExpress),
            ("3700", CardBrand::AmericanExpress),
            ("6200", CardBrand::UnionPay),
            ("8100", CardBrand::UnionPay),
        ] {
            assert_eq!(brand_of(&format!("{bin:0<16}")), Some(brand), "{bin}");
        }
        // Just outside Discover's 622126-622925: UnionPay's 62.
        for bin in ["622125", "622926"] {
            assert_eq!(
                brand_of(&format!("{bin:0<16}")),
                Some(CardBrand::UnionPay),
                "{bin}"
            );
        }
        for bin in [
            "6012", "6430", "3060", "3527", "3590", "5000", "5600", "222099", "272100", "3500",
            "6300", "1234",
        ] {
            assert_eq!(brand_of(&format!("{bin:0<16}")), None, "{bin}");
        }
    }
}

#[cfg(test)]
mod not_found_tests {
    use super::*;

    #[test]
    fn not_found_never_echoes_a_card_number_or_arbitrary_text() {
        let msg = |id: &str| Error::not_found("Customer", id).to_string();
        assert_eq!(msg("1325"), "Customer with id 1325 not found.");
        // 16 digits, not Luhn-valid: an id as this service issues them.
        assert_eq!(
            msg("6766169553656379"),
            "Customer with id 6766169553656379 not found."
        );
        for card in ["4242424242424242", "378282246310005", "6766169553656376"] {
            assert!(!msg(card).contains(card), "{card}");
        }
        for junk in ["-1044319656051", "<script>", "12a", ""] {
            let m = msg(junk);
            assert!(!m.contains(junk) || junk.is_empty(), "{m}");
            assert_eq!(m, "Customer with id (not an id) not found.");
        }
    }
}
