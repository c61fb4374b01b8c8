//! No double booking under concurrency, enforced by the database: two scheduling replicas on one
//! database, many clients at once.

mod common;

use common::{Harness, start_replicas, start_replicas_with, with, without_patient_caps};
use futures::future::join_all;
use medmesh_proto::scheduling::v1 as pb;
use svc_kit::{backend_test, testing::TestDb};
use svc_scheduling::testing;

/// A clinic with `n` doctors, each seeing patients every day 08:00-20:00 in 30-minute visits.
async fn doctors(h: &Harness, n: usize) -> Vec<String> {
    let (clinic, _) = h.clinic("Central", "Europe/Kyiv").await;
    let spec = h.specialization("General practice").await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            h.doctor(
                &h.token_for(&format!("storm-doctor-{i}"), &["doctor"]),
                &clinic,
                &spec,
            )
            .await,
        );
    }
    ids
}

/// Patients' tokens, each already known to every replica (so the storm measures booking, not
/// first sign-in).
async fn patients(h: &Harness, n: usize) -> Vec<String> {
    let tokens: Vec<String> = (0..n)
        .map(|i| h.token_for(&format!("storm-patient-{i}"), &["patient"]))
        .collect();
    for chunk in tokens.chunks(20) {
        join_all(chunk.iter().enumerate().map(|(i, token)| {
            let mut client = h.client_of(i);
            let mut other = h.client_of(i + 1);
            async move {
                client
                    .list_appointments(with(pb::ListAppointmentsRequest::default(), token))
                    .await
                    .unwrap();
                other
                    .list_appointments(with(pb::ListAppointmentsRequest::default(), token))
                    .await
                    .unwrap();
            }
        }))
        .await;
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_on_two_replicas_book_one_slot_and_exactly_one_wins() {
    let h = start_replicas(TestDb::postgres().await, 2).await;
    let doctor = doctors(&h, 1).await.remove(0);
    let tokens = patients(&h, 200).await;
    let slot = h.free_slots(&tokens[0], &doctor, 2).await.remove(5);
    let clients = [h.client_of(0), h.client_of(1)];
    let tally = testing::race(&clients, &tokens, &doctor, &slot).await;
    assert_eq!(tally.get("Ok"), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("AlreadyExists"),
        Some(&199),
        "no other outcome: {tally:?}"
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM appointments WHERE status = 'booked'")
            .await,
        1
    );
    assert_eq!(h.events("appointment.booked").await, 1);
}

backend_test!(
    a_storm_of_bookings_cancellations_and_reschedules_never_double_books,
    storm
);
async fn storm(db: TestDb) {
    // The storm is about double bookings: the patients' caps (tested on their own) are lifted
    // so that every call meets the race, not a cap.
    let h = start_replicas_with(db, 2, without_patient_caps).await;
    let doctors = doctors(&h, 6).await;
    let tokens = patients(&h, 30).await;
    let mut grid: Vec<(String, pb::Slot)> = Vec::new();
    for d in &doctors {
        for slot in h.free_slots(&tokens[0], d, 2).await.into_iter().take(8) {
            grid.push((d.clone(), slot));
        }
    }
    let clients = [h.client_of(0), h.client_of(1)];
    let report = testing::storm(&clients, &tokens, &grid, 12).await;
    eprintln!(
        "storm on {}: {:?}; sent again: {:?}",
        h.backend, report.tally, report.retries
    );
    // No false conflicts: a slot nobody else wanted was booked, however busy the database was.
    assert!(
        report.false_conflicts.is_empty(),
        "{:?}",
        report.false_conflicts
    );
    // A conflict is the only refusal a client meets once it has sent again what it was told to
    // retry: no INTERNAL, no ABORTED, no UNAVAILABLE left.
    for (c, n) in &report.tally {
        assert!(
            c == "Ok" || c == "AlreadyExists",
            "{n} calls answered {c}: {:?} {:?}",
            report.tally,
            report.messages
        );
    }
    assert!(
        report.tally.get("Ok").copied().unwrap_or(0) > 100,
        "the storm did work: {:?}",
        report.tally
    );
    assert_eq!(
        testing::overlaps(&h.db).await,
        (0, 0),
        "no overlapping live appointments"
    );
    // No ghost bookings: what the database holds as booked is exactly what clients were told.
    assert_eq!(testing::booked_ids(&h.db).await, report.believed);
}

/// The guard is the database, not the service: two overlapping rows written straight into
/// PostgreSQL are refused by the exclusion constraints (doctor, then patient), and an
/// overridden or cancelled one is let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_itself_refuses_overlapping_appointments() {
    use sea_orm::ConnectionTrait;
    let h = start_replicas(TestDb::postgres().await, 1).await;
    let doctor = doctors(&h, 1).await.remove(0);
    let insert =
        |id: &str, patient: &str, start: &str, end: &str, status: &str, override_reason: &str| {
            format!(
            "INSERT INTO appointments (appointment_id, doctor_id, patient_id, clinic_id, time_zone,
                starts_at, ends_at, status, override_reason, created_by, created_at, updated_at)
             VALUES ('{id}', '{doctor}', '{patient}', 'c', 'UTC', '{start}', '{end}', '{status}',
                '{override_reason}', 'test', now(), now())"
        )
        };
    let run = |sql: String| {
        let db = h.db.clone();
        async move { db.execute_unprepared(&sql).await }
    };
    run(insert(
        "a1",
        "p1",
        "2030-01-01T10:00Z",
        "2030-01-01T10:30Z",
        "booked",
        "",
    ))
    .await
    .unwrap();
    let same_doctor = run(insert(
        "a2",
        "p2",
        "2030-01-01T10:15Z",
        "2030-01-01T10:45Z",
        "held",
        "",
    ))
    .await;
    let message = same_doctor.unwrap_err().to_string();
    assert!(
        message.contains("appointments_doctor_time_taken"),
        "{message}"
    );
    let back_to_back = run(insert(
        "a3",
        "p2",
        "2030-01-01T10:30Z",
        "2030-01-01T11:00Z",
        "booked",
        "",
    ))
    .await;
    assert!(
        back_to_back.is_ok(),
        "ranges are half-open: {back_to_back:?}"
    );
    let same_patient = run(insert(
        "a4",
        "p1",
        "2030-01-01T10:00Z",
        "2030-01-01T10:30Z",
        "booked",
        "urgent",
    ))
    .await;
    let message = same_patient.unwrap_err().to_string();
    assert!(
        message.contains("appointments_patient_time_taken"),
        "{message}"
    );
    run(insert(
        "a5",
        "p3",
        "2030-01-01T10:00Z",
        "2030-01-01T10:30Z",
        "booked",
        "urgent",
    ))
    .await
    .unwrap();
    run(insert(
        "a6",
        "p4",
        "2030-01-01T10:00Z",
        "2030-01-01T10:30Z",
        "cancelled",
        "",
    ))
    .await
    .unwrap();
}
