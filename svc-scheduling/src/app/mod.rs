//! The use cases: one function per operation, taking typed input and the caller, returning the
//! answer or a [`SchedulingError`]. Each write runs through `svc_kit::write` (one transaction
//! holding the change, its audit entry, its event and its idempotency key, run again on
//! contention); the cached free slots are refreshed after the commit.
//!
//! `app` knows the domain and the store, never tonic: the API parses requests into these inputs
//! and maps the results back.

mod appointments;
mod booking;
mod changes;
mod confirmation;
mod directory;
mod schedule;
mod waitlist;

use std::{future::Future, time::Duration};

use chrono_tz::Tz;
use prost::Message;
use sea_orm::DatabaseConnection;
use svc_kit::{
    cache::Cache,
    events::Outbox,
    idempotency::IdempotencyKey,
    people::People,
    write::{self, Txn},
};

pub(crate) use self::{
    booking::Booking,
    directory::{CabinetInput, ClinicInput, DoctorInput},
    schedule::{ExceptionInput, FreeSlotsQuery, TemplateInput},
    waitlist::WaitlistJoin,
};
/// Inputs the use cases share with the store: a listing's filter, a specialization as given.
pub(crate) use crate::store::{
    appointments::AppointmentFilter,
    directory::{DoctorFilter, SpecializationRecord},
};
use crate::{
    documents::DocumentStore,
    domain::{Caller, Operation, Reach, access},
    error::SchedulingError,
    events::Names,
    store::directory::{self as dir, ClinicRecord, DoctorRecord},
};

/// How long holds and waitlist offers last, and how far free-slot reads reach.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub hold: chrono::Duration,
    pub offer: chrono::Duration,
    /// The longest range of free slots one call may ask for.
    pub max_range: chrono::Duration,
    /// How long a computed list of free slots may be served from the cache.
    pub slots_ttl: Duration,
    /// What one patient may take for themselves.
    pub caps: PatientCaps,
}

/// What one patient may take for themselves at a time (`scheduling.patient_max_*`); staff
/// booking for a patient are not held to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientCaps {
    pub live_holds: i64,
    pub upcoming: i64,
    pub upcoming_per_doctor: i64,
}

/// What the use cases work with.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) db: DatabaseConnection,
    pub(crate) outbox: Outbox,
    pub(crate) people: People,
    pub(crate) cache: Cache,
    pub(crate) rules: Rules,
    pub(crate) documents: DocumentStore,
}

/// The widest reach the caller has for `operation`; refused if their roles don't name it.
pub(crate) fn allowed(operation: Operation, caller: &Caller) -> Result<Reach, SchedulingError> {
    access::reach(operation, caller)
        .ok_or_else(|| SchedulingError::denied("not allowed for this caller"))
}

/// A doctor with their clinic and zone, as a booking needs them.
#[derive(Debug)]
pub(crate) struct Practice {
    pub(crate) doctor: DoctorRecord,
    pub(crate) clinic: ClinicRecord,
    pub(crate) tz: Tz,
}

impl Practice {
    fn names(&self) -> Names {
        Names {
            doctor: self.doctor.display_name.clone(),
            clinic: self.clinic.name.clone(),
        }
    }
}

/// The kit's write helpers, answering the service's error.
impl App {
    /// `svc_kit::write::write`: the change, its answer recorded under `key`, committed; run
    /// again on contention; a failure answered by the first answer when there is one.
    async fn write<M, F, Fut>(&self, key: &IdempotencyKey, change: F) -> Result<M, SchedulingError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<M, SchedulingError>>,
    {
        write::write(&self.db, key, change).await
    }

    /// `svc_kit::write::recorded`: [`App::write`] without the replay, for a use case that wraps
    /// its checks and the write together in `or_replay`.
    async fn recorded<M, F, Fut>(
        &self,
        key: &IdempotencyKey,
        change: F,
    ) -> Result<M, SchedulingError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<M, SchedulingError>>,
    {
        write::recorded(&self.db, key, change).await
    }

    /// `svc_kit::write::write_with`: [`App::write`] keeping what else the change returns
    /// (`None` on a replay).
    async fn write_with<M, X, F, Fut>(
        &self,
        key: &IdempotencyKey,
        change: F,
    ) -> Result<(M, Option<X>), SchedulingError>
    where
        M: Message + Default,
        F: FnMut(Txn) -> Fut,
        Fut: Future<Output = Result<(M, X), SchedulingError>>,
    {
        write::write_with(&self.db, key, change).await
    }
}

impl App {
    /// The doctor `doctor_id` names, listed and not archived; a field error on `field` otherwise.
    pub(crate) async fn practice(
        &self,
        field: &str,
        doctor_id: &str,
    ) -> Result<Practice, SchedulingError> {
        let (doctor, clinic) = dir::get_practice(&self.db, doctor_id)
            .await?
            .filter(|(d, _)| !d.archived)
            .ok_or_else(|| SchedulingError::field(field, "no such doctor"))?;
        let tz = clinic.time_zone.parse::<Tz>().map_err(|_| {
            svc_kit::ApiError::internal(format!("clinic {} has no valid zone", clinic.clinic_id))
        })?;
        Ok(Practice { doctor, clinic, tz })
    }

    /// The doctor a booking for `patient_id` names, if the caller reaches them for that patient;
    /// a doctor out of reach (another clinic's, for its staff) reads as no such doctor.
    pub(crate) async fn practice_within_reach(
        &self,
        caller: &Caller,
        reach: Reach,
        patient_id: &str,
        field: &str,
        doctor_id: &str,
    ) -> Result<Practice, SchedulingError> {
        let practice = self.practice(field, doctor_id).await?;
        if caller.reaches(
            reach,
            patient_id,
            &practice.doctor.doctor_id,
            &practice.clinic.clinic_id,
        ) {
            Ok(practice)
        } else {
            Err(SchedulingError::field(field, "no such doctor"))
        }
    }
}

/// Who the appointment is for: the caller themself (a patient; `given` empty or their own id),
/// or the patient staff name.
pub(crate) fn patient_for(
    caller: &Caller,
    reach: Reach,
    given: Option<String>,
) -> Result<String, SchedulingError> {
    match given {
        None => caller
            .user_id
            .clone()
            .filter(|_| caller.holds_role(svc_kit::auth::Role::Patient) || reach == Reach::Own)
            .ok_or_else(|| {
                SchedulingError::field("patient_id", "is required when booking for a patient")
            }),
        Some(id) if reach == Reach::Own && !caller.is(&id) => {
            Err(SchedulingError::denied("a patient books only for themself"))
        }
        Some(id) => Ok(id),
    }
}
