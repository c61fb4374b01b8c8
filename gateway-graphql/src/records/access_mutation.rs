//! Records mutations of who may open a card: a patient's grants to a doctor, and a doctor's
//! emergency access.

use async_graphql::{Context, Object, Result};
use medmesh_proto::records::v1 as pb;

use super::{
    access_types::{BreakGlassAccess, RecordGrant},
    client::{client, upstream},
    inputs::{BreakGlassInput, GrantRecordAccessInput, RevokeRecordAccessInput},
};
use crate::{context::as_caller, convert::timestamp};

#[derive(Debug, Default)]
pub(super) struct RecordAccessMutation;

#[Object]
impl RecordAccessMutation {
    /// Patients: lets one doctor open your card from `startsAt` (absent: now) until `endsAt`
    /// (at most a year later).
    async fn grant_record_access(
        &self,
        ctx: &Context<'_>,
        input: GrantRecordAccessInput,
    ) -> Result<RecordGrant> {
        let request = as_caller(
            ctx,
            pb::GrantAccessRequest {
                request_id: input.request_id,
                doctor_id: input.doctor_id.0,
                starts_at: input.starts_at.map(timestamp),
                ends_at: Some(timestamp(input.ends_at)),
            },
        )?;
        Ok(client(ctx)
            .grant_access(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Patients: ends a grant you gave, now.
    async fn revoke_record_access(
        &self,
        ctx: &Context<'_>,
        input: RevokeRecordAccessInput,
    ) -> Result<RecordGrant> {
        let request = as_caller(
            ctx,
            pb::RevokeAccessRequest {
                request_id: input.request_id,
                grant_id: input.grant_id.0,
            },
        )?;
        Ok(client(ctx)
            .revoke_access(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors: opens the card of a patient outside your care for a while, in an emergency,
    /// saying why (at least 10 characters, which the patient reads). Flagged in the patient's
    /// access log and shown to admins.
    async fn break_glass(
        &self,
        ctx: &Context<'_>,
        input: BreakGlassInput,
    ) -> Result<BreakGlassAccess> {
        let request = as_caller(
            ctx,
            pb::BreakGlassRequest {
                request_id: input.request_id,
                patient_id: input.patient_id.0,
                reason: input.reason,
            },
        )?;
        Ok(client(ctx)
            .break_glass(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
