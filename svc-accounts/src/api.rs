//! The `medmesh.accounts.v1.AccountsService` handlers: who may call (domain::reach), what the
//! request says (parsed into domain values), then one transaction per change holding the
//! change, its audit entry, its event and its idempotency key.

use medmesh_proto::accounts::v1::{self as pb, accounts_service_server::AccountsService};
use prost::Message;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use secrecy::SecretString;
use svc_kit::{
    auth::Principal,
    error::{FieldViolation, invalid_argument},
    events::{NewEvent, Outbox},
    idempotency::{IdempotencyError, IdempotencyKey},
    paging::{bad_page_token, decode_token, next_page, page_size},
};
use tonic::{Request, Response, Status};

use crate::{
    convert::{self, DOCTOR, NURSE, PHARMACIST},
    domain::{self, Email, Name, Operation, Reach, Role},
    identity::{IdentityAdmin, IdentityError, NewIdentity},
    input::{apply_changes, parse_registration},
    store::{self, AffiliationRecord, AuditRecord, UserFilter, UserRecord},
};

const EVENT_PAYLOAD: &str = "medmesh.accounts.v1.UserEvent";

/// The tonic handlers.
#[derive(Debug, Clone)]
pub(crate) struct AccountsApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) identity: IdentityAdmin,
}

fn internal(error: DbErr) -> Status {
    tracing::error!(%error, "accounts database error");
    Status::internal("internal error")
}

fn identity_status(error: IdentityError) -> Status {
    match error {
        IdentityError::UsernameTaken => Status::already_exists("username is already taken"),
        IdentityError::EmailTaken => Status::already_exists("email is already registered"),
        IdentityError::Unavailable(reason) => {
            tracing::warn!(%reason, "identity provider unavailable");
            Status::unavailable(
                "the identity provider is unavailable; retry with the same request_id",
            )
        }
        IdentityError::Refused(reason) => {
            tracing::error!(%reason, "identity provider refused a request");
            Status::internal("internal error")
        }
    }
}

fn idempotency_status(error: IdempotencyError) -> Status {
    match error {
        IdempotencyError::Reused => invalid_argument(&[FieldViolation::new(
            "request_id",
            "was already used for a different request",
        )]),
        IdempotencyError::Db(error) => internal(error),
    }
}

fn check(violations: Vec<FieldViolation>) -> Result<(), Status> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(invalid_argument(&violations))
    }
}

fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    // RequireAuth puts it there; without it the call never reached us.
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("a bearer token is required"))
}

fn allowed(operation: Operation, principal: &Principal) -> Result<Reach, Status> {
    domain::reach(operation, principal)
        .ok_or_else(|| Status::permission_denied("not allowed for this caller"))
}

fn not_found() -> Status {
    Status::not_found("no such user")
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Status> {
    M::decode(bytes).map_err(|_| Status::internal("internal error"))
}

fn user_event(kind: &str, user: &UserRecord, previous: Option<&UserRecord>) -> NewEvent {
    NewEvent::new(
        format!("medmesh.accounts.v1.user.{kind}"),
        "user",
        user.user_id.clone(),
        EVENT_PAYLOAD,
        &convert::user_event(user, previous),
    )
    .with_subject(user.subject.clone())
}

fn audit(
    actor: &Principal,
    action: &str,
    user_id: &str,
    before: Option<&UserRecord>,
    after: Option<&UserRecord>,
    reason: &str,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        audit_id: uuid::Uuid::now_v7().to_string(),
        at: store::now(),
        actor_subject: actor.subject.clone(),
        actor_username: actor.username.clone().unwrap_or_default(),
        action: action.to_string(),
        user_id: user_id.to_string(),
        before: before.map(|u| u.audit_view().to_string()),
        after: after.map(|u| u.audit_view().to_string()),
        reason: reason.to_string(),
    }
}

impl AccountsApi {
    /// The caller's account, refusing a deactivated or erased one: their token outlives the
    /// change by a few minutes, their access must not.
    async fn active_account(&self, principal: &Principal) -> Result<Option<UserRecord>, Status> {
        let account = store::find_by_subject(&self.db, &principal.subject)
            .await
            .map_err(internal)?;
        match account {
            Some(a) if a.erased_at.is_some() => {
                Err(Status::permission_denied("this account was erased"))
            }
            Some(a) if !a.active => Err(Status::permission_denied("this account is deactivated")),
            other => Ok(other),
        }
    }

