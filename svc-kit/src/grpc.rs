//! Every gRPC server in MedMesh is built here, the same way: `grpc.health.v1` (each service
//! SERVING, NOT_SERVING once shutdown starts), reflection (v1 and v1alpha), a trace span per
//! call, RED metrics per method, a catch-panic layer that answers `INTERNAL`, and limits
//! ([`GrpcLimits`]): calls beyond the in-flight limit are shed at once with
//! `RESOURCE_EXHAUSTED`, a call past the request timeout ends with `DEADLINE_EXCEEDED`, and
//! health checks are exempt from both, so an overloaded replica still answers its probes.

use std::{
    collections::HashSet,
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::response::IntoResponse;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Layer, Service};
use tower_http::catch_panic::CatchPanicLayer;

/// How much one gRPC server takes on at once (`[grpc]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcLimits {
    /// Calls served at once, health checks aside; one more is refused at once with
    /// `RESOURCE_EXHAUSTED` instead of queueing behind the rest (a client retries it, or
    /// another replica takes it). A streaming call counts until its response starts.
    pub max_in_flight: usize,
    /// A call not answered within this ends with `DEADLINE_EXCEEDED`; its work is dropped
    /// (an open transaction rolls back).
    pub request_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        GrpcLimits {
            max_in_flight: 512,
            request_timeout: Duration::from_secs(15),
            max_concurrent_streams: 256,
        }
    }
}

impl From<&crate::config::GrpcSettings> for GrpcLimits {
    fn from(settings: &crate::config::GrpcSettings) -> Self {
        GrpcLimits {
            max_in_flight: settings.max_in_flight,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            max_concurrent_streams: settings.max_concurrent_streams,
        }
    }
}

