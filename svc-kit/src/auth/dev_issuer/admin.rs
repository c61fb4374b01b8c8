//! The part of Keycloak's Admin REST API that svc-accounts uses, served by the dev issuer so
//! the same client code runs in dev, in tests and against Keycloak: create, find, read, update
//! and delete users; read realm roles; add and remove a user's realm-role mappings.
//!
//! Only the `svc-accounts` client may call it, as only its service account holds
//! `realm-management` roles in the realm export.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    DevIssuer, REALM,
    directory::{Conflict, DEFAULT_ROLES, DevUser, Directory, REALM_ROLES},
};

/// The client whose service account may administer users.
pub const ADMIN_CLIENT: &str = "svc-accounts";

/// Keycloak's `UserRepresentation`, the fields we use.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRepresentation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<CredentialRepresentation>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CredentialRepresentation {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub temporary: bool,
}

/// Keycloak's `RoleRepresentation`, the fields we use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRepresentation {
    pub id: String,
    pub name: String,
}

fn role(name: &str) -> RoleRepresentation {
    // Keycloak's role ids are UUIDs; clients must look them up, never assume. Ours differ from
    // the names so a client that confuses the two fails here too.
    RoleRepresentation {
        id: format!("role-{name}"),
        name: name.to_string(),
    }
}

fn known_role(name: &str) -> bool {
    REALM_ROLES.contains(&name) || name == DEFAULT_ROLES
}

fn user_json(user: &DevUser) -> UserRepresentation {
    UserRepresentation {
        id: Some(user.id.clone()),
        username: Some(user.username.clone()),
        email: Some(user.email.clone()).filter(|e| !e.is_empty()),
        first_name: Some(user.first_name.clone()),
        last_name: Some(user.last_name.clone()),
        enabled: Some(user.enabled),
        email_verified: Some(true),
        attributes: Some(user.attributes.clone()),
        credentials: None,
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "errorMessage": message }))).into_response()
}

/// Only a valid token of the admin client gets through; anyone else gets the refusal.
fn refusal(issuer: &DevIssuer, headers: &HeaderMap) -> Option<Response> {
    let unauthorized = || Some(error(StatusCode::UNAUTHORIZED, "HTTP 401 Unauthorized"));
    let Some(token) = crate::auth::bearer_token(headers) else {
        return unauthorized();
    };
    match issuer.verify_own(token) {
        Some(azp) if azp == ADMIN_CLIENT => None,
        Some(_) => Some(error(StatusCode::FORBIDDEN, "HTTP 403 Forbidden")),
        None => unauthorized(),
    }
}

type Issuer = State<Arc<DevIssuer>>;

async fn create_user(
    State(issuer): Issuer,
    headers: HeaderMap,
    Json(rep): Json<UserRepresentation>,
) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    let username = rep.username.unwrap_or_default();
    if username.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "User name is missing");
    }
    let mut user = Directory::blank(username.trim());
    user.email = rep.email.unwrap_or_default();
    user.first_name = rep.first_name.unwrap_or_default();
    user.last_name = rep.last_name.unwrap_or_default();
    user.enabled = rep.enabled.unwrap_or(false);
    user.attributes = rep.attributes.unwrap_or_default();
    let password = rep
        .credentials
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.kind == "password")
        .map(|c| c.value);
    match issuer.directory.create(user, password.as_deref()) {
        Ok(id) => {
            let location = format!("{}/users/{id}", issuer.admin_base());
            (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
        }
        Err(Conflict::Username) => error(StatusCode::CONFLICT, "User exists with same username"),
        Err(Conflict::Email) => error(StatusCode::CONFLICT, "User exists with same email"),
    }
}

#[derive(Debug, Deserialize)]
struct UserQuery {
    username: Option<String>,
}

async fn find_users(
    State(issuer): Issuer,
    headers: HeaderMap,
    Query(query): Query<UserQuery>,
) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    let found: Vec<UserRepresentation> = query
        .username
        .and_then(|u| issuer.directory.by_username(&u))
        .map(|u| user_json(&u))
        .into_iter()
        .collect();
    Json(found).into_response()
}

async fn get_user(State(issuer): Issuer, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    match issuer.directory.get(&id) {
        Some(user) => Json(user_json(&user)).into_response(),
        None => error(StatusCode::NOT_FOUND, "User not found"),
    }
}

async fn update_user(
    State(issuer): Issuer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(rep): Json<UserRepresentation>,
) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    let updated = issuer.directory.update(&id, |user| {
        if let Some(enabled) = rep.enabled {
            user.enabled = enabled;
        }
        if let Some(email) = rep.email {
            user.email = email;
        }
        if let Some(first) = rep.first_name {
            user.first_name = first;
        }
        if let Some(last) = rep.last_name {
            user.last_name = last;
        }
        if let Some(attributes) = rep.attributes {
            user.attributes = attributes;
        }
    });
    if updated {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "User not found")
    }
}

async fn delete_user(
    State(issuer): Issuer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    if issuer.directory.delete(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "User not found")
    }
}

async fn get_role(State(issuer): Issuer, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    if known_role(&name) {
        Json(role(&name)).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "Could not find role")
    }
}

async fn realm_mappings(
    State(issuer): Issuer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = refusal(&issuer, &headers) {
        return denied;
    }
    match issuer.directory.get(&id) {
        Some(user) => {
            let mut roles: Vec<RoleRepresentation> =
                user.realm_roles.iter().map(|r| role(r)).collect();
            roles.push(role(DEFAULT_ROLES));
            Json(roles).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "User not found"),
    }
}

async fn change_mappings(
    issuer: &DevIssuer,
    headers: &HeaderMap,
    id: &str,
    roles: Vec<RoleRepresentation>,
    add: bool,
) -> Response {
    if let Some(denied) = refusal(issuer, headers) {
        return denied;
    }
    // Keycloak resolves mappings by role id.
    let mut names = Vec::new();
    for rep in &roles {
        match rep.id.strip_prefix("role-").filter(|n| known_role(n)) {
            Some(name) => names.push(name.to_string()),
            None => return error(StatusCode::NOT_FOUND, "Could not find role"),
        }
    }
    let changed = issuer.directory.update(id, |user| {
        for name in names {
            if add {
                user.realm_roles.insert(name);
            } else {
                user.realm_roles.remove(&name);
            }
        }
    });
    if changed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "User not found")
    }
}

async fn add_mappings(
    State(issuer): Issuer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(roles): Json<Vec<RoleRepresentation>>,
) -> Response {
    change_mappings(&issuer, &headers, &id, roles, true).await
}

async fn remove_mappings(
    State(issuer): Issuer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(roles): Json<Vec<RoleRepresentation>>,
) -> Response {
    change_mappings(&issuer, &headers, &id, roles, false).await
}

/// The admin routes, under `/admin/realms/medmesh`.
pub fn router() -> Router<Arc<DevIssuer>> {
    let base = format!("/admin/realms/{REALM}");
    Router::new()
        .route(&format!("{base}/users"), get(find_users).post(create_user))
        .route(
            &format!("{base}/users/{{id}}"),
            get(get_user).put(update_user).delete(delete_user),
        )
        .route(
            &format!("{base}/users/{{id}}/role-mappings/realm"),
            get(realm_mappings)
                .post(add_mappings)
                .delete(remove_mappings),
        )
        .route(&format!("{base}/roles/{{name}}"), get(get_role))
}
