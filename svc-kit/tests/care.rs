//! Care relationships learned from scheduling's events over the in-process bus, on PostgreSQL
//! and on SQLite: the consumer a service starts with `care::follow`, fed envelopes shaped as
//! scheduling's outbox writes them.

mod common;

use std::time::Duration;

use common::wait_until;
use medmesh_proto::{
    events::v1::EventEnvelope,
    scheduling::v1::{
        Appointment, AppointmentEvent, AppointmentStatus,
        AppointmentStatus::{Booked, Cancelled, Completed, Confirmed, Expired, Held},
        Slot,
    },
};
use prost::Message as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use svc_kit::{
    ServiceName, Settings, backend_test, care,
    config::EventSettings,
    db::{self, DbError},
    events::{EventSource, MemoryBus, OutgoingEvent, Publisher},
    testing::{TestDb, count},
};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "medmesh.scheduling.v1";

/// A service's database with the care table, its care consumer reading `bus`.
struct Harness {
    db: DatabaseConnection,
    bus: MemoryBus,
    stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn events(max_attempts: u32) -> EventSettings {
    let mut events = Settings::from_figment(Settings::figment(None))
        .unwrap()
        .events;
    events.consumer_max_attempts = max_attempts;
    events
}

impl Harness {
    async fn start(test: &TestDb, max_attempts: u32) -> Harness {
        db::migrate(&test.db, "pharmacy", &[care::MIGRATION])
            .await
            .unwrap();
        let (bus, stop) = (MemoryBus::new(), CancellationToken::new());
        let consumer = care::consumer(
            test.db.clone(),
            ServiceName::Pharmacy,
            &events(max_attempts),
        );
        let (source, token) = (EventSource::Memory(bus.clone()), stop.clone());
        tokio::spawn(async move { consumer.run(source, token).await });
        Harness {
            db: test.db.clone(),
            bus,
            stop,
        }
    }

    async fn publish(&self, envelope: &EventEnvelope) {
        let outcome = self
            .bus
            .publish(&[OutgoingEvent {
                seq: 0,
                event_id: envelope.id.clone(),
                event_type: envelope.r#type.clone(),
                topic: TOPIC.to_string(),
                key: envelope.aggregate_id.clone(),
                payload: envelope.encode_to_vec().into(),
            }])
            .await;
        assert_eq!(outcome.delivered, 1);
    }

    /// Publishes `envelopes`, then waits until the consumer is past all of them.
    async fn deliver(&self, envelopes: &[EventEnvelope]) {
        for envelope in envelopes {
            self.publish(envelope).await;
        }
        let marker = schedule_changed("d-marker");
        self.publish(&marker).await;
        let db = self.db.clone();
        let seen = format!(
            "SELECT COUNT(*) FROM processed_events WHERE consumer = 'pharmacy-care' AND event_id = '{}'",
            marker.id
        );
        wait_until(
            "the consumer past the marker",
            Duration::from_secs(30),
            || {
                let (db, seen) = (db.clone(), seen.clone());
                async move { count(&db, &seen).await == 1 }
            },
        )
        .await;
    }

    async fn in_care(&self, doctor: &str, patient: &str) -> bool {
        care::in_care(&self.db, doctor, patient).await.unwrap()
    }

    async fn rows(&self) -> i64 {
        count(&self.db, "SELECT COUNT(*) FROM care_relationships").await
    }
}

fn envelope(event_type: &str, aggregate_id: &str, payload: &AppointmentEvent) -> EventEnvelope {
    let now = chrono::Utc::now();
    EventEnvelope {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: format!("medmesh.scheduling.v1.{event_type}"),
        source: "medmesh/svc-scheduling".into(),
        aggregate_id: aggregate_id.into(),
        aggregate_type: "appointment".into(),
        time: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: now.timestamp_subsec_nanos() as i32,
        }),
        payload: Some(prost_types::Any {
            type_url: "type.googleapis.com/medmesh.scheduling.v1.AppointmentEvent".into(),
            value: payload.encode_to_vec(),
        }),
        ..Default::default()
    }
}

