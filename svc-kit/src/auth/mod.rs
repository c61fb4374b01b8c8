//! Who is calling: OIDC bearer tokens (Keycloak's shape) validated against the issuer's JWKS,
//! turned into a [`Principal`]. The gateway and every service use the same code; partners
//! reach services directly, so no caller is trusted for being "internal".
//!
//! [`dev_issuer`] is the development OIDC issuer `medmesh dev` runs (and the tests use).

#[cfg(feature = "dev-issuer")]
pub mod dev_issuer;
pub mod grpc;
pub(crate) mod peer;
mod role;
mod service_tokens;
mod validate;

pub use grpc::{
    InvalidBearer, RequireAuth, bearer_token, parse_bearer, request_token, with_bearer,
};
pub use role::{ClientRole, Role};
pub use service_tokens::{ServiceTokenError, ServiceTokens};
pub use validate::{AuthError, AuthSettings, Authenticator};

use std::collections::BTreeSet;

/// The caller, as its validated token describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The OIDC `sub`: a user, or a service account for client-credentials tokens.
    pub subject: String,
    /// Realm roles (`realm_access.roles`) plus, where configured, the client roles.
    pub roles: BTreeSet<String>,
    /// The client the token was issued to (`azp`).
    pub client_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// When the token stops being valid (`exp`, seconds since the epoch); none for principals
    /// not read from a token.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Whether the token carries the platform role `role`.
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(role.as_str())
    }

    pub fn holds_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.holds(*r))
    }

    /// Whether the token is a client's holding `role` (a service or a partner system).
    pub fn is_client(&self, role: ClientRole) -> bool {
        self.roles.contains(role.as_str())
    }

    /// The platform roles the token carries.
    pub fn platform_roles(&self) -> BTreeSet<Role> {
        Role::from_token(&self.roles)
    }

    /// The client roles the token carries (a partner's or a service's client credentials).
    pub fn client_roles(&self) -> BTreeSet<ClientRole> {
        ClientRole::ALL
            .into_iter()
            .filter(|r| self.is_client(*r))
            .collect()
    }

    /// A person signed in (as opposed to a client acting with client credentials): holds one of
    /// the platform's person roles.
    pub fn is_person(&self) -> bool {
        self.holds_any(&Role::ALL)
    }
}

/// Who acted, as an event or a ledger row records it: the subject and every role the caller
/// held, platform roles first, then client roles.
pub fn actor(
    subject: &str,
    roles: &BTreeSet<Role>,
    clients: &BTreeSet<ClientRole>,
) -> medmesh_proto::common::v1::Actor {
    medmesh_proto::common::v1::Actor {
        subject: subject.to_string(),
        roles: roles
            .iter()
            .map(|r| r.as_str().to_string())
            .chain(clients.iter().map(|r| r.as_str().to_string()))
            .collect(),
    }
}

/// The client secret every confidential client has under `medmesh dev` (mode `dev` only; the
/// configuration refuses to fall back to it in production).
pub const DEV_CLIENT_SECRET: &str = "dev-secret";

impl Principal {
    /// A principal for tests and tools: `subject` holding `roles`, through `client_id`.
    pub fn for_roles(subject: &str, roles: &[&str], client_id: &str) -> Principal {
        Principal {
            subject: subject.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            client_id: client_id.to_string(),
            username: None,
            email: None,
            given_name: None,
            family_name: None,
            expires_at: None,
        }
    }
}
