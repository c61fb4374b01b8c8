//! The one GraphQL schema of the mesh, and the only place its parts meet: each service's part
//! of the graph (`accounts`, `scheduling`, `pharmacy`) and the mesh's health are merged into
//! the root types here, and the schema gets its clients, tokens, feed and limits.

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

use crate::{
    access::AccessControl,
    accounts::{AccountsMutation, AccountsQuery},
    clients::ServiceClients,
    config::GatewayConfig,
    context::PlatformTokens,
    health::{HealthQuery, HealthSubscription},
    pharmacy::{PharmacyMutation, PharmacyQuery},
    scheduling::{AvailabilityFeed, SchedulingMutation, SchedulingQuery, SchedulingSubscription},
};

pub type MeshSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query, from every part of the graph.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(HealthQuery, AccountsQuery, SchedulingQuery, PharmacyQuery);

/// Every mutation.
#[derive(MergedObject, Debug, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(AccountsMutation, SchedulingMutation, PharmacyMutation);

// Every subscription (no description: the committed SDL has none for this root).
#[derive(MergedSubscription, Debug, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(HealthSubscription, SchedulingSubscription);

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
    build_schema_with_feed(clients, settings, platform, None)
}

/// [`build_schema`], with the live availability feed that drives `doctorAvailability`
/// (without it, that subscription answers the current slots once and ends).
pub fn build_schema_with_feed(
    clients: ServiceClients,
    settings: &GatewayConfig,
    platform: Option<PlatformTokens>,
    feed: Option<AvailabilityFeed>,
) -> MeshSchema {
    let mut builder = schema_builder();
    if let Some(platform) = platform {
        builder = builder.data(platform);
    }
    if let Some(feed) = feed {
        builder = builder.data(feed);
    }
    if settings.introspection == Some(false) {
        // In production the schema is no map for whoever probes it.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
        .data(clients)
        .extension(AccessControl)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        .finish()
}

/// The SDL, as committed in `docs/schema.graphql`.
pub fn schema_sdl() -> String {
    schema_builder().finish().sdl()
}
