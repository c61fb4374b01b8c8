//! The gateway's own settings, the `[gateway]` section: where it listens, how long it waits for
//! services, how large a query may be, and its client secret. Read by svc-kit's loader and
//! checked here, before any port is bound.

use std::net::{IpAddr, SocketAddr};

use secrecy::SecretString;
use serde::Deserialize;
use svc_kit::{
    Settings,
    config::{ConfigError, SectionConfig},
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub host: IpAddr,
    pub port: u16,
    /// Deadline of every call the gateway makes to a service.
    pub upstream_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// The largest request body `POST /graphql` reads; a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// The largest websocket message (and frame) a subscription connection accepts.
    pub max_message_bytes: usize,
    /// Introspection, field suggestions and the GraphiQL playground. Unset: on in dev mode, off
    /// in production (where the schema is no map for whoever probes it).
    pub introspection: Option<bool>,
    /// The secret of the `medmesh-gateway` client, for calls the gateway makes on the
    /// platform's behalf (patient self-registration). Required in production; dev uses the
    /// dev issuer's.
    pub client_secret: Option<SecretString>,
}

impl GatewayConfig {
    /// Whether introspection, suggestions and the playground are on, given the mode.
    pub fn introspection(&self, settings: &Settings) -> bool {
        self.introspection
            .unwrap_or(settings.mode == svc_kit::config::Mode::Dev)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The gateway's client secret: as configured, or in dev mode the dev issuer's.
    pub fn client_secret(&self, settings: &Settings) -> Result<SecretString, ConfigError> {
        settings.client_secret(self.client_secret.as_ref(), "gateway.client_secret")
    }
}

impl SectionConfig for GatewayConfig {
    const SECTION: &'static str = "gateway";
    const DEFAULTS: &'static str = include_str!("defaults.toml");

    fn validate(&self, settings: &Settings) -> Result<(), ConfigError> {
        if self.max_depth == 0 {
            return Err(ConfigError::key("gateway.max_depth", "must be at least 1"));
        }
        if self.max_complexity == 0 {
            return Err(ConfigError::key(
                "gateway.max_complexity",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("gateway.max_body_bytes", self.max_body_bytes),
            ("gateway.max_message_bytes", self.max_message_bytes),
        ] {
            if !(1024..=64 * 1024 * 1024).contains(&value) {
                return Err(ConfigError::key(key, "must be between 1 KiB and 64 MiB"));
            }
        }
        if self.upstream_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(ConfigError::key(
                "gateway.upstream_timeout_ms",
                "and gateway.connect_timeout_ms must be at least 1",
            ));
        }
        self.client_secret(settings).map(|_| ())
    }
}
