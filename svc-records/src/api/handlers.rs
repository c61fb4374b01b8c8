//! One adapter per RPC: parse, call the use case, answer.

use medmesh_proto::records::v1 as pb;
use svc_kit::input::{self, Violations};
use tonic::Request;

use super::{Answer, RecordsApi, key};
use crate::{
    app::{Action, DraftEdit, EntryPage, NewGrant, export::Format},
    domain::{Caller, Kind, Operation, entry},
    error::RecordsError,
};

/// The patient a request names; empty means the caller's own record.
fn patient(caller: &Caller, raw: &str) -> Answer<String> {
    if raw.is_empty() {
        return caller
            .user_id
            .clone()
            .ok_or_else(|| RecordsError::field("patient_id", "is required"));
    }
    Ok(input::id("patient_id", raw).map_err(svc_kit::ApiError::from)?)
}

fn page_size(raw: i32) -> Answer<u64> {
    Ok(svc_kit::paging::page_size(raw)?)
}

/// An entry id and the version it was read at: signing or discarding what someone else
/// changed since it was read is refused, so the version is required.
fn entry_at_version(entry_id: &str, version: i64) -> Answer<String> {
    let mut v = Violations::default();
    let entry_id = v.take(input::id("entry_id", entry_id));
    if version < 1 {
        v.push("version", "is required: the version the draft was read at");
    }
    v.finish()?;
    Ok(entry_id)
}

/// A content's kind when every field holds; every bad field otherwise.
fn content(field: &str, raw: Option<&pb::EntryContent>, v: &mut Violations) -> Option<Kind> {
    entry::check_content(field, raw, v)
}

impl RecordsApi {
    pub(super) async fn get_patient_card(
        &self,
        request: Request<pb::GetPatientCardRequest>,
    ) -> Answer<pb::PatientCard> {
        let raw = request.get_ref().patient_id.clone();
        let caller = self
            .caller_on(
                &request,
                Operation::ReadRecord,
                Some((&raw, Action::Read, "card")),
            )
            .await?;
        let patient_id = patient(&caller, &raw)?;
        self.app.patient_card(&caller, &patient_id).await
    }

    pub(super) async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Answer<pb::ListEntriesResponse> {
        let r = request.get_ref();
        let caller = self
            .caller_on(
                &request,
                Operation::ReadRecord,
                Some((&r.patient_id, Action::Read, "entries")),
            )
            .await?;
        let patient_id = patient(&caller, &r.patient_id)?;
        let mut kinds = Vec::new();
        for (n, k) in r.kinds.iter().enumerate() {
            match pb::EntryKind::try_from(*k).ok().and_then(Kind::from_pb) {
                Some(kind) => kinds.push(kind),
                None => {
                    return Err(RecordsError::field(
                        &format!("kinds[{n}]"),
                        "is not an entry kind",
                    ));
                }
            }
        }
        let page = EntryPage {
            patient_id,
            kinds,
            page_size: page_size(r.page_size)?,
            after: crate::app::parse_cursor(&r.page_token)?,
        };
        self.app.list_entries(&caller, page).await
    }

    pub(super) async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Answer<pb::Entry> {
        let caller = self.caller_for(&request, Operation::ReadRecord).await?;
        let entry_id =
            input::id("entry_id", &request.get_ref().entry_id).map_err(svc_kit::ApiError::from)?;
        self.app.get_entry(&caller, &entry_id).await
    }

    pub(super) async fn create_entry(
        &self,
        request: Request<pb::CreateEntryRequest>,
    ) -> Answer<pb::Entry> {
        let r = request.get_ref();
        let caller = self
            .caller_on(
                &request,
                Operation::WriteDraft,
                Some((&r.patient_id, Action::Write, "entry:new")),
            )
            .await?;
        let mut v = Violations::default();
        let patient_id = v.take(input::id("patient_id", &r.patient_id));
        let appointment_id = v.take(input::optional_id("appointment_id", &r.appointment_id));
        let kind = content("content", r.content.as_ref(), &mut v);
        v.finish()?;
        let (Some(kind), Some(body)) = (kind, r.content.as_ref()) else {
            return Err(RecordsError::field("content", "is required"));
        };
        let key = key(&caller, "CreateEntry", &r.request_id, r)?;
        self.app
            .create_entry(
                &caller,
                &key,
                &patient_id,
                kind,
                body,
                &appointment_id.unwrap_or_default(),
            )
            .await
    }

