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
    pub rate_limit: RateLimitConfig,
    /// Live subscriptions one websocket connection may hold.
    pub max_subscriptions_per_connection: usize,
    /// Live subscriptions one subject may hold on one gateway replica.
    pub max_subscriptions_per_subject: usize,
    /// The reverse proxies (addresses or networks) whose `X-Forwarded-For` names the caller:
    /// a list, or one comma-separated string (`MEDMESH_GATEWAY__TRUSTED_PROXIES=10.0.0.0/8`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub trusted_proxies: Vec<String>,
}

/// `[gateway.rate_limit]`: requests per caller (see the defaults for each key).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub subject_per_minute: u32,
    pub subject_burst: u32,
    pub anonymous_per_minute: u32,
    pub anonymous_burst: u32,
    pub booking_per_minute: u32,
    pub booking_burst: u32,
}

impl RateLimitConfig {
    /// The rules for signed-in callers, anonymous ones, and booking requests.
    pub fn rules(&self) -> crate::rates::RateRules {
        let rule = |name, per_minute, burst| svc_kit::cache::RateRule {
            name,
            per_period: per_minute,
            period: std::time::Duration::from_secs(60),
            burst,
        };
        crate::rates::RateRules {
            subject: rule("subject", self.subject_per_minute, self.subject_burst),
            anonymous: rule("anonymous", self.anonymous_per_minute, self.anonymous_burst),
            booking: rule("booking", self.booking_per_minute, self.booking_burst),
        }
    }
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
        crate::proxies::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ConfigError::key("gateway.trusted_proxies", e))?;
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
        if self.max_subscriptions_per_connection == 0 || self.max_subscriptions_per_subject == 0 {
            return Err(ConfigError::key(
                "gateway.max_subscriptions_per_connection",
                "and gateway.max_subscriptions_per_subject must be at least 1",
            ));
        }
        let rates = &self.rate_limit;
        for (key, value) in [
            (
                "gateway.rate_limit.subject_per_minute",
                rates.subject_per_minute,
            ),
            ("gateway.rate_limit.subject_burst", rates.subject_burst),
            (
                "gateway.rate_limit.anonymous_per_minute",
                rates.anonymous_per_minute,
            ),
            ("gateway.rate_limit.anonymous_burst", rates.anonymous_burst),
            (
                "gateway.rate_limit.booking_per_minute",
                rates.booking_per_minute,
            ),
            ("gateway.rate_limit.booking_burst", rates.booking_burst),
        ] {
            if value == 0 {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        self.client_secret(settings).map(|_| ())
    }
}

/// A list of strings, or one string (the environment's form of a one-item list).
fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Many(Vec<String>),
        One(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::Many(items) => items,
        Form::One(item) => vec![item],
    })
}
