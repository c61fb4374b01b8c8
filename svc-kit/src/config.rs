//! Layered configuration: built-in defaults → a TOML file → `MEDMESH_*` environment variables.
//!
//! Everything is parsed and validated before any port is bound. A bad value is reported as one
//! line naming the key, and the binary exits with code 64 (EX_USAGE).

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The built-in defaults, also the reference for every key (`svc-kit/src/defaults.toml`).
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// How figment names the built-in defaults (a TOML string without a file) as a source.
const DEFAULTS_NAME: &str = "TOML source string";

/// The top-level keys the kit itself reads; every other one is a part's section.
pub const KIT_SECTIONS: &[&str] = &[
    "mode",
    "data_dir",
    "shutdown_grace_ms",
    "log",
    "admin",
    "auth",
    "dev_issuer",
    "database",
    "grpc",
    "tls",
    "cache",
    "events",
    "services",
];

/// Exit code for a configuration error (sysexits' EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// The services of the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Accounts,
    Scheduling,
    Pharmacy,
    Records,
    Notify,
}

impl ServiceName {
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Accounts,
        ServiceName::Scheduling,
        ServiceName::Pharmacy,
        ServiceName::Records,
        ServiceName::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Accounts => "accounts",
            ServiceName::Scheduling => "scheduling",
            ServiceName::Pharmacy => "pharmacy",
            ServiceName::Records => "records",
            ServiceName::Notify => "notify",
        }
    }

    pub fn parse(name: &str) -> Option<ServiceName> {
        ServiceName::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dev,
    Production,
}

/// The kit's own keys. Unknown keys inside its sections are refused here; a top-level key
/// that is neither the kit's nor a part's section is refused by [`Settings::check_sections`].
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The layers these settings were read from, for the parts' own sections.
    #[serde(skip, default = "Figment::new")]
    layers: Figment,
    pub mode: Mode,
    pub data_dir: PathBuf,
    pub shutdown_grace_ms: u64,
    pub log: LogSettings,
    pub admin: ListenSettings,
    pub auth: AuthConfig,
    pub dev_issuer: DevIssuerSettings,
    pub database: DatabaseSettings,
    pub grpc: GrpcSettings,
    pub tls: crate::tls::TlsSettings,
    pub cache: CacheSettings,
    pub events: EventSettings,
    pub services: ServicesSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    pub host: IpAddr,
    pub port: u16,
}

impl ListenSettings {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// Where the development issuer listens, and the address it names itself by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevIssuerSettings {
    pub host: IpAddr,
    pub port: u16,
    /// The base URL tokens name (`iss` = `<public_url>/realms/medmesh`) when the issuer is
    /// reached by another name than the address it binds (a container's service name).
    pub public_url: Option<String>,
}

impl DevIssuerSettings {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub allowed_clients: Vec<String>,
    pub leeway_secs: u64,
    pub jwks_min_refresh_secs: u64,
    pub jwks_max_age_secs: u64,
    pub jwks_stale_grace_secs: u64,
    pub client_roles_from: Option<String>,
}

