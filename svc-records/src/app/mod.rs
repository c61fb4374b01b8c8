//! The use cases: one function per operation, taking typed input and the caller, returning the
//! answer or a [`RecordsError`]. Every access to a patient's record goes through [`App::admit`]
//! (the caller's standing towards that patient, a refusal logged and answered "not found") and
//! is logged: a read after it was served and before it is answered (no log, no answer), a
//! write in the same transaction as the change.
//!
//! `app` knows the domain and the store, never tonic.

mod batch;
mod card;
mod entries;
pub(crate) mod export;
mod grants;
pub(crate) mod intake;
pub(crate) mod log;
pub(crate) mod rotation;

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use medmesh_proto::records::v1 as pb;
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use svc_kit::{
    events::Outbox,
    idempotency::IdempotencyKey,
    seal::{Keyring, Sealed},
    write::{self, Txn},
};

pub(crate) use self::{
    batch::LogWriter,
    entries::{DraftEdit, EntryPage, parse_cursor},
    grants::NewGrant,
};
use crate::{
    domain::{Basis, Caller, Operation, access, chain::Link},
    error::RecordsError,
    store::{log as log_store, standing},
};

/// How long things last.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// An emergency access.
    pub break_glass: chrono::Duration,
    /// The longest grant.
    pub max_grant: chrono::Duration,
    /// How long signed entries are kept after signing, erasure notwithstanding.
    pub retention: chrono::Duration,
}

/// What the use cases work with.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) keys: Arc<Keyring>,
    pub(crate) rules: Rules,
    /// Seal content and log reads: always, but in a benchmark measuring what they cost
    /// (`RecordsConfig::protect`).
    pub(crate) protect: bool,
    /// Keys whose values are sealed again under the active one.
    pub(crate) retired: Vec<String>,
    /// Where reads are logged, in batches.
    pub(crate) reads: batch::LogWriter,
}

/// The key id a benchmark's unsealed values carry; a protecting service opens no such value.
const UNSEALED: &str = "unsealed-benchmark";

/// Refused at once if the caller's roles don't name `operation`.
pub(crate) fn allowed(operation: Operation, caller: &Caller) -> Result<(), RecordsError> {
    if access::allows(operation, caller) {
        Ok(())
    } else {
        Err(RecordsError::denied())
    }
}

/// The caller's MedMesh user id; clients acting for themselves have none.
fn person(caller: &Caller) -> Result<&str, RecordsError> {
    caller.user_id.as_deref().ok_or_else(RecordsError::denied)
}

/// What an entry's sealed bytes hold.
#[derive(Clone, PartialEq, Message)]
struct SealedEntry {
    #[prost(message, optional, tag = "1")]
    content: Option<pb::EntryContent>,
    #[prost(string, tag = "2")]
    amendment_reason: String,
}

/// Where a sealed value lives, bound into it: moved to another row, patient or version it
/// does not open (so neither can an older draft's content be put back over a newer one, or
/// over the signed entry).
pub(crate) fn place(table: &str, id: &str, patient_id: &str, version: i64) -> String {
    format!("medmesh.records/{table}/{id}/{patient_id}/v{version}")
}

/// A log entry's time: RFC 3339, microseconds, UTC (hashed as written).
fn log_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// What a refusal says is missing: the entry asked for, or the patient's record.
pub(crate) fn missing(resource: &str) -> &'static str {
    if resource.starts_with("entry:") && resource != "entry:new" {
        "entry"
    } else {
        "patient record"
    }
}

/// "read" or "write".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Write,
}

impl App {
    /// An entry's content sealed for the row `entry_id` at `version`.
    fn seal_entry(
        &self,
        entry_id: &str,
        patient_id: &str,
        version: i64,
        content: &pb::EntryContent,
        reason: &str,
    ) -> Sealed {
        let plain = SealedEntry {
            content: Some(content.clone()),
            amendment_reason: reason.to_string(),
        }
        .encode_to_vec();
        if !self.protect {
            return Sealed {
                key_id: UNSEALED.to_string(),
                bytes: plain,
            };
        }
        self.keys
            .seal(&place("entries", entry_id, patient_id, version), &plain)
    }

    fn open_entry(
        &self,
        row: &crate::store::entries::EntryRow,
    ) -> Result<(pb::EntryContent, String), RecordsError> {
        let plain = if !self.protect && row.key_id == UNSEALED {
            row.sealed.clone()
        } else {
            self.keys.open(
                &place("entries", &row.entry_id, &row.patient_id, row.version),
                &row.sealed(),
            )?
        };
        let sealed =
            SealedEntry::decode(plain.as_slice()).map_err(|_| svc_kit::seal::SealError::Corrupt)?;
        Ok((sealed.content.unwrap_or_default(), sealed.amendment_reason))
    }

