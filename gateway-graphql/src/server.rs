//! The gateway's HTTP server: GraphiQL at `/`, `POST /graphql`, websocket at `/graphql/ws`.
//! A bearer token, when present, is validated here before anything runs; a bad one is refused
//! with `UNAUTHENTICATED`. Which fields need which caller is `access::RULES`.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource},
};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Router,
    extract::{ConnectInfo, State, WebSocketUpgrade},
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use svc_kit::auth::{Authenticator, Principal, bearer_token, parse_bearer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::rates::{RateLimits, RateRules};
use crate::{
    accounts::ClientAddress,
    context::RequestAuth,
    errors::ErrorCode,
    proxies::TrustedProxies,
    rates::{Caller, SessionRates, over_rate},
    schema::MeshSchema,
};

pub const GRAPHQL_PATH: &str = "/graphql";
pub const SUBSCRIPTIONS_PATH: &str = "/graphql/ws";

/// A bound gateway; `serve` runs it until shutdown.
pub struct GatewayServer {
    listener: TcpListener,
    state: GatewayState,
}

/// What every request handler needs.
#[derive(Clone)]
struct GatewayState {
    schema: MeshSchema,
    auth: Arc<Authenticator>,
    /// The GraphiQL page, or none where introspection is off.
    playground: Option<Arc<String>>,
    limits: Limits,
    rates: Option<RateLimits>,
    /// Ends the sessions of deactivated and erased users.
    account_ends: Option<crate::sessions::AccountFeed>,
    /// Whose `X-Forwarded-For` names the caller.
    proxies: TrustedProxies,
}

/// How much one request may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body; a larger one is refused with 413 before it is read.
    pub max_body_bytes: usize,
    /// The largest websocket message or frame.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// The playground's demo sign-in (dev only): where to get tokens, and whom to offer.
#[derive(Debug, Clone)]
pub struct DevSignIn {
    pub token_url: String,
    pub users: Vec<String>,
}

impl std::fmt::Debug for GatewayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayServer")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl GatewayServer {
    pub async fn bind(
        addr: SocketAddr,
        schema: MeshSchema,
        auth: Arc<Authenticator>,
    ) -> std::io::Result<GatewayServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(GatewayServer {
            listener,
            state: GatewayState {
                schema,
                auth,
                playground: Some(Arc::new(playground(None))),
                limits: Limits::default(),
                rates: None,
                account_ends: None,
                proxies: TrustedProxies::default(),
            },
        })
    }

    /// How much one request may send (1 MiB bodies and messages unless set).
    pub fn with_limits(mut self, limits: Limits) -> GatewayServer {
        self.state.limits = limits;
        self
    }

    /// Limits each caller's requests to `rates` (none unless set).
    pub fn with_rate_limits(mut self, rates: RateLimits) -> GatewayServer {
        self.state.rates = Some(rates);
        self
    }

    /// Believes `proxies`' `X-Forwarded-For` about who called (nobody's unless set).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> GatewayServer {
        self.state.proxies = proxies;
        self
    }

    /// Closes the websocket sessions of users `feed` says were deactivated or erased.
    pub fn with_account_feed(mut self, feed: crate::sessions::AccountFeed) -> GatewayServer {
        self.state.account_ends = Some(feed);
        self
    }

    /// Adds a demo-user picker to the playground that signs in at a development issuer.
    pub fn with_dev_sign_in(mut self, sign_in: &DevSignIn) -> GatewayServer {
        if self.state.playground.is_some() {
            self.state.playground = Some(Arc::new(playground(Some(sign_in))));
        }
        self
    }

    /// No GraphiQL page (production, where introspection is off too): `GET /` is 404.
    pub fn without_playground(mut self) -> GatewayServer {
        self.state.playground = None;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown`, then lets open requests finish for at most `grace`
    /// (long-lived subscriptions are cut after it).
    pub async fn serve(self, shutdown: CancellationToken, grace: Duration) -> std::io::Result<()> {
        let app = router(self.state);
        let signal = shutdown.clone();
        let server = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { signal.cancelled().await });
        tokio::select! {
            result = server => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => Ok(()),
        }
    }
}

fn router(state: GatewayState) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(graphiql))
        .route(GRAPHQL_PATH, get(graphiql).post(graphql))
        .route(SUBSCRIPTIONS_PATH, get(subscriptions))
        .with_state(state)
        // A body over the limit is refused with 413 before it is read (the GraphQL extractor
        // would otherwise read all of it).
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
}

async fn graphiql(State(state): State<GatewayState>) -> Response {
    match &state.playground {
        Some(page) => Html(page.as_ref().clone()).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// GraphiQL; with `sign_in`, a script that runs before GraphiQL's own adds the demo-user
/// picker and puts the chosen user's token on every request.
fn playground(sign_in: Option<&DevSignIn>) -> String {
    let page = GraphiQLSource::build()
        .endpoint(GRAPHQL_PATH)
        .subscription_endpoint(SUBSCRIPTIONS_PATH)
        .title("MedMesh GraphQL")
        .finish();
    let Some(sign_in) = sign_in else {
        return page;
    };
    let script = include_str!("assets/dev-sign-in.html")
        .replace("__TOKEN_URL__", &sign_in.token_url)
        .replace(
            "__USERS__",
            &serde_json::to_string(&sign_in.users).unwrap_or_else(|_| "[]".into()),
        )
        .replace("__GRAPHQL_PATH__", GRAPHQL_PATH);
    page.replacen("<head>", &format!("<head>\n{script}"), 1)
}

/// The GraphQL answer to a refused token; nothing was executed.
fn unauthenticated() -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new("invalid or expired token", None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", ErrorCode::Unauthenticated.as_str());
    extensions.set("service", "gateway");
    async_graphql::Response::from_errors(vec![error])
}

/// The caller: none without a token, `Err` for a token that is refused.
async fn principal(auth: &Authenticator, token: Option<&str>) -> Result<Option<Principal>, ()> {
    match token {
        None => Ok(None),
        Some(token) => auth.authenticate(token).await.map(Some).map_err(|reason| {
            // The reason is for operators; the client only learns it was refused.
            tracing::info!(%reason, "bearer token refused at the gateway");
        }),
    }
}

async fn graphql(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let start = Instant::now();
    let peer = state.proxies.caller(peer, &headers);
    let mut request = request
        .into_inner()
        .data(RequestAuth::from_headers(&headers))
        .data(ClientAddress(peer.ip()));
    let caller = match principal(&state.auth, bearer_token(&headers)).await {
        Ok(Some(principal)) => {
            let caller = format!("sub:{}", principal.subject);
            request = request.data(principal);
            Some(caller)
        }
        Ok(None) => None,
        Err(()) => return GraphQLResponse::from(unauthenticated()).into_response(),
    };
    if let Some(rates) = &state.rates
        && let Some(refusal) = rate_limited(rates, caller, peer, &mut request).await
    {
        return refusal;
    }
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        stamp_error_code(error);
    }
    let outcome = if response.is_ok() { "ok" } else { "error" };
    metrics::histogram!("graphql_request_duration_seconds", "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    GraphQLResponse::from(response).into_response()
}

/// The 429 answer when the request is over one of the caller's rates, before anything runs.
async fn rate_limited(
    rates: &RateLimits,
    subject: Option<String>,
    peer: SocketAddr,
    request: &mut async_graphql::Request,
) -> Option<Response> {
    let caller = Caller::new(subject, peer);
    let error = over_rate(rates, &caller, request).await?;
    let seconds = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("retryAfterSeconds"))
        .and_then(|v| match v {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .unwrap_or(1);
    let body = async_graphql::Response::from_errors(vec![error]);
    let mut response = GraphQLResponse::from(body).into_response();
    *response.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    );
    Some(response)
}

/// Subscriptions over websocket. Browsers cannot set headers on a websocket, so the token
/// travels in `connection_init`'s payload: `{"Authorization": "Bearer <token>"}`.
async fn subscriptions(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let peer = state.proxies.caller(peer, &headers);
    let max_message = state.limits.max_message_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            let auth = state.auth.clone();
            let rates = state.rates.clone();
            // Whose session this is, once `connection_init` has brought a token; and the
            // accounts that end from now on.
            let (owner_tx, owner_rx) = tokio::sync::watch::channel(None::<Owner>);
            let ends = state.account_ends.as_ref().map(|feed| feed.subscribe());
            let (mut sink, stream) = futures::StreamExt::split(socket);
            let session =
                GraphQLWebSocket::new_with_pair(&mut sink, stream, state.schema, protocol)
                    .on_connection_init(move |payload| async move {
                        let header = payload
                            .get("Authorization")
                            .or_else(|| payload.get("authorization"))
                            .and_then(|v| v.as_str())
                            .map(str::to_string);
                        let token = header.as_deref().and_then(parse_bearer);
                        let mut data = Data::default();
                        data.insert(crate::sessions::ConnectionLoad::default());
                        data.insert(ClientAddress(peer.ip()));
                        data.insert(RequestAuth {
                            bearer: token.map(str::to_string),
                        });
                        let signed_in = principal(&auth, token).await;
                        if let (Some(rates), Ok(who)) = (rates, &signed_in) {
                            // Every operation over the socket is charged as over HTTP.
                            let subject = who.as_ref().map(|p| format!("sub:{}", p.subject));
                            data.insert(SessionRates {
                                rates,
                                caller: Caller::new(subject, peer),
                            });
                        }
                        match signed_in {
                            Ok(Some(principal)) => {
                                owner_tx.send_replace(Some(Owner {
                                    subject: principal.subject.clone(),
                                    expires_at: principal.expires_at,
                                }));
                                data.insert(principal);
                            }
                            Ok(None) => {}
                            Err(()) => {
                                return Err(async_graphql::Error::new("invalid or expired token"));
                            }
                        }
                        Ok(data)
                    })
                    .serve();
            let ended = tokio::select! {
                () = session => None,
                end = session_end(owner_rx, ends) => Some(end),
            };
            if let Some((code, reason)) = ended {
                // The session's subscriptions ran on the token's authority, which has ended:
                // at its expiry the client reconnects with a fresh token (4401, as graphql-ws
                // closes for auth); a deactivated account gets none (4403).
                let close = axum::extract::ws::CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = futures::SinkExt::send(
                    &mut sink,
                    axum::extract::ws::Message::Close(Some(close)),
                )
                .await;
            }
        })
        .into_response()
}

/// Who opened a websocket session, and until when their token is good.
#[derive(Debug, Clone)]
struct Owner {
    subject: String,
    expires_at: Option<i64>,
}

/// Resolves, with the close code and reason, when the session's token expires or its user's
/// account ends; never for a session without a token.
async fn session_end(
    mut owner: tokio::sync::watch::Receiver<Option<Owner>>,
    ends: Option<tokio::sync::broadcast::Receiver<String>>,
) -> (u16, &'static str) {
    let owner = owner
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|o| o.clone());
    let Some(owner) = owner else {
        // No token, so nothing ends.
        return std::future::pending().await;
    };
    let expiry = async {
        match owner.expires_at {
            Some(at) => {
                let left = at.saturating_sub(chrono::Utc::now().timestamp()).max(0);
                tokio::time::sleep(Duration::from_secs(left as u64)).await;
            }
            None => std::future::pending().await,
        }
    };
    let deactivation = async {
        let Some(mut ends) = ends else {
            return std::future::pending().await;
        };
        loop {
            match ends.recv().await {
                Ok(subject) if subject == owner.subject => return (4403, "account deactivated"),
                Ok(_) => {}
                // Some ends were missed, perhaps this user's: the client signs in again.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    return (4401, "sign in again");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return std::future::pending().await;
                }
            }
        }
    };
    tokio::select! {
        () = expiry => (4401, "token expired"),
        end = deactivation => end,
    }
}

/// Errors raised by the gateway itself (parse, validation, depth and complexity limits) get a
/// code too: with no path they concern the request as a whole, so the client's input is at
/// fault; so is an argument value the schema could not read (a malformed `DateTime` in the
/// variables, say), which keeps its message. Otherwise, with a path and no code, something
/// inside failed, and its details stay inside. The gateway's own argument checks
/// (`crate::input`) carry their code already.
fn stamp_error_code(error: &mut async_graphql::ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.path.is_empty() || is_input_value_error(&error.message) {
        ErrorCode::BadUserInput
    } else {
        error.message = "internal error".to_string();
        ErrorCode::Internal
    };
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code.as_str());
    extensions.set("service", "gateway");
}

/// Whether `message` is one async-graphql writes when an argument's value does not parse as
/// its type (`async_graphql::InputValueError`); resolvers' own errors always carry a code.
fn is_input_value_error(message: &str) -> bool {
    message.starts_with("Failed to parse \"") || message.starts_with("Expected input type \"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(message: &str, path: bool) -> (String, serde_json::Value) {
        let mut error = async_graphql::ServerError::new(message, None);
        if path {
            error.path = vec![async_graphql::PathSegment::Field("doctors".into())];
        }
        stamp_error_code(&mut error);
        let ext = serde_json::to_value(&error.extensions).unwrap_or_default();
        (error.message, ext["code"].clone())
    }

    #[test]
    fn an_unreadable_argument_is_bad_input_and_anything_else_inside_is_internal() {
        let bad_date = r#"Failed to parse "DateTime": input contains invalid characters"#;
        assert_eq!(
            stamped(bad_date, true),
            (bad_date.to_string(), "BAD_USER_INPUT".into())
        );
        assert_eq!(
            stamped("connection refused to 10.0.0.7", true),
            ("internal error".to_string(), "INTERNAL".into())
        );
        assert_eq!(
            stamped("Unknown field \"nope\"", false).1,
            serde_json::Value::from("BAD_USER_INPUT")
        );
    }
}
