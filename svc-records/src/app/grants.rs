//! A patient's grants to doctors, and doctors' emergency ("break glass") accesses.

use chrono::{DateTime, Utc};
use medmesh_proto::records::v1 as pb;
use svc_kit::{auth::Role, idempotency::IdempotencyKey, paging, write};

use super::{App, person};
use crate::{
    convert,
    domain::{Basis, Caller},
    error::RecordsError,
    events,
    store::standing::{self, EmergencyRow, GrantRow},
};

/// A grant asked for.
#[derive(Debug, Clone)]
pub(crate) struct NewGrant {
    pub(crate) doctor_id: String,
    pub(crate) starts_at: Option<DateTime<Utc>>,
    pub(crate) ends_at: DateTime<Utc>,
}

impl App {
    pub(crate) async fn grant_access(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        new: &NewGrant,
    ) -> Result<pb::Grant, RecordsError> {
        let patient_id = person(caller)?;
        if new.doctor_id == patient_id {
            return Err(RecordsError::field("doctor_id", "is yourself"));
        }
        let grant_id = uuid::Uuid::now_v7().to_string();
        self.write(key, |txn| {
            let grant_id = &grant_id;
            async move {
                let txn = &*txn;
                let now = write::now();
                let starts_at = new
                    .starts_at
                    .unwrap_or(now)
                    .max(now - chrono::Duration::minutes(5));
                if new.ends_at <= starts_at.max(now) {
                    return Err(RecordsError::field(
                        "ends_at",
                        "must be after the start and in the future",
                    ));
                }
                if new.ends_at - starts_at > self.rules.max_grant {
                    return Err(RecordsError::field(
                        "ends_at",
                        format!(
                            "is more than {} days after the start",
                            self.rules.max_grant.num_days()
                        ),
                    ));
                }
                let row = GrantRow {
                    grant_id: grant_id.clone(),
                    patient_id: patient_id.to_string(),
                    doctor_id: new.doctor_id.clone(),
                    starts_at,
                    ends_at: new.ends_at,
                    revoked_at: None,
                    created_at: now,
                };
                standing::insert_grant(txn, &row).await?;
                self.log_write(
                    txn,
                    caller,
                    patient_id,
                    Basis::Own,
                    &format!("grant:{grant_id}"),
                    "",
                )
                .await?;
                self.outbox
                    .enqueue(
                        txn,
                        events::record(
                            "access_granted",
                            pb::RecordEvent {
                                patient_id: patient_id.to_string(),
                                grant_id: grant_id.clone(),
                                doctor_id: new.doctor_id.clone(),
                                actor: Some(events::actor(caller)),
                                ends_at: Some(crate::convert::timestamp(new.ends_at)),
                                ..Default::default()
                            },
                            now,
                        ),
                    )
                    .await?;
                Ok(convert::grant(&row, now))
            }
        })
        .await
    }

    pub(crate) async fn revoke_access(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        grant_id: &str,
    ) -> Result<pb::Grant, RecordsError> {
        let patient_id = person(caller)?;
        self.write(key, |txn| async move {
            let txn = &*txn;
            let row = standing::get_grant(txn, grant_id)
                .await?
                .filter(|g| g.patient_id == patient_id)
                .ok_or(RecordsError::NoSuch("grant"))?;
            let now = write::now();
            if standing::revoke_grant(txn, grant_id, now).await? {
                self.log_write(
                    txn,
                    caller,
                    patient_id,
                    Basis::Own,
                    &format!("grant:{grant_id}"),
                    "revoked",
                )
                .await?;
                self.outbox
                    .enqueue(
                        txn,
                        events::record(
                            "access_revoked",
                            pb::RecordEvent {
                                patient_id: patient_id.to_string(),
                                grant_id: grant_id.to_string(),
                                doctor_id: row.doctor_id.clone(),
                                actor: Some(events::actor(caller)),
                                ..Default::default()
                            },
                            now,
                        ),
                    )
                    .await?;
            }
            let row = standing::get_grant(txn, grant_id)
                .await?
                .ok_or(RecordsError::NoSuch("grant"))?;
            Ok(convert::grant(&row, now))
        })
        .await
    }

