//! svc-pharmacy as it runs: one or more replicas started by svc-kit on one real database
//! (PostgreSQL or SQLite) and a real cache (Redis, when `redis` is set), in the test mesh
//! (svc-accounts, which the pharmacy asks who a caller is and where they work; a real OIDC
//! issuer; the in-process event bus on which scheduling's appointment events arrive).
//! Everything is called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, ops::Deref, time::Duration};

use medmesh_proto::{
    accounts::v1 as accounts,
    events::v1::EventEnvelope,
    pharmacy::v1::{self as pb, pharmacy_service_client::PharmacyServiceClient},
    scheduling::v1 as sched,
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
    pub db: DatabaseConnection,
    pub backend: &'static str,
    pub stops: Vec<CancellationToken>,
    _test_db: TestDb,
}

impl Deref for Harness {
    type Target = Mesh;

    fn deref(&self) -> &Mesh {
        &self.mesh
    }
}

/// How the replicas cache: in-process, or one Redis (under a fresh key prefix).
#[derive(Debug, Clone)]
pub enum CacheKind {
    Memory,
    /// The machine's Redis, under this key prefix.
    Redis(String),
    /// A Redis at this URL.
    RedisAt(String),
}

pub async fn start(test_db: TestDb) -> Harness {
    start_replicas(test_db, 1, CacheKind::Memory).await
}

/// `n` pharmacy replicas on one database, each with its own pool (and its own cache handle).
pub async fn start_replicas(test_db: TestDb, n: usize, cache: CacheKind) -> Harness {
    let mesh = Mesh::start(test_db.backend).await;
    let mut replicas = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..n {
        let mut figment = mesh
            .figment()
            .merge(("pharmacy.sweep_interval_ms", 20))
            .merge(("services.pharmacy.port", 0))
            .merge((
                "services.pharmacy.database_url",
                test_db.url.expose_secret().to_string(),
            ));
        let redis = match &cache {
            CacheKind::Memory => None,
            CacheKind::Redis(prefix) => Some((svc_kit::testing::redis_url(), prefix.clone())),
            CacheKind::RedisAt(url) => Some((url.clone(), "medmesh:".to_string())),
        };
        if let Some((url, prefix)) = redis {
            figment = figment
                .merge(("cache.backend", "redis"))
                .merge(("cache.redis.url", url))
                .merge(("cache.key_prefix", prefix))
                .merge(("cache.redis.retry_after_ms", 200));
        }
        let (addr, stop) = mesh.start_service::<svc_pharmacy::Pharmacy>(figment).await;
        replicas.push(addr);
        stops.push(stop);
    }
    Harness {
        mesh,
        replicas,
        db: test_db.db.clone(),
        backend: test_db.backend,
        stops,
        _test_db: test_db,
    }
}

impl Harness {
    pub fn client(&self) -> PharmacyServiceClient<Channel> {
        PharmacyServiceClient::new(channel(self.replicas[0]))
    }

    pub fn client_of(&self, replica: usize) -> PharmacyServiceClient<Channel> {
        PharmacyServiceClient::new(channel(self.replicas[replica % self.replicas.len()]))
    }

    /// Affiliates the user behind `token` with a pharmacy (an admin's act in accounts).
    pub async fn affiliate_pharmacist(&self, token: &str, pharmacy_id: &str) {
        self.mesh
            .affiliate(
                token,
                accounts::AffiliationKind::Pharmacist,
                "",
                pharmacy_id,
            )
            .await;
    }

