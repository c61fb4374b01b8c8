//! What sealing and the access log cost a card read. Prints numbers; asserts nothing (machines
//! here are shared).
//!
//!   cargo bench -p medmesh --bench records
//!
//! Two platforms run in this process as in `medmesh dev`, except that records and accounts use
//! PostgreSQL and the cache is Redis (both on this machine), as in production: one as shipped
//! (every entry sealed with AES-256-GCM, every read appended to the patient's hash-chained
//! log), one built for this benchmark with `records.unprotected` (content stored as plain
//! protobuf, reads not logged). Each holds the same cards: `PATIENTS` patients with
//! `ENTRIES` signed entries each (encounters, diagnoses, allergies, observations, lab
//! results), granted to the demo doctor.
//!
//! Then, in rounds that alternate between the two so drift hits both alike, `CLIENTS` clients
//! read cards (`patientCard` through the gateway, and `GetPatientCard` straight over gRPC) as
//! the doctor: reads per second, p50 and p99, and the overhead of protection as a ratio.

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::{sync::Arc, time::Duration};

use common::{CLIENTS, channel, load, percentile, start_platform_with, with};
use futures::future::join_all;
use medmesh::Platform;
use medmesh_proto::{
    accounts::v1::{self as acc, accounts_service_client::AccountsServiceClient},
    records::v1::{self as pb, entry_content::Body, records_service_client::RecordsServiceClient},
};
use serde_json::json;
use svc_kit::{ServiceName, auth::dev_issuer::WEB_CLIENT};

const PATIENTS: usize = 8;
const ENTRIES: usize = 200;
const READS_PER_CLIENT: usize = 25;
const ROUNDS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

struct Side {
    label: &'static str,
    platform: Platform,
    doctor: Arc<String>,
    patients: Arc<Vec<String>>,
    _dir: tempfile::TempDir,
}

fn content(n: usize) -> pb::EntryContent {
    let now = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - n as i64 * 3600,
        nanos: 0,
    };
    let body = match n % 5 {
        0 => Body::Encounter(pb::Encounter {
            complaint: format!("Durere de cap și amețeală, vizita {n}"),
            findings: "TA 146/92 mmHg, puls 78/min, auscultație fără particularități. ".repeat(3),
            plan: "Monitorizarea tensiunii acasă; control peste două săptămâni.".into(),
        }),
        1 => Body::Diagnosis(pb::Diagnosis {
            icd10_code: "I10".into(),
            text: "Hipertensiune arterială esențială".into(),
            status: pb::DiagnosisStatus::Active as i32,
        }),
        2 => Body::Allergy(pb::Allergy {
            substance: format!("Пеніцилін {n}"),
            reaction: "Urticarie".into(),
            severity: pb::Severity::Moderate as i32,
            notes: String::new(),
        }),
        3 => Body::Observation(pb::Observation {
            code: format!("obs-{}", n % 7),
            name: "Tensiune arterială sistolică".into(),
            value: "142".into(),
            unit: "mmHg".into(),
            reference_range: "90-139".into(),
            observed_at: Some(now),
            comment: String::new(),
        }),
        _ => Body::LabResult(pb::Observation {
            code: format!("lab-{}", n % 11),
            name: "Hemoglobină".into(),
            value: "13.6".into(),
            unit: "g/dL".into(),
            reference_range: "12.0-15.5".into(),
            observed_at: Some(now),
            comment: "Fără modificări".into(),
        }),
    };
    pb::EntryContent { body: Some(body) }
}

async fn side(label: &'static str, unprotected: bool) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let platform = start_platform_with(
        dir.path(),
        &[ServiceName::Records, ServiceName::Accounts],
        |f| f.merge(("records.unprotected", unprotected)),
    )
    .await;
    let issuer = platform.dev_issuer.clone().unwrap();
    let doctor = issuer
        .password_grant("doctor", "doctor", WEB_CLIENT)
        .unwrap();
    let mut accounts = AccountsServiceClient::new(channel(&platform, ServiceName::Accounts));
    let doctor_id = accounts
        .get_my_profile(with(acc::GetMyProfileRequest {}, &doctor))
        .await
        .unwrap()
        .into_inner()
        .user_id;
    let records = RecordsServiceClient::new(channel(&platform, ServiceName::Records));
    let mut patients = Vec::new();
    for p in 0..PATIENTS {
        let username = format!("bench-patient-{p}");
        let subject = uuid::Uuid::new_v4().to_string();
        let token = issuer.sign(&issuer.claims(&subject, &username, &["patient"], WEB_CLIENT));
        let patient_id = accounts
            .get_my_profile(with(acc::GetMyProfileRequest {}, &token))
            .await
            .unwrap()
            .into_inner()
            .user_id;
        records
            .clone()
            .grant_access(with(
                pb::GrantAccessRequest {
                    request_id: format!("grant-{p}"),
                    doctor_id: doctor_id.clone(),
                    starts_at: None,
                    ends_at: Some(prost_types::Timestamp {
                        seconds: chrono::Utc::now().timestamp() + 30 * 86_400,
                        nanos: 0,
                    }),
                },
                &token,
            ))
            .await
            .unwrap();
        // Written eight at a time.
        for chunk in (0..ENTRIES).collect::<Vec<_>>().chunks(8) {
            join_all(chunk.iter().map(|n| {
                let (mut records, doctor, patient_id) =
                    (records.clone(), doctor.clone(), patient_id.clone());
                let n = *n;
                async move {
                    let draft = records
                        .create_entry(with(
                            pb::CreateEntryRequest {
                                request_id: format!("c-{patient_id}-{n}"),
                                patient_id,
                                content: Some(content(n)),
                                appointment_id: String::new(),
                            },
                            &doctor,
                        ))
                        .await
                        .unwrap()
                        .into_inner();
                    records
                        .sign_entry(with(
                            pb::SignEntryRequest {
                                request_id: format!("s-{}", draft.entry_id),
                                entry_id: draft.entry_id,
                                version: draft.version,
                            },
                            &doctor,
                        ))
                        .await
                        .unwrap();
                }
            }))
            .await;
        }
        patients.push(patient_id);
    }
    Side {
        label,
        platform,
        doctor: Arc::new(doctor),
        patients: Arc::new(patients),
        _dir: dir,
    }
}

