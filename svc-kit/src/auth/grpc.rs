//! Requiring a valid bearer token on a gRPC service. Health and reflection stay open (probes
//! and tooling); every MedMesh API is wrapped in [`RequireAuth`].

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::{body::Body, server::NamedService};
use tower::Service;

use super::{Authenticator, Principal};

/// Wraps a tonic service: calls without a valid token answer `UNAUTHENTICATED` and never reach
/// it; valid ones carry the caller's [`Principal`] in the request extensions.
#[derive(Clone)]
pub struct RequireAuth<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S> std::fmt::Debug for RequireAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireAuth").finish_non_exhaustive()
    }
}

impl<S> RequireAuth<S> {
    pub fn new(inner: S, auth: Arc<Authenticator>) -> RequireAuth<S> {
        RequireAuth { inner, auth }
    }
}

impl<S: NamedService> NamedService for RequireAuth<S> {
    const NAME: &'static str = S::NAME;
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    parse_bearer(headers.get(http::header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value (`Bearer <token>`, scheme case-insensitive).
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl<S> Service<Request<Body>> for RequireAuth<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone is the ready one's twin; swap so the polled-ready instance is used.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let Some(token) = bearer_token(request.headers()) else {
                return Ok(tonic::Status::unauthenticated("a bearer token is required").into_http());
            };
            match auth.authenticate(token).await {
                Ok(principal) => {
                    request.extensions_mut().insert::<Principal>(principal);
                    inner.call(request).await
                }
                Err(reason) => {
                    // The reason is for operators; the client learns only that it was refused.
                    tracing::info!(%reason, "bearer token refused");
                    Ok(tonic::Status::unauthenticated("invalid bearer token").into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bearer;

    #[test]
    fn bearer_values_parse_the_same_everywhere() {
        assert_eq!(parse_bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(
            parse_bearer("bearer abc"),
            Some("abc"),
            "the scheme is case-insensitive"
        );
        assert_eq!(parse_bearer("Bearer "), None, "an empty token is no token");
        assert_eq!(parse_bearer("Basic dXNlcjpwdw=="), None);
        assert_eq!(parse_bearer("abc"), None);
    }
}
