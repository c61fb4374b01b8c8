//! Who may call what. Deny by default: an operation no rule names is refused, and clients
//! (partners, services) reach nothing — notify's data is people's contact data and messages.

use std::collections::BTreeSet;

use svc_kit::auth::Role;

/// Who calls.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The OIDC subject (a user, or a client's service account).
    pub subject: String,
    /// `None` for clients acting with client credentials.
    pub user_id: Option<String>,
    pub roles: BTreeSet<Role>,
}

impl Caller {
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.holds(Role::Admin)
    }

    /// The user a request about "me" (an empty `user_id`) or about `requested` means, if the
    /// caller may act for them: themselves, or anyone for an admin.
    pub fn whose<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        match requested {
            None => self.user_id.as_deref(),
            Some(user) if self.user_id.as_deref() == Some(user) || self.is_admin() => Some(user),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// One's own preferences and history.
    Own,
    /// Templates, manual messages, every user's deliveries, retries and dead letters.
    Administer,
}

const PEOPLE: &[Role] = &[
    Role::Patient,
    Role::Doctor,
    Role::Nurse,
    Role::Pharmacist,
    Role::Admin,
];

/// Every operation and the roles that may call it (docs/api/notify.md is this table in prose).
const RULES: &[(Operation, &[Role])] = &[
    (Operation::Own, PEOPLE),
    (Operation::Administer, &[Role::Admin]),
];

/// Whether the caller's roles name `operation`.
pub fn allows(operation: Operation, caller: &Caller) -> bool {
    RULES
        .iter()
        .find(|(op, _)| *op == operation)
        .is_some_and(|(_, roles)| roles.iter().any(|r| caller.holds(*r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], user: Option<&str>) -> Caller {
        Caller {
            subject: "s".into(),
            user_id: user.map(str::to_string),
            roles: roles.iter().copied().collect(),
        }
    }

    #[test]
    fn people_reach_their_own_and_admins_everyones() {
        let patient = caller(&[Role::Patient], Some("p1"));
        assert!(allows(Operation::Own, &patient));
        assert!(!allows(Operation::Administer, &patient));
        assert_eq!(patient.whose(None), Some("p1"));
        assert_eq!(patient.whose(Some("p1")), Some("p1"));
        assert_eq!(patient.whose(Some("p2")), None);
        let admin = caller(&[Role::Admin], Some("a"));
        assert_eq!(admin.whose(Some("p2")), Some("p2"));
        // A client holds no person role: nothing.
        let client = caller(&[], None);
        assert!(!allows(Operation::Own, &client));
        assert_eq!(client.whose(None), None);
    }
}
