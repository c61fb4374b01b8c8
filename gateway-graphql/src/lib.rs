//! The GraphQL edge of MedMesh: one async-graphql schema over every service's gRPC API,
//! served by axum with GraphiQL at `/`, queries at `POST /graphql` and subscriptions over
//! websocket at `/graphql/ws`.

pub mod access;
pub mod accounts;
pub mod clients;
pub mod errors;
pub mod input;
pub mod live;
pub mod scheduling;
pub mod schema;
pub mod server;

pub use clients::ServiceClients;
pub use schema::{MeshSchema, build_schema, schema_sdl};
pub use server::GatewayServer;
