//! Which patients are in a doctor's care: a patient who has or had an appointment with the
//! doctor, learned from scheduling's events. Services that decide by it (pharmacy: a doctor
//! prescribes for their own patients; records: a doctor reads their own patients' files) keep
//! their own copy, since a service never reads another's tables.
//!
//! An appointment puts its patient in its doctor's care once it is booked, and they stay there
//! whatever happens to it afterwards (confirmed, checked in, completed, a no-show, cancelled).
//! A hold is not an appointment: a hold, a hold that expired, a hold that was let go (which
//! scheduling reports as a cancellation) and a waitlist offer put no one in anyone's care. So a
//! cancellation is never recorded by itself; a booked appointment that was cancelled was
//! recorded when it was booked.
//!
//! A service opts in by listing [`MIGRATION`] among its own migrations and starting
//! [`follow`] among its workers. A new consumer group reads scheduling's topic from its
//! earliest retained event: what the topic no longer holds is not learned.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use medmesh_proto::{
    events::v1::EventEnvelope,
    scheduling::v1::{AppointmentEvent, AppointmentStatus},
};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use tokio_util::sync::CancellationToken;

use crate::{
    ServiceContext,
    config::{EventSettings, ServiceName},
    db::{Migration, stmt, ts},
    events::{Consumer, EventHandler, HandlerError, topic_for},
};

/// The table, for a service to list among its own migrations (so it is created only where
/// it is filled). Its version is in the range kept for the kit's pieces a service opts into
/// (see [`Migration::version`]), so it cannot clash with the service's own.
pub const MIGRATION: Migration = Migration {
    version: 1_000_001,
    name: "svc-kit care: care relationships",
    postgres: &["CREATE TABLE care_relationships (
            doctor_id TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            first_seen_at TIMESTAMPTZ NOT NULL,
            last_seen_at TIMESTAMPTZ NOT NULL,
            last_appointment_id TEXT NOT NULL,
            PRIMARY KEY (doctor_id, patient_id))"],
    sqlite: &["CREATE TABLE care_relationships (
            doctor_id TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            last_appointment_id TEXT NOT NULL,
            PRIMARY KEY (doctor_id, patient_id))"],
};

/// The event types that carry an appointment (`hold.expired`, `waitlist.offered` and
/// `schedule.changed` never put anyone in care).
const APPOINTMENT_EVENTS: &str = "medmesh.scheduling.v1.appointment.";

/// The payload scheduling's appointment events carry.
const PAYLOAD_TYPE_URL: &str = "type.googleapis.com/medmesh.scheduling.v1.AppointmentEvent";

/// Whether an appointment in `status` has been booked. A cancellation is not: it may be of a
/// hold (see the module's documentation).
fn was_booked(status: AppointmentStatus) -> bool {
    match status {
        AppointmentStatus::Booked
        | AppointmentStatus::Confirmed
        | AppointmentStatus::CheckedIn
        | AppointmentStatus::Completed
        | AppointmentStatus::NoShow => true,
        AppointmentStatus::Unspecified
        | AppointmentStatus::Held
        | AppointmentStatus::Expired
        | AppointmentStatus::Cancelled => false,
    }
}

/// What one event says about care: the doctor, the patient and the appointment, seen at the
/// time the change committed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    doctor_id: String,
    patient_id: String,
    appointment_id: String,
    at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
enum MalformedEvent {
    #[error("{0} carries no payload")]
    NoPayload(String),
    #[error("{event_type} carries {type_url}, not an AppointmentEvent")]
    OtherPayload {
        event_type: String,
        type_url: String,
    },
    #[error("{0} carries an undecodable AppointmentEvent")]
    Undecodable(String),
    #[error("{0} names no appointment, doctor or patient")]
    Incomplete(String),
}

