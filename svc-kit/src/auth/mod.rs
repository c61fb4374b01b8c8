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
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        roles.iter().any(|r| self.has_role(r))
    }
}
