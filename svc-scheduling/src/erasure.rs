//! A patient's erasure reaches scheduling. Accounts' `user.erased` is recorded by the intake
//! consumer (one row in `erasures`, with the event's handling, so a redelivery changes
//! nothing), and the sweeper carries it out in steps that can each run again:
//!
//! 1. one transaction: the patient's upcoming holds and bookings are cancelled (their time
//!    goes to the waitlist and each cancellation is an event, so calendars and the live
//!    availability follow); every appointment of theirs keeps its time, doctor and status for
//!    the clinic's records and loses every text (reason for the visit, cancellation and
//!    override reasons, the audit trail's reasons); their waitlist entries, the stored answers
//!    to their requests (idempotency keys) and the published events about their appointments
//!    are deleted;
//! 2. after it commits: the doctors' cached free slots are moved on, and every confirmation
//!    document of theirs is deleted from the document store;
//! 3. one transaction: the erasure is marked done with what was done, reported by a
//!    `medmesh.scheduling.v1.patient.erased` event.
//!
//! A replica that stops between steps leaves the erasure pending, and the next sweep (of any
//! replica) runs it again: nothing is done twice that would count twice.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use medmesh_proto::accounts::v1::UserEvent;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use svc_kit::{
    ServiceContext,
    cache::Cache,
    db::stmt,
    erasures::OnErasure,
    events::{HandlerError, Outbox},
};
use tokio_util::sync::CancellationToken;

use crate::{
    app::Rules,
    documents::{DocumentStore, confirmation_key_at},
    domain::Status,
    error::SchedulingError,
    events, offers, slots,
    store::{
        appointments::{self, AppointmentRecord, AuditEntry},
        get_ts, ts,
    },
};

/// The consumer group scheduling reads other services' topics under.
pub(crate) const GROUP: &str = "scheduling-intake";

/// Who the audit trail says cancelled an erased patient's appointments.
const ACTOR: &str = "erasure";

/// What an erased booking over a conflict says instead of its reason.
const ERASED_OVERRIDE: &str = "(erased)";

/// The statuses an upcoming appointment is cancelled from when its patient is erased.
const CANCELLED_FROM: [Status; 3] = [Status::Held, Status::Booked, Status::Confirmed];

/// Scheduling's part of accounts' erasures: each is recorded, for the sweeper to carry out.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Intake;

impl OnErasure for Intake {
    fn erase<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        user: &'a UserEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let b = txn.get_database_backend();
            txn.execute_raw(stmt(
                b,
                "INSERT INTO erasures (patient_id, subject, requested_at) VALUES ($1, $2, $3)
                 ON CONFLICT (patient_id) DO NOTHING",
                [
                    user.user_id.clone().into(),
                    user.subject.clone().into(),
                    ts(b, svc_kit::write::now()),
                ],
            ))
            .await?;
            Ok(())
        })
    }
}

