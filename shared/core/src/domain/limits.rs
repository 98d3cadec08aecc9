//! Field limits, as the source documents give them, in bytes of UTF-8.

/// A first or last name, a card's nickname, a customer's name fields.
pub const NAME_MAX: usize = 50;
/// An address line or a city.
pub const ADDRESS_MAX: usize = 50;
/// A postal or ZIP code.
pub const POSTAL_MAX: usize = 10;
/// A token issuer (`iss`), as tokens carry it and tenants trust it.
pub const ISSUER_MAX: usize = 512;
