//! Starting a service the one way every service starts: validate its settings, open and
//! migrate its database, build its cache and outbox, bind its gRPC port, then serve and relay
//! until the shutdown token is cancelled.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    admin::Readiness,
    auth::{Authenticator, RequireAuth},
    cache::{Cache, CacheError},
    config::{ConfigError, EventBackend, SectionConfig, ServiceName, Settings},
    db::{self, DbError, Migration},
    events::{
        EventSource, KafkaPublisher, MemoryBus, Outbox, Publisher, Relay, RelayOptions, topic_for,
    },
    grpc::{GrpcServer, GrpcServerError},
};

#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Grpc(#[from] GrpcServerError),
    #[error("event bus: {0}")]
    Events(String),
}

/// A MedMesh service, as svc-kit sees it.
pub trait MeshService: Send + Sync + 'static {
    const NAME: ServiceName;
    /// The service's own schema, applied at start-up after svc-kit's tables.
    const MIGRATIONS: &'static [Migration];
    /// The confidential client the service acts as on the platform's behalf, if any; its
    /// secret (`services.<name>.client_secret`) is then required in production.
    const CLIENT_ID: Option<&'static str> = None;
    /// The service's own section of the configuration ([`NoSection`](crate::config::NoSection) when it has none).
    type Config: SectionConfig;
    /// Adds the service's tonic services to `server`. What it builds from settings was checked
    /// by [`check`] before any port was bound; what can still fail is an error, not a panic.
    fn register(
        context: &ServiceContext,
        config: &Self::Config,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError>;
    /// Builds, once and before any port is bound, what `register` builds from settings that
    /// types alone cannot check (an issuer's shape, a token endpoint), so such a value stops
    /// the start with the key named instead of failing after ports are bound.
    fn check(_settings: &Settings, _config: &Self::Config) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Starts the service's background workers (they stop when `shutdown` is cancelled).
    fn spawn_workers(
        _context: &ServiceContext,
        _config: &Self::Config,
        _shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }
}

/// Everything [`start`] checks of `S` before it binds a port: its database and listen
/// settings, its client secret if it has a client, and its own section.
pub fn check<S: MeshService>(settings: &Settings) -> Result<S::Config, ConfigError> {
    settings.validate_service(S::NAME)?;
    if S::CLIENT_ID.is_some() {
        settings.service_client_secret(S::NAME)?;
    }
    let config = settings.section::<S::Config>()?;
    S::check(settings, &config)?;
    Ok(config)
}

/// Where a process publishes its events and its consumers read them.
#[derive(Clone)]
pub struct EventBus {
    pub publisher: Arc<dyn Publisher>,
    pub source: EventSource,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// Kafka when configured; otherwise the given in-process bus (shared by every service of a
    /// `medmesh dev` process).
    pub fn from_settings(settings: &Settings, memory: &MemoryBus) -> Result<EventBus, KitError> {
        match settings.events.backend {
            EventBackend::Memory => Ok(EventBus {
                publisher: Arc::new(memory.clone()),
                source: EventSource::Memory(memory.clone()),
            }),
            EventBackend::Kafka => {
                let brokers = settings.events.kafka.brokers.clone().unwrap_or_default();
                let publisher = KafkaPublisher::new(&brokers, &settings.events.kafka)
                    .map_err(KitError::Events)?;
                Ok(EventBus {
                    publisher: Arc::new(publisher),
                    source: EventSource::Kafka {
                        brokers,
                        settings: settings.events.kafka.clone(),
                    },
                })
            }
        }
    }
}

/// What a service's handlers work with.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    pub service: ServiceName,
    pub auth: Arc<Authenticator>,
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub outbox: Outbox,
    pub bus: EventBus,
}

impl ServiceContext {
    /// The secret of the service's confidential client (checked before start).
    pub fn client_secret(&self) -> Result<secrecy::SecretString, ConfigError> {
        self.settings.service_client_secret(self.service)
    }

    /// `service`, reachable only with a valid bearer token.
    pub fn require_auth<S>(&self, service: S) -> RequireAuth<S> {
        RequireAuth::new(service, self.auth.clone())
    }
}