    /// The account `user_id` names, as the caller may see it: someone else's is NOT_FOUND for a
    /// caller who reaches only their own, as is an erased one.
    async fn target(
        &self,
        principal: &Principal,
        reach: Reach,
        user_id: &str,
    ) -> Result<UserRecord, Status> {
        let own = self.active_account(principal).await?;
        let user_id = if user_id.trim().is_empty() && principal.is_person() {
            match &own {
                Some(own) => own.user_id.clone(),
                None => return Err(not_found()),
            }
        } else {
            domain::check_user_id("user_id", user_id).map_err(|v| invalid_argument(&[v]))?
        };
        if reach == Reach::OwnOnly && own.as_ref().is_none_or(|o| o.user_id != user_id) {
            return Err(not_found());
        }
        match store::find_by_id(&self.db, &user_id)
            .await
            .map_err(internal)?
        {
            Some(user) if user.erased_at.is_none() => Ok(user),
            _ => Err(not_found()),
        }
    }

    async fn begin(&self) -> Result<DatabaseTransaction, Status> {
        self.db.begin().await.map_err(internal)
    }

    /// The first answer to `key`, if there was one.
    async fn replay<M: Message + Default>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<M>, Status> {
        match key.replay(&self.db).await.map_err(idempotency_status)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records `response` under `key` and commits. If a concurrent call with the same key
    /// committed first, its answer is returned instead (this transaction is rolled back).
    async fn commit<M: Message + Default>(
        &self,
        txn: DatabaseTransaction,
        key: &IdempotencyKey,
        response: M,
    ) -> Result<M, Status> {
        let outcome = match key.record(&txn, &response).await {
            Ok(()) => txn.commit().await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => Ok(response),
            Err(error) => match self.replay(key).await? {
                Some(first) => Ok(first),
                None => Err(internal(error)),
            },
        }
    }

    async fn audit(&self, txn: &DatabaseTransaction, entry: AuditRecord) -> Result<(), Status> {
        store::append_audit(txn, &entry).await.map_err(internal)
    }

    async fn enqueue(&self, txn: &DatabaseTransaction, event: NewEvent) -> Result<(), Status> {
        self.outbox
            .enqueue(txn, event)
            .await
            .map(|_| ())
            .map_err(internal)
    }

    async fn reload(&self, txn: &DatabaseTransaction, user_id: &str) -> Result<UserRecord, Status> {
        store::find_by_id(txn, user_id)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)
    }

    /// Saves `after` (whose version is the one it was read at) or answers ABORTED.
    async fn save(&self, txn: &DatabaseTransaction, after: &UserRecord) -> Result<(), Status> {
        if store::save(txn, after).await.map_err(internal)? {
            Ok(())
        } else {
            Err(Status::aborted(
                "the account changed meanwhile; read it again and retry",
            ))
        }
    }

    /// A first sign-in creates the account from the token's claims; later ones keep the roles
    /// and username in step with the identity provider.
    async fn sync_from_claims(&self, principal: &Principal) -> Result<UserRecord, Status> {
        let roles = Role::from_token(&principal.roles);
        let username = principal
            .username
            .clone()
            .unwrap_or_else(|| principal.subject.clone());
        if let Some(mut user) = self.active_account(principal).await? {
            if user.roles == roles && user.username == username {
                return Ok(user);
            }
            let txn = self.begin().await?;
            let previous = user.clone();
            user.roles = roles;
            user.username = username;
            // Losing this race to a concurrent sync is fine: both write the same claims.
            if store::save(&txn, &user).await.map_err(internal)? && previous.roles != user.roles {
                self.enqueue(&txn, user_event("roles_changed", &user, Some(&previous)))
                    .await?;
            }
            txn.commit().await.map_err(internal)?;
            return self.reload_own(principal).await;
        }
        let mut user = UserRecord::new(&principal.subject, &username);
        user.roles = roles;
        if let Some(email) = principal.email.as_deref() {
            user.email = Email::parse("email", email)
                .map(|e| e.as_str().to_string())
                .unwrap_or_default();
        }
        let name = |raw: &Option<String>| {
            raw.as_deref()
                .and_then(|n| Name::parse("name", n).ok())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default()
        };
        user.given_name = name(&principal.given_name);
        user.family_name = name(&principal.family_name);
        let txn = self.begin().await?;
        if store::insert(&txn, &user).await.map_err(internal)? {
            self.enqueue(&txn, user_event("created", &user, None))
                .await?;
        }
        txn.commit().await.map_err(internal)?;
        self.reload_own(principal).await
    }

