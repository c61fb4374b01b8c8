//! svc-accounts: user profiles keyed by the OIDC subject, roles, staff affiliations,
//! registration, export and erase, and the audit trail of every change.
//!
//! Reads top-down: [`domain`] holds the rules (values, roles, who may do what) and no I/O;
//! `app` one function per use case (through svc-kit's write helper); [`store`] the SQL;
//! [`identity`] the identity provider's admin API; `api` the thin gRPC adapters; [`error`] the
//! service's one error type.

mod api;
mod app;
mod convert;
pub mod domain;
pub mod error;
pub mod identity;
mod input;
pub mod store;

use medmesh_proto::accounts::v1::accounts_service_server::AccountsServiceServer;
use svc_kit::{MeshService, ServiceContext, ServiceName, db::Migration, grpc::GrpcServer};

/// The confidential client svc-accounts acts as towards the identity provider.
pub const CLIENT_ID: &str = "svc-accounts";

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Accounts;

impl MeshService for Accounts {
    const NAME: ServiceName = ServiceName::Accounts;
    const MIGRATIONS: &'static [Migration] = store::MIGRATIONS;

    fn register(context: &ServiceContext, server: GrpcServer) -> GrpcServer {
        // Settings were validated before start: in production the secret is configured; in dev
        // it is the dev issuer's.
        let secret = context
            .settings
            .client_secret(
                context.settings.services.accounts.client_secret.as_ref(),
                "services.accounts.client_secret",
            )
            .expect("validated before start");
        let identity =
            identity::IdentityAdmin::for_issuer(context.auth.issuer(), CLIENT_ID, &secret)
                .expect("the issuer URL was validated before start");
        server.add_service(
            context.require_auth(AccountsServiceServer::new(api::AccountsApi {
                app: app::AccountsApp {
                    db: context.db.clone(),
                    outbox: context.outbox.clone(),
                    identity,
                },
            })),
        )
    }
}
