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

/// A bearer token whose signature and times were checked, with the issuer and audiences
/// its tenant must trust before it acts for that tenant (`vault::callers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub principal: Principal,
    pub issuer: String,
    pub audiences: Vec<String>,
    /// `iat`, Unix seconds, if the token has one.
    pub issued_at: Option<i64>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

impl Role {
    /// `owner` > `admin` > `user`.
    fn rank(self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::User => 1,
        }
    }

    pub fn at_least(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

/// The billing card API's roles, as EmbedThis defines them: `owner` > `admin` > `user`, each
/// within its own account (the token's `account` claim). A `user` calls no card endpoint.
impl Principal {
    /// The account an `owner` changes cards of (create, remove, updateCurrent).
    pub fn owner_account(&self) -> Result<&str, Error> {
        self.account_at_least(Role::Owner)
    }

    /// The account an `admin` (or `owner`) reads cards of (find, get, getStripe).
    pub fn admin_account(&self) -> Result<&str, Error> {
        self.account_at_least(Role::Admin)
    }

    fn account_at_least(&self, needed: Role) -> Result<&str, Error> {
        match (self.role, self.account.as_deref()) {
            (Some(r), Some(account)) if r.at_least(needed) => Ok(account),
            (Some(r), None) if r.at_least(needed) => {
                Err(Error::Forbidden("The token names no account.".into()))
            }
            _ => Err(Error::Forbidden(format!(
                "This endpoint is for the account's {} or above.",
                needed.as_str()
            ))),
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
    fn admins_and_owners_read_their_own_account_only() {
        for role in [Role::Admin, Role::Owner] {
            assert_eq!(
                caller(Some(role), Some("acc1")).admin_account().unwrap(),
                "acc1"
            );
            assert!(matches!(
                caller(Some(role), None).admin_account(),
                Err(Error::Forbidden(m)) if m.contains("no account")
            ));
        }
        for role in [Some(Role::User), None] {
            assert!(matches!(
                caller(role, Some("a")).admin_account(),
                Err(Error::Forbidden(_))
            ));
        }
    }

    #[test]
    fn roles_rank_owner_admin_user() {
        assert!(Role::Owner.at_least(Role::Admin) && Role::Owner.at_least(Role::User));
        assert!(Role::Admin.at_least(Role::User) && !Role::Admin.at_least(Role::Owner));
        assert!(!Role::User.at_least(Role::Admin) && !Role::User.at_least(Role::Owner));
        for r in [Role::Owner, Role::Admin, Role::User] {
            assert!(r.at_least(r), "{r:?}");
        }
    }

    #[test]
    fn a_role_too_low_is_told_before_a_missing_account() {
        let forbidden = |r: Result<&str, Error>| match r {
            Err(Error::Forbidden(m)) => m,
            other => panic!("expected 403, got {other:?}"),
        };
        // Too low a role, with or without an account: the role is what is wrong.
        for c in [
            caller(Some(Role::Admin), None),
            caller(Some(Role::Admin), Some("acc1")),
            caller(Some(Role::User), None),
            caller(None, None),
        ] {
            assert_eq!(
                forbidden(c.owner_account()),
                "This endpoint is for the account's owner or above.",
                "{c:?}"
            );
        }
        for c in [caller(Some(Role::User), None), caller(None, Some("acc1"))] {
            assert_eq!(
                forbidden(c.admin_account()),
                "This endpoint is for the account's admin or above.",
                "{c:?}"
            );
        }
        // The right role without an account.
        assert_eq!(
            forbidden(caller(Some(Role::Owner), None).owner_account()),
            "The token names no account."
        );
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
