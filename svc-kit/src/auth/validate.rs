use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, JwkSet},
};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::Principal;

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `iss` exactly as the issuer writes it, e.g. `https://sso.example/realms/medmesh`.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Accepted `azp` (client) values.
    pub allowed_clients: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// An unknown `kid` triggers a JWKS refresh at most this often.
    pub min_refresh_interval: Duration,
    /// Keys are fetched again after this long, so a key removed from the JWKS stops working.
    pub max_key_age: Duration,
    /// When the issuer cannot be reached, keys older than `max_key_age` are still used for this
    /// long beyond it, while one background task keeps trying to refresh them: an outage of the
    /// identity provider is not an outage of the platform.
    pub stale_key_grace: Duration,
    /// Also take roles from `resource_access.<client>.roles` for this client.
    pub client_roles_from: Option<String>,
}

/// Why a token was refused. The message is for logs and operators; clients only ever see
/// "unauthenticated".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token has no key id")]
    NoKeyId,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("token type {0:?} is not an access token")]
    WrongType(String),
    #[error("client {0:?} is not allowed")]
    ClientNotAllowed(String),
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    realm_access: Option<RoleList>,
    #[serde(default)]
    resource_access: HashMap<String, RoleList>,
}

#[derive(Debug, Deserialize)]
struct RoleList {
    #[serde(default)]
    roles: Vec<String>,
}

struct KeySet {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

/// How long a verified token is remembered at most (and never past its `exp`).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_CAPACITY: u64 = 50_000;

/// A token already verified: who it is and when it expires (seconds since the epoch).
#[derive(Clone)]
struct Verified {
    principal: Principal,
    exp: i64,
}

/// Validates bearer tokens against one issuer. Share one per process.
///
/// Verified tokens are remembered (by a SHA-256 of the whole token) until their `exp`, for at
/// most a minute: a client reuses its token for minutes, and an RS256 verification costs far
/// more than the rest of a typical request.
pub struct Authenticator {
    settings: AuthSettings,
    verified: moka::sync::Cache<[u8; 32], Verified>,
    keys: Arc<Keys>,
}

/// The issuer's signing keys and how they are refreshed; shared with the background refresh.
struct Keys {
    issuer: String,
    min_refresh_interval: Duration,
    /// Tokens verified with a key that is withdrawn must stop working at once.
    verified: moka::sync::Cache<[u8; 32], Verified>,
    http: reqwest::Client,
    jwks_uri: Mutex<Option<String>>,
    set: RwLock<KeySet>,
    /// Serializes refreshes so a burst of unknown kids fetches once.
    refresh: Mutex<()>,
    /// When a fetch last failed: within `min_refresh_interval` of it nobody tries again, so no
    /// request waits on an issuer that just failed to answer.
    last_failure: std::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

const ACCEPTED: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

impl Authenticator {
    pub fn new(settings: AuthSettings) -> Authenticator {
        let http = crate::tls::http_client()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client builds");
        let verified = moka::sync::Cache::builder()
            .max_capacity(VERIFIED_CAPACITY)
            .time_to_live(VERIFIED_TTL)
            .build();
        Authenticator {
            keys: Arc::new(Keys {
                issuer: settings.issuer.clone(),
                min_refresh_interval: settings.min_refresh_interval,
                verified: moka::sync::Cache::clone(&verified),
                http,
                jwks_uri: Mutex::new(None),
                set: RwLock::new(KeySet {
                    keys: HashMap::new(),
                    fetched_at: None,
                }),
                refresh: Mutex::new(()),
                last_failure: std::sync::Mutex::new(None),
            }),
            settings,
            verified,
        }
    }

    /// `iss` as tokens must carry it.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The principal of a valid access token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        let leeway = self.settings.leeway.as_secs() as i64;
        if let Some(hit) = self.verified.get(&digest) {
            if now < hit.exp + leeway {
                return Ok(hit.principal);
            }
            self.verified.invalidate(&digest);
        }
        let verified = self.verify(token).await?;
        self.verified.insert(digest, verified.clone());
        Ok(verified.principal)
    }

