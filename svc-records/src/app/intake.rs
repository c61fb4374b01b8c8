//! What records learns from other services' events, in one consumer (`records-intake`):
//!
//! - scheduling's appointments: who is in a doctor's care (the kit's care rule) and where the
//!   patient is seen (a visit: appointment, doctor, clinic), for nurses' access and for
//!   linking encounters to appointments;
//! - pharmacy's prescriptions: the medication history, sealed like every clinical value;
//! - accounts' `user.erased`: the erasure, as far as the law allows (signed entries within
//!   their retention period stay), reported in `erasures` and by a `record.erased` event.
//!
//! The consumer records each event id with the handler's writes, so a redelivery acts once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use medmesh_proto::{
    events::v1::EventEnvelope,
    pharmacy::v1::PrescriptionEvent,
    records::v1 as pb,
    scheduling::v1::{AppointmentEvent, AppointmentStatus},
};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use svc_kit::{
    ServiceContext, ServiceName,
    care::CareRecorder,
    db::stmt,
    events::{Consumer, EventHandler, HandlerError, Outbox, topic_for},
    seal::Keyring,
};
use tokio_util::sync::CancellationToken;

use super::place;
use crate::{
    events,
    store::{entries, opt_ts, standing, ts},
};

/// The consumer group records reads other services' topics under.
pub const GROUP: &str = "records-intake";

/// The handler of every event records learns from.
#[derive(Debug, Clone)]
pub struct Intake {
    pub keys: Arc<Keyring>,
    pub outbox: Outbox,
    /// How long signed entries are kept after signing, erasure notwithstanding.
    pub retention: chrono::Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} cannot be read")]
struct Malformed(String);

