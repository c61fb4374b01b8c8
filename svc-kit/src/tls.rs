//! TLS for what the platform speaks: the services' gRPC servers and the channels between them
//! (the gateway's, and each service's to svc-accounts), with optional mutual TLS; and HTTPS to
//! the identity provider and the object store. One stack: rustls with ring, the same rustls
//! that tonic, reqwest and lettre (SMTP) are built with.
//!
//! `[tls]` names PEM files. With `cert_file` and `key_file` every gRPC server of the process
//! speaks TLS only; `ca_file` is the authority that signs the platform's certificates: gRPC
//! clients trust it alone for `https://` endpoints (the web's roots when it is not set), HTTPS
//! clients trust it beside the web's roots, and with `client_auth = "required"` servers accept
//! only clients presenting a certificate it signed (which the clients of this process then
//! present: the same `cert_file`).

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
};

use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// Whether a server asks its clients for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Any client may connect (its token still says who it is).
    #[default]
    None,
    /// Only a client with a certificate signed by `ca_file` completes the handshake.
    Required,
}

/// `[tls]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// This process's certificate chain (PEM), servers' and (for mutual TLS) clients'.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The authority that signs the platform's certificates (PEM).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// What production may reach in the clear on another host, each named on its own, where
    /// the network itself is encrypted (a Swarm overlay with `encrypted: "true"`, a service
    /// mesh's mutual TLS, a CNI with WireGuard): everything else must speak TLS.
    #[serde(default, deserialize_with = "plaintext_parts")]
    pub allow_plaintext: Vec<Plaintext>,
}

impl TlsSettings {
    /// Whether production may reach `part` without TLS.
    pub fn allows_plaintext(&self, part: Plaintext) -> bool {
        self.allow_plaintext.contains(&part)
    }
}

/// A part of the platform's traffic that `tls.allow_plaintext` can let go in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plaintext {
    /// `http://` gRPC endpoints of the services (`services.*.endpoint`).
    Grpc,
    /// An `http://` identity provider (`auth.issuer`): its keys decide who is who.
    Issuer,
    /// PostgreSQL without `sslmode=verify-full` (`services.*.database_url`).
    Database,
    /// `redis://` (`cache.redis.url`).
    Cache,
    /// Kafka without `events.kafka.tls` (and SASL PLAIN passwords with it).
    Kafka,
    /// An `http://` object store (`scheduling.documents.s3.endpoint`).
    ObjectStore,
}

impl Plaintext {
    pub const ALL: [Plaintext; 6] = [
        Plaintext::Grpc,
        Plaintext::Issuer,
        Plaintext::Database,
        Plaintext::Cache,
        Plaintext::Kafka,
        Plaintext::ObjectStore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Plaintext::Grpc => "grpc",
            Plaintext::Issuer => "issuer",
            Plaintext::Database => "database",
            Plaintext::Cache => "cache",
            Plaintext::Kafka => "kafka",
            Plaintext::ObjectStore => "object_store",
        }
    }
}

impl std::fmt::Display for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `allow_plaintext` names its parts; the `true` of earlier versions, which waived every check
/// at once, is refused with what to write instead (an empty list and `false` waive nothing).
fn plaintext_parts<'de, D>(deserializer: D) -> Result<Vec<Plaintext>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Flag(bool),
        Parts(Vec<String>),
        /// `MEDMESH_TLS__ALLOW_PLAINTEXT=kafka` (one part, as the environment gives it).
        One(String),
    }
    let names = match Form::deserialize(deserializer)? {
        Form::Flag(false) => Vec::new(),
        Form::Flag(true) => {
            return Err(serde::de::Error::custom(
                "is a list of what may go in the clear where the network is encrypted, e.g. \
                 [\"kafka\"] (any of grpc, issuer, database, cache, kafka, object_store); \
                 `true` no longer waives everything at once",
            ));
        }
        Form::Parts(names) => names,
        // `MEDMESH_TLS__ALLOW_PLAINTEXT=` (empty) waives nothing.
        Form::One(name) if name.trim().is_empty() => Vec::new(),
        Form::One(name) => vec![name],
    };
    names
        .iter()
        .map(|name| {
            Plaintext::ALL
                .into_iter()
                .find(|part| part.as_str() == name.trim())
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "names {name:?}, which is none of grpc, issuer, database, cache, kafka, \
                         object_store"
                    ))
                })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("`tls.{key}` {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("`tls.{key}` {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        key,
        message: message.into(),
    }
}

fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(invalid(
            key,
            format!("{} holds no PEM block", path.display()),
        ));
    }
    Ok(bytes)
}

/// The loaded certificates. Cloning is cheap enough (PEM bytes); `Debug` shows no key.
#[derive(Clone, Default)]
pub struct Tls {
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    ca: Option<Vec<u8>>,
    client_auth: ClientAuth,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("serves_tls", &self.serves_tls())
            .field("has_ca", &self.ca.is_some())
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl Tls {
    /// Plain TCP everywhere, the web's roots for HTTPS.
    pub fn none() -> Tls {
        Tls::default()
    }

    /// Reads and checks the files `settings` names: both of `cert_file` and `key_file` or
    /// neither; `client_auth = "required"` needs `ca_file` and this process's certificate; the
    /// server configuration is built once, so a key that does not parse is refused here.
    pub fn load(settings: &TlsSettings) -> Result<Tls, TlsError> {
        let (cert, key) = match (&settings.cert_file, &settings.key_file) {
            (Some(cert), Some(key)) => (
                Some(read_pem("cert_file", cert)?),
                Some(read_pem("key_file", key)?),
            ),
            (None, None) => (None, None),
            (Some(_), None) => return Err(invalid("key_file", "is required with cert_file")),
            (None, Some(_)) => return Err(invalid("cert_file", "is required with key_file")),
        };
        let ca = settings
            .ca_file
            .as_deref()
            .map(|path| read_pem("ca_file", path))
            .transpose()?;
        if settings.client_auth == ClientAuth::Required && (ca.is_none() || cert.is_none()) {
            return Err(invalid(
                "client_auth",
                "= \"required\" needs ca_file, cert_file and key_file",
            ));
        }
        let tls = Tls {
            cert,
            key,
            ca,
            client_auth: settings.client_auth,
        };
        if let Some(config) = tls.server_config() {
            tonic::transport::Server::builder()
                .tls_config(config)
                .map_err(|e| invalid("cert_file", format!("cannot serve with it: {e}")))?;
        }
        if let Some(ca) = &tls.ca {
            reqwest::Certificate::from_pem(ca)
                .map_err(|e| invalid("ca_file", format!("is not a certificate: {e}")))?;
        }
        Ok(tls)
    }

    /// Whether this process's certificate names the workload whose role is `role`
    /// (`svc-scheduling`, or the host `scheduling`): with `client_auth = "required"` its calls
    /// with its own token are refused otherwise (`auth/peer.rs`). Without mutual TLS, or
    /// without a certificate, nothing is bound: true.
    pub fn names_workload(&self, role: &str) -> bool {
        if self.client_auth != ClientAuth::Required {
            return true;
        }
        let Some(cert) = &self.cert else {
            return true;
        };
        use rustls_pki_types::{CertificateDer, pem::PemObject as _};
        CertificateDer::pem_slice_iter(cert)
            .next()
            .and_then(Result::ok)
            .is_some_and(|leaf| crate::auth::peer::certificate_names_workload(&leaf, role))
    }

    /// Whether this process's gRPC servers speak TLS.
    pub fn serves_tls(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    fn identity(&self) -> Option<Identity> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(Identity::from_pem(cert, key)),
            _ => None,
        }
    }

    /// The gRPC servers' TLS: this process's certificate, and with `client_auth = "required"`
    /// the authority client certificates must chain to.
    pub fn server_config(&self) -> Option<ServerTlsConfig> {
        let mut config = ServerTlsConfig::new().identity(self.identity()?);
        if self.client_auth == ClientAuth::Required
            && let Some(ca) = &self.ca
        {
            config = config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(false);
        }
        Some(config)
    }

