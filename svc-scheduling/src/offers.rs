//! Freed time goes to the waitlist: when an appointment is cancelled or moved, or a hold runs
//! out, the first patient waiting for that doctor on that date is offered the slot as a hold of
//! their own. If they let it run out, the next one is offered it.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseTransaction, DbErr, TransactionTrait};
use svc_kit::events::Outbox;

use crate::{
    domain::Status,
    events::{Names, appointment_event},
    store::{
        appointments::{self, AppointmentRecord, WriteError},
        directory,
        waitlist::{self, EntryStatus},
    },
};

/// Offers the time `freed` occupied to the first waiting patient who can take it. Runs inside
/// the transaction that freed it; each candidate is tried in a savepoint, so one who is busy at
/// that time is passed over without undoing the rest.
pub(crate) async fn offer_freed_time(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    freed: &AppointmentRecord,
    now: DateTime<Utc>,
    offer: Duration,
) -> Result<Option<AppointmentRecord>, DbErr> {
    if freed.starts_at <= now {
        return Ok(None);
    }
    let Ok(tz) = freed.time_zone.parse::<chrono_tz::Tz>() else {
        return Ok(None);
    };
    let date = freed.starts_at.with_timezone(&tz).date_naive();
    let candidates = waitlist::waiting_for(txn, &freed.doctor_id, date).await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let names = names(txn, freed).await?;
    for entry in candidates {
        let hold = AppointmentRecord {
            appointment_id: uuid::Uuid::now_v7().to_string(),
            patient_id: entry.patient_id.clone(),
            status: Status::Held,
            hold_expires_at: Some(now + offer),
            reason: String::new(),
            cancellation_reason: String::new(),
            override_reason: String::new(),
            waitlist_entry_id: entry.entry_id.clone(),
            created_by: "waitlist".to_string(),
            created_at: now,
            updated_at: now,
            version: 1,
            ..freed.clone()
        };
        let savepoint = txn.begin().await?;
        if appointments::check_time(&savepoint, &hold, None, now)
            .await?
            .taken
            .is_some()
        {
            savepoint.rollback().await?;
            continue;
        }
        match appointments::insert(&savepoint, &hold).await {
            Ok(()) => {}
            Err(WriteError::Conflict(_)) => {
                savepoint.rollback().await?;
                continue;
            }
            Err(WriteError::Db(error)) => return Err(error),
        }
        waitlist::set_status(
            &savepoint,
            &entry.entry_id,
            EntryStatus::Offered,
            &hold.appointment_id,
        )
        .await?;
        outbox
            .enqueue(
                &savepoint,
                appointment_event("waitlist.offered", &hold, None, None, &names),
            )
            .await?;
        savepoint.commit().await?;
        return Ok(Some(hold));
    }
    Ok(None)
}

/// The doctor's and clinic's names for an event.
pub(crate) async fn names(
    txn: &DatabaseTransaction,
    a: &AppointmentRecord,
) -> Result<Names, DbErr> {
    let doctor = directory::get_doctor(txn, &a.doctor_id).await?;
    let clinic = directory::get_clinic(txn, &a.clinic_id).await?;
    Ok(Names {
        doctor: doctor.map(|d| d.display_name).unwrap_or_default(),
        clinic: clinic.map(|c| c.name).unwrap_or_default(),
    })
}

/// Marks one hold expired (if it still is a hold past its time), audited and evented, lapses
/// its waitlist offer and, with `offer_next`, offers the time to the next patient waiting (not
/// when the caller is about to take that time itself). Returns whether it expired the hold.
pub(crate) async fn expire_hold(
    txn: &DatabaseTransaction,
    outbox: &Outbox,
    appointment_id: &str,
    now: DateTime<Utc>,
    offer: Duration,
    offer_next: bool,
) -> Result<bool, DbErr> {
    let Some(hold) = appointments::get(txn, appointment_id).await? else {
        return Ok(false);
    };
    if hold.status != Status::Held || hold.hold_expires_at.is_none_or(|at| at > now) {
        return Ok(false);
    }
    let expired = AppointmentRecord {
        status: Status::Expired,
        updated_at: now,
        version: hold.version + 1,
        ..hold.clone()
    };
    match appointments::save(txn, &expired).await {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(WriteError::Db(error)) => return Err(error),
        Err(WriteError::Conflict(_)) => return Ok(false),
    }
    appointments::audit(
        txn,
        &appointments::AuditEntry {
            appointment_id: &hold.appointment_id,
            actor_subject: "scheduling",
            action: "hold.expired",
            from: Some(Status::Held),
            to: Some(Status::Expired),
            reason: "",
            at: now,
        },
    )
    .await?;
    let names = names(txn, &expired).await?;
    outbox
        .enqueue(
            txn,
            appointment_event("hold.expired", &expired, None, None, &names),
        )
        .await?;
    if !hold.waitlist_entry_id.is_empty() {
        waitlist::set_status(
            txn,
            &hold.waitlist_entry_id,
            EntryStatus::Lapsed,
            &hold.appointment_id,
        )
        .await?;
    }
    if offer_next {
        offer_freed_time(txn, outbox, &expired, now, offer).await?;
    }
    Ok(true)
}
