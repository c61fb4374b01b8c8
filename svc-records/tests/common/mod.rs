//! svc-records as it runs: replicas started by svc-kit on one real database (PostgreSQL or
//! SQLite) in the test mesh (svc-accounts, the dev OIDC issuer, the in-process bus on which
//! scheduling's, pharmacy's and accounts' events arrive as their relays put them).
//! Everything is called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, ops::Deref, time::Duration};

use medmesh_proto::{
    accounts::v1 as accounts, events::v1::EventEnvelope,
    records::v1::records_service_client::RecordsServiceClient, scheduling::v1 as sched,
};
use prost::Message;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use svc_accounts::testing::Mesh;
pub use svc_accounts::testing::{channel, ts, with};
use svc_kit::{
    events::{OutgoingEvent, Publisher},
    testing::TestDb,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub struct Harness {
    pub mesh: Mesh,
    pub replicas: Vec<SocketAddr>,
    pub stops: Vec<CancellationToken>,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    /// A replica's settings, before a test's changes.
    replica: figment::Figment,
    _test_db: TestDb,
}

impl Deref for Harness {
    type Target = Mesh;

    fn deref(&self) -> &Mesh {
        &self.mesh
    }
}

/// One replica of records on `test_db`.
pub async fn start(test_db: TestDb) -> Harness {
    let mesh = Mesh::start(test_db.backend).await;
    let replica = mesh
        .figment()
        .merge(("records.sweep_interval_ms", 20))
        .merge(("services.records.port", 0))
        .merge((
            "services.records.database_url",
            test_db.url.expose_secret().to_string(),
        ));
    let mut h = Harness {
        mesh,
        replicas: Vec::new(),
        stops: Vec::new(),
        db: test_db.db.clone(),
        backend: test_db.backend,
        replica,
        _test_db: test_db,
    };
    h.add_replica(|f| f).await;
    h
}

impl Harness {
    /// Starts one more replica whose configuration `tune` changes; its index.
    pub async fn add_replica(
        &mut self,
        tune: impl Fn(figment::Figment) -> figment::Figment,
    ) -> usize {
        let (addr, stop) = self
            .mesh
            .start_service::<svc_records::Records>(tune(self.replica.clone()))
            .await;
        self.replicas.push(addr);
        self.stops.push(stop);
        self.replicas.len() - 1
    }

    pub fn client(&self) -> RecordsServiceClient<Channel> {
        RecordsServiceClient::new(channel(self.replicas[0]))
    }

    pub fn client_of(&self, replica: usize) -> RecordsServiceClient<Channel> {
        RecordsServiceClient::new(channel(self.replicas[replica % self.replicas.len()]))
    }

    /// Affiliates the user behind `token` with a clinic as a nurse.
    pub async fn affiliate_nurse(&self, token: &str, clinic_id: &str) {
        self.mesh
            .affiliate(token, accounts::AffiliationKind::Nurse, clinic_id, "")
            .await;
    }

    /// Publishes one event on `topic` as a relay puts it.
    pub async fn publish(
        &self,
        topic: &str,
        event_type: &str,
        key: &str,
        type_url: &str,
        payload: Vec<u8>,
    ) {
        let envelope = EventEnvelope {
            id: uuid::Uuid::now_v7().to_string(),
            r#type: event_type.to_string(),
            source: "test".to_string(),
            aggregate_id: key.to_string(),
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

    /// Scheduling's event that `patient_id` booked `doctor_id` at `clinic_id`; waits until
    /// records has learned it. The appointment's id.
    pub async fn book(&self, doctor_id: &str, patient_id: &str, clinic_id: &str) -> String {
        let appointment_id = uuid::Uuid::now_v7().to_string();
        let payload = sched::AppointmentEvent {
            appointment: Some(sched::Appointment {
                appointment_id: appointment_id.clone(),
                patient_id: patient_id.to_string(),
                clinic_id: clinic_id.to_string(),
                status: sched::AppointmentStatus::Booked as i32,
                slot: Some(sched::Slot {
                    doctor_id: doctor_id.to_string(),
                    start: Some(ts(chrono::Utc::now() + chrono::Duration::days(1))),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.publish(
            "medmesh.scheduling.v1",
            "medmesh.scheduling.v1.appointment.booked",
            &appointment_id,
            "medmesh.scheduling.v1.AppointmentEvent",
            payload.encode_to_vec(),
        )
        .await;
        let sql =
            format!("SELECT COUNT(*) AS n FROM visits WHERE appointment_id = '{appointment_id}'");
        self.wait_for(&sql, 1).await;
        appointment_id
    }

    /// Waits until `sql` (a `COUNT(*) AS n`) reads `n`.
    pub async fn wait_for(&self, sql: &str, n: i64) {
        for _ in 0..400 {
            if self.count(sql).await == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{sql} never read {n}");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        svc_kit::testing::count(&self.db, sql).await
    }
}

/// The text of every page of a PDF, as a reader extracts it.
pub fn pdf_text(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).unwrap();
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    document.extract_text(&pages).unwrap()
}