fn payload<M: prost::Message + Default>(event: &EventEnvelope) -> Result<M, Malformed> {
    let any = event
        .payload
        .as_ref()
        .ok_or_else(|| Malformed(event.r#type.clone()))?;
    M::decode(any.value.as_slice()).map_err(|_| Malformed(event.r#type.clone()))
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

impl EventHandler for Intake {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let kind = event.r#type.as_str();
            // An event about a patient whose data was erased arrives late (topics are not
            // ordered against each other): it must not bring their data back.
            if !event.subject.is_empty() && erased(txn, &event.subject).await? {
                return Ok(());
            }
            if kind.starts_with("medmesh.scheduling.v1.appointment.") {
                CareRecorder.handle(txn, event).await?;
                self.visit(txn, event).await?;
            } else if kind.starts_with("medmesh.pharmacy.v1.prescription.") {
                self.course(txn, event).await?;
            } else if kind == "medmesh.accounts.v1.user.erased" {
                self.erase(txn, event).await?;
            }
            Ok(())
        })
    }
}

/// Whether `patient_id`'s data was erased here.
async fn erased(txn: &DatabaseTransaction, patient_id: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(txn
        .query_one_raw(stmt(
            txn.get_database_backend(),
            "SELECT 1 AS one FROM erasures WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?
        .is_some())
}

impl Intake {
    async fn visit(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let appointment = payload::<AppointmentEvent>(event)?
            .appointment
            .ok_or_else(|| Malformed(event.r#type.clone()))?;
        let booked = matches!(
            appointment.status(),
            AppointmentStatus::Booked
                | AppointmentStatus::Confirmed
                | AppointmentStatus::CheckedIn
                | AppointmentStatus::Completed
                | AppointmentStatus::NoShow
        );
        let slot = appointment.slot.unwrap_or_default();
        if !booked
            || appointment.patient_id.is_empty()
            || slot.doctor_id.is_empty()
            || erased(txn, &appointment.patient_id).await?
        {
            return Ok(());
        }
        let starts_at = time(slot.start.as_ref()).ok_or_else(|| Malformed(event.r#type.clone()))?;
        standing::record_visit(
            txn,
            &appointment.appointment_id,
            &appointment.patient_id,
            &slot.doctor_id,
            &appointment.clinic_id,
            starts_at,
        )
        .await?;
        Ok(())
    }

    async fn course(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let body = payload::<PrescriptionEvent>(event)?;
        let p = body
            .prescription
            .ok_or_else(|| Malformed(event.r#type.clone()))?;
        if p.patient_id.is_empty() || p.prescription_id.is_empty() {
            return Err(Malformed(event.r#type.clone()).into());
        }
        if erased(txn, &p.patient_id).await? {
            return Ok(());
        }
        let status = event
            .r#type
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let course = pb::MedicationCourse {
            prescription_id: p.prescription_id.clone(),
            doctor_id: p.doctor_id.clone(),
            status,
            pharmacy_name: body.pharmacy_name,
            lines: p
                .items
                .iter()
                .map(|i| pb::MedicationLine {
                    medication_id: i.medication_id.clone(),
                    medication_name: i.medication_name.clone(),
                    quantity: i.quantity,
                    dispensed: i.dispensed,
                    dose: i.dose.clone(),
                    frequency: i.frequency.clone(),
                    duration_days: i.duration_days,
                    instructions: i.dosage_instructions.clone(),
                })
                .collect(),
            prescribed_at: p.created_at,
            updated_at: p.updated_at.or(event.time),
        };
        let prescribed = time(course.prescribed_at.as_ref()).unwrap_or_default();
        let updated = time(course.updated_at.as_ref()).unwrap_or(prescribed);
        let sealed = self.keys.seal(
            &place("medication_courses", &p.prescription_id, &p.patient_id, 0),
            &course.encode_to_vec(),
        );
        entries::put_course(
            txn,
            &p.prescription_id,
            &p.patient_id,
            &sealed,
            prescribed,
            updated,
        )
        .await?;
        Ok(())
    }

    async fn erase(
        &self,
        txn: &DatabaseTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let patient_id = event.aggregate_id.as_str();
        if patient_id.is_empty() {
            return Err(Malformed(event.r#type.clone()).into());
        }
        Ok(erase_patient(txn, &self.outbox, patient_id, self.retention).await?)
    }
}

/// Erases what the law lets go of for `patient_id` (see `store::entries::erase`), records what
/// was kept and until when in `erasures`, and reports it with `record.erased`. Run on the
/// erasure request, and again by the background work once the kept entries' retention ends.
pub(crate) async fn erase_patient(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    patient_id: &str,
    retention: chrono::Duration,
) -> Result<(), sea_orm::DbErr> {
    let now = svc_kit::write::now();
    let erased = entries::erase(txn, patient_id, now - retention).await?;
    let b = txn.get_database_backend();
    // Kept entries go once the last of them passes its retention.
    let keep_until = txn
        .query_one_raw(stmt(
            b,
            "SELECT MAX(signed_at) AS last FROM entries WHERE patient_id = $1",
            [patient_id.into()],
        ))
        .await?
        .map(|r| svc_kit::db::get_opt_ts(&r, "last"))
        .transpose()?
        .flatten()
        .map(|last| last + retention);
    txn.execute_raw(stmt(
        b,
        "INSERT INTO erasures (patient_id, requested_at, kept_entries, removed_entries,
            removed_other, keep_until) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (patient_id) DO UPDATE SET requested_at = excluded.requested_at,
            kept_entries = excluded.kept_entries,
            removed_entries = erasures.removed_entries + excluded.removed_entries,
            removed_other = erasures.removed_other + excluded.removed_other,
            keep_until = excluded.keep_until",
        [
            patient_id.into(),
            ts(b, now),
            erased.kept_entries.into(),
            erased.removed_entries.into(),
            erased.removed_other.into(),
            opt_ts(b, keep_until),
        ],
    ))
    .await?;
    outbox
        .enqueue(
            txn,
            events::record(
                "erased",
                pb::RecordEvent {
                    patient_id: patient_id.to_string(),
                    kept_entries: erased.kept_entries,
                    removed_entries: erased.removed_entries,
                    ..Default::default()
                },
                now,
            ),
        )
        .await?;
    tracing::info!(
        kept = erased.kept_entries,
        removed = erased.removed_entries,
        "an erasure request was carried out"
    );
    Ok(())
}

/// The consumer of scheduling's, pharmacy's and accounts' topics.
pub(crate) fn consumer(context: &ServiceContext, intake: Intake) -> Consumer<Intake> {
    let events = &context.settings.events;
    Consumer::new(
        context.db.clone(),
        GROUP,
        [
            ServiceName::Scheduling,
            ServiceName::Pharmacy,
            ServiceName::Accounts,
        ]
        .into_iter()
        .map(|s| topic_for(&events.topic_prefix, s))
        .collect(),
        intake,
        events.consumer_max_attempts,
    )
}

/// Runs the consumer until `shutdown`.
pub(crate) async fn follow(context: ServiceContext, intake: Intake, shutdown: CancellationToken) {
    let consumer = consumer(&context, intake);
    if let Err(error) = consumer.run(context.bus.source, shutdown).await {
        tracing::error!(%error, "records' intake consumer stopped");
    }
}