    /// A gRPC endpoint for `url`: an `https://` one speaks TLS, trusting `ca_file` (the web's
    /// roots without one) and presenting this process's certificate when it has one (for
    /// servers that require it); an `http://` one is plain.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, String> {
        let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
        if !url.starts_with("https://") {
            return Ok(endpoint);
        }
        let mut config = match &self.ca {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        if let Some(identity) = self.identity() {
            config = config.identity(identity);
        }
        endpoint.tls_config(config).map_err(|e| e.to_string())
    }

    /// An HTTPS client builder trusting `ca_file` beside the web's roots.
    pub fn http_client(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().use_rustls_tls();
        match self
            .ca
            .as_deref()
            .and_then(|ca| reqwest::Certificate::from_pem(ca).ok())
        {
            Some(ca) => builder.add_root_certificate(ca),
            None => builder,
        }
    }
}

/// The TLS of this process's HTTPS clients (identity provider, token endpoint, object store),
/// installed once at start-up from `[tls]`: they are built deep inside the parts, far from the
/// settings, and one process has one `[tls]`.
static PROCESS: RwLock<Option<Tls>> = RwLock::new(None);

/// Makes `tls` the process's, for [`http_client`].
pub fn install(tls: &Tls) {
    if let Ok(mut process) = PROCESS.write() {
        *process = Some(tls.clone());
    }
}

/// The process's authority (`ca_file`, PEM), for clients built from a URL (Redis).
pub fn process_ca() -> Option<Vec<u8>> {
    PROCESS.read().ok().and_then(|tls| tls.as_ref()?.ca.clone())
}

/// An HTTPS client builder with the process's TLS (the web's roots before [`install`]).
pub fn http_client() -> reqwest::ClientBuilder {
    PROCESS
        .read()
        .ok()
        .and_then(|tls| tls.clone())
        .unwrap_or_default()
        .http_client()
}

/// Whether `url` is plain `http://` to another host (loopback is this machine's own).
pub fn is_plaintext_to_another_host(url: &str) -> bool {
    let url = url.to_ascii_lowercase();
    url.strip_prefix("http://")
        .is_some_and(|rest| !is_loopback(authority_host(rest)))
}

/// Whether a PostgreSQL `url` reaches another host without checking its certificate
/// (`sslmode=verify-full` or `verify-ca`); SQLite and loopback are this machine's own.
pub fn is_database_plaintext(url: &str) -> bool {
    let url = url.to_ascii_lowercase();
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return false;
    };
    let query: Vec<(&str, &str)> = rest
        .split_once('?')
        .map(|(_, q)| q.split('&').filter_map(|p| p.split_once('=')).collect())
        .unwrap_or_default();
    // The driver takes the last of a repeated parameter; `host=` sends it elsewhere.
    let mode = query
        .iter()
        .rev()
        .find(|(k, _)| matches!(*k, "sslmode" | "ssl-mode"))
        .map(|(_, v)| *v);
    let verified = matches!(mode, Some("verify-full" | "verify-ca"));
    let elsewhere = query.iter().any(|(k, v)| {
        *k == "host" && !is_loopback(v) && !v.starts_with("%2f") && !v.starts_with('/')
    });
    !verified && (elsewhere || !is_loopback(authority_host(rest)))
}

/// Whether a Redis `url` reaches another host in the clear: `redis://` or `valkey://` (any
/// case) to a host that is not loopback; `rediss://`, `valkeys://` and Unix sockets are not.
pub fn is_redis_plaintext(url: &str) -> bool {
    let url = url.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    matches!(scheme, "redis" | "valkey") && !is_loopback(authority_host(rest))
}

/// Whether Kafka's `brokers` (`host:port`, comma-separated, each perhaps written
/// `PROTOCOL://host:port` as librdkafka allows) name a host that is not loopback.
pub fn brokers_reach_another_host(brokers: &str) -> bool {
    brokers
        .split(',')
        .map(|broker| {
            let broker = broker.trim().to_ascii_lowercase();
            match broker.split_once("://") {
                Some((_, rest)) => rest.to_string(),
                None => broker,
            }
        })
        .filter(|h| !h.is_empty())
        .any(|h| !is_loopback(authority_host(&h)))
}

