//! Who is calling: OIDC bearer tokens (Keycloak's shape) validated against the issuer's JWKS,
//! turned into a [`Principal`]. The gateway and every service use the same code; partners
//! reach services directly, so no caller is trusted for being "internal".
//!
//! [`dev_issuer`] is the development OIDC issuer `medmesh dev` runs (and the tests use).

pub mod dev_issuer;
pub mod grpc;
mod service_tokens;
mod validate;

pub use grpc::{RequireAuth, bearer_token, parse_bearer};
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
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        roles.iter().any(|r| self.has_role(r))
    }

    /// A person signed in (as opposed to a client acting with client credentials): holds one of
    /// the platform's person roles.
    pub fn is_person(&self) -> bool {
        self.has_any_role(&PERSON_ROLES)
    }
}

/// The realm roles a person can hold.
pub const PERSON_ROLES: [&str; 5] = ["admin", "doctor", "nurse", "pharmacist", "patient"];

/// The realm role of MedMesh's own services acting with client credentials.
pub const SERVICE_ROLE: &str = "service";
/// The realm role of partner systems' clients.
pub const PARTNER_ROLE: &str = "partner";

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
        }
    }
}