/// A running service: its bound gRPC address and its tasks.
#[derive(Debug)]
pub struct StartedService {
    pub service: ServiceName,
    pub grpc_addr: SocketAddr,
    pub context: ServiceContext,
    tasks: Vec<JoinHandle<()>>,
}

impl StartedService {
    /// Waits until the service's server and relay have stopped.
    pub async fn stopped(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens and migrates the database of `service`.
pub async fn open_database(
    settings: &Settings,
    service: ServiceName,
    migrations: &[Migration],
) -> Result<DatabaseConnection, KitError> {
    let url = settings.database_url(service)?;
    let db = db::connect(&url, &settings.database).await?;
    db::migrate(&db, "svc-kit", crate::KIT_MIGRATIONS).await?;
    db::migrate(&db, service.as_str(), migrations).await?;
    Ok(db)
}

/// Starts `S`: binds its port (see `StartedService::grpc_addr`), then serves until `shutdown`.
pub async fn start<S: MeshService>(
    settings: Arc<Settings>,
    bus: EventBus,
    auth: Arc<Authenticator>,
    readiness: &Readiness,
    shutdown: CancellationToken,
) -> Result<StartedService, KitError> {
    let name = S::NAME;
    let config = check::<S>(&settings)?;
    // The recorder first: what the service counts from its first moment is kept.
    crate::telemetry::metrics_handle();
    // The process's TLS, before the first client that speaks it is built.
    let tls = crate::tls::Tls::load(&settings.tls).map_err(ConfigError::from)?;
    crate::tls::install(&tls);
    let db = open_database(&settings, name, S::MIGRATIONS).await?;
    let cache = Cache::from_settings(&settings.cache, name.as_str())?;
    let outbox = Outbox::new(
        format!("medmesh/svc-{name}"),
        topic_for(&settings.events.topic_prefix, name),
    );
    {
        let db = db.clone();
        readiness.add(format!("{name}.database"), move || {
            let db = db.clone();
            Box::pin(async move { db::ping(&db).await })
        });
        // The cache only accelerates reads: its outage is a metric and an alert
        // (cache_fallback_total), not a reason to take every replica out of service.
        let cache = cache.clone();
        readiness.add_advisory(format!("{name}.cache"), move || {
            let cache = cache.clone();
            Box::pin(async move { cache.ping().await })
        });
    }
    let context = ServiceContext {
        service: name,
        auth,
        settings: settings.clone(),
        db: db.clone(),
        cache,
        outbox,
        bus: bus.clone(),
    };
    let server = GrpcServer::bind(settings.services.get(name).listen_addr())
        .await?
        .with_limits((&settings.grpc).into())
        .with_tls(tls.server_config());
    let server = S::register(&context, &config, server)?;
    let grpc_addr = server.local_addr();
    let relay = Relay::new(
        db,
        bus.publisher.clone(),
        name.as_str(),
        RelayOptions::from(&settings.events),
    );
    let grace = settings.shutdown_grace();
    let server_task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = server.serve(shutdown, grace).await {
                tracing::error!(service = %name, %error, "gRPC server stopped with an error");
            }
        })
    };
    let topics_task = {
        // Topics are created at start-up, in the background: a broker that is down must not
        // keep the service from serving (its events wait in the outbox meanwhile).
        let (publisher, shutdown) = (bus.publisher.clone(), shutdown.clone());
        let topics = vec![topic_for(&settings.events.topic_prefix, name)];
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match publisher.prepare(&topics).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(service = %name, %error, "could not create topics yet; retrying")
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => delay = (delay * 2).min(Duration::from_secs(10)),
                }
            }
        })
    };
    let mut tasks = S::spawn_workers(&context, &config, shutdown.clone());
    let relay_task = tokio::spawn(relay.run(shutdown));
    tracing::info!(service = %name, %grpc_addr, "service started");
    Ok(StartedService {
        service: name,
        grpc_addr,
        context,
        tasks: {
            tasks.extend([server_task, relay_task, topics_task]);
            tasks
        },
    })
}
