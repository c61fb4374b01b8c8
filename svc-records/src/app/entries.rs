//! Entries: read one or a page, write a draft, edit it, sign it, amend what was signed.

use chrono::{DateTime, Utc};
use medmesh_proto::records::v1 as pb;
use svc_kit::{auth::Role, idempotency::IdempotencyKey, paging, write};

use super::{Action, App, person};
use crate::{
    domain::{Basis, Caller, Kind, Status, entry},
    error::RecordsError,
    events,
    store::{entries as store, standing},
};

/// A page of entries asked for.
#[derive(Debug, Clone)]
pub(crate) struct EntryPage {
    pub(crate) patient_id: String,
    pub(crate) kinds: Vec<Kind>,
    pub(crate) page_size: u64,
    pub(crate) after: Option<(DateTime<Utc>, String)>,
}

/// A draft's new content, at the version it was read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DraftEdit<'a> {
    pub(crate) entry_id: &'a str,
    pub(crate) version: i64,
    pub(crate) kind: Kind,
    pub(crate) content: &'a pb::EntryContent,
    pub(crate) appointment_id: &'a str,
}

/// A page cursor: `<micros since epoch>|<entry id>`.
pub(crate) fn cursor(row: &store::EntryRow) -> String {
    format!("{}|{}", row.created_at.timestamp_micros(), row.entry_id)
}

pub(crate) fn parse_cursor(token: &str) -> Result<Option<(DateTime<Utc>, String)>, RecordsError> {
    let Some(raw) = paging::decode_token(token)? else {
        return Ok(None);
    };
    raw.split_once('|')
        .and_then(|(micros, id)| {
            let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some((at, id.to_string()))
        })
        .map(Some)
        .ok_or_else(|| paging::bad_page_token().into())
}

impl App {
    pub(crate) async fn list_entries(
        &self,
        caller: &Caller,
        page: EntryPage,
    ) -> Result<pb::ListEntriesResponse, RecordsError> {
        let basis = self
            .admit(caller, &page.patient_id, Action::Read, "entries")
            .await?;
        let kinds: Vec<&str> = page.kinds.iter().map(|k| k.as_str()).collect();
        let mut rows = store::list(
            &self.db,
            &page.patient_id,
            !basis.sees_drafts(),
            &kinds,
            page.after,
            page.page_size + 1,
        )
        .await?;
        let next_page_token = paging::next_page(&mut rows, page.page_size, cursor);
        let entries = rows
            .iter()
            .map(|r| self.show(r).map(strip_document))
            .collect::<Result<Vec<_>, _>>()?;
        self.log_read(caller, &page.patient_id, basis, "entries")
            .await?;
        Ok(pb::ListEntriesResponse {
            entries,
            next_page_token,
        })
    }

    pub(crate) async fn get_entry(
        &self,
        caller: &Caller,
        entry_id: &str,
    ) -> Result<pb::Entry, RecordsError> {
        let row = store::get(&self.db, entry_id)
            .await?
            .ok_or(RecordsError::NoSuch("entry"))?;
        let resource = format!("entry:{entry_id}");
        let basis = self
            .admit(caller, &row.patient_id, Action::Read, &resource)
            .await?;
        if row.status != Status::Signed.as_str() && !basis.sees_drafts() {
            self.log_refusal(caller, &row.patient_id, Action::Read, &resource, "a draft")
                .await;
            return Err(RecordsError::NoSuch("entry"));
        }
        let shown = self.show(&row)?;
        self.log_read(caller, &row.patient_id, basis, &resource)
            .await?;
        Ok(shown)
    }

    /// The basis a clinician writes on, and the kinds they may write.
    async fn admit_writer(
        &self,
        caller: &Caller,
        patient_id: &str,
        kind: Kind,
        resource: &str,
    ) -> Result<Basis, RecordsError> {
        if caller.is(patient_id) {
            // Nobody writes their own record.
            return Err(RecordsError::denied());
        }
        let basis = self
            .admit(caller, patient_id, Action::Write, resource)
            .await?;
        if !basis.sees_drafts() {
            return Err(RecordsError::denied());
        }
        if !caller.holds(Role::Doctor) && !kind.nurse_may_write() {
            return Err(RecordsError::field(
                "content",
                "a nurse records observations and lab results; other entries are a doctor's",
            ));
        }
        Ok(basis)
    }

