//! What the pharmacy costs. Prints numbers; asserts nothing (machines here are shared).
//!
//!   cargo bench -p medmesh --bench pharmacy
//!
//! The platform runs in this process as in `medmesh dev`, except that pharmacy and accounts use
//! PostgreSQL and the cache is Redis (both on this machine), as in production.
//!
//! 1. Dispenses per second of one hot medication at one pharmacy through the gateway: 32
//!    clients each dispense their own prescriptions (one unit each, reserved when written), next
//!    to the bare conditional `UPDATE … WHERE on_hand - reserved >= 1` in PostgreSQL by 32 tasks
//!    in the same run (the floor a dispense cannot beat).
//! 2. Cached stock reads (`availability` of the hot medication) through the gateway next to
//!    `{ __typename }` on the same gateway: queries per second and p50/p99, 32 clients,
//!    interleaved in rounds so drift hits both alike; and the stock cache's hit rate during the
//!    run, from the platform's own metrics.

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::{sync::Arc, time::Duration};

use common::{CLIENTS, channel, load, percentile, start_platform, with};
use medmesh_proto::{
    accounts::v1::{self as acc, accounts_service_client::AccountsServiceClient},
    pharmacy::v1::{self as pb, pharmacy_service_client::PharmacyServiceClient},
};
use sea_orm::ConnectionTrait;
use serde_json::json;
use svc_kit::{ServiceName, auth::dev_issuer::WEB_CLIENT, testing::fresh_postgres_database};

const DISPENSES_PER_CLIENT: usize = 40;
const READS_PER_CLIENT: usize = 300;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn report(what: &str, elapsed: Duration, latencies: &[Duration], failures: usize) -> f64 {
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{what:<34} {} in {:.2} s = {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), {} failed",
        latencies.len(),
        elapsed.as_secs_f64(),
        rate,
        percentile(latencies, 0.5).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        failures
    );
    rate
}

