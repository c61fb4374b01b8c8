//! Accounts mutations: the caller's own profile and erasure, registration, and the admin's
//! role, affiliation and deactivation changes.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use medmesh_proto::accounts::v1 as pb;

use super::{
    ClientAddress,
    client::{client, upstream},
    types::{
        AddAffiliationInput, AffiliationKind, Profile, RegisterPatientInput, Role,
        UpdateProfileInput,
    },
};
use crate::{
    context::{as_caller, as_platform},
    convert::time,
};

/// The metadata naming the visitor a registration is for (svc-accounts' `CLIENT_ADDRESS_HEADER`;
/// it believes it from the gateway's own token only).
const CLIENT_ADDRESS_HEADER: &str = "x-medmesh-client-address";

#[derive(Debug, Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Changes contact fields of your profile (admins: anyone's).
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> Result<Profile> {
        let mut paths = Vec::new();
        let mut take = |name: &str, value: Option<String>| {
            if value.is_some() {
                paths.push(name.to_string());
            }
            value.unwrap_or_default()
        };
        let profile = pb::Profile {
            user_id: input.user_id.map(|id| id.0).unwrap_or_default(),
            version: input.version.unwrap_or_default(),
            email: take("email", input.email),
            phone: take("phone", input.phone),
            given_name: take("given_name", input.given_name),
            family_name: take("family_name", input.family_name),
            preferred_language: take("preferred_language", input.preferred_language),
            time_zone: take("time_zone", input.time_zone),
            ..Default::default()
        };
        let request = as_caller(
            ctx,
            pb::UpdateProfileRequest {
                request_id: input.request_id,
                profile: Some(profile),
                update_mask: Some(prost_types::FieldMask { paths }),
            },
        )?;
        let profile = client(ctx)
            .update_profile(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Creates a patient account (no sign-in needed). It only ever gets the patient role.
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        input: RegisterPatientInput,
    ) -> Result<Profile> {
        let mut request = as_platform(
            ctx,
            "registration",
            pb::RegisterPatientRequest {
                request_id: input.request_id,
                username: input.username,
                email: input.email,
                given_name: input.given_name,
                family_name: input.family_name,
                phone: input.phone.unwrap_or_default(),
                preferred_language: input.preferred_language.unwrap_or_default(),
                time_zone: input.time_zone.unwrap_or_default(),
                password: input.password,
            },
        )
        .await?;
        // Every visitor's registration goes with the gateway's token: the address tells them
        // apart, so one visitor's `requestId` never answers with another's account.
        if let Some(ClientAddress(address)) = ctx.data_opt::<ClientAddress>()
            && let Ok(value) = address.to_string().parse()
        {
            request.metadata_mut().insert(CLIENT_ADDRESS_HEADER, value);
        }
        let profile = client(ctx)
            .register_patient(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: replaces a user's roles.
    async fn set_roles(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        roles: Vec<Role>,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::SetRolesRequest {
                request_id,
                user_id: user_id.0,
                roles: roles.into_iter().map(|r| r.to_proto() as i32).collect(),
            },
        )?;
        let profile = client(ctx).set_roles(request).await.map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: a doctor works at a clinic in a specialization; a pharmacist at a pharmacy.
    async fn add_affiliation(
        &self,
        ctx: &Context<'_>,
        input: AddAffiliationInput,
    ) -> Result<Profile> {
        let kind = match input.kind {
            AffiliationKind::Doctor => pb::AffiliationKind::Doctor,
            AffiliationKind::Pharmacist => pb::AffiliationKind::Pharmacist,
            AffiliationKind::Nurse => pb::AffiliationKind::Nurse,
        };
        let request = as_caller(
            ctx,
            pb::AddAffiliationRequest {
                request_id: input.request_id,
                user_id: input.user_id.0,
                kind: kind as i32,
                clinic_id: input.clinic_id.unwrap_or_default(),
                specialization: input.specialization.unwrap_or_default(),
                pharmacy_id: input.pharmacy_id.unwrap_or_default(),
            },
        )?;
        let profile = client(ctx)
            .add_affiliation(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: removes one of a user's affiliations.
    async fn remove_affiliation(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        affiliation_id: ID,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::RemoveAffiliationRequest {
                request_id,
                user_id: user_id.0,
                affiliation_id: affiliation_id.0,
            },
        )?;
        let profile = client(ctx)
            .remove_affiliation(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Admins: the user can no longer sign in or act. The reason is audited.
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        request_id: String,
        user_id: ID,
        reason: String,
    ) -> Result<Profile> {
        let request = as_caller(
            ctx,
            pb::DeactivateUserRequest {
                request_id,
                user_id: user_id.0,
                reason,
            },
        )?;
        let profile = client(ctx)
            .deactivate_user(request)
            .await
            .map_err(upstream)?;
        Ok(profile.into_inner().into())
    }

    /// Erases your personal data and your sign-in. Returns when it was erased.
    async fn erase_my_account(
        &self,
        ctx: &Context<'_>,
        request_id: String,
    ) -> Result<DateTime<Utc>> {
        let request = as_caller(ctx, pb::EraseMyAccountRequest { request_id })?;
        let erased = client(ctx)
            .erase_my_account(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(time(erased.erased_at).unwrap_or_else(Utc::now))
    }
}