    /// The appointment an entry links to must be one of the patient's.
    async fn check_appointment(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        patient_id: &str,
        appointment_id: &str,
    ) -> Result<(), RecordsError> {
        if appointment_id.is_empty() {
            return Ok(());
        }
        match standing::visit(conn, appointment_id).await? {
            Some((patient, _)) if patient == patient_id => Ok(()),
            _ => Err(RecordsError::field(
                "appointment_id",
                "is not an appointment of this patient",
            )),
        }
    }

    pub(crate) async fn create_entry(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        patient_id: &str,
        kind: Kind,
        content: &pb::EntryContent,
        appointment_id: &str,
    ) -> Result<pb::Entry, RecordsError> {
        let author = person(caller)?;
        if let Some(first) = write::replay::<pb::Entry>(&self.db, key).await? {
            return self.answer(caller, &first).await;
        }
        let basis = self
            .admit_writer(caller, patient_id, kind, "entry:new")
            .await?;
        self.check_appointment(&self.db, patient_id, appointment_id)
            .await?;
        let entry_id = uuid::Uuid::now_v7().to_string();
        let sealed = self.seal_entry(&entry_id, patient_id, 1, content, "");
        let receipt = self
            .write(key, |txn| {
                let (sealed, entry_id) = (&sealed, &entry_id);
                async move {
                    let txn = &*txn;
                    store::insert(
                        txn,
                        &store::NewEntry {
                            entry_id,
                            patient_id,
                            author_id: author,
                            kind: kind.as_str(),
                            status: Status::Draft.as_str(),
                            appointment_id,
                            amends_entry_id: None,
                            signed_by: "",
                            sealed,
                            at: write::now(),
                        },
                    )
                    .await?;
                    self.log_write(
                        txn,
                        caller,
                        patient_id,
                        basis,
                        &format!("entry:{entry_id}"),
                        "",
                    )
                    .await?;
                    self.receipt(txn, entry_id).await
                }
            })
            .await?;
        self.answer(caller, &receipt).await
    }

    /// The entry's patient and the caller's basis to write on it, decided before the write's
    /// transaction (a refusal is logged in its own).
    async fn writer_for(
        &self,
        caller: &Caller,
        entry_id: &str,
        kind_written: Option<Kind>,
        author_only: Option<&'static str>,
    ) -> Result<(store::EntryRow, Basis), RecordsError> {
        let row = store::get(&self.db, entry_id)
            .await?
            .ok_or(RecordsError::NoSuch("entry"))?;
        let kind = Kind::parse(&row.kind).ok_or(RecordsError::NoSuch("entry"))?;
        let resource = format!("entry:{entry_id}");
        let basis = self
            .admit_writer(
                caller,
                &row.patient_id,
                kind_written.unwrap_or(kind),
                &resource,
            )
            .await?;
        if let Some(refusal) = author_only
            && !caller.is(&row.author_id)
        {
            self.log_refusal(caller, &row.patient_id, Action::Write, &resource, refusal)
                .await;
            return Err(RecordsError::Kit(svc_kit::ApiError::PermissionDenied(
                refusal.into(),
            )));
        }
        Ok((row, basis))
    }

