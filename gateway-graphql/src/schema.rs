//! The one GraphQL schema of the mesh.

use std::time::{Duration, Instant};

use async_graphql::{
    Context, Enum, MergedObject, Object, Schema, SchemaBuilder, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use futures::Stream;
use svc_kit::{ServiceName, config::GatewaySettings};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::{
    accounts::{AccountsMutation, AccountsQuery, PlatformTokens},
    clients::ServiceClients,
    input::INTERVAL_SECONDS,
    scheduling::{SchedulingMutation, SchedulingQuery},
};

pub type MeshSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query, from every part of the graph.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(HealthQuery, AccountsQuery, SchedulingQuery);

/// Every mutation.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(AccountsMutation, SchedulingMutation);

/// The caller's credentials as they reached the gateway, for forwarding to services.
#[derive(Clone, Default)]
pub struct RequestAuth {
    pub bearer: Option<String>,
}

impl std::fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        f.debug_struct("RequestAuth")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RequestAuth {
    pub fn from_headers(headers: &http::HeaderMap) -> RequestAuth {
        let bearer = svc_kit::auth::bearer_token(headers).map(str::to_string);
        RequestAuth { bearer }
    }
}

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
    async fn mesh_health(&self, ctx: &Context<'_>) -> MeshHealth {
        check_mesh(ctx.data_unchecked::<ServiceClients>()).await
    }

    /// The version of this gateway's build.
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
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

    /// A doctor's free slots between two instants, now and again every time a booking,
    /// cancellation, reschedule or expiring hold changes them.
    async fn doctor_availability(
        &self,
        ctx: &Context<'_>,
        doctor_id: async_graphql::ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> async_graphql::Result<
        impl Stream<Item = async_graphql::Result<crate::scheduling::FreeSlots>> + use<>,
    > {
        crate::scheduling::availability_stream(ctx, doctor_id, from, to).await
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

fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
}

/// The schema with its clients and its depth and complexity limits. `platform` is the
/// gateway's own client-credentials tokens, for the few calls made on the platform's behalf
/// (registration); without it those answer UNAVAILABLE.
pub fn build_schema(
    clients: ServiceClients,
    settings: &GatewaySettings,
    platform: Option<PlatformTokens>,
) -> MeshSchema {
    build_schema_with_feed(clients, settings, platform, None)
}

/// [`build_schema`], with the live availability feed that drives `doctorAvailability`
/// (without it, that subscription answers the current slots once and ends).
pub fn build_schema_with_feed(
    clients: ServiceClients,
    settings: &GatewaySettings,
    platform: Option<PlatformTokens>,
    feed: Option<crate::live::AvailabilityFeed>,
) -> MeshSchema {
    let mut builder = schema_builder();
    if let Some(platform) = platform {
        builder = builder.data(platform);
    }
    if let Some(feed) = feed {
        builder = builder.data(feed);
    }
    builder
        .data(clients)
        .extension(crate::access::AccessControl)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        .finish()
}

/// The SDL, as committed in `docs/schema.graphql`.
pub fn schema_sdl() -> String {
    schema_builder().finish().sdl()
}
