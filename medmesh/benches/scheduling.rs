//! What scheduling costs. Prints numbers; asserts nothing (machines here are shared).
//!
//!   cargo bench -p medmesh --bench scheduling
//!
//! The platform runs in this process as in `medmesh dev`, except that scheduling and accounts
//! use PostgreSQL and the cache is Redis (both on this machine), as in production.
//!
//! 1. Bookings per second through the gateway: 32 clients (each a patient) book distinct slots
//!    of 50 doctors, next to the same number of bare exclusion-constrained INSERTs straight into
//!    PostgreSQL by 32 tasks (the floor a booking cannot beat).
//! 2. Free-slot queries (a day of one of 8 doctors, 72 slots) through the gateway with warm
//!    caches, next to `{ __typename }` on the same gateway: queries per second and p50/p99,
//!    32 clients, interleaved in rounds so drift hits both alike.
//!
//! Both are also measured over gRPC straight to svc-scheduling, to show what the gateway adds.
//!
//! The clients run in this process too and share its two cores; they read response bytes
//! without parsing them.

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::{CLIENTS, channel, load, percentile, start_platform, with};
use medmesh_proto::{
    accounts::v1::accounts_service_client::AccountsServiceClient,
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use svc_kit::{ServiceName, auth::dev_issuer::WEB_CLIENT, testing::fresh_postgres_database};

const DOCTORS: usize = 50;
const BOOKINGS_PER_CLIENT: usize = 150;
const READS_PER_CLIENT: usize = 400;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let platform = start_platform(
        dir.path(),
        &[ServiceName::Scheduling, ServiceName::Accounts],
        &[("gateway.max_complexity", 10_000)],
    )
    .await;
    let issuer = platform.dev_issuer.clone().unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let channel = |service| channel(&platform, service);
    let mut scheduling = SchedulingServiceClient::new(channel(ServiceName::Scheduling));
    let mut accounts = AccountsServiceClient::new(channel(ServiceName::Accounts));
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();

    // 50 doctors seeing patients every day 08:00-20:00, 10 minutes each.
    let today = Utc::now().date_naive();
    let doctor_tokens: Vec<String> = (0..DOCTORS)
        .map(|d| {
            issuer.sign(&issuer.claims(
                &uuid::Uuid::new_v4().to_string(),
                &format!("doctor-{d}"),
                &["doctor"],
                WEB_CLIENT,
            ))
        })
        .collect();
    let doctors = svc_scheduling::testing::seed_doctors(
        &mut scheduling,
        &mut accounts,
        &admin,
        &doctor_tokens,
        "UTC",
        10,
    )
    .await
    .unwrap();
    // Slot starts: days 1..=7 ahead, 72 a day. Patient p books time k with doctor (p + k) % 50:
    // no two bookings share a doctor or a patient at one time, so every booking succeeds.
    let first_day = (today + chrono::Duration::days(1))
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    let times: Arc<Vec<chrono::DateTime<Utc>>> = Arc::new(
        (0..7)
            .flat_map(|day| {
                (0..72).map(move |k| {
                    first_day + chrono::Duration::days(day) + chrono::Duration::minutes(10 * k)
                })
            })
            .collect(),
    );
    let patients: Arc<Vec<String>> = Arc::new(
        (0..CLIENTS)
            .map(|p| {
                issuer.sign(&issuer.claims(
                    &uuid::Uuid::new_v4().to_string(),
                    &format!("patient-{p}"),
                    &["patient"],
                    WEB_CLIENT,
                ))
            })
            .collect(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .build()
        .unwrap();
    for token in patients.iter() {
        // Known to the gateway's and scheduling's caches, as after a first page view.
        let answer: Value = http
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "query": "{ appointments { appointments { id } } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(answer["errors"].is_null(), "{answer}");
    }
    let doctors = Arc::new(doctors);

    // 1a. Bookings through the gateway.
    let book = "mutation($r: String!, $d: ID!, $s: DateTime!) { bookAppointment(input: {requestId: $r, doctorId: $d, start: $s}) { id } }";
    let (elapsed, latencies, failures) = load(BOOKINGS_PER_CLIENT, {
        let (http, url, patients, doctors, times) = (http.clone(), url.clone(), patients.clone(), doctors.clone(), times.clone());
        move |p, i| {
            let (http, url, patients, doctors, times) = (http.clone(), url.clone(), patients.clone(), doctors.clone(), times.clone());
            async move {
                let k = i;
                let body = json!({ "query": book, "variables": { "r": format!("b-{p}-{i}"), "d": doctors[(p + k) % DOCTORS], "s": times[k].to_rfc3339() } });
                // The client reads the bytes, not a parsed tree: its own CPU is the server's too.
                let answer = http.post(url.as_str()).bearer_auth(&patients[p]).json(&body).send().await.unwrap().text().await.unwrap();
                !answer.contains("\"errors\"")
            }
        }
    })
    .await;
    let gateway_rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "bookings through the gateway: {} in {:.2} s = {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), {} failed",
        latencies.len(),
        elapsed.as_secs_f64(),
        gateway_rate,
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        failures
    );

    // 1b. The same bookings over gRPC straight to svc-scheduling (what the gateway adds).
    let grpc_channel = channel(ServiceName::Scheduling);
    let (elapsed, latencies, failures) = load(BOOKINGS_PER_CLIENT, {
        let (channel, patients, doctors, times) = (
            grpc_channel.clone(),
            patients.clone(),
            doctors.clone(),
            times.clone(),
        );
        move |p, i| {
            let (channel, patients, doctors, times) = (
                channel.clone(),
                patients.clone(),
                doctors.clone(),
                times.clone(),
            );
            async move {
                // Times after the ones booked through the gateway.
                let k = BOOKINGS_PER_CLIENT + i;
                let request = pb::BookAppointmentRequest {
                    request_id: format!("g-{p}-{i}"),
                    doctor_id: doctors[(p + k) % DOCTORS].clone(),
                    start: Some(prost_types::Timestamp {
                        seconds: times[k].timestamp(),
                        nanos: 0,
                    }),
                    ..Default::default()
                };
                SchedulingServiceClient::new(channel)
                    .book_appointment(with(request, &patients[p]))
                    .await
                    .is_ok()
            }
        }
    })
    .await;
    let grpc_rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "bookings over gRPC:           {} in {:.2} s = {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), {} failed",
        latencies.len(),
        elapsed.as_secs_f64(),
        grpc_rate,
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        failures
    );

    // 1c. The same inserts straight into PostgreSQL, into a fresh copy of the schema.
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
    svc_kit::db::migrate(&raw, "svc-scheduling", svc_scheduling::store::MIGRATIONS)
        .await
        .unwrap();
    raw.execute_unprepared("INSERT INTO clinics (clinic_id, name, time_zone, created_at, updated_at) VALUES ('c', 'c', 'UTC', now(), now()); INSERT INTO specializations VALUES ('s', 's', 's')").await.unwrap();
    for d in doctors.iter() {
        raw.execute_unprepared(&format!("INSERT INTO doctors (doctor_id, display_name, search, specialization_id, clinic_id, default_visit_minutes, updated_at) VALUES ('{d}', 'd', 'd', 's', 'c', 10, now())")).await.unwrap();
    }
    let (elapsed, latencies, failures) = load(BOOKINGS_PER_CLIENT, {
        let (raw, doctors, times) = (raw.clone(), doctors.clone(), times.clone());
        move |p, i| {
            let (raw, doctors, times) = (raw.clone(), doctors.clone(), times.clone());
            async move {
                let start = times[i];
                let sql = svc_kit::db::stmt(
                    sea_orm::DbBackend::Postgres,
                    "INSERT INTO appointments (appointment_id, doctor_id, patient_id, clinic_id, time_zone, starts_at, ends_at, status, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, 'c', 'UTC', $4, $5, 'booked', 'bench', now(), now())",
                    [
                        uuid::Uuid::now_v7().to_string().into(),
                        doctors[(p + i) % DOCTORS].clone().into(),
                        format!("patient-{p}").into(),
                        start.into(),
                        (start + chrono::Duration::minutes(10)).into(),
                    ],
                );
                raw.execute_raw(sql).await.is_ok()
            }
        }
    })
    .await;
    let raw_rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "bare INSERTs into PostgreSQL:  {} in {:.2} s = {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), {} failed",
        latencies.len(),
        elapsed.as_secs_f64(),
        raw_rate,
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        failures
    );
    println!(
        "bookings through the gateway / bare INSERTs = {:.1} %; over gRPC / bare INSERTs = {:.1} %",
        100.0 * gateway_rate / raw_rate,
        100.0 * grpc_rate / raw_rate
    );

    // 2. Cached free slots versus { __typename }, interleaved in rounds so drift hits both.
    let slots_query = "query($d: ID!, $f: DateTime!, $t: DateTime!) { freeSlots(doctorId: $d, from: $f, to: $t) { timeZone slots { start end } } }";
    let (from, to) = (
        first_day - chrono::Duration::hours(8),
        first_day + chrono::Duration::hours(16),
    );
    let mut rates = [Vec::new(), Vec::new()];
    let mut all_latencies = [Vec::new(), Vec::new()];
    for round in 0..6 {
        for which in [round % 2, 1 - round % 2] {
            let query = if which == 0 {
                "{ __typename }"
            } else {
                slots_query
            };
            let (elapsed, latencies, failures) = load(READS_PER_CLIENT / 3, {
                let (http, url, patients, doctors) = (http.clone(), url.clone(), patients.clone(), doctors.clone());
                move |p, i| {
                    let (http, url, patients, doctors) = (http.clone(), url.clone(), patients.clone(), doctors.clone());
                    async move {
                        let body = json!({ "query": query, "variables": { "d": doctors[(p + i) % 8], "f": from.to_rfc3339(), "t": to.to_rfc3339() } });
                        let body = if which == 0 { json!({ "query": query }) } else { body };
                        let answer = http.post(url.as_str()).bearer_auth(&patients[p]).json(&body).send().await.unwrap().text().await.unwrap();
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
    let names = ["{ __typename }", "freeSlots (warm cache)"];
    for which in 0..2 {
        println!(
            "{:<24} {:.0} queries/s (p50 {:.2} ms, p99 {:.2} ms)",
            names[which],
            mean(&rates[which]),
            percentile(&all_latencies[which], 0.5).as_secs_f64() * 1e3,
            percentile(&all_latencies[which], 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "freeSlots / __typename = {:.1} % of the rate",
        100.0 * mean(&rates[1]) / mean(&rates[0])
    );

    // 2b. The same free-slot reads over gRPC straight to svc-scheduling (its Redis cache warm).
    let (elapsed, latencies, failures) = load(READS_PER_CLIENT, {
        let (channel, patients, doctors) =
            (grpc_channel.clone(), patients.clone(), doctors.clone());
        move |p, i| {
            let (channel, patients, doctors) = (channel.clone(), patients.clone(), doctors.clone());
            async move {
                let request = pb::ListFreeSlotsRequest {
                    doctor_id: doctors[(p + i) % 8].clone(),
                    from: Some(prost_types::Timestamp {
                        seconds: from.timestamp(),
                        nanos: 0,
                    }),
                    to: Some(prost_types::Timestamp {
                        seconds: to.timestamp(),
                        nanos: 0,
                    }),
                };
                SchedulingServiceClient::new(channel)
                    .list_free_slots(with(request, &patients[p]))
                    .await
                    .is_ok()
            }
        }
    })
    .await;
    assert_eq!(failures, 0);
    println!(
        "ListFreeSlots over gRPC  {:.0} queries/s (p50 {:.2} ms, p99 {:.2} ms)",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    platform.stop().await;
}
