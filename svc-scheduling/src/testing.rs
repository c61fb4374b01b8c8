//! Load drivers shared by the concurrency tests (in-process replicas here, separate processes
//! in the platform's tests): a race for one slot and a random storm, plus the SQL check that
//! finds overlapping live appointments.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use medmesh_proto::scheduling::v1::{
    self as pb, scheduling_service_client::SchedulingServiceClient,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tonic::{Code, Request, transport::Channel};

fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    request
}

fn code<T>(result: &Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The patients' caps (`scheduling.patient_max_*`) out of the way, as the environment of a
/// `medmesh serve scheduling` process, for load tests whose patients book at random.
pub const WITHOUT_PATIENT_CAPS_ENV: [(&str, &str); 3] = [
    ("MEDMESH_SCHEDULING__PATIENT_MAX_LIVE_HOLDS", "1000"),
    ("MEDMESH_SCHEDULING__PATIENT_MAX_UPCOMING", "1000"),
    (
        "MEDMESH_SCHEDULING__PATIENT_MAX_UPCOMING_PER_DOCTOR",
        "1000",
    ),
];

/// How many times a client sends a request again after an answer that says "retry".
pub const CLIENT_RETRIES: usize = 5;

/// `call`, made as the API asks a client to: an answer that says "retry with the same
/// request_id" (UNAVAILABLE: busy, or a dependency away; RESOURCE_EXHAUSTED: shed at capacity)
/// is met by the same request again after a pause, up to [`CLIENT_RETRIES`] times. Each retry
/// is noted in `retries` with the answer that caused it. Whatever else the server says is the
/// call's outcome: a retried request must end as one sent once would.
pub async fn as_a_client<T, F, Fut>(
    retries: &mut Vec<String>,
    mut call: F,
) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut pause = std::time::Duration::from_millis(100);
    for _ in 0..CLIENT_RETRIES {
        match call().await {
            Err(status) if matches!(status.code(), Code::Unavailable | Code::ResourceExhausted) => {
                retries.push(format!("{:?}: {}", status.code(), status.message()));
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// The call's code, and the server's message when the code is neither OK nor ALREADY_EXISTS.
fn outcome<T>(result: &Result<T, tonic::Status>) -> (Code, Option<String>) {
    match result {
        Ok(_) => (Code::Ok, None),
        Err(status) if status.code() == Code::AlreadyExists => (Code::AlreadyExists, None),
        Err(status) => (status.code(), Some(status.message().to_string())),
    }
}

/// Every client books `slot` of `doctor` at once, client `i` through `clients[i % n]`
/// ([`as_a_client`]).
/// Returns how many calls ended with each code.
pub async fn race(
    clients: &[SchedulingServiceClient<Channel>],
    tokens: &[String],
    doctor: &str,
    slot: &pb::Slot,
) -> BTreeMap<String, usize> {
    let results = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let client = clients[i % clients.len()].clone();
        let request = pb::BookAppointmentRequest {
            request_id: format!("race-{i}"),
            doctor_id: doctor.to_string(),
            start: slot.start,
            ..Default::default()
        };
        async move {
            as_a_client(&mut Vec::new(), || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.book_appointment(with(request, token)).await }
            })
            .await
        }
    }))
    .await;
    let mut tally = BTreeMap::new();
    for result in &results {
        *tally.entry(format!("{:?}", code(result))).or_default() += 1;
    }
    tally
}

/// What a storm did.
#[derive(Debug, Default)]
pub struct StormReport {
    /// Calls of the first round (each patient books a slot nobody else wants) that failed.
    pub false_conflicts: Vec<String>,
    /// How many calls of the random round ended with each code.
    pub tally: BTreeMap<String, usize>,
    /// What the server said with each code other than OK and ALREADY_EXISTS.
    pub messages: BTreeMap<String, BTreeSet<String>>,
    /// The answers that made a client send a request again (see [`as_a_client`]).
    pub retries: Vec<String>,
    /// The appointments the clients were told they hold at the end.
    pub believed: BTreeSet<String>,
}

