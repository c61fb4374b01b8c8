//! What a service's integration tests run beside it: a development OIDC issuer, svc-accounts
//! (services ask it who a caller is and where they work) on a real database, and an in-process
//! event bus on which other services' events can be published as their relays would. A
//! service under test joins with [`Mesh::start_service`], one or more replicas.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc};

use figment::Figment;
use medmesh_proto::accounts::v1::{
    self as accounts, accounts_service_client::AccountsServiceClient,
};
use secrecy::ExposeSecret;
use svc_kit::{
    EventBus, MeshService, Settings,
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
use tonic::{Request, transport::Channel};

/// The clients a test's tokens may come from.
const CLIENTS: [&str; 7] = [
    "medmesh-web",
    "medmesh-gateway",
    "svc-notify",
    "svc-pharmacy",
    "svc-records",
    "svc-scheduling",
    "partner-demo",
];

/// The issuer, accounts and the bus, running until dropped.
#[derive(Debug)]
pub struct Mesh {
    pub issuer: Arc<DevIssuer>,
    pub accounts_addr: SocketAddr,
    pub bus: MemoryBus,
    pub auth: Arc<Authenticator>,
    /// Stops everything the mesh started (services started through it included).
    pub stop: CancellationToken,
    pub dir: tempfile::TempDir,
    _accounts_db: TestDb,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Mesh {
    /// The issuer and accounts, accounts on `backend` ("postgres" or "sqlite").
    pub async fn start(backend: &str) -> Mesh {
        let stop = CancellationToken::new();
        let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let issuer = sso.issuer.clone();
        tokio::spawn(sso.serve(stop.clone()));
        let dir = tempfile::tempdir().unwrap();
        let accounts_db = match backend {
            "postgres" => TestDb::postgres().await,
            _ => TestDb::sqlite().await,
        };
        let settings = Arc::new(
            Settings::from_figment(
                base(&issuer, &dir)
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
        let accounts = svc_kit::runtime::start::<crate::Accounts>(
            settings,
            accounts_bus,
            auth.clone(),
            &Readiness::default(),
            stop.clone(),
        )
        .await
        .unwrap();
        Mesh {
            issuer,
            accounts_addr: accounts.grpc_addr,
            bus: MemoryBus::new(),
            auth,
            stop,
            dir,
            _accounts_db: accounts_db,
        }
    }

    /// The settings a service of this mesh starts from: the issuer, the data directory, the
    /// clients tokens may come from, and where accounts is.
    pub fn figment(&self) -> Figment {
        base(&self.issuer, &self.dir).merge((
            "services.accounts.endpoint",
            format!("http://{}", self.accounts_addr),
        ))
    }

    /// Starts one replica of `S` with `settings`, on the mesh's bus; its gRPC address and the
    /// token that stops it (the mesh's stop stops it too).
    pub async fn start_service<S: MeshService>(
        &self,
        settings: Figment,
    ) -> (SocketAddr, CancellationToken) {
        let settings = Arc::new(Settings::from_figment(settings).unwrap());
        let stop = self.stop.child_token();
        let started = svc_kit::runtime::start::<S>(
            settings.clone(),
            EventBus::from_settings(&settings, &self.bus).unwrap(),
            self.auth.clone(),
            &Readiness::default(),
            stop.clone(),
        )
        .await
        .unwrap();
        (started.grpc_addr, stop)
    }

    /// A token for `username` (its subject derived from it) holding `roles`.
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

    /// A confidential client's token (client credentials).
    pub fn client_token(&self, client: &str) -> String {
        self.issuer
            .client_credentials_grant(client, DEV_CLIENT_SECRET)
            .unwrap()
    }

    /// The MedMesh user id behind `token` (accounts creates the user on first sight).
    pub async fn user_id(&self, token: &str) -> String {
        AccountsServiceClient::new(channel(self.accounts_addr))
            .get_my_profile(with(accounts::GetMyProfileRequest {}, token))
            .await
            .unwrap()
            .into_inner()
            .user_id
    }

    /// Affiliates the user behind `token` as `kind` (an admin's act in accounts) with a clinic
    /// or a pharmacy.
    pub async fn affiliate(
        &self,
        token: &str,
        kind: accounts::AffiliationKind,
        clinic_id: &str,
        pharmacy_id: &str,
    ) {
        let user_id = self.user_id(token).await;
        AccountsServiceClient::new(channel(self.accounts_addr))
            .add_affiliation(with(
                accounts::AddAffiliationRequest {
                    request_id: format!("{kind:?}-{user_id}-{clinic_id}{pharmacy_id}"),
                    user_id,
                    kind: kind as i32,
                    clinic_id: clinic_id.to_string(),
                    pharmacy_id: pharmacy_id.to_string(),
                    ..Default::default()
                },
                &self.token("admin"),
            ))
            .await
            .unwrap();
    }
}

fn base(issuer: &DevIssuer, dir: &tempfile::TempDir) -> Figment {
    Settings::figment(None)
        .merge(("data_dir", dir.path().display().to_string()))
        .merge(("auth.issuer", issuer.issuer()))
        .merge(("auth.allowed_clients", CLIENTS.to_vec()))
}

/// A stable subject for a test user's name.
pub fn subject_of(username: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    username.hash(&mut hasher);
    uuid::Uuid::from_u64_pair(hasher.finish(), 0x4000_8000_0000_0001).to_string()
}

/// A lazy channel to `addr`.
pub fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

/// `message` with a bearer token.
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
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
