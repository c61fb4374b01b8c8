//! No double booking under concurrency, enforced by the database: two scheduling replicas on one
//! database, many clients at once.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Harness, code, start_replicas, with};
use futures::future::join_all;
use medmesh_proto::scheduling::v1::{self as pb, AppointmentStatus as S};
use rand::{Rng, SeedableRng, rngs::StdRng};
use svc_kit::{backend_test, testing::TestDb};
use tonic::Code;

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

/// Live appointments that overlap another live one of the same doctor (not overridden) or of
/// the same patient.
async fn overlaps(h: &Harness) -> (i64, i64) {
    let live = "('held', 'booked', 'confirmed', 'checked_in', 'completed')";
    let doctor = h
        .count(&format!(
            "SELECT COUNT(*) FROM appointments a JOIN appointments b
               ON a.doctor_id = b.doctor_id AND a.appointment_id < b.appointment_id
              AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
             WHERE a.status IN {live} AND b.status IN {live}
               AND a.override_reason = '' AND b.override_reason = ''"
        ))
        .await;
    let patient = h
        .count(&format!(
            "SELECT COUNT(*) FROM appointments a JOIN appointments b
               ON a.patient_id = b.patient_id AND a.appointment_id < b.appointment_id
              AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
             WHERE a.status IN {live} AND b.status IN {live}"
        ))
        .await;
    (doctor, patient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_on_two_replicas_book_one_slot_and_exactly_one_wins() {
    let h = start_replicas(TestDb::postgres().await, 2).await;
    let doctor = doctors(&h, 1).await.remove(0);
    let tokens = patients(&h, 200).await;
    let slot = h.free_slots(&tokens[0], &doctor, 2).await.remove(5);
    let results = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let mut client = h.client_of(i);
        let request = pb::BookAppointmentRequest {
            request_id: format!("race-{i}"),
            doctor_id: doctor.clone(),
            start: slot.start,
            ..Default::default()
        };
        async move { client.book_appointment(with(request, token)).await }
    }))
    .await;
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for result in &results {
        *by_code.entry(format!("{:?}", code(result))).or_default() += 1;
    }
    assert_eq!(by_code.get("Ok"), Some(&1), "{by_code:?}");
    assert_eq!(
        by_code.get("AlreadyExists"),
        Some(&199),
        "no other outcome: {by_code:?}"
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
    let h = start_replicas(db, 2).await;
    let doctors = doctors(&h, 6).await;
    let tokens = patients(&h, 30).await;
    let mut grid: Vec<(String, pb::Slot)> = Vec::new();
    for d in &doctors {
        for slot in h.free_slots(&tokens[0], d, 2).await.into_iter().take(8) {
            grid.push((d.clone(), slot));
        }
    }

    // No false conflicts: every patient books a slot nobody else wants, all at once, on two
    // replicas. Each must succeed, however busy the database is meanwhile.
    let first = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let mut client = h.client_of(i);
        let (doctor, slot) = grid[i].clone();
        let request = pb::BookAppointmentRequest {
            request_id: format!("distinct-{i}"),
            doctor_id: doctor,
            start: slot.start,
            ..Default::default()
        };
        async move { client.book_appointment(with(request, token)).await }
    }))
    .await;
    for (i, result) in first.iter().enumerate() {
        assert_eq!(code(result), Code::Ok, "patient {i}: {result:?}");
    }

    // Then a random storm: each patient books, cancels and reschedules at random, all
    // concurrently, on both replicas; many want the same slots.
    let outcomes = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let mut client = h.client_of(i);
        let grid = grid.clone();
        let mine = first[i].as_ref().unwrap().get_ref().appointment_id.clone();
        async move {
            let mut rng = StdRng::seed_from_u64(i as u64);
            let mut held: BTreeSet<String> = [mine].into();
            let mut codes: Vec<Code> = Vec::new();
            for step in 0..12 {
                let request_id = format!("storm-{i}-{step}");
                let op = rng.gen_range(0..3);
                let result = if op == 0 || held.is_empty() {
                    let (doctor, slot) = grid[rng.gen_range(0..grid.len())].clone();
                    let r = client
                        .book_appointment(with(
                            pb::BookAppointmentRequest {
                                request_id,
                                doctor_id: doctor,
                                start: slot.start,
                                ..Default::default()
                            },
                            token,
                        ))
                        .await;
                    if let Ok(a) = &r {
                        held.insert(a.get_ref().appointment_id.clone());
                    }
                    r.map(|_| ())
                } else if op == 1 {
                    let id = held
                        .iter()
                        .nth(rng.gen_range(0..held.len()))
                        .unwrap()
                        .clone();
                    let r = client
                        .cancel_appointment(with(
                            pb::CancelAppointmentRequest {
                                request_id,
                                appointment_id: id.clone(),
                                reason: String::new(),
                            },
                            token,
                        ))
                        .await;
                    if r.is_ok() {
                        held.remove(&id);
                    }
                    r.map(|_| ())
                } else {
                    let id = held
                        .iter()
                        .nth(rng.gen_range(0..held.len()))
                        .unwrap()
                        .clone();
                    let (doctor, slot) = grid[rng.gen_range(0..grid.len())].clone();
                    client
                        .reschedule_appointment(with(
                            pb::RescheduleAppointmentRequest {
                                request_id,
                                appointment_id: id,
                                new_start: slot.start,
                                new_doctor_id: doctor,
                            },
                            token,
                        ))
                        .await
                        .map(|_| ())
                };
                codes.push(code(&result));
            }
            (held, codes)
        }
    }))
    .await;

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut believed: BTreeSet<String> = BTreeSet::new();
    for (held, codes) in &outcomes {
        believed.extend(held.iter().cloned());
        for c in codes {
            *tally.entry(format!("{c:?}")).or_default() += 1;
        }
    }
    eprintln!("storm on {}: {tally:?}", h.backend);
    // A conflict is the only refusal a client can meet here: no INTERNAL, no UNAVAILABLE,
    // no ABORTED from contention.
    for (c, n) in &tally {
        assert!(
            c == "Ok" || c == "AlreadyExists",
            "{n} calls answered {c}: {tally:?}"
        );
    }
    assert!(
        tally.get("Ok").copied().unwrap_or(0) > 100,
        "the storm did work: {tally:?}"
    );

    assert_eq!(
        overlaps(&h).await,
        (0, 0),
        "no overlapping live appointments"
    );
    // No ghost bookings: what the database holds as booked is exactly what the clients were
    // told they hold.
    let rows = h
        .count("SELECT COUNT(*) FROM appointments WHERE status = 'booked'")
        .await;
    assert_eq!(rows as usize, believed.len());
    for id in &believed {
        let n = h
            .count(&format!("SELECT COUNT(*) FROM appointments WHERE appointment_id = '{id}' AND status = 'booked'"))
            .await;
        assert_eq!(n, 1, "{id} is booked");
    }
    let _ = S::Booked;
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
