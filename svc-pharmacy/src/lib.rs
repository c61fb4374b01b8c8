//! svc-pharmacy: pharmacies, the medication catalog, per-pharmacy stock, prescriptions and dispensing.
//!
//! This crate serves the `medmesh.pharmacy.v1` contract. Its operations arrive with the
//! pharmacy issue; until then every RPC answers `UNIMPLEMENTED` while health, reflection,
//! metrics, the database and the outbox already run.

use medmesh_proto::pharmacy::v1::pharmacy_service_server::{
    PharmacyService, PharmacyServiceServer,
};
use svc_kit::{
    MeshService, ServiceContext, ServiceName, config::NoSection, db::Migration, grpc::GrpcServer,
    runtime::KitError,
};

/// The service, as svc-kit starts it.
#[derive(Debug)]
pub struct Pharmacy;

impl MeshService for Pharmacy {
    const NAME: ServiceName = ServiceName::Pharmacy;
    const MIGRATIONS: &'static [Migration] = &[];

    type Config = NoSection;

    fn register(
        context: &ServiceContext,
        _config: &NoSection,
        server: GrpcServer,
    ) -> Result<GrpcServer, KitError> {
        Ok(server.add_service(
            context.require_auth(PharmacyServiceServer::new(PharmacyApi {
                _context: context.clone(),
            })),
        ))
    }
}

/// The tonic handlers.
#[derive(Debug)]
struct PharmacyApi {
    _context: ServiceContext,
}

impl PharmacyService for PharmacyApi {}