    /// A patient's given grants, or a doctor's received ones.
    pub(crate) async fn list_grants(
        &self,
        caller: &Caller,
        patient_id: Option<&str>,
        include_ended: bool,
    ) -> Result<pb::ListGrantsResponse, RecordsError> {
        let me = person(caller)?;
        let now = write::now();
        let rows = if caller.holds(Role::Patient) && patient_id.is_none_or(|p| p == me) {
            standing::grants(&self.db, true, me, include_ended, now).await?
        } else if caller.holds(Role::Doctor) {
            let mut rows = standing::grants(&self.db, false, me, include_ended, now).await?;
            if let Some(p) = patient_id {
                rows.retain(|g| g.patient_id == p);
            }
            rows
        } else {
            return Err(RecordsError::NoSuch("patient record"));
        };
        Ok(pb::ListGrantsResponse {
            grants: rows.iter().map(|g| convert::grant(g, now)).collect(),
        })
    }

    pub(crate) async fn break_glass(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        patient_id: &str,
        reason: &str,
    ) -> Result<pb::BreakGlassAccess, RecordsError> {
        let doctor_id = person(caller)?;
        if doctor_id == patient_id {
            return Err(RecordsError::field("patient_id", "is yourself"));
        }
        let access_id = uuid::Uuid::now_v7().to_string();
        let answer = self
            .write(key, |txn| {
                let access_id = &access_id;
                async move {
                    let txn = &*txn;
                    let now = write::now();
                    let row = EmergencyRow {
                        access_id: access_id.clone(),
                        patient_id: patient_id.to_string(),
                        doctor_id: doctor_id.to_string(),
                        reason: reason.to_string(),
                        opened_at: now,
                        expires_at: now + self.rules.break_glass,
                    };
                    standing::insert_emergency(txn, &row).await?;
                    self.log_write(
                        txn,
                        caller,
                        patient_id,
                        Basis::Emergency,
                        &format!("emergency-access:{access_id}"),
                        reason,
                    )
                    .await?;
                    self.outbox
                        .enqueue(
                            txn,
                            events::record(
                                "break_glass",
                                pb::RecordEvent {
                                    patient_id: patient_id.to_string(),
                                    doctor_id: doctor_id.to_string(),
                                    access_id: access_id.clone(),
                                    actor: Some(events::actor(caller)),
                                    ends_at: Some(crate::convert::timestamp(row.expires_at)),
                                    ..Default::default()
                                },
                                now,
                            ),
                        )
                        .await?;
                    // Recorded without the stated reason (idempotency keys keep answers in
                    // the clear); the answer carries it again below.
                    Ok(pb::BreakGlassAccess {
                        reason: String::new(),
                        ..convert::emergency(&row)
                    })
                }
            })
            .await?;
        let answer = pb::BreakGlassAccess {
            reason: reason.to_string(),
            ..answer
        };
        metrics::counter!("medmesh_records_break_glass_total").increment(1);
        tracing::warn!(access_id = %answer.access_id, "emergency access to a patient record opened");
        Ok(answer)
    }

    pub(crate) async fn list_break_glass(
        &self,
        page_size: u64,
        page_token: &str,
    ) -> Result<pb::ListBreakGlassResponse, RecordsError> {
        let after = super::entries::parse_cursor(page_token)?;
        let mut rows = standing::emergencies(&self.db, after, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, |r| {
            format!("{}|{}", r.opened_at.timestamp_micros(), r.access_id)
        });
        Ok(pb::ListBreakGlassResponse {
            accesses: rows.iter().map(convert::emergency).collect(),
            next_page_token,
        })
    }
}
