//! The gateway's HTTP server: GraphiQL at `/`, `POST /graphql`, websocket at `/graphql/ws`.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::{Router, extract::State, http::HeaderMap, response::Html, routing::get};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    errors::ErrorCode,
    schema::{MeshSchema, RequestAuth},
};

pub const GRAPHQL_PATH: &str = "/graphql";
pub const SUBSCRIPTIONS_PATH: &str = "/graphql/ws";

/// A bound gateway; `serve` runs it until shutdown.
pub struct GatewayServer {
    listener: TcpListener,
    schema: MeshSchema,
}

impl std::fmt::Debug for GatewayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayServer")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl GatewayServer {
    pub async fn bind(addr: SocketAddr, schema: MeshSchema) -> std::io::Result<GatewayServer> {
        Ok(GatewayServer {
            listener: TcpListener::bind(addr).await?,
            schema,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown`, then lets open requests finish for at most `grace`
    /// (long-lived subscriptions are cut after it).
    pub async fn serve(self, shutdown: CancellationToken, grace: Duration) -> std::io::Result<()> {
        let app = router(self.schema);
        let signal = shutdown.clone();
        let server = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { signal.cancelled().await });
        tokio::select! {
            result = server => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => Ok(()),
        }
    }
}

pub fn router(schema: MeshSchema) -> Router {
    Router::new()
        .route("/", get(graphiql))
        .route(GRAPHQL_PATH, get(graphiql).post(graphql))
        .route_service(SUBSCRIPTIONS_PATH, GraphQLSubscription::new(schema.clone()))
        .with_state(schema)
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint(GRAPHQL_PATH)
            .subscription_endpoint(SUBSCRIPTIONS_PATH)
            .title("MedMesh GraphQL")
            .finish(),
    )
}

async fn graphql(
    State(schema): State<MeshSchema>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let start = Instant::now();
    let request = request
        .into_inner()
        .data(RequestAuth::from_headers(&headers));
    let mut response = schema.execute(request).await;
    for error in &mut response.errors {
        stamp_error_code(error);
    }
    let outcome = if response.is_ok() { "ok" } else { "error" };
    metrics::histogram!("graphql_request_duration_seconds", "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    response.into()
}

/// Errors raised by the gateway itself (parse, validation, depth and complexity limits) get a
/// code too: with no path they concern the request as a whole, so the client's input is at
/// fault; with a path and no code, something inside failed, and its details stay inside.
fn stamp_error_code(error: &mut async_graphql::ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.path.is_empty() {
        ErrorCode::BadUserInput
    } else {
        error.message = "internal error".to_string();
        ErrorCode::Internal
    };
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code.as_str());
    extensions.set("service", "gateway");
}
