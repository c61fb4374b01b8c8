//! The gRPC server every service is built on: health, reflection, catch-panic, RED metrics
//! with histogram buckets, graceful shutdown, and its limits (load shedding, timeouts).

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use svc_kit::grpc::{GrpcLimits, GrpcServer};
use tokio_util::sync::CancellationToken;
use tonic::{
    body::Body,
    server::{NamedService, UnaryService},
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_prost::ProstCodec;

/// A test service, written the way tonic's generated code is: `/Sleep` waits, `/Panic` panics,
/// `/Taken` refuses as a booking of a taken slot does (ALREADY_EXISTS), `/Broken` fails inside.
#[derive(Clone)]
struct Slow {
    delay: Duration,
}

impl NamedService for Slow {
    const NAME: &'static str = "medmesh.testing.v1.Slow";
}

struct Handler {
    delay: Duration,
    panic: bool,
    answer: Option<tonic::Status>,
}

impl UnaryService<()> for Handler {
    type Response = ();
    type Future = BoxFuture<'static, Result<tonic::Response<()>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        let (delay, panic, answer) = (self.delay, self.panic, self.answer.take());
        Box::pin(async move {
            if panic {
                panic!("handler bug");
            }
            if let Some(status) = answer {
                return Err(status);
            }
            tokio::time::sleep(delay).await;
            Ok(tonic::Response::new(()))
        })
    }
}

impl tower::Service<http::Request<Body>> for Slow {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        let answer = if path.ends_with("/Taken") {
            Some(tonic::Status::already_exists("the slot is taken"))
        } else if path.ends_with("/Broken") {
            Some(tonic::Status::internal("internal error"))
        } else {
            None
        };
        let handler = Handler {
            delay: self.delay,
            panic: path.ends_with("/Panic"),
            answer,
        };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<(), ()>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

async fn call(channel: Channel, method: &'static str) -> Result<(), tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    client
        .unary(
            tonic::Request::new(()),
            PathAndQuery::from_static(method),
            ProstCodec::<(), ()>::default(),
        )
        .await
        .map(|_| ())
}

async fn start(
    delay: Duration,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    start_within(delay, GrpcLimits::default()).await
}

async fn start_within(
    delay: Duration,
    limits: GrpcLimits,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let server = GrpcServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_limits(limits)
        .add_service(Slow { delay });
    let addr = server.local_addr();
    let token = CancellationToken::new();
    let serve_token = token.clone();
    let task = tokio::spawn(async move {
        server
            .serve(serve_token, Duration::from_secs(5))
            .await
            .unwrap()
    });
    (addr, token, task)
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn health_reports_each_service_serving() {
    let (addr, token, _task) = start(Duration::ZERO).await;
    let mut health = HealthClient::new(channel(addr).await);
    for service in ["medmesh.testing.v1.Slow", ""] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            status.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    token.cancel();
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_server_lives_on() {
    let (addr, token, _task) = start(Duration::ZERO).await;
    let ch = channel(addr).await;
    let status = call(ch.clone(), "/medmesh.testing.v1.Slow/Panic")
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(status.message(), "internal error");
    call(ch, "/medmesh.testing.v1.Slow/Sleep")
        .await
        .expect("the server still answers");

    // The test service is not one of the platform's contracts, so its calls share the
    // `unknown` labels (svc-kit labels only the methods the platform serves).
    let metrics = svc_kit::telemetry::metrics_handle().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("grpc_server_handled_total{")
                && l.contains("grpc_method=\"unknown\"")
                && l.contains("grpc_code=\"Internal\"")),
        "the panic is counted as Internal:\n{metrics}"
    );
    token.cancel();
}

/// What the process logs, as text, while the test holds it.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

// One thread: the server's tasks run where the test's log subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn a_refusal_the_client_caused_is_not_logged_as_an_error() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (addr, token, _task) = start(Duration::ZERO).await;
    let ch = channel(addr).await;
    for _ in 0..3 {
        let status = call(ch.clone(), "/medmesh.testing.v1.Slow/Taken")
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::AlreadyExists);
    }
    let refused: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("AlreadyExists"))
        .collect();
    assert_eq!(
        refused.len(),
        3,
        "each refusal is logged: {:?}",
        log.lines()
    );
    assert!(
        refused
            .iter()
            .all(|l| !l.contains("ERROR") && !l.contains("WARN")),
        "a taken slot is a normal answer, not an error: {refused:?}"
    );

    let status = call(ch, "/medmesh.testing.v1.Slow/Broken")
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(
        log.lines()
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("Internal")),
        "a server failure is an error: {:?}",
        log.lines()
    );
    token.cancel();
}

#[tokio::test]
async fn red_metrics_have_histogram_buckets() {
    let (addr, token, _task) = start(Duration::from_millis(5)).await;
    let ch = channel(addr).await;
    for _ in 0..3 {
        call(ch.clone(), "/medmesh.testing.v1.Slow/Sleep")
            .await
            .unwrap();
    }
    let metrics = svc_kit::telemetry::metrics_handle().render();
    let bucket = |le: &str| {
        metrics.lines().find(|l| {
            // The test service is not one of the platform's contracts: labelled `unknown`.
            l.starts_with("grpc_server_handling_seconds_bucket{")
                && l.contains("grpc_method=\"unknown\"")
                && l.contains("grpc_code=\"Ok\"")
                && l.contains(&format!("le=\"{le}\""))
        })
    };
    assert!(
        bucket("0.001").is_some(),
        "a 1 ms bucket exists:\n{metrics}"
    );
    let count = |line: Option<&str>| {
        line.and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    // Each call sleeps 5 ms: none in the 1 ms bucket, all three by 10 s.
    assert_eq!(count(bucket("0.001")), Some(0.0));
    assert_eq!(count(bucket("+Inf")), Some(3.0));
    token.cancel();
}

#[tokio::test]
async fn reflection_lists_services() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let (addr, token, _task) = start(Duration::ZERO).await;
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "grpc.health.v1.Health",
        "medmesh.scheduling.v1.SchedulingService",
        "medmesh.accounts.v1.AccountsService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    token.cancel();
}

