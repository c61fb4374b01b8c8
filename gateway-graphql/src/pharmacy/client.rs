//! The pharmacy client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::pharmacy::v1::pharmacy_service_client::PharmacyServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> PharmacyServiceClient<Channel> {
    PharmacyServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Pharmacy),
    )
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Pharmacy, &status)
}