    pub(super) async fn update_draft(
        &self,
        request: Request<pb::UpdateDraftRequest>,
    ) -> Answer<pb::Entry> {
        let caller = self.caller_for(&request, Operation::WriteDraft).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let entry_id = v.take(input::id("entry_id", &r.entry_id));
        let appointment_id = v.take(input::optional_id("appointment_id", &r.appointment_id));
        let kind = content("content", r.content.as_ref(), &mut v);
        if r.version < 1 {
            v.push("version", "is required: the version the draft was read at");
        }
        v.finish()?;
        let (Some(kind), Some(body)) = (kind, r.content.as_ref()) else {
            return Err(RecordsError::field("content", "is required"));
        };
        let key = key(&caller, "UpdateDraft", &r.request_id, r)?;
        self.app
            .update_draft(
                &caller,
                &key,
                &DraftEdit {
                    entry_id: &entry_id,
                    version: r.version,
                    kind,
                    content: body,
                    appointment_id: &appointment_id.unwrap_or_default(),
                },
            )
            .await
    }

    pub(super) async fn discard_draft(
        &self,
        request: Request<pb::DiscardDraftRequest>,
    ) -> Answer<pb::DiscardDraftResponse> {
        let caller = self.caller_for(&request, Operation::WriteDraft).await?;
        let r = request.get_ref();
        let entry_id = entry_at_version(&r.entry_id, r.version)?;
        let key = key(&caller, "DiscardDraft", &r.request_id, r)?;
        self.app
            .discard_draft(&caller, &key, &entry_id, r.version)
            .await
    }

    pub(super) async fn sign_entry(
        &self,
        request: Request<pb::SignEntryRequest>,
    ) -> Answer<pb::Entry> {
        let caller = self.caller_for(&request, Operation::Sign).await?;
        let r = request.get_ref();
        let entry_id = entry_at_version(&r.entry_id, r.version)?;
        let key = key(&caller, "SignEntry", &r.request_id, r)?;
        self.app
            .sign_entry(&caller, &key, &entry_id, r.version)
            .await
    }

    pub(super) async fn amend_entry(
        &self,
        request: Request<pb::AmendEntryRequest>,
    ) -> Answer<pb::Entry> {
        let caller = self.caller_for(&request, Operation::Sign).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let entry_id = v.take(input::id("entry_id", &r.entry_id));
        let kind = content("content", r.content.as_ref(), &mut v);
        let reason = v.take(input::text("reason", &r.reason, 2000, true));
        v.finish()?;
        let (Some(kind), Some(body)) = (kind, r.content.as_ref()) else {
            return Err(RecordsError::field("content", "is required"));
        };
        let key = key(&caller, "AmendEntry", &r.request_id, r)?;
        self.app
            .amend_entry(&caller, &key, &entry_id, kind, body, &reason)
            .await
    }

    pub(super) async fn grant_access(
        &self,
        request: Request<pb::GrantAccessRequest>,
    ) -> Answer<pb::Grant> {
        let caller = self.caller_for(&request, Operation::Grant).await?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let doctor_id = v.take(input::id("doctor_id", &r.doctor_id));
        let starts_at = r
            .starts_at
            .as_ref()
            .map(|at| v.take(input::instant("starts_at", Some(at))));
        let ends_at = v.take(input::instant("ends_at", r.ends_at.as_ref()));
        v.finish()?;
        let key = key(&caller, "GrantAccess", &r.request_id, r)?;
        let new = NewGrant {
            doctor_id,
            starts_at,
            ends_at,
        };
        self.app.grant_access(&caller, &key, &new).await
    }