    pub(crate) async fn update_draft(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        edit: &DraftEdit<'_>,
    ) -> Result<pb::Entry, RecordsError> {
        let DraftEdit {
            entry_id,
            version,
            kind,
            content,
            appointment_id,
        } = *edit;
        person(caller)?;
        if let Some(first) = write::replay::<pb::Entry>(&self.db, key).await? {
            return self.answer(caller, &first).await;
        }
        let (_, basis) = self
            .writer_for(
                caller,
                entry_id,
                Some(kind),
                Some("only its author edits a draft"),
            )
            .await?;
        let receipt = self
            .write(key, |txn| async move {
                let txn = &*txn;
                let row = locked(txn, entry_id).await?;
                let status = Status::parse(&row.status).unwrap_or(Status::Signed);
                entry::check_draft(status, row.version, version)?;
                if row.kind != kind.as_str() {
                    return Err(RecordsError::field(
                        "content",
                        format!("a draft keeps its kind ({})", row.kind),
                    ));
                }
                self.check_appointment(txn, &row.patient_id, appointment_id)
                    .await?;
                let sealed =
                    self.seal_entry(entry_id, &row.patient_id, row.version + 1, content, "");
                if !store::update_draft(
                    txn,
                    entry_id,
                    row.version,
                    appointment_id,
                    &sealed,
                    write::now(),
                )
                .await?
                {
                    return Err(RecordsError::moved_on());
                }
                self.log_write(
                    txn,
                    caller,
                    &row.patient_id,
                    basis,
                    &format!("entry:{entry_id}"),
                    "",
                )
                .await?;
                self.receipt(txn, entry_id).await
            })
            .await?;
        self.answer(caller, &receipt).await
    }

    pub(crate) async fn discard_draft(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        entry_id: &str,
        version: i64,
    ) -> Result<pb::DiscardDraftResponse, RecordsError> {
        person(caller)?;
        if let Some(first) = write::replay(&self.db, key).await? {
            return Ok(first);
        }
        let (_, basis) = self
            .writer_for(
                caller,
                entry_id,
                None,
                Some("only its author discards a draft"),
            )
            .await?;
        self.write(key, |txn| async move {
            let txn = &*txn;
            let row = locked(txn, entry_id).await?;
            let status = Status::parse(&row.status).unwrap_or(Status::Signed);
            entry::check_draft(status, row.version, version)?;
            if !store::discard(txn, entry_id, row.version).await? {
                return Err(RecordsError::moved_on());
            }
            self.log_write(
                txn,
                caller,
                &row.patient_id,
                basis,
                &format!("entry:{entry_id}"),
                "discarded",
            )
            .await?;
            Ok(pb::DiscardDraftResponse {
                entry_id: entry_id.to_string(),
            })
        })
        .await
    }

    pub(crate) async fn sign_entry(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        entry_id: &str,
        version: i64,
    ) -> Result<pb::Entry, RecordsError> {
        let signer = person(caller)?;
        if let Some(first) = write::replay::<pb::Entry>(&self.db, key).await? {
            return self.answer(caller, &first).await;
        }
        let (_, basis) = self.writer_for(caller, entry_id, None, None).await?;
        let receipt = self
            .write(key, |txn| async move {
                let txn = &*txn;
                let row = locked(txn, entry_id).await?;
                let status = Status::parse(&row.status).unwrap_or(Status::Signed);
                entry::check_draft(status, row.version, version)?;
                let at = write::now();
                // Sealed again for the signed version: the draft's ciphertext no longer opens
                // in its place.
                let (content, _) = self.open_entry(&row)?;
                let sealed =
                    self.seal_entry(entry_id, &row.patient_id, row.version + 1, &content, "");
                if !store::sign(txn, entry_id, row.version, signer, &sealed, at).await? {
                    return Err(RecordsError::moved_on());
                }
                self.log_write(
                    txn,
                    caller,
                    &row.patient_id,
                    basis,
                    &format!("entry:{entry_id}"),
                    "signed",
                )
                .await?;
                self.outbox
                    .enqueue(
                        txn,
                        events::record(
                            "entry_signed",
                            pb::RecordEvent {
                                patient_id: row.patient_id.clone(),
                                entry_id: entry_id.to_string(),
                                kind: Kind::parse(&row.kind).map_or(0, |k| k.to_pb().into()),
                                actor: Some(events::actor(caller)),
                                ..Default::default()
                            },
                            at,
                        ),
                    )
                    .await?;
                self.receipt(txn, entry_id).await
            })
            .await?;
        self.answer(caller, &receipt).await
    }

