//! A person's own account: first sign-in, reading, changing contact data, export and erase.

use medmesh_proto::accounts::v1 as pb;
use svc_kit::{auth::Principal, idempotency::IdempotencyKey, write};

use super::{AccountsApp, Audit, Change, reload, save, user_event};
use crate::{
    convert,
    domain::{Email, Name, Reach},
    error::AccountsError,
    input::apply_changes,
    store::{self, UserRecord},
};

/// A change of contact data: the fields the mask names, from `changes`.
#[derive(Debug)]
pub(crate) struct ProfileUpdate {
    pub(crate) user_id: String,
    /// The version the caller read; 0 to change whatever is there.
    pub(crate) version: i64,
    pub(crate) changes: pb::Profile,
    pub(crate) paths: Vec<String>,
}

impl AccountsApp {
    /// The caller's account. A first sign-in creates it from the token's claims; later ones
    /// keep the roles and username in step with the identity provider.
    pub(crate) async fn sync_from_claims(
        &self,
        principal: &Principal,
    ) -> Result<UserRecord, AccountsError> {
        let roles = principal.platform_roles();
        let username = principal
            .username
            .clone()
            .unwrap_or_else(|| principal.subject.clone());
        if let Some(user) = self.active_account(principal).await? {
            if user.roles == roles && user.username == username {
                return Ok(user);
            }
            let (roles, username, user) = (&roles, &username, &user);
            write::retrying(&self.db, |txn| async move {
                let txn = &*txn;
                let previous = reload(txn, &user.user_id).await?;
                let mut after = previous.clone();
                after.roles = roles.clone();
                after.username = username.clone();
                save(txn, &after).await?;
                if previous.roles != after.roles {
                    self.outbox
                        .enqueue(txn, user_event("roles_changed", &after, Some(&previous)))
                        .await?;
                }
                Ok::<_, AccountsError>(())
            })
            .await?;
            return self.own_account(principal).await;
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
        let user = &user;
        write::retrying(&self.db, |txn| async move {
            let txn = &*txn;
            // A concurrent first sign-in may have created it: then there is nothing to do.
            if store::insert(txn, user).await? {
                self.outbox
                    .enqueue(txn, user_event("created", user, None))
                    .await?;
            }
            Ok::<_, AccountsError>(())
        })
        .await?;
        self.own_account(principal).await
    }

    async fn own_account(&self, principal: &Principal) -> Result<UserRecord, AccountsError> {
        store::find_by_subject(&self.db, &principal.subject)
            .await?
            .ok_or(AccountsError::NoSuchUser)
    }

    pub(crate) async fn get_profile(
        &self,
        principal: &Principal,
        reach: Reach,
        user_id: &str,
    ) -> Result<UserRecord, AccountsError> {
        self.target(principal, reach, user_id).await
    }

    pub(crate) async fn update_profile(
        &self,
        principal: &Principal,
        reach: Reach,
        key: &IdempotencyKey,
        update: ProfileUpdate,
    ) -> Result<pb::Profile, AccountsError> {
        let target = &self.target(principal, reach, &update.user_id).await?;
        let update = &update;
        write::write(&self.db, key, |txn| async move {
            let change = Change {
                action: "profile.updated",
                event: None,
                reason: "",
            };
            self.change_user(&txn, principal, &target.user_id, change, |user| {
                if update.version != 0 && update.version != user.version {
                    return Err(AccountsError::StaleVersion {
                        current: user.version,
                        given: update.version,
                    });
                }
                Ok(svc_kit::ApiError::check(apply_changes(
                    user,
                    &update.changes,
                    &update.paths,
                ))?)
            })
            .await
        })
        .await
    }

    /// Everything svc-accounts keeps about the caller, as a JSON document.
    pub(crate) async fn export_my_data(
        &self,
        principal: &Principal,
    ) -> Result<serde_json::Value, AccountsError> {
        let user = self.sync_from_claims(principal).await?;
        let history = store::list_audit(&self.db, Some(&user.user_id), None, 10_000).await?;
        let history: Vec<serde_json::Value> = history
            .iter()
            .rev()
            .map(|e| {
                let by = if e.actor_subject == principal.subject {
                    "you"
                } else {
                    "MedMesh staff or systems"
                };
                let json = |raw: &Option<String>| {
                    raw.as_deref()
                        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                };
                serde_json::json!({
                    "at": e.at.to_rfc3339(), "action": e.action, "by": by,
                    "before": json(&e.before), "after": json(&e.after),
                })
            })
            .collect();
        let mut profile = user.audit_view();
        profile["user_id"] = user.user_id.clone().into();
        profile["subject"] = user.subject.clone().into();
        profile["created_at"] = user.created_at.to_rfc3339().into();
        profile["updated_at"] = user.updated_at.to_rfc3339().into();
        Ok(serde_json::json!({
            "exported_at": store::now().to_rfc3339(),
            "service": "svc-accounts",
            "profile": profile,
            "account_history": history,
        }))
    }

    /// Erases the caller's personal data here and their user at the identity provider. A retry
    /// after the second step failed finishes it.
    pub(crate) async fn erase_my_account(
        &self,
        principal: &Principal,
        key: &IdempotencyKey,
    ) -> Result<pb::EraseMyAccountResponse, AccountsError> {
        if let Some(first) = write::replay(&self.db, key).await? {
            self.identity.delete_user(&principal.subject).await?;
            return Ok(first);
        }
        let user = &self.sync_from_claims(principal).await?;
        let erased_at = store::now();
        let response = write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            let mut after = reload(txn, &user.user_id).await?;
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
            save(txn, &after).await?;
            store::remove_all_affiliations(txn, &after.user_id).await?;
            store::scrub_audit(txn, &after.user_id).await?;
            Audit {
                actor: principal,
                action: "user.erased",
                user_id: &after.user_id,
                before: None,
                after: None,
                reason: "",
            }
            .append(txn)
            .await?;
            self.outbox
                .enqueue(txn, user_event("erased", &after, None))
                .await?;
            Ok::<_, AccountsError>(pb::EraseMyAccountResponse {
                erased_at: Some(convert::timestamp(erased_at)),
            })
        })
        .await?;
        self.identity.delete_user(&principal.subject).await?;
        tracing::info!(user_id = %user.user_id, "account erased");
        Ok(response)
    }
}
