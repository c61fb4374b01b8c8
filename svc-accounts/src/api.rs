//! The `medmesh.accounts.v1.AccountsService` adapters: who calls, what the request says
//! (parsed into domain values), the use case, and its answer as a message. Every error is an
//! [`AccountsError`], turned into a status in one place.

use std::{collections::BTreeSet, net::IpAddr};

use medmesh_proto::accounts::v1::{self as pb, accounts_service_server::AccountsService};
use prost::Message;
use secrecy::SecretString;
use svc_kit::{
    ApiError,
    auth::{ClientRole, Principal},
    error::FieldViolation,
    idempotency::IdempotencyKey,
    paging::{bad_page_token, decode_token, next_page, page_size},
};
use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    app::{AccountsApp, NewPatient, ProfileUpdate, UserQuery, allowed},
    convert,
    domain::{self, Operation, Reach, Role},
    error::AccountsError,
    input::{parse_affiliation, parse_registration},
    store::UserFilter,
};

/// The metadata in which the gateway names the address of the visitor it registers for
/// (gateway-graphql's accounts module sets it). Believed from the gateway's own token only.
pub(crate) const CLIENT_ADDRESS_HEADER: &str = "x-medmesh-client-address";

/// The tonic service.
#[derive(Debug, Clone)]
pub(crate) struct AccountsApi {
    pub(crate) app: AccountsApp,
}

fn caller<T>(request: &Request<T>) -> Result<Principal, AccountsError> {
    // RequireAuth puts it there; without it the call never reached us.
    Ok(request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(ApiError::Unauthenticated)?)
}

fn key(
    principal: &Principal,
    operation: &'static str,
    request_id: &str,
    request: &impl Message,
) -> Result<IdempotencyKey, AccountsError> {
    Ok(IdempotencyKey::new(
        &principal.subject,
        operation,
        request_id,
        request,
    )?)
}

/// Whose registrations a `request_id` is unique among: the caller's. The gateway registers every
/// visitor under its own identity, so for the gateway the visitor's address it names (kept as a
/// keyed hash) narrows the scope to that visitor. An address named by anyone else is ignored: a
/// partner must not pick another caller's scope.
fn registration_scope(
    app: &AccountsApp,
    principal: &Principal,
    metadata: &MetadataMap,
) -> Result<String, AccountsError> {
    let gateway = principal.is_client(ClientRole::Gateway) && !principal.is_person();
    let Some(named) = metadata.get(CLIENT_ADDRESS_HEADER).filter(|_| gateway) else {
        return Ok(principal.subject.clone());
    };
    let address: IpAddr = named
        .to_str()
        .ok()
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| FieldViolation::new(CLIENT_ADDRESS_HEADER, "must be an IP address"))?;
    Ok(format!(
        "{}/client:{}",
        principal.subject,
        app.registrations.client_address(address)
    ))
}

fn optional_user_id(raw: &str) -> Result<Option<String>, AccountsError> {
    match raw.trim() {
        "" => Ok(None),
        id => Ok(Some(domain::check_user_id("user_id", id)?)),
    }
}

impl AccountsApi {
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<pb::ListUsersResponse, AccountsError> {
        let principal = caller(&request)?;
        allowed(Operation::ListUsers, &principal)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        if let Some(after) = &after {
            domain::check_user_id("page_token", after).map_err(|_| bad_page_token())?;
        }
        let role = match body.role {
            0 => None,
            value => Some(
                Role::from_proto(value)
                    .ok_or_else(|| FieldViolation::new("role", "is not a known role"))?,
            ),
        };
        let query = body.query.trim();
        if query.chars().count() > 100 {
            return Err(FieldViolation::new("query", "must be at most 100 characters").into());
        }
        let query = UserQuery {
            filter: UserFilter {
                query: (!query.is_empty()).then(|| query.to_string()),
                role,
                include_inactive: body.include_inactive,
            },
            after,
            limit,
        };
        let mut users = self.app.list_users(&principal, &query).await?;
        let next_page_token = next_page(&mut users, limit, |u| u.user_id.clone());
        Ok(pb::ListUsersResponse {
            users: users.iter().map(convert::profile).collect(),
            next_page_token,
        })
    }

