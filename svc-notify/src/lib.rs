//! svc-notify: templates, channels, preferences, reminders and delivery history.
//!
//! This crate serves the `medmesh.notify.v1` contract. Its operations arrive with the
//! notification issue; until then every RPC answers `UNIMPLEMENTED` while health, reflection,
//! metrics, the database and the outbox already run.

use medmesh_proto::notify::v1::notify_service_server::{NotifyService, NotifyServiceServer};
use svc_kit::{
    MeshService, ServiceContext, ServiceName, config::NoSection, db::Migration, grpc::GrpcServer,
    runtime::KitError,
};

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Notify;

impl MeshService for Notify {
    const NAME: ServiceName = ServiceName::Notify;
    const MIGRATIONS: &'static [Migration] = &[];

    type Config = NoSection;

    fn register(
        context: &ServiceContext,
        _config: &NoSection,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        Ok(
            server.add_service(context.require_auth(NotifyServiceServer::new(NotifyApi {
                _context: context.clone(),
            }))),
        )
    }
}

/// The tonic handlers.
#[derive(Debug)]
struct NotifyApi {
    _context: ServiceContext,
}

impl NotifyService for NotifyApi {}
