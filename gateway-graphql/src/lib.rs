//! The GraphQL edge of MedMesh: one async-graphql schema over every service's gRPC API,
//! served by axum with GraphiQL at `/`, queries at `POST /graphql` and subscriptions over
//! websocket at `/graphql/ws`.

pub mod access;
pub mod accounts;
pub mod clients;
pub mod config;
pub mod context;
mod convert;
mod document;
pub mod errors;
pub mod health;
pub mod input;
pub mod notify;
pub mod pharmacy;
pub mod proxies;
pub mod rates;
pub mod records;
pub mod scheduling;
pub mod schema;
pub mod server;
pub mod sessions;

pub use clients::ServiceClients;
pub use config::GatewayConfig;
pub use context::{PlatformTokens, RequestAuth};
pub use pharmacy::PrescriptionFeed;
pub use scheduling::AvailabilityFeed;
pub use schema::{LiveFeeds, MeshSchema, build_schema, build_schema_with_feeds, schema_sdl};
pub use server::GatewayServer;
