//! The one GraphQL schema of the mesh, and the only place its parts meet: each service's part
//! of the graph (`accounts`, `scheduling`, `pharmacy`, `records`, `notify`) and the mesh's
//! health are merged into the root types here, and the schema gets its clients, tokens, feeds
//! and limits.

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};
use svc_kit::{ServiceName, events::EventSource};
use tokio_util::sync::CancellationToken;

use crate::{
    access::AccessControl,
    accounts::{AccountsMutation, AccountsQuery},
    clients::ServiceClients,
    config::GatewayConfig,
    context::PlatformTokens,
    health::{HealthQuery, HealthSubscription},
    notify::{NotifyMutation, NotifyQuery},
    pharmacy::{PharmacyMutation, PharmacyQuery, PharmacySubscription, PrescriptionFeed},
    records::{RecordsMutation, RecordsQuery},
    scheduling::{AvailabilityFeed, SchedulingMutation, SchedulingQuery, SchedulingSubscription},
};

pub type MeshSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query, from every part of the graph.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    HealthQuery,
    AccountsQuery,
    SchedulingQuery,
    PharmacyQuery,
    RecordsQuery,
    NotifyQuery,
);

/// Every mutation.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    AccountsMutation,
    SchedulingMutation,
    PharmacyMutation,
    RecordsMutation,
    NotifyMutation,
);

// Every subscription (no description: the committed SDL has none for this root).
#[derive(MergedSubscription, Debug, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    HealthSubscription,
    SchedulingSubscription,
    PharmacySubscription,
);

/// The event feeds behind the live subscriptions. Without one, its subscription answers the
/// current state once and ends.
#[derive(Debug, Clone, Default)]
pub struct LiveFeeds {
    /// Drives `doctorAvailability` (and keeps the gateway's free-slot answers honest).
    pub availability: Option<AvailabilityFeed>,
    /// Drives `prescriptionStatus`.
    pub prescriptions: Option<PrescriptionFeed>,
    /// Ends the websocket sessions of deactivated and erased users.
    pub accounts: Option<crate::sessions::AccountFeed>,
}

impl LiveFeeds {
    /// Every feed, following its service's topic (`<prefix>.<service>.v1`) on `source` until
    /// `shutdown`.
    pub fn start(
        source: &EventSource,
        topic_prefix: &str,
        shutdown: &CancellationToken,
    ) -> LiveFeeds {
        let topic = |service| svc_kit::events::topic_for(topic_prefix, service);
        LiveFeeds {
            availability: Some(AvailabilityFeed::start(
                source.clone(),
                topic(ServiceName::Scheduling),
                shutdown.clone(),
            )),
            prescriptions: Some(PrescriptionFeed::start(
                source.clone(),
                topic(ServiceName::Pharmacy),
                shutdown.clone(),
            )),
            accounts: Some(crate::sessions::AccountFeed::start(
                source.clone(),
                topic(ServiceName::Accounts),
                shutdown.clone(),
            )),
        }
    }
}

fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

/// The schema with its clients and its depth and complexity limits. `platform` is the
/// gateway's own client-credentials tokens, for the few calls made on the platform's behalf
/// (registration); without it those answer UNAVAILABLE.
pub fn build_schema(
    clients: ServiceClients,
    settings: &GatewayConfig,
    platform: Option<PlatformTokens>,
) -> MeshSchema {
    build_schema_with_feeds(clients, settings, platform, LiveFeeds::default())
}

/// [`build_schema`], with the event feeds that drive the live subscriptions.
pub fn build_schema_with_feeds(
    clients: ServiceClients,
    settings: &GatewayConfig,
    platform: Option<PlatformTokens>,
    feeds: LiveFeeds,
) -> MeshSchema {
    let mut builder = schema_builder();
    if let Some(platform) = platform {
        builder = builder.data(platform);
    }
    if let Some(feed) = feeds.availability {
        builder = builder.data(feed);
    }
    if let Some(feed) = feeds.prescriptions {
        builder = builder.data(feed);
    }
    if settings.introspection == Some(false) {
        // In production the schema is no map for whoever probes it.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
        .data(clients)
        .extension(AccessControl)
        .extension(crate::sessions::SubscriptionCaps::new(
            settings.max_subscriptions_per_connection,
            settings.max_subscriptions_per_subject,
        ))
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        .finish()
}

/// The SDL, as committed in `docs/schema.graphql`.
pub fn schema_sdl() -> String {
    schema_builder().finish().sdl()
}