/// The stock cache's reads by result, from the platform's `/metrics`.
async fn stock_reads(admin: std::net::SocketAddr) -> (f64, f64, f64) {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |result: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("medmesh_pharmacy_stock_reads_total")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (value("hit"), value("miss"), value("fallback"))
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let platform = start_platform(
        dir.path(),
        &[ServiceName::Pharmacy, ServiceName::Accounts],
        &[],
    )
    .await;
    let issuer = platform.dev_issuer.clone().unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let channel = |service| channel(&platform, service);
    let mut pharmacy = PharmacyServiceClient::new(channel(ServiceName::Pharmacy));
    let mut accounts = AccountsServiceClient::new(channel(ServiceName::Accounts));
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();
    let doctor = issuer
        .password_grant("doctor", "doctor", WEB_CLIENT)
        .unwrap();
    let pharmacist = issuer
        .password_grant("pharmacist", "pharmacist", WEB_CLIENT)
        .unwrap();

    // One pharmacy, one hot medication with plenty of stock, the demo pharmacist working there.
    let pharmacy_id = pharmacy
        .create_pharmacy(with(
            pb::CreatePharmacyRequest {
                request_id: "bench-pharmacy".into(),
                pharmacy: Some(pb::Pharmacy {
                    name: "Bench Pharmacy".into(),
                    address: "1 Bench St".into(),
                    time_zone: "UTC".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .pharmacy_id;
    let medication_id = pharmacy
        .create_medication(with(
            pb::CreateMedicationRequest {
                request_id: "bench-med".into(),
                medication: Some(pb::Medication {
                    name: "Hotamol".into(),
                    active_substance: "hotamol".into(),
                    form: "tablet".into(),
                    strength: "500 mg".into(),
                    pack_size: 20,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .medication_id;
    let pharmacist_id = accounts
        .get_my_profile(with(acc::GetMyProfileRequest {}, &pharmacist))
        .await
        .unwrap()
        .into_inner()
        .user_id;
    accounts
        .add_affiliation(with(
            acc::AddAffiliationRequest {
                request_id: "bench-aff".into(),
                user_id: pharmacist_id,
                kind: acc::AffiliationKind::Pharmacist as i32,
                pharmacy_id: pharmacy_id.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();
    pharmacy
        .receive_shipment(with(
            pb::ReceiveShipmentRequest {
                request_id: "bench-ship".into(),
                pharmacy_id: pharmacy_id.clone(),
                lines: vec![pb::ShipmentLine {
                    medication_id: medication_id.clone(),
                    quantity: 1_000_000,
                    lot: "B1".into(),
                    expires_at: None,
                }],
            },
            &pharmacist,
        ))
        .await
        .unwrap();
    let doctor_id = accounts
        .get_my_profile(with(acc::GetMyProfileRequest {}, &doctor))
        .await
        .unwrap()
        .into_inner()
        .user_id;

    // 32 patients in the doctor's care (set up directly: what scheduling's events would teach
    // the pharmacy), each with 40 prescriptions of one unit, written over gRPC.
    let pharmacy_db = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Pharmacy)
        .unwrap()
        .context
        .db
        .clone();
    let mut prescriptions: Vec<Vec<String>> = vec![Vec::new(); CLIENTS];
    for (p, list) in prescriptions.iter_mut().enumerate() {
        let patient_id = uuid::Uuid::new_v4().to_string();
        pharmacy_db
            .execute_unprepared(&format!(
                "INSERT INTO care_relationships (doctor_id, patient_id, first_seen_at, last_seen_at, last_appointment_id)
                 VALUES ('{doctor_id}', '{patient_id}', now(), now(), 'bench-{p}')"
            ))
            .await
            .unwrap();
        for i in 0..DISPENSES_PER_CLIENT {
            let written = pharmacy
                .create_prescription(with(
                    pb::CreatePrescriptionRequest {
                        request_id: format!("bench-rx-{p}-{i}"),
                        patient_id: patient_id.clone(),
                        pharmacy_id: pharmacy_id.clone(),
                        items: vec![pb::PrescriptionItem {
                            medication_id: medication_id.clone(),
                            quantity: 1,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    &doctor,
                ))
                .await
                .unwrap()
                .into_inner();
            list.push(written.prescription_id);
        }
    }
    let prescriptions = Arc::new(prescriptions);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .build()
        .unwrap();
    let pharmacist = Arc::new(pharmacist);

    // 1a. Dispenses through the gateway.
    let dispense = "mutation($r: String!, $id: ID!) { dispensePrescription(requestId: $r, id: $id) { status } }";
    let (elapsed, latencies, failures) = load(DISPENSES_PER_CLIENT, {
        let (http, url, pharmacist, prescriptions) = (http.clone(), url.clone(), pharmacist.clone(), prescriptions.clone());
        move |p, i| {
            let (http, url, pharmacist, prescriptions) = (http.clone(), url.clone(), pharmacist.clone(), prescriptions.clone());
            async move {
                let body = json!({ "query": dispense, "variables": { "r": format!("d-{p}-{i}"), "id": prescriptions[p][i] } });
                let answer = http.post(url.as_str()).bearer_auth(pharmacist.as_str()).json(&body).send().await.unwrap().text().await.unwrap();
                answer.contains("DISPENSED")
            }
        }
    })
    .await;
    let gateway_rate = report(
        "dispenses through the gateway:",
        elapsed,
        &latencies,
        failures,
    );

    // 1b. The bare conditional UPDATE in PostgreSQL, into a fresh copy of the schema.
    let raw_url = fresh_postgres_database().await;
    let raw = svc_kit::db::connect(
        &raw_url,
        &svc_kit::config::DatabaseSettings {
            max_connections: CLIENTS as u32,
            min_connections: CLIENTS as u32,
            connect_timeout_ms: 5000,
            acquire_timeout_ms: 5000,
        },
    )
    .await
    .unwrap();
    svc_kit::db::migrate(&raw, "svc-pharmacy", svc_pharmacy::store::MIGRATIONS)
        .await
        .unwrap();
    raw.execute_unprepared(
        "INSERT INTO pharmacies (pharmacy_id, name, name_key, time_zone, created_at, updated_at) VALUES ('p', 'p', 'p', 'UTC', now(), now());
         INSERT INTO medications (medication_id, name, active_substance, search, substance_key, form, strength, pack_size, prescription_only, created_at, updated_at)
           VALUES ('m', 'm', 'm', 'm', 'm', 't', 's', 1, FALSE, now(), now());
         INSERT INTO stock (pharmacy_id, medication_id, on_hand, reserved, updated_at) VALUES ('p', 'm', 1000000, 0, now())",
    )
    .await
    .unwrap();
    let (elapsed, latencies, failures) = load(DISPENSES_PER_CLIENT, {
        let raw = raw.clone();
        move |_, _| {
            let raw = raw.clone();
            async move {
                raw.execute_unprepared(
                    "UPDATE stock SET on_hand = on_hand - 1 WHERE pharmacy_id = 'p' AND medication_id = 'm' AND on_hand - reserved >= 1",
                )
                .await
                .is_ok_and(|r| r.rows_affected() == 1)
            }
        }
    })
    .await;
    let raw_rate = report("bare conditional UPDATEs:", elapsed, &latencies, failures);
    println!(
        "dispenses through the gateway / bare UPDATEs = {:.1} %",
        100.0 * gateway_rate / raw_rate
    );

    // 2. Cached availability versus { __typename }, interleaved in rounds so drift hits both.
    let before = stock_reads(platform.admin_addr).await;
    let availability = "query($p: ID!, $m: ID!) { availability(pharmacyIds: [$p], medicationIds: [$m]) { availability } }";
    let mut rates = [Vec::new(), Vec::new()];
    let mut all_latencies = [Vec::new(), Vec::new()];
    let doctor = Arc::new(doctor);
    for round in 0..6 {
        for which in [round % 2, 1 - round % 2] {
            let (elapsed, latencies, failures) = load(READS_PER_CLIENT / 3, {
                let (http, url, doctor, p, m) = (
                    http.clone(),
                    url.clone(),
                    doctor.clone(),
                    pharmacy_id.clone(),
                    medication_id.clone(),
                );
                move |_, _| {
                    let (http, url, doctor, p, m) = (
                        http.clone(),
                        url.clone(),
                        doctor.clone(),
                        p.clone(),
                        m.clone(),
                    );
                    async move {
                        let body = if which == 0 {
                            json!({ "query": "{ __typename }" })
                        } else {
                            json!({ "query": availability, "variables": { "p": p, "m": m } })
                        };
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
                        !answer.contains("\"errors\"")
                    }
                }
            })
            .await;
            assert_eq!(failures, 0);
            if round > 0 {
                rates[which].push(latencies.len() as f64 / elapsed.as_secs_f64());
                all_latencies[which].extend(latencies);
            }
        }
    }
    for l in &mut all_latencies {
        l.sort();
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for (which, name) in ["{ __typename }", "availability (cached)"]
        .iter()
        .enumerate()
    {
        println!(
            "{name:<24} {:.0} queries/s (p50 {:.2} ms, p99 {:.2} ms)",
            mean(&rates[which]),
            percentile(&all_latencies[which], 0.5).as_secs_f64() * 1e3,
            percentile(&all_latencies[which], 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "availability / __typename = {:.1} % of the rate",
        100.0 * mean(&rates[1]) / mean(&rates[0])
    );
    let after = stock_reads(platform.admin_addr).await;
    let (hits, misses, fallbacks) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    println!(
        "stock cache during the reads: {hits:.0} hits, {misses:.0} misses, {fallbacks:.0} fallbacks = {:.2} % hit rate",
        100.0 * hits / (hits + misses + fallbacks).max(1.0)
    );
    platform.stop().await;
}
