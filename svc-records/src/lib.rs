//! svc-records: the patient card, its encrypted entries and the hash-chained access log.
//!
//! This crate serves the `medmesh.records.v1` contract. Its operations arrive with the
//! records issue; until then every RPC answers `UNIMPLEMENTED` while health, reflection,
//! metrics, the database and the outbox already run.

use medmesh_proto::records::v1::records_service_server::{RecordsService, RecordsServiceServer};
use svc_kit::{
    MeshService, ServiceContext, ServiceName, config::NoSection, db::Migration, grpc::GrpcServer,
    runtime::KitError,
};

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Records;

impl MeshService for Records {
    const NAME: ServiceName = ServiceName::Records;
    const MIGRATIONS: &'static [Migration] = &[];

    type Config = NoSection;

    fn register(
        context: &ServiceContext,
        _config: &NoSection,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        Ok(
            server.add_service(context.require_auth(RecordsServiceServer::new(RecordsApi {
                _context: context.clone(),
            }))),
        )
    }
}

/// The tonic handlers.
#[derive(Debug)]
struct RecordsApi {
    _context: ServiceContext,
}

impl RecordsService for RecordsApi {}
