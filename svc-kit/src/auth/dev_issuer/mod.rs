//! The development OIDC issuer of `medmesh dev`: discovery, JWKS and a token endpoint that
//! signs RS256 access tokens shaped exactly like Keycloak's. DEV ONLY: it refuses to start
//! outside dev mode, and its demo users' passwords are their usernames.
//!
//! It also serves the part of Keycloak's Admin REST API that svc-accounts uses ([`admin`]), over
//! its user [`directory`], so registration and role changes work in dev as against Keycloak.

pub mod admin;
pub mod directory;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey, Header};
use rsa::{
    RsaPrivateKey,
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey},
    traits::PublicKeyParts,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Mode};

pub const REALM: &str = "medmesh";
/// The audience our tokens carry (Keycloak: an audience mapper on the clients).
pub const AUDIENCE: &str = "medmesh";
/// The public client of the web and mobile apps (and the playground).
pub const WEB_CLIENT: &str = "medmesh-web";
/// The secret of every confidential client in dev. Never used outside dev mode.
pub use crate::auth::DEV_CLIENT_SECRET;
/// One demo user per role; each signs in with username = password = the role.
pub const DEMO_USERS: [&str; 5] = ["admin", "doctor", "nurse", "pharmacist", "patient"];
/// Confidential clients that get client-credentials tokens in dev.
pub const SERVICE_CLIENTS: [&str; 7] = [
    "svc-accounts",
    "svc-scheduling",
    "svc-pharmacy",
    "svc-records",
    "svc-notify",
    "medmesh-gateway",
    "partner-demo",
];
/// The sample partner client.
pub const PARTNER_CLIENT: &str = "partner-demo";
/// How long an access token lives: minutes, as with Keycloak.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

struct SigningKey {
    kid: String,
    public_pem: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl SigningKey {
    fn from_private(key: &RsaPrivateKey) -> SigningKey {
        let pem = key
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .expect("an RSA key encodes");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("our own PEM parses");
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        // The key id is derived from the key, so it is stable across restarts.
        let kid = URL_SAFE_NO_PAD.encode(&n[..12]);
        let jwk = json!({
            "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e),
        });
        let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
        let public_pem = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_pem(
            &key.to_public_key(),
            rsa::pkcs8::LineEnding::LF,
        )
        .expect("an RSA public key encodes");
        SigningKey {
            kid,
            public_pem,
            encoding,
            decoding,
            jwk,
        }
    }
}

/// The development issuer never runs outside dev mode.
fn require_dev(mode: Mode) -> Result<(), ConfigError> {
    match mode {
        Mode::Dev => Ok(()),
        Mode::Production => Err(ConfigError::new(
            "the development OIDC issuer runs only in mode = \"dev\"",
        )),
    }
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

fn generate_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key generation")
}

/// The issuer's state: its URL, its current signing key and its users.
pub struct DevIssuer {
    base_url: String,
    key: RwLock<Arc<SigningKey>>,
    pub directory: directory::Directory,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// An issuer at `base_url` (e.g. `http://127.0.0.1:8180`). With `key_file`, the signing key
    /// is read from it, or generated and written there, so tokens survive restarts.
    pub fn new(
        mode: Mode,
        base_url: String,
        key_file: Option<&Path>,
    ) -> Result<DevIssuer, ConfigError> {
        require_dev(mode)?;
        let private = match key_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(pem) => RsaPrivateKey::from_pkcs1_pem(&pem).map_err(|e| {
                    ConfigError::new(format!("dev issuer key {}: {e}", path.display()))
                })?,
                Err(_) => {
                    let key = generate_key();
                    let pem = key
                        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                        .expect("an RSA key encodes");
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    write_private(path, pem.as_bytes()).map_err(|e| {
                        ConfigError::new(format!("dev issuer key {}: {e}", path.display()))
                    })?;
                    key
                }
            },
            None => generate_key(),
        };
        let users_file = key_file.map(|k| k.with_file_name("dev-issuer-users.json"));
        Ok(DevIssuer {
            base_url,
            key: RwLock::new(Arc::new(SigningKey::from_private(&private))),
            directory: directory::Directory::open(users_file),
        })
    }

    /// `iss`, as Keycloak writes it: `<base>/realms/<realm>`.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{REALM}", self.base_url)
    }

    /// Where the Keycloak-compatible admin API is: `<base>/admin/realms/<realm>`.
    pub fn admin_base(&self) -> String {
        format!("{}/admin/realms/{REALM}", self.base_url)
    }

    /// The client (`azp`) of a token this issuer signed with its current key and that is still
    /// valid; `None` for anything else.
    pub fn verify_own(&self, token: &str) -> Option<String> {
        let key = self.current();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[self.issuer()]);
        validation.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation).ok()?;
        data.claims["azp"].as_str().map(str::to_string)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.issuer())
    }

    fn current(&self) -> Arc<SigningKey> {
        self.key.read().unwrap().clone()
    }

    /// The key id tokens are signed with now.
    pub fn kid(&self) -> String {
        self.current().kid.clone()
    }

    /// The public key in PEM, as anyone can rebuild it from the JWKS.
    pub fn public_key_pem(&self) -> String {
        self.current().public_pem.clone()
    }

    /// Replaces the signing key; the old one disappears from the JWKS.
    pub fn rotate_key(&self) {
        *self.key.write().unwrap() = Arc::new(SigningKey::from_private(&generate_key()));
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.current().jwk.clone()] })
    }

    pub fn discovery(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": self.token_endpoint(),
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "grant_types_supported": ["password", "client_credentials"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    /// Keycloak-shaped access-token claims for `subject`, valid from now.
    pub fn claims(&self, subject: &str, username: &str, roles: &[&str], client: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut realm_roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        realm_roles.extend(directory::DEFAULT_ROLE_COMPOSITES.map(String::from));
        realm_roles.push(directory::DEFAULT_ROLES.to_string());
        json!({
            "exp": now + TOKEN_LIFETIME.as_secs() as i64,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iss": self.issuer(),
            "aud": [AUDIENCE, "account"],
            "sub": subject,
            "typ": "Bearer",
            "azp": client,
            "sid": uuid::Uuid::new_v4().to_string(),
            "scope": "openid profile email",
            "realm_access": { "roles": realm_roles },
            "resource_access": { "account": { "roles": ["manage-account", "view-profile"] } },
            "email_verified": true,
            "preferred_username": username,
            "email": format!("{username}@medmesh.dev"),
            "name": format!("Demo {username}"),
            "given_name": "Demo",
            "family_name": username,
        })
    }

    /// Signs `claims` with the current key (RS256, with its `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let key = self.current();
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("signing with our own key")
    }

    /// The stable subject of a demo user.
    pub fn demo_subject(username: &str) -> Option<String> {
        let index = DEMO_USERS.iter().position(|u| *u == username)?;
        Some(format!("00000000-0000-4000-8000-{:012}", index + 1))
    }

    /// An access token for an enabled user (a demo user or a registered one), if `password`
    /// is right. Its roles are the user's realm roles as they are now.
    pub fn password_grant(&self, username: &str, password: &str, client: &str) -> Option<String> {
        let user = self.directory.sign_in(username, password)?;
        let roles: Vec<&str> = user.realm_roles.iter().map(String::as_str).collect();
        let mut claims = self.claims(&user.id, &user.username, &roles, client);
        claims["email"] = json!(user.email);
        claims["given_name"] = json!(user.first_name);
        claims["family_name"] = json!(user.last_name);
        claims["name"] = json!(format!("{} {}", user.first_name, user.last_name).trim());
        Some(self.sign(&claims))
    }

    /// A client-credentials token for a service or partner client. Each of MedMesh's own
    /// services gets its own role (`svc-notify`, …); the partner client gets `partner`, as in
    /// the realm export.
    pub fn client_credentials_grant(&self, client: &str, secret: &str) -> Option<String> {
        if !SERVICE_CLIENTS.contains(&client) || secret != DEV_CLIENT_SECRET {
            return None;
        }
        let subject = format!("service-account-{client}");
        let role = crate::auth::ClientRole::of_service_client(client)
            .unwrap_or(crate::auth::ClientRole::Partner)
            .as_str();
        Some(self.sign(&self.claims(&subject, &subject, &[role], client)))
    }
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(issuer): State<Arc<DevIssuer>>,
    Form(request): Form<TokenRequest>,
) -> Response {
    let client = request.client_id.unwrap_or_default();
    let token = match request.grant_type.as_str() {
        "password" => {
            if client != WEB_CLIENT {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized_client",
                    "password grant is for medmesh-web",
                );
            }
            issuer.password_grant(
                request.username.as_deref().unwrap_or_default(),
                request.password.as_deref().unwrap_or_default(),
                &client,
            )
        }
        "client_credentials" => issuer.client_credentials_grant(
            &client,
            request.client_secret.as_deref().unwrap_or_default(),
        ),
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use password or client_credentials",
            );
        }
    };
    match token {
        Some(token) => Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
            "scope": "openid profile email",
        }))
        .into_response(),
        None => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "invalid credentials",
        ),
    }
}