#[tokio::test]
async fn shutdown_finishes_in_flight_calls_and_refuses_new_ones() {
    let (addr, token, task) = start(Duration::from_millis(800)).await;
    let ch = channel(addr).await;
    let in_flight = tokio::spawn(call(ch, "/medmesh.testing.v1.Slow/Sleep"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    token.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A new client cannot get in any more...
    let refused = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(
        refused.is_err(),
        "new connections are refused while draining"
    );
    // ...while the call that was running completes normally.
    in_flight
        .await
        .unwrap()
        .expect("the in-flight call finishes");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops after draining")
        .unwrap();
}

fn metric(name: &str) -> f64 {
    let metrics = svc_kit::telemetry::metrics_handle().render();
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_flood_beyond_the_in_flight_limit_is_shed_at_once_while_health_answers() {
    let limits = GrpcLimits {
        max_in_flight: 4,
        ..GrpcLimits::default()
    };
    let (addr, token, _task) = start_within(Duration::from_secs(5), limits).await;
    let ch = channel(addr).await;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let flood: Vec<_> = (0..40)
        .map(|_| {
            let (ch, done) = (ch.clone(), done_tx.clone());
            tokio::spawn(async move {
                let code = match call(ch, "/medmesh.testing.v1.Slow/Sleep").await {
                    Ok(()) => tonic::Code::Ok,
                    Err(status) => status.code(),
                };
                done.send(code).unwrap();
            })
        })
        .collect();
    drop(done_tx);

    // While four calls hold the server, every other one has already been refused, and a health
    // check still answers SERVING.
    let mut shed = 0;
    while shed < 36 {
        let code = done_rx.recv().await.expect("every call answers");
        assert_eq!(
            code,
            tonic::Code::ResourceExhausted,
            "no call finishes before the excess is shed"
        );
        shed += 1;
    }
    let mut health = HealthClient::new(ch.clone());
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(status.into_inner().status(), ServingStatus::Serving);
    assert!(
        done_rx.try_recv().is_err(),
        "the four admitted calls are still running"
    );
    let mut admitted = Vec::new();
    while let Some(code) = done_rx.recv().await {
        admitted.push(code);
    }
    assert_eq!(admitted, vec![tonic::Code::Ok; 4]);
    for task in flood {
        task.await.unwrap();
    }
    assert_eq!(metric("grpc_server_shed_total"), 36.0);
    // The limit counts calls, not the server's lifetime: the next one is served (and answered
    // by the handler, not by the guard).
    let answer = call(ch, "/medmesh.testing.v1.Slow/Taken")
        .await
        .unwrap_err();
    assert_eq!(answer.code(), tonic::Code::AlreadyExists);
    token.cancel();
}

#[tokio::test]
async fn a_call_past_the_request_timeout_ends_with_deadline_exceeded_and_frees_its_place() {
    let limits = GrpcLimits {
        max_in_flight: 1,
        request_timeout: Duration::from_millis(200),
        ..GrpcLimits::default()
    };
    let (addr, token, _task) = start_within(Duration::from_secs(30), limits).await;
    let ch = channel(addr).await;
    for _ in 0..2 {
        let status = call(ch.clone(), "/medmesh.testing.v1.Slow/Sleep")
            .await
            .unwrap_err();
        // The second call is admitted too: the first one's place was given back.
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    }
    assert_eq!(metric("grpc_server_timeouts_total"), 2.0);
    token.cancel();
}

#[tokio::test]
async fn ten_thousand_random_paths_make_one_series() {
    use futures::StreamExt;

    let (addr, token, _task) = start(Duration::ZERO).await;
    let ch = channel(addr).await;
    let codes: Vec<tonic::Code> = futures::stream::iter(0..10_000)
        .map(|i| {
            let ch = ch.clone();
            async move {
                let mut client = tonic::client::Grpc::new(ch);
                client.ready().await.unwrap();
                let path = PathAndQuery::try_from(format!("/scan{i}.v1.Probe/Method{i}")).unwrap();
                match client
                    .unary(
                        tonic::Request::new(()),
                        path,
                        ProstCodec::<(), ()>::default(),
                    )
                    .await
                {
                    Ok(_) => tonic::Code::Ok,
                    Err(status) => status.code(),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(codes.iter().all(|c| *c == tonic::Code::Unimplemented));
    let metrics = svc_kit::telemetry::metrics_handle().render();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{"))
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].contains("grpc_method=\"unknown\""), "{series:?}");
    assert!(series[0].ends_with(" 10000"), "{series:?}");
    token.cancel();
}

#[tokio::test]
async fn a_message_over_four_mebibytes_is_refused_before_it_is_read() {
    let (addr, token, _task) = start(Duration::ZERO).await;
    let ch = channel(addr).await;
    let mut client = tonic::client::Grpc::new(ch.clone());
    client.ready().await.unwrap();
    let huge = vec![7u8; 5 << 20];
    let refused = client
        .unary(
            tonic::Request::new(huge),
            PathAndQuery::from_static("/medmesh.testing.v1.Slow/Sleep"),
            ProstCodec::<Vec<u8>, ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    // The server lives on.
    call(ch, "/medmesh.testing.v1.Slow/Sleep").await.unwrap();
    token.cancel();
}
