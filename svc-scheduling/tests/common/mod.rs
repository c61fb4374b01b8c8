//! svc-scheduling as it runs: one or more replicas started by svc-kit on one real database
//! (PostgreSQL or SQLite), svc-accounts beside them (scheduling asks it who a caller is), and a
//! real OIDC issuer. Everything is called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, sync::Arc};

use chrono::{Datelike, Duration, NaiveDate, Utc};
use medmesh_proto::{
    accounts::v1::{self as accounts, accounts_service_client::AccountsServiceClient},
    common::v1::{Date, TimeOfDay},
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
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
    events::MemoryBus,
    testing::TestDb,
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, transport::Channel};

pub struct Harness {
    pub issuer: Arc<DevIssuer>,
    pub replicas: Vec<SocketAddr>,
    pub accounts_addr: SocketAddr,
    pub db: DatabaseConnection,
    pub backend: &'static str,
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
                "svc-scheduling",
                "partner-demo",
            ],
        ))
        .merge(("scheduling.sweep_interval_ms", 20))
}

/// Settings with the patients' caps (`scheduling.patient_max_*`) out of the way, for load
/// tests whose patients book at random.
pub fn without_patient_caps(figment: figment::Figment) -> figment::Figment {
    figment
        .merge(("scheduling.patient_max_live_holds", 1_000))
        .merge(("scheduling.patient_max_upcoming", 1_000))
        .merge(("scheduling.patient_max_upcoming_per_doctor", 1_000))
}

/// One replica.
pub async fn start(test_db: TestDb) -> Harness {
    start_replicas(test_db, 1).await
}

/// `n` scheduling replicas on one database, each with its own pool and cache.
pub async fn start_replicas(test_db: TestDb, n: usize) -> Harness {
    start_replicas_with(test_db, n, |figment| figment).await
}

