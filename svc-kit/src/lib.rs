//! What every MedMesh service is built from. A service crate brings its domain, its store
//! (migrations) and its tonic API; everything around them — configuration, telemetry, the
//! admin port, the gRPC server, database, cache, events and shutdown — comes from here, the
//! same way for every service.

pub mod admin;
pub mod api_error;
pub mod auth;
pub mod cache;
pub mod care;
pub mod config;
pub mod db;
pub mod erasures;
pub mod error;
pub mod events;
pub mod grpc;
pub mod idempotency;
pub mod input;
pub mod paging;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod people;
pub mod runtime;
#[cfg(feature = "seal")]
pub mod seal;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
pub mod tls;
pub mod write;

pub use api_error::ApiError;
// For `kit_errors!`, so services name one sea-orm.
pub use config::{ServiceName, Settings};
pub use runtime::{EventBus, MeshService, ServiceContext, StartedService};
#[doc(hidden)]
pub use sea_orm;

/// The tables svc-kit itself keeps in every service database (component `svc-kit`).
pub const KIT_MIGRATIONS: &[db::Migration] = &[
    events::MIGRATION,
    idempotency::MIGRATION,
    events::DEAD_LETTERS_MIGRATION,
];
