//! The admin HTTP port of a process: `/metrics`, `/live` (the process answers) and `/ready`
//! (every dependency it registered answers, and it is not shutting down).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::BoxFuture;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::telemetry::metrics_handle;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

type CheckFn = dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync;
/// (name, check, whether a failure makes the process unready)
type Checks = Arc<std::sync::Mutex<Vec<(String, Arc<CheckFn>, bool)>>>;

/// Named readiness checks, shared between the services of one process.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Checks,
    draining: Arc<AtomicBool>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .checks
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _, _)| n.clone())
            .collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    /// A check the process cannot serve without (its database): a failure answers 503.
    pub fn add<F>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.checks
            .lock()
            .unwrap()
            .push((name.into(), Arc::new(check), true));
    }

    /// A check of something the process serves without, only slower or later (the cache):
    /// reported by `/ready`, never failing it, so an outage of it takes no replica out of
    /// service — every replica would fail it at once.
    pub fn add_advisory<F>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.checks
            .lock()
            .unwrap()
            .push((name.into(), Arc::new(check), false));
    }

    /// Marks the process as going away: `/ready` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Runs every check concurrently, each bounded by a timeout.
    pub async fn report(&self) -> (bool, BTreeMap<String, String>) {
        let checks: Vec<_> = self.checks.lock().unwrap().clone();
        let results = futures::future::join_all(checks.into_iter().map(
            |(name, check, required)| async move {
                let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err("timed out".to_string()),
                };
                (name, outcome, required)
            },
        ))
        .await;
        let mut ready = !self.draining.load(Ordering::SeqCst);
        let mut report = BTreeMap::new();
        for (name, outcome, required) in results {
            match outcome {
                Ok(()) => report.insert(name, "ok".to_string()),
                Err(e) => {
                    ready &= !required;
                    report.insert(name, e)
                }
            };
        }
        (ready, report)
    }
}

/// A bound admin listener; `serve` runs it until `shutdown` is cancelled.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    readiness: Readiness,
}

impl AdminServer {
    pub async fn bind(addr: SocketAddr, readiness: Readiness) -> std::io::Result<AdminServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(AdminServer {
            listener,
            readiness,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let app = router(self.readiness);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

pub fn router(readiness: Readiness) -> Router {
    let handle = metrics_handle();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                }
            }),
        )
        .route("/live", get(|| async { Json(json!({ "status": "live" })) }))
        .route("/ready", get(ready))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ok, checks) = readiness.report().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": if ok { "ready" } else { "not_ready" }, "checks": checks });
    (status, Json(body))
}