    pub(super) async fn revoke_access(
        &self,
        request: Request<pb::RevokeAccessRequest>,
    ) -> Answer<pb::Grant> {
        let caller = self.caller_for(&request, Operation::Grant).await?;
        let r = request.get_ref();
        let grant_id = input::id("grant_id", &r.grant_id).map_err(svc_kit::ApiError::from)?;
        let key = key(&caller, "RevokeAccess", &r.request_id, r)?;
        self.app.revoke_access(&caller, &key, &grant_id).await
    }

    pub(super) async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Answer<pb::ListGrantsResponse> {
        let caller = self.caller_for(&request, Operation::ReadGrants).await?;
        let r = request.get_ref();
        let patient_id =
            input::optional_id("patient_id", &r.patient_id).map_err(svc_kit::ApiError::from)?;
        self.app
            .list_grants(&caller, patient_id.as_deref(), r.include_ended)
            .await
    }

    pub(super) async fn break_glass(
        &self,
        request: Request<pb::BreakGlassRequest>,
    ) -> Answer<pb::BreakGlassAccess> {
        let r = request.get_ref();
        let caller = self
            .caller_on(
                &request,
                Operation::BreakGlass,
                Some((&r.patient_id, Action::Read, "emergency-access")),
            )
            .await?;
        let mut v = Violations::default();
        let patient_id = v.take(input::id("patient_id", &r.patient_id));
        let reason = v.take(input::text("reason", &r.reason, 500, true));
        if !reason.is_empty() && reason.chars().count() < 10 {
            v.push("reason", "must say why in at least 10 characters");
        }
        v.finish()?;
        let key = key(&caller, "BreakGlass", &r.request_id, r)?;
        self.app
            .break_glass(&caller, &key, &patient_id, &reason)
            .await
    }

    pub(super) async fn list_break_glass(
        &self,
        request: Request<pb::ListBreakGlassRequest>,
    ) -> Answer<pb::ListBreakGlassResponse> {
        self.caller_for(&request, Operation::ReadBreakGlass).await?;
        let r = request.get_ref();
        self.app
            .list_break_glass(page_size(r.page_size)?, &r.page_token)
            .await
    }

    pub(super) async fn list_access_log(
        &self,
        request: Request<pb::ListAccessLogRequest>,
    ) -> Answer<pb::ListAccessLogResponse> {
        let r = request.get_ref();
        let caller = self
            .caller_on(
                &request,
                Operation::ReadAccessLog,
                Some((&r.patient_id, Action::Read, "access-log")),
            )
            .await?;
        let patient_id = patient(&caller, &r.patient_id)?;
        let before = match svc_kit::paging::decode_token(&r.page_token)? {
            Some(s) => Some(
                s.parse::<i64>()
                    .map_err(|_| svc_kit::paging::bad_page_token())?,
            ),
            None => None,
        };
        self.app
            .access_log(
                &caller,
                &patient_id,
                r.flagged_only,
                page_size(r.page_size)?,
                before,
            )
            .await
    }

    pub(super) async fn verify_access_log(
        &self,
        request: Request<pb::VerifyAccessLogRequest>,
    ) -> Answer<pb::IntegrityReport> {
        self.caller_for(&request, Operation::VerifyLog).await?;
        let patient_id = input::optional_id("patient_id", &request.get_ref().patient_id)
            .map_err(svc_kit::ApiError::from)?;
        self.app.verify_log(patient_id.as_deref()).await
    }

    pub(super) async fn export_card(
        &self,
        request: Request<pb::ExportCardRequest>,
    ) -> Answer<pb::CardExport> {
        let caller = self.caller_for(&request, Operation::Export).await?;
        let format = match request.get_ref().format() {
            pb::ExportFormat::Json => Format::Json,
            pb::ExportFormat::Pdf => Format::Pdf,
            pb::ExportFormat::Unspecified => {
                return Err(RecordsError::field("format", "is required: JSON or PDF"));
            }
        };
        // The patient's name heads the file, as accounts knows it (their own token asks).
        let name = match &caller.user_id {
            Some(me) => self
                .people
                .profile(svc_kit::auth::request_token(&request)?, me)
                .await
                .map(|p| {
                    format!("{} {}", p.given_name, p.family_name)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        self.app.export_card(&caller, format, &name).await
    }
}
