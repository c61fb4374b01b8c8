//! The accounts part of the graph's types, and their conversions from svc-accounts' messages.

use async_graphql::{Enum, ID, InputObject, Json, SimpleObject};
use chrono::{DateTime, Utc};
use medmesh_proto::accounts::v1 as pb;

use crate::convert::{non_empty, time};

// The GraphQL face of `svc_kit::auth::Role`, converted both ways.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "svc_kit::auth::Role")]
pub enum Role {
    Admin,
    Doctor,
    Nurse,
    Pharmacist,
    Patient,
}

impl Role {
    pub(super) fn to_proto(self) -> pb::Role {
        svc_kit::auth::Role::from(self).to_proto()
    }

    fn from_proto(value: i32) -> Option<Role> {
        svc_kit::auth::Role::from_proto(value).map(Role::from)
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffiliationKind {
    /// A doctor at a clinic, in a specialization.
    Doctor,
    /// A pharmacist at a pharmacy.
    Pharmacist,
    /// A nurse at a clinic.
    Nurse,
}

/// Where a staff member works.
#[derive(SimpleObject, Debug, Clone)]
pub struct Affiliation {
    pub id: ID,
    pub kind: AffiliationKind,
    pub clinic_id: Option<String>,
    pub specialization: Option<String>,
    pub pharmacy_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A user's profile.
#[derive(SimpleObject, Debug, Clone)]
pub struct Profile {
    /// The MedMesh user id.
    pub id: ID,
    /// The identity provider's subject (`sub`).
    pub subject: String,
    pub username: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// BCP 47, e.g. "uk-UA".
    pub preferred_language: Option<String>,
    /// IANA zone, e.g. "Europe/Kyiv".
    pub time_zone: Option<String>,
    pub roles: Vec<Role>,
    pub active: bool,
    pub deactivation_reason: Option<String>,
    pub affiliations: Vec<Affiliation>,
    /// Pass it back in `updateProfile` to refuse overwriting a newer change.
    pub version: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Profile> for Profile {
    fn from(p: pb::Profile) -> Profile {
        Profile {
            id: ID(p.user_id),
            subject: p.subject,
            username: p.username,
            email: non_empty(p.email),
            phone: non_empty(p.phone),
            given_name: non_empty(p.given_name),
            family_name: non_empty(p.family_name),
            preferred_language: non_empty(p.preferred_language),
            time_zone: non_empty(p.time_zone),
            roles: p.roles.into_iter().filter_map(Role::from_proto).collect(),
            active: p.active,
            deactivation_reason: non_empty(p.deactivation_reason),
            affiliations: p
                .affiliations
                .into_iter()
                .filter_map(|a| {
                    let kind = match pb::AffiliationKind::try_from(a.kind).ok()? {
                        pb::AffiliationKind::Doctor => AffiliationKind::Doctor,
                        pb::AffiliationKind::Pharmacist => AffiliationKind::Pharmacist,
                        pb::AffiliationKind::Nurse => AffiliationKind::Nurse,
                        pb::AffiliationKind::Unspecified => return None,
                    };
                    Some(Affiliation {
                        id: ID(a.affiliation_id),
                        kind,
                        clinic_id: non_empty(a.clinic_id),
                        specialization: non_empty(a.specialization),
                        pharmacy_id: non_empty(a.pharmacy_id),
                        created_at: time(a.created_at),
                    })
                })
                .collect(),
            version: p.version,
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

/// One page of users.
#[derive(SimpleObject, Debug)]
pub struct UserPage {
    pub users: Vec<Profile>,
    /// Pass as `pageToken` for the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// One change to an account.
#[derive(SimpleObject, Debug)]
pub struct AuditEvent {
    pub id: ID,
    pub at: Option<DateTime<Utc>>,
    pub actor_subject: String,
    pub actor_username: Option<String>,
    /// e.g. "roles.set", "user.deactivated".
    pub action: String,
    pub user_id: ID,
    pub before: Option<Json<serde_json::Value>>,
    pub after: Option<Json<serde_json::Value>>,
    pub reason: Option<String>,
}

#[derive(SimpleObject, Debug)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_page_token: Option<String>,
}

/// Everything svc-accounts holds about the caller.
#[derive(SimpleObject, Debug)]
pub struct DataExport {
    pub content_type: String,
    pub document: Json<serde_json::Value>,
}

/// Contact fields to change; the ones left out stay as they are. An empty `phone`,
/// `preferredLanguage` or `timeZone` clears it.
#[derive(InputObject, Debug)]
pub struct UpdateProfileInput {
    /// Idempotency key: the same key on a retry returns the first answer.
    pub request_id: String,
    /// Whose profile (admins); the caller's own when absent.
    pub user_id: Option<ID>,
    /// The version read; a newer one on the server refuses the change with CONFLICT.
    pub version: Option<i64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_language: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct RegisterPatientInput {
    pub request_id: String,
    pub username: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    /// At least 12 characters; handed to the identity provider, never stored by MedMesh.
    #[graphql(secret)]
    pub password: String,
    pub phone: Option<String>,
    pub preferred_language: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(InputObject, Debug)]
pub struct AddAffiliationInput {
    pub request_id: String,
    pub user_id: ID,
    pub kind: AffiliationKind,
    pub clinic_id: Option<String>,
    pub specialization: Option<String>,
    pub pharmacy_id: Option<String>,
}
