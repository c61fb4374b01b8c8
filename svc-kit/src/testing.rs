//! Test helpers: a fresh PostgreSQL database per test, Redis key prefixes, free ports and a
//! real Kafka-protocol broker (tansu) that a test can stop and start again, a real SMTP server
//! (aiosmtpd) and a recording webhook standing in for SMS and push providers.
//!
//! Locations come from the environment the test command exports, with this machine's
//! defaults: MEDMESH_TEST_POSTGRES_URL, MEDMESH_TEST_REDIS_URL, MEDMESH_TEST_TANSU_BIN,
//! MEDMESH_TEST_SMTP_PYTHON.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;

/// The server-level URL (no database) of the test PostgreSQL.
pub fn postgres_base_url() -> String {
    std::env::var("MEDMESH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Creates an empty database with a unique name and returns its URL.
pub async fn fresh_postgres_database() -> SecretString {
    let base = postgres_base_url();
    let name = format!("medmesh_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{base}/postgres"))
        .await
        .expect("PostgreSQL must be reachable at MEDMESH_TEST_POSTGRES_URL (run scripts/test.sh)");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    SecretString::from(format!("{base}/{name}"))
}

/// The authority that signed the test PostgreSQL's certificate (scripts/test.sh makes it and
/// turns `ssl` on with it).
pub fn postgres_ca() -> std::path::PathBuf {
    std::env::var("MEDMESH_TEST_POSTGRES_CA")
        .map(std::path::PathBuf::from)
        .ok()
        .filter(|path| path.is_file())
        .expect("MEDMESH_TEST_POSTGRES_CA must name the test PostgreSQL's authority (scripts/test.sh sets it up)")
}

/// `url` (a test PostgreSQL database's) over TLS, the server's certificate checked against
/// [`postgres_ca`] and the host it names (`sslmode=verify-full`).
pub fn over_tls(url: &SecretString) -> SecretString {
    use secrecy::ExposeSecret;
    SecretString::from(format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        url.expose_secret(),
        postgres_ca().display()
    ))
}

/// Every column of every table of `db` (PostgreSQL's current schema, or SQLite's), as
/// (table, column, type).
pub async fn columns(db: &sea_orm::DatabaseConnection) -> Vec<(String, String, String)> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name AS t, column_name AS c, data_type AS k
             FROM information_schema.columns WHERE table_schema = current_schema()"
        }
        _ => {
            "SELECT m.name AS t, p.name AS c, p.type AS k
             FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
        }
    };
    db.query_all_raw(crate::db::stmt(db.get_database_backend(), sql, []))
        .await
        .expect("list the columns")
        .iter()
        .map(|row| {
            let get = |c: &str| row.try_get::<String>("", c).expect("a column's name");
            (get("t"), get("c"), get("k"))
        })
        .collect()
}

/// Every `table.column` of `db` with a row holding `needle` (as UTF-8 text or bytes, so
/// encoded envelopes and stored answers count): what an erasure test must find nowhere.
pub async fn columns_holding(db: &sea_orm::DatabaseConnection, needle: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let mut holding = Vec::new();
    for (table, column, kind) in columns(db).await {
        let test = match backend {
            sea_orm::DbBackend::Postgres if kind == "bytea" => {
                format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
            }
            sea_orm::DbBackend::Postgres => format!("strpos(CAST(\"{column}\" AS TEXT), $1) > 0"),
            _ => format!("instr(CAST(\"{column}\" AS BLOB), CAST($1 AS BLOB)) > 0"),
        };
        let sql = format!("SELECT COUNT(*) FROM \"{table}\" WHERE {test}");
        let row = db
            .query_one_raw(crate::db::stmt(backend, &sql, [needle.into()]))
            .await
            .expect("scan a column")
            .expect("a count returns a row");
        if row.try_get_by_index::<i64>(0).expect("a count") > 0 {
            holding.push(format!("{table}.{column}"));
        }
    }
    holding
}

/// The first column of the first row of `sql`, as a count (`SELECT COUNT(*) ...`).
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(crate::db::stmt(db.get_database_backend(), sql, []))
        .await
        .expect("count query")
        .expect("a count returns a row");
    row.try_get_by_index::<i64>(0)
        .expect("a count is an integer")
}