/// First every patient books a distinct slot of `grid` at once (none may fail); then each makes
/// `steps` random bookings, cancellations and reschedules over the whole grid, all at once.
/// Every call is made [`as_a_client`] would make it.
pub async fn storm(
    clients: &[SchedulingServiceClient<Channel>],
    tokens: &[String],
    grid: &[(String, pb::Slot)],
    steps: usize,
) -> StormReport {
    assert!(grid.len() >= tokens.len(), "one distinct slot per patient");
    let mut report = StormReport::default();
    let first = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let client = clients[i % clients.len()].clone();
        let (doctor, slot) = grid[i].clone();
        let request = pb::BookAppointmentRequest {
            request_id: format!("distinct-{i}"),
            doctor_id: doctor,
            start: slot.start,
            ..Default::default()
        };
        async move {
            let mut retries = Vec::new();
            let result = as_a_client(&mut retries, || {
                let (mut client, request) = (client.clone(), request.clone());
                async move { client.book_appointment(with(request, token)).await }
            })
            .await;
            (result, retries)
        }
    }))
    .await;
    let first: Vec<_> = first
        .into_iter()
        .map(|(result, retries)| {
            report.retries.extend(retries);
            result
        })
        .collect();
    for (i, result) in first.iter().enumerate() {
        if let Err(status) = result {
            report.false_conflicts.push(format!(
                "patient {i}: {:?} {}",
                status.code(),
                status.message()
            ));
        }
    }
    let outcomes = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let client = clients[i % clients.len()].clone();
        let mine: BTreeSet<String> = first[i]
            .as_ref()
            .map(|r| r.get_ref().appointment_id.clone())
            .into_iter()
            .collect();
        async move {
            let mut rng = StdRng::seed_from_u64(i as u64);
            let mut held = mine;
            let mut codes = Vec::new();
            let mut retries = Vec::new();
            for step in 0..steps {
                let request_id = format!("storm-{i}-{step}");
                let op = rng.gen_range(0..3);
                let result = if op == 0 || held.is_empty() {
                    let (doctor, slot) = grid[rng.gen_range(0..grid.len())].clone();
                    let request = pb::BookAppointmentRequest {
                        request_id,
                        doctor_id: doctor,
                        start: slot.start,
                        ..Default::default()
                    };
                    let r = as_a_client(&mut retries, || {
                        let (mut client, request) = (client.clone(), request.clone());
                        async move { client.book_appointment(with(request, token)).await }
                    })
                    .await;
                    if let Ok(a) = &r {
                        held.insert(a.get_ref().appointment_id.clone());
                    }
                    outcome(&r)
                } else if op == 1 {
                    let id = held
                        .iter()
                        .nth(rng.gen_range(0..held.len()))
                        .cloned()
                        .unwrap_or_default();
                    let request = pb::CancelAppointmentRequest {
                        request_id,
                        appointment_id: id.clone(),
                        reason: String::new(),
                    };
                    let r = as_a_client(&mut retries, || {
                        let (mut client, request) = (client.clone(), request.clone());
                        async move { client.cancel_appointment(with(request, token)).await }
                    })
                    .await;
                    if r.is_ok() {
                        held.remove(&id);
                    }
                    outcome(&r)
                } else {
                    let id = held
                        .iter()
                        .nth(rng.gen_range(0..held.len()))
                        .cloned()
                        .unwrap_or_default();
                    let (doctor, slot) = grid[rng.gen_range(0..grid.len())].clone();
                    let request = pb::RescheduleAppointmentRequest {
                        request_id,
                        appointment_id: id,
                        new_start: slot.start,
                        new_doctor_id: doctor,
                    };
                    let r = as_a_client(&mut retries, || {
                        let (mut client, request) = (client.clone(), request.clone());
                        async move { client.reschedule_appointment(with(request, token)).await }
                    })
                    .await;
                    outcome(&r)
                };
                codes.push(result);
            }
            (held, codes, retries)
        }
    }))
    .await;
    for (held, codes, retries) in outcomes {
        report.believed.extend(held);
        report.retries.extend(retries);
        for (c, message) in codes {
            *report.tally.entry(format!("{c:?}")).or_default() += 1;
            if let Some(message) = message {
                report
                    .messages
                    .entry(format!("{c:?}"))
                    .or_default()
                    .insert(message);
            }
        }
    }
    report
}