/// [`start_replicas`], the replicas' settings changed by `tune`.
pub async fn start_replicas_with(
    test_db: TestDb,
    n: usize,
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
    let bus = EventBus::from_settings(&settings, &MemoryBus::new()).unwrap();
    let accounts = svc_kit::runtime::start::<svc_accounts::Accounts>(
        settings,
        bus,
        auth.clone(),
        &Readiness::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..n {
        let settings = Arc::new(
            Settings::from_figment(
                tune(base_figment(&issuer, &dir))
                    .merge((
                        "services.accounts.endpoint",
                        format!("http://{}", accounts.grpc_addr),
                    ))
                    .merge(("services.scheduling.port", 0))
                    .merge((
                        "services.scheduling.database_url",
                        test_db.url.expose_secret().to_string(),
                    )),
            )
            .unwrap(),
        );
        let bus = EventBus::from_settings(&settings, &MemoryBus::new()).unwrap();
        let started = svc_kit::runtime::start::<svc_scheduling::Scheduling>(
            settings,
            bus,
            auth.clone(),
            &Readiness::default(),
            stop.clone(),
        )
        .await
        .unwrap();
        replicas.push(started.grpc_addr);
    }
    Harness {
        issuer,
        replicas,
        accounts_addr: accounts.grpc_addr,
        db: test_db.db.clone(),
        backend: test_db.backend,
        stop,
        _test_db: test_db,
        _accounts_db: accounts_db,
        _dir: dir,
    }
}

/// A stable subject for a test user's name.
pub fn subject_of(username: &str) -> String {
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

impl Harness {
    pub fn client(&self) -> SchedulingServiceClient<Channel> {
        SchedulingServiceClient::new(channel(self.replicas[0]))
    }

    pub fn client_of(&self, replica: usize) -> SchedulingServiceClient<Channel> {
        SchedulingServiceClient::new(channel(self.replicas[replica % self.replicas.len()]))
    }

    /// A token for `username` (subject derived from it) holding `roles`.
    pub fn token_for(&self, username: &str, roles: &[&str]) -> String {
        self.issuer.sign(
            &self
                .issuer
                .claims(&subject_of(username), username, roles, WEB_CLIENT),
        )
    }

    /// A token like [`Harness::token_for`] for a person with a given and a family name, as
    /// svc-accounts records them on first sight.
    pub fn token_named(&self, username: &str, given: &str, family: &str, roles: &[&str]) -> String {
        let mut claims = self
            .issuer
            .claims(&subject_of(username), username, roles, WEB_CLIENT);
        claims["given_name"] = given.into();
        claims["family_name"] = family.into();
        claims["name"] = format!("{given} {family}").into();
        self.issuer.sign(&claims)
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

    /// The MedMesh user id behind a token (svc-accounts creates the account on first sight).
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

    pub async fn count(&self, sql: &str) -> i64 {
        svc_kit::testing::count(&self.db, sql).await
    }

    pub async fn events(&self, kind: &str) -> i64 {
        self.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.scheduling.v1.{kind}'"
        ))
        .await
    }

    /// A clinic in `time_zone` with one cabinet; returns (clinic_id, cabinet_id).
    pub async fn clinic(&self, name: &str, time_zone: &str) -> (String, String) {
        let admin = self.token("admin");
        let clinic = self
            .client()
            .create_clinic(with(
                pb::CreateClinicRequest {
                    request_id: format!("clinic-{}", name.replace(' ', "-")),
                    clinic: Some(pb::Clinic {
                        name: name.to_string(),
                        address: "1 Main St".to_string(),
                        time_zone: time_zone.to_string(),
                        cancellation_cutoff_minutes: 60,
                        ..Default::default()
                    }),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        let cabinet = self
            .client()
            .create_cabinet(with(
                pb::CreateCabinetRequest {
                    request_id: format!("cabinet-{}", name.replace(' ', "-")),
                    cabinet: Some(pb::Cabinet {
                        clinic_id: clinic.clinic_id.clone(),
                        room: "101".to_string(),
                        floor: "1".to_string(),
                        ..Default::default()
                    }),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        (clinic.clinic_id, cabinet.cabinet_id)
    }

    pub async fn specialization(&self, name: &str) -> String {
        self.client()
            .create_specialization(with(
                pb::CreateSpecializationRequest {
                    request_id: format!("spec-{}", name.replace(' ', "-")),
                    specialization: Some(pb::Specialization {
                        name: name.to_string(),
                        ..Default::default()
                    }),
                },
                &self.token("admin"),
            ))
            .await
            .unwrap()
            .into_inner()
            .specialization_id
    }

    /// Lists the doctor behind `token` at the clinic, seeing patients every day from 08:00 to
    /// 20:00 (clinic time), 30 minutes each. Returns the doctor id.
    pub async fn doctor(&self, token: &str, clinic_id: &str, specialization_id: &str) -> String {
        let doctor_id = self.user_id(token).await;
        let cabinet = self
            .client()
            .list_cabinets(with(
                pb::ListCabinetsRequest {
                    clinic_id: clinic_id.to_string(),
                    ..Default::default()
                },
                &self.token("admin"),
            ))
            .await
            .unwrap()
            .into_inner()
            .cabinets
            .into_iter()
            .next()
            .map(|c| c.cabinet_id)
            .unwrap_or_default();
        self.client()
            .upsert_doctor(with(
                pb::UpsertDoctorRequest {
                    request_id: format!("doctor-{doctor_id}"),
                    doctor: Some(pb::Doctor {
                        doctor_id: doctor_id.clone(),
                        specialization_id: specialization_id.to_string(),
                        clinic_id: clinic_id.to_string(),
                        cabinet_id: cabinet,
                        bio: "Sees patients".to_string(),
                        years_of_experience: 10,
                        default_visit_minutes: 30,
                        ..Default::default()
                    }),
                },
                &self.token("admin"),
            ))
            .await
            .unwrap();
        for weekday in 1..=7 {
            self.client()
                .add_schedule_template(with(
                    pb::AddScheduleTemplateRequest {
                        request_id: format!("template-{doctor_id}-{weekday}"),
                        template: Some(pb::ScheduleTemplate {
                            doctor_id: doctor_id.clone(),
                            weekday,
                            start: Some(TimeOfDay {
                                hours: 8,
                                minutes: 0,
                            }),
                            end: Some(TimeOfDay {
                                hours: 20,
                                minutes: 0,
                            }),
                            visit_minutes: 30,
                            valid_from: Some(date(Utc::now().date_naive() - Duration::days(2))),
                            ..Default::default()
                        }),
                    },
                    &self.token("admin"),
                ))
                .await
                .unwrap();
        }
        doctor_id
    }

    pub async fn free_slots(&self, token: &str, doctor_id: &str, days_ahead: i64) -> Vec<pb::Slot> {
        let (from, to) = day(days_ahead);
        self.client()
            .list_free_slots(with(
                pb::ListFreeSlotsRequest {
                    doctor_id: doctor_id.to_string(),
                    from: Some(from),
                    to: Some(to),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .slots
    }

    /// Waits (bounded) until `check` holds; the sweeper runs every 20 ms in tests.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..250 {
            if check().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{what} did not happen within 5 s");
    }
}

pub fn date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

pub fn ts(at: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// UTC day `days_ahead` from today, as [from, to).
pub fn day(days_ahead: i64) -> (prost_types::Timestamp, prost_types::Timestamp) {
    let start = (Utc::now().date_naive() + Duration::days(days_ahead))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    (ts(start), ts(start + Duration::days(1)))
}

/// The text of every page of a PDF, as a reader extracts it through the fonts' ToUnicode maps.
pub fn pdf_text(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).unwrap();
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    document.extract_text(&pages).unwrap()
}

/// `message` with a bearer token.
pub fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn code<T>(result: &Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The fields an INVALID_ARGUMENT names.
pub fn fields<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Vec<String> {
    let status = result.expect_err("a bad request is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    svc_kit::error::field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect()
}
