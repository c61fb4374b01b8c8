//! Token validation against a real local OIDC issuer over HTTP (the dev issuer): Keycloak-shaped
//! tokens are accepted, and every kind of bad token is refused.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use svc_kit::{
    auth::{
        AuthError, AuthSettings, Authenticator, Role,
        dev_issuer::{DEV_CLIENT_SECRET, DevIssuer, DevIssuerServer, WEB_CLIENT},
    },
    config::Mode,
};
use tokio_util::sync::CancellationToken;

struct Setup {
    issuer: Arc<DevIssuer>,
    auth: Authenticator,
    _stop: CancellationToken,
}

async fn setup() -> Setup {
    let server = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = server.issuer.clone();
    let stop = CancellationToken::new();
    tokio::spawn(server.serve(stop.clone()));
    let auth = Authenticator::new(AuthSettings {
        issuer: issuer.issuer(),
        audiences: vec!["medmesh".into()],
        allowed_clients: vec![WEB_CLIENT.into(), "partner-demo".into()],
        leeway: Duration::from_secs(30),
        min_refresh_interval: Duration::ZERO,
        max_key_age: Duration::from_secs(300),
        stale_key_grace: Duration::from_secs(86400),
        client_roles_from: None,
    });
    Setup {
        issuer,
        auth,
        _stop: stop,
    }
}