/// A gRPC server with its listener already bound (port 0 works; see [`GrpcServer::local_addr`]).
pub struct GrpcServer {
    listener: TcpListener,
    routes: RoutesBuilder,
    health: HealthReporter,
    service_names: Vec<&'static str>,
    limits: GrpcLimits,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("addr", &self.listener.local_addr().ok())
            .field("services", &self.service_names)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrpcServerError {
    #[error("could not bind gRPC listener on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC reflection could not be built: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl GrpcServer {
    pub async fn bind(addr: SocketAddr) -> Result<GrpcServer, GrpcServerError> {
        // What the server records must have somewhere to go from the first call on.
        crate::telemetry::metrics_handle();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GrpcServerError::Bind { addr, source })?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(medmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(medmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        routes.add_service(reflection_v1);
        routes.add_service(reflection_v1alpha);
        Ok(GrpcServer {
            listener,
            routes,
            health,
            service_names: Vec::new(),
            limits: GrpcLimits::default(),
            tls: None,
        })
    }

    /// Serves TLS only, with `tls` (this process's certificate; mutual TLS when it names a
    /// client authority); plain TCP with `None`.
    pub fn with_tls(mut self, tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// Serves within `limits` (the defaults unless set).
    pub fn with_limits(mut self, limits: GrpcLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Adds a service; it is reported SERVING by the health service once `serve` starts.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` is cancelled, then marks every service NOT_SERVING, stops
    /// accepting connections and lets in-flight calls finish for at most `grace`.
    pub async fn serve(
        self,
        shutdown: CancellationToken,
        grace: Duration,
    ) -> Result<(), GrpcServerError> {
        let GrpcServer {
            listener,
            routes,
            health,
            service_names,
            limits,
            tls,
        } = self;
        for name in &service_names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        // At zero from the start, so an alert's increase() sees the first refusal.
        metrics::counter!("grpc_server_shed_total").increment(0);
        metrics::counter!("grpc_server_timeouts_total").increment(0);
        let addr = listener.local_addr().ok();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

        let layers = tower::ServiceBuilder::new()
            .layer(
                tower_http::trace::TraceLayer::new_for_grpc()
                    .make_span_with(
                        tower_http::trace::DefaultMakeSpan::new().include_headers(false),
                    )
                    .on_failure(LogFailure),
            )
            .layer(RedLayer)
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(GuardLayer {
                permits: Arc::new(Semaphore::new(limits.max_in_flight)),
                timeout: limits.request_timeout,
            });

        let signal = {
            let shutdown = shutdown.clone();
            let health = health.clone();
            async move {
                shutdown.cancelled().await;
                for name in &service_names {
                    health
                        .set_service_status(*name, ServingStatus::NotServing)
                        .await;
                }
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                tracing::info!(?addr, "gRPC server draining");
            }
        };
        let builder = match tls {
            Some(tls) => Server::builder().tls_config(tls)?,
            None => Server::builder(),
        };
        let server = builder
            .max_concurrent_streams(limits.max_concurrent_streams)
            .layer(layers)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(server);

        tokio::select! {
            result = &mut server => result?,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?addr, grace_ms = grace.as_millis() as u64, "gRPC grace period over; cutting remaining calls");
            }
        }
        Ok(())
    }
}

/// How loudly a call that did not answer OK is logged. A refusal the client caused (bad input,
/// a slot already taken, a missing token) is a normal answer: a booking storm must not fill
/// the log with errors, so those go to DEBUG. What the server failed at is an ERROR, and what
/// is likely to pass (overload, a dependency away, a deadline) a WARN. Exhaustive on purpose:
/// a new code is a decision.
pub fn failure_level(code: tonic::Code) -> tracing::Level {
    use tonic::Code;
    match code {
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Cancelled => tracing::Level::DEBUG,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => {
            tracing::Level::WARN
        }
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented => {
            tracing::Level::ERROR
        }
    }
}

/// Logs a failed call at the level its code deserves (see [`failure_level`]); the span names
/// the method.
#[derive(Debug, Clone, Copy)]
struct LogFailure;

impl tower_http::trace::OnFailure<tower_http::classify::GrpcFailureClass> for LogFailure {
    fn on_failure(
        &mut self,
        class: tower_http::classify::GrpcFailureClass,
        latency: Duration,
        _span: &tracing::Span,
    ) {
        let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        let code = match class {
            tower_http::classify::GrpcFailureClass::Code(code) => tonic::Code::from(code.get()),
            tower_http::classify::GrpcFailureClass::Error(error) => {
                // The response broke off (a transport or body error), no status was sent.
                tracing::error!(%error, latency_ms, "gRPC response failed");
                return;
            }
        };
        let grpc_code = format!("{code:?}");
        let level = failure_level(code);
        if level == tracing::Level::ERROR {
            tracing::error!(grpc_code, latency_ms, "gRPC call failed");
        } else if level == tracing::Level::WARN {
            tracing::warn!(grpc_code, latency_ms, "gRPC call failed");
        } else if level == tracing::Level::INFO {
            tracing::info!(grpc_code, latency_ms, "gRPC call refused");
        } else {
            tracing::debug!(grpc_code, latency_ms, "gRPC call refused");
        }
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    // The panic message may hold request data; it stays out of the response and the log.
    tracing::error!("gRPC handler panicked");
    tonic::Status::internal("internal error").into_http()
}

/// Sheds calls beyond the in-flight limit and ends those past the timeout (see
/// [`GrpcLimits`]); health checks pass untouched.
#[derive(Debug, Clone)]
struct GuardLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            permits: Arc::clone(&self.permits),
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
struct Guard<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

impl<S, ReqBody> Service<Request<ReqBody>> for Guard<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if req.uri().path().starts_with(HEALTH_PREFIX) {
            return Box::pin(self.inner.call(req));
        }
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            metrics::counter!("grpc_server_shed_total").increment(1);
            return Box::pin(async {
                Ok(tonic::Status::resource_exhausted(
                    "the service is at capacity; retry shortly with the same request_id",
                )
                .into_http())
            });
        };
        let (timeout, future) = (self.timeout, self.inner.call(req));
        Box::pin(async move {
            let answer = tokio::time::timeout(timeout, future).await;
            drop(permit);
            answer.unwrap_or_else(|_| {
                metrics::counter!("grpc_server_timeouts_total").increment(1);
                Ok(tonic::Status::deadline_exceeded(
                    "the call took longer than the server allows; retry with the same request_id",
                )
                .into_http())
            })
        })
    }
}

/// Rate, errors, duration for every gRPC method.
#[derive(Debug, Clone, Copy)]
struct RedLayer;

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RedService { inner }
    }
}

#[derive(Debug, Clone)]
struct RedService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RedService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
{
    type Response = Response<RedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let mut call = CallRecord {
            service,
            method,
            start: Instant::now(),
            code: None,
            done: false,
        };
        metrics::gauge!("grpc_server_in_flight").increment(1.0);
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await?;
            call.code = grpc_status(response.headers());
            Ok(response.map(|inner| RedBody {
                inner,
                call: Some(call),
            }))
        })
    }
}

/// The (service, method) labels of a call. Only methods the platform serves get their own;
/// any other path (a scan, a typo) shares `unknown`, so the path a caller picks, before it is
/// even authenticated, cannot grow the metric series without bound.
fn split_path(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    if KNOWN_METHODS.contains(path)
        && let Some((service, method)) = path.split_once('/')
    {
        return (service.to_string(), method.to_string());
    }
    ("unknown".to_string(), "unknown".to_string())
}

/// `package.Service/Method` of every method in the platform's contracts, health and
/// reflection.
static KNOWN_METHODS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut known = HashSet::new();
    for set in [
        medmesh_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let Ok(set) = <prost_types::FileDescriptorSet as prost::Message>::decode(set) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let name = service.name.unwrap_or_default();
                for method in service.method {
                    known.insert(format!(
                        "{package}.{name}/{}",
                        method.name.unwrap_or_default()
                    ));
                }
            }
        }
    }
    for reflection in [
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ] {
        known.insert(reflection.to_string());
    }
    known
});

fn grpc_status(headers: &HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from)
}

/// One call's measurements; recorded when the response body ends or is dropped.
struct CallRecord {
    service: String,
    method: String,
    start: Instant,
    code: Option<tonic::Code>,
    done: bool,
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // A body dropped before its trailers means the client went away.
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        let labels = [
            ("grpc_service", self.service.clone()),
            ("grpc_method", self.method.clone()),
            ("grpc_code", format!("{code:?}")),
        ];
        metrics::counter!("grpc_server_handled_total", &labels).increment(1);
        metrics::histogram!("grpc_server_handling_seconds", &labels)
            .record(self.start.elapsed().as_secs_f64());
        metrics::gauge!("grpc_server_in_flight").decrement(1.0);
    }
}

pin_project_lite::pin_project! {
    /// The response body, watched for the `grpc-status` trailer.
    struct RedBody<B> {
        #[pin]
        inner: B,
        call: Option<CallRecord>,
    }
}

impl<B: HttpBody<Data = Bytes>> HttpBody for RedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(frame) = &polled {
            match frame {
                Some(Ok(frame)) => {
                    if let (Some(trailers), Some(call)) = (frame.trailers_ref(), this.call.as_mut())
                        && let Some(code) = grpc_status(trailers)
                    {
                        call.code = Some(code);
                    }
                }
                Some(Err(_)) => {
                    if let Some(call) = this.call.as_mut() {
                        call.code.get_or_insert(tonic::Code::Internal);
                    }
                    this.call.take();
                }
                None => {
                    if let Some(call) = this.call.as_mut() {
                        // A unary answer ends with trailers; a body that ends without any was a
                        // trailers-only response, whose status was read from the headers.
                        call.code.get_or_insert(tonic::Code::Ok);
                    }
                    this.call.take();
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caused_codes_are_not_logged_as_errors() {
        use tonic::Code;
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::Cancelled,
        ] {
            assert!(
                failure_level(code) >= tracing::Level::INFO,
                "{code:?} is the client's doing: at most INFO"
            );
        }
        for code in [
            Code::Internal,
            Code::Unknown,
            Code::DataLoss,
            Code::Unimplemented,
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
        ] {
            assert!(
                failure_level(code) <= tracing::Level::WARN,
                "{code:?} is the server's: WARN or ERROR"
            );
        }
        assert_eq!(failure_level(Code::Internal), tracing::Level::ERROR);
    }

    #[test]
    fn only_known_methods_get_labels_of_their_own() {
        assert_eq!(
            split_path("/medmesh.scheduling.v1.SchedulingService/BookAppointment"),
            (
                "medmesh.scheduling.v1.SchedulingService".to_string(),
                "BookAppointment".to_string()
            )
        );
        assert_eq!(
            split_path("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health".to_string(), "Check".to_string())
        );
        let unknown = ("unknown".to_string(), "unknown".to_string());
        assert_eq!(split_path("/"), unknown);
        assert_eq!(
            split_path("/medmesh.scheduling.v1.SchedulingService/DropTables"),
            unknown
        );
        // 10,000 random paths make one pair of labels.
        let labels: HashSet<_> = (0..10_000)
            .map(|i| split_path(&format!("/scan.{i}/x{i}")))
            .collect();
        assert_eq!(labels.len(), 1);
    }
}
