//! Accounts' use cases: one function per operation, taking the caller and typed input and
//! returning the result. Each change runs through svc-kit's write helper (one transaction
//! holding the change, its audit entry, its event and its idempotency answer, run again on
//! contention); the identity provider is called outside it, and undone when the local
//! change fails.

mod admin;
mod profile;
mod registration;

use medmesh_proto::accounts::v1 as pb;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use svc_kit::{
    auth::Principal,
    events::{NewEvent, Outbox},
};

pub(crate) use self::{admin::UserQuery, profile::ProfileUpdate, registration::NewPatient};
use crate::{
    convert,
    domain::{self, Operation, Reach},
    error::AccountsError,
    fingerprint::RegistrationHasher,
    identity::IdentityAdmin,
    store::{self, AuditRecord, UserRecord},
};

const EVENT_PAYLOAD: &str = "medmesh.accounts.v1.UserEvent";

/// What the use cases work with.
#[derive(Debug, Clone)]
pub(crate) struct AccountsApp {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) identity: IdentityAdmin,
    pub(crate) registrations: RegistrationHasher,
}

/// Whom the caller may act on for `operation`; PERMISSION_DENIED if no one.
pub(crate) fn allowed(operation: Operation, caller: &Principal) -> Result<Reach, AccountsError> {
    domain::reach(operation, caller).ok_or_else(|| svc_kit::ApiError::denied().into())
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

/// One audit entry: who did what to whom, the account before and after, and why.
struct Audit<'a> {
    actor: &'a Principal,
    action: &'static str,
    user_id: &'a str,
    before: Option<&'a UserRecord>,
    after: Option<&'a UserRecord>,
    reason: &'a str,
}

impl Audit<'_> {
    async fn append(self, txn: &DatabaseTransaction) -> Result<(), AccountsError> {
        let entry = AuditRecord {
            seq: 0,
            audit_id: uuid::Uuid::now_v7().to_string(),
            at: store::now(),
            actor_subject: self.actor.subject.clone(),
            actor_username: self.actor.username.clone().unwrap_or_default(),
            action: self.action.to_string(),
            user_id: self.user_id.to_string(),
            before: self.before.map(|u| u.audit_view().to_string()),
            after: self.after.map(|u| u.audit_view().to_string()),
            reason: self.reason.to_string(),
        };
        Ok(store::append_audit(txn, &entry).await?)
    }
}

/// The stored account `user_id`, erased ones included; NOT_FOUND if there is none.
async fn reload<C: ConnectionTrait>(conn: &C, user_id: &str) -> Result<UserRecord, AccountsError> {
    store::find_by_id(conn, user_id)
        .await?
        .ok_or(AccountsError::NoSuchUser)
}

/// Saves `after` (whose version is the one it was read at); a row that moved on meanwhile runs
/// the change again.
async fn save(txn: &DatabaseTransaction, after: &UserRecord) -> Result<(), AccountsError> {
    if store::save(txn, after).await? {
        Ok(())
    } else {
        Err(AccountsError::ChangedMeanwhile)
    }
}

/// What a change to an account is called in the audit trail and the event stream.
struct Change<'a> {
    action: &'static str,
    /// The event kind (`medmesh.accounts.v1.user.<kind>`), if the change is one others hear of.
    event: Option<&'static str>,
    reason: &'a str,
}

impl AccountsApp {
    /// Reads the account inside `txn`, lets `apply` change it, and if anything changed saves
    /// it with its audit entry and event. Answers the profile as stored.
    async fn change_user(
        &self,
        txn: &DatabaseTransaction,
        principal: &Principal,
        user_id: &str,
        change: Change<'_>,
        apply: impl FnOnce(&mut UserRecord) -> Result<(), AccountsError>,
    ) -> Result<pb::Profile, AccountsError> {
        let before = reload(txn, user_id).await?;
        let mut after = before.clone();
        apply(&mut after)?;
        if after.audit_view() != before.audit_view() {
            save(txn, &after).await?;
            Audit {
                actor: principal,
                action: change.action,
                user_id,
                before: Some(&before),
                after: Some(&after),
                reason: change.reason,
            }
            .append(txn)
            .await?;
            if let Some(kind) = change.event {
                self.outbox
                    .enqueue(txn, user_event(kind, &after, Some(&before)))
                    .await?;
            }
        }
        Ok(convert::profile(&reload(txn, user_id).await?))
    }

    /// The caller's account, refusing a deactivated or erased one: their token outlives the
    /// change by a few minutes, their access must not.
    async fn active_account(
        &self,
        principal: &Principal,
    ) -> Result<Option<UserRecord>, AccountsError> {
        match store::find_by_subject(&self.db, &principal.subject).await? {
            Some(a) if a.erased_at.is_some() => Err(AccountsError::Erased),
            Some(a) if !a.active => Err(AccountsError::Deactivated),
            other => Ok(other),
        }
    }

    /// The account `user_id` names, as the caller may see it: someone else's is NOT_FOUND for a
    /// caller who reaches only their own, as is an erased one. An empty id is the caller's own.
    async fn target(
        &self,
        principal: &Principal,
        reach: Reach,
        user_id: &str,
    ) -> Result<UserRecord, AccountsError> {
        let own = self.active_account(principal).await?;
        let user_id = if user_id.trim().is_empty() && principal.is_person() {
            match &own {
                Some(own) => own.user_id.clone(),
                None => return Err(AccountsError::NoSuchUser),
            }
        } else {
            domain::check_user_id("user_id", user_id)?
        };
        if reach == Reach::OwnOnly && own.as_ref().is_none_or(|o| o.user_id != user_id) {
            return Err(AccountsError::NoSuchUser);
        }
        match store::find_by_id(&self.db, &user_id).await? {
            Some(user) if user.erased_at.is_none() => Ok(user),
            _ => Err(AccountsError::NoSuchUser),
        }
    }
}