async fn token_endpoint(issuer: &DevIssuer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn patient_claims(issuer: &DevIssuer) -> Value {
    issuer.claims(
        &DevIssuer::demo_subject("patient").unwrap(),
        "patient",
        &["patient"],
        WEB_CLIENT,
    )
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn a_demo_user_signs_in_and_gets_a_keycloak_shaped_token() {
    let s = setup().await;
    let (status, body) = token_endpoint(
        &s.issuer,
        &[
            ("grant_type", "password"),
            ("client_id", WEB_CLIENT),
            ("username", "doctor"),
            ("password", "doctor"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let principal = s
        .auth
        .authenticate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        principal.subject,
        DevIssuer::demo_subject("doctor").unwrap()
    );
    assert_eq!(principal.username.as_deref(), Some("doctor"));
    assert_eq!(principal.client_id, WEB_CLIENT);
    assert!(principal.holds(Role::Doctor));
    assert!(
        principal.roles.contains("offline_access"),
        "Keycloak's default roles come along"
    );
    assert!(!principal.holds(Role::Admin));

    // The token's header and claims are shaped like Keycloak's.
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], s.issuer.kid());
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert!(claims["iss"].as_str().unwrap().ends_with("/realms/medmesh"));
    for key in [
        "exp", "iat", "jti", "aud", "sub", "typ", "azp", "sid", "scope", "email", "name",
    ] {
        assert!(!claims[key].is_null(), "claim {key}");
    }
}

#[tokio::test]
async fn wrong_credentials_get_no_token() {
    let s = setup().await;
    let (status, body) = token_endpoint(
        &s.issuer,
        &[
            ("grant_type", "password"),
            ("client_id", WEB_CLIENT),
            ("username", "admin"),
            ("password", "patient"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_grant"))
    );
    let (status, _) = token_endpoint(
        &s.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-demo"),
            ("client_secret", "guess"),
        ],
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_partner_gets_a_client_credentials_token() {
    let s = setup().await;
    let (status, body) = token_endpoint(
        &s.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-demo"),
            ("client_secret", DEV_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let principal = s
        .auth
        .authenticate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(principal.subject, "service-account-partner-demo");
    assert_eq!(principal.client_id, "partner-demo");
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let s = setup().await;
    let now = chrono::Utc::now().timestamp();
    let good = patient_claims(&s.issuer);
    assert!(s.auth.authenticate(&s.issuer.sign(&good)).await.is_ok());

    let refused = |token: String| {
        let auth = &s.auth;
        async move {
            auth.authenticate(&token)
                .await
                .expect_err("must be refused")
        }
    };
    assert_eq!(refused(String::new()).await, AuthError::Malformed, "empty");
    assert_eq!(
        refused("not.a.token".into()).await,
        AuthError::Malformed,
        "garbage"
    );
    assert!(
        matches!(
            refused(s.issuer.sign(&with(good.clone(), "exp", json!(now - 120)))).await,
            AuthError::Invalid(_)
        ),
        "expired"
    );
    assert!(
        matches!(
            refused(s.issuer.sign(&with(good.clone(), "nbf", json!(now + 600)))).await,
            AuthError::Invalid(_)
        ),
        "nbf in the future"
    );
    assert!(
        matches!(
            refused(s.issuer.sign(&with(
                good.clone(),
                "iss",
                json!("http://evil/realms/medmesh")
            )))
            .await,
            AuthError::Invalid(_)
        ),
        "wrong iss"
    );
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert!(
        matches!(refused(s.issuer.sign(&no_aud)).await, AuthError::Invalid(_)),
        "missing aud"
    );
    assert!(
        matches!(
            refused(s.issuer.sign(&with(good.clone(), "aud", json!("account")))).await,
            AuthError::Invalid(_)
        ),
        "aud without ours"
    );
    assert_eq!(
        refused(
            s.issuer
                .sign(&with(good.clone(), "azp", json!("evil-client")))
        )
        .await,
        AuthError::ClientNotAllowed("evil-client".into())
    );
    assert_eq!(
        refused(s.issuer.sign(&with(good.clone(), "typ", json!("ID")))).await,
        AuthError::WrongType("ID".into()),
        "an ID token is not an access token"
    );

    // alg: none, unsigned.
    let header = URL_SAFE_NO_PAD
        .encode(json!({ "alg": "none", "typ": "JWT", "kid": s.issuer.kid() }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    assert_eq!(
        refused(format!("{header}.{payload}.")).await,
        AuthError::Malformed,
        "alg none"
    );

    // HS256 signed with the issuer's public key as the HMAC secret (key confusion).
    let public = s.issuer.jwks()["keys"][0]["n"]
        .as_str()
        .unwrap()
        .to_string();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(s.issuer.kid());
    let forged = jsonwebtoken::encode(
        &hs,
        &good,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(refused(forged).await, AuthError::Algorithm("HS256".into()));

    // Signed by a key the issuer never published.
    let impostor = DevIssuer::new(Mode::Dev, "http://unused".into(), None).unwrap();
    assert_eq!(refused(impostor.sign(&good)).await, AuthError::UnknownKey);

    // Within the clock-skew leeway a just-expired token still passes.
    assert!(
        s.auth
            .authenticate(&s.issuer.sign(&with(good, "exp", json!(now - 10))))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_key_rotated_out_of_the_jwks_stops_working() {
    let s = setup().await;
    let old = s.issuer.sign(&patient_claims(&s.issuer));
    assert!(s.auth.authenticate(&old).await.is_ok());
    s.issuer.rotate_key();
    // A token with the new key id makes the validator fetch the JWKS again...
    let new = s.issuer.sign(&patient_claims(&s.issuer));
    assert!(s.auth.authenticate(&new).await.is_ok());
    // ...which no longer has the old key.
    assert_eq!(
        s.auth.authenticate(&old).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

/// Accepts connections on `addr` and never answers: an issuer that hangs.
fn black_hole(addr: std::net::SocketAddr) -> std::thread::JoinHandle<()> {
    let listener = (0..50)
        .find_map(|_| {
            std::net::TcpListener::bind(addr)
                .map_err(|_| std::thread::sleep(Duration::from_millis(100)))
                .ok()
        })
        .expect("the issuer's port is free again");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_outage_past_the_key_age_stops_nobody_and_lets_no_forgery_in() {
    let server = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = server.issuer.clone();
    let addr: std::net::SocketAddr = issuer
        .issuer()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(server.serve(stop.clone()));
    let settings = |grace: u64| AuthSettings {
        issuer: issuer.issuer(),
        audiences: vec!["medmesh".into()],
        allowed_clients: vec![WEB_CLIENT.into(), "partner-demo".into()],
        leeway: Duration::from_secs(30),
        min_refresh_interval: Duration::from_secs(2),
        max_key_age: Duration::from_millis(500),
        stale_key_grace: Duration::from_secs(grace),
        client_roles_from: None,
    };
    let auth = Authenticator::new(settings(3600));
    let strict = Authenticator::new(settings(0));
    let token = || issuer.sign(&patient_claims(&issuer));
    assert!(auth.authenticate(&token()).await.is_ok());
    assert!(strict.authenticate(&token()).await.is_ok());

    // The issuer goes away.
    stop.cancel();
    serving.await.unwrap().unwrap();
    // Past the key age, and past the interval between two fetches.
    tokio::time::sleep(Duration::from_millis(2200)).await;

    // A valid token (never seen before) still works, at once.
    let started = std::time::Instant::now();
    let principal = auth.authenticate(&token()).await.unwrap();
    assert_eq!(principal.username.as_deref(), Some("patient"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Forgeries are refused as before, and none waits on the dead issuer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    for (what, forged) in svc_kit::testing::forged_tokens(&issuer, &patient_claims(&issuer)) {
        assert!(
            auth.authenticate(&forged).await.is_err(),
            "{what} was accepted"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Without the grace, the same valid token is refused: the keys are too old to trust.
    assert!(matches!(
        strict.authenticate(&token()).await,
        Err(AuthError::KeysUnavailable(_))
    ));

    // An issuer that accepts connections and never answers holds up no valid token either.
    let _hole = black_hole(addr);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let started = std::time::Instant::now();
    assert!(auth.authenticate(&token()).await.is_ok());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_dev_issuer_refuses_production_mode_and_keeps_its_key() {
    assert!(DevIssuer::new(Mode::Production, "http://x".into(), None).is_err());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys/dev-issuer.pem");
    let first = DevIssuer::new(Mode::Dev, "http://x".into(), Some(&file)).unwrap();
    let second = DevIssuer::new(Mode::Dev, "http://x".into(), Some(&file)).unwrap();
    assert_eq!(first.kid(), second.kid(), "the key survives a restart");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner reads the private key");
    }
}

#[tokio::test]
async fn remembered_tokens_still_expire_and_cannot_be_spliced() {
    let s = setup().await;
    let strict = Authenticator::new(AuthSettings {
        issuer: s.issuer.issuer(),
        audiences: vec!["medmesh".into()],
        allowed_clients: vec![WEB_CLIENT.into()],
        leeway: Duration::ZERO,
        min_refresh_interval: Duration::ZERO,
        max_key_age: Duration::from_secs(300),
        stale_key_grace: Duration::from_secs(86400),
        client_roles_from: None,
    });
    let now = chrono::Utc::now().timestamp();
    let short = s
        .issuer
        .sign(&with(patient_claims(&s.issuer), "exp", json!(now + 2)));
    assert!(strict.authenticate(&short).await.is_ok());
    assert!(
        strict.authenticate(&short).await.is_ok(),
        "served from the verified cache"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(
        strict.authenticate(&short).await.is_err(),
        "a remembered token still expires"
    );

    // The genuine token is remembered; its signature on another payload is not accepted.
    let genuine = s.issuer.sign(&patient_claims(&s.issuer));
    assert!(strict.authenticate(&genuine).await.is_ok());
    let parts: Vec<&str> = genuine.split('.').collect();
    let admin = s
        .issuer
        .claims("someone-else", "admin", &["admin"], WEB_CLIENT);
    let spliced = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(admin.to_string()),
        parts[2]
    );
    assert!(matches!(
        strict.authenticate(&spliced).await,
        Err(AuthError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_service_gets_client_credentials_tokens_and_reuses_them() {
    use secrecy::{ExposeSecret, SecretString};
    use svc_kit::auth::ServiceTokens;
    let s = setup().await;
    let tokens = ServiceTokens::new(
        &s.issuer.token_endpoint(),
        "partner-demo",
        &SecretString::from(DEV_CLIENT_SECRET),
    )
    .unwrap();
    let first = tokens.token().await.unwrap();
    let principal = s.auth.authenticate(first.expose_secret()).await.unwrap();
    assert_eq!(principal.subject, "service-account-partner-demo");
    assert_eq!(principal.client_id, "partner-demo");
    // Cached: every token the issuer signs has its own jti, so a new fetch would differ.
    assert_eq!(
        tokens.token().await.unwrap().expose_secret(),
        first.expose_secret()
    );

    // A margin longer than the token's whole life must not mean "fetch on every call": the
    // token is still kept for half its life. (Renewal itself needs a token that expires
    // within the test, which the dev issuer's five-minute tokens do not.)
    let eager = ServiceTokens::new(
        &s.issuer.token_endpoint(),
        "partner-demo",
        &SecretString::from(DEV_CLIENT_SECRET),
    )
    .unwrap()
    .with_refresh_margin(Duration::from_secs(3600));
    let a = eager.token().await.unwrap();
    let b = eager.token().await.unwrap();
    assert_eq!(
        a.expose_secret(),
        b.expose_secret(),
        "kept for half its life"
    );

    let wrong = ServiceTokens::new(
        &s.issuer.token_endpoint(),
        "partner-demo",
        &SecretString::from("guess"),
    )
    .unwrap();
    assert!(
        wrong.token().await.is_err(),
        "a wrong secret is an error, not a panic"
    );
}
