//! Who a caller is in MedMesh terms: svc-accounts knows the user id behind a token's subject
//! and where a staff member works (clinics, pharmacies). A service asks it once per subject
//! (forwarding the caller's own token, so accounts applies its own rules) and keeps the answer
//! for a minute. Profiles are read the same way, or as the service itself.
//!
//! What a service makes of the answer (its own idea of a caller, its access rules) stays in
//! the service.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use medmesh_proto::accounts::v1::{
    self as accounts, GetMyProfileRequest, GetProfileRequest,
    accounts_service_client::AccountsServiceClient,
};
use tonic::{Code, Request, Status, transport::Channel};

use crate::{
    ApiError,
    auth::{Principal, ServiceTokens},
    config::{ConfigError, ServiceName, Settings},
};

/// How long a subject's user id and workplaces are reused before accounts is asked again (a
/// deactivation or a new affiliation shows within this).
pub const PERSON_TTL: Duration = Duration::from_secs(60);

/// A person signed in, as svc-accounts knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their MedMesh user id.
    pub user_id: String,
    /// Clinics they are affiliated with (doctors, nurses).
    pub clinics: BTreeSet<String>,
    /// Pharmacies they are affiliated with (pharmacists).
    pub pharmacies: BTreeSet<String>,
}

impl Person {
    fn from_profile(profile: accounts::Profile) -> Person {
        let mut person = Person {
            user_id: profile.user_id,
            clinics: BTreeSet::new(),
            pharmacies: BTreeSet::new(),
        };
        for affiliation in profile.affiliations {
            if !affiliation.clinic_id.is_empty() {
                person.clinics.insert(affiliation.clinic_id);
            }
            if !affiliation.pharmacy_id.is_empty() {
                person.pharmacies.insert(affiliation.pharmacy_id);
            }
        }
        person
    }
}

/// svc-accounts, as a service reads people from it.
#[derive(Clone)]
pub struct People {
    service: ServiceName,
    accounts: AccountsServiceClient<Channel>,
    known: moka::future::Cache<String, Arc<Person>>,
    /// The service's own client-credentials tokens, for reads on the platform's behalf (the
    /// patient's name on a confirmation a nurse prints).
    tokens: Option<Arc<ServiceTokens>>,
}

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("People")
            .field("service", &self.service)
            .finish_non_exhaustive()
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
    crate::auth::with_bearer(Request::new(message), token).map_err(|_| ApiError::Unauthenticated)
}

impl People {
    /// svc-accounts at `accounts_endpoint` (connected on first use), read by `service`, with
    /// its own tokens if it has any.
    pub fn new(
        service: ServiceName,
        accounts_endpoint: &str,
        tokens: Option<Arc<ServiceTokens>>,
        tls: &crate::tls::Tls,
    ) -> Result<People, String> {
        let channel = tls
            .endpoint(accounts_endpoint)?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(People {
            service,
            accounts: AccountsServiceClient::new(channel),
            known: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PERSON_TTL)
                .build(),
            tokens,
        })
    }

    /// svc-accounts as `service` reads it (`services.accounts.endpoint`), with the
    /// client-credentials tokens of its confidential client `client_id` from `issuer` (the
    /// secret is `services.<service>.client_secret`; in dev, the dev issuer's). For a service's
    /// `check` (before any port is bound) and its `register`.
    pub fn for_service(
        settings: &Settings,
        service: ServiceName,
        client_id: &str,
        issuer: &str,
    ) -> Result<People, ConfigError> {
        let secret = settings.service_client_secret(service)?;
        let token_url = format!("{issuer}/protocol/openid-connect/token");
        let tokens = ServiceTokens::new(&token_url, client_id, &secret)
            .map_err(|error| ConfigError::new(format!("`auth.issuer`: {error}")))?;
        let accounts = settings.endpoint(ServiceName::Accounts);
        let tls = crate::tls::Tls::load(&settings.tls)?;
        People::new(service, &accounts, Some(Arc::new(tokens)), &tls)
            .map_err(|reason| ConfigError::new(format!("`services.accounts.endpoint`: {reason}")))
    }

    /// The person behind `principal` (whose bearer token is `token`), from accounts or from
    /// the last minute's answer; `None` for a client acting with client credentials, which
    /// accounts is not asked about.
    pub async fn person(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<Option<Arc<Person>>, ApiError> {
        if !principal.is_person() {
            return Ok(None);
        }
        if let Some(known) = self.known.get(&principal.subject).await {
            return Ok(Some(known));
        }
        let profile = self
            .accounts
            .clone()
            .get_my_profile(bearer(GetMyProfileRequest {}, token)?)
            .await
            .map_err(from_accounts)?
            .into_inner();
        let person = Arc::new(Person::from_profile(profile));
        self.known
            .insert(principal.subject.clone(), person.clone())
            .await;
        Ok(Some(person))
    }

    /// Another user's profile, read with the caller's token (so only what they may read).
    pub async fn profile(&self, token: &str, user_id: &str) -> Result<accounts::Profile, ApiError> {
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

    /// A user's profile, read as the service itself.
    pub async fn profile_as_service(&self, user_id: &str) -> Result<accounts::Profile, ApiError> {
        use secrecy::ExposeSecret;
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            ApiError::Unavailable(format!("{} has no credentials of its own", self.service))
        })?;
        let token = tokens.token().await.map_err(|error| {
            tracing::warn!(%error, "no service token");
            ApiError::Unavailable("the identity provider is unavailable; retry".to_string())
        })?;
        self.profile(token.expose_secret(), user_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_works_where_their_affiliations_say() {
        let affiliation = |clinic: &str, pharmacy: &str| accounts::Affiliation {
            clinic_id: clinic.into(),
            pharmacy_id: pharmacy.into(),
            ..Default::default()
        };
        let person = Person::from_profile(accounts::Profile {
            user_id: "u-1".into(),
            affiliations: vec![
                affiliation("c-2", ""),
                affiliation("c-1", ""),
                affiliation("c-2", ""),
                affiliation("", "ph-1"),
                affiliation("", ""),
            ],
            ..Default::default()
        });
        assert_eq!(person.user_id, "u-1");
        assert_eq!(person.clinics, BTreeSet::from(["c-1".into(), "c-2".into()]));
        assert_eq!(person.pharmacies, BTreeSet::from(["ph-1".into()]));
    }

    #[test]
    fn accounts_answers_become_the_callers_answers() {
        let cases = [
            (
                Status::permission_denied("not yours"),
                "permission denied: not yours",
            ),
            (Status::unauthenticated("x"), "a bearer token is required"),
            (Status::not_found("x"), "not found: no such user"),
            (
                Status::unavailable("x"),
                "unavailable: svc-accounts is unavailable; retry",
            ),
            (
                Status::deadline_exceeded("x"),
                "unavailable: svc-accounts is unavailable; retry",
            ),
            (
                Status::invalid_argument("x"),
                "internal: svc-accounts answered InvalidArgument",
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(from_accounts(status).to_string(), expected);
        }
    }
}