impl AuthConfig {
    /// Validation settings against `issuer` (the configured one, or the dev issuer's).
    pub fn settings_for(&self, issuer: String) -> crate::auth::AuthSettings {
        crate::auth::AuthSettings {
            issuer,
            audiences: self.audiences.clone(),
            allowed_clients: self.allowed_clients.clone(),
            leeway: Duration::from_secs(self.leeway_secs),
            min_refresh_interval: Duration::from_secs(self.jwks_min_refresh_secs),
            max_key_age: Duration::from_secs(self.jwks_max_age_secs),
            stale_key_grace: Duration::from_secs(self.jwks_stale_grace_secs),
            client_roles_from: self.client_roles_from.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
}

/// How much one service's gRPC server takes on at once (see `svc_kit::grpc::GrpcLimits`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    pub max_in_flight: usize,
    pub request_timeout_ms: u64,
    pub max_concurrent_streams: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub backend: CacheBackend,
    pub key_prefix: String,
    pub redis: RedisSettings,
    pub memory: MemoryCacheSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Option<SecretString>,
    pub pool_size: usize,
    pub timeout_ms: u64,
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryCacheSettings {
    pub max_entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventBackend {
    Memory,
    Kafka,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub backend: EventBackend,
    pub topic_prefix: String,
    pub relay_batch_size: u32,
    pub relay_interval_ms: u64,
    pub outbox_retention_hours: u32,
    /// An event whose encoded envelope is larger is dead-lettered without being published.
    pub max_event_bytes: usize,
    /// How long consumers remember the events they handled (`processed_events`).
    pub processed_retention_days: u32,
    /// How long dead letters are kept (`dead_letters`, `outbox_dead_letters`).
    pub dead_letter_retention_days: u32,
    pub consumer_max_attempts: u32,
    pub kafka: KafkaSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: Option<String>,
    pub partitions: i32,
    pub replication_factor: i32,
    pub message_timeout_ms: u64,
    /// Speak TLS to the brokers, checking their certificates and names against `ca_file`.
    #[serde(default)]
    pub tls: bool,
    /// The authority the brokers' certificates chain to (PEM); `[tls] ca_file` when unset,
    /// the system's roots when neither is or when it is set empty.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The certificate and key presented to brokers that ask for one (mutual TLS); none when
    /// unset.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// SASL authentication: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`, with `sasl_username`
    /// and `sasl_password` (or `MEDMESH_EVENTS__KAFKA__SASL_PASSWORD_FILE`).
    #[serde(default)]
    pub sasl_mechanism: Option<SaslMechanism>,
    #[serde(default)]
    pub sasl_username: Option<String>,
    #[serde(default)]
    pub sasl_password: Option<SecretString>,
}

impl KafkaSettings {
    /// Settings for `brokers` in the clear, with the kit's defaults for the rest.
    pub fn plaintext(brokers: impl Into<String>) -> KafkaSettings {
        KafkaSettings {
            brokers: Some(brokers.into()),
            partitions: 3,
            replication_factor: 1,
            message_timeout_ms: 10_000,
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
        }
    }

    /// librdkafka's `security.protocol` for these settings.
    pub fn security_protocol(&self) -> &'static str {
        match (self.tls, self.sasl_mechanism.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    /// `[tls] ca_file` stands in for the authority this section leaves unset; an empty
    /// `ca_file` means the system's roots (a managed Kafka whose certificates a public
    /// authority signs). The client certificate is never inherited: a broker is sent one only
    /// where this section names it.
    fn inherit_tls(&mut self, tls: &crate::tls::TlsSettings) {
        match &self.ca_file {
            None => self.ca_file = tls.ca_file.clone(),
            Some(path) if path.as_os_str().is_empty() => self.ca_file = None,
            Some(_) => {}
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::key(
                "events.kafka.cert_file",
                "and events.kafka.key_file go together",
            ));
        }
        let sasl_credentials = (self.sasl_username.as_deref().is_some_and(|u| !u.is_empty()))
            && self
                .sasl_password
                .as_ref()
                .is_some_and(|p| !p.expose_secret().is_empty());
        if self.sasl_mechanism.is_some() && !sasl_credentials {
            return Err(ConfigError::key(
                "events.kafka.sasl_mechanism",
                "needs events.kafka.sasl_username and events.kafka.sasl_password",
            ));
        }
        if self.sasl_mechanism.is_none()
            && (self.sasl_username.is_some() || self.sasl_password.is_some())
        {
            return Err(ConfigError::key(
                "events.kafka.sasl_mechanism",
                "must name the mechanism the username and password are for (SCRAM-SHA-512, \
                 SCRAM-SHA-256 or PLAIN)",
            ));
        }
        if self.tls {
            for (key, file) in [
                ("events.kafka.ca_file", &self.ca_file),
                ("events.kafka.cert_file", &self.cert_file),
                ("events.kafka.key_file", &self.key_file),
            ] {
                if let Some(file) = file
                    && !file.is_file()
                {
                    return Err(ConfigError::key(
                        key,
                        format!("{} is not a readable file", file.display()),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How a Kafka client proves who it is (SASL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// The password itself crosses the connection: production allows it only over TLS.
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    pub accounts: ServiceSettings,
    pub scheduling: ServiceSettings,
    pub pharmacy: ServiceSettings,
    pub records: ServiceSettings,
    pub notify: ServiceSettings,
}

impl ServicesSettings {
    pub fn get(&self, name: ServiceName) -> &ServiceSettings {
        match name {
            ServiceName::Accounts => &self.accounts,
            ServiceName::Scheduling => &self.scheduling,
            ServiceName::Pharmacy => &self.pharmacy,
            ServiceName::Records => &self.records,
            ServiceName::Notify => &self.notify,
        }
    }

    pub fn get_mut(&mut self, name: ServiceName) -> &mut ServiceSettings {
        match name {
            ServiceName::Accounts => &mut self.accounts,
            ServiceName::Scheduling => &mut self.scheduling,
            ServiceName::Pharmacy => &mut self.pharmacy,
            ServiceName::Records => &mut self.records,
            ServiceName::Notify => &mut self.notify,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub host: IpAddr,
    pub port: u16,
    /// Where other processes reach this service; defaults to `http://host:port`.
    pub endpoint: Option<String>,
    /// The service's own database. In dev mode it defaults to a SQLite file under `data_dir`.
    pub database_url: Option<SecretString>,
    /// The secret of the service's confidential client (`svc-<name>`), for calls it makes on the
    /// platform's behalf. Required in production by the services that make such calls
    /// (svc-accounts: the identity provider's admin API); dev uses the dev issuer's.
    pub client_secret: Option<SecretString>,
}

impl ServiceSettings {
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// A configuration problem, reported as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A problem that is not about one key.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }

    /// A problem with the value at `key` (`section.key`), as one line.
    pub fn key(key: &str, message: impl fmt::Display) -> Self {
        ConfigError(format!("`{key}` {message}"))
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn is_http_url(raw: &str) -> bool {
    raw.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
    })
}

/// A part's own settings (a service's, the gateway's): its section of the configuration, read
/// by the kit's loader from the same layers (its defaults, then the file, then `MEDMESH_*`
/// variables) and validated before any port is bound. The part owns the type, its defaults
/// and its checks; the kit only loads and layers.
pub trait SectionConfig:
    serde::de::DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static
{
    /// The section's key: `[scheduling]` in the file, `MEDMESH_SCHEDULING__...` in the
    /// environment.
    const SECTION: &'static str;
    /// The section's defaults, as TOML under its own `[section]` header(s).
    const DEFAULTS: &'static str;
    /// What types alone cannot check; errors name the key (`section.key`).
    fn validate(&self, settings: &Settings) -> Result<(), ConfigError>;
}

/// The settings of a part that has no section of its own.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct NoSection {}

impl SectionConfig for NoSection {
    const SECTION: &'static str = "";
    const DEFAULTS: &'static str = "";

    fn validate(&self, _settings: &Settings) -> Result<(), ConfigError> {
        Ok(())
    }
}

impl From<crate::tls::TlsError> for ConfigError {
    fn from(err: crate::tls::TlsError) -> Self {
        ConfigError(err.to_string())
    }
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        // figment reports every problem; the first is the one to fix first, and one line is
        // what an operator reads.
        let err = err
            .into_iter()
            .next()
            .expect("a figment error has at least one entry");
        let key = err.path.join(".");
        let origin = match &err.metadata {
            Some(metadata) if matches!(metadata.source, Some(figment::Source::File(_))) => {
                format!(" (from {})", metadata.source.as_ref().expect("matched"))
            }
            Some(metadata) if metadata.name.contains("environment") => {
                // Our env provider splits on `__`; name the variable as the operator set it.
                let var = format!("MEDMESH_{}", err.path.join("__").to_uppercase());
                format!(" (from `{var}` environment variable)")
            }
            _ => String::new(),
        };
        // A secret set with the wrong type must not be echoed into a log.
        let secret = ["secret", "url", "password"]
            .iter()
            .any(|word| key.to_ascii_lowercase().contains(word));
        let message = if secret {
            "has the wrong type or form (its value is not shown)".to_string()
        } else {
            err.kind.to_string()
        };
        if key.is_empty() {
            ConfigError(format!("{message}{origin}"))
        } else {
            ConfigError(format!("`{key}`: {message}{origin}"))
        }
    }
}

/// `MEDMESH_<KEY>_FILE=/run/secrets/x`: the value of `<KEY>` is the file's contents (without
/// a trailing newline), as container secrets are mounted; a secret need not sit in the
/// environment. The file wins over `MEDMESH_<KEY>` itself; a file that cannot be read is a
/// configuration error naming the variable.
const SECRET_FILE_SUFFIX: &str = "_file";

/// Settings whose own name ends in `_file`: they hold a path (`MEDMESH_TLS__CERT_FILE` is the
/// certificate's path, not a file holding a key `tls.cert`).
const PATH_KEYS: [&str; 6] = [
    "tls.cert_file",
    "tls.key_file",
    "tls.ca_file",
    "events.kafka.ca_file",
    "events.kafka.cert_file",
    "events.kafka.key_file",
];

/// Whether the variable `key` (after `MEDMESH_`, in any case, `__` or `.` between sections)
/// names a file holding another key's value rather than a setting of its own.
fn names_a_secret_file(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace("__", ".");
    key.ends_with(SECRET_FILE_SUFFIX) && !PATH_KEYS.contains(&key.as_str())
}

#[derive(Debug, Default)]
struct SecretFiles {
    /// (variable, key path, file)
    files: Vec<(String, String, PathBuf)>,
}

impl SecretFiles {
    fn from_env() -> SecretFiles {
        SecretFiles::from_vars(
            std::env::vars_os()
                .filter_map(|(name, value)| Some((name.into_string().ok()?, PathBuf::from(value)))),
        )
    }

    fn from_vars(vars: impl Iterator<Item = (String, PathBuf)>) -> SecretFiles {
        let mut files: Vec<_> = vars
            .filter_map(|(name, file)| {
                let rest = name.strip_prefix("MEDMESH_")?;
                if !names_a_secret_file(rest) {
                    return None;
                }
                let key = rest.to_ascii_lowercase();
                let key = key.strip_suffix(SECRET_FILE_SUFFIX)?;
                if key.is_empty() || key.starts_with("test_") {
                    return None;
                }
                Some((name, key.split("__").collect::<Vec<_>>().join("."), file))
            })
            .collect();
        files.sort();
        SecretFiles { files }
    }
}

/// Whether the variable `key` (after `MEDMESH_`) holds text to take as written: secrets and
/// URLs (`*password*`, `*secret*`, `*url*`, `*.keys.*`). The environment's own parser would
/// turn `123456` into a number, `true` into a boolean, `[a]` into a list and strip the quotes
/// of `"quoted"`, and so change a password without a word.
fn is_raw_text(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace("__", ".");
    let last = key.rsplit('.').next().unwrap_or_default();
    ["password", "secret", "url"]
        .iter()
        .any(|word| last.contains(word))
        || key.contains(".keys.")
}

/// `MEDMESH_*` variables whose values are text taken as written ([`is_raw_text`]).
#[derive(Default)]
struct RawVars {
    /// (key path, value)
    vars: Vec<(String, String)>,
}

impl std::fmt::Debug for RawVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("RawVars").field("keys", &keys).finish()
    }
}

impl RawVars {
    fn from_env() -> RawVars {
        RawVars::from_vars(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    fn from_vars(vars: impl Iterator<Item = (String, String)>) -> RawVars {
        let mut vars: Vec<_> = vars
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix("MEDMESH_")?;
                let key = rest.to_ascii_lowercase();
                if key.starts_with("test_") || names_a_secret_file(&key) || !is_raw_text(&key) {
                    return None;
                }
                Some((key.split("__").collect::<Vec<_>>().join("."), value))
            })
            .collect();
        vars.sort();
        RawVars { vars }
    }
}

impl figment::Provider for RawVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable (MEDMESH_*, as written)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        figment::Provider::data(&text_values(
            self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

/// Each `(key path, text)` as a string value, whatever it looks like.
fn text_values<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Figment {
    pairs.fold(Figment::new(), |figment, (key, value)| {
        figment.merge(figment::providers::Serialized::default(key, value))
    })
}

impl figment::Provider for SecretFiles {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("secret file (MEDMESH_*_FILE)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut values = Vec::with_capacity(self.files.len());
        for (variable, key, file) in &self.files {
            let contents = std::fs::read_to_string(file).map_err(|error| {
                figment::Error::from(format!(
                    "`{variable}`: cannot read {}: {error}",
                    file.display()
                ))
            })?;
            let value = contents.strip_suffix('\n').unwrap_or(&contents);
            let value = value.strip_suffix('\r').unwrap_or(value);
            values.push((key.as_str(), value.to_string()));
        }
        figment::Provider::data(&text_values(values.iter().map(|(k, v)| (*k, v.as_str()))))
    }
}

impl Settings {
    /// The layered sources: defaults, then `file` (if any), then `MEDMESH_*` variables.
    /// Tests merge further overrides on top before calling [`Settings::from_figment`].
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULTS_TOML));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::prefixed("MEDMESH_")
                    .split("__")
                    // MEDMESH_CONFIG names the file; MEDMESH_TEST_* belong to the test suite;
                    // MEDMESH_<KEY>_FILE names a file holding the key's value (below).
                    .ignore(&["config"])
                    .filter(|key| {
                        let key = key.as_str().to_ascii_lowercase();
                        !key.starts_with("test_")
                            && !names_a_secret_file(&key)
                            && !is_raw_text(&key)
                    }),
            )
            .merge(RawVars::from_env())
            .merge(SecretFiles::from_env())
    }

    /// Like [`Settings::figment`], but a named file that does not exist is an error.
    pub fn figment_checked(file: Option<&Path>) -> Result<Figment, ConfigError> {
        if let Some(file) = file
            && !file.is_file()
        {
            return Err(ConfigError(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        Ok(Settings::figment(file))
    }

    pub fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let mut settings: Settings = figment.extract()?;
        settings.events.kafka.inherit_tls(&settings.tls);
        settings.validate()?;
        settings.layers = figment;
        Ok(settings)
    }

    /// The section `C` owns, layered like the rest (its defaults under the file and the
    /// environment) and validated.
    pub fn section<C: SectionConfig>(&self) -> Result<C, ConfigError> {
        if C::SECTION.is_empty() {
            let section: C = Figment::new().extract()?;
            section.validate(self)?;
            return Ok(section);
        }
        let section: C = Figment::from(Toml::string(C::DEFAULTS))
            .merge(self.layers.clone())
            .focus(C::SECTION)
            .extract()
            .map_err(|mut error| {
                // The focused figment names keys inside the section; the operator set them
                // with the section's name in front.
                error.path.insert(0, C::SECTION.to_string());
                ConfigError::from(error)
            })?;
        section.validate(self)?;
        Ok(section)
    }

    /// Whether `mode` was set (by the file or the environment) rather than left at its
    /// default: `medmesh serve` runs nothing on a default that means "development".
    pub fn mode_is_explicit(&self) -> bool {
        self.layers
            .find_metadata("mode")
            .is_some_and(|metadata| metadata.source.is_some() || metadata.name != DEFAULTS_NAME)
    }

    /// Refuses top-level keys that are neither the kit's nor one of `sections` (a typo such as
    /// `[schedulng]` must not be ignored).
    pub fn check_sections(&self, sections: &[&str]) -> Result<(), ConfigError> {
        let data = figment::Provider::data(&self.layers).map_err(ConfigError::from)?;
        for dict in data.values() {
            for key in dict.keys() {
                if !KIT_SECTIONS.contains(&key.as_str()) && !sections.contains(&key.as_str()) {
                    return Err(ConfigError::key(key, "is not a configuration key"));
                }
            }
        }
        Ok(())
    }

    /// Checks what types alone cannot: required keys per mode and backend, sane bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database.max_connections == 0 {
            return Err(ConfigError::key(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(ConfigError::key(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.grpc.max_in_flight > 1_000_000 {
            return Err(ConfigError::key(
                "grpc.max_in_flight",
                "must be at most 1000000",
            ));
        }
        for (key, zero) in [
            ("grpc.max_in_flight", self.grpc.max_in_flight == 0),
            ("grpc.request_timeout_ms", self.grpc.request_timeout_ms == 0),
            (
                "grpc.max_concurrent_streams",
                self.grpc.max_concurrent_streams == 0,
            ),
        ] {
            if zero {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        if self.cache.backend == CacheBackend::Redis && self.cache.redis.url.is_none() {
            return Err(ConfigError::key(
                "cache.redis.url",
                "is required when cache.backend = \"redis\"",
            ));
        }
        if let Some(url) = &self.cache.redis.url
            && deadpool_redis::redis::parse_redis_url(url.expose_secret()).is_none()
        {
            return Err(ConfigError::key(
                "cache.redis.url",
                "is not a redis:// or rediss:// URL",
            ));
        }
        if let Some(issuer) = self.auth.issuer.as_deref().filter(|i| !i.is_empty())
            && !is_http_url(issuer)
        {
            return Err(ConfigError::key("auth.issuer", "is not an http(s) URL"));
        }
        for service in ServiceName::ALL {
            if let Some(endpoint) = &self.services.get(service).endpoint
                && !is_http_url(endpoint)
            {
                return Err(ConfigError::key(
                    &format!("services.{service}.endpoint"),
                    "is not an http(s) URL",
                ));
            }
        }
        crate::tls::Tls::load(&self.tls)?;
        self.events.kafka.validate()?;
        if self.mode == Mode::Production {
            self.refuse_plaintext()?;
        }
        if self.cache.redis.pool_size == 0 {
            return Err(ConfigError::key(
                "cache.redis.pool_size",
                "must be at least 1",
            ));
        }
        if self.events.backend == EventBackend::Kafka
            && self
                .events
                .kafka
                .brokers
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Err(ConfigError::key(
                "events.kafka.brokers",
                "is required when events.backend = \"kafka\"",
            ));
        }
        if self.events.relay_batch_size == 0 {
            return Err(ConfigError::key(
                "events.relay_batch_size",
                "must be at least 1",
            ));
        }
        if self.events.consumer_max_attempts == 0 {
            return Err(ConfigError::key(
                "events.consumer_max_attempts",
                "must be at least 1",
            ));
        }
        // Smaller would set aside every event: an envelope alone is a few hundred bytes.
        if self.events.max_event_bytes < 1024 {
            return Err(ConfigError::key(
                "events.max_event_bytes",
                "must be at least 1024",
            ));
        }
        for (key, days) in [
            (
                "events.processed_retention_days",
                self.events.processed_retention_days,
            ),
            (
                "events.dead_letter_retention_days",
                self.events.dead_letter_retention_days,
            ),
        ] {
            if days == 0 {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        if self.auth.audiences.is_empty() {
            return Err(ConfigError::key(
                "auth.audiences",
                "must name at least one audience",
            ));
        }
        if self.auth.allowed_clients.is_empty() {
            return Err(ConfigError::key(
                "auth.allowed_clients",
                "must name at least one client",
            ));
        }
        if self.mode == Mode::Production {
            if self.auth.issuer.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::key(
                    "auth.issuer",
                    "is required in production mode (the development issuer is dev only)",
                ));
            }
            if self.cache.backend == CacheBackend::Memory {
                return Err(ConfigError::key(
                    "cache.backend",
                    "must be \"redis\" in production mode (replicas share one cache)",
                ));
            }
            if self.events.backend == EventBackend::Memory {
                return Err(ConfigError::key(
                    "events.backend",
                    "must be \"kafka\" in production mode (the in-process bus is dev only)",
                ));
            }
        }
        Ok(())
    }

    /// Where `service` is reached: its configured `endpoint`, or its listen address on this
    /// machine (an unspecified address is reached at loopback), `https://` when this process
    /// serves TLS (`tls.cert_file`), `http://` otherwise.
    pub fn endpoint(&self, service: ServiceName) -> String {
        let own = self.services.get(service);
        own.endpoint.clone().unwrap_or_else(|| {
            let scheme = if self.tls.cert_file.is_some() {
                "https"
            } else {
                "http"
            };
            let mut addr = own.listen_addr();
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("{scheme}://{addr}")
        })
    }

    /// Production speaks TLS to every other host, except for the parts `tls.allow_plaintext`
    /// names (where the network itself is encrypted).
    fn refuse_plaintext(&self) -> Result<(), ConfigError> {
        use crate::tls::{self, Plaintext};
        let refused = |key: &str, what: &str, part: Plaintext| {
            ConfigError::key(
                key,
                format!(
                    "{what}: production speaks TLS unless tls.allow_plaintext names \"{part}\" \
                     because the network itself is encrypted"
                ),
            )
        };
        let waived = |part| self.tls.allows_plaintext(part);
        if !waived(Plaintext::Issuer)
            && let Some(issuer) = self.auth.issuer.as_deref()
            && tls::is_plaintext_to_another_host(issuer)
        {
            return Err(refused(
                "auth.issuer",
                "is plain http:// to another host (https://, trusting tls.ca_file)",
                Plaintext::Issuer,
            ));
        }
        for service in ServiceName::ALL {
            let settings = self.services.get(service);
            if !waived(Plaintext::Grpc)
                && let Some(endpoint) = settings.endpoint.as_deref()
                && tls::is_plaintext_to_another_host(endpoint)
            {
                return Err(refused(
                    &format!("services.{service}.endpoint"),
                    "is plain http:// to another host (https://, trusting tls.ca_file)",
                    Plaintext::Grpc,
                ));
            }
            if !waived(Plaintext::Database)
                && let Some(url) = &settings.database_url
                && tls::is_database_plaintext(url.expose_secret())
            {
                return Err(refused(
                    &format!("services.{service}.database_url"),
                    "reaches another host without sslmode=verify-full",
                    Plaintext::Database,
                ));
            }
        }
        if !waived(Plaintext::Cache)
            && let Some(url) = &self.cache.redis.url
            && tls::is_redis_plaintext(url.expose_secret())
        {
            return Err(refused(
                "cache.redis.url",
                "reaches another host in the clear (rediss://, trusting tls.ca_file)",
                Plaintext::Cache,
            ));
        }
        let kafka = &self.events.kafka;
        if self.events.backend == EventBackend::Kafka
            && !kafka.tls
            && !waived(Plaintext::Kafka)
            && tls::brokers_reach_another_host(kafka.brokers.as_deref().unwrap_or_default())
        {
            let what = if kafka.sasl_mechanism == Some(SaslMechanism::Plain) {
                "reaches another host in the clear, with a SASL PLAIN password (events.kafka.tls)"
            } else {
                "reaches another host in the clear (events.kafka.tls = true)"
            };
            return Err(refused("events.kafka.brokers", what, Plaintext::Kafka));
        }
        Ok(())
    }

    /// Like [`Settings::validate`], for the one service this process is about to run.
    pub fn validate_service(&self, service: ServiceName) -> Result<(), ConfigError> {
        let settings = self.services.get(service);
        if self.mode == Mode::Production
            && settings
                .database_url
                .as_ref()
                .is_none_or(|url| url.expose_secret().is_empty())
        {
            return Err(ConfigError::key(
                &format!("services.{service}.database_url"),
                "is required in production mode",
            ));
        }
        Ok(())
    }

    /// The secret of `service`'s confidential client (`services.<name>.client_secret`).
    pub fn service_client_secret(&self, service: ServiceName) -> Result<SecretString, ConfigError> {
        self.client_secret(
            self.services.get(service).client_secret.as_ref(),
            &format!("services.{service}.client_secret"),
        )
    }

    /// A confidential client's secret: as configured, or in dev mode the dev issuer's.
    pub fn client_secret(
        &self,
        configured: Option<&SecretString>,
        key: &str,
    ) -> Result<SecretString, ConfigError> {
        match configured {
            Some(secret) if !secret.expose_secret().is_empty() => Ok(secret.clone()),
            _ if self.mode == Mode::Dev => Ok(SecretString::from(crate::auth::DEV_CLIENT_SECRET)),
            _ => Err(ConfigError::key(key, "is required in production mode")),
        }
    }

    /// The database URL of `service`; in dev mode, a SQLite file under `data_dir`.
    pub fn database_url(&self, service: ServiceName) -> Result<SecretString, ConfigError> {
        self.validate_service(service)?;
        match &self.services.get(service).database_url {
            Some(url) if !url.expose_secret().is_empty() => Ok(url.clone()),
            _ => {
                let path = self.data_dir.join(format!("{service}.sqlite3"));
                Ok(SecretString::from(format!(
                    "sqlite://{}?mode=rwc",
                    path.display()
                )))
            }
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_left_at_its_default_is_told_from_one_set() {
        let default = Settings::from_figment(Figment::from(Toml::string(DEFAULTS_TOML))).unwrap();
        assert!(!default.mode_is_explicit());
        let set = Figment::from(Toml::string(DEFAULTS_TOML)).merge(("mode", "dev"));
        assert!(Settings::from_figment(set).unwrap().mode_is_explicit());
    }

    #[test]
    fn defaults_parse_and_validate() {
        let settings = Settings::from_figment(Figment::from(Toml::string(DEFAULTS_TOML))).unwrap();
        assert_eq!(settings.mode, Mode::Dev);
        assert_eq!(settings.services.scheduling.port, 50052);
        let url = settings.database_url(ServiceName::Pharmacy).unwrap();
        assert!(url.expose_secret().starts_with("sqlite://"));
        assert!(url.expose_secret().contains("pharmacy.sqlite3"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(("admin.port", "abc"));
        let err = Settings::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("`admin.port`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(("cache.bakend", "redis"));
        let err = Settings::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("bakend"), "{err}");
    }

    #[test]
    fn production_requires_database_url_per_service() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(("mode", "production"))
            .merge(("auth.issuer", "https://sso.example.org/realms/medmesh"))
            .merge(("cache.backend", "redis"))
            .merge(("cache.redis.url", "redis://127.0.0.1:6379"))
            .merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", "127.0.0.1:9092"));
        let settings = Settings::from_figment(figment).unwrap();
        let err = settings
            .validate_service(ServiceName::Records)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`services.records.database_url`"), "{err}");
    }

    #[test]
    fn a_setting_that_is_a_path_is_not_taken_for_a_secret_file() {
        let files = SecretFiles::from_vars(
            [
                ("MEDMESH_TLS__CERT_FILE", "/run/secrets/tls/tls.crt"),
                ("MEDMESH_TLS__CA_FILE", "/run/secrets/tls/ca.crt"),
                (
                    "MEDMESH_EVENTS__KAFKA__KEY_FILE",
                    "/run/secrets/kafka/tls.key",
                ),
                (
                    "MEDMESH_SERVICES__SCHEDULING__CLIENT_SECRET_FILE",
                    "/run/secrets/client_secret",
                ),
                (
                    "MEDMESH_EVENTS__KAFKA__SASL_PASSWORD_FILE",
                    "/run/secrets/kafka_password",
                ),
            ]
            .into_iter()
            .map(|(name, file)| (name.to_string(), PathBuf::from(file))),
        );
        let keys: Vec<&str> = files.files.iter().map(|(_, key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "events.kafka.sasl_password",
                "services.scheduling.client_secret"
            ]
        );
        assert!(!names_a_secret_file("TLS__CERT_FILE"));
        assert!(!names_a_secret_file("events.kafka.ca_file"));
        assert!(names_a_secret_file("CACHE__REDIS__URL_FILE"));
        assert!(!names_a_secret_file("CACHE__REDIS__URL"));
    }

    #[test]
    fn secrets_from_the_environment_are_taken_as_written() {
        let vars = [
            ("MEDMESH_EVENTS__KAFKA__SASL_PASSWORD", "123456"),
            (
                "MEDMESH_SERVICES__SCHEDULING__CLIENT_SECRET",
                "\"quoted\\n\"",
            ),
            ("MEDMESH_CACHE__REDIS__URL", " [redis]://x "),
            ("MEDMESH_EVENTS__KAFKA__SASL_USERNAME", "svc-scheduling"),
            ("MEDMESH_EVENTS__KAFKA__SASL_MECHANISM", "SCRAM-SHA-512"),
            ("MEDMESH_TEST_POSTGRES_URL", "postgres://ignored"),
        ];
        let raw = RawVars::from_vars(
            vars.iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        let keys: Vec<&str> = raw.vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cache.redis.url",
                "events.kafka.sasl_password",
                "services.scheduling.client_secret"
            ]
        );
        let settings: Settings = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(("events.kafka.sasl_mechanism", "SCRAM-SHA-512"))
            .merge(("events.kafka.sasl_username", "svc-scheduling"))
            .merge(raw)
            .extract()
            .unwrap();
        let password = settings.events.kafka.sasl_password.unwrap();
        assert_eq!(password.expose_secret(), "123456");
        let secret = settings.services.scheduling.client_secret.unwrap();
        assert_eq!(secret.expose_secret(), "\"quoted\\n\"");
        assert!(is_raw_text("RECORDS__KEYS__K1"));
        assert!(!is_raw_text("EVENTS__KAFKA__SASL_USERNAME"));
    }

    #[test]
    fn a_secret_with_the_wrong_type_is_not_echoed() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(("services.accounts.client_secret", 123_456_789));
        let err = Settings::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("`services.accounts.client_secret`"), "{err}");
        assert!(!err.contains("123456789"), "{err}");
    }

    #[test]
    fn urls_are_checked_before_anything_starts() {
        let check = |key: &str, value: &str| {
            let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge((key, value));
            Settings::from_figment(figment).map_err(|e| e.to_string())
        };
        for (key, bad) in [
            ("services.accounts.endpoint", "http//accounts"),
            ("services.scheduling.endpoint", "accounts:50051"),
            ("auth.issuer", "sso.example.org/realms/medmesh"),
            ("cache.redis.url", "http://redis:6379"),
        ] {
            let err = check(key, bad).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        }
        assert!(check("services.accounts.endpoint", "http://accounts:50051").is_ok());
        assert!(check("auth.issuer", "https://sso.example.org/realms/medmesh").is_ok());
    }

    #[test]
    fn production_requires_an_issuer() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(("mode", "production"));
        let err = Settings::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("`auth.issuer`"), "{err}");
    }

    #[test]
    fn event_size_and_retention_have_floors() {
        let defaults = Settings::from_figment(Figment::from(Toml::string(DEFAULTS_TOML))).unwrap();
        assert_eq!(defaults.events.max_event_bytes, 1_048_576);
        assert_eq!(defaults.events.processed_retention_days, 30);
        assert_eq!(defaults.events.dead_letter_retention_days, 90);
        for (key, value) in [
            ("events.max_event_bytes", 100),
            ("events.processed_retention_days", 0),
            ("events.dead_letter_retention_days", 0),
        ] {
            let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge((key, value));
            let err = Settings::from_figment(figment).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        }
    }

    #[test]
    fn kafka_backend_requires_brokers() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(("events.backend", "kafka"));
        let err = Settings::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("`events.kafka.brokers`"), "{err}");
    }
}
