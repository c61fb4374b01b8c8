//! svc-notify as it runs: replicas started by svc-kit on one real database (PostgreSQL or
//! SQLite) in the test mesh (svc-accounts, the dev OIDC issuer, the in-process bus), mailing
//! through a real SMTP server (aiosmtpd) and sending SMS and push to a recording webhook (the
//! providers cannot run here). Other services' events are published on the bus as their
//! relays put them. Everything is called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, ops::Deref, time::Duration};

use medmesh_proto::{
    accounts::v1::{self as accounts, accounts_service_client::AccountsServiceClient},
    events::v1::EventEnvelope,
    notify::v1::notify_service_client::NotifyServiceClient,
    scheduling::v1 as sched,
};
use prost::Message;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use svc_accounts::testing::Mesh;
pub use svc_accounts::testing::{channel, ts, with};
use svc_kit::{
    events::{OutgoingEvent, Publisher},
    testing::{HttpSink, SmtpSink, TestDb},
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const SMS_SECRET: &str = "sms-provider-secret-0123456789";

pub struct Harness {
    pub mesh: Mesh,
    pub replicas: Vec<SocketAddr>,
    pub stops: Vec<CancellationToken>,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    pub smtp: SmtpSink,
    pub sms: HttpSink,
    replica: figment::Figment,
    _test_db: TestDb,
}

impl Deref for Harness {
    type Target = Mesh;

    fn deref(&self) -> &Mesh {
        &self.mesh
    }
}

/// One replica of notify on `test_db`, its settings changed by `tune`.
pub async fn start_with(
    test_db: TestDb,
    tune: impl Fn(figment::Figment) -> figment::Figment,
) -> Harness {
    let mesh = Mesh::start(test_db.backend).await;
    let smtp = SmtpSink::start();
    let sms = HttpSink::start().await;
    let replica = tune(
        mesh.figment()
            .merge(("services.notify.port", 0))
            .merge((
                "services.notify.database_url",
                test_db.url.expose_secret().to_string(),
            ))
            .merge(("notify.poll_interval_ms", 20))
            .merge(("notify.retry_base_ms", 20))
            .merge(("notify.retry_max_ms", 100))
            .merge(("notify.max_attempts", 3))
            .merge(("events.consumer_max_attempts", 2))
            .merge(("notify.smtp.url", smtp.url()))
            .merge(("notify.sms.url", sms.url()))
            .merge(("notify.sms.secret", SMS_SECRET)),
    );
    let mut h = Harness {
        mesh,
        replicas: Vec::new(),
        stops: Vec::new(),
        db: test_db.db.clone(),
        backend: test_db.backend,
        smtp,
        sms,
        replica,
        _test_db: test_db,
    };
    h.add_replica(|f| f).await;
    h
}

pub async fn start(test_db: TestDb) -> Harness {
    start_with(test_db, |f| f).await
}

impl Harness {
    /// Starts one more replica whose configuration `tune` changes; its index.
    pub async fn add_replica(
        &mut self,
        tune: impl Fn(figment::Figment) -> figment::Figment,
    ) -> usize {
        let (addr, stop) = self
            .mesh
            .start_service::<svc_notify::Notify>(tune(self.replica.clone()))
            .await;
        self.replicas.push(addr);
        self.stops.push(stop);
        self.replicas.len() - 1
    }

    pub fn client(&self) -> NotifyServiceClient<Channel> {
        NotifyServiceClient::new(channel(self.replicas[0]))
    }

    /// Changes the profile of the user behind `token` (language, zone, phone).
    pub async fn set_profile(&self, token: &str, language: &str, zone: &str, phone: &str) {
        let user_id = self.user_id(token).await;
        AccountsServiceClient::new(channel(self.accounts_addr))
            .update_profile(with(
                accounts::UpdateProfileRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    profile: Some(accounts::Profile {
                        user_id,
                        preferred_language: language.into(),
                        time_zone: zone.into(),
                        phone: phone.into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec![
                            "preferred_language".into(),
                            "time_zone".into(),
                            "phone".into(),
                        ],
                    }),
                },
                token,
            ))
            .await
            .unwrap();
    }

    /// Publishes one event on `topic` as a relay puts it; its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_as(
        &self,
        id: &str,
        topic: &str,
        event_type: &str,
        key: &str,
        subject: &str,
        type_url: &str,
        payload: Vec<u8>,
    ) {
        let envelope = EventEnvelope {
            id: id.to_string(),
            r#type: event_type.to_string(),
            source: "test".to_string(),
            aggregate_id: key.to_string(),
            subject: subject.to_string(),
            payload: Some(prost_types::Any {
                type_url: format!("type.googleapis.com/{type_url}"),
                value: payload,
            }),
            time: Some(ts(chrono::Utc::now())),
            ..Default::default()
        };
        let outcome = self
            .bus
            .publish(&[OutgoingEvent {
                seq: 0,
                event_id: envelope.id.clone(),
                event_type: envelope.r#type.clone(),
                topic: topic.to_string(),
                key: key.to_string(),
                payload: envelope.encode_to_vec().into(),
            }])
            .await;
        assert_eq!(outcome.delivered, 1, "{:?}", outcome.error);
    }

    /// Scheduling's `appointment.<what>` event for `patient_id` with `doctor_id` at `start`;
    /// the event's id.
    pub async fn appointment_event(
        &self,
        what: &str,
        appointment_id: &str,
        patient_id: &str,
        doctor_id: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        self.appointment_event_as(&id, what, appointment_id, patient_id, doctor_id, start)
            .await;
        id
    }

    /// [`Harness::appointment_event`] with the event id given (a redelivery).
    pub async fn appointment_event_as(
        &self,
        id: &str,
        what: &str,
        appointment_id: &str,
        patient_id: &str,
        doctor_id: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) {
        let status = match what {
            "cancelled" => sched::AppointmentStatus::Cancelled,
            _ => sched::AppointmentStatus::Booked,
        };
        let payload = sched::AppointmentEvent {
            appointment: Some(sched::Appointment {
                appointment_id: appointment_id.to_string(),
                patient_id: patient_id.to_string(),
                clinic_id: uuid::Uuid::new_v4().to_string(),
                status: status as i32,
                slot: Some(sched::Slot {
                    doctor_id: doctor_id.to_string(),
                    start: Some(ts(start)),
                    end: Some(ts(start + chrono::Duration::minutes(30))),
                    time_zone: "Europe/Chisinau".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            doctor_display_name: "Dr. Ștefan Țurcanu".into(),
            clinic_name: "Clinica Sănătatea".into(),
            clinic_time_zone: "Europe/Chisinau".into(),
            ..Default::default()
        };
        self.publish_as(
            id,
            "medmesh.scheduling.v1",
            &format!("medmesh.scheduling.v1.appointment.{what}"),
            appointment_id,
            patient_id,
            "medmesh.scheduling.v1.AppointmentEvent",
            payload.encode_to_vec(),
        )
        .await;
    }

    /// Waits until `sql` (a `COUNT(*) AS n`) reads `n`.
    pub async fn wait_for(&self, sql: &str, n: i64) {
        for _ in 0..600 {
            if self.count(sql).await == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{sql} never read {n} (reads {})", self.count(sql).await);
    }

    pub async fn count(&self, sql: &str) -> i64 {
        svc_kit::testing::count(&self.db, sql).await
    }

    /// Emails accepted by the SMTP server for `address`.
    pub fn mail_to(&self, address: &str) -> Vec<serde_json::Value> {
        self.smtp
            .messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a == address))
            })
            .collect()
    }

    /// Waits until `address` has `n` emails; them.
    pub async fn wait_for_mail(&self, address: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..400 {
            let mail = self.mail_to(address);
            if mail.len() >= n {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{address} never had {n} emails: {:?}",
            self.mail_to(address)
        );
    }
}