    async fn set_roles(
        &self,
        request: Request<pb::SetRolesRequest>,
    ) -> Result<pb::Profile, AccountsError> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::SetRoles, &principal)?;
        let body = request.get_ref();
        let mut roles = BTreeSet::new();
        for value in &body.roles {
            let role = Role::from_proto(*value).ok_or_else(|| {
                FieldViolation::new("roles", format!("{value} is not a known role"))
            })?;
            roles.insert(role);
        }
        if roles.is_empty() {
            return Err(FieldViolation::new(
                "roles",
                "must name at least one role (deactivate a user to take all access away)",
            )
            .into());
        }
        let key = key(&principal, "SetRoles", &body.request_id, body)?;
        if body.user_id.trim().is_empty() {
            return Err(FieldViolation::new("user_id", "is required").into());
        }
        self.app
            .set_roles(&principal, reach, &key, &body.user_id, roles)
            .await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<pb::ListAuditEventsResponse, AccountsError> {
        let principal = caller(&request)?;
        allowed(Operation::ListAuditEvents, &principal)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let before = decode_token(&body.page_token)?
            .map(|t| t.parse::<i64>().map_err(|_| bad_page_token()))
            .transpose()?;
        let user_id = optional_user_id(&body.user_id)?;
        let mut events = self
            .app
            .list_audit_events(&principal, user_id.as_deref(), before, limit)
            .await?;
        let next_page_token = next_page(&mut events, limit, |e| e.seq.to_string());
        Ok(pb::ListAuditEventsResponse {
            events: events.iter().map(convert::audit_event).collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl AccountsService for AccountsApi {
    async fn get_my_profile(
        &self,
        request: Request<pb::GetMyProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::GetMyProfile, &principal)?;
        let user = self.app.sync_from_claims(&principal).await?;
        Ok(Response::new(convert::profile(&user)))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::GetProfile, &principal)?;
        let user = self
            .app
            .get_profile(&principal, reach, &request.get_ref().user_id)
            .await?;
        let profile = convert::profile(&user);
        Ok(Response::new(if reach == Reach::NamesOnly {
            convert::names_only(profile)
        } else {
            profile
        }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::UpdateProfile, &principal)?;
        let body = request.get_ref();
        let changes = body.profile.clone().unwrap_or_default();
        let paths = body
            .update_mask
            .as_ref()
            .map(|m| m.paths.clone())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(AccountsError::from(FieldViolation::new(
                "update_mask",
                "must name at least one field to change",
            ))
            .into());
        }
        let key = key(&principal, "UpdateProfile", &body.request_id, body)?;
        let update = ProfileUpdate {
            user_id: changes.user_id.clone(),
            version: changes.version,
            changes,
            paths,
        };
        let profile = self
            .app
            .update_profile(&principal, reach, &key, update)
            .await?;
        Ok(Response::new(profile))
    }

    async fn register_patient(
        &self,
        request: Request<pb::RegisterPatientRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::RegisterPatient, &principal)?;
        let scope = registration_scope(&self.app, &principal, request.metadata())?;
        let mut body = request.into_inner();
        let registration = parse_registration(&body)?;
        // Out of the message at once: from here on only its keyed hash is in the fingerprint.
        let password = SecretString::from(std::mem::take(&mut body.password));
        let fingerprint = self.app.registrations.registration(&body, &password);
        let key = IdempotencyKey::new(
            &scope,
            "RegisterPatient",
            &body.request_id,
            &fingerprint.request,
        )
        .map_err(AccountsError::from)?;
        let patient = NewPatient {
            registration,
            password,
            tag: fingerprint.tag,
        };
        let profile = self.app.register_patient(&principal, &key, patient).await?;
        Ok(Response::new(profile))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        Ok(Response::new(AccountsApi::list_users(self, request).await?))
    }

    async fn set_roles(
        &self,
        request: Request<pb::SetRolesRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        Ok(Response::new(AccountsApi::set_roles(self, request).await?))
    }

    async fn add_affiliation(
        &self,
        request: Request<pb::AddAffiliationRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::AddAffiliation, &principal)?;
        let body = request.get_ref();
        let affiliation = parse_affiliation(body)?;
        let key = key(&principal, "AddAffiliation", &body.request_id, body)?;
        let profile = self
            .app
            .add_affiliation(&principal, reach, &key, &body.user_id, affiliation)
            .await?;
        Ok(Response::new(profile))
    }

    async fn remove_affiliation(
        &self,
        request: Request<pb::RemoveAffiliationRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::RemoveAffiliation, &principal)?;
        let body = request.get_ref();
        let key = key(&principal, "RemoveAffiliation", &body.request_id, body)?;
        let profile = self
            .app
            .remove_affiliation(
                &principal,
                reach,
                &key,
                &body.user_id,
                body.affiliation_id.trim(),
            )
            .await?;
        Ok(Response::new(profile))
    }

    async fn deactivate_user(
        &self,
        request: Request<pb::DeactivateUserRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::DeactivateUser, &principal)?;
        let body = request.get_ref();
        let reason =
            domain::check_reason("reason", &body.reason, true).map_err(AccountsError::from)?;
        let key = key(&principal, "DeactivateUser", &body.request_id, body)?;
        let profile = self
            .app
            .deactivate_user(&principal, reach, &key, &body.user_id, &reason)
            .await?;
        Ok(Response::new(profile))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        Ok(Response::new(
            AccountsApi::list_audit_events(self, request).await?,
        ))
    }

    async fn export_my_data(
        &self,
        request: Request<pb::ExportMyDataRequest>,
    ) -> Result<Response<pb::ExportMyDataResponse>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::ExportMyData, &principal)?;
        let document = self.app.export_my_data(&principal).await?;
        let document = serde_json::to_vec_pretty(&document)
            .map_err(|e| AccountsError::from(ApiError::internal(e.to_string())))?;
        Ok(Response::new(pb::ExportMyDataResponse {
            document,
            content_type: "application/json".to_string(),
        }))
    }

    async fn erase_my_account(
        &self,
        request: Request<pb::EraseMyAccountRequest>,
    ) -> Result<Response<pb::EraseMyAccountResponse>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::EraseMyAccount, &principal)?;
        let body = request.get_ref();
        let key = key(&principal, "EraseMyAccount", &body.request_id, body)?;
        let response = self.app.erase_my_account(&principal, &key).await?;
        Ok(Response::new(response))
    }
}
