//! The scheduling client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> SchedulingServiceClient<Channel> {
    SchedulingServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Scheduling),
    )
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Scheduling, &status)
}
