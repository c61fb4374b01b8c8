//! Notifications end to end: scheduling's `appointment.booked` events written to Kafka (tansu),
//! notify consuming them, rendering and mailing through a real SMTP server (aiosmtpd) — each
//! event makes two emails (the patient's confirmation and the doctor's notice). Measured with
//! one and with three notify replicas (in this process, sharing one PostgreSQL database and one
//! consumer group):
//!
//! - throughput: events handled per second, from the first event written to the last email
//!   accepted, for a burst of events;
//! - lag: event time → the patient's email accepted by the SMTP server, p50/p99, at a steady
//!   200 events per second.
//!
//! `cargo bench -p medmesh --bench notify` (needs the test command's services: PostgreSQL,
//! tansu via MEDMESH_TEST_KAFKA_BROKERS or installed, and MEDMESH_TEST_SMTP_PYTHON).

#![allow(clippy::print_stdout, missing_docs)]

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use medmesh::{Component, Platform};
use medmesh_proto::{
    accounts::v1::{GetMyProfileRequest, accounts_service_client::AccountsServiceClient},
    events::v1::EventEnvelope,
    scheduling::v1 as sched,
};
use prost::Message;
use svc_kit::{
    ServiceName, Settings,
    auth::dev_issuer::WEB_CLIENT,
    events::{KafkaPublisher, OutgoingEvent, Publisher, topic_for},
    testing::{Broker, SmtpSink},
};

const BURST: usize = 1000;
const RATE: usize = 200;
const STEADY_SECONDS: usize = 10;

fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn booked(patient: &str, doctor: &str, prefix: &str) -> (String, OutgoingEvent) {
    let appointment_id = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    let start = now + chrono::Duration::days(3);
    let payload = sched::AppointmentEvent {
        appointment: Some(sched::Appointment {
            appointment_id: appointment_id.clone(),
            patient_id: patient.to_string(),
            status: sched::AppointmentStatus::Booked as i32,
            slot: Some(sched::Slot {
                doctor_id: doctor.to_string(),
                start: Some(ts(start)),
                end: Some(ts(start + chrono::Duration::minutes(30))),
                time_zone: "Europe/Kyiv".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        doctor_display_name: "Dr. Ștefan Țurcanu".into(),
        clinic_name: "Clinica Sănătatea".into(),
        clinic_time_zone: "Europe/Kyiv".into(),
        ..Default::default()
    };
    let envelope = EventEnvelope {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: "medmesh.scheduling.v1.appointment.booked".into(),
        source: "bench".into(),
        aggregate_id: appointment_id.clone(),
        aggregate_type: "appointment".into(),
        subject: patient.to_string(),
        time: Some(ts(now)),
        payload: Some(prost_types::Any {
            type_url: "type.googleapis.com/medmesh.scheduling.v1.AppointmentEvent".into(),
            value: payload.encode_to_vec(),
        }),
        ..Default::default()
    };
    let event = OutgoingEvent {
        seq: 0,
        event_id: envelope.id.clone(),
        event_type: envelope.r#type.clone(),
        topic: topic_for(prefix, ServiceName::Scheduling),
        key: appointment_id.clone(),
        payload: envelope.encode_to_vec().into(),
    };
    (appointment_id, event)
}

/// Waits until the SMTP server has accepted `n` messages in all.
async fn until_mailed(smtp: &SmtpSink, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while smtp.messages().len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} mailed",
            smtp.messages().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(replicas: usize, brokers: &str) -> (f64, Duration, Duration) {
    let smtp = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("bench-notify-{}", uuid::Uuid::new_v4().simple());
    let (b, p, u) = (brokers.to_string(), prefix.clone(), smtp.url());
    let platform = common::start_platform_with(dir.path(), &[ServiceName::Notify], move |f| {
        f.merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", b))
            .merge(("events.topic_prefix", p))
            .merge(("notify.smtp.url", u))
            .merge(("notify.poll_interval_ms", 20))
    })
    .await;
    let demo = medmesh::demo::seed(&platform).await.unwrap().unwrap();
    let issuer = platform.dev_issuer.clone().unwrap();
    let patient_token = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    let patient = AccountsServiceClient::new(common::channel(&platform, ServiceName::Accounts))
        .get_my_profile(common::with(GetMyProfileRequest {}, &patient_token))
        .await
        .unwrap()
        .into_inner()
        .user_id;
    // More replicas: notify alone, on the same database, bus and issuer.
    let notify = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Notify)
        .unwrap();
    let settings: Settings = (*notify.context.settings).clone();
    let mut extra = Vec::new();
    for _ in 1..replicas {
        let mut s = settings.clone();
        s.auth.issuer = Some(platform.issuer_url.clone());
        extra.push(
            Platform::start(s, &[Component::Service(ServiceName::Notify)])
                .await
                .unwrap(),
        );
    }
    let publisher = KafkaPublisher::new(brokers, &settings.events.kafka).unwrap();
    // Warm up (topics, group assignment, connections): one event, its two emails.
    let (_, warm) = booked(&patient, &demo.doctor_id, &prefix);
    publisher.publish(&[warm]).await;
    until_mailed(&smtp, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = smtp.messages().len();

    // Throughput: a burst of events at once.
    let events: Vec<OutgoingEvent> = (0..BURST)
        .map(|_| booked(&patient, &demo.doctor_id, &prefix).1)
        .collect();
    let started = Instant::now();
    for chunk in events.chunks(100) {
        publisher.publish(chunk).await;
    }
    until_mailed(&smtp, base + 2 * BURST).await;
    let throughput = BURST as f64 / started.elapsed().as_secs_f64();

    // Lag at a steady rate.
    let base = smtp.messages().len();
    let mut sent_at = HashMap::new();
    let tick = Duration::from_secs(1) / RATE as u32;
    let begin = Instant::now();
    for i in 0..RATE * STEADY_SECONDS {
        let due = begin + tick * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (appointment, event) = booked(&patient, &demo.doctor_id, &prefix);
        sent_at.insert(appointment, std::time::SystemTime::now());
        publisher.publish(&[event]).await;
    }
    until_mailed(&smtp, base + 2 * RATE * STEADY_SECONDS).await;
    let mut lags: Vec<Duration> = smtp
        .messages()
        .into_iter()
        .filter(|m| m["rcpt_tos"][0] == "patient@medmesh.dev")
        .filter_map(|m| {
            let body = m["body"].as_str()?;
            let id = body.split("/appointments/").nth(1)?.get(..36)?;
            let at = sent_at.get(id)?;
            let received =
                std::time::UNIX_EPOCH + Duration::from_secs_f64(m["received_at"].as_f64()?);
            received.duration_since(*at).ok()
        })
        .collect();
    lags.sort();
    assert_eq!(
        lags.len(),
        RATE * STEADY_SECONDS,
        "every patient email matched its event"
    );
    let result = (
        throughput,
        common::percentile(&lags, 0.5),
        common::percentile(&lags, 0.99),
    );
    for p in extra {
        p.stop().await;
    }
    platform.stop().await;
    result
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let own;
        let brokers = match std::env::var("MEDMESH_TEST_KAFKA_BROKERS") {
            Ok(b) => b,
            Err(_) => {
                own = Broker::start();
                own.brokers()
            }
        };
        println!("notify: Kafka in → SMTP out, {BURST}-event burst; lag at {RATE} events/s for {STEADY_SECONDS} s");
        println!("replicas  events/s  lag p50  lag p99");
        let mut rows = Vec::new();
        for replicas in [1, 3] {
            let (throughput, p50, p99) = run(replicas, &brokers).await;
            println!("{replicas:>8}  {throughput:>8.0}  {:>6.0}ms  {:>6.0}ms", p50.as_secs_f64() * 1000.0, p99.as_secs_f64() * 1000.0);
            rows.push(throughput);
        }
        println!("three replicas / one: {:.2}x", rows[1] / rows[0]);
    });
}