/// Reads `envelope`: `None` when it puts no one in care, an error when it should but cannot be
/// read (it is then retried and dead-lettered, as any failing event).
fn seen(envelope: &EventEnvelope) -> Result<Option<Seen>, MalformedEvent> {
    let event_type = &envelope.r#type;
    if !event_type.starts_with(APPOINTMENT_EVENTS) {
        return Ok(None);
    }
    let any = envelope
        .payload
        .as_ref()
        .ok_or_else(|| MalformedEvent::NoPayload(event_type.clone()))?;
    if any.type_url != PAYLOAD_TYPE_URL {
        return Err(MalformedEvent::OtherPayload {
            event_type: event_type.clone(),
            type_url: any.type_url.clone(),
        });
    }
    let event = AppointmentEvent::decode(any.value.as_slice())
        .map_err(|_| MalformedEvent::Undecodable(event_type.clone()))?;
    let Some(appointment) = event.appointment else {
        return Err(MalformedEvent::Incomplete(event_type.clone()));
    };
    if !was_booked(appointment.status()) {
        return Ok(None);
    }
    let doctor_id = appointment
        .slot
        .map(|slot| slot.doctor_id)
        .unwrap_or_default();
    if doctor_id.is_empty()
        || appointment.patient_id.is_empty()
        || appointment.appointment_id.is_empty()
    {
        return Err(MalformedEvent::Incomplete(event_type.clone()));
    }
    let at = envelope
        .time
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now);
    Ok(Some(Seen {
        doctor_id,
        patient_id: appointment.patient_id,
        appointment_id: appointment.appointment_id,
        at,
    }))
}

/// Records the pair of `seen`: created the first time, otherwise widened to the earliest and the
/// latest time seen (events of different appointments may arrive in any order), the latest
/// appointment kept with the latest time. Applying it again changes nothing.
async fn record(conn: &impl ConnectionTrait, seen: &Seen) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_raw(stmt(
        backend,
        "INSERT INTO care_relationships
            (doctor_id, patient_id, first_seen_at, last_seen_at, last_appointment_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (doctor_id, patient_id) DO UPDATE SET
            first_seen_at = CASE WHEN excluded.first_seen_at < care_relationships.first_seen_at
                THEN excluded.first_seen_at ELSE care_relationships.first_seen_at END,
            last_appointment_id = CASE WHEN excluded.last_seen_at >= care_relationships.last_seen_at
                THEN excluded.last_appointment_id ELSE care_relationships.last_appointment_id END,
            last_seen_at = CASE WHEN excluded.last_seen_at > care_relationships.last_seen_at
                THEN excluded.last_seen_at ELSE care_relationships.last_seen_at END",
        [
            seen.doctor_id.clone().into(),
            seen.patient_id.clone().into(),
            ts(backend, seen.at),
            ts(backend, seen.at),
            seen.appointment_id.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The [`EventHandler`] that keeps `care_relationships` from scheduling's events.
#[derive(Debug, Clone, Copy, Default)]
pub struct CareRecorder;

impl EventHandler for CareRecorder {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        event: &'a EventEnvelope,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if let Some(seen) = seen(event)? {
                record(txn, &seen).await?;
            }
            Ok(())
        })
    }
}

