//! svc-records as it runs: replicas started by svc-kit on one real database (PostgreSQL or
//! SQLite), svc-accounts beside them (records asks it who a caller is and where they work), a
//! real OIDC issuer, and the in-process event bus on which scheduling's, pharmacy's and
//! accounts' events arrive as their relays put them. Everything is called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use medmesh_proto::{
    accounts::v1::{self as accounts, accounts_service_client::AccountsServiceClient},
    events::v1::EventEnvelope,
    records::v1::records_service_client::RecordsServiceClient,
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
    /// A replica's configuration before `tune` (for [`Harness::add_replica`]).
    replica_figment: figment::Figment,
    auth: Arc<Authenticator>,
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
                "svc-records",
                "partner-demo",
            ],
        ))
        .merge(("records.sweep_interval_ms", 20))
}

pub async fn start(test_db: TestDb) -> Harness {
    start_replicas(test_db, 1, CacheKind::Memory).await
}

/// `n` pharmacy replicas on one database, each with its own pool (and its own cache handle).
pub async fn start_replicas(test_db: TestDb, n: usize, cache: CacheKind) -> Harness {
    start_with(test_db, n, cache, |f| f).await
}

/// Replicas whose configuration `tune` changes (keys, say).
pub async fn start_with(
    test_db: TestDb,
    n: usize,
    cache: CacheKind,
    tune: impl Fn(figment::Figment) -> figment::Figment,
) -> Harness {
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
            .merge(("services.records.port", 0))
            .merge((
                "services.records.database_url",
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
        let settings = Arc::new(Settings::from_figment(tune(figment)).unwrap());
        let replica_stop = stop.child_token();
        let started = svc_kit::runtime::start::<svc_records::Records>(
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
    let replica_figment = base_figment(&issuer, &dir)
        .merge((
            "services.accounts.endpoint",
            format!("http://{}", accounts.grpc_addr),
        ))
        .merge(("services.records.port", 0))
        .merge((
            "services.records.database_url",
            test_db.url.expose_secret().to_string(),
        ));
    Harness {
        replica_figment,
        auth,
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
    /// Starts one more replica (in-process cache) whose configuration `tune` changes; its index.
    pub async fn add_replica(
        &mut self,
        tune: impl Fn(figment::Figment) -> figment::Figment,
    ) -> usize {
        let settings =
            Arc::new(Settings::from_figment(tune(self.replica_figment.clone())).unwrap());
        let replica_stop = self.stop.child_token();
        let started = svc_kit::runtime::start::<svc_records::Records>(
            settings.clone(),
            EventBus::from_settings(&settings, &self.bus).unwrap(),
            self.auth.clone(),
            &Readiness::default(),
            replica_stop.clone(),
        )
        .await
        .unwrap();
        self.replicas.push(started.grpc_addr);
        self.stops.push(replica_stop);
        self.replicas.len() - 1
    }

    pub fn client(&self) -> RecordsServiceClient<Channel> {
        RecordsServiceClient::new(channel(self.replicas[0]))
    }

    pub fn client_of(&self, replica: usize) -> RecordsServiceClient<Channel> {
        RecordsServiceClient::new(channel(self.replicas[replica % self.replicas.len()]))
    }

    /// A demo user's token (username = password).
    pub fn token(&self, user: &str) -> String {
        self.issuer.password_grant(user, user, WEB_CLIENT).unwrap()
    }

    /// A token for `username` holding `roles`.
    pub fn token_for(&self, username: &str, roles: &[&str]) -> String {
        self.issuer.sign(
            &self
                .issuer
                .claims(&subject_of(username), username, roles, WEB_CLIENT),
        )
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

    /// Affiliates the user behind `token` with a clinic as a nurse (an admin's act in accounts).
    pub async fn affiliate_nurse(&self, token: &str, clinic_id: &str) {
        let user_id = self.user_id(token).await;
        AccountsServiceClient::new(channel(self.accounts_addr))
            .add_affiliation(with(
                accounts::AddAffiliationRequest {
                    request_id: format!("nurse-{user_id}-{clinic_id}"),
                    user_id,
                    kind: accounts::AffiliationKind::Nurse as i32,
                    clinic_id: clinic_id.to_string(),
                    ..Default::default()
                },
                &self.token("admin"),
            ))
            .await
            .unwrap();
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
