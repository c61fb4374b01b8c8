//! Clinics, cabinets, specializations and the doctor directory.

use medmesh_proto::{accounts::v1::Role as AccountRole, scheduling::v1 as pb};
use sea_orm::DbErr;
use svc_kit::{
    ApiError,
    idempotency::IdempotencyKey,
    paging,
    write::{DbFailure, classify},
};

use super::{App, allowed};
use crate::{
    convert,
    domain::{Caller, Operation},
    error::SchedulingError,
    slots, store,
    store::directory::{
        self as dir, CabinetRecord, ClinicRecord, DoctorFilter, DoctorRecord, SpecializationRecord,
    },
};

/// A clinic as a create or an update gives it (`clinic_id` and `version` for updates; version
/// 0: whatever it is now).
#[derive(Debug, Clone)]
pub(crate) struct ClinicInput {
    pub(crate) clinic_id: String,
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) time_zone: String,
    pub(crate) cancellation_cutoff_minutes: i32,
    pub(crate) archived: bool,
    pub(crate) version: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CabinetInput {
    /// The clinic (create) or the cabinet (update).
    pub(crate) id: String,
    pub(crate) room: String,
    pub(crate) floor: String,
    pub(crate) archived: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DoctorInput {
    pub(crate) doctor_id: String,
    pub(crate) specialization_id: String,
    pub(crate) clinic_id: String,
    pub(crate) cabinet_id: Option<String>,
    pub(crate) bio: String,
    pub(crate) years_of_experience: i32,
    pub(crate) default_visit_minutes: u32,
    pub(crate) archived: bool,
}

const ROOM_TAKEN: &str = "the clinic already has a cabinet in that room";
const NAME_TAKEN: &str = "a specialization of that name exists";

/// A duplicate room is the caller's conflict; anything else is the database's.
fn room_taken(error: DbErr) -> SchedulingError {
    match classify(&error) {
        DbFailure::Duplicate(_) => SchedulingError::Duplicate(ROOM_TAKEN),
        _ => error.into(),
    }
}

impl App {
    pub(crate) async fn create_clinic(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: ClinicInput,
    ) -> Result<pb::Clinic, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        let now = store::now();
        let record = ClinicRecord {
            clinic_id: uuid::Uuid::now_v7().to_string(),
            name: given.name,
            address: given.address,
            time_zone: given.time_zone,
            cancellation_cutoff_minutes: given.cancellation_cutoff_minutes,
            archived: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let record = &record;
        self.write(key, |txn| async move {
            let txn = &*txn;
            dir::insert_clinic(txn, record).await?;
            Ok(convert::clinic(record))
        })
        .await
    }

    /// Updates a clinic; a new time zone moves every one of its doctors' free slots, so each
    /// doctor's cached slots are refreshed and a `schedule.changed` goes out for each.
    pub(crate) async fn update_clinic(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: ClinicInput,
    ) -> Result<pb::Clinic, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        let given = &given;
        let (clinic, moved) = self
            .write_with(key, |txn| async move {
                let txn = &*txn;
                let before = dir::get_clinic(txn, &given.clinic_id)
                    .await?
                    .ok_or(SchedulingError::NoSuch("clinic"))?;
                if given.version != 0 && given.version != before.version {
                    return Err(ApiError::Aborted(format!(
                        "the clinic is at version {}, not {}; read it again and retry",
                        before.version, given.version
                    ))
                    .into());
                }
                let after = ClinicRecord {
                    name: given.name.clone(),
                    address: given.address.clone(),
                    time_zone: given.time_zone.clone(),
                    cancellation_cutoff_minutes: given.cancellation_cutoff_minutes,
                    archived: given.archived,
                    version: before.version + 1,
                    updated_at: store::now(),
                    ..before.clone()
                };
                if !dir::update_clinic(txn, &after).await? {
                    // Another change won between reading and writing: run again against it.
                    return Err(SchedulingError::moved_on());
                }
                let mut moved = Vec::new();
                if after.time_zone != before.time_zone {
                    for doctor in dir::doctors_at_clinic(txn, &after.clinic_id).await? {
                        self.schedule_changed(txn, caller, &doctor, &after).await?;
                        moved.push(doctor.doctor_id);
                    }
                }
                Ok((convert::clinic(&after), moved))
            })
            .await?;
        for doctor_id in moved.iter().flatten() {
            slots::invalidate(&self.cache, doctor_id).await;
        }
        Ok(clinic)
    }

    pub(crate) async fn get_clinic(
        &self,
        caller: &Caller,
        clinic_id: &str,
    ) -> Result<ClinicRecord, SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        dir::get_clinic(&self.db, clinic_id)
            .await?
            .ok_or(SchedulingError::NoSuch("clinic"))
    }

    pub(crate) async fn list_clinics(
        &self,
        caller: &Caller,
        include_archived: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<ClinicRecord>, String), SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        let limit = paging::page_size(page_size)?;
        let after = paging::decode_token(page_token)?;
        let mut clinics =
            dir::list_clinics(&self.db, after.as_deref(), limit + 1, include_archived).await?;
        let next = paging::next_page(&mut clinics, limit, |c| c.clinic_id.clone());
        Ok((clinics, next))
    }

    pub(crate) async fn create_cabinet(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: CabinetInput,
    ) -> Result<pb::Cabinet, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        if dir::get_clinic(&self.db, &given.id).await?.is_none() {
            return Err(SchedulingError::field(
                "cabinet.clinic_id",
                "no such clinic",
            ));
        }
        let record = CabinetRecord {
            cabinet_id: uuid::Uuid::now_v7().to_string(),
            clinic_id: given.id,
            room: given.room,
            floor: given.floor,
            archived: false,
        };
        let record = &record;
        self.write(key, |txn| async move {
            let txn = &*txn;
            dir::insert_cabinet(txn, record).await.map_err(room_taken)?;
            Ok(convert::cabinet(record))
        })
        .await
    }

    pub(crate) async fn update_cabinet(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        given: CabinetInput,
    ) -> Result<pb::Cabinet, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        let given = &given;
        self.write(key, |txn| async move {
            let txn = &*txn;
            let before = dir::get_cabinet(txn, &given.id)
                .await?
                .ok_or(SchedulingError::NoSuch("cabinet"))?;
            let after = CabinetRecord {
                room: given.room.clone(),
                floor: given.floor.clone(),
                archived: given.archived,
                ..before
            };
            if !dir::update_cabinet(txn, &after).await.map_err(room_taken)? {
                return Err(SchedulingError::NoSuch("cabinet"));
            }
            Ok(convert::cabinet(&after))
        })
        .await
    }

    pub(crate) async fn list_cabinets(
        &self,
        caller: &Caller,
        clinic_id: &str,
        include_archived: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<CabinetRecord>, String), SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        let limit = paging::page_size(page_size)?;
        let after = paging::decode_token(page_token)?;
        let mut cabinets = dir::list_cabinets(
            &self.db,
            clinic_id,
            include_archived,
            after.as_deref(),
            limit + 1,
        )
        .await?;
        let next = paging::next_page(&mut cabinets, limit, |c| c.room.clone());
        Ok((cabinets, next))
    }

    pub(crate) async fn create_specialization(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        name: String,
    ) -> Result<pb::Specialization, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        let record = SpecializationRecord {
            specialization_id: uuid::Uuid::now_v7().to_string(),
            name,
            archived: false,
        };
        let record = &record;
        self.write(key, |txn| async move {
            let txn = &*txn;
            if !dir::insert_specialization(txn, record).await? {
                return Err(SchedulingError::Duplicate(NAME_TAKEN));
            }
            Ok(convert::specialization(record))
        })
        .await
    }

    pub(crate) async fn update_specialization(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        record: SpecializationRecord,
    ) -> Result<pb::Specialization, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        let record = &record;
        self.write(key, |txn| async move {
            let txn = &*txn;
            match dir::update_specialization(txn, record).await? {
                Some(true) => Ok(convert::specialization(record)),
                Some(false) => Err(SchedulingError::Duplicate(NAME_TAKEN)),
                None => Err(SchedulingError::NoSuch("specialization")),
            }
        })
        .await
    }

    pub(crate) async fn list_specializations(
        &self,
        caller: &Caller,
        include_archived: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<SpecializationRecord>, String), SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        let limit = paging::page_size(page_size)?;
        let after = paging::decode_token(page_token)?;
        let mut page =
            dir::list_specializations(&self.db, include_archived, after.as_deref(), limit + 1)
                .await?;
        let next = paging::next_page(&mut page, limit, |s| s.name.to_lowercase());
        Ok((page, next))
    }

    /// Lists (or updates) a doctor: a MedMesh user holding the doctor role, whose name comes
    /// from svc-accounts (read with the caller's `token`). Archiving the doctor or moving them
    /// to another clinic changes their free time: a `schedule.changed` goes out.
    pub(crate) async fn upsert_doctor(
        &self,
        caller: &Caller,
        token: &str,
        key: &IdempotencyKey,
        given: DoctorInput,
    ) -> Result<pb::Doctor, SchedulingError> {
        allowed(Operation::ManageDirectory, caller)?;
        // An archived specialization is no longer offered for new listings.
        let Some(specialization) = dir::get_specialization(&self.db, &given.specialization_id)
            .await?
            .filter(|s| !s.archived)
        else {
            return Err(SchedulingError::field(
                "doctor.specialization_id",
                "no such specialization",
            ));
        };
        let mut violations = Vec::new();
        let clinic = dir::get_clinic(&self.db, &given.clinic_id).await?;
        if clinic.is_none() {
            violations.push(svc_kit::error::FieldViolation::new(
                "doctor.clinic_id",
                "no such clinic",
            ));
        }
        if let Some(cabinet_id) = &given.cabinet_id {
            match dir::get_cabinet(&self.db, cabinet_id).await? {
                Some(c) if c.clinic_id == given.clinic_id && !c.archived => {}
                _ => violations.push(svc_kit::error::FieldViolation::new(
                    "doctor.cabinet_id",
                    "no such cabinet at this clinic",
                )),
            }
        }
        ApiError::check(violations)?;
        let Some(clinic) = clinic else {
            return Err(SchedulingError::field("doctor.clinic_id", "no such clinic"));
        };
        let profile = match self.people.profile(token, &given.doctor_id).await {
            Ok(profile) => profile,
            Err(ApiError::NotFound(_)) => {
                return Err(SchedulingError::field("doctor.doctor_id", "no such user"));
            }
            Err(error) => return Err(error.into()),
        };
        if !profile.roles.contains(&(AccountRole::Doctor as i32)) {
            return Err(SchedulingError::field(
                "doctor.doctor_id",
                "the user does not hold the doctor role",
            ));
        }
        let display_name = format!("{} {}", profile.given_name, profile.family_name)
            .trim()
            .to_string();
        let display_name = if display_name.is_empty() {
            profile.username.clone()
        } else {
            display_name
        };
        let record = DoctorRecord {
            doctor_id: given.doctor_id,
            display_name,
            specialization_id: given.specialization_id,
            specialization_name: specialization.name.clone(),
            clinic_id: given.clinic_id,
            cabinet_id: given.cabinet_id.unwrap_or_default(),
            bio: given.bio,
            years_of_experience: given.years_of_experience,
            default_visit_minutes: given.default_visit_minutes as i32,
            archived: given.archived,
        };
        let record = &record;
        let clinic = &clinic;
        let doctor = self
            .write(key, |txn| async move {
                let txn = &*txn;
                let before = dir::get_doctor(txn, &record.doctor_id).await?;
                dir::upsert_doctor(txn, record).await?;
                if before.is_some_and(|b| {
                    b.archived != record.archived || b.clinic_id != record.clinic_id
                }) {
                    self.schedule_changed(txn, caller, record, clinic).await?;
                }
                Ok(convert::doctor(record))
            })
            .await?;
        slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(doctor)
    }

    pub(crate) async fn get_doctor(
        &self,
        caller: &Caller,
        doctor_id: &str,
    ) -> Result<DoctorRecord, SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        dir::get_doctor(&self.db, doctor_id)
            .await?
            .ok_or(SchedulingError::NoSuch("doctor"))
    }

    pub(crate) async fn list_doctors(
        &self,
        caller: &Caller,
        filter: DoctorFilter,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<DoctorRecord>, String), SchedulingError> {
        allowed(Operation::ReadDirectory, caller)?;
        let limit = paging::page_size(page_size)?;
        let after = paging::decode_token(page_token)?;
        let mut doctors = dir::list_doctors(&self.db, &filter, after.as_deref(), limit + 1).await?;
        let next = paging::next_page(&mut doctors, limit, |d| d.doctor_id.clone());
        Ok((doctors, next))
    }
}
