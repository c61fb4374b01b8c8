//! Requiring a valid bearer token on a gRPC service. Health and reflection stay open (probes
//! and tooling); every MedMesh API is wrapped in [`RequireAuth`]. Under mutual TLS a MedMesh
//! service's token must come with that service's certificate (`auth/peer.rs`).

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::{body::Body, server::NamedService};
use tower::Service;

use super::{Authenticator, Principal, peer};

/// Wraps a tonic service: calls without a valid token answer `UNAUTHENTICATED` and never reach
/// it; valid ones carry the caller's [`Principal`] in the request extensions. A MedMesh
/// service's token that comes with a client certificate not naming that service (`svc-notify`'s
/// certificate with `svc-scheduling`'s token) is refused too; people's and partners' tokens are
/// not bound to a certificate.
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

/// The bearer token a gRPC request came with (behind [`RequireAuth`] it has one; a request
/// without is unauthenticated).
pub fn request_token<T>(request: &tonic::Request<T>) -> Result<&str, crate::ApiError> {
    request
        .metadata()
        .get(http::header::AUTHORIZATION.as_str())
        .and_then(|v| v.to_str().ok())
        .and_then(parse_bearer)
        .ok_or(crate::ApiError::Unauthenticated)
}

/// The token of an `Authorization` value (`Bearer <token>`, scheme case-insensitive).
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// A token that cannot travel in a header (it holds a control character, say). The
/// token itself is not kept: it is never printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bearer token is not valid header text")]
pub struct InvalidBearer;

impl From<InvalidBearer> for tonic::Status {
    fn from(_: InvalidBearer) -> tonic::Status {
        tonic::Status::unauthenticated("malformed bearer token")
    }
}

/// `request` with `authorization: Bearer <token>`, the one way an outgoing call carries a
/// token (the caller's, forwarded, or a service's own).
pub fn with_bearer<T>(
    mut request: tonic::Request<T>,
    token: &str,
) -> Result<tonic::Request<T>, InvalidBearer> {
    let value = tonic::metadata::MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| InvalidBearer)?;
    request
        .metadata_mut()
        .insert(http::header::AUTHORIZATION.as_str(), value);
    Ok(request)
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
                    if let Some(expected) =
                        peer::service_name_the_certificate_lacks(&request, &principal)
                    {
                        // Most likely a leaked client secret, used with another certificate.
                        tracing::warn!(
                            client_id = %principal.client_id,
                            expected_name = expected,
                            "a service token came with another's client certificate"
                        );
                        return Ok(tonic::Status::unauthenticated(
                            "the client certificate does not belong to the token's service",
                        )
                        .into_http());
                    }
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
    use super::{InvalidBearer, parse_bearer, with_bearer};

    #[test]
    fn a_bearer_goes_on_the_request_and_a_bad_one_is_an_error() {
        let request = with_bearer(tonic::Request::new(()), "abc.def.ghi").unwrap();
        let value = request.metadata().get("authorization").unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer abc.def.ghi");
        assert_eq!(parse_bearer(value.to_str().unwrap()), Some("abc.def.ghi"));
        for bad in ["abc\ndef", "abc\u{7f}", "abc\rdef"] {
            assert_eq!(
                with_bearer(tonic::Request::new(()), bad).unwrap_err(),
                InvalidBearer,
                "{bad:?}"
            );
        }
        let status = tonic::Status::from(InvalidBearer);
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }

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
