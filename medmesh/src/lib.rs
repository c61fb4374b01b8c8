//! Starting MedMesh: every service and the gateway in one process (`medmesh dev`), or one
//! component per process (`medmesh serve <component>`). Both go through the same code path.

pub mod demo;
pub mod dev_sso;

use std::{net::SocketAddr, sync::Arc};

use gateway_graphql::{GatewayConfig, GatewayServer, PlatformTokens, ServiceClients};
use svc_kit::{
    EventBus, ServiceName, Settings, StartedService,
    admin::{AdminServer, Readiness},
    auth::{Authenticator, ServiceTokens},
    config::{ConfigError, SectionConfig},
    events::MemoryBus,
    runtime::{self, KitError},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The confidential client the gateway calls services as, on the platform's behalf.
pub const GATEWAY_CLIENT: &str = "medmesh-gateway";

/// What one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Service(ServiceName),
    Gateway,
}

impl Component {
    pub fn parse(name: &str) -> Option<Component> {
        match name {
            "gateway" => Some(Component::Gateway),
            other => ServiceName::parse(other).map(Component::Service),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Kit(#[from] KitError),
    #[error("could not bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Endpoint(#[from] gateway_graphql::clients::EndpointError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The sections of the configuration that parts own (beside svc-kit's own keys).
pub const PART_SECTIONS: [&str; 5] = [
    GatewayConfig::SECTION,
    svc_scheduling::SchedulingConfig::SECTION,
    svc_pharmacy::PharmacyConfig::SECTION,
    svc_records::RecordsConfig::SECTION,
    svc_notify::NotifyConfig::SECTION,
];

/// The parts' own settings, read and checked before anything starts.
#[derive(Debug, Default)]
pub struct PartConfigs {
    pub gateway: Option<GatewayConfig>,
    /// The process's TLS, its files read and checked once.
    pub tls: svc_kit::tls::Tls,
}

/// A running set of components and the token that stops them.
#[derive(Debug)]
pub struct Platform {
    pub admin_addr: SocketAddr,
    pub gateway_addr: Option<SocketAddr>,
    /// The issuer tokens must come from.
    pub issuer_url: String,
    /// The development issuer this process runs (dev mode without `auth.issuer`).
    pub dev_issuer: Option<dev_sso::DevIssuerHandle>,
    pub services: Vec<StartedService>,
    /// How this process reaches its own services (TLS when it serves TLS).
    pub(crate) tls: svc_kit::tls::Tls,
    shutdown: CancellationToken,
    readiness: Readiness,
    tasks: Vec<JoinHandle<()>>,
}

async fn start_service(
    name: ServiceName,
    settings: Arc<Settings>,
    bus: EventBus,
    auth: Arc<Authenticator>,
    readiness: &Readiness,
    shutdown: CancellationToken,
) -> Result<StartedService, KitError> {
    match name {
        ServiceName::Accounts => {
            runtime::start::<svc_accounts::Accounts>(settings, bus, auth, readiness, shutdown).await
        }
        ServiceName::Scheduling => {
            runtime::start::<svc_scheduling::Scheduling>(settings, bus, auth, readiness, shutdown)
                .await
        }
        ServiceName::Pharmacy => {
            runtime::start::<svc_pharmacy::Pharmacy>(settings, bus, auth, readiness, shutdown).await
        }
        ServiceName::Records => {
            runtime::start::<svc_records::Records>(settings, bus, auth, readiness, shutdown).await
        }
        ServiceName::Notify => {
            runtime::start::<svc_notify::Notify>(settings, bus, auth, readiness, shutdown).await
        }
    }
}

/// What starting service `name` would find wrong in the settings, before any port is bound.
pub fn check_service(settings: &Settings, name: ServiceName) -> Result<(), ConfigError> {
    match name {
        ServiceName::Accounts => runtime::check::<svc_accounts::Accounts>(settings).map(|_| ()),
        ServiceName::Scheduling => {
            runtime::check::<svc_scheduling::Scheduling>(settings).map(|_| ())
        }
        ServiceName::Pharmacy => runtime::check::<svc_pharmacy::Pharmacy>(settings).map(|_| ()),
        ServiceName::Records => runtime::check::<svc_records::Records>(settings).map(|_| ()),
        ServiceName::Notify => runtime::check::<svc_notify::Notify>(settings).map(|_| ()),
    }
}

/// Applies the migrations of `name` and returns how many were new.
pub async fn migrate(settings: &Settings, name: ServiceName) -> Result<(), KitError> {
    let migrations = match name {
        ServiceName::Accounts => <svc_accounts::Accounts as svc_kit::MeshService>::MIGRATIONS,
        ServiceName::Scheduling => <svc_scheduling::Scheduling as svc_kit::MeshService>::MIGRATIONS,
        ServiceName::Pharmacy => <svc_pharmacy::Pharmacy as svc_kit::MeshService>::MIGRATIONS,
        ServiceName::Records => <svc_records::Records as svc_kit::MeshService>::MIGRATIONS,
        ServiceName::Notify => <svc_notify::Notify as svc_kit::MeshService>::MIGRATIONS,
    };
    let db = runtime::open_database(settings, name, migrations).await?;
    db.close().await.ok();
    Ok(())
}

impl Platform {
    /// Starts `components` in this process, with one admin port for all of them. The gateway
    /// reaches services started here at their bound addresses, others at their endpoints.
    /// Reads and checks the settings of `components` (each part's own section included) and
    /// refuses keys no part reads: everything `start` would find wrong before it binds a port.
    pub fn validate(
        settings: &Settings,
        components: &[Component],
    ) -> Result<PartConfigs, ConfigError> {
        settings.check_sections(&PART_SECTIONS)?;
        let mut configs = PartConfigs {
            tls: svc_kit::tls::Tls::load(&settings.tls)?,
            ..PartConfigs::default()
        };
        for component in components {
            // Under mutual TLS a service's token is accepted only from its own certificate:
            // one that does not name it would have every call it makes refused.
            let role = match component {
                Component::Service(name) => format!("svc-{name}"),
                Component::Gateway => "svc-gateway".to_string(),
            };
            if !configs.tls.names_workload(&role) {
                let host = role.trim_start_matches("svc-");
                return Err(ConfigError::key(
                    "tls.cert_file",
                    format!(
                        "names neither {role} nor {host}: with tls.client_auth = \"required\" \
                         the calls this process makes as {role} would be refused (a service's \
                         token is accepted only from a certificate naming it)"
                    ),
                ));
            }
            match component {
                Component::Service(name) => check_service(settings, *name)?,
                Component::Gateway => {
                    let mut config: GatewayConfig = settings.section()?;
                    config.introspection = Some(config.introspection(settings));
                    configs.gateway = Some(config);
                }
            }
        }
        Ok(configs)
    }

    pub async fn start(
        settings: Settings,
        components: &[Component],
    ) -> Result<Platform, StartError> {
        // Every part's own section is read and checked before any port is bound.
        let configs = Platform::validate(&settings, components)?;
        // The process's TLS, before anything that speaks HTTPS or gRPC is built.
        let tls = configs.tls.clone();
        svc_kit::tls::install(&tls);
        let scheme = if tls.serves_tls() { "https" } else { "http" };
        let settings = Arc::new(settings);
        let shutdown = CancellationToken::new();
        let readiness = Readiness::default();
        let memory_bus = MemoryBus::new();
        let bus = EventBus::from_settings(&settings, &memory_bus)?;
        let mut tasks = Vec::new();

        let admin_addr = settings.admin.addr();
        let admin = AdminServer::bind(admin_addr, readiness.clone())
            .await
            .map_err(|source| StartError::Bind {
                what: "the admin port",
                addr: admin_addr,
                source,
            })?;
        let admin_addr = admin.local_addr();

        // Who may call: the configured issuer, or in dev mode a development issuer of our own.
        let configured = settings
            .auth
            .issuer
            .clone()
            .filter(|issuer| !issuer.is_empty());
        let (issuer_url, dev_issuer) = match configured {
            Some(issuer) => (issuer, None),
            None => {
                let (url, issuer) = dev_sso::start(&settings, shutdown.clone(), &mut tasks).await?;
                (url, Some(issuer))
            }
        };
        let mut auth_settings = settings.auth.settings_for(issuer_url.clone());
        if dev_issuer.is_some() {
            // The dev issuer's sample partner client, so partner calls can be tried in dev.
            auth_settings
                .allowed_clients
                .push("partner-demo".to_string());
        }
        let authenticator = Arc::new(Authenticator::new(auth_settings));

        let mut services = Vec::new();
        // Services started here reach each other where they really listen (a port of 0 is
        // only known once bound): later services get the earlier ones' addresses.
        let mut service_settings = (*settings).clone();
        for component in components {
            if let Component::Service(name) = component {
                let started = start_service(
                    *name,
                    Arc::new(service_settings.clone()),
                    bus.clone(),
                    authenticator.clone(),
                    &readiness,
                    shutdown.clone(),
                )
                .await;
                match started {
                    Ok(started) => {
                        service_settings
                            .services
                            .get_mut(*name)
                            .endpoint
                            .get_or_insert_with(|| format!("{scheme}://{}", started.grpc_addr));
                        services.push(started)
                    }
                    Err(error) => {
                        shutdown.cancel();
                        return Err(error.into());
                    }
                }
            }
        }

        let mut gateway_addr = None;
        if let Some(gateway_config) = &configs.gateway {
            let endpoints = ServiceName::ALL.map(|name| {
                let local = services.iter().find(|s| s.service == name);
                let url = match local {
                    Some(s) => format!("{scheme}://{}", s.grpc_addr),
                    None => settings.endpoint(name),
                };
                (name, url)
            });
            let clients = ServiceClients::new(endpoints, gateway_config, &tls)?;
            let secret = gateway_config.client_secret(&settings)?;
            let token_url = format!("{issuer_url}/protocol/openid-connect/token");
            let platform = ServiceTokens::new(&token_url, GATEWAY_CLIENT, &secret)
                .map_err(|e| ConfigError::new(format!("gateway client credentials: {e}")))?;
            let feeds = gateway_graphql::LiveFeeds::start(
                &bus.source,
                &settings.events.topic_prefix,
                &shutdown,
            );
            let account_ends = feeds.accounts.clone();
            let schema = gateway_graphql::build_schema_with_feeds(
                clients,
                gateway_config,
                Some(PlatformTokens(Arc::new(platform))),
                feeds,
            );
            let addr = gateway_config.listen_addr();
            let gateway = GatewayServer::bind(addr, schema, authenticator.clone())
                .await
                .map_err(|source| StartError::Bind {
                    what: "the gateway",
                    addr,
                    source,
                })?;
            let proxies =
                gateway_graphql::proxies::TrustedProxies::parse(&gateway_config.trusted_proxies)
                    .map_err(|e| ConfigError::key("gateway.trusted_proxies", e))?;
            let mut gateway = gateway
                .with_limits(gateway_graphql::server::Limits {
                    max_body_bytes: gateway_config.max_body_bytes,
                    max_message_bytes: gateway_config.max_message_bytes,
                })
                .with_trusted_proxies(proxies);
            if gateway_config.rate_limit.enabled {
                let budgets = svc_kit::cache::Cache::from_settings(&settings.cache, "gateway")
                    .map_err(|e| ConfigError::new(format!("gateway rate limits: {e}")))?;
                gateway = gateway.with_rate_limits(gateway_graphql::server::RateLimits {
                    rules: gateway_config.rate_limit.rules(),
                    budgets,
                });
            }
            if let Some(feed) = account_ends {
                gateway = gateway.with_account_feed(feed);
            }
            if gateway_config.introspection == Some(false) {
                gateway = gateway.without_playground();
            }
            let gateway = match &dev_issuer {
                Some(issuer) => gateway.with_dev_sign_in(&dev_sso::sign_in(issuer)),
                None => gateway,
            };
            gateway_addr = Some(gateway.local_addr());
            let token = shutdown.clone();
            let grace = settings.shutdown_grace();
            tasks.push(tokio::spawn(async move {
                if let Err(error) = gateway.serve(token, grace).await {
                    tracing::error!(%error, "gateway stopped with an error");
                }
            }));
        }

        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = admin.serve(token).await {
                tracing::error!(%error, "admin server stopped with an error");
            }
        }));

        Ok(Platform {
            admin_addr,
            gateway_addr,
            issuer_url,
            dev_issuer,
            services,
            tls,
            shutdown,
            readiness,
            tasks,
        })
    }

    /// Every service and the gateway: what `medmesh dev` runs.
    pub fn all_components() -> Vec<Component> {
        let mut components: Vec<Component> = ServiceName::ALL
            .into_iter()
            .map(Component::Service)
            .collect();
        components.push(Component::Gateway);
        components
    }

    pub fn service_addr(&self, name: ServiceName) -> Option<SocketAddr> {
        self.services
            .iter()
            .find(|s| s.service == name)
            .map(|s| s.grpc_addr)
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits for the shutdown token, then for every component to drain and stop.
    pub async fn run_until_stopped(self) {
        self.shutdown.cancelled().await;
        self.readiness.set_draining();
        for service in self.services {
            service.stopped().await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops everything and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.run_until_stopped().await;
    }
}
