//! Records queries: the card and its entries, grants, the access log, emergency accesses, the
//! log's integrity, and the card's export.

use async_graphql::{Context, ID, Object, Result};
use medmesh_proto::records::v1 as pb;

use super::{
    access_types::{
        AccessLogEntry, AccessLogPage, BreakGlassAccess, BreakGlassAccessPage, CardExport,
        IntegrityReport, RecordGrant,
    },
    client::{client, upstream},
    enums::{EntryKind, ExportFormat},
    types::{PatientCard, RecordEntry, RecordEntryPage},
};
use crate::{context::as_caller, convert::non_empty, input::PAGE_SIZE};

#[derive(Debug, Default)]
pub struct RecordsQuery;

#[Object]
impl RecordsQuery {
    /// A patient's card: current diagnoses, allergies, latest observations and lab results,
    /// recent encounters, documents (without their content), medications, and the drafts a
    /// clinician may see. Patients: your own (absent `patientId`); doctors and nurses: a
    /// patient whose card you may open.
    async fn patient_card(&self, ctx: &Context<'_>, patient_id: Option<ID>) -> Result<PatientCard> {
        let request = as_caller(
            ctx,
            pb::GetPatientCardRequest {
                patient_id: optional_id(patient_id),
            },
        )?;
        Ok(client(ctx)
            .get_patient_card(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Every entry of a card (absent `patientId`: your own), newest first, amended ones beside
    /// their amendments; only `kinds` when given. A page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn record_entries(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
        kinds: Option<Vec<EntryKind>>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<RecordEntryPage> {
        let request = as_caller(
            ctx,
            pb::ListEntriesRequest {
                patient_id: optional_id(patient_id),
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                kinds: kinds
                    .unwrap_or_default()
                    .into_iter()
                    .map(|k| k.to_proto() as i32)
                    .collect(),
            },
        )?;
        let page = client(ctx)
            .list_entries(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(RecordEntryPage {
            entries: page.entries.into_iter().map(RecordEntry::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// One entry, a document's content included.
    async fn record_entry(&self, ctx: &Context<'_>, id: ID) -> Result<RecordEntry> {
        let request = as_caller(ctx, pb::GetEntryRequest { entry_id: id.0 })?;
        Ok(client(ctx)
            .get_entry(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Who read or wrote a patient's record, when and why, refused attempts included, newest
    /// first. Patients: your own (absent `patientId`); admins: any patient's. With
    /// `flaggedOnly`, emergency accesses only.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
        #[graphql(default = false)] flagged_only: bool,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<AccessLogPage> {
        let request = as_caller(
            ctx,
            pb::ListAccessLogRequest {
                patient_id: optional_id(patient_id),
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                flagged_only,
            },
        )?;
        let page = client(ctx)
            .list_access_log(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(AccessLogPage {
            entries: page.entries.into_iter().map(AccessLogEntry::from).collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Grants of access to a card. Absent `patientId`: your own (a patient's given grants, a
    /// doctor's received ones); only the current ones unless `includeEnded`.
    async fn record_grants(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
        #[graphql(default = false)] include_ended: bool,
    ) -> Result<Vec<RecordGrant>> {
        let request = as_caller(
            ctx,
            pb::ListGrantsRequest {
                patient_id: optional_id(patient_id),
                include_ended,
            },
        )?;
        let grants = client(ctx)
            .list_grants(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(grants.grants.into_iter().map(RecordGrant::from).collect())
    }

    /// Admins: emergency accesses across patients, newest first, a page at a time.
    #[graphql(complexity = "child_complexity + crate::input::page_cost(page_size)")]
    async fn break_glass_accesses(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(custom = "PAGE_SIZE"))] page_size: Option<i32>,
        page_token: Option<String>,
    ) -> Result<BreakGlassAccessPage> {
        let request = as_caller(
            ctx,
            pb::ListBreakGlassRequest {
                page_size: page_size.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
            },
        )?;
        let page = client(ctx)
            .list_break_glass(request)
            .await
            .map_err(upstream)?
            .into_inner();
        Ok(BreakGlassAccessPage {
            accesses: page
                .accesses
                .into_iter()
                .map(BreakGlassAccess::from)
                .collect(),
            next_page_token: non_empty(page.next_page_token),
        })
    }

    /// Admins: walks the access log's hash chains (one patient's, or every patient's when
    /// `patientId` is absent) and names the first link that does not hold.
    async fn access_log_integrity(
        &self,
        ctx: &Context<'_>,
        patient_id: Option<ID>,
    ) -> Result<IntegrityReport> {
        let request = as_caller(
            ctx,
            pb::VerifyAccessLogRequest {
                patient_id: optional_id(patient_id),
            },
        )?;
        Ok(client(ctx)
            .verify_access_log(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }

    /// Patients: your own card as a file (JSON or PDF), inline as base64.
    async fn card_export(&self, ctx: &Context<'_>, format: ExportFormat) -> Result<CardExport> {
        let request = as_caller(
            ctx,
            pb::ExportCardRequest {
                format: format.to_proto().into(),
            },
        )?;
        Ok(client(ctx)
            .export_card(request)
            .await
            .map_err(upstream)?
            .into_inner()
            .into())
    }
}

/// An id as the contract takes it; absent is empty (the caller's own, or every one).
fn optional_id(id: Option<ID>) -> String {
    id.map(|i| i.0).unwrap_or_default()
}
