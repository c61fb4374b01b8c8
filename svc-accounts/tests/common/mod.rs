//! svc-accounts as it runs: started by svc-kit on a real database (PostgreSQL or SQLite), with
//! a real OIDC issuer (the dev issuer, which also serves Keycloak's admin API), called over gRPC.

#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, sync::Arc};

use medmesh_proto::accounts::v1::{self as pb, accounts_service_client::AccountsServiceClient};
use sea_orm::{ConnectionTrait, DatabaseConnection};
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
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    pub backend: &'static str,
    stop: CancellationToken,
    _test_db: TestDb,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start(test_db: TestDb) -> Harness {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    let figment = Settings::figment(None)
        .merge(("data_dir", dir.path().display().to_string()))
        .merge(("auth.issuer", issuer.issuer()))
        // Every unknown key id refetches the JWKS at once, so a rotation shows immediately.
        .merge(("auth.jwks_min_refresh_secs", 0))
        .merge((
            "auth.allowed_clients",
            vec![
                "medmesh-web",
                "medmesh-gateway",
                "svc-notify",
                "svc-accounts",
                "svc-scheduling",
                "svc-records",
                "svc-pharmacy",
                "partner-demo",
            ],
        ))
        .merge(("services.accounts.port", 0))
        .merge((
            "services.accounts.database_url",
            test_db.url.expose_secret().to_string(),
        ));
    let settings = Arc::new(Settings::from_figment(figment).unwrap());
    let auth = Arc::new(Authenticator::new(
        settings.auth.settings_for(issuer.issuer()),
    ));
    let bus = EventBus::from_settings(&settings, &MemoryBus::new()).unwrap();
    let started = svc_kit::runtime::start::<svc_accounts::Accounts>(
        settings,
        bus,
        auth,
        &Readiness::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    Harness {
        issuer,
        addr: started.grpc_addr,
        db: test_db.db.clone(),
        backend: test_db.backend,
        stop,
        _test_db: test_db,
        _dir: dir,
    }
}

impl Harness {
    pub fn client(&self) -> AccountsServiceClient<Channel> {
        AccountsServiceClient::new(
            Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect_lazy(),
        )
    }

    /// A demo user's token (username = password).
    pub fn token(&self, user: &str) -> String {
        self.issuer
            .password_grant(user, user, WEB_CLIENT)
            .unwrap_or_else(|| panic!("{user} signs in"))
    }

    /// A client-credentials token (`medmesh-gateway`, `partner-demo`, ...).
    pub fn client_token(&self, client: &str) -> String {
        self.issuer
            .client_credentials_grant(client, DEV_CLIENT_SECRET)
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        svc_kit::testing::count(&self.db, sql).await
    }

    pub async fn events(&self, kind: &str) -> i64 {
        self.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.accounts.v1.user.{kind}'"
        ))
        .await
    }

    /// The profile of a demo user, created on their first call.
    pub async fn me(&self, user: &str) -> pb::Profile {
        self.client()
            .get_my_profile(with(pb::GetMyProfileRequest {}, &self.token(user)))
            .await
            .unwrap()
            .into_inner()
    }

    /// Registers a patient through the gateway's client; returns the profile.
    pub async fn register(
        &self,
        username: &str,
        request_id: &str,
    ) -> Result<pb::Profile, tonic::Status> {
        self.client()
            .register_patient(with(
                registration(username, request_id),
                &self.client_token("medmesh-gateway"),
            ))
            .await
            .map(|r| r.into_inner())
    }
}

impl Harness {
    /// Registers `request` through the gateway's client, for the visitor at `address` (as the
    /// gateway names them).
    pub async fn register_visitor(
        &self,
        request: pb::RegisterPatientRequest,
        address: &str,
    ) -> Result<pb::Profile, tonic::Status> {
        self.client()
            .register_patient(from_address(
                with(request, &self.client_token("medmesh-gateway")),
                address,
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Every idempotency record as one line of text (its answer decoded as far as it is
    /// text), to look for what must not be kept there.
    pub async fn idempotency_records(&self) -> Vec<String> {
        let rows = self
            .db
            .query_all_raw(svc_kit::db::stmt(
                self.db.get_database_backend(),
                "SELECT scope, operation, request_id, fingerprint, response FROM idempotency_keys",
                [],
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                let text = |column: &str| row.try_get::<String>("", column).unwrap();
                let response: Vec<u8> = row.try_get("", "response").unwrap();
                format!(
                    "{} {} {} {} {}",
                    text("scope"),
                    text("operation"),
                    text("request_id"),
                    text("fingerprint"),
                    String::from_utf8_lossy(&response)
                )
            })
            .collect()
    }
}

/// `request` naming the visitor's address, as the gateway sends a registration.
pub fn from_address<T>(mut request: Request<T>, address: &str) -> Request<T> {
    request
        .metadata_mut()
        .insert("x-medmesh-client-address", address.parse().unwrap());
    request
}

pub fn registration(username: &str, request_id: &str) -> pb::RegisterPatientRequest {
    pb::RegisterPatientRequest {
        request_id: request_id.to_string(),
        username: username.to_string(),
        email: format!("{username}@example.org"),
        given_name: "Ann".to_string(),
        family_name: "Smith".to_string(),
        phone: "+380441234567".to_string(),
        preferred_language: "uk-UA".to_string(),
        time_zone: "Europe/Kyiv".to_string(),
        password: "correct horse battery staple".to_string(),
    }
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

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}
