//! Countries (ISO 3166-1) and their states, provinces and territories (ISO 3166-2) for
//! `GET /v1/countries` and for an address's `countryId`/`stateId`.
//!
//! The data is a checked-in static table (`geo_data.rs`: no parsing at cold start) whose ids
//! never change: a country's id is its ISO 3166-1 numeric code, a state's id was assigned once
//! (Alberta = 1) and is kept forever. The rules for editing it are in that file's header.

use std::sync::OnceLock;

use crate::error::FieldError;

#[rustfmt::skip]
#[path = "geo_data.rs"]
mod data;

#[derive(Debug, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 numeric code: 124 = Canada, 840 = United States.
    pub id: u16,
    pub alpha2: &'static str,
    pub alpha3: &'static str,
    /// ISO's English short name.
    pub name: &'static str,
    /// In id order; empty where ISO defines no subdivisions.
    pub states: &'static [State],
}

#[derive(Debug, PartialEq, Eq)]
pub struct State {
    /// Ours, permanent; unique across all countries.
    pub id: u32,
    /// ISO 3166-2 code, e.g. "CA-AB".
    pub code: &'static str,
    pub name: &'static str,
}

/// Every country, in id order.
pub fn countries() -> &'static [Country] {
    data::COUNTRIES
}

pub fn country(id: u16) -> Option<&'static Country> {
    let countries = countries();
    countries
        .binary_search_by_key(&id, |c| c.id)
        .ok()
        .map(|i| &countries[i])
}

/// A state and the country it belongs to.
pub fn state(id: u32) -> Option<(&'static Country, &'static State)> {
    static INDEX: OnceLock<Vec<(&'static Country, &'static State)>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut all: Vec<_> = countries()
            .iter()
            .flat_map(|c| c.states.iter().map(move |s| (c, s)))
            .collect();
        all.sort_unstable_by_key(|(_, s)| s.id);
        all
    });
    index
        .binary_search_by_key(&id, |(_, s)| s.id)
        .ok()
        .map(|i| index[i])
}

/// Validates an address's ids as the API requires: stateId requires countryId; a state must
/// belong to its country; unknown ids are errors. Returns field-naming errors.
pub fn validate(
    country_id: Option<u64>,
    state_id: Option<u64>,
) -> Result<(Option<&'static Country>, Option<&'static State>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let country = country_id.and_then(|id| {
        let found = u16::try_from(id).ok().and_then(country);
        if found.is_none() {
            errors.push(FieldError::new(
                "countryId",
                format!("countryId {id} is not a known country id"),
            ));
        }
        found
    });
    let state = match (country_id, state_id) {
        (_, None) => None,
        (None, Some(_)) => {
            errors.push(FieldError::new("stateId", "stateId requires countryId"));
            None
        }
        (Some(country_id), Some(id)) => {
            // The usual case first: the state is in the given country's own (short) list.
            let own = country.and_then(|c| c.states.iter().find(|s| u64::from(s.id) == id));
            if own.is_none() {
                match u32::try_from(id).ok().and_then(state) {
                    None => errors.push(FieldError::new(
                        "stateId",
                        format!("stateId {id} is not a known state id"),
                    )),
                    // An unknown country was reported above; a state can't be judged against it.
                    Some(_) if country.is_none() => {}
                    Some(_) => errors.push(FieldError::new(
                        "stateId",
                        format!("stateId {id} does not belong to countryId {country_id}"),
                    )),
                }
            }
            own
        }
    };
    if errors.is_empty() {
        Ok((country, state))
    } else {
        Err(errors)
    }
}

/// How Fusebill shows an address's country and state: the country's alpha-3 code (`CAN`)
/// and the state's name (`Alberta`); empty where absent or unknown.
pub fn names(country_id: Option<u16>, state_id: Option<u32>) -> (String, String) {
    let country = country_id.and_then(country).map_or("", |c| c.alpha3);
    let state = state_id.and_then(state).map_or("", |(_, s)| s.name);
    (country.to_owned(), state.to_owned())
}