/// Scheduling's event `event_type` about appointment `id` of `patient` with `doctor`, now
/// in `status`.
fn appointment(
    event_type: &str,
    id: &str,
    doctor: &str,
    patient: &str,
    status: AppointmentStatus,
) -> EventEnvelope {
    let payload = AppointmentEvent {
        appointment: Some(Appointment {
            appointment_id: id.into(),
            slot: Some(Slot {
                doctor_id: doctor.into(),
                ..Default::default()
            }),
            patient_id: patient.into(),
            clinic_id: "c-1".into(),
            status: status.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut event = envelope(event_type, id, &payload);
    event.subject = patient.into();
    event
}

/// `schedule.changed`, as scheduling writes it: no appointment, the doctor in `previous_slot`.
fn schedule_changed(doctor: &str) -> EventEnvelope {
    let payload = AppointmentEvent {
        previous_slot: Some(Slot {
            doctor_id: doctor.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut event = envelope("schedule.changed", doctor, &payload);
    event.aggregate_type = "doctor".into();
    event
}

async fn a_booked_appointment_puts_its_patient_in_its_doctors_care(test: TestDb) {
    let h = Harness::start(&test, 5).await;
    h.deliver(&[
        appointment("appointment.held", "a-1", "d-1", "p-1", Held),
        appointment("appointment.booked", "a-1", "d-1", "p-1", Booked),
        // Booked without a hold first.
        appointment("appointment.booked", "a-2", "d-1", "p-2", Booked),
    ])
    .await;
    assert!(h.in_care("d-1", "p-1").await);
    assert!(h.in_care("d-1", "p-2").await);
    // Another doctor, and the doctor and patient the other way round.
    assert!(!h.in_care("d-2", "p-1").await);
    assert!(!h.in_care("p-1", "d-1").await);
    assert_eq!(
        care::patients_of(&h.db, "d-1", None, 10).await.unwrap(),
        ["p-1", "p-2"]
    );
    assert!(
        care::patients_of(&h.db, "d-2", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
backend_test!(
    a_booked_appointment_puts_its_patient_in_care_on,
    a_booked_appointment_puts_its_patient_in_its_doctors_care
);

async fn a_hold_puts_no_one_in_care(test: TestDb) {
    let h = Harness::start(&test, 5).await;
    h.deliver(&[
        appointment("appointment.held", "a-1", "d-1", "p-1", Held),
        appointment("hold.expired", "a-1", "d-1", "p-1", Expired),
        // A hold let go is reported as a cancellation.
        appointment("appointment.held", "a-2", "d-1", "p-2", Held),
        appointment("appointment.cancelled", "a-2", "d-1", "p-2", Cancelled),
        appointment("waitlist.offered", "a-3", "d-1", "p-3", Held),
        schedule_changed("d-1"),
    ])
    .await;
    for patient in ["p-1", "p-2", "p-3"] {
        assert!(!h.in_care("d-1", patient).await, "{patient}");
    }
    assert_eq!(h.rows().await, 0);
}
backend_test!(a_hold_puts_no_one_in_care_on, a_hold_puts_no_one_in_care);

async fn a_patient_stays_in_care_whatever_became_of_the_appointment(test: TestDb) {
    let h = Harness::start(&test, 5).await;
    let booked = appointment("appointment.booked", "a-1", "d-1", "p-1", Booked);
    h.deliver(&[
        booked.clone(),
        appointment("appointment.cancelled", "a-1", "d-1", "p-1", Cancelled),
        appointment("appointment.booked", "a-2", "d-1", "p-2", Booked),
        appointment("appointment.confirmed", "a-2", "d-1", "p-2", Confirmed),
        appointment("appointment.completed", "a-2", "d-1", "p-2", Completed),
        // Moved to another doctor: the patient is in both doctors' care.
        appointment("appointment.booked", "a-3", "d-1", "p-3", Booked),
        appointment("appointment.rescheduled", "a-3", "d-2", "p-3", Booked),
    ])
    .await;
    assert!(h.in_care("d-1", "p-1").await);
    assert!(h.in_care("d-1", "p-2").await);
    assert!(h.in_care("d-1", "p-3").await);
    assert!(h.in_care("d-2", "p-3").await);
    assert_eq!(h.rows().await, 4);

    // The same event again (a redelivery) and another booking of the same pair: one row,
    // whose latest appointment is the latest booked.
    h.deliver(&[
        booked.clone(),
        appointment("appointment.booked", "a-4", "d-1", "p-1", Booked),
    ])
    .await;
    assert_eq!(h.rows().await, 4);
    let row =
        h.db.query_one_raw(db::stmt(
            h.db.get_database_backend(),
            "SELECT first_seen_at, last_seen_at, last_appointment_id FROM care_relationships
             WHERE doctor_id = 'd-1' AND patient_id = 'p-1'",
            [],
        ))
        .await
        .unwrap()
        .unwrap();
    let first = db::get_ts(&row, "first_seen_at").unwrap();
    let last = db::get_ts(&row, "last_seen_at").unwrap();
    let booked_at = booked.time.unwrap();
    // Stored to the microsecond (ADR 0008).
    assert_eq!(
        (first.timestamp(), first.timestamp_subsec_micros()),
        (booked_at.seconds, booked_at.nanos as u32 / 1000)
    );
    assert!(last > first, "{first} .. {last}");
    assert_eq!(
        row.try_get::<String>("", "last_appointment_id").unwrap(),
        "a-4"
    );
}
backend_test!(
    a_patient_stays_in_care_on,
    a_patient_stays_in_care_whatever_became_of_the_appointment
);

async fn an_older_event_arriving_late_widens_the_pair_without_moving_it_back(test: TestDb) {
    let h = Harness::start(&test, 5).await;
    let mut earlier = appointment("appointment.booked", "a-1", "d-1", "p-1", Booked);
    earlier.time.as_mut().unwrap().seconds -= 60;
    let later = appointment("appointment.booked", "a-2", "d-1", "p-1", Booked);
    // Events of two appointments travel on different partitions: the later may come first.
    h.deliver(&[later.clone(), earlier.clone()]).await;
    let row =
        h.db.query_one_raw(db::stmt(
            h.db.get_database_backend(),
            "SELECT first_seen_at, last_seen_at, last_appointment_id FROM care_relationships",
            [],
        ))
        .await
        .unwrap()
        .unwrap();
    // Stored to the microsecond (ADR 0008).
    let stored = |column: &str| {
        let t = db::get_ts(&row, column).unwrap();
        (t.timestamp(), t.timestamp_subsec_micros())
    };
    let sent = |e: &EventEnvelope| {
        let t = e.time.unwrap();
        (t.seconds, t.nanos as u32 / 1000)
    };
    assert_eq!(stored("first_seen_at"), sent(&earlier));
    assert_eq!(stored("last_seen_at"), sent(&later));
    assert_eq!(
        row.try_get::<String>("", "last_appointment_id").unwrap(),
        "a-2"
    );
}
backend_test!(
    an_older_event_arriving_late_on,
    an_older_event_arriving_late_widens_the_pair_without_moving_it_back
);

async fn a_doctors_patients_come_in_pages(test: TestDb) {
    let h = Harness::start(&test, 5).await;
    let bookings: Vec<EventEnvelope> = (0..5)
        .map(|i| {
            appointment(
                "appointment.booked",
                &format!("a-{i}"),
                "d-1",
                &format!("p-{i}"),
                Booked,
            )
        })
        .collect();
    h.deliver(&bookings).await;
    let first = care::patients_of(&h.db, "d-1", None, 2).await.unwrap();
    assert_eq!(first, ["p-0", "p-1"]);
    let second = care::patients_of(&h.db, "d-1", Some("p-1"), 2)
        .await
        .unwrap();
    assert_eq!(second, ["p-2", "p-3"]);
    let last = care::patients_of(&h.db, "d-1", Some("p-3"), 2)
        .await
        .unwrap();
    assert_eq!(last, ["p-4"]);
}
backend_test!(
    a_doctors_patients_come_in_pages_on,
    a_doctors_patients_come_in_pages
);

async fn an_unreadable_appointment_event_is_dead_lettered_and_does_not_block(test: TestDb) {
    let h = Harness::start(&test, 2).await;
    let mut broken = appointment("appointment.booked", "a-1", "d-1", "p-1", Booked);
    broken.payload.as_mut().unwrap().value = vec![0xff, 0xff, 0xff];
    h.deliver(&[
        broken.clone(),
        appointment("appointment.booked", "a-2", "d-1", "p-2", Booked),
    ])
    .await;
    assert!(!h.in_care("d-1", "p-1").await);
    assert!(h.in_care("d-1", "p-2").await);
    let dead = format!(
        "SELECT COUNT(*) FROM dead_letters WHERE consumer = 'pharmacy-care' AND event_id = '{}'",
        broken.id
    );
    assert_eq!(count(&h.db, &dead).await, 1);
}
backend_test!(
    an_unreadable_appointment_event_is_dead_lettered_on,
    an_unreadable_appointment_event_is_dead_lettered_and_does_not_block
);

async fn a_service_migration_sharing_cares_version_is_refused(test: TestDb) {
    let clash = db::Migration {
        version: care::MIGRATION.version,
        name: "a service's own",
        postgres: &["CREATE TABLE clash (id TEXT)"],
        sqlite: &["CREATE TABLE clash (id TEXT)"],
    };
    let refused = db::migrate(&test.db, "pharmacy", &[clash, care::MIGRATION]).await;
    assert!(
        matches!(refused, Err(DbError::DuplicateVersion { version, .. }) if version == care::MIGRATION.version),
        "{refused:?}"
    );
    assert_eq!(
        count(
            &test.db,
            "SELECT COUNT(*) FROM schema_migrations WHERE component = 'pharmacy'"
        )
        .await,
        0
    );
}
backend_test!(
    a_service_migration_sharing_cares_version_is_refused_on,
    a_service_migration_sharing_cares_version_is_refused
);
