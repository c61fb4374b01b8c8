//! Records mutations of entries: drafts written, edited and thrown away (doctors and nurses),
//! signed and amended (doctors).

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::records::v1 as pb;

use super::{
    client::{client, upstream},
    inputs::{
        AmendRecordEntryInput, CreateRecordEntryInput, DiscardDraftInput, SignRecordEntryInput,
        UpdateDraftInput,
    },
    types::RecordEntry,
};
use crate::context::as_caller;

#[derive(Debug, Default)]
pub(super) struct RecordEntryMutation;

#[Object]
impl RecordEntryMutation {
    /// Doctors and nurses (nurses: observations and lab results): a draft on the card of a
    /// patient whose card you may open. Clinicians who may open the card see it; the patient
    /// does not until a doctor signs it.
    async fn create_record_entry(
        &self,
        ctx: &Context<'_>,
        input: CreateRecordEntryInput,
    ) -> Result<RecordEntry> {
        let content = input.content.into_proto()?;
        let request = as_caller(
            ctx,
            pb::CreateEntryRequest {
                request_id: input.request_id,
                patient_id: input.patient_id.0,
                content: Some(content),
                appointment_id: input.appointment_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .create_entry(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors and nurses: replaces a draft's content (of the same kind) and appointment. A
    /// signed entry is never edited: amend it.
    async fn update_draft(
        &self,
        ctx: &Context<'_>,
        input: UpdateDraftInput,
    ) -> Result<RecordEntry> {
        let content = input.content.into_proto()?;
        let request = as_caller(
            ctx,
            pb::UpdateDraftRequest {
                request_id: input.request_id,
                entry_id: input.entry_id.0,
                version: input.version,
                content: Some(content),
                appointment_id: input.appointment_id.map(|i| i.0).unwrap_or_default(),
            },
        )?;
        Ok(client(ctx)
            .update_draft(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors and nurses: throws a draft away; answers its id.
    async fn discard_draft(&self, ctx: &Context<'_>, input: DiscardDraftInput) -> Result<ID> {
        let request = as_caller(
            ctx,
            pb::DiscardDraftRequest {
                request_id: input.request_id,
                entry_id: input.entry_id.0,
                version: input.version,
            },
        )?;
        let discarded = client(ctx)
            .discard_draft(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(ID(discarded.entry_id))
    }

    /// Doctors: signs a draft; from then on it only changes by amendment, and the patient
    /// sees it.
    async fn sign_record_entry(
        &self,
        ctx: &Context<'_>,
        input: SignRecordEntryInput,
    ) -> Result<RecordEntry> {
        let request = as_caller(
            ctx,
            pb::SignEntryRequest {
                request_id: input.request_id,
                entry_id: input.entry_id.0,
                version: input.version,
            },
        )?;
        Ok(client(ctx)
            .sign_entry(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Doctors: corrects a signed entry with a new signed entry of the same kind that
    /// references it, saying why; the card shows the amendment, and the original stays
    /// readable beside it.
    async fn amend_record_entry(
        &self,
        ctx: &Context<'_>,
        input: AmendRecordEntryInput,
    ) -> Result<RecordEntry> {
        let content = input.content.into_proto()?;
        let request = as_caller(
            ctx,
            pb::AmendEntryRequest {
                request_id: input.request_id,
                entry_id: input.entry_id.0,
                content: Some(content),
                reason: input.reason,
            },
        )?;
        Ok(client(ctx)
            .amend_entry(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}
