//! svc-accounts: user profiles keyed by the OIDC subject, roles, staff affiliations,
//! registration, export and erase.
//!
//! This crate serves the `medmesh.accounts.v1` contract. Its operations arrive with the
//! identity issue; until then every RPC answers `UNIMPLEMENTED` while health, reflection,
//! metrics, the database and the outbox already run.

use medmesh_proto::accounts::v1::accounts_service_server::{
    AccountsService, AccountsServiceServer,
};
use svc_kit::{MeshService, ServiceContext, ServiceName, db::Migration, grpc::GrpcServer};

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Accounts;

impl MeshService for Accounts {
    const NAME: ServiceName = ServiceName::Accounts;
    const MIGRATIONS: &'static [Migration] = &[];

    fn register(context: &ServiceContext, server: GrpcServer) -> GrpcServer {
        server.add_service(
            context.require_auth(AccountsServiceServer::new(AccountsApi {
                _context: context.clone(),
            })),
        )
    }
}

/// The tonic handlers.
#[derive(Debug)]
struct AccountsApi {
    _context: ServiceContext,
}

impl AccountsService for AccountsApi {}
