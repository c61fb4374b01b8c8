//! Who the caller is in MedMesh terms: svc-accounts knows the user id behind a token's subject
//! and the clinics a staff member works at. Scheduling asks it once per subject (forwarding the
//! caller's own token, so accounts applies its own rules) and keeps the answer for a minute.

use std::{sync::Arc, time::Duration};

use medmesh_proto::accounts::v1::{
    self as accounts, GetMyProfileRequest, GetProfileRequest,
    accounts_service_client::AccountsServiceClient,
};
use svc_kit::{
    ApiError,
    auth::{ClientRole, Principal, ServiceTokens},
};
use tonic::{
    Code, Request, Status,
    transport::{Channel, Endpoint},
};

use crate::domain::Caller;

/// How long a subject's user id and clinics are reused before accounts is asked again (a
/// deactivation or a new affiliation shows within this).
const CALLER_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Known {
    user_id: String,
    clinics: Vec<String>,
}

/// svc-accounts, as scheduling uses it.
#[derive(Clone)]
pub(crate) struct People {
    accounts: AccountsServiceClient<Channel>,
    known: moka::future::Cache<String, Arc<Known>>,
    /// Scheduling's own client-credentials tokens, for reads on the platform's behalf (the
    /// patient's name on a confirmation a nurse prints).
    tokens: Option<Arc<ServiceTokens>>,
}

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("People").finish_non_exhaustive()
    }
}

fn from_accounts(status: Status) -> ApiError {
    match status.code() {
        Code::PermissionDenied => ApiError::PermissionDenied(status.message().to_string()),
        Code::Unauthenticated => ApiError::Unauthenticated,
        Code::NotFound => ApiError::NotFound("no such user".to_string()),
        Code::Unavailable | Code::DeadlineExceeded => {
            ApiError::Unavailable("svc-accounts is unavailable; retry".to_string())
        }
        code => ApiError::internal(format!("svc-accounts answered {code:?}")),
    }
}

fn bearer<T>(message: T, token: &str) -> Result<Request<T>, ApiError> {
    svc_kit::auth::with_bearer(Request::new(message), token).map_err(|_| ApiError::Unauthenticated)
}

impl People {
    pub(crate) fn new(
        accounts_endpoint: &str,
        tokens: Option<Arc<ServiceTokens>>,
    ) -> Result<People, String> {
        let channel = Endpoint::from_shared(accounts_endpoint.to_string())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(People {
            accounts: AccountsServiceClient::new(channel),
            known: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CALLER_TTL)
                .build(),
            tokens,
        })
    }

    /// The caller: roles from the token (always current), user id and clinics from accounts.
    pub(crate) async fn caller(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<Caller, ApiError> {
        let mut caller = Caller {
            subject: principal.subject.clone(),
            user_id: None,
            roles: principal.platform_roles(),
            clients: [ClientRole::Partner, ClientRole::Service]
                .into_iter()
                .filter(|r| principal.is_client(*r))
                .collect(),
            clinics: Default::default(),
        };
        if !principal.is_person() {
            return Ok(caller);
        }
        let known = match self.known.get(&principal.subject).await {
            Some(known) => known,
            None => {
                let profile = self
                    .accounts
                    .clone()
                    .get_my_profile(bearer(GetMyProfileRequest {}, token)?)
                    .await
                    .map_err(from_accounts)?
                    .into_inner();
                let known = Arc::new(Known {
                    user_id: profile.user_id,
                    clinics: profile
                        .affiliations
                        .into_iter()
                        .map(|a| a.clinic_id)
                        .filter(|c| !c.is_empty())
                        .collect(),
                });
                self.known
                    .insert(principal.subject.clone(), known.clone())
                    .await;
                known
            }
        };
        caller.user_id = Some(known.user_id.clone());
        caller.clinics = known.clinics.iter().cloned().collect();
        Ok(caller)
    }

    /// Another user's profile, read with the caller's token (so only what they may read).
    pub(crate) async fn profile(
        &self,
        token: &str,
        user_id: &str,
    ) -> Result<accounts::Profile, ApiError> {
        self.accounts
            .clone()
            .get_profile(bearer(
                GetProfileRequest {
                    user_id: user_id.to_string(),
                },
                token,
            )?)
            .await
            .map(|r| r.into_inner())
            .map_err(from_accounts)
    }

    /// A user's profile, read as scheduling itself.
    pub(crate) async fn profile_as_service(
        &self,
        user_id: &str,
    ) -> Result<accounts::Profile, ApiError> {
        use secrecy::ExposeSecret;
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            ApiError::Unavailable("scheduling has no credentials of its own".to_string())
        })?;
        let token = tokens.token().await.map_err(|error| {
            tracing::warn!(%error, "no service token");
            ApiError::Unavailable("the identity provider is unavailable; retry".to_string())
        })?;
        self.profile(token.expose_secret(), user_id).await
    }
}
