//! svc-scheduling: clinics, cabinets, the doctor directory, schedules, free slots, holds, appointments and waitlists.
//!
//! This crate serves the `medmesh.scheduling.v1` contract. Its operations arrive with the
//! scheduling issue; until then every RPC answers `UNIMPLEMENTED` while health, reflection,
//! metrics, the database and the outbox already run.

use medmesh_proto::scheduling::v1::scheduling_service_server::{
    SchedulingService, SchedulingServiceServer,
};
use svc_kit::{MeshService, ServiceContext, ServiceName, db::Migration, grpc::GrpcServer};

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Scheduling;

impl MeshService for Scheduling {
    const NAME: ServiceName = ServiceName::Scheduling;
    const MIGRATIONS: &'static [Migration] = &[];

    fn register(context: &ServiceContext, server: GrpcServer) -> GrpcServer {
        server.add_service(
            context.require_auth(SchedulingServiceServer::new(SchedulingApi {
                _context: context.clone(),
            })),
        )
    }
}

/// The tonic handlers.
#[derive(Debug)]
struct SchedulingApi {
    _context: ServiceContext,
}

impl SchedulingService for SchedulingApi {}