/// The host of `authority[/path...]`, without user information or port.
fn authority_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_to_another_host() {
        assert!(is_plaintext_to_another_host("http://svc-accounts:50051"));
        assert!(is_plaintext_to_another_host("http://10.0.0.5/realms/x"));
        assert!(!is_plaintext_to_another_host("http://127.0.0.1:50051"));
        assert!(!is_plaintext_to_another_host(
            "http://localhost:8180/realms/x"
        ));
        assert!(!is_plaintext_to_another_host("http://[::1]:50051"));
        assert!(!is_plaintext_to_another_host("https://svc-accounts:50051"));
        assert!(is_database_plaintext(
            "postgres://medmesh:pw@db:5432/scheduling"
        ));
        assert!(!is_database_plaintext(
            "postgres://medmesh:pw@db:5432/scheduling?sslmode=verify-full&sslrootcert=/ca.pem"
        ));
        assert!(!is_database_plaintext(
            "postgres://postgres@127.0.0.1:5432/x"
        ));
        assert!(!is_database_plaintext(
            "sqlite:///var/lib/medmesh/x.sqlite3"
        ));
        assert!(is_database_plaintext(
            "postgres://u@db/x?sslmode=verify-full&sslmode=prefer"
        ));
        assert!(is_database_plaintext(
            "postgres://u@127.0.0.1/x?host=db.remote"
        ));
        assert!(!is_database_plaintext(
            "postgres://u@db/x?ssl-mode=verify-ca"
        ));
        assert!(is_plaintext_to_another_host("HTTP://accounts:50051"));
        assert!(is_redis_plaintext("redis://:pw@redis:6379"));
        assert!(is_redis_plaintext("REDIS://redis:6379"), "any case");
        assert!(is_redis_plaintext("valkey://redis:6379"));
        assert!(!is_redis_plaintext("redis://127.0.0.1:6379"));
        assert!(!is_redis_plaintext("rediss://redis:6380"));
        assert!(!is_redis_plaintext("Valkeys://redis:6380"));
        assert!(!is_redis_plaintext("unix:///run/redis.sock"));
        assert!(brokers_reach_another_host("127.0.0.1:9092,kafka-2:9092"));
        assert!(brokers_reach_another_host("PLAINTEXT://kafka-1:9092"));
        assert!(brokers_reach_another_host(" sasl_plaintext://Kafka-1:9092"));
        assert!(brokers_reach_another_host("[2001:db8::1]:9092"));
        assert!(!brokers_reach_another_host(
            "127.0.0.1:9092, localhost:9093"
        ));
        assert!(!brokers_reach_another_host("PLAINTEXT://127.0.0.1:9092"));
    }

    #[test]
    fn half_a_pair_or_mutual_tls_without_an_authority_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let only_cert = TlsSettings {
            cert_file: Some(cert.clone()),
            ..Default::default()
        };
        assert!(
            Tls::load(&only_cert)
                .unwrap_err()
                .to_string()
                .contains("key_file")
        );
        let mutual = TlsSettings {
            client_auth: ClientAuth::Required,
            ..Default::default()
        };
        assert!(
            Tls::load(&mutual)
                .unwrap_err()
                .to_string()
                .contains("client_auth")
        );
        let missing = TlsSettings {
            ca_file: Some(dir.path().join("nope.pem")),
            ..Default::default()
        };
        assert!(
            Tls::load(&missing)
                .unwrap_err()
                .to_string()
                .contains("ca_file")
        );
        let not_pem = dir.path().join("x.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let garbage = TlsSettings {
            ca_file: Some(not_pem),
            ..Default::default()
        };
        assert!(Tls::load(&garbage).unwrap_err().to_string().contains("PEM"));
        assert!(!Tls::load(&TlsSettings::default()).unwrap().serves_tls());
    }
}
