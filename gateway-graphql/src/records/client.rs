//! The records client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::records::v1::records_service_client::RecordsServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> RecordsServiceClient<Channel> {
    RecordsServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Records),
    )
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Records, &status)
}