    pub(crate) async fn amend_entry(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        entry_id: &str,
        kind: Kind,
        content: &pb::EntryContent,
        reason: &str,
    ) -> Result<pb::Entry, RecordsError> {
        let author = person(caller)?;
        let amendment_id = uuid::Uuid::now_v7().to_string();
        if let Some(first) = write::replay::<pb::Entry>(&self.db, key).await? {
            return self.answer(caller, &first).await;
        }
        let (_, basis) = self.writer_for(caller, entry_id, Some(kind), None).await?;
        let receipt = self
            .write(key, |txn| {
                let amendment_id = &amendment_id;
                async move {
                    let txn = &*txn;
                    let row = locked(txn, entry_id).await?;
                    let status = Status::parse(&row.status).unwrap_or(Status::Draft);
                    let original = Kind::parse(&row.kind).ok_or(RecordsError::NoSuch("entry"))?;
                    entry::check_amendment(status, row.amended_by.as_deref(), original, kind)?;
                    let sealed = self.seal_entry(amendment_id, &row.patient_id, 1, content, reason);
                    let at = write::now();
                    store::insert(
                        txn,
                        &store::NewEntry {
                            entry_id: amendment_id,
                            patient_id: &row.patient_id,
                            author_id: author,
                            kind: kind.as_str(),
                            status: Status::Signed.as_str(),
                            appointment_id: &row.appointment_id,
                            amends_entry_id: Some(entry_id),
                            signed_by: author,
                            sealed: &sealed,
                            at,
                        },
                    )
                    .await?;
                    self.log_write(
                        txn,
                        caller,
                        &row.patient_id,
                        basis,
                        &format!("entry:{amendment_id}"),
                        &format!("amends entry:{entry_id}"),
                    )
                    .await?;
                    self.outbox
                        .enqueue(
                            txn,
                            events::record(
                                "amended",
                                pb::RecordEvent {
                                    patient_id: row.patient_id.clone(),
                                    entry_id: amendment_id.clone(),
                                    kind: kind.to_pb().into(),
                                    amends_entry_id: entry_id.to_string(),
                                    actor: Some(events::actor(caller)),
                                    ..Default::default()
                                },
                                at,
                            ),
                        )
                        .await?;
                    self.receipt(txn, amendment_id).await
                }
            })
            .await?;
        self.answer(caller, &receipt).await
    }
}

/// The entry, its row locked for the rest of the transaction.
async fn locked(
    txn: &sea_orm::DatabaseTransaction,
    entry_id: &str,
) -> Result<store::EntryRow, RecordsError> {
    store::lock(txn, entry_id)
        .await?
        .ok_or(RecordsError::NoSuch("entry"))
}

impl App {
    /// The entry as it now stands in `txn`, without its content: what a write records as its
    /// answer (idempotency keys keep answers in the clear, so they hold no clinical content).
    async fn receipt(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        entry_id: &str,
    ) -> Result<pb::Entry, RecordsError> {
        let row = store::get(txn, entry_id)
            .await?
            .ok_or(RecordsError::NoSuch("entry"))?;
        Ok(crate::convert::entry(
            &row,
            pb::EntryContent::default(),
            String::new(),
        ))
    }

    /// A write's answer: the entry its receipt names, as it stands now, opened for a caller
    /// who may still read it (a retry after a grant ended finds nothing).
    async fn answer(
        &self,
        caller: &Caller,
        receipt: &pb::Entry,
    ) -> Result<pb::Entry, RecordsError> {
        let row = store::get(&self.db, &receipt.entry_id)
            .await?
            .ok_or(RecordsError::NoSuch("entry"))?;
        let resource = format!("entry:{}", row.entry_id);
        let basis = self
            .admit(caller, &row.patient_id, Action::Read, &resource)
            .await?;
        if row.status != Status::Signed.as_str() && !basis.sees_drafts() {
            return Err(RecordsError::NoSuch("entry"));
        }
        self.show(&row)
    }
}

/// A document without its content (in lists and cards; read the entry for it).
pub(crate) fn strip_document(mut entry: pb::Entry) -> pb::Entry {
    if let Some(pb::entry_content::Body::Document(d)) =
        entry.content.as_mut().and_then(|c| c.body.as_mut())
    {
        d.size_bytes = i64::try_from(d.content.len()).unwrap_or(i64::MAX);
        d.content.clear();
    }
    entry
}
