//! The identity provider's side of an account: creating the user who registers, mirroring role
//! changes, disabling and deleting users. Keycloak's Admin REST API, called with svc-accounts'
//! own client-credentials token; in dev the dev issuer serves the same API.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use svc_kit::auth::ServiceTokens;

use crate::domain::Role;

/// The user attribute that remembers which registration created a user: the keyed hash of the
/// whole request, its password included. A retry of that very request adopts the user its first
/// attempt created instead of failing on the username; no other request can.
pub const REGISTRATION_ATTRIBUTE: &str = "medmesh_registration";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the identity provider refused the request: {0}")]
    Refused(String),
}

impl IdentityError {
    fn refused(status: reqwest::StatusCode, what: &str) -> IdentityError {
        if status.is_server_error() {
            IdentityError::Unavailable(format!("{what}: HTTP {status}"))
        } else {
            IdentityError::Refused(format!("{what}: HTTP {status}"))
        }
    }
}

/// A user to create.
#[derive(Debug)]
pub struct NewIdentity<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub password: &'a SecretString,
    /// The registration's tag, for [`REGISTRATION_ATTRIBUTE`].
    pub registration: &'a str,
}

/// The user a registration stands for at the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Created now, holding the patient role: its id (the `sub` of its tokens).
    Created(String),
    /// Created by an earlier attempt of the same registration (its attribute says so). Its
    /// roles are as that attempt left them.
    Adopted(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FoundUser {
    id: String,
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct RoleRep {
    id: String,
    name: String,
}

/// A client of the Keycloak Admin REST API for one realm.
#[derive(Debug, Clone)]
pub struct IdentityAdmin {
    base: String,
    http: reqwest::Client,
    tokens: Arc<ServiceTokens>,
}

impl IdentityAdmin {
    /// `issuer` is the realm's issuer URL (`<base>/realms/<realm>`); the admin API is at
    /// `<base>/admin/realms/<realm>`.
    pub fn for_issuer(
        issuer: &str,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<IdentityAdmin, String> {
        let issuer = issuer.trim_end_matches('/');
        let (root, realm) = issuer
            .rsplit_once("/realms/")
            .ok_or_else(|| format!("issuer {issuer:?} is not <base>/realms/<realm>"))?;
        let token_url = format!("{issuer}/protocol/openid-connect/token");
        let tokens =
            ServiceTokens::new(&token_url, client_id, client_secret).map_err(|e| e.to_string())?;
        let http = svc_kit::tls::http_client()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(IdentityAdmin {
            base: format!("{root}/admin/realms/{realm}"),
            http,
            tokens: Arc::new(tokens),
        })
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, IdentityError> {
        let token = self
            .tokens
            .token()
            .await
            .map_err(|e| IdentityError::Unavailable(e.to_string()))?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token.expose_secret()))
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, IdentityError> {
        builder
            .send()
            .await
            .map_err(|e| IdentityError::Unavailable(e.without_url().to_string()))
    }

    /// Creates the user (enabled, with its password) and gives it the patient role. A username
    /// that is taken by the user an earlier attempt of the same registration created (the
    /// same tag) is that user, adopted and left as it is; by anyone else, it is taken.
    pub async fn create_patient(
        &self,
        user: &NewIdentity<'_>,
    ) -> Result<Registered, IdentityError> {
        let body = json!({
            "username": user.username,
            "email": user.email,
            "firstName": user.given_name,
            "lastName": user.family_name,
            "enabled": true,
            "emailVerified": false,
            "attributes": { REGISTRATION_ATTRIBUTE: [user.registration] },
            "credentials": [{
                "type": "password",
                "value": user.password.expose_secret(),
                "temporary": false,
            }],
        });
        let response = self
            .send(
                self.request(reqwest::Method::POST, "/users")
                    .await?
                    .json(&body),
            )
            .await?;
        let status = response.status();
        if status == reqwest::StatusCode::CONFLICT {
            let message = response.text().await.unwrap_or_default();
            return match self.find_own(user.username, user.registration).await? {
                Some(id) => Ok(Registered::Adopted(id)),
                None if message.contains("email") => Err(IdentityError::EmailTaken),
                None => Err(IdentityError::UsernameTaken),
            };
        }
        if status != reqwest::StatusCode::CREATED {
            return Err(IdentityError::refused(status, "create user"));
        }
        let id = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.rsplit('/').next())
            .map(str::to_string)
            .ok_or_else(|| IdentityError::Refused("created user has no location".into()))?;
        self.set_roles(&id, &[Role::Patient].into()).await?;
        Ok(Registered::Created(id))
    }

    /// The user named `username`, if the registration tagged `registration` created it.
    async fn find_own(
        &self,
        username: &str,
        registration: &str,
    ) -> Result<Option<String>, IdentityError> {
        let response = self
            .send(
                self.request(reqwest::Method::GET, "/users")
                    .await?
                    .query(&[("username", username), ("exact", "true")]),
            )
            .await?;
        if !response.status().is_success() {
            return Err(IdentityError::refused(response.status(), "find user"));
        }
        let found: Vec<FoundUser> = response
            .json()
            .await
            .map_err(|e| IdentityError::Refused(e.to_string()))?;
        Ok(found.into_iter().find_map(|u| {
            u.attributes
                .get(REGISTRATION_ATTRIBUTE)
                .is_some_and(|tags| tags.iter().any(|tag| tag == registration))
                .then_some(u.id)
        }))
    }

    /// Makes the user's platform roles exactly `roles`; other realm roles (Keycloak's defaults)
    /// are left alone.
    pub async fn set_roles(&self, id: &str, roles: &BTreeSet<Role>) -> Result<(), IdentityError> {
        self.map_roles(id, roles, true).await
    }

    /// Gives the user `role` if they lack it; whatever else they hold stays.
    pub async fn grant_role(&self, id: &str, role: Role) -> Result<(), IdentityError> {
        self.map_roles(id, &[role].into(), false).await
    }

    /// Maps `roles` to the user; with `exact`, takes their other platform roles away too.
    async fn map_roles(
        &self,
        id: &str,
        roles: &BTreeSet<Role>,
        exact: bool,
    ) -> Result<(), IdentityError> {
        let path = format!("/users/{id}/role-mappings/realm");
        let response = self
            .send(self.request(reqwest::Method::GET, &path).await?)
            .await?;
        if !response.status().is_success() {
            return Err(IdentityError::refused(response.status(), "read roles"));
        }
        let current: Vec<RoleRep> = response
            .json()
            .await
            .map_err(|e| IdentityError::Refused(e.to_string()))?;
        let remove: Vec<RoleRep> = current
            .iter()
            .filter(|r| exact && Role::parse(&r.name).is_some_and(|role| !roles.contains(&role)))
            .cloned()
            .collect();
        let mut add = Vec::new();
        for role in roles {
            if current.iter().any(|r| r.name == role.as_str()) {
                continue;
            }
            let response = self
                .send(
                    self.request(reqwest::Method::GET, &format!("/roles/{role}"))
                        .await?,
                )
                .await?;
            if !response.status().is_success() {
                return Err(IdentityError::refused(response.status(), "read role"));
            }
            add.push(
                response
                    .json::<RoleRep>()
                    .await
                    .map_err(|e| IdentityError::Refused(e.to_string()))?,
            );
        }
        for (method, roles) in [
            (reqwest::Method::POST, add),
            (reqwest::Method::DELETE, remove),
        ] {
            if roles.is_empty() {
                continue;
            }
            let response = self
                .send(self.request(method, &path).await?.json(&roles))
                .await?;
            if !response.status().is_success() {
                return Err(IdentityError::refused(response.status(), "change roles"));
            }
        }
        Ok(())
    }

    /// Enables or disables sign-in for the user.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), IdentityError> {
        let response = self
            .send(
                self.request(reqwest::Method::PUT, &format!("/users/{id}"))
                    .await?
                    .json(&json!({ "enabled": enabled })),
            )
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(IdentityError::refused(s, "update user")),
        }
    }

    /// Deletes the user; one that is already gone is fine.
    pub async fn delete_user(&self, id: &str) -> Result<(), IdentityError> {
        let response = self
            .send(
                self.request(reqwest::Method::DELETE, &format!("/users/{id}"))
                    .await?,
            )
            .await?;
        match response.status() {
            s if s.is_success() || s == reqwest::StatusCode::NOT_FOUND => Ok(()),
            s => Err(IdentityError::refused(s, "delete user")),
        }
    }
}
