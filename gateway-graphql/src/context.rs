//! What a request carries for the calls it makes: the caller's token as it reached the
//! gateway, and the gateway's own client-credentials tokens for calls made on the platform's
//! behalf. Every outgoing call gets its token here.

use std::sync::Arc;

use async_graphql::{Context, Result};
use secrecy::ExposeSecret;
use svc_kit::auth::{ServiceTokens, with_bearer};

use crate::errors::{ErrorCode, gateway_error};

/// The caller's credentials as they reached the gateway, for forwarding to services.
#[derive(Clone, Default)]
pub struct RequestAuth {
    pub bearer: Option<String>,
}

impl std::fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        f.debug_struct("RequestAuth")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RequestAuth {
    pub fn from_headers(headers: &http::HeaderMap) -> RequestAuth {
        let bearer = svc_kit::auth::bearer_token(headers).map(str::to_string);
        RequestAuth { bearer }
    }
}

/// The gateway's own client-credentials tokens, for calls made on the platform's behalf.
#[derive(Debug, Clone)]
pub struct PlatformTokens(pub Arc<ServiceTokens>);

impl PlatformTokens {
    /// A current token, or `None` when the identity provider cannot issue one now.
    pub(crate) async fn current(&self) -> Option<String> {
        match self.0.token().await {
            Ok(token) => Some(token.expose_secret().to_string()),
            Err(error) => {
                tracing::warn!(%error, "no platform token");
                None
            }
        }
    }
}

pub(crate) fn unauthenticated() -> async_graphql::Error {
    gateway_error(ErrorCode::Unauthenticated, "sign in first")
}

/// The caller's bearer token, if the request had one.
pub(crate) fn caller_token(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<RequestAuth>().and_then(|a| a.bearer.clone())
}

/// `message` with the caller's bearer token.
pub(crate) fn as_caller<T>(ctx: &Context<'_>, message: T) -> Result<tonic::Request<T>> {
    let bearer = ctx
        .data_opt::<RequestAuth>()
        .and_then(|a| a.bearer.as_deref())
        .ok_or_else(unauthenticated)?;
    with_bearer(tonic::Request::new(message), bearer).map_err(|_| unauthenticated())
}

/// `message` with `token` (outside a request context, e.g. a subscription's later reads).
pub(crate) fn with_token<T>(message: T, token: &str) -> Result<tonic::Request<T>> {
    with_bearer(tonic::Request::new(message), token).map_err(|_| unauthenticated())
}

/// `message` with the gateway's own token; `what` names the feature that needs it, for the
/// UNAVAILABLE answer when there is none.
pub(crate) async fn as_platform<T>(
    ctx: &Context<'_>,
    what: &str,
    message: T,
) -> Result<tonic::Request<T>> {
    let unavailable = || gateway_error(ErrorCode::Unavailable, format!("{what} is unavailable"));
    let tokens = ctx.data_opt::<PlatformTokens>().ok_or_else(unavailable)?;
    let token = tokens.current().await.ok_or_else(unavailable)?;
    with_bearer(tonic::Request::new(message), &token).map_err(|_| unavailable())
}