/// The issuer's HTTP routes: OIDC under `/realms/medmesh` (open to browser pages of any
/// origin, so the playground can sign in), the admin API under `/admin/realms/medmesh`.
pub fn router(issuer: Arc<DevIssuer>) -> Router {
    let base = format!("/realms/{REALM}");
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([http::Method::GET, http::Method::POST])
        .allow_headers([http::header::CONTENT_TYPE]);
    let oidc = Router::new()
        .route(
            &format!("{base}/.well-known/openid-configuration"),
            get(|State(i): State<Arc<DevIssuer>>| async move { Json(i.discovery()) }),
        )
        .route(
            &format!("{base}/protocol/openid-connect/certs"),
            get(|State(i): State<Arc<DevIssuer>>| async move { Json(i.jwks()) }),
        )
        .route(
            &format!("{base}/protocol/openid-connect/token"),
            post(token),
        )
        .layer(cors);
    oidc.merge(admin::router()).with_state(issuer)
}

/// A bound dev issuer; `serve` runs it until shutdown.
#[derive(Debug)]
pub struct DevIssuerServer {
    listener: TcpListener,
    pub issuer: Arc<DevIssuer>,
}

impl DevIssuerServer {
    pub async fn bind(
        mode: Mode,
        addr: SocketAddr,
        key_file: Option<&Path>,
    ) -> Result<DevIssuerServer, ConfigError> {
        DevIssuerServer::bind_named(mode, addr, None, key_file).await
    }

    /// Like [`DevIssuerServer::bind`], naming itself `public_url` (e.g. `http://sso:8180`)
    /// rather than the address it bound, for clients that reach it by another name.
    pub async fn bind_named(
        mode: Mode,
        addr: SocketAddr,
        public_url: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<DevIssuerServer, ConfigError> {
        require_dev(mode)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| ConfigError::new(format!("dev issuer cannot bind {addr}: {e}")))?;
        let bound = listener.local_addr().expect("bound");
        let base = match public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        };
        let issuer = DevIssuer::new(mode, base, key_file)?;
        Ok(DevIssuerServer {
            listener,
            issuer: Arc::new(issuer),
        })
    }

    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.issuer))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}
