//! Tokens for calls a service makes on the platform's own behalf: OAuth 2.0 client
//! credentials against the issuer's token endpoint (the `oauth2` crate), cached until shortly
//! before they expire.

use std::time::{Duration, Instant};

use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenResponse, TokenUrl,
    basic::BasicClient,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

type CredentialsClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    #[error("invalid token endpoint URL: {0}")]
    Url(String),
    #[error("the issuer refused or did not answer the client-credentials request: {0}")]
    Request(String),
}

/// One client's tokens. Share it: concurrent callers wait for one fetch, not one each.
pub struct ServiceTokens {
    client: CredentialsClient,
    http: reqwest::Client,
    /// A token is renewed when less than this is left of its life.
    refresh_margin: Duration,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTokens")
            .field("client_id", self.client.client_id())
            .finish_non_exhaustive()
    }
}

impl ServiceTokens {
    /// `token_url` is the issuer's token endpoint, e.g.
    /// `https://sso.example.org/realms/medmesh/protocol/openid-connect/token`.
    pub fn new(
        token_url: &str,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<ServiceTokens, ServiceTokenError> {
        let token_url = TokenUrl::new(token_url.to_string())
            .map_err(|e| ServiceTokenError::Url(e.to_string()))?;
        let client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let http = crate::tls::http_client()
            // The token endpoint must answer itself; following redirects could leak the secret.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client builds");
        Ok(ServiceTokens {
            client,
            http,
            refresh_margin: Duration::from_secs(30),
            cached: Mutex::new(None),
        })
    }

    /// Renews tokens when less than `margin` of their life is left (default 30 s).
    pub fn with_refresh_margin(mut self, margin: Duration) -> ServiceTokens {
        self.refresh_margin = margin;
        self
    }

    /// A valid access token, fetched only when the cached one is about to expire.
    pub async fn token(&self) -> Result<SecretString, ServiceTokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let response = self
            .client
            .exchange_client_credentials()
            .request_async(&self.http)
            .await
            .map_err(|e| ServiceTokenError::Request(e.to_string()))?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(60));
        let token = SecretString::from(response.access_token().secret().to_string());
        // Never keep a token past half its life when the margin would exceed it.
        let keep = lifetime.saturating_sub(self.refresh_margin.min(lifetime / 2));
        *cached = Some((token.clone(), Instant::now() + keep));
        tracing::debug!(client_id = %self.client.client_id().as_str(), lifetime_secs = lifetime.as_secs(), "fetched a service token");
        Ok(token)
    }
}