/// Whether `patient_id`'s data was erased here (or is being): nothing is booked for them any
/// more. Takes the patient's lock first (see [`appointments::lock_patient`]), so a booking that
/// checks this inside its write transaction either finishes before the erasure reads the
/// patient's appointments or finds the erasure.
pub(crate) async fn is_erased(txn: &DatabaseTransaction, patient_id: &str) -> Result<bool, DbErr> {
    appointments::lock_patient(txn, patient_id).await?;
    Ok(txn
        .query_one_raw(stmt(
            txn.get_database_backend(),
            "SELECT 1 AS one FROM erasures WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?
        .is_some())
}

/// The refusal of a booking or waitlist entry for an erased patient.
pub(crate) fn erased_refusal() -> SchedulingError {
    SchedulingError::Kit(svc_kit::ApiError::FailedPrecondition(
        "the patient's account was erased".to_string(),
    ))
}

/// Reads accounts' topic until `shutdown`.
pub(crate) async fn follow(context: ServiceContext, shutdown: CancellationToken) {
    svc_kit::erasures::follow(context, GROUP, Intake, shutdown).await;
}

/// An erasure waiting to be carried out.
#[derive(Debug, Clone)]
struct Pending {
    patient_id: String,
    subject: String,
    requested_at: DateTime<Utc>,
}

/// What the first step did.
#[derive(Debug, Default)]
struct Anonymised {
    cancelled: i64,
    doctors: BTreeSet<String>,
    documents: Vec<String>,
}

/// Where scheduling's part of the erasures is done.
#[derive(Debug, Clone)]
pub(crate) struct Eraser {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) cache: Cache,
    pub(crate) documents: DocumentStore,
    pub(crate) rules: Rules,
}

impl Eraser {
    /// Carries out every pending erasure (a batch of them); returns how many finished.
    pub(crate) async fn carry_out_pending(
        &self,
        now: DateTime<Utc>,
    ) -> Result<usize, SchedulingError> {
        let rows = self
            .db
            .query_all_raw(stmt(
                self.db.get_database_backend(),
                "SELECT patient_id, subject, requested_at FROM erasures
                 WHERE done_at IS NULL ORDER BY requested_at LIMIT 20",
                [],
            ))
            .await?;
        let mut finished = 0;
        for row in rows {
            let pending = Pending {
                patient_id: row.try_get("", "patient_id")?,
                subject: row.try_get("", "subject")?,
                requested_at: get_ts(&row, "requested_at")?,
            };
            // One that fails (its document store away, say) does not hold up the others.
            match self.carry_out(&pending, now).await {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "an erasure could not be carried out; will retry")
                }
            }
        }
        Ok(finished)
    }

    async fn carry_out(
        &self,
        pending: &Pending,
        now: DateTime<Utc>,
    ) -> Result<bool, SchedulingError> {
        let done = svc_kit::write::retrying(&self.db, |txn| async move {
            anonymise(&txn, &self.outbox, &self.rules, pending, now).await
        })
        .await?;
        for doctor in &done.doctors {
            slots::invalidate(&self.cache, doctor).await;
        }
        let mut removed = 0i64;
        for key in &done.documents {
            if self
                .documents
                .delete(key)
                .await
                .map_err(|e| SchedulingError::Kit(svc_kit::ApiError::internal(e.to_string())))?
            {
                removed += 1;
            }
        }
        let finished = svc_kit::write::retrying(&self.db, |txn| async move {
            finish(&txn, &self.outbox, pending, removed, now).await
        })
        .await?;
        if finished {
            metrics::counter!("medmesh_scheduling_erasures_total").increment(1);
            tracing::info!(
                cancelled = done.cancelled,
                documents_removed = removed,
                "an erasure request was carried out"
            );
        }
        Ok(finished)
    }
}