/// Best-effort ids for an address Stripe holds, where both values are free text: the country
/// as an alpha-2 code (usually), alpha-3 code or name; the state as its ISO 3166-2 code with or
/// without the country prefix ("AB", "CA-AB") or its name. Anything unrecognised is `None`, and
/// there is no state without a country.
pub fn from_stripe_address(
    country: Option<&str>,
    state: Option<&str>,
) -> (Option<u16>, Option<u32>) {
    let Some(raw) = country.map(str::trim).filter(|c| !c.is_empty()) else {
        return (None, None);
    };
    let lower = raw.to_lowercase();
    let found = countries().iter().find(|c| {
        c.alpha2.eq_ignore_ascii_case(raw)
            || c.alpha3.eq_ignore_ascii_case(raw)
            || c.name.to_lowercase() == lower
    });
    let Some(country) = found else {
        return (None, None);
    };
    let state = state
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|raw| {
            let lower = raw.to_lowercase();
            country
                .states
                .iter()
                .find(|s| {
                    s.code.eq_ignore_ascii_case(raw)
                        || s.code
                            .split_once('-')
                            .is_some_and(|(_, sub)| sub.eq_ignore_ascii_case(raw))
                        || s.name.to_lowercase() == lower
                })
                .map(|s| s.id)
        });
    (Some(country.id), state)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// State ids 1..=GENERATED_MAX_STATE_ID were assigned when geo_data.rs was generated.
    const GENERATED_MAX_STATE_ID: u32 = 5046;
    /// FNV-1a 64 of "{id}:{code}\n" for those ids, in id order. If this test fails, an id was
    /// renumbered, reused or deleted: restore it (see geo_data.rs), don't update the constant.
    const GENERATED_FINGERPRINT: u64 = 0xe719_9e8b_fbb6_718a;

    fn all_states() -> impl Iterator<Item = (&'static Country, &'static State)> {
        countries()
            .iter()
            .flat_map(|c| c.states.iter().map(move |s| (c, s)))
    }

    fn errors(country_id: Option<u64>, state_id: Option<u64>) -> Vec<(String, String)> {
        validate(country_id, state_id)
            .expect_err("expected validation errors")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn err(field: &str, message: &str) -> (String, String) {
        (field.to_owned(), message.to_owned())
    }

    #[test]
    fn canada_is_124_with_alberta_as_state_1() {
        let canada = country(124).expect("Canada");
        assert_eq!(
            (canada.alpha2, canada.alpha3, canada.name),
            ("CA", "CAN", "Canada")
        );
        assert_eq!(canada.states.len(), 13, "10 provinces and 3 territories");
        let (c, alberta) = state(1).expect("state 1");
        assert_eq!(c.id, 124);
        assert_eq!((alberta.code, alberta.name), ("CA-AB", "Alberta"));
        // Fusebill's samples use stateId 9 for Ontario.
        assert_eq!(state(9).map(|(c, s)| (c.id, s.code)), Some((124, "CA-ON")));
    }

    #[test]
    fn united_states_is_840_with_california() {
        let us = country(840).expect("United States");
        assert_eq!((us.alpha2, us.alpha3), ("US", "USA"));
        assert_eq!(us.states.len(), 57, "50 states, DC and 6 outlying areas");
        let california = us.states.iter().find(|s| s.code == "US-CA").expect("US-CA");
        assert_eq!(california.name, "California");
        assert_eq!(state(california.id).map(|(c, _)| c.id), Some(840));
        assert!(us.states.iter().any(|s| s.code == "US-DC"));
        assert!(us.states.iter().any(|s| s.code == "US-PR"));
    }

    #[test]
    fn australia_has_its_states_and_territories() {
        let au = country(36).expect("Australia");
        assert_eq!(au.alpha2, "AU");
        let mut codes: Vec<_> = au.states.iter().map(|s| s.code).collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            ["AU-ACT", "AU-NSW", "AU-NT", "AU-QLD", "AU-SA", "AU-TAS", "AU-VIC", "AU-WA"]
        );
    }

    #[test]
    fn countries_are_sorted_unique_and_well_formed() {
        let all = countries();
        assert_eq!(all.len(), 249);
        assert!(
            all.windows(2).all(|w| w[0].id < w[1].id),
            "sorted by id, no duplicates"
        );
        let mut alpha2 = HashSet::new();
        let mut alpha3 = HashSet::new();
        for c in all {
            assert!((1..=999).contains(&c.id), "{}", c.id);
            assert!(c.alpha2.len() == 2 && c.alpha2.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(c.alpha3.len() == 3 && c.alpha3.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(
                alpha2.insert(c.alpha2) && alpha3.insert(c.alpha3),
                "{}",
                c.alpha2
            );
            assert!(!c.name.is_empty() && c.name.trim() == c.name);
            assert_eq!(country(c.id).map(|f| f.alpha2), Some(c.alpha2));
        }
        assert_eq!(country(0), None);
        assert_eq!(country(999), None);
    }

    #[test]
    fn state_ids_and_codes_are_unique_across_all_countries() {
        let mut ids = HashSet::new();
        let mut codes = HashSet::new();
        for (c, s) in all_states() {
            assert!(s.id >= 1, "{}", s.code);
            assert!(ids.insert(s.id), "duplicate state id {}", s.id);
            assert!(codes.insert(s.code), "duplicate state code {}", s.code);
            assert!(!s.name.is_empty() && s.name.trim() == s.name, "{}", s.code);
            assert_eq!(
                state(s.id).map(|(f, g)| (f.id, g.code)),
                Some((c.id, s.code))
            );
        }
        assert!(ids.len() >= 5000, "{} states", ids.len());
        assert_eq!(state(0), None);
        assert_eq!(state(u32::MAX), None);
    }

    #[test]
    fn every_state_code_starts_with_its_countrys_alpha2() {
        for (c, s) in all_states() {
            let prefix = format!("{}-", c.alpha2);
            assert!(s.code.starts_with(&prefix), "{} under {}", s.code, c.alpha2);
            assert!(s.code.len() > prefix.len(), "{}", s.code);
        }
    }

    #[test]
    fn each_countrys_states_are_in_id_order() {
        for c in countries() {
            assert!(
                c.states.windows(2).all(|w| w[0].id < w[1].id),
                "{}",
                c.alpha2
            );
        }
    }

    #[test]
    fn generated_state_ids_never_change() {
        let mut generated: Vec<_> = all_states()
            .map(|(_, s)| s)
            .filter(|s| s.id <= GENERATED_MAX_STATE_ID)
            .collect();
        generated.sort_unstable_by_key(|s| s.id);
        assert_eq!(
            generated.len(),
            GENERATED_MAX_STATE_ID as usize,
            "an id was deleted"
        );
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for s in generated {
            for b in format!("{}:{}\n", s.id, s.code).bytes() {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(
            hash, GENERATED_FINGERPRINT,
            "a generated state id changed its code"
        );
    }

    #[test]
    fn validate_accepts_neither_a_country_alone_or_both() {
        assert_eq!(validate(None, None), Ok((None, None)));
        let (c, s) = validate(Some(840), None).expect("valid");
        assert_eq!((c.map(|c| c.id), s), (Some(840), None));
        let (c, s) = validate(Some(124), Some(1)).expect("valid");
        assert_eq!(c.map(|c| c.alpha2), Some("CA"));
        assert_eq!(s.map(|s| s.code), Some("CA-AB"));
        let ca_state = country(840)
            .unwrap()
            .states
            .iter()
            .find(|s| s.code == "US-CA")
            .unwrap();
        let (c, s) = validate(Some(840), Some(u64::from(ca_state.id))).expect("valid");
        assert_eq!(
            (c.map(|c| c.id), s.map(|s| s.name)),
            (Some(840), Some("California"))
        );
    }

    #[test]
    fn names_are_empty_where_unknown() {
        assert_eq!(
            names(Some(124), Some(1)),
            ("CAN".to_owned(), "Alberta".to_owned())
        );
        assert_eq!(names(Some(124), None), ("CAN".to_owned(), String::new()));
        assert_eq!(names(None, None), (String::new(), String::new()));
        assert_eq!(names(Some(999), Some(0)), (String::new(), String::new()));
    }

    #[test]
    fn stripe_addresses_map_to_ids() {
        let california = state_id_of("US-CA");
        assert_eq!(
            from_stripe_address(Some("US"), Some("CA")),
            (Some(840), Some(california))
        );
        assert_eq!(
            from_stripe_address(Some("us"), Some("California")),
            (Some(840), Some(california))
        );
        assert_eq!(
            from_stripe_address(Some(" USA "), Some("us-ca")),
            (Some(840), Some(california))
        );
        assert_eq!(
            from_stripe_address(Some("Canada"), Some("ab")),
            (Some(124), Some(1))
        );
        assert_eq!(
            from_stripe_address(Some("CA"), Some("Nowhere")),
            (Some(124), None)
        );
        // A state of another country is not taken.
        assert_eq!(
            from_stripe_address(Some("CA"), Some("US-CA")),
            (Some(124), None)
        );
        assert_eq!(from_stripe_address(Some("ZZ"), Some("CA")), (None, None));
        assert_eq!(from_stripe_address(None, Some("CA")), (None, None));
        assert_eq!(from_stripe_address(Some(""), None), (None, None));
    }

    fn state_id_of(code: &str) -> u32 {
        all_states().find(|(_, s)| s.code == code).expect(code).1.id
    }

    #[test]
    fn validate_requires_a_country_for_a_state() {
        assert_eq!(
            errors(None, Some(1)),
            [err("stateId", "stateId requires countryId")]
        );
    }

    #[test]
    fn validate_rejects_a_state_of_another_country() {
        assert_eq!(
            errors(Some(840), Some(5)),
            [err("stateId", "stateId 5 does not belong to countryId 840")]
        );
    }

    #[test]
    fn validate_rejects_unknown_ids() {
        assert_eq!(
            errors(Some(999), None),
            [err("countryId", "countryId 999 is not a known country id")]
        );
        assert_eq!(
            errors(Some(70_000), None),
            [err(
                "countryId",
                "countryId 70000 is not a known country id"
            )]
        );
        assert_eq!(
            errors(Some(124), Some(9_999_999_999)),
            [err("stateId", "stateId 9999999999 is not a known state id")]
        );
        assert_eq!(
            errors(Some(124), Some(0)),
            [err("stateId", "stateId 0 is not a known state id")]
        );
        // Both unknown: both reported.
        assert_eq!(
            errors(Some(0), Some(999_999)),
            [
                err("countryId", "countryId 0 is not a known country id"),
                err("stateId", "stateId 999999 is not a known state id"),
            ]
        );
        // An unknown country with a real state: only the country is wrong.
        assert_eq!(
            errors(Some(999), Some(1)),
            [err("countryId", "countryId 999 is not a known country id")]
        );
        // A state without a country is reported as such, whatever the state id.
        assert_eq!(
            errors(None, Some(999_999)),
            [err("stateId", "stateId requires countryId")]
        );
    }
}
