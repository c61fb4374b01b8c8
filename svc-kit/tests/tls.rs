//! TLS as the services speak it, against certificates made in the test: a gRPC server serving
//! TLS only, clients that trust the platform's authority and refuse another's, mutual TLS that
//! refuses a client without a certificate (or with another authority's) and a service's token
//! from another's certificate, and HTTPS clients that trust the authority `[tls] ca_file` names.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use svc_kit::{
    auth::{
        AuthSettings, Authenticator, Principal, RequireAuth, ServiceTokens,
        dev_issuer::{DEV_CLIENT_SECRET, DevIssuerServer, WEB_CLIENT},
        with_bearer,
    },
    config::Mode,
    grpc::GrpcServer,
    testing::TestCa,
    tls::{ClientAuth, Tls, TlsSettings},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A gRPC server (health only) with `tls`, until the token is cancelled.
async fn serve(tls: &Tls) -> (SocketAddr, CancellationToken) {
    let server = GrpcServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_tls(tls.server_config());
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let serving = stop.clone();
    tokio::spawn(async move { server.serve(serving, Duration::from_secs(1)).await });
    (addr, stop)
}

/// What a health check over `tls` to `url` answers.
async fn health(tls: &Tls, url: &str) -> Result<ServingStatus, String> {
    let channel = tls
        .endpoint(url)?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(answer.into_inner().status())
}

fn load(settings: &TlsSettings) -> Tls {
    Tls::load(settings).unwrap()
}