/// Runs one statement (test set-up: breaking or mending a table on purpose).
pub async fn execute(db: &sea_orm::DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.expect("test statement");
}

/// A SQLite database file inside `dir`.
pub fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> SecretString {
    SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join(format!("{name}.sqlite3")).display()
    ))
}

pub fn redis_url() -> String {
    std::env::var("MEDMESH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("medmesh-test:{}:", uuid::Uuid::new_v4().simple())
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MEDMESH_TEST_TANSU_BIN") {
        return PathBuf::from(path);
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let installed = cargo_home.join("bin").join("tansu");
    if installed.is_file() {
        installed
    } else {
        PathBuf::from("tansu")
    }
}

/// A tansu broker (in-memory storage) reached through a loopback proxy that can simulate an
/// outage: [`Broker::disconnect`] cuts every connection and refuses new ones, as a stopped
/// broker would; [`Broker::reconnect`] lets clients back in. The broker process keeps its
/// topics and offsets meanwhile, like a restarted Kafka broker does (tansu's memory storage
/// would lose them on a real restart, which no production Kafka does). Dropping it kills it.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    proxy: OutageProxy,
    /// The directory of an authenticating broker's storage (its users).
    _storage: Option<tempfile::TempDir>,
}

/// How a test broker is reached.
#[derive(Debug, Default)]
pub struct BrokerOptions<'a> {
    /// Clients speak TLS to it, with a certificate this authority issued for 127.0.0.1 and
    /// localhost (tansu 0.6 serves no TLS of its own: the proxy in front of it terminates TLS,
    /// as a load balancer in front of a broker does).
    pub tls: Option<&'a TestCa>,
    /// With `tls`: only clients presenting a certificate the authority signed connect.
    pub client_auth: bool,
    /// Every client must authenticate with SASL SCRAM before anything else (tansu's
    /// `--authentication`), as one of these users (name, password) with SCRAM-SHA-512
    /// credentials. tansu takes credentials only from an authenticated client, so they are
    /// stored by a broker without authentication first, in storage the two share: an SQLite
    /// file (tansu's `libsql` feature; its in-memory storage keeps no users).
    pub scram_users: &'a [(&'a str, &'a str)],
}

impl Broker {
    /// Starts the broker; must be called inside a tokio runtime.
    pub fn start() -> Broker {
        Broker::start_with(BrokerOptions::default())
    }

    /// Starts the broker reached as `options` say; must be called inside a tokio runtime.
    pub fn start_with(options: BrokerOptions<'_>) -> Broker {
        let broker_port = free_port();
        let acceptor = options.tls.map(|ca| tls_acceptor(ca, options.client_auth));
        let proxy = OutageProxy::start(broker_port, acceptor);
        let listen = format!("tcp://127.0.0.1:{broker_port}");
        // Clients learn the broker's address from metadata: advertise the proxy's.
        let advertised = format!("tcp://127.0.0.1:{}", proxy.port);
        let storage = (!options.scram_users.is_empty()).then(|| tempfile::tempdir().unwrap());
        let mut command = tansu(storage.as_ref().map(|d| d.path()), &listen, &advertised);
        if let Some(storage) = &storage {
            for (user, password) in options.scram_users {
                add_scram_user(storage.path(), user, password);
            }
            command.arg("--authentication");
        }
        let child = command.spawn().expect(
            "tansu must be installed (scripts/test.sh installs it) or MEDMESH_TEST_TANSU_BIN set",
        );
        let addr: SocketAddr = format!("127.0.0.1:{broker_port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(20)),
            "tansu did not start listening on {addr}"
        );
        Broker {
            child,
            proxy,
            _storage: storage,
        }
    }