/// Pairs of live appointments that overlap: (same doctor, neither overridden; same patient).
pub async fn overlaps(db: &DatabaseConnection) -> (i64, i64) {
    let live = "('held', 'booked', 'confirmed', 'checked_in', 'completed')";
    let count = |sql: String| async move {
        let row = db
            .query_one_raw(svc_kit::db::stmt(db.get_database_backend(), &sql, []))
            .await
            .expect("the overlap query runs")
            .expect("a count");
        row.try_get_by_index::<i64>(0).expect("an integer")
    };
    let doctor = count(format!(
        "SELECT COUNT(*) FROM appointments a JOIN appointments b
           ON a.doctor_id = b.doctor_id AND a.appointment_id < b.appointment_id
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
         WHERE a.status IN {live} AND b.status IN {live}
           AND a.override_reason = '' AND b.override_reason = ''"
    ))
    .await;
    let patient = count(format!(
        "SELECT COUNT(*) FROM appointments a JOIN appointments b
           ON a.patient_id = b.patient_id AND a.appointment_id < b.appointment_id
          AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
         WHERE a.status IN {live} AND b.status IN {live}"
    ))
    .await;
    (doctor, patient)
}

/// The ids of appointments in status `booked`.
pub async fn booked_ids(db: &DatabaseConnection) -> BTreeSet<String> {
    db.query_all_raw(svc_kit::db::stmt(
        db.get_database_backend(),
        "SELECT appointment_id FROM appointments WHERE status = 'booked'",
        [],
    ))
    .await
    .expect("the query runs")
    .iter()
    .map(|r| r.try_get::<String>("", "appointment_id").expect("an id"))
    .collect()
}

/// A clinic in `time_zone` and one doctor per token in `doctors`, each seeing patients every day
/// from 08:00 to 20:00 in visits of `visit_minutes`, created through the public APIs as an
/// admin and the doctors themselves would. Returns the doctors' ids.
pub async fn seed_doctors(
    scheduling: &mut SchedulingServiceClient<Channel>,
    accounts: &mut medmesh_proto::accounts::v1::accounts_service_client::AccountsServiceClient<
        Channel,
    >,
    admin: &str,
    doctors: &[String],
    time_zone: &str,
    visit_minutes: i32,
) -> Result<Vec<String>, tonic::Status> {
    use chrono::Datelike;
    use medmesh_proto::{
        accounts::v1::GetMyProfileRequest,
        common::v1::{Date, TimeOfDay},
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let clinic = scheduling
        .create_clinic(with(
            pb::CreateClinicRequest {
                request_id: format!("seed-clinic-{run}"),
                clinic: Some(pb::Clinic {
                    name: "Seeded clinic".into(),
                    time_zone: time_zone.into(),
                    ..Default::default()
                }),
            },
            admin,
        ))
        .await?
        .into_inner();
    let specialization = scheduling
        .create_specialization(with(
            pb::CreateSpecializationRequest {
                request_id: format!("seed-spec-{run}"),
                specialization: Some(pb::Specialization {
                    name: format!("General practice {run}"),
                    ..Default::default()
                }),
            },
            admin,
        ))
        .await?
        .into_inner();
    let from = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let mut ids = Vec::new();
    for (i, token) in doctors.iter().enumerate() {
        let doctor_id = accounts
            .get_my_profile(with(GetMyProfileRequest {}, token))
            .await?
            .into_inner()
            .user_id;
        scheduling
            .upsert_doctor(with(
                pb::UpsertDoctorRequest {
                    request_id: format!("seed-doctor-{run}-{i}"),
                    doctor: Some(pb::Doctor {
                        doctor_id: doctor_id.clone(),
                        specialization_id: specialization.specialization_id.clone(),
                        clinic_id: clinic.clinic_id.clone(),
                        default_visit_minutes: visit_minutes,
                        ..Default::default()
                    }),
                },
                admin,
            ))
            .await?;
        for weekday in 1..=7 {
            scheduling
                .add_schedule_template(with(
                    pb::AddScheduleTemplateRequest {
                        request_id: format!("seed-template-{run}-{i}-{weekday}"),
                        template: Some(pb::ScheduleTemplate {
                            weekday,
                            start: Some(TimeOfDay {
                                hours: 8,
                                minutes: 0,
                            }),
                            end: Some(TimeOfDay {
                                hours: 20,
                                minutes: 0,
                            }),
                            visit_minutes,
                            valid_from: Some(Date {
                                year: from.year(),
                                month: from.month() as i32,
                                day: from.day() as i32,
                            }),
                            ..Default::default()
                        }),
                    },
                    token,
                ))
                .await?;
        }
        ids.push(doctor_id);
    }
    Ok(ids)
}
