//! What admins do with accounts: find users, set roles, affiliate staff with clinics and
//! pharmacies, deactivate, and read the audit trail.

use std::collections::BTreeSet;

use medmesh_proto::accounts::v1 as pb;
use svc_kit::{auth::Principal, idempotency::IdempotencyKey, write};

use super::{AccountsApp, Audit, Change, reload, user_event};
use crate::{
    convert,
    domain::{self, Affiliation, Reach, Role},
    error::AccountsError,
    store::{self, AffiliationRecord, AuditRecord, UserFilter, UserRecord},
};

/// A page of users: the filter, where the last page ended, and how many.
#[derive(Debug)]
pub(crate) struct UserQuery {
    pub(crate) filter: UserFilter,
    pub(crate) after: Option<String>,
    pub(crate) limit: u64,
}

impl AccountsApp {
    /// One more user than `limit` when there is a next page.
    pub(crate) async fn list_users(
        &self,
        principal: &Principal,
        query: &UserQuery,
    ) -> Result<Vec<UserRecord>, AccountsError> {
        self.active_account(principal).await?;
        Ok(store::list(
            &self.db,
            &query.filter,
            query.after.as_deref(),
            query.limit + 1,
        )
        .await?)
    }

    /// Makes the user's platform roles exactly `roles`, at the identity provider first (so a
    /// token issued next carries them) and then here.
    pub(crate) async fn set_roles(
        &self,
        principal: &Principal,
        reach: Reach,
        key: &IdempotencyKey,
        user_id: &str,
        roles: BTreeSet<Role>,
    ) -> Result<pb::Profile, AccountsError> {
        let before = self.target(principal, reach, user_id).await?;
        if let Some(first) = write::replay(&self.db, key).await? {
            return Ok(first);
        }
        if !domain::may_set_roles(&principal.subject, &before.subject, &roles) {
            return Err(AccountsError::OwnAdminRole);
        }
        if before.roles != roles {
            self.identity.set_roles(&before.subject, &roles).await?;
        }
        let (roles, before) = (&roles, &before);
        write::write(&self.db, key, |txn| async move {
            let change = Change {
                action: "roles.set",
                event: Some("roles_changed"),
                reason: "",
            };
            self.change_user(&txn, principal, &before.user_id, change, |user| {
                user.roles = roles.clone();
                Ok(())
            })
            .await
        })
        .await
    }

    pub(crate) async fn add_affiliation(
        &self,
        principal: &Principal,
        reach: Reach,
        key: &IdempotencyKey,
        user_id: &str,
        affiliation: Affiliation,
    ) -> Result<pb::Profile, AccountsError> {
        let before = self.target(principal, reach, user_id).await?;
        if let Some(first) = write::replay(&self.db, key).await? {
            return Ok(first);
        }
        let role = affiliation.role();
        if !before.roles.contains(&role) {
            return Err(AccountsError::MissingRole(role));
        }
        let (affiliation, before) = (&affiliation, &before);
        write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            let record = AffiliationRecord {
                affiliation_id: uuid::Uuid::now_v7().to_string(),
                kind: affiliation.kind_name().to_string(),
                clinic_id: affiliation.clinic_id().to_string(),
                specialization: affiliation.specialization().to_string(),
                pharmacy_id: affiliation.pharmacy_id().to_string(),
                created_at: store::now(),
            };
            let previous = reload(txn, &before.user_id).await?;
            if store::add_affiliation(txn, &before.user_id, &record).await? {
                let after = reload(txn, &before.user_id).await?;
                Audit {
                    actor: principal,
                    action: "affiliation.added",
                    user_id: &before.user_id,
                    before: Some(&previous),
                    after: Some(&after),
                    reason: "",
                }
                .append(txn)
                .await?;
                self.outbox
                    .enqueue(
                        txn,
                        user_event("affiliations_changed", &after, Some(&previous)),
                    )
                    .await?;
            }
            Ok(convert::profile(&reload(txn, &before.user_id).await?))
        })
        .await
    }

    pub(crate) async fn remove_affiliation(
        &self,
        principal: &Principal,
        reach: Reach,
        key: &IdempotencyKey,
        user_id: &str,
        affiliation_id: &str,
    ) -> Result<pb::Profile, AccountsError> {
        let before = &self.target(principal, reach, user_id).await?;
        write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            let previous = reload(txn, &before.user_id).await?;
            if !store::remove_affiliation(txn, &before.user_id, affiliation_id).await? {
                return Err(AccountsError::NoSuchAffiliation);
            }
            let after = reload(txn, &before.user_id).await?;
            Audit {
                actor: principal,
                action: "affiliation.removed",
                user_id: &before.user_id,
                before: Some(&previous),
                after: Some(&after),
                reason: "",
            }
            .append(txn)
            .await?;
            self.outbox
                .enqueue(
                    txn,
                    user_event("affiliations_changed", &after, Some(&previous)),
                )
                .await?;
            Ok(convert::profile(&after))
        })
        .await
    }

    /// Disables sign-in at the identity provider and marks the account inactive here.
    pub(crate) async fn deactivate_user(
        &self,
        principal: &Principal,
        reach: Reach,
        key: &IdempotencyKey,
        user_id: &str,
        reason: &str,
    ) -> Result<pb::Profile, AccountsError> {
        let before = self.target(principal, reach, user_id).await?;
        if let Some(first) = write::replay(&self.db, key).await? {
            return Ok(first);
        }
        if before.subject == principal.subject {
            return Err(AccountsError::OwnDeactivation);
        }
        if before.active {
            self.identity.set_enabled(&before.subject, false).await?;
        }
        let before = &before;
        write::write(&self.db, key, |txn| async move {
            let change = Change {
                action: "user.deactivated",
                event: Some("deactivated"),
                reason,
            };
            self.change_user(&txn, principal, &before.user_id, change, |user| {
                if user.active {
                    user.active = false;
                    user.deactivation_reason = reason.to_string();
                }
                Ok(())
            })
            .await
        })
        .await
    }

    /// Audit entries, newest first, before sequence number `before`; one more than `limit`
    /// when there is a next page.
    pub(crate) async fn list_audit_events(
        &self,
        principal: &Principal,
        user_id: Option<&str>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<AuditRecord>, AccountsError> {
        self.active_account(principal).await?;
        Ok(store::list_audit(&self.db, user_id, before, limit + 1).await?)
    }
}
