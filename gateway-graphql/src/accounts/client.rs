//! The accounts client of a request, and its errors as the graph answers them.

use async_graphql::Context;
use medmesh_proto::accounts::v1::accounts_service_client::AccountsServiceClient;
use svc_kit::ServiceName;
use tonic::transport::Channel;

use crate::{clients::ServiceClients, errors::upstream_error};

pub(super) fn client(ctx: &Context<'_>) -> AccountsServiceClient<Channel> {
    AccountsServiceClient::new(
        ctx.data_unchecked::<ServiceClients>()
            .channel(ServiceName::Accounts),
    )
}

pub(super) fn upstream(status: tonic::Status) -> async_graphql::Error {
    upstream_error(ServiceName::Accounts, &status)
}