    /// The full check: signature, claims, client.
    async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let (key, alg) = self.key(&kid).await?;
        if alg != header.alg {
            // The JWK says which algorithm its key is for; a token may not pick another.
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let typ = claims.typ.unwrap_or_default();
        if !typ.eq_ignore_ascii_case("Bearer") {
            return Err(AuthError::WrongType(typ));
        }
        let client_id = claims.azp.unwrap_or_default();
        if !self
            .settings
            .allowed_clients
            .iter()
            .any(|c| c == &client_id)
        {
            return Err(AuthError::ClientNotAllowed(client_id));
        }
        let mut roles: BTreeSet<String> = claims
            .realm_access
            .map(|r| r.roles.into_iter().collect())
            .unwrap_or_default();
        if let Some(client) = &self.settings.client_roles_from
            && let Some(list) = claims.resource_access.get(client)
        {
            roles.extend(list.roles.iter().cloned());
        }
        Ok(Verified {
            principal: Principal {
                subject: claims.sub,
                roles,
                client_id,
                username: claims.preferred_username,
                email: claims.email,
                given_name: claims.given_name,
                family_name: claims.family_name,
                expires_at: Some(claims.exp),
            },
            exp: claims.exp,
        })
    }

    /// The key `kid` names. A key of a set fetched within `max_key_age` is used as is; one of
    /// an older set still is for `stale_key_grace` more, while a background task refreshes
    /// the set; an unknown kid (or a set older than that) waits for a refresh, unless one was
    /// tried within `min_refresh_interval`.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        {
            let set = self.keys.set.read().await;
            let age = set.fetched_at.map(|t| t.elapsed());
            if let (Some(found), Some(age)) = (set.keys.get(kid), age) {
                if age < self.settings.max_key_age {
                    return Ok(found.clone());
                }
                if age < self.settings.max_key_age + self.settings.stale_key_grace {
                    let found = found.clone();
                    drop(set);
                    let keys = Arc::clone(&self.keys);
                    tokio::spawn(async move {
                        // Single flight: a refresh under way already covers this one.
                        if let Ok(_guard) = keys.refresh.try_lock()
                            && let Err(error) = keys.refresh_locked().await
                        {
                            tracing::warn!(%error, "issuer keys could not be refreshed; using the last ones");
                        }
                    });
                    return Ok(found);
                }
            }
        }
        if self.keys.failed_recently() {
            // The issuer failed to answer a moment ago: no waiting on it again.
            return Err(AuthError::UnknownKey);
        }
        {
            let _guard = self.keys.refresh.lock().await;
            self.keys.refresh_locked().await?;
        }
        self.keys
            .set
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or(AuthError::UnknownKey)
    }
}

impl Keys {
    fn failed_recently(&self) -> bool {
        self.last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < self.min_refresh_interval)
    }

    /// Fetches the JWKS again (the caller holds `refresh`) unless it was fetched, or failed to
    /// be, within `min_refresh_interval` (another task just did; a burst of unknown kids
    /// fetches once).
    async fn refresh_locked(&self) -> Result<(), AuthError> {
        {
            let set = self.set.read().await;
            let fetched_recently = set
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.min_refresh_interval);
            if fetched_recently || self.failed_recently() {
                return Ok(());
            }
        }
        let fetched = async {
            let uri = self.jwks_uri().await?;
            self.fetch_json::<JwkSet>(&uri).await
        }
        .await;
        let set = match fetched {
            Ok(set) => set,
            Err(error) => {
                *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                return Err(error);
            }
        };
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(id) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(id, (key, alg));
            }
        }
        tracing::info!(keys = keys.len(), "fetched issuer signing keys");
        let mut current = self.set.write().await;
        if current.keys.keys().any(|kid| !keys.contains_key(kid)) {
            // A key was withdrawn: tokens it signed must stop working now, not when their
            // cache entries age out.
            self.verified.invalidate_all();
        }
        *current = KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        };
        Ok(())
    }

    /// GETs a JSON document from the issuer.
    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(e.to_string());
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        response
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    async fn jwks_uri(&self) -> Result<String, AuthError> {
        let mut cached = self.jwks_uri.lock().await;
        if let Some(uri) = cached.as_ref() {
            return Ok(uri.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.fetch_json(&url).await?;
        if discovery.issuer != self.issuer {
            return Err(AuthError::KeysUnavailable(format!(
                "discovery names issuer {:?}, expected {:?}",
                discovery.issuer, self.issuer
            )));
        }
        *cached = Some(discovery.jwks_uri.clone());
        Ok(discovery.jwks_uri)
    }
}
