//! The caller of the bearer-token APIs and the role policy of the billing card API. The
//! token's signature and claims are checked in `crate::auth::jwt`; what a verified caller
//! may do is decided here.

use super::TenantId;
use crate::error::Error;

/// What a caller may do in the billing card API. The user API needs no role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    User,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "user" => Some(Self::User),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

/// The verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// `sub`: the user, unique within the tenant.
    pub user: String,
    pub account: Option<String>,
    pub role: Option<Role>,
}

impl Principal {
    /// The owner's account: only an `owner` with an `account` claim may change cards.
    pub fn owner_account(&self) -> Result<&str, Error> {
        match (self.role, self.account.as_deref()) {
            (Some(Role::Owner), Some(account)) => Ok(account),
            (Some(Role::Owner), None) => {
                Err(Error::Forbidden("The token names no account.".into()))
            }
            _ => Err(Error::Forbidden(
                "This endpoint is for the account's owner.".into(),
            )),
        }
    }

    /// Only an `admin` may look across the tenant.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self.role {
            Some(Role::Admin) => Ok(()),
            _ => Err(Error::Forbidden(
                "This endpoint is for administrators.".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Option<Role>, account: Option<&str>) -> Principal {
        Principal {
            tenant: TenantId::try_from("t1".to_string()).unwrap(),
            user: "u1".into(),
            account: account.map(str::to_owned),
            role,
        }
    }

    #[test]
    fn only_an_owner_with_an_account_changes_cards() {
        assert_eq!(
            caller(Some(Role::Owner), Some("acc1"))
                .owner_account()
                .unwrap(),
            "acc1"
        );
        for c in [
            caller(Some(Role::Owner), None),
            caller(Some(Role::Admin), Some("acc1")),
            caller(Some(Role::User), Some("acc1")),
            caller(None, Some("acc1")),
        ] {
            assert!(
                matches!(c.owner_account(), Err(Error::Forbidden(_))),
                "{c:?}"
            );
        }
    }

    #[test]
    fn only_an_admin_looks_across_the_tenant() {
        assert!(caller(Some(Role::Admin), None).require_admin().is_ok());
        for role in [Some(Role::Owner), Some(Role::User), None] {
            assert!(matches!(
                caller(role, Some("a")).require_admin(),
                Err(Error::Forbidden(_))
            ));
        }
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for r in [Role::Owner, Role::Admin, Role::User] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(""), None);
    }
}
