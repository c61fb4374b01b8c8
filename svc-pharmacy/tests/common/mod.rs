//! svc-pharmacy as it runs: one or more replicas started by svc-kit on one real database
//! (PostgreSQL or SQLite) and a real cache (Redis, when `redis` is set), svc-accounts beside
//! them (the pharmacy asks it who a caller is and where they work), a real OIDC issuer, and the
//! in-process event bus on which scheduling's appointment events arrive. Everything is called
//! over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use medmesh_proto::{
    accounts::v1::{self as accounts, accounts_service_client::AccountsServiceClient},
    events::v1::EventEnvelope,
    pharmacy::v1::{self as pb, pharmacy_service_client::PharmacyServiceClient},
    scheduling::v1 as sched,
};
use prost::Message;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use svc_kit::{
    EventBus, Settings,
    admin::Readiness,
    auth::{
        Authenticator,
        dev_issuer::{DEV_CLIENT_SECRET, DevIssuer, DevIssuerServer, WEB_CLIENT},
    },
    config::Mode,
    events::{MemoryBus, OutgoingEvent, Publisher},
    testing::TestDb,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

pub struct Harness {
    pub issuer: Arc<DevIssuer>,
    pub replicas: Vec<SocketAddr>,
    pub accounts_addr: SocketAddr,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    pub bus: MemoryBus,
    pub stops: Vec<CancellationToken>,
    stop: CancellationToken,
    _test_db: TestDb,
    _accounts_db: TestDb,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
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

fn base_figment(issuer: &DevIssuer, dir: &tempfile::TempDir) -> figment::Figment {
    Settings::figment(None)
        .merge(("data_dir", dir.path().display().to_string()))
        .merge(("auth.issuer", issuer.issuer()))
        .merge((
            "auth.allowed_clients",
            vec![
                "medmesh-web",
                "medmesh-gateway",
                "svc-notify",
                "svc-pharmacy",
                "partner-demo",
            ],
        ))
        .merge(("pharmacy.sweep_interval_ms", 20))
}

pub async fn start(test_db: TestDb) -> Harness {
    start_replicas(test_db, 1, CacheKind::Memory).await
}

/// `n` pharmacy replicas on one database, each with its own pool (and its own cache handle).
pub async fn start_replicas(test_db: TestDb, n: usize, cache: CacheKind) -> Harness {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    let accounts_db = match test_db.backend {
        "postgres" => TestDb::postgres().await,
        _ => TestDb::sqlite().await,
    };
    let bus = MemoryBus::new();
    let settings = Arc::new(
        Settings::from_figment(
            base_figment(&issuer, &dir)
                .merge(("services.accounts.port", 0))
                .merge((
                    "services.accounts.database_url",
                    accounts_db.url.expose_secret().to_string(),
                )),
        )
        .unwrap(),
    );
    let auth = Arc::new(Authenticator::new(
        settings.auth.settings_for(issuer.issuer()),
    ));
    let accounts_bus = EventBus::from_settings(&settings, &MemoryBus::new()).unwrap();
    let accounts = svc_kit::runtime::start::<svc_accounts::Accounts>(
        settings,
        accounts_bus,
        auth.clone(),
        &Readiness::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    let mut replicas = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..n {
        let mut figment = base_figment(&issuer, &dir)
            .merge((
                "services.accounts.endpoint",
                format!("http://{}", accounts.grpc_addr),
            ))
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
        let settings = Arc::new(Settings::from_figment(figment).unwrap());
        let replica_stop = stop.child_token();
        let started = svc_kit::runtime::start::<svc_pharmacy::Pharmacy>(
            settings.clone(),
            EventBus::from_settings(&settings, &bus).unwrap(),
            auth.clone(),
            &Readiness::default(),
            replica_stop.clone(),
        )
        .await
        .unwrap();
        replicas.push(started.grpc_addr);
        stops.push(replica_stop);
    }
    Harness {
        issuer,
        replicas,
        accounts_addr: accounts.grpc_addr,
        db: test_db.db.clone(),
        backend: test_db.backend,
        bus,
        stops,
        stop,
        _test_db: test_db,
        _accounts_db: accounts_db,
        _dir: dir,
    }
}

fn subject_of(username: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    username.hash(&mut hasher);
    uuid::Uuid::from_u64_pair(hasher.finish(), 0x4000_8000_0000_0001).to_string()
}

pub fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

pub fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn ts(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

impl Harness {
    pub fn client(&self) -> PharmacyServiceClient<Channel> {
        PharmacyServiceClient::new(channel(self.replicas[0]))
    }

    pub fn client_of(&self, replica: usize) -> PharmacyServiceClient<Channel> {
        PharmacyServiceClient::new(channel(self.replicas[replica % self.replicas.len()]))
    }

    /// A token for `username` (subject derived from it) holding `roles`.
    pub fn token_for(&self, username: &str, roles: &[&str]) -> String {
        self.issuer.sign(
            &self
                .issuer
                .claims(&subject_of(username), username, roles, WEB_CLIENT),
        )
    }

    /// A demo user's token (username = password).
    pub fn token(&self, user: &str) -> String {
        self.issuer.password_grant(user, user, WEB_CLIENT).unwrap()
    }

    pub fn client_token(&self, client: &str) -> String {
        self.issuer
            .client_credentials_grant(client, DEV_CLIENT_SECRET)
            .unwrap()
    }

    pub async fn user_id(&self, token: &str) -> String {
        AccountsServiceClient::new(channel(self.accounts_addr))
            .get_my_profile(with(accounts::GetMyProfileRequest {}, token))
            .await
            .unwrap()
            .into_inner()
            .user_id
    }

    /// Affiliates the user behind `token` with a pharmacy (an admin's act in accounts).
    pub async fn affiliate_pharmacist(&self, token: &str, pharmacy_id: &str) {
        let user_id = self.user_id(token).await;
        AccountsServiceClient::new(channel(self.accounts_addr))
            .add_affiliation(with(
                accounts::AddAffiliationRequest {
                    request_id: format!("pharmacist-{user_id}-{pharmacy_id}"),
                    user_id,
                    kind: accounts::AffiliationKind::Pharmacist as i32,
                    pharmacy_id: pharmacy_id.to_string(),
                    ..Default::default()
                },
                &self.token("admin"),
            ))
            .await
            .unwrap();
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
        let outcome = self
            .bus
            .publish(&[OutgoingEvent {
                seq: 0,
                event_id: envelope.id.clone(),
                event_type: envelope.r#type.clone(),
                topic: "medmesh.scheduling.v1".to_string(),
                key: appointment_id,
                payload: envelope.encode_to_vec().into(),
            }])
            .await;
        assert_eq!(outcome.delivered, 1, "{:?}", outcome.error);
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
