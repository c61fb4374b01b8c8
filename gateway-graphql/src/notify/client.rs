//! The notify client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::notify::v1::notify_service_client::NotifyServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> NotifyServiceClient<Channel> {
    NotifyServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Notify),
    )
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Notify, &status)
}
