//! Accounts in the graph: the caller's profile, registration, and the admin's user management.
//! Every resolver forwards the caller's own bearer token, so svc-accounts decides ownership
//! itself; registration (open to visitors) goes with the gateway's client-credentials token.

use std::sync::Arc;

use async_graphql::{
    Context, Enum, ErrorExtensions, ID, InputObject, Json, Object, Result, SimpleObject,
};
use chrono::{DateTime, Utc};
use medmesh_proto::accounts::v1 as pb;
use pb::accounts_service_client::AccountsServiceClient;
use secrecy::ExposeSecret;
use svc_kit::{
    ServiceName,
    auth::{ServiceTokens, with_bearer},
};
use tonic::transport::Channel;

use crate::{
    clients::ServiceClients,
    errors::{ErrorCode, upstream_error},
    input::PAGE_SIZE,
    schema::RequestAuth,
};

/// The gateway's own client-credentials tokens, for calls made on the platform's behalf.
#[derive(Debug, Clone)]
pub struct PlatformTokens(pub Arc<ServiceTokens>);

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Doctor,
    Nurse,
    Pharmacist,
    Patient,
}

impl Role {
    fn to_proto(self) -> pb::Role {
        match self {
            Role::Admin => pb::Role::Admin,
            Role::Doctor => pb::Role::Doctor,
            Role::Nurse => pb::Role::Nurse,
            Role::Pharmacist => pb::Role::Pharmacist,
            Role::Patient => pb::Role::Patient,
        }
    }

    fn from_proto(value: i32) -> Option<Role> {
        match pb::Role::try_from(value).ok()? {
            pb::Role::Admin => Some(Role::Admin),
            pb::Role::Doctor => Some(Role::Doctor),
            pb::Role::Nurse => Some(Role::Nurse),
            pb::Role::Pharmacist => Some(Role::Pharmacist),
            pb::Role::Patient => Some(Role::Patient),
            pb::Role::Unspecified => None,
        }
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

pub(crate) fn time(ts: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

pub(crate) fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
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

fn client(ctx: &Context<'_>) -> AccountsServiceClient<Channel> {
    AccountsServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Accounts),
    )
}

pub(crate) fn unauthenticated() -> async_graphql::Error {
    async_graphql::Error::new("sign in first").extend_with(|_, e| {
        e.set("code", ErrorCode::Unauthenticated.as_str());
        e.set("service", "gateway");
    })
}

/// `message` with the caller's bearer token.
pub(crate) fn as_caller<T>(ctx: &Context<'_>, message: T) -> Result<tonic::Request<T>> {
    let bearer = ctx
        .data_opt::<RequestAuth>()
        .and_then(|a| a.bearer.as_deref())
        .ok_or_else(unauthenticated)?;
    with_bearer(tonic::Request::new(message), bearer).map_err(|_| unauthenticated())
}

/// `message` with the gateway's own token.
async fn as_platform<T>(ctx: &Context<'_>, message: T) -> Result<tonic::Request<T>> {
    let unavailable = || {
        async_graphql::Error::new("registration is unavailable").extend_with(|_, e| {
            e.set("code", ErrorCode::Unavailable.as_str());
            e.set("service", "gateway");
        })
    };
    let tokens = ctx.data_opt::<PlatformTokens>().ok_or_else(unavailable)?;
    let token = tokens.0.token().await.map_err(|error| {
        tracing::warn!(%error, "no platform token");
        unavailable()
    })?;
    with_bearer(tonic::Request::new(message), token.expose_secret()).map_err(|_| unavailable())
}

fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Accounts, &status)
}

