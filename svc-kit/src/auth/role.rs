//! The platform's roles, one typed enum for the services and the gateway: a role is never a
//! string literal outside this file.

use std::{collections::BTreeSet, fmt};

use medmesh_proto::accounts::v1 as pb;

/// A platform role a person can hold (a Keycloak realm role, `realm_access.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Admin,
    Doctor,
    Nurse,
    Pharmacist,
    Patient,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Doctor,
        Role::Nurse,
        Role::Pharmacist,
        Role::Patient,
    ];

    /// The staff roles: everyone who works at a clinic or pharmacy.
    pub const STAFF: [Role; 4] = [Role::Admin, Role::Doctor, Role::Nurse, Role::Pharmacist];

    /// The realm role's name, as in tokens and at the identity provider.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Doctor => "doctor",
            Role::Nurse => "nurse",
            Role::Pharmacist => "pharmacist",
            Role::Patient => "patient",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The platform roles among a token's realm roles (Keycloak adds its own, which are ignored).
    pub fn from_token(roles: &BTreeSet<String>) -> BTreeSet<Role> {
        roles.iter().filter_map(|r| Role::parse(r)).collect()
    }

    /// The role as `medmesh.accounts.v1.Role` carries it.
    pub fn to_proto(self) -> pb::Role {
        match self {
            Role::Admin => pb::Role::Admin,
            Role::Doctor => pb::Role::Doctor,
            Role::Nurse => pb::Role::Nurse,
            Role::Pharmacist => pb::Role::Pharmacist,
            Role::Patient => pb::Role::Patient,
        }
    }

    /// The role a wire value names; `None` for UNSPECIFIED and values this build doesn't know.
    pub fn from_proto(value: i32) -> Option<Role> {
        match pb::Role::try_from(value).ok()? {
            pb::Role::Unspecified => None,
            pb::Role::Admin => Some(Role::Admin),
            pb::Role::Doctor => Some(Role::Doctor),
            pb::Role::Nurse => Some(Role::Nurse),
            pb::Role::Pharmacist => Some(Role::Pharmacist),
            pb::Role::Patient => Some(Role::Patient),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role a client (not a person) holds when it calls with client credentials: a partner
/// system's, or one per MedMesh service, so each service's access table names what each caller
/// may do and a leaked client secret exposes only what that one client needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientRole {
    /// A partner system (another hospital, an insurer).
    Partner,
    /// The gateway's own token: registers anonymous visitors, reads free slots for the live
    /// subscriptions that outlive their caller's token.
    Gateway,
    /// svc-accounts (administers users at the identity provider; reads no other service).
    Accounts,
    /// svc-scheduling: reads a patient's name for a confirmation.
    Scheduling,
    /// svc-pharmacy.
    Pharmacy,
    /// svc-records.
    Records,
    /// svc-notify: reads the contact data it delivers to.
    Notify,
}

impl ClientRole {
    pub const ALL: [ClientRole; 7] = [
        ClientRole::Partner,
        ClientRole::Gateway,
        ClientRole::Accounts,
        ClientRole::Scheduling,
        ClientRole::Pharmacy,
        ClientRole::Records,
        ClientRole::Notify,
    ];

    /// The realm role's name, as in tokens and at the identity provider.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientRole::Partner => "partner",
            ClientRole::Gateway => "svc-gateway",
            ClientRole::Accounts => "svc-accounts",
            ClientRole::Scheduling => "svc-scheduling",
            ClientRole::Pharmacy => "svc-pharmacy",
            ClientRole::Records => "svc-records",
            ClientRole::Notify => "svc-notify",
        }
    }

    pub fn parse(name: &str) -> Option<ClientRole> {
        ClientRole::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The role of MedMesh's own confidential client `client_id` (as the realm export maps
    /// its service account); `None` for any other client.
    pub fn of_service_client(client_id: &str) -> Option<ClientRole> {
        match client_id {
            "medmesh-gateway" => Some(ClientRole::Gateway),
            "svc-accounts" => Some(ClientRole::Accounts),
            "svc-scheduling" => Some(ClientRole::Scheduling),
            "svc-pharmacy" => Some(ClientRole::Pharmacy),
            "svc-records" => Some(ClientRole::Records),
            "svc-notify" => Some(ClientRole::Notify),
            _ => None,
        }
    }
}

impl fmt::Display for ClientRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_not_roles() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("offline_access"), None);
        assert_eq!(Role::parse("Admin"), None);
        let token: BTreeSet<String> = ["doctor", "uma_authorization", "default-roles-medmesh"]
            .map(String::from)
            .into();
        assert_eq!(Role::from_token(&token), [Role::Doctor].into());
        for role in Role::ALL {
            assert_eq!(Role::from_proto(role.to_proto() as i32), Some(role));
        }
        assert_eq!(Role::from_proto(0), None);
        assert_eq!(Role::from_proto(99), None);
        for role in ClientRole::ALL {
            assert_eq!(ClientRole::parse(role.as_str()), Some(role));
            assert_eq!(
                Role::parse(role.as_str()),
                None,
                "no client role is a person's"
            );
        }
        assert_eq!(
            ClientRole::parse("service"),
            None,
            "no role reads for every service"
        );
        assert_eq!(
            ClientRole::of_service_client("svc-notify"),
            Some(ClientRole::Notify)
        );
        assert_eq!(ClientRole::of_service_client("partner-demo"), None);
    }
}