/// Trusts `ca` and presents no certificate.
fn trusting(dir: &std::path::Path, ca: &TestCa) -> Tls {
    let path = dir.join(format!("{}-ca.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, ca.pem()).unwrap();
    load(&TlsSettings {
        ca_file: Some(path),
        ..Default::default()
    })
}

#[tokio::test]
async fn grpc_speaks_tls_with_the_platforms_authority_and_refuses_anothers() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let server = load(&ca.settings(dir.path(), &NAMES, ClientAuth::None));
    assert!(server.serves_tls());
    let (addr, stop) = serve(&server).await;

    // Trusting the authority: by IP and by name.
    let client = trusting(dir.path(), &ca);
    assert_eq!(
        health(&client, &format!("https://{addr}")).await,
        Ok(ServingStatus::Serving)
    );
    assert_eq!(
        health(&client, &format!("https://localhost:{}", addr.port())).await,
        Ok(ServingStatus::Serving)
    );
    // A name the certificate does not carry, another authority, the web's roots, plain
    // HTTP/2: each refused.
    let other = trusting(dir.path(), &TestCa::new("Someone else's CA"));
    for (what, tls, url) in [
        ("another authority", &other, format!("https://{addr}")),
        ("the web's roots", &Tls::none(), format!("https://{addr}")),
        ("plain HTTP/2", &client, format!("http://{addr}")),
    ] {
        let answer = health(tls, &url).await;
        assert!(answer.is_err(), "{what}: {answer:?}");
    }
    let (wrong_name_cert, wrong_name_key) = ca.issue(&["svc-elsewhere"]);
    let (cert_file, key_file) = (dir.path().join("w.pem"), dir.path().join("wk.pem"));
    std::fs::write(&cert_file, wrong_name_cert).unwrap();
    std::fs::write(&key_file, wrong_name_key).unwrap();
    let misnamed = load(&TlsSettings {
        cert_file: Some(cert_file),
        key_file: Some(key_file),
        ..Default::default()
    });
    let (misnamed_addr, misnamed_stop) = serve(&misnamed).await;
    let answer = health(&client, &format!("https://{misnamed_addr}")).await;
    assert!(
        answer.is_err(),
        "a certificate for another name: {answer:?}"
    );
    misnamed_stop.cancel();
    stop.cancel();
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_the_platforms_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let server = load(&ca.settings(dir.path(), &NAMES, ClientAuth::Required));
    let (addr, stop) = serve(&server).await;
    let url = format!("https://{addr}");

    // A client of the platform: its own certificate, signed by the authority.
    let service = load(&ca.settings(dir.path(), &["svc-scheduling"], ClientAuth::None));
    assert_eq!(health(&service, &url).await, Ok(ServingStatus::Serving));
    // No certificate, or one another authority signed: the handshake fails.
    let anonymous = trusting(dir.path(), &ca);
    let answer = health(&anonymous, &url).await;
    assert!(answer.is_err(), "without a certificate: {answer:?}");
    let stranger_ca = TestCa::new("Someone else's CA");
    let mut stranger = stranger_ca.settings(dir.path(), &["svc-scheduling"], ClientAuth::None);
    let trusted_ca = dir.path().join("trusted-ca.pem");
    std::fs::write(&trusted_ca, ca.pem()).unwrap();
    stranger.ca_file = Some(trusted_ca);
    let answer = health(&load(&stranger), &url).await;
    assert!(
        answer.is_err(),
        "another authority's certificate: {answer:?}"
    );
    // The server still serves its own.
    assert_eq!(health(&service, &url).await, Ok(ServingStatus::Serving));
    stop.cancel();
}

/// An API that answers OK to every call [`RequireAuth`] lets through (and says so if one
/// reached it without a principal), written the way tonic's generated code is.
#[derive(Clone)]
struct Authenticated;

impl tonic::server::NamedService for Authenticated {
    const NAME: &'static str = "medmesh.testing.v1.Authenticated";
}

impl tower::Service<http::Request<tonic::body::Body>> for Authenticated {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let handler = tower::service_fn(|call: tonic::Request<()>| async move {
            match call.extensions().get::<Principal>() {
                Some(_) => Ok(tonic::Response::new(())),
                None => Err(tonic::Status::internal("reached without a principal")),
            }
        });
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<(), ()>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

/// A gRPC server with `tls` serving [`Authenticated`] behind [`RequireAuth`] with `auth`.
async fn serve_authenticated(
    tls: &Tls,
    auth: Arc<Authenticator>,
) -> (SocketAddr, CancellationToken) {
    let server = GrpcServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_tls(tls.server_config())
        .add_service(RequireAuth::new(Authenticated, auth));
    let addr = server.local_addr();
    let stop = CancellationToken::new();
    let serving = stop.clone();
    tokio::spawn(async move { server.serve(serving, Duration::from_secs(1)).await });
    (addr, stop)
}

/// What an authenticated call over `tls` to `url` with `token` answers.
async fn call_authenticated(tls: &Tls, url: &str, token: &str) -> Result<(), tonic::Status> {
    let channel = tls
        .endpoint(url)
        .map_err(tonic::Status::invalid_argument)?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    client
        .unary(
            with_bearer(tonic::Request::new(()), token)?,
            http::uri::PathAndQuery::from_static("/medmesh.testing.v1.Authenticated/Call"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .map(|_| ())
}

#[tokio::test]
async fn mutual_tls_binds_a_service_token_to_that_services_certificate() {
    let issuer_server = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = issuer_server.issuer.clone();
    let issuer_stop = CancellationToken::new();
    tokio::spawn(issuer_server.serve(issuer_stop.clone()));
    let auth = Arc::new(Authenticator::new(AuthSettings {
        issuer: issuer.issuer(),
        audiences: vec!["medmesh".into()],
        allowed_clients: vec![WEB_CLIENT.into(), "svc-scheduling".into()],
        leeway: Duration::from_secs(30),
        min_refresh_interval: Duration::ZERO,
        max_key_age: Duration::from_secs(300),
        stale_key_grace: Duration::from_secs(86400),
        client_roles_from: None,
    }));
    // svc-scheduling's token, fetched as the service fetches it (client credentials), and a
    // patient's.
    let scheduling_token = ServiceTokens::new(
        &issuer.token_endpoint(),
        "svc-scheduling",
        &SecretString::from(DEV_CLIENT_SECRET),
    )
    .unwrap()
    .token()
    .await
    .unwrap();
    let scheduling_token = scheduling_token.expose_secret();
    let patient_token = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let server = load(&ca.settings(dir.path(), &NAMES, ClientAuth::Required));
    let (addr, stop) = serve_authenticated(&server, auth.clone()).await;
    let url = format!("https://{addr}");
    let notify = load(&ca.settings(dir.path(), &["svc-notify"], ClientAuth::None));
    let scheduling = load(&ca.settings(dir.path(), &["svc-scheduling"], ClientAuth::None));

    // svc-scheduling's token from svc-notify's certificate: its secret alone is not enough.
    let refused = call_authenticated(&notify, &url, scheduling_token)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        refused.message(),
        "the client certificate does not belong to the token's service"
    );
    // From its own certificate it is accepted.
    call_authenticated(&scheduling, &url, scheduling_token)
        .await
        .expect("svc-scheduling's token from its own certificate");
    // Or from the certificate of its host name in the deployments, and not from another's.
    let scheduling_host = load(&ca.settings(dir.path(), &["scheduling"], ClientAuth::None));
    call_authenticated(&scheduling_host, &url, scheduling_token)
        .await
        .expect("svc-scheduling's token from the certificate of the host `scheduling`");
    let notify_host = load(&ca.settings(dir.path(), &["notify"], ClientAuth::None));
    let refused = call_authenticated(&notify_host, &url, scheduling_token)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    // A person's token is not bound to a certificate.
    call_authenticated(&notify, &url, &patient_token)
        .await
        .expect("a patient's token through svc-notify's certificate");

    // Without client auth no certificate is asked for, so none is checked.
    let one_way = load(&ca.settings(dir.path(), &NAMES, ClientAuth::None));
    let (one_way_addr, one_way_stop) = serve_authenticated(&one_way, auth).await;
    call_authenticated(
        &notify,
        &format!("https://{one_way_addr}"),
        scheduling_token,
    )
    .await
    .expect("no client certificate asked for, none checked");
    one_way_stop.cancel();
    stop.cancel();
    issuer_stop.cancel();
}

/// An HTTPS server answering every request `200 ok`, with `cert` and `key` (PEM).
async fn https_server(cert: &str, key: &str) -> SocketAddr {
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_clients_trust_the_authority_tls_names() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let (cert, key) = ca.issue(&NAMES);
    let addr = https_server(&cert, &key).await;
    let url = format!("https://localhost:{}/realms/medmesh", addr.port());

    let trusted = trusting(dir.path(), &ca).http_client().build().unwrap();
    let answer = trusted.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok");
    // Without `ca_file` only the web's roots are trusted: refused.
    let refused = Tls::none()
        .http_client()
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // The process-wide client (what the token validator, the token client and the object
    // store build) trusts what was installed.
    svc_kit::tls::install(&trusting(dir.path(), &ca));
    let process = svc_kit::tls::http_client().build().unwrap();
    assert_eq!(process.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn production_refuses_plain_http_to_another_host_unless_the_network_is_encrypted() {
    let production = || {
        svc_kit::Settings::figment(None)
            .merge(("mode", "production"))
            .merge(("auth.issuer", "https://sso.example.org/realms/medmesh"))
            .merge(("cache.backend", "redis"))
            .merge(("cache.redis.url", "rediss://cache.example.org:6380"))
            .merge(("events.backend", "kafka"))
            .merge(("events.kafka.brokers", "127.0.0.1:9093"))
    };
    fn waiving(parts: &[&str]) -> (&'static str, Vec<String>) {
        (
            "tls.allow_plaintext",
            parts.iter().map(|p| p.to_string()).collect(),
        )
    }
    let plain = production().merge(("services.accounts.endpoint", "http://accounts:50051"));
    let refused = svc_kit::Settings::from_figment(plain.clone()).unwrap_err();
    assert!(
        refused.to_string().contains("services.accounts.endpoint"),
        "{refused}"
    );
    svc_kit::Settings::from_figment(plain.clone().merge(waiving(&["grpc"]))).unwrap();
    // Each part is waived on its own: an encrypted path to Kafka says nothing about gRPC.
    let refused = svc_kit::Settings::from_figment(plain.clone().merge(waiving(&["kafka"])))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("services.accounts.endpoint"), "{refused}");
    assert!(
        refused.contains("\"grpc\""),
        "names the part to waive: {refused}"
    );
    // The `true` of earlier versions waived everything at once: it is refused, with the way out.
    let refused = svc_kit::Settings::from_figment(plain.merge(("tls.allow_plaintext", true)))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("tls.allow_plaintext"), "{refused}");
    assert!(refused.contains("[\"kafka\"]"), "{refused}");
    let unknown = svc_kit::Settings::from_figment(production().merge(waiving(&["everything"])))
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("everything"), "{unknown}");

    let plain_issuer = production().merge(("auth.issuer", "http://keycloak:8080/realms/medmesh"));
    let refused = svc_kit::Settings::from_figment(plain_issuer.clone()).unwrap_err();
    assert!(refused.to_string().contains("auth.issuer"), "{refused}");
    svc_kit::Settings::from_figment(plain_issuer.merge(waiving(&["issuer"]))).unwrap();
    let local = production().merge(("services.accounts.endpoint", "http://127.0.0.1:50051"));
    svc_kit::Settings::from_figment(local).unwrap();
    let secure = production().merge(("services.accounts.endpoint", "https://accounts:50051"));
    svc_kit::Settings::from_figment(secure).unwrap();
    // The stores: PostgreSQL without verify-full, redis:// and Kafka without TLS on another
    // host are refused too, unless their own part is waived; waiving every other part does
    // not do.
    for (key, value, part) in [
        (
            "services.scheduling.database_url",
            "postgres://medmesh@db:5432/scheduling",
            "database",
        ),
        ("cache.redis.url", "redis://redis:6379", "cache"),
        ("events.kafka.brokers", "kafka-1:9092,kafka-2:9092", "kafka"),
    ] {
        let refused = svc_kit::Settings::from_figment(production().merge((key, value)))
            .unwrap_err()
            .to_string();
        assert!(refused.contains(key), "{key}: {refused}");
        let others: Vec<&str> = [
            "grpc",
            "issuer",
            "database",
            "cache",
            "kafka",
            "object_store",
        ]
        .into_iter()
        .filter(|p| *p != part)
        .collect();
        let refused = svc_kit::Settings::from_figment(
            production().merge((key, value)).merge(waiving(&others)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            refused.contains(key),
            "{key} with {others:?} waived: {refused}"
        );
        svc_kit::Settings::from_figment(production().merge((key, value)).merge(waiving(&[part])))
            .unwrap();
    }
    svc_kit::Settings::from_figment(production().merge((
        "services.scheduling.database_url",
        "postgres://medmesh@db:5432/scheduling?sslmode=verify-full&sslrootcert=/run/secrets/ca",
    )))
    .unwrap();
    // Kafka over TLS on another host needs no waiver; SASL needs its credentials.
    let kafka_tls = production()
        .merge(("events.kafka.brokers", "kafka-1:9093,kafka-2:9093"))
        .merge(("events.kafka.tls", true));
    let settings = svc_kit::Settings::from_figment(kafka_tls.clone()).unwrap();
    assert_eq!(settings.events.kafka.security_protocol(), "ssl");
    let refused = svc_kit::Settings::from_figment(
        kafka_tls
            .clone()
            .merge(("events.kafka.sasl_mechanism", "SCRAM-SHA-512")),
    )
    .unwrap_err()
    .to_string();
    assert!(refused.contains("sasl_username"), "{refused}");
    let settings = svc_kit::Settings::from_figment(
        kafka_tls
            .merge(("events.kafka.sasl_mechanism", "SCRAM-SHA-512"))
            .merge(("events.kafka.sasl_username", "svc-scheduling"))
            .merge(("events.kafka.sasl_password", "a-password-never-printed")),
    )
    .unwrap();
    assert_eq!(settings.events.kafka.security_protocol(), "sasl_ssl");
    assert!(
        !format!("{:?}", settings.events.kafka).contains("a-password-never-printed"),
        "the SASL password never reaches a log"
    );
    let refused = svc_kit::Settings::from_figment(
        production().merge(("events.kafka.sasl_mechanism", "GSSAPI")),
    )
    .unwrap_err()
    .to_string();
    assert!(refused.contains("sasl_mechanism"), "{refused}");
}

#[test]
fn a_process_serving_tls_reaches_services_without_an_endpoint_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestCa::new("MedMesh test CA").settings(dir.path(), &NAMES, ClientAuth::None);
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().unwrap().display().to_string();
    let plain = svc_kit::Settings::from_figment(
        svc_kit::Settings::figment(None).merge(("services.accounts.host", "0.0.0.0")),
    )
    .unwrap();
    let port = plain.services.accounts.port;
    assert_eq!(
        plain.endpoint(svc_kit::ServiceName::Accounts),
        format!("http://127.0.0.1:{port}")
    );
    let serving = svc_kit::Settings::from_figment(
        svc_kit::Settings::figment(None)
            .merge(("tls.cert_file", path(&tls.cert_file)))
            .merge(("tls.key_file", path(&tls.key_file)))
            .merge(("tls.ca_file", path(&tls.ca_file)))
            .merge((
                "services.scheduling.endpoint",
                "https://scheduling.internal:50052",
            )),
    )
    .unwrap();
    assert!(
        serving
            .endpoint(svc_kit::ServiceName::Accounts)
            .starts_with("https://"),
    );
    assert_eq!(
        serving.endpoint(svc_kit::ServiceName::Scheduling),
        "https://scheduling.internal:50052",
        "a configured endpoint is used as written"
    );
}
