//! Patient self-registration: a user at the identity provider and an account here, both or
//! neither. The identity provider cannot join our transaction, so the local account is written
//! after it, and a failed local write deletes the user it created: a person whose registration
//! failed can register again under the same username.
//!
//! A registration never changes an account that exists. A username taken at the identity
//! provider is refused, unless the user holding it was created by an earlier attempt of this very
//! request (its tag covers every field and the password) and has no account here yet: a
//! registration left half done, which the retry finishes.

use medmesh_proto::accounts::v1 as pb;
use secrecy::SecretString;
use svc_kit::{
    auth::Principal,
    idempotency::IdempotencyKey,
    write::{self, WriteFailure},
};

use super::{AccountsApp, Audit, user_event};
use crate::{
    convert,
    domain::Role,
    error::AccountsError,
    identity::{IdentityError, NewIdentity, Registered},
    input::Registration,
    store::{self, UserRecord},
};

/// A registration, parsed, with its password and the tag of its fingerprint.
#[derive(Debug)]
pub(crate) struct NewPatient {
    pub(crate) registration: Registration,
    pub(crate) password: SecretString,
    /// The keyed hash of the whole request, password included (`fingerprint`): set on the user
    /// it creates at the identity provider, so that only a retry of this request adopts it.
    pub(crate) tag: String,
}

/// The username belongs to an account this registration did not create.
fn username_taken() -> AccountsError {
    AccountsError::Identity(IdentityError::UsernameTaken)
}

impl AccountsApp {
    pub(crate) async fn register_patient(
        &self,
        principal: &Principal,
        key: &IdempotencyKey,
        patient: NewPatient,
    ) -> Result<pb::Profile, AccountsError> {
        if let Some(first) = write::replay(&self.db, key).await? {
            return Ok(first);
        }
        let outcome = self.register_new(principal, key, &patient).await;
        // A concurrent attempt of this request may have finished first: its answer is this one.
        write::or_replay(&self.db, key, outcome).await
    }

    /// Registers a patient the idempotency records have not seen.
    async fn register_new(
        &self,
        principal: &Principal,
        key: &IdempotencyKey,
        patient: &NewPatient,
    ) -> Result<pb::Profile, AccountsError> {
        let registration = &patient.registration;
        let registered = self
            .identity
            .create_patient(&NewIdentity {
                username: registration.username.as_str(),
                email: registration.email.as_str(),
                given_name: registration.given_name.as_str(),
                family_name: registration.family_name.as_str(),
                password: &patient.password,
                registration: &patient.tag,
            })
            .await?;
        let subject = match registered {
            Registered::Created(subject) => subject,
            Registered::Adopted(subject) => self.resume(subject).await?,
        };
        let subject = &subject;
        let outcome = write::write(&self.db, key, |txn| async move {
            let txn = &*txn;
            // Written meanwhile by a concurrent attempt of this request (whose answer the caller
            // gets), or by the person signing in: either way not this attempt's account.
            if store::find_by_subject(txn, subject).await?.is_some() {
                return Err(username_taken());
            }
            let user = new_patient(subject, registration);
            if !store::insert(txn, &user).await? {
                // Another attempt wrote it since the read: run again, and meet it.
                return Err(AccountsError::ChangedMeanwhile);
            }
            Audit {
                actor: principal,
                action: "user.registered",
                user_id: &user.user_id,
                before: None,
                after: Some(&user),
                reason: "",
            }
            .append(txn)
            .await?;
            self.outbox
                .enqueue(txn, user_event("registered", &user, None))
                .await?;
            Ok(convert::profile(&user))
        })
        .await;
        match outcome {
            Ok(profile) => {
                tracing::info!(user_id = %profile.user_id, "patient registered");
                Ok(profile)
            }
            // A busy database is answered "retry with the same request_id", and that retry
            // adopts this user (its tag names the request): keep it. Any other failure leaves
            // no user behind that would lock the person out of their username.
            Err(error) if error.is_contention() => Err(error),
            Err(error) => {
                self.undo_identity(subject).await;
                Err(error)
            }
        }
    }

    /// The user an earlier attempt of this registration created, to be finished now; unless it
    /// has an account here already (the registration went through and its idempotency record
    /// has been pruned since, or the person signed in), which is not this request's to change:
    /// the username is taken.
    async fn resume(&self, subject: String) -> Result<String, AccountsError> {
        if store::find_by_subject(&self.db, &subject).await?.is_some() {
            tracing::info!("registration refused: its user already has an account");
            return Err(username_taken());
        }
        // The earlier attempt may have stopped before it mapped the role.
        self.identity.grant_role(&subject, Role::Patient).await?;
        Ok(subject)
    }

    /// Deletes the identity provider's user of a registration whose account was not written,
    /// so nothing is left behind that locks the person out of their username.
    async fn undo_identity(&self, subject: &str) {
        match store::find_by_subject(&self.db, subject).await {
            Ok(None) => {
                if let Err(error) = self.identity.delete_user(subject).await {
                    tracing::warn!(%error, "could not undo a failed registration at the identity provider");
                }
            }
            // Another attempt of the same request wrote the account: keep its user.
            Ok(Some(_)) => {}
            Err(error) => {
                tracing::warn!(%error, "could not check a failed registration; its user is kept");
            }
        }
    }
}

fn new_patient(subject: &str, registration: &Registration) -> UserRecord {
    let optional = |value: Option<&str>| value.unwrap_or_default().to_string();
    let mut user = UserRecord::new(subject, registration.username.as_str());
    user.email = registration.email.as_str().to_string();
    user.given_name = registration.given_name.as_str().to_string();
    user.family_name = registration.family_name.as_str().to_string();
    user.phone = optional(registration.phone.as_ref().map(|p| p.as_str()));
    user.preferred_language = optional(registration.language.as_ref().map(|l| l.as_str()));
    user.time_zone = optional(registration.time_zone.as_ref().map(|t| t.as_str()));
    user.roles = [Role::Patient].into();
    user
}