    /// `bootstrap.servers` for clients.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.proxy.port)
    }

    /// The broker becomes unreachable: open connections are cut, new ones refused.
    pub fn disconnect(&mut self) {
        self.proxy.cut();
    }

    /// The broker is reachable again, on the same address.
    pub fn reconnect(&mut self) {
        self.proxy.restore();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tansu broker` listening on `listen`, advertising `advertised`, on an SQLite file in
/// `storage` (which tansu keeps users in), or in memory.
fn tansu(storage: Option<&Path>, listen: &str, advertised: &str) -> Command {
    let mut command = Command::new(tansu_binary());
    command
        .args([
            "broker",
            "--listener-url",
            listen,
            "--advertised-listener-url",
            advertised,
        ])
        .env_remove("STORAGE_ENGINE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match storage {
        Some(dir) => {
            // tansu opens `sqlite://<file>` relative to its working directory.
            command
                .args(["--storage-engine", "sqlite://tansu.db"])
                .current_dir(dir);
        }
        None => {
            command.args(["--storage-engine", "memory://tansu/"]);
        }
    }
    command
}

/// Stores SCRAM-SHA-512 credentials in the broker storage `dir` through a broker without
/// authentication, with tansu's own `tansu user create`.
fn add_scram_user(dir: &Path, user: &str, password: &str) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut broker = tansu(Some(dir), &url, &url)
        .spawn()
        .expect("tansu must be installed (scripts/test.sh installs it)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_for_port(addr, Duration::from_secs(20)),
        "tansu did not start listening on {addr}"
    );
    let created = Command::new(tansu_binary())
        .args(["user", "create", "--broker", &url, user, password])
        .args(["--mechanism", "scram512"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = broker.kill();
    let _ = broker.wait();
    assert!(
        created.is_ok_and(|status| status.success()),
        "tansu user create {user}"
    );
}

/// A rustls server with a certificate `ca` issues for this machine, asking clients for one
/// `ca` signed when `client_auth`.
fn tls_acceptor(ca: &TestCa, client_auth: bool) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::{
        self, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
        server::WebPkiClientVerifier,
    };
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = RootCertStore::empty();
        for root in CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
            roots.add(root.unwrap()).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream` until cut, terminating TLS first when it
/// has an acceptor.
struct OutageProxy {
    port: u16,
    upstream: u16,
    tls: Option<tokio_rustls::TlsAcceptor>,
    accept: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl std::fmt::Debug for OutageProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutageProxy")
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl OutageProxy {
    fn start(upstream: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> OutageProxy {
        let mut proxy = OutageProxy {
            port: 0,
            upstream,
            tls,
            accept: None,
            connections: Default::default(),
        };
        proxy.listen();
        proxy
    }

    fn listen(&mut self) {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind proxy port");
        self.port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let (upstream, connections) = (self.upstream, self.connections.clone());
        let tls = self.tls.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    match tls {
                        Some(acceptor) => {
                            // A client the handshake refuses never reaches the broker.
                            if let Ok(mut client) = acceptor.accept(client).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                        None => {
                            let mut client = client;
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        }));
    }

    fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
        // The aborted accept task drops the listener: connecting is refused from now on.
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the proxy kept accepting after the cut"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restore(&mut self) {
        if self.accept.is_none() {
            self.listen();
        }
    }
}

/// A migrated database for one test (svc-kit's tables are already there).
#[derive(Debug)]
pub struct TestDb {
    pub db: sea_orm::DatabaseConnection,
    pub url: SecretString,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

fn test_pool() -> crate::config::DatabaseSettings {
    crate::config::DatabaseSettings {
        max_connections: 8,
        min_connections: 1,
        connect_timeout_ms: 5000,
        acquire_timeout_ms: 10000,
    }
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let url = fresh_postgres_database().await;
        TestDb::open(url, "postgres", None).await
    }

    /// A fresh PostgreSQL database reached over TLS only (see [`over_tls`]).
    pub async fn postgres_over_tls() -> TestDb {
        let url = over_tls(&fresh_postgres_database().await);
        TestDb::open(url, "postgres", None).await
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = sqlite_url(&dir, "test");
        TestDb::open(url, "sqlite", Some(dir)).await
    }

    async fn open(
        url: SecretString,
        backend: &'static str,
        dir: Option<tempfile::TempDir>,
    ) -> TestDb {
        let db = crate::db::connect(&url, &test_pool())
            .await
            .expect("connect test database");
        crate::db::migrate(&db, "svc-kit", crate::KIT_MIGRATIONS)
            .await
            .expect("migrate test database");
        TestDb {
            db,
            url,
            backend,
            _dir: dir,
        }
    }

    /// Another pool on the same database (a second replica, say).
    pub async fn connect_again(&self) -> sea_orm::DatabaseConnection {
        crate::db::connect(&self.url, &test_pool())
            .await
            .expect("connect test database")
    }
}

/// Runs an async test body once against PostgreSQL and once against SQLite:
/// `backend_test!(name, body)` where `body: async fn(TestDb)`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::testing::TestDb::postgres().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::testing::TestDb::sqlite().await).await
            }
        }
    };
}

/// Tokens every MedMesh endpoint must refuse, each named: made from `claims` (a valid token's)
/// and `issuer`'s keys. The rotated-out key case needs the issuer to rotate, so tests do it
/// themselves.
pub fn forged_tokens(
    issuer: &crate::auth::dev_issuer::DevIssuer,
    claims: &serde_json::Value,
) -> Vec<(&'static str, String)> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use serde_json::json;
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = claims.clone();
        c.as_object_mut().expect("claims are an object").remove(key);
        c
    };
    let encode = |header: serde_json::Value, claims: &serde_json::Value| {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    let alg_none = format!(
        "{}.",
        encode(
            json!({"alg": "none", "typ": "JWT", "kid": issuer.kid()}),
            claims
        )
    );
    // The classic confusion: HMAC keyed with the issuer's public key, which anyone has.
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(issuer.kid());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(issuer.public_key_pem().as_bytes()),
    )
    .expect("HS256 signs");
    let impostor = crate::auth::dev_issuer::DevIssuer::new(
        crate::config::Mode::Dev,
        "http://impostor.invalid".into(),
        None,
    )
    .expect("a dev issuer");
    let tampered = {
        let token = issuer.sign(claims);
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] =
            URL_SAFE_NO_PAD.encode(with("realm_access", json!({"roles": ["admin"]})).to_string());
        parts.join(".")
    };
    vec![
        ("garbage", "garbage".to_string()),
        ("expired", issuer.sign(&with("exp", json!(now - 3600)))),
        (
            "nbf in the future",
            issuer.sign(&with("nbf", json!(now + 3600))),
        ),
        (
            "wrong issuer",
            issuer.sign(&with("iss", json!("http://evil.invalid/realms/medmesh"))),
        ),
        ("missing aud", issuer.sign(&without("aud"))),
        (
            "not our audience",
            issuer.sign(&with("aud", json!("account"))),
        ),
        (
            "disallowed azp",
            issuer.sign(&with("azp", json!("evil-client"))),
        ),
        ("alg none", alg_none),
        ("HS256 keyed with the RSA public key", hs256),
        ("unknown kid", impostor.sign(claims)),
        ("payload tampered after signing", tampered),
    ]
}

/// A real SMTP server (aiosmtpd, `scripts/smtp_sink.py`) on a free loopback port, appending
/// every message it accepts to a file the test reads. The Python with aiosmtpd comes from
/// `MEDMESH_TEST_SMTP_PYTHON` (the test command installs it). Dropping it stops the server.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let python = std::env::var("MEDMESH_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/smtp_sink.py");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("messages.jsonl");
        let port = free_port();
        let child = Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "a Python with aiosmtpd (scripts/test.sh installs it; MEDMESH_TEST_SMTP_PYTHON)",
            );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(20)),
            "the SMTP server did not start on {addr} (is aiosmtpd installed for {python}?)"
        );
        SmtpSink {
            child,
            port,
            file,
            _dir: dir,
        }
    }

    /// `notify.smtp.url` for this server (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far: `mail_from`, `rcpt_tos`, `message_id`, `subject`, `body`.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to `timeout`) until some accepted message satisfies `found`; all messages.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        found: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.iter().any(&found) || Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A provider's webhook standing in for an SMS or push provider (which cannot run here): an
/// HTTP server on loopback that records every request's headers and body, and answers with
/// `status` (settable while it runs, to simulate an outage).
#[derive(Debug, Clone)]
pub struct HttpSink {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    status: Arc<std::sync::atomic::AtomicU16>,
}

/// One request an [`HttpSink`] received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub headers: http::HeaderMap,
    pub body: String,
}

impl HttpSink {
    /// Starts the receiver; must be called inside a tokio runtime.
    pub async fn start() -> HttpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = HttpSink {
            addr,
            requests: Arc::default(),
            status: Arc::new(std::sync::atomic::AtomicU16::new(200)),
        };
        let state = sink.clone();
        let app = axum::Router::new().fallback(move |headers: http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                state
                    .requests
                    .lock()
                    .unwrap()
                    .push(RecordedRequest { headers, body });
                let status = state.status.load(std::sync::atomic::Ordering::SeqCst);
                (
                    http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK),
                    "{\"accepted\":true}",
                )
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("http://{}/messages", self.addr)
    }

    /// What it answers from now on.
    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A Redis server of the test's own (Debian's `redis-server`), so the test can stop it; killed
/// when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: std::process::Child,
    pub url: String,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        RedisServer::spawn(port, &["--port", &port.to_string()], "redis")
    }

    /// A server that speaks TLS only (`tls-port`), with a certificate for 127.0.0.1 and
    /// localhost that `ca` signed; its URL is `rediss://`. Clients need no certificate.
    pub fn start_tls(ca: &TestCa, dir: &std::path::Path) -> RedisServer {
        let port = free_port();
        let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
        let write = |name: &str, pem: &str| {
            let path = dir.join(format!("redis-{port}-{name}.pem"));
            std::fs::write(&path, pem).unwrap();
            path.display().to_string()
        };
        let (cert, key, ca_file) = (
            write("cert", &cert),
            write("key", &key),
            write("ca", &ca.pem()),
        );
        let port_arg = port.to_string();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port_arg,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca_file,
            "--tls-auth-clients",
            "no",
        ];
        RedisServer::spawn(port, &args, "rediss")
    }

    /// `redis-server` with `listen` (its ports and TLS), nothing kept on disk, on 127.0.0.1.
    fn spawn(port: u16, listen: &[&str], scheme: &str) -> RedisServer {
        let child = std::process::Command::new("redis-server")
            .args(listen)
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(wait_for_port(addr, Duration::from_secs(10)));
        RedisServer {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    /// Stops the server (as an outage would).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A certificate authority made for one test (rcgen, ECDSA P-256), and the certificates it
/// signs: servers' and clients' alike (both usages), for the names given (DNS names or IPs).
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// The authority's certificate (PEM).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names` and its key (PEM), signed by this authority.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("medmesh"),
        );
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// `[tls]` for a process of the platform: this authority, and a certificate for `names`
    /// it signed, written into `dir`.
    pub fn settings(
        &self,
        dir: &std::path::Path,
        names: &[&str],
        client_auth: crate::tls::ClientAuth,
    ) -> crate::tls::TlsSettings {
        let (cert, key) = self.issue(names);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let write = |what: &str, pem: &str| {
            let path = dir.join(format!("{id}-{what}.pem"));
            std::fs::write(&path, pem).unwrap();
            path
        };
        crate::tls::TlsSettings {
            cert_file: Some(write("cert", &cert)),
            key_file: Some(write("key", &key)),
            ca_file: Some(write("ca", &self.pem())),
            client_auth,
            allow_plaintext: Vec::new(),
        }
    }
}

/// An encoded event of a made-up kind (`medmesh.test.v1.thing.changed`) with id `id`, for
/// `topic`, keyed by its id: what bus and broker tests publish.
pub fn thing_changed(topic: &str, id: &str) -> crate::events::OutgoingEvent {
    use prost::Message as _;
    let envelope = medmesh_proto::events::v1::EventEnvelope {
        id: id.to_string(),
        r#type: "medmesh.test.v1.thing.changed".into(),
        ..Default::default()
    };
    crate::events::OutgoingEvent {
        seq: 0,
        event_id: id.to_string(),
        event_type: envelope.r#type.clone(),
        topic: topic.to_string(),
        key: id.to_string(),
        payload: bytes::Bytes::from(envelope.encode_to_vec()),
    }
}
