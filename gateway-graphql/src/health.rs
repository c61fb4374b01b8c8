//! The mesh's health in the graph: every service asked over `grpc.health.v1`, once or as a
//! subscription. Public: it names services and their state, nothing about anyone.

use std::time::{Duration, Instant};

use async_graphql::{Context, Enum, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use svc_kit::ServiceName;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::{clients::ServiceClients, input::INTERVAL_SECONDS};

/// How a service answered its health check.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// The service answers and reports its API as serving.
    Serving,
    /// The service answers but reports NOT_SERVING (starting up or draining).
    NotServing,
    /// The service did not answer within the deadline.
    Unreachable,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ServiceHealth {
    /// The service's short name, e.g. "scheduling".
    pub name: String,
    pub status: HealthStatus,
    /// Round trip of the health check, in milliseconds.
    pub latency_ms: f64,
    /// The gRPC status code when the check failed, e.g. "Unavailable".
    pub error: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct MeshHealth {
    /// True when every service is serving.
    pub healthy: bool,
    pub services: Vec<ServiceHealth>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// The health of every service, each asked over grpc.health.v1 in parallel.
    // A call to every service: it costs a tenth of a request's complexity budget.
    #[graphql(complexity = "100 + child_complexity")]
    async fn mesh_health(&self, ctx: &Context<'_>) -> MeshHealth {
        check_mesh(ctx.data_unchecked::<ServiceClients>()).await
    }

    /// The version of this gateway's build.
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[derive(Debug, Default)]
pub struct HealthSubscription;

#[Subscription]
impl HealthSubscription {
    /// The mesh's health, now and then every `intervalSeconds`.
    async fn mesh_health(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5, validator(custom = "INTERVAL_SECONDS"))] interval_seconds: i32,
    ) -> impl Stream<Item = MeshHealth> + use<> {
        let clients = ctx.data_unchecked::<ServiceClients>().clone();
        let period = Duration::from_secs(interval_seconds as u64);
        futures::stream::unfold((clients, true), move |(clients, first)| async move {
            if !first {
                tokio::time::sleep(period).await;
            }
            let health = check_mesh(&clients).await;
            Some((health, (clients, false)))
        })
    }
}

async fn check_mesh(clients: &ServiceClients) -> MeshHealth {
    let checks = ServiceName::ALL.map(|service| async move {
        let start = Instant::now();
        let result = clients.health(service).await;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        let (status, error) = match result {
            Ok(ServingStatus::Serving) => (HealthStatus::Serving, None),
            Ok(_) => (HealthStatus::NotServing, None),
            Err(status) => (
                HealthStatus::Unreachable,
                Some(format!("{:?}", status.code())),
            ),
        };
        ServiceHealth {
            name: service.to_string(),
            status,
            latency_ms,
            error,
        }
    });
    let services = futures::future::join_all(checks).await;
    MeshHealth {
        healthy: services.iter().all(|s| s.status == HealthStatus::Serving),
        services,
        checked_at: Utc::now(),
    }
}