    /// Scheduling's event that `patient_id` booked `doctor_id`, on the bus as scheduling's relay
    /// puts it; waits until the pharmacy has learned the care relationship.
    pub async fn book(&self, doctor_id: &str, patient_id: &str) {
        let appointment_id = uuid::Uuid::now_v7().to_string();
        let payload = sched::AppointmentEvent {
            appointment: Some(sched::Appointment {
                appointment_id: appointment_id.clone(),
                patient_id: patient_id.to_string(),
                status: sched::AppointmentStatus::Booked as i32,
                slot: Some(sched::Slot {
                    doctor_id: doctor_id.to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let envelope = EventEnvelope {
            id: uuid::Uuid::now_v7().to_string(),
            r#type: "medmesh.scheduling.v1.appointment.booked".to_string(),
            source: "svc-scheduling".to_string(),
            aggregate_id: appointment_id.clone(),
            aggregate_type: "appointment".to_string(),
            subject: patient_id.to_string(),
            payload: Some(prost_types::Any {
                type_url: "type.googleapis.com/medmesh.scheduling.v1.AppointmentEvent".to_string(),
                value: payload.encode_to_vec(),
            }),
            ..Default::default()
        };
        self.publish("medmesh.scheduling.v1", &appointment_id, &envelope)
            .await;
        for _ in 0..200 {
            if svc_kit::care::in_care(&self.db, doctor_id, patient_id)
                .await
                .unwrap()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the pharmacy did not learn that {patient_id} is in {doctor_id}'s care");
    }

    /// `envelope` on `topic`, keyed by `key`, as a service's relay puts it on the bus.
    async fn publish(&self, topic: &str, key: &str, envelope: &EventEnvelope) {
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

    /// Accounts' `user.erased` for `user_id` (with OIDC `subject`), on the bus as accounts'
    /// relay puts it; waits until the pharmacy has carried it out.
    pub async fn erase(&self, user_id: &str, subject: &str) {
        let payload = medmesh_proto::accounts::v1::UserEvent {
            user_id: user_id.to_string(),
            subject: subject.to_string(),
            ..Default::default()
        };
        let envelope = EventEnvelope {
            id: uuid::Uuid::now_v7().to_string(),
            r#type: "medmesh.accounts.v1.user.erased".to_string(),
            source: "svc-accounts".to_string(),
            aggregate_id: user_id.to_string(),
            aggregate_type: "user".to_string(),
            subject: subject.to_string(),
            payload: Some(prost_types::Any {
                type_url: "type.googleapis.com/medmesh.accounts.v1.UserEvent".to_string(),
                value: payload.encode_to_vec(),
            }),
            ..Default::default()
        };
        self.publish("medmesh.accounts.v1", user_id, &envelope)
            .await;
        let done = format!("SELECT COUNT(*) FROM erasures WHERE patient_id = '{user_id}'");
        for _ in 0..200 {
            if self.count(&done).await == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the pharmacy did not carry out the erasure of {user_id}");
    }

    pub async fn check_conservation(&self) {
        svc_pharmacy::testing::check_conservation(&self.db).await;
    }

    pub async fn count(&self, sql: &str) -> i64 {
        svc_kit::testing::count(&self.db, sql).await
    }

    pub async fn pharmacy(&self, name: &str) -> String {
        self.client()
            .create_pharmacy(with(
                pb::CreatePharmacyRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    pharmacy: Some(pb::Pharmacy {
                        name: name.to_string(),
                        address: "1 Strada Mare".to_string(),
                        time_zone: "Europe/Chisinau".to_string(),
                        ..Default::default()
                    }),
                },
                &self.token("admin"),
            ))
            .await
            .unwrap()
            .into_inner()
            .pharmacy_id
    }

    pub async fn medication(&self, name: &str, substance: &str, strength: &str) -> String {
        self.client()
            .create_medication(with(
                pb::CreateMedicationRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    medication: Some(pb::Medication {
                        name: name.to_string(),
                        active_substance: substance.to_string(),
                        form: "tablet".to_string(),
                        strength: strength.to_string(),
                        pack_size: 20,
                        atc_code: "N02BE01".to_string(),
                        prescription_only: true,
                        ..Default::default()
                    }),
                },
                &self.token("admin"),
            ))
            .await
            .unwrap()
            .into_inner()
            .medication_id
    }

    /// Receives `quantity` of a medication in lot `lot` (expiring in a year).
    pub async fn receive(
        &self,
        pharmacist: &str,
        pharmacy_id: &str,
        medication_id: &str,
        quantity: i64,
        lot: &str,
    ) {
        self.client()
            .receive_shipment(with(
                pb::ReceiveShipmentRequest {
                    request_id: format!("ship-{pharmacy_id}-{medication_id}-{lot}"),
                    pharmacy_id: pharmacy_id.to_string(),
                    lines: vec![pb::ShipmentLine {
                        medication_id: medication_id.to_string(),
                        quantity,
                        lot: lot.to_string(),
                        expires_at: Some(ts(chrono::Utc::now() + chrono::Duration::days(365))),
                    }],
                },
                pharmacist,
            ))
            .await
            .unwrap();
    }

    pub async fn stock(
        &self,
        pharmacist: &str,
        pharmacy_id: &str,
        medication_id: &str,
    ) -> pb::StockLevel {
        self.client()
            .get_stock(with(
                pb::GetStockRequest {
                    pharmacy_id: pharmacy_id.to_string(),
                    medication_ids: vec![medication_id.to_string()],
                },
                pharmacist,
            ))
            .await
            .unwrap()
            .into_inner()
            .levels
            .remove(0)
    }
}