fn page_size(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

#[derive(Debug, Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user's profile (created from the token on first sign-in).
    async fn me(&self, ctx: &Context<'_>) -> Result<Profile> {
        let request = as_caller(ctx, pb::GetMyProfileRequest {})?;
        let profile = client(ctx)
            .get_my_profile(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// A user's profile: your own, or anyone's for admins. Another user's answers NOT_FOUND.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Profile> {
        let request = as_caller(ctx, pb::GetProfileRequest { user_id: id.0 })?;
        let profile = client(ctx).get_profile(request).await.map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: users matching `query` (names, username, email) and `role`, a page at a time.
    async fn users(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        role: Option<Role>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
        #[graphql(default = false)] include_inactive: bool,
    ) -> Result<UserPage> {
        let request = as_caller(
            ctx,
            pb::ListUsersRequest {
                page_size: self::page_size(page_size),
                page_token: page_token.unwrap_or_default(),
                query: query.unwrap_or_default(),
                role: role.map(|r| r.to_proto() as i32).unwrap_or_default(),
                include_inactive,
            },
        )?;
        let page = client(ctx)
            .list_users(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(UserPage {
            users: page.users.into_iter().map(Profile::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Admins: the audit trail of account changes, newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<AuditPage> {
        let request = as_caller(
            ctx,
            pb::ListAuditEventsRequest {
                page_size: self::page_size(page_size),
                page_token: page_token.unwrap_or_default(),
                user_id: user_id.map(|id| id.0).unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_audit_events(request)
            .await
            .map_err(upstream)?
            .into_inner();
        let json = |text: String| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .map(Json)
        };
        Ok(AuditPage {
            events: page
                .events
                .into_iter()
                .map(|e| AuditEvent {
                    id: ID(e.audit_id),
                    at: time(e.at),
                    actor_subject: e.actor_subject,
                    actor_username: non_empty(e.actor_username),
                    action: e.action,
                    user_id: ID(e.user_id),
                    before: json(e.before_json),
                    after: json(e.after_json),
                    reason: non_empty(e.reason),
                })
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Everything svc-accounts holds about you, as JSON.
    async fn my_data_export(&self, ctx: &Context<'_>) -> Result<DataExport> {
        let request = as_caller(ctx, pb::ExportMyDataRequest {})?;
        let export = client(ctx)
            .export_my_data(request)
            .await
            .map_err(upstream)?
            .into_inner();
        let document = serde_json::from_slice(&export.document).unwrap_or_default();
        Ok(DataExport {
            content_type: export.content_type,
            document: Json(document),
        })
    }
}

#[derive(Debug, Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Changes contact fields of your profile (admins: anyone's).
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> Result<Profile> {
        let mut paths = Vec::new();
        let mut take = |name: &str, value: Option<String>| {
            if value.is_some() {
                paths.push(name.to_string());
            }
            value.unwrap_or_default()
        };
        let profile = pb::Profile {
            user_id: input.user_id.map(|id| id.0).unwrap_or_default(),
            version: input.version.unwrap_or_default(),
            email: take("email", input.email),
            phone: take("phone", input.phone),
            given_name: take("given_name", input.given_name),
            family_name: take("family_name", input.family_name),
            preferred_language: take("preferred_language", input.preferred_language),
            time_zone: take("time_zone", input.time_zone),
            ..Default::default()
        };
        let request = as_caller(
            ctx,
            pb::UpdateProfileRequest {
                request_id: input.request_id,
                profile: Some(profile),
                update_mask: Some(prost_types::FieldMask { paths }),
            },
        )?;
        let profile = client(ctx)
            .update_profile(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Creates a patient account (no sign-in needed). It only ever gets the patient role.
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        input: RegisterPatientInput,
    ) -> Result<Profile> {
        let request = as_platform(
            ctx,
            pb::RegisterPatientRequest {
                request_id: input.request_id,
                username: input.username,
                email: input.email,
                given_name: input.given_name,
                family_name: input.family_name,
                phone: input.phone.unwrap_or_default(),
                preferred_language: input.preferred_language.unwrap_or_default(),
                time_zone: input.time_zone.unwrap_or_default(),
                password: input.password,
            },
        )
        .await?;
        let profile = client(ctx)
            .register_patient(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: replaces a user's roles.
    async fn set_roles(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        roles: Vec<Role>,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::SetRolesRequest {
                request_id,
                user_id: user_id.0,
                roles: roles.into_iter().map(|r| r.to_proto() as i32).collect(),
            },
        )?;
        let profile = client(ctx).set_roles(request).await.map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: a doctor works at a clinic in a specialization; a pharmacist at a pharmacy.
    async fn add_affiliation(
        &self,
        ctx: &Context<'_>,
        input: AddAffiliationInput,
    ) -> Result<Profile> {
        let kind = match input.kind {
            AffiliationKind::Doctor => pb::AffiliationKind::Doctor,
            AffiliationKind::Pharmacist => pb::AffiliationKind::Pharmacist,
            AffiliationKind::Nurse => pb::AffiliationKind::Nurse,
        };
        let request = as_caller(
            ctx,
            pb::AddAffiliationRequest {
                request_id: input.request_id,
                user_id: input.user_id.0,
                kind: kind as i32,
                clinic_id: input.clinic_id.unwrap_or_default(),
                specialization: input.specialization.unwrap_or_default(),
                pharmacy_id: input.pharmacy_id.unwrap_or_default(),
            },
        )?;
        let profile = client(ctx)
            .add_affiliation(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: removes one of a user's affiliations.
    async fn remove_affiliation(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        affiliation_id: ID,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::RemoveAffiliationRequest {
                request_id,
                user_id: user_id.0,
                affiliation_id: affiliation_id.0,
            },
        )?;
        let profile = client(ctx)
            .remove_affiliation(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: the user can no longer sign in or act. The reason is audited.
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        reason: String,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::DeactivateUserRequest {
                request_id,
                user_id: user_id.0,
                reason,
            },
        )?;
        let profile = client(ctx)
            .deactivate_user(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Erases your personal data and your sign-in. Returns when it was erased.
    async fn erase_my_account(
        &self,
        ctx: &Context<'_>,
        request_id: String,
    ) -> Result<DateTime<Utc>> {
        let request = as_caller(ctx, pb::EraseMyAccountRequest { request_id })?;
        let erased = client(ctx)
            .erase_my_account(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(time(erased.erased_at).unwrap_or_else(Utc::now))
    }
}