    async fn reload_own(&self, principal: &Principal) -> Result<UserRecord, Status> {
        store::find_by_subject(&self.db, &principal.subject)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::internal("internal error"))
    }
}

fn key(
    principal: &Principal,
    operation: &'static str,
    request_id: &str,
    request: &impl Message,
) -> Result<IdempotencyKey, Status> {
    IdempotencyKey::new(&principal.subject, operation, request_id, request)
        .map_err(|v| invalid_argument(&[v]))
}

#[tonic::async_trait]
impl AccountsService for AccountsApi {
    async fn get_my_profile(
        &self,
        request: Request<pb::GetMyProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::GetMyProfile, &principal)?;
        let user = self.sync_from_claims(&principal).await?;
        Ok(Response::new(convert::profile(&user)))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::GetProfile, &principal)?;
        let user = self
            .target(&principal, reach, &request.get_ref().user_id)
            .await?;
        Ok(Response::new(convert::profile(&user)))
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
            return Err(invalid_argument(&[FieldViolation::new(
                "update_mask",
                "must name at least one field to change",
            )]));
        }
        let key = key(&principal, "UpdateProfile", &body.request_id, body)?;
        let before = self.target(&principal, reach, &changes.user_id).await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        if changes.version != 0 && changes.version != before.version {
            return Err(Status::aborted(format!(
                "the profile is at version {}, not {}; read it again and retry",
                before.version, changes.version
            )));
        }
        let mut after = before.clone();
        check(apply_changes(&mut after, &changes, &paths))?;
        let txn = self.begin().await?;
        if after.audit_view() != before.audit_view() {
            self.save(&txn, &after).await?;
            self.audit(
                &txn,
                audit(
                    &principal,
                    "profile.updated",
                    &before.user_id,
                    Some(&before),
                    Some(&after),
                    "",
                ),
            )
            .await?;
        }
        let saved = convert::profile(&self.reload(&txn, &before.user_id).await?);
        let response = self.commit(txn, &key, saved).await?;
        Ok(Response::new(response))
    }

    async fn register_patient(
        &self,
        request: Request<pb::RegisterPatientRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::RegisterPatient, &principal)?;
        let body = request.into_inner();
        let registration = parse_registration(&body)?;
        // The password is not part of the fingerprint kept in the database.
        let fingerprinted = pb::RegisterPatientRequest {
            password: String::new(),
            ..body.clone()
        };
        let key = key(
            &principal,
            "RegisterPatient",
            &body.request_id,
            &fingerprinted,
        )?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        let password = SecretString::from(body.password);
        let subject = self
            .identity
            .create_patient(&NewIdentity {
                username: registration.username.as_str(),
                email: registration.email.as_str(),
                given_name: registration.given_name.as_str(),
                family_name: registration.family_name.as_str(),
                password: &password,
                request_id: body.request_id.trim(),
            })
            .await
            .map_err(identity_status)?;
        let txn = self.begin().await?;
        let existing = store::find_by_subject(&txn, &subject)
            .await
            .map_err(internal)?;
        let user = match existing {
            // A first attempt got this far before failing.
            Some(user) => user,
            None => {
                let mut user = UserRecord::new(&subject, registration.username.as_str());
                user.email = registration.email.as_str().to_string();
                user.given_name = registration.given_name.as_str().to_string();
                user.family_name = registration.family_name.as_str().to_string();
                user.phone = registration
                    .phone
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                user.preferred_language = registration
                    .language
                    .map(|l| l.as_str().to_string())
                    .unwrap_or_default();
                user.time_zone = registration
                    .time_zone
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default();
                user.roles = [Role::Patient].into();
                store::insert(&txn, &user).await.map_err(internal)?;
                self.audit(
                    &txn,
                    audit(
                        &principal,
                        "user.registered",
                        &user.user_id,
                        None,
                        Some(&user),
                        "",
                    ),
                )
                .await?;
                self.enqueue(&txn, user_event("registered", &user, None))
                    .await?;
                user
            }
        };
        let response = self.commit(txn, &key, convert::profile(&user)).await?;
        tracing::info!(user_id = %response.user_id, "patient registered");
        Ok(Response::new(response))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::ListUsers, &principal)?;
        self.active_account(&principal).await?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        if let Some(after) = &after {
            domain::check_user_id("page_token", after).map_err(|_| bad_page_token())?;
        }
        let role = match body.role {
            0 => None,
            value => Some(convert::role_from_proto(value).ok_or_else(|| {
                invalid_argument(&[FieldViolation::new("role", "is not a known role")])
            })?),
        };
        let query = body.query.trim();
        if query.chars().count() > 100 {
            return Err(invalid_argument(&[FieldViolation::new(
                "query",
                "must be at most 100 characters",
            )]));
        }
        let filter = UserFilter {
            query: (!query.is_empty()).then(|| query.to_string()),
            role,
            include_inactive: body.include_inactive,
        };
        let mut users = store::list(&self.db, &filter, after.as_deref(), limit + 1)
            .await
            .map_err(internal)?;
        let next_page_token = next_page(&mut users, limit, |u| u.user_id.clone());
        Ok(Response::new(pb::ListUsersResponse {
            users: users.iter().map(convert::profile).collect(),
            next_page_token,
        }))
    }

    async fn set_roles(
        &self,
        request: Request<pb::SetRolesRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::SetRoles, &principal)?;
        let body = request.get_ref();
        let mut roles = std::collections::BTreeSet::new();
        for value in &body.roles {
            match convert::role_from_proto(*value) {
                Some(role) => {
                    roles.insert(role);
                }
                None => {
                    return Err(invalid_argument(&[FieldViolation::new(
                        "roles",
                        format!("{value} is not a known role"),
                    )]));
                }
            }
        }
        if roles.is_empty() {
            return Err(invalid_argument(&[FieldViolation::new(
                "roles",
                "must name at least one role (deactivate a user to take all access away)",
            )]));
        }
        let key = key(&principal, "SetRoles", &body.request_id, body)?;
        if body.user_id.trim().is_empty() {
            return Err(invalid_argument(&[FieldViolation::new(
                "user_id",
                "is required",
            )]));
        }
        let before = self.target(&principal, reach, &body.user_id).await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        if before.subject == principal.subject && !roles.contains(&Role::Admin) {
            return Err(Status::failed_precondition(
                "an admin cannot take the admin role from themselves",
            ));
        }
        if before.roles != roles {
            self.identity
                .set_roles(&before.subject, &roles)
                .await
                .map_err(identity_status)?;
        }
        let txn = self.begin().await?;
        let mut after = self.reload(&txn, &before.user_id).await?;
        let previous = after.clone();
        if after.roles != roles {
            after.roles = roles;
            self.save(&txn, &after).await?;
            self.audit(
                &txn,
                audit(
                    &principal,
                    "roles.set",
                    &after.user_id,
                    Some(&previous),
                    Some(&after),
                    "",
                ),
            )
            .await?;
            self.enqueue(&txn, user_event("roles_changed", &after, Some(&previous)))
                .await?;
        }
        let saved = convert::profile(&self.reload(&txn, &before.user_id).await?);
        Ok(Response::new(self.commit(txn, &key, saved).await?))
    }

    async fn add_affiliation(
        &self,
        request: Request<pb::AddAffiliationRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::AddAffiliation, &principal)?;
        let body = request.get_ref();
        let mut violations = Vec::new();
        let mut field = |name: &str, value: &str, wanted: bool| -> String {
            match (wanted, value.trim().is_empty()) {
                (true, _) => domain::check_reference(name, value).unwrap_or_else(|v| {
                    violations.push(v);
                    String::new()
                }),
                (false, true) => String::new(),
                (false, false) => {
                    violations.push(FieldViolation::new(name, "does not apply to this kind"));
                    String::new()
                }
            }
        };
        let (kind, role) = match pb::AffiliationKind::try_from(body.kind) {
            Ok(pb::AffiliationKind::Doctor) => (DOCTOR, Role::Doctor),
            Ok(pb::AffiliationKind::Pharmacist) => (PHARMACIST, Role::Pharmacist),
            Ok(pb::AffiliationKind::Nurse) => (NURSE, Role::Nurse),
            _ => {
                return Err(invalid_argument(&[FieldViolation::new(
                    "kind",
                    "must be DOCTOR, NURSE or PHARMACIST",
                )]));
            }
        };
        let doctor = role == Role::Doctor;
        let at_clinic = role != Role::Pharmacist;
        let clinic_id = field("clinic_id", &body.clinic_id, at_clinic);
        let pharmacy_id = field("pharmacy_id", &body.pharmacy_id, !at_clinic);
        let specialization = if doctor {
            Name::parse("specialization", &body.specialization)
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|v| {
                    violations.push(v);
                    String::new()
                })
        } else {
            field("specialization", &body.specialization, false)
        };
        check(violations)?;
        let key = key(&principal, "AddAffiliation", &body.request_id, body)?;
        let before = self.target(&principal, reach, &body.user_id).await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        if !before.roles.contains(&role) {
            return Err(Status::failed_precondition(format!(
                "the user must hold the {role} role for this affiliation"
            )));
        }
        let affiliation = AffiliationRecord {
            affiliation_id: uuid::Uuid::now_v7().to_string(),
            kind: kind.to_string(),
            clinic_id,
            specialization,
            pharmacy_id,
            created_at: store::now(),
        };
        let txn = self.begin().await?;
        if store::add_affiliation(&txn, &before.user_id, &affiliation)
            .await
            .map_err(internal)?
        {
            let after = self.reload(&txn, &before.user_id).await?;
            self.audit(
                &txn,
                audit(
                    &principal,
                    "affiliation.added",
                    &before.user_id,
                    Some(&before),
                    Some(&after),
                    "",
                ),
            )
            .await?;
        }
        let saved = convert::profile(&self.reload(&txn, &before.user_id).await?);
        Ok(Response::new(self.commit(txn, &key, saved).await?))
    }

    async fn remove_affiliation(
        &self,
        request: Request<pb::RemoveAffiliationRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::RemoveAffiliation, &principal)?;
        let body = request.get_ref();
        let key = key(&principal, "RemoveAffiliation", &body.request_id, body)?;
        let before = self.target(&principal, reach, &body.user_id).await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        let txn = self.begin().await?;
        if !store::remove_affiliation(&txn, &before.user_id, body.affiliation_id.trim())
            .await
            .map_err(internal)?
        {
            return Err(Status::not_found("the user has no such affiliation"));
        }
        let after = self.reload(&txn, &before.user_id).await?;
        self.audit(
            &txn,
            audit(
                &principal,
                "affiliation.removed",
                &before.user_id,
                Some(&before),
                Some(&after),
                "",
            ),
        )
        .await?;
        Ok(Response::new(
            self.commit(txn, &key, convert::profile(&after)).await?,
        ))
    }

    async fn deactivate_user(
        &self,
        request: Request<pb::DeactivateUserRequest>,
    ) -> Result<Response<pb::Profile>, Status> {
        let principal = caller(&request)?;
        let reach = allowed(Operation::DeactivateUser, &principal)?;
        let body = request.get_ref();
        let reason = domain::check_reason("reason", &body.reason, true)
            .map_err(|v| invalid_argument(&[v]))?;
        let key = key(&principal, "DeactivateUser", &body.request_id, body)?;
        let before = self.target(&principal, reach, &body.user_id).await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(Response::new(first));
        }
        if before.subject == principal.subject {
            return Err(Status::failed_precondition(
                "an admin cannot deactivate themselves",
            ));
        }
        if before.active {
            self.identity
                .set_enabled(&before.subject, false)
                .await
                .map_err(identity_status)?;
        }
        let txn = self.begin().await?;
        let mut after = self.reload(&txn, &before.user_id).await?;
        let previous = after.clone();
        if after.active {
            after.active = false;
            after.deactivation_reason = reason.clone();
            self.save(&txn, &after).await?;
            self.audit(
                &txn,
                audit(
                    &principal,
                    "user.deactivated",
                    &after.user_id,
                    Some(&previous),
                    Some(&after),
                    &reason,
                ),
            )
            .await?;
            self.enqueue(&txn, user_event("deactivated", &after, Some(&previous)))
                .await?;
        }
        let saved = convert::profile(&self.reload(&txn, &before.user_id).await?);
        Ok(Response::new(self.commit(txn, &key, saved).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::ListAuditEvents, &principal)?;
        self.active_account(&principal).await?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let before = decode_token(&body.page_token)?
            .map(|t| t.parse::<i64>().map_err(|_| bad_page_token()))
            .transpose()?;
        let user_id = match body.user_id.trim() {
            "" => None,
            id => Some(domain::check_user_id("user_id", id).map_err(|v| invalid_argument(&[v]))?),
        };
        let mut events = store::list_audit(&self.db, user_id.as_deref(), before, limit + 1)
            .await
            .map_err(internal)?;
        let next_page_token = next_page(&mut events, limit, |e| e.seq.to_string());
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.iter().map(convert::audit_event).collect(),
            next_page_token,
        }))
    }

    async fn export_my_data(
        &self,
        request: Request<pb::ExportMyDataRequest>,
    ) -> Result<Response<pb::ExportMyDataResponse>, Status> {
        let principal = caller(&request)?;
        allowed(Operation::ExportMyData, &principal)?;
        let user = self.sync_from_claims(&principal).await?;
        let history = store::list_audit(&self.db, Some(&user.user_id), None, 10_000)
            .await
            .map_err(internal)?;
        let history: Vec<serde_json::Value> = history
            .iter()
            .rev()
            .map(|e| {
                let by = if e.actor_subject == principal.subject {
                    "you"
                } else {
                    "MedMesh staff or systems"
                };
                serde_json::json!({
                    "at": e.at.to_rfc3339(), "action": e.action, "by": by,
                    "before": e.before.as_deref().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()),
                    "after": e.after.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
                })
            })
            .collect();
        let mut profile = user.audit_view();
        profile["user_id"] = user.user_id.clone().into();
        profile["subject"] = user.subject.clone().into();
        profile["created_at"] = user.created_at.to_rfc3339().into();
        profile["updated_at"] = user.updated_at.to_rfc3339().into();
        let document = serde_json::json!({
            "exported_at": store::now().to_rfc3339(),
            "service": "svc-accounts",
            "profile": profile,
            "account_history": history,
        });
        Ok(Response::new(pb::ExportMyDataResponse {
            document: serde_json::to_vec_pretty(&document).unwrap_or_default(),
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
        if let Some(first) = self.replay::<pb::EraseMyAccountResponse>(&key).await? {
            // The account is erased here; finish at the identity provider if that failed.
            self.identity
                .delete_user(&principal.subject)
                .await
                .map_err(identity_status)?;
            return Ok(Response::new(first));
        }
        let user = self.sync_from_claims(&principal).await?;
        let erased_at = store::now();
        let txn = self.begin().await?;
        let mut after = self.reload(&txn, &user.user_id).await?;
        after.username = "erased".to_string();
        for field in [
            &mut after.email,
            &mut after.phone,
            &mut after.given_name,
            &mut after.family_name,
            &mut after.preferred_language,
            &mut after.time_zone,
            &mut after.deactivation_reason,
        ] {
            field.clear();
        }
        after.active = false;
        after.erased_at = Some(erased_at);
        self.save(&txn, &after).await?;
        store::remove_all_affiliations(&txn, &after.user_id)
            .await
            .map_err(internal)?;
        store::scrub_audit(&txn, &after.user_id)
            .await
            .map_err(internal)?;
        self.audit(
            &txn,
            audit(&principal, "user.erased", &after.user_id, None, None, ""),
        )
        .await?;
        self.enqueue(&txn, user_event("erased", &after, None))
            .await?;
        let response = pb::EraseMyAccountResponse {
            erased_at: Some(convert::timestamp(erased_at)),
        };
        let response = self.commit(txn, &key, response).await?;
        self.identity
            .delete_user(&principal.subject)
            .await
            .map_err(identity_status)?;
        tracing::info!(user_id = %after.user_id, "account erased");
        Ok(Response::new(response))
    }
}