const CARD: &str = "query($p: ID) { patientCard(patientId: $p) { patientId diagnoses { id } allergies { id } latestObservations { id } recentEncounters { id content { encounter { findings } } } } }";

/// Card reads through the gateway: (wall time, latencies, failures).
async fn graphql(side: &Side, http: &reqwest::Client) -> (Duration, Vec<Duration>, usize) {
    let url = Arc::new(format!(
        "http://{}/graphql",
        side.platform.gateway_addr.unwrap()
    ));
    let (http, doctor, patients) = (http.clone(), side.doctor.clone(), side.patients.clone());
    load(READS_PER_CLIENT, move |c, i| {
        let (http, url, doctor, patients) =
            (http.clone(), url.clone(), doctor.clone(), patients.clone());
        async move {
            let p = &patients[(c + i) % patients.len()];
            let body = json!({ "query": CARD, "variables": { "p": p } });
            let answer = http
                .post(url.as_str())
                .bearer_auth(doctor.as_str())
                .json(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            answer.contains("\"recentEncounters\"") && !answer.contains("\"errors\"")
        }
    })
    .await
}

/// Card reads over gRPC, straight to records.
async fn grpc(side: &Side) -> (Duration, Vec<Duration>, usize) {
    let records = RecordsServiceClient::new(channel(&side.platform, ServiceName::Records));
    let (doctor, patients) = (side.doctor.clone(), side.patients.clone());
    load(READS_PER_CLIENT, move |c, i| {
        let (mut records, doctor, patients) = (records.clone(), doctor.clone(), patients.clone());
        async move {
            let p = patients[(c + i) % patients.len()].clone();
            records
                .get_patient_card(with(pb::GetPatientCardRequest { patient_id: p }, &doctor))
                .await
                .is_ok_and(|card| card.into_inner().signed_entries == ENTRIES as i32)
        }
    })
    .await
}

#[derive(Default)]
struct Tally {
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Tally {
    fn add(&mut self, (elapsed, latencies, failures): (Duration, Vec<Duration>, usize)) {
        self.elapsed += elapsed;
        self.latencies.extend(latencies);
        self.failures += failures;
    }

    fn report(&mut self, what: &str) -> f64 {
        self.latencies.sort();
        let rate = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{what:<44} {:>5} reads = {:>6.0}/s (p50 {:>6.1} ms, p99 {:>6.1} ms), {} failed",
            self.latencies.len(),
            rate,
            percentile(&self.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            self.failures
        );
        rate
    }
}

async fn run() {
    println!(
        "{PATIENTS} cards of {ENTRIES} signed entries each, {CLIENTS} clients, {ROUNDS} rounds of {READS_PER_CLIENT} reads per client"
    );
    let sides = [
        side("sealed + logged (as shipped)", false).await,
        side("plain, unlogged (benchmark build)", true).await,
    ];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .build()
        .unwrap();
    // Warm both: connections, pools, caches of who the doctor is.
    for side in &sides {
        graphql(side, &http).await;
    }
    let mut through_gateway = [Tally::default(), Tally::default()];
    let mut over_grpc = [Tally::default(), Tally::default()];
    for _ in 0..ROUNDS {
        for (n, side) in sides.iter().enumerate() {
            through_gateway[n].add(graphql(side, &http).await);
            over_grpc[n].add(grpc(side).await);
        }
    }
    let mut rates = Vec::new();
    for (n, side) in sides.iter().enumerate() {
        let g = through_gateway[n].report(&format!("{}: patientCard (gateway)", side.label));
        let r = over_grpc[n].report(&format!("{}: GetPatientCard (gRPC)", side.label));
        rates.push((g, r));
    }
    let (sealed, plain) = (rates[0], rates[1]);
    println!(
        "cost of sealing + the access log: through the gateway {:.1} % ({:.0}/s against {:.0}/s), over gRPC {:.1} % (aim: under 25 %)",
        (plain.0 / sealed.0 - 1.0) * 100.0,
        sealed.0,
        plain.0,
        (plain.1 / sealed.1 - 1.0) * 100.0,
    );
    for side in sides {
        side.platform.stop().await;
    }
}