/// Step 1, in one transaction.
async fn anonymise(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    rules: &Rules,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<Anonymised, SchedulingError> {
    let b = txn.get_database_backend();
    let patient = pending.patient_id.as_str();
    // After the patient's lock no booking of theirs is under way (bookings take it and then
    // find the erasure), so every appointment of theirs is read below.
    appointments::lock_patient(txn, patient).await?;
    // Their waitlist entries first: the time freed below must not be offered back to them.
    let waitlist = txn
        .execute_raw(stmt(
            b,
            "DELETE FROM waitlist WHERE patient_id = $1",
            [patient.into()],
        ))
        .await?
        .rows_affected();
    let theirs = appointments::of_patient(txn, patient).await?;
    let mut done = Anonymised::default();
    for before in &theirs {
        let mut version = before.version;
        if before.starts_at > now && CANCELLED_FROM.contains(&before.status) {
            let after = AppointmentRecord {
                status: Status::Cancelled,
                reason: String::new(),
                cancellation_reason: String::new(),
                override_reason: String::new(),
                updated_at: now,
                version: before.version + 1,
                ..before.clone()
            };
            if !appointments::save(txn, &after).await? {
                return Err(SchedulingError::moved_on());
            }
            appointments::audit(
                txn,
                &AuditEntry {
                    appointment_id: &after.appointment_id,
                    actor_subject: ACTOR,
                    action: "appointment.cancelled",
                    from: Some(before.status),
                    to: Some(Status::Cancelled),
                    reason: "",
                    at: now,
                },
            )
            .await?;
            let names = offers::names(txn, &after).await?;
            outbox
                .enqueue(
                    txn,
                    events::appointment_event("appointment.cancelled", &after, None, None, &names),
                )
                .await?;
            offers::offer_freed_time(txn, outbox, before, now, rules.offer).await?;
            done.cancelled += 1;
            done.doctors.insert(before.doctor_id.clone());
            version = after.version;
        }
        done.documents
            .extend((1..=version).map(|v| confirmation_key_at(&before.appointment_id, v)));
        svc_kit::idempotency::forget_answers_naming(txn, &before.appointment_id).await?;
    }
    let of_theirs = "SELECT appointment_id FROM appointments WHERE patient_id = $1";
    // An override reason becomes a mark, not nothing: a booking over a conflict still holds
    // its time beside the one it overlaps, and PostgreSQL's exclusion constraint tells the two
    // apart by it.
    txn.execute_raw(stmt(
        b,
        &format!(
            "UPDATE appointments SET reason = '', cancellation_reason = '',
                override_reason = CASE WHEN override_reason = '' THEN '' ELSE '{ERASED_OVERRIDE}' END
             WHERE patient_id = $1"
        ),
        [patient.into()],
    ))
    .await?;
    txn.execute_raw(stmt(
        b,
        &format!("UPDATE appointment_audit SET reason = '' WHERE appointment_id IN ({of_theirs})"),
        [patient.into()],
    ))
    .await?;
    // Published events about their appointments (kept a while for replays) go too, and those
    // the broker refused.
    for table in [
        "outbox WHERE published_at IS NOT NULL AND",
        "outbox_dead_letters WHERE",
    ] {
        txn.execute_raw(stmt(
            b,
            &format!("DELETE FROM {table} aggregate_id IN ({of_theirs})"),
            [patient.into()],
        ))
        .await?;
    }
    if !pending.subject.is_empty() {
        svc_kit::idempotency::forget_scope(txn, &pending.subject).await?;
    }
    txn.execute_raw(stmt(
        b,
        "UPDATE erasures SET appointments_anonymised = $2,
            appointments_cancelled = appointments_cancelled + $3,
            waitlist_entries_removed = waitlist_entries_removed + $4
         WHERE patient_id = $1",
        [
            patient.into(),
            (theirs.len() as i64).into(),
            done.cancelled.into(),
            (waitlist as i64).into(),
        ],
    ))
    .await?;
    Ok(done)
}

/// Step 3: marks the erasure done and reports it (once, whichever replica gets here first).
async fn finish(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    pending: &Pending,
    documents_removed: i64,
    now: DateTime<Utc>,
) -> Result<bool, SchedulingError> {
    let b = txn.get_database_backend();
    let marked = txn
        .execute_raw(stmt(
            b,
            "UPDATE erasures SET done_at = $2, documents_removed = documents_removed + $3
             WHERE patient_id = $1 AND done_at IS NULL",
            [
                pending.patient_id.clone().into(),
                ts(b, now),
                documents_removed.into(),
            ],
        ))
        .await?
        .rows_affected();
    if marked == 0 {
        return Ok(false);
    }
    let Some(row) = txn
        .query_one_raw(stmt(
            b,
            "SELECT appointments_anonymised, appointments_cancelled, waitlist_entries_removed,
                documents_removed FROM erasures WHERE patient_id = $1",
            [pending.patient_id.clone().into()],
        ))
        .await?
    else {
        return Ok(false);
    };
    let report = events::ErasureReport {
        patient_id: pending.patient_id.clone(),
        appointments_anonymised: row.try_get("", "appointments_anonymised")?,
        appointments_cancelled: row.try_get("", "appointments_cancelled")?,
        waitlist_entries_removed: row.try_get("", "waitlist_entries_removed")?,
        documents_removed: row.try_get("", "documents_removed")?,
        requested_at: pending.requested_at,
        completed_at: now,
    };
    outbox.enqueue(txn, events::patient_erased(&report)).await?;
    Ok(true)
}