/// Whether `patient_id` is in `doctor_id`'s care.
pub async fn in_care(
    db: &impl ConnectionTrait,
    doctor_id: &str,
    patient_id: &str,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db.get_database_backend(),
            "SELECT 1 AS one FROM care_relationships WHERE doctor_id = $1 AND patient_id = $2",
            [doctor_id.into(), patient_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// The patients in `doctor_id`'s care, by patient id: at most `limit` of them after `after`
/// (a page's last patient id; `None` for the first page). Fetch `limit + 1` to learn whether
/// there is a next page (`paging::next_page`).
pub async fn patients_of(
    db: &impl ConnectionTrait,
    doctor_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .query_all_raw(stmt(
            backend,
            "SELECT patient_id FROM care_relationships
             WHERE doctor_id = $1 AND patient_id > $2
             ORDER BY patient_id LIMIT $3",
            [
                doctor_id.into(),
                after.unwrap_or_default().into(),
                limit.into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "patient_id"))
        .collect()
}

/// The consumer group a service's care records are kept under, e.g. `pharmacy-care`.
pub fn group(service: ServiceName) -> String {
    format!("{service}-care")
}

/// `service`'s consumer of scheduling's events, keeping `care_relationships` in `db`.
pub fn consumer(
    db: DatabaseConnection,
    service: ServiceName,
    events: &EventSettings,
) -> Consumer<CareRecorder> {
    Consumer::new(
        db,
        group(service),
        vec![topic_for(&events.topic_prefix, ServiceName::Scheduling)],
        CareRecorder,
        events.consumer_max_attempts,
    )
}

/// Keeps the service's `care_relationships` until `shutdown`; for `spawn_workers`:
/// `tokio::spawn(care::follow(context.clone(), shutdown.clone()))`.
pub async fn follow(context: ServiceContext, shutdown: CancellationToken) {
    let consumer = consumer(context.db, context.service, &context.settings.events);
    if let Err(error) = consumer.run(context.bus.source, shutdown).await {
        tracing::error!(service = %context.service, %error, "care consumer stopped");
    }
}

#[cfg(test)]
mod tests {
    use medmesh_proto::scheduling::v1::{Appointment, Slot};

    use super::*;

    fn envelope(event_type: &str, status: AppointmentStatus) -> EventEnvelope {
        let event = AppointmentEvent {
            appointment: Some(Appointment {
                appointment_id: "a-1".into(),
                slot: Some(Slot {
                    doctor_id: "d-1".into(),
                    ..Default::default()
                }),
                patient_id: "p-1".into(),
                status: status.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        EventEnvelope {
            id: "e-1".into(),
            r#type: event_type.into(),
            time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 5_000,
            }),
            payload: Some(prost_types::Any {
                type_url: PAYLOAD_TYPE_URL.into(),
                value: event.encode_to_vec(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_booked_appointment_names_its_doctor_patient_and_time() {
        let seen = seen(&envelope(
            "medmesh.scheduling.v1.appointment.booked",
            AppointmentStatus::Booked,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(seen.doctor_id, "d-1");
        assert_eq!(seen.patient_id, "p-1");
        assert_eq!(seen.appointment_id, "a-1");
        assert_eq!(seen.at.timestamp(), 1_800_000_000);
        assert_eq!(seen.at.timestamp_subsec_nanos(), 5_000);
    }

    #[test]
    fn only_booked_appointments_count() {
        let kind = "medmesh.scheduling.v1.appointment.any";
        for status in [
            AppointmentStatus::Booked,
            AppointmentStatus::Confirmed,
            AppointmentStatus::CheckedIn,
            AppointmentStatus::Completed,
            AppointmentStatus::NoShow,
        ] {
            assert!(
                seen(&envelope(kind, status)).unwrap().is_some(),
                "{status:?}"
            );
        }
        for status in [
            AppointmentStatus::Unspecified,
            AppointmentStatus::Held,
            AppointmentStatus::Expired,
            AppointmentStatus::Cancelled,
        ] {
            assert!(
                seen(&envelope(kind, status)).unwrap().is_none(),
                "{status:?}"
            );
        }
    }

    #[test]
    fn other_event_types_are_ignored_unread() {
        for kind in [
            "medmesh.scheduling.v1.schedule.changed",
            "medmesh.scheduling.v1.hold.expired",
            "medmesh.scheduling.v1.waitlist.offered",
            "medmesh.pharmacy.v1.prescription.created",
        ] {
            let mut event = envelope(kind, AppointmentStatus::Booked);
            event.payload = None;
            assert!(seen(&event).unwrap().is_none(), "{kind}");
        }
    }

    #[test]
    fn an_appointment_event_that_cannot_be_read_is_an_error() {
        let kind = "medmesh.scheduling.v1.appointment.booked";
        let mut no_payload = envelope(kind, AppointmentStatus::Booked);
        no_payload.payload = None;
        let mut other = envelope(kind, AppointmentStatus::Booked);
        other.payload.as_mut().unwrap().type_url = "type.googleapis.com/x.Y".into();
        let mut garbage = envelope(kind, AppointmentStatus::Booked);
        garbage.payload.as_mut().unwrap().value = vec![0xff, 0xff, 0xff];
        let mut no_doctor = envelope(kind, AppointmentStatus::Booked);
        no_doctor.payload.as_mut().unwrap().value = AppointmentEvent {
            appointment: Some(Appointment {
                appointment_id: "a-1".into(),
                patient_id: "p-1".into(),
                status: AppointmentStatus::Booked.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        for event in [no_payload, other, garbage, no_doctor] {
            assert!(seen(&event).is_err(), "{event:?}");
        }
    }
}
