//! The pharmacy client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::pharmacy::v1::pharmacy_service_client::PharmacyServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> PharmacyServiceClient<Channel> {
    client_of(ctx.data_unchecked::<ServiceClients>())
}

/// The client outside a request context (a subscription's later reads).
pub(super) fn client_of(clients: &ServiceClients) -> PharmacyServiceClient<Channel> {
    PharmacyServiceClient::new(clients.channel(ServiceName::Pharmacy))
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Pharmacy, &status)
}
