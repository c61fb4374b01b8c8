//! A gateway whose services never answer, for what it decides by itself (access, limits,
//! argument checks, tokens): its channels connect lazily, to a port nobody listens on.

#![allow(dead_code, unreachable_pub)]

use std::{sync::Arc, time::Duration};

use gateway_graphql::{GatewayConfig, GatewayServer, MeshSchema, ServiceClients};
use svc_kit::{ServiceName, Settings, auth::Authenticator};
use tokio_util::sync::CancellationToken;

/// The default settings and the gateway's section of them.
pub fn default_config() -> (Settings, GatewayConfig) {
    let settings = Settings::from_figment(Settings::figment(None)).unwrap();
    let config = settings.section::<GatewayConfig>().unwrap();
    (settings, config)
}

/// The schema over services that never answer.
pub fn offline_schema(config: &GatewayConfig) -> MeshSchema {
    let port = svc_kit::testing::free_port();
    let endpoints = ServiceName::ALL.map(|s| (s, format!("http://127.0.0.1:{port}")));
    let clients = ServiceClients::new(endpoints, config, &svc_kit::tls::Tls::none()).unwrap();
    gateway_graphql::build_schema(clients, config, None)
}

/// Binds `server` on a loopback port and serves it until `stop`; its `/graphql` URL.
pub fn serve(server: GatewayServer, stop: &CancellationToken) -> String {
    let url = format!("http://{}/graphql", server.local_addr());
    tokio::spawn(server.serve(stop.clone(), Duration::from_secs(1)));
    url
}

/// A gateway over `schema` that trusts tokens of `issuer`, serving until `stop`.
pub async fn start(
    settings: &Settings,
    schema: MeshSchema,
    issuer: String,
    stop: &CancellationToken,
) -> String {
    let auth = Arc::new(Authenticator::new(settings.auth.settings_for(issuer)));
    let server = GatewayServer::bind("127.0.0.1:0".parse().unwrap(), schema, auth)
        .await
        .unwrap();
    serve(server, stop)
}