    /// An entry as the contract shows it, its content opened.
    fn show(&self, row: &crate::store::entries::EntryRow) -> Result<pb::Entry, RecordsError> {
        let (content, reason) = self.open_entry(row)?;
        Ok(crate::convert::entry(row, content, reason))
    }

    /// Why the caller may reach `patient_id`'s clinical record; a refusal is logged and
    /// answered as if there were no such record.
    pub(crate) async fn admit(
        &self,
        caller: &Caller,
        patient_id: &str,
        action: Action,
        resource: &str,
    ) -> Result<Basis, RecordsError> {
        let ties = match caller.user_id.as_deref() {
            Some(me) if !caller.is(patient_id) => {
                let clinics: Vec<String> = caller.clinics.iter().cloned().collect();
                standing::ties(&self.db, me, &clinics, patient_id, write::now()).await?
            }
            _ => Default::default(),
        };
        match access::clinical_basis(caller, patient_id, ties) {
            Some(basis) => Ok(basis),
            None => Err(self.refuse(caller, patient_id, action, resource).await),
        }
    }

    /// Logs a refused attempt on `patient_id`'s record; the answer to give: "no such" the
    /// thing asked for, exactly as if it did not exist.
    pub(crate) async fn refuse(
        &self,
        caller: &Caller,
        patient_id: &str,
        action: Action,
        resource: &str,
    ) -> RecordsError {
        self.log_refusal(caller, patient_id, action, resource, "no standing")
            .await;
        RecordsError::NoSuch(missing(resource))
    }

    /// Writes a refused attempt to `patient_id`'s log, in its own transaction (a refusal never
    /// happens inside a write's).
    pub(crate) async fn log_refusal(
        &self,
        caller: &Caller,
        patient_id: &str,
        action: Action,
        resource: &str,
        reason: &str,
    ) {
        let link = self.link(caller, patient_id, action, resource, None, reason);
        let logged = write::retrying(&self.db, |txn: Txn| {
            let link = link.clone();
            async move { Ok::<_, RecordsError>(log_store::append(&*txn, link).await?) }
        })
        .await;
        if let Err(error) = logged {
            tracing::warn!(%error, "a refused access could not be logged");
        }
        metrics::counter!("medmesh_records_accesses_total", "basis" => "none", "allowed" => "false")
            .increment(1);
    }

    fn link(
        &self,
        caller: &Caller,
        patient_id: &str,
        action: Action,
        resource: &str,
        basis: Option<Basis>,
        reason: &str,
    ) -> Link {
        Link {
            patient_id: patient_id.to_string(),
            sequence: 0,
            actor_id: caller.actor_id().to_string(),
            actor_role: access::acting_role(caller, basis).to_string(),
            action: match action {
                Action::Read => "read",
                Action::Write => "write",
            }
            .to_string(),
            resource: resource.to_string(),
            basis: basis.map_or("none", Basis::as_str).to_string(),
            reason: reason.to_string(),
            allowed: basis.is_some(),
            flagged: basis == Some(Basis::Emergency),
            trace_id: caller.trace_id.clone(),
            at: log_time(write::now()),
        }
    }

    /// Logs a read that was served, before it is answered: when the log cannot be written,
    /// nothing is answered.
    pub(crate) async fn log_read(
        &self,
        caller: &Caller,
        patient_id: &str,
        basis: Basis,
        resource: &str,
    ) -> Result<(), RecordsError> {
        if !self.protect {
            return Ok(());
        }
        let link = self.link(caller, patient_id, Action::Read, resource, Some(basis), "");
        let logged = self.reads.append(link).await;
        self.count(basis);
        logged.map(|_| ()).map_err(|error| {
            tracing::error!(%error, "an access could not be logged; the read is refused");
            RecordsError::LogUnavailable
        })
    }

    /// Logs a write inside its transaction.
    pub(crate) async fn log_write(
        &self,
        txn: &impl ConnectionTrait,
        caller: &Caller,
        patient_id: &str,
        basis: Basis,
        resource: &str,
        reason: &str,
    ) -> Result<(), RecordsError> {
        let link = self.link(
            caller,
            patient_id,
            Action::Write,
            resource,
            Some(basis),
            reason,
        );
        log_store::append(txn, link).await?;
        Ok(())
    }

    fn count(&self, basis: Basis) {
        metrics::counter!(
            "medmesh_records_accesses_total",
            "basis" => basis.as_str(),
            "allowed" => "true"
        )
        .increment(1);
    }

    async fn write<M, F, Fut>(&self, key: &IdempotencyKey, change: F) -> Result<M, RecordsError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<M, RecordsError>>,
    {
        write::write(&self.db, key, change).await
    }
}
