//! The development OIDC issuer, in builds that have it: feature `dev` (on by default, so
//! `cargo run -p medmesh -- dev` works on a fresh machine). Production images build with
//! `--no-default-features` and carry no issuer that signs tokens for demo users; such a build
//! requires `auth.issuer`.

pub use imp::{DevIssuerHandle, sign_in, start, token_for};

#[cfg(feature = "dev")]
mod imp {
    use std::sync::Arc;

    use gateway_graphql::server::DevSignIn;
    use svc_kit::{
        Settings,
        auth::dev_issuer::{DEMO_USERS, DevIssuer, DevIssuerServer, WEB_CLIENT},
        config::ConfigError,
    };
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    /// The running development issuer.
    pub type DevIssuerHandle = Arc<DevIssuer>;

    /// Binds the development issuer and serves it until `shutdown`; its issuer URL and handle.
    pub async fn start(
        settings: &Settings,
        shutdown: CancellationToken,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<(String, DevIssuerHandle), ConfigError> {
        let key_file = settings.data_dir.join("dev-issuer-key.pem");
        let server = DevIssuerServer::bind_named(
            settings.mode,
            settings.dev_issuer.addr(),
            settings.dev_issuer.public_url.as_deref(),
            Some(&key_file),
        )
        .await?;
        let issuer = server.issuer.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = server.serve(shutdown).await {
                tracing::error!(%error, "dev issuer stopped with an error");
            }
        }));
        Ok((issuer.issuer(), issuer))
    }

    /// The playground's sign-in as a demo user.
    pub fn sign_in(issuer: &DevIssuerHandle) -> DevSignIn {
        DevSignIn {
            token_url: issuer.token_endpoint(),
            users: DEMO_USERS.map(String::from).to_vec(),
        }
    }

    /// A demo user's token (username = password).
    pub fn token_for(issuer: &DevIssuerHandle, user: &str) -> Option<String> {
        issuer.password_grant(user, user, WEB_CLIENT)
    }
}

#[cfg(not(feature = "dev"))]
mod imp {
    use gateway_graphql::server::DevSignIn;
    use svc_kit::{Settings, config::ConfigError};
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    /// No development issuer exists in this build: no value of this type can be made.
    #[derive(Debug, Clone)]
    pub enum DevIssuerHandle {}

    pub async fn start(
        _settings: &Settings,
        _shutdown: CancellationToken,
        _tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<(String, DevIssuerHandle), ConfigError> {
        Err(ConfigError::new(
            "`auth.issuer` is required: this build has no development issuer (feature `dev`)",
        ))
    }

    pub fn sign_in(issuer: &DevIssuerHandle) -> DevSignIn {
        match *issuer {}
    }

    pub fn token_for(issuer: &DevIssuerHandle, _user: &str) -> Option<String> {
        match *issuer {}
    }
}
