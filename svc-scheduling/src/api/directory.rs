//! Clinics, cabinets, specializations, the doctor directory and doctors' schedules.

use medmesh_proto::{accounts::v1::Role as AccountRole, scheduling::v1 as pb};
use tonic::{Request, Status};

use super::{
    SchedulingApi, TxError, allowed, check, decode_token, field, internal, next_page, page_size,
    retrying,
};
use crate::{
    convert,
    domain::{
        Caller, Operation, Reach,
        calendar::{Exception, ExceptionKind, Template},
    },
    input::{self, Violations},
    store::{
        self, Failure, classify,
        directory::{
            self as dir, CabinetRecord, ClinicRecord, DoctorFilter, DoctorRecord,
            SpecializationRecord,
        },
    },
};

fn not_found(what: &str) -> Status {
    Status::not_found(format!("no such {what}"))
}

/// The clinic fields every write validates.
fn parse_clinic(c: &pb::Clinic, v: &mut Violations) -> (String, String, String, i32) {
    let name = v.take(input::text("clinic.name", &c.name, 200, true));
    let address = v.take(input::text("clinic.address", &c.address, 500, false));
    let zone =
        v.take(input::time_zone("clinic.time_zone", &c.time_zone).map(|tz| tz.name().to_string()));
    if !(0..=10_080).contains(&c.cancellation_cutoff_minutes) {
        v.push(
            "clinic.cancellation_cutoff_minutes",
            "must be between 0 and 10080 (a week)",
        );
    }
    (name, address, zone, c.cancellation_cutoff_minutes)
}

impl SchedulingApi {
    pub(crate) async fn create_clinic(
        &self,
        request: Request<pb::CreateClinicRequest>,
    ) -> Result<pb::Clinic, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "CreateClinic", &body.request_id, body)?;
        let mut v = Violations::default();
        let given = body.clinic.clone().unwrap_or_default();
        let (name, address, time_zone, cutoff) = parse_clinic(&given, &mut v);
        v.finish()?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let now = store::now();
        let record = ClinicRecord {
            clinic_id: uuid::Uuid::now_v7().to_string(),
            name,
            address,
            time_zone,
            cancellation_cutoff_minutes: cutoff,
            archived: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        retrying(|| async {
            let txn = self.begin().await?;
            dir::insert_clinic(&txn, &record).await?;
            self.finish(txn, &key, convert::clinic(&record)).await
        })
        .await
    }

    pub(crate) async fn update_clinic(
        &self,
        request: Request<pb::UpdateClinicRequest>,
    ) -> Result<pb::Clinic, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "UpdateClinic", &body.request_id, body)?;
        let given = body.clinic.clone().unwrap_or_default();
        let mut v = Violations::default();
        let clinic_id = v.take(input::id("clinic.clinic_id", &given.clinic_id));
        let (name, address, time_zone, cutoff) = parse_clinic(&given, &mut v);
        v.finish()?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        retrying(|| async {
            let txn = self.begin().await?;
            let before = dir::get_clinic(&txn, &clinic_id)
                .await?
                .ok_or_else(|| not_found("clinic"))?;
            if given.version != 0 && given.version != before.version {
                return Err(Status::aborted(format!(
                    "the clinic is at version {}, not {}; read it again and retry",
                    before.version, given.version
                ))
                .into());
            }
            let after = ClinicRecord {
                name: name.clone(),
                address: address.clone(),
                time_zone: time_zone.clone(),
                cancellation_cutoff_minutes: cutoff,
                archived: given.archived,
                version: before.version + 1,
                updated_at: store::now(),
                ..before
            };
            if !dir::update_clinic(&txn, &after).await? {
                return Err(Status::aborted(
                    "the clinic changed meanwhile; read it again and retry",
                )
                .into());
            }
            self.finish(txn, &key, convert::clinic(&after)).await
        })
        .await
    }

    pub(crate) async fn get_clinic(
        &self,
        request: Request<pb::GetClinicRequest>,
    ) -> Result<pb::Clinic, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let id = input::id("clinic_id", &request.get_ref().clinic_id)
            .map_err(|v| check(vec![v]).unwrap_err())?;
        let clinic = dir::get_clinic(&self.db, &id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("clinic"))?;
        Ok(convert::clinic(&clinic))
    }

    pub(crate) async fn list_clinics(
        &self,
        request: Request<pb::ListClinicsRequest>,
    ) -> Result<pb::ListClinicsResponse, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        let mut clinics =
            dir::list_clinics(&self.db, after.as_deref(), limit + 1, body.include_archived)
                .await
                .map_err(internal)?;
        let next_page_token = next_page(&mut clinics, limit, |c| c.clinic_id.clone());
        Ok(pb::ListClinicsResponse {
            clinics: clinics.iter().map(convert::clinic).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn create_cabinet(
        &self,
        request: Request<pb::CreateCabinetRequest>,
    ) -> Result<pb::Cabinet, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "CreateCabinet", &body.request_id, body)?;
        let given = body.cabinet.clone().unwrap_or_default();
        let mut v = Violations::default();
        let clinic_id = v.take(input::id("cabinet.clinic_id", &given.clinic_id));
        let room = v.take(input::text("cabinet.room", &given.room, 50, true));
        let floor = v.take(input::text("cabinet.floor", &given.floor, 50, false));
        v.finish()?;
        if dir::get_clinic(&self.db, &clinic_id)
            .await
            .map_err(internal)?
            .is_none()
        {
            return Err(field("cabinet.clinic_id", "no such clinic"));
        }
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let record = CabinetRecord {
            cabinet_id: uuid::Uuid::now_v7().to_string(),
            clinic_id,
            room,
            floor,
            archived: false,
        };
        retrying(|| async {
            let txn = self.begin().await?;
            if let Err(error) = dir::insert_cabinet(&txn, &record).await {
                return Err(match classify(&error) {
                    Failure::Duplicate(_) => {
                        Status::already_exists("the clinic already has a cabinet in that room")
                            .into()
                    }
                    _ => TxError::Db(error),
                });
            }
            self.finish(txn, &key, convert::cabinet(&record)).await
        })
        .await
    }

    pub(crate) async fn list_cabinets(
        &self,
        request: Request<pb::ListCabinetsRequest>,
    ) -> Result<pb::ListCabinetsResponse, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let body = request.get_ref();
        let clinic_id =
            input::id("clinic_id", &body.clinic_id).map_err(|v| check(vec![v]).unwrap_err())?;
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        let mut cabinets = dir::list_cabinets(
            &self.db,
            &clinic_id,
            body.include_archived,
            after.as_deref(),
            limit + 1,
        )
        .await
        .map_err(internal)?;
        let next_page_token = next_page(&mut cabinets, limit, |c| c.room.clone());
        Ok(pb::ListCabinetsResponse {
            cabinets: cabinets.iter().map(convert::cabinet).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn update_cabinet(
        &self,
        request: Request<pb::UpdateCabinetRequest>,
    ) -> Result<pb::Cabinet, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "UpdateCabinet", &body.request_id, body)?;
        let given = body.cabinet.clone().unwrap_or_default();
        let mut v = Violations::default();
        let cabinet_id = v.take(input::id("cabinet.cabinet_id", &given.cabinet_id));
        let room = v.take(input::text("cabinet.room", &given.room, 50, true));
        let floor = v.take(input::text("cabinet.floor", &given.floor, 50, false));
        v.finish()?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        retrying(|| async {
            let txn = self.begin().await?;
            let before = dir::get_cabinet(&txn, &cabinet_id)
                .await?
                .ok_or_else(|| not_found("cabinet"))?;
            let after = CabinetRecord {
                room: room.clone(),
                floor: floor.clone(),
                archived: given.archived,
                ..before
            };
            match dir::update_cabinet(&txn, &after).await {
                Ok(true) => {}
                Ok(false) => return Err(not_found("cabinet").into()),
                Err(error) => {
                    return Err(match classify(&error) {
                        Failure::Duplicate(_) => {
                            Status::already_exists("the clinic already has a cabinet in that room")
                                .into()
                        }
                        _ => TxError::Db(error),
                    });
                }
            }
            self.finish(txn, &key, convert::cabinet(&after)).await
        })
        .await
    }

    pub(crate) async fn create_specialization(
        &self,
        request: Request<pb::CreateSpecializationRequest>,
    ) -> Result<pb::Specialization, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "CreateSpecialization", &body.request_id, body)?;
        let given = body.specialization.clone().unwrap_or_default();
        let name = input::text("specialization.name", &given.name, 100, true)
            .map_err(|v| check(vec![v]).unwrap_err())?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let record = SpecializationRecord {
            specialization_id: uuid::Uuid::now_v7().to_string(),
            name,
            archived: false,
        };
        retrying(|| async {
            let txn = self.begin().await?;
            if !dir::insert_specialization(&txn, &record).await? {
                return Err(Status::already_exists("a specialization of that name exists").into());
            }
            self.finish(txn, &key, convert::specialization(&record))
                .await
        })
        .await
    }

    pub(crate) async fn list_specializations(
        &self,
        request: Request<pb::ListSpecializationsRequest>,
    ) -> Result<pb::ListSpecializationsResponse, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        let mut page =
            dir::list_specializations(&self.db, body.include_archived, after.as_deref(), limit + 1)
                .await
                .map_err(internal)?;
        let next_page_token = next_page(&mut page, limit, |s| s.name.to_lowercase());
        Ok(pb::ListSpecializationsResponse {
            specializations: page.iter().map(convert::specialization).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn update_specialization(
        &self,
        request: Request<pb::UpdateSpecializationRequest>,
    ) -> Result<pb::Specialization, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "UpdateSpecialization", &body.request_id, body)?;
        let given = body.specialization.clone().unwrap_or_default();
        let mut v = Violations::default();
        let specialization_id = v.take(input::id(
            "specialization.specialization_id",
            &given.specialization_id,
        ));
        let name = v.take(input::text("specialization.name", &given.name, 100, true));
        v.finish()?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let record = SpecializationRecord {
            specialization_id,
            name,
            archived: given.archived,
        };
        retrying(|| async {
            let txn = self.begin().await?;
            match dir::update_specialization(&txn, &record).await? {
                Some(true) => {}
                Some(false) => {
                    return Err(
                        Status::already_exists("a specialization of that name exists").into(),
                    );
                }
                None => return Err(not_found("specialization").into()),
            }
            self.finish(txn, &key, convert::specialization(&record))
                .await
        })
        .await
    }

    pub(crate) async fn upsert_doctor(
        &self,
        request: Request<pb::UpsertDoctorRequest>,
    ) -> Result<pb::Doctor, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ManageDirectory, &caller)?;
        let token = Self::token(&request);
        let body = request.get_ref();
        let key = Self::key(&caller, "UpsertDoctor", &body.request_id, body)?;
        let given = body.doctor.clone().unwrap_or_default();
        let mut v = Violations::default();
        let doctor_id = v.take(input::id("doctor.doctor_id", &given.doctor_id));
        let specialization_id = v.take(input::id(
            "doctor.specialization_id",
            &given.specialization_id,
        ));
        let clinic_id = v.take(input::id("doctor.clinic_id", &given.clinic_id));
        let cabinet_id = v.take(input::optional_id("doctor.cabinet_id", &given.cabinet_id));
        let bio = v.take(input::text("doctor.bio", &given.bio, 2000, false));
        if !(0..=80).contains(&given.years_of_experience) {
            v.push("doctor.years_of_experience", "must be between 0 and 80");
        }
        let visit = v.take(input::visit_minutes(
            "doctor.default_visit_minutes",
            given.default_visit_minutes,
        ));
        v.finish()?;
        let mut v = Violations::default();
        // An archived specialization is no longer offered for new listings.
        let Some(specialization) = dir::get_specialization(&self.db, &specialization_id)
            .await
            .map_err(internal)?
            .filter(|s| !s.archived)
        else {
            return Err(field("doctor.specialization_id", "no such specialization"));
        };
        if dir::get_clinic(&self.db, &clinic_id)
            .await
            .map_err(internal)?
            .is_none()
        {
            v.push("doctor.clinic_id", "no such clinic");
        }
        if let Some(cabinet_id) = &cabinet_id {
            match dir::get_cabinet(&self.db, cabinet_id)
                .await
                .map_err(internal)?
            {
                Some(c) if c.clinic_id == clinic_id && !c.archived => {}
                _ => v.push("doctor.cabinet_id", "no such cabinet at this clinic"),
            }
        }
        v.finish()?;
        // The doctor must be a MedMesh user holding the doctor role; the name comes from there.
        let profile = match self.people.profile(&token, &doctor_id).await {
            Ok(profile) => profile,
            Err(status) if status.code() == tonic::Code::NotFound => {
                return Err(field("doctor.doctor_id", "no such user"));
            }
            Err(status) => return Err(status),
        };
        if !profile.roles.contains(&(AccountRole::Doctor as i32)) {
            return Err(field(
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
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let record = DoctorRecord {
            doctor_id,
            display_name,
            specialization_id,
            specialization_name: specialization.name.clone(),
            clinic_id,
            cabinet_id: cabinet_id.unwrap_or_default(),
            bio,
            years_of_experience: given.years_of_experience,
            default_visit_minutes: visit as i32,
            archived: given.archived,
        };
        let doctor = retrying(|| async {
            let txn = self.begin().await?;
            dir::upsert_doctor(&txn, &record).await?;
            self.finish(txn, &key, convert::doctor(&record)).await
        })
        .await?;
        crate::slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(doctor)
    }

    pub(crate) async fn get_doctor(
        &self,
        request: Request<pb::GetDoctorRequest>,
    ) -> Result<pb::Doctor, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let id = input::id("doctor_id", &request.get_ref().doctor_id)
            .map_err(|v| check(vec![v]).unwrap_err())?;
        let doctor = dir::get_doctor(&self.db, &id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("doctor"))?;
        Ok(convert::doctor(&doctor))
    }

    pub(crate) async fn list_doctors(
        &self,
        request: Request<pb::ListDoctorsRequest>,
    ) -> Result<pb::ListDoctorsResponse, Status> {
        let caller = self.caller(&request).await?;
        allowed(Operation::ReadDirectory, &caller)?;
        let body = request.get_ref();
        let limit = page_size(body.page_size)?;
        let after = decode_token(&body.page_token)?;
        let mut v = Violations::default();
        let filter = DoctorFilter {
            specialization_id: v.take(input::optional_id(
                "specialization_id",
                &body.specialization_id,
            )),
            clinic_id: v.take(input::optional_id("clinic_id", &body.clinic_id)),
            name_query: {
                let q = v.take(input::text("name_query", &body.name_query, 100, false));
                (!q.is_empty()).then(|| q.to_lowercase())
            },
        };
        v.finish()?;
        let mut doctors = dir::list_doctors(&self.db, &filter, after.as_deref(), limit + 1)
            .await
            .map_err(internal)?;
        let next_page_token = next_page(&mut doctors, limit, |d| d.doctor_id.clone());
        Ok(pb::ListDoctorsResponse {
            doctors: doctors.iter().map(convert::doctor).collect(),
            next_page_token,
        })
    }

    /// The doctor a schedule request names (the caller, if empty), within the caller's reach.
    async fn schedule_owner(
        &self,
        caller: &Caller,
        reach: Reach,
        raw: &str,
        field_name: &str,
    ) -> Result<DoctorRecord, Status> {
        let doctor_id =
            match input::optional_id(field_name, raw).map_err(|v| check(vec![v]).unwrap_err())? {
                Some(id) => id,
                None => caller
                    .user_id
                    .clone()
                    .ok_or_else(|| field(field_name, "is required"))?,
            };
        let doctor = dir::get_doctor(&self.db, &doctor_id)
            .await
            .map_err(internal)?;
        match doctor {
            Some(d) if caller.reaches(reach, "", &d.doctor_id, &d.clinic_id) => Ok(d),
            _ => Err(not_found("doctor")),
        }
    }

    pub(crate) async fn add_schedule_template(
        &self,
        request: Request<pb::AddScheduleTemplateRequest>,
    ) -> Result<pb::ScheduleTemplate, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ManageSchedule, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "AddScheduleTemplate", &body.request_id, body)?;
        let given = body.template.clone().unwrap_or_default();
        let doctor = self
            .schedule_owner(&caller, reach, &given.doctor_id, "template.doctor_id")
            .await?;
        let mut v = Violations::default();
        let weekday = v.take(input::weekday("template.weekday", given.weekday).map(Some));
        let start = v.take(input::time_of_day("template.start", given.start.as_ref()));
        let end = v.take(input::time_of_day("template.end", given.end.as_ref()));
        let visit = if given.visit_minutes == 0 {
            doctor.default_visit_minutes as u32
        } else {
            v.take(input::visit_minutes(
                "template.visit_minutes",
                given.visit_minutes,
            ))
        };
        let cabinet_id = v.take(input::optional_id("template.cabinet_id", &given.cabinet_id));
        let valid_from = v.take(input::date(
            "template.valid_from",
            given.valid_from.as_ref(),
        ));
        let valid_to = v.take(input::optional_date(
            "template.valid_to",
            given.valid_to.as_ref(),
        ));
        if v.0.is_empty() {
            if end <= start {
                v.push("template.end", "must be after start");
            } else if (end - start).num_minutes() < i64::from(visit) {
                v.push(
                    "template.visit_minutes",
                    "is longer than the window from start to end",
                );
            }
            if valid_to.is_some_and(|to| to < valid_from) {
                v.push("template.valid_to", "must not be before valid_from");
            }
        }
        v.finish()?;
        let cabinet_id = self
            .cabinet_of(&doctor, cabinet_id, "template.cabinet_id")
            .await?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let template = Template {
            template_id: uuid::Uuid::now_v7().to_string(),
            weekday: weekday.expect("checked above"),
            start,
            end,
            visit_minutes: visit,
            cabinet_id,
            valid_from,
            valid_to,
        };
        let added = retrying(|| async {
            let txn = self.begin().await?;
            dir::lock_doctor(&txn, &doctor.doctor_id).await?;
            let existing = dir::list_templates(&txn, &doctor.doctor_id).await?;
            if let Some(other) = existing.iter().find(|t| t.overlaps(&template)) {
                return Err(Status::already_exists(format!(
                    "overlaps template {} ({} {}-{})",
                    other.template_id,
                    other.weekday,
                    other.start.format("%H:%M"),
                    other.end.format("%H:%M")
                ))
                .into());
            }
            dir::insert_template(&txn, &doctor.doctor_id, &template).await?;
            self.finish(txn, &key, convert::template(&doctor.doctor_id, &template))
                .await
        })
        .await?;
        crate::slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(added)
    }

    /// The cabinet a schedule names, checked to be at the doctor's clinic; the doctor's own if none.
    async fn cabinet_of(
        &self,
        doctor: &DoctorRecord,
        given: Option<String>,
        field_name: &str,
    ) -> Result<String, Status> {
        match given {
            None => Ok(doctor.cabinet_id.clone()),
            Some(id) => match dir::get_cabinet(&self.db, &id).await.map_err(internal)? {
                Some(c) if c.clinic_id == doctor.clinic_id && !c.archived => Ok(id),
                _ => Err(field(field_name, "no such cabinet at the doctor's clinic")),
            },
        }
    }

    pub(crate) async fn remove_schedule_template(
        &self,
        request: Request<pb::RemoveScheduleTemplateRequest>,
    ) -> Result<pb::RemoveScheduleTemplateResponse, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ManageSchedule, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "RemoveScheduleTemplate", &body.request_id, body)?;
        let template_id =
            input::id("template_id", &body.template_id).map_err(|v| check(vec![v]).unwrap_err())?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let owner = dir::template_owner(&self.db, &template_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("template"))?;
        let doctor = self
            .schedule_owner(&caller, reach, &owner, "template_id")
            .await
            .map_err(|_| not_found("template"))?;
        let removed = retrying(|| async {
            let txn = self.begin().await?;
            dir::lock_doctor(&txn, &doctor.doctor_id).await?;
            if !dir::delete_template(&txn, &template_id).await? {
                return Err(not_found("template").into());
            }
            self.finish(
                txn,
                &key,
                pb::RemoveScheduleTemplateResponse {
                    template_id: template_id.clone(),
                },
            )
            .await
        })
        .await?;
        crate::slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(removed)
    }

    pub(crate) async fn add_schedule_exception(
        &self,
        request: Request<pb::AddScheduleExceptionRequest>,
    ) -> Result<pb::ScheduleException, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ManageSchedule, &caller)?;
        let body = request.get_ref();
        let key = Self::key(&caller, "AddScheduleException", &body.request_id, body)?;
        let given = body.exception.clone().unwrap_or_default();
        let doctor = self
            .schedule_owner(&caller, reach, &given.doctor_id, "exception.doctor_id")
            .await?;
        let mut v = Violations::default();
        let date = v.take(input::date("exception.date", given.date.as_ref()));
        let reason = v.take(input::text("exception.reason", &given.reason, 500, false));
        let kind = if given.day_off {
            ExceptionKind::DayOff
        } else {
            let start = v.take(input::time_of_day("exception.start", given.start.as_ref()));
            let end = v.take(input::time_of_day("exception.end", given.end.as_ref()));
            let visit = if given.visit_minutes == 0 {
                doctor.default_visit_minutes as u32
            } else {
                v.take(input::visit_minutes(
                    "exception.visit_minutes",
                    given.visit_minutes,
                ))
            };
            if v.0.is_empty() && end <= start {
                v.push("exception.end", "must be after start");
            }
            ExceptionKind::Hours {
                start,
                end,
                visit_minutes: visit,
                cabinet_id: doctor.cabinet_id.clone(),
            }
        };
        v.finish()?;
        if let Some(first) = self.replay(&key).await? {
            return Ok(first);
        }
        let exception = Exception {
            exception_id: uuid::Uuid::now_v7().to_string(),
            date,
            kind,
        };
        let added = retrying(|| async {
            let txn = self.begin().await?;
            dir::lock_doctor(&txn, &doctor.doctor_id).await?;
            dir::upsert_exception(&txn, &doctor.doctor_id, &exception, &reason).await?;
            self.finish(
                txn,
                &key,
                convert::exception(&doctor.doctor_id, &exception, &reason),
            )
            .await
        })
        .await?;
        crate::slots::invalidate(&self.cache, &doctor.doctor_id).await;
        Ok(added)
    }

    pub(crate) async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Result<pb::Schedule, Status> {
        let caller = self.caller(&request).await?;
        let reach = allowed(Operation::ReadSchedule, &caller)?;
        let doctor = self
            .schedule_owner(&caller, reach, &request.get_ref().doctor_id, "doctor_id")
            .await?;
        let clinic = dir::get_clinic(&self.db, &doctor.clinic_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("clinic"))?;
        let templates = dir::list_templates(&self.db, &doctor.doctor_id)
            .await
            .map_err(internal)?;
        let exceptions = dir::list_exceptions(&self.db, &doctor.doctor_id)
            .await
            .map_err(internal)?;
        Ok(pb::Schedule {
            doctor_id: doctor.doctor_id.clone(),
            time_zone: clinic.time_zone,
            templates: templates
                .iter()
                .map(|t| convert::template(&doctor.doctor_id, t))
                .collect(),
            exceptions: exceptions
                .iter()
                .map(|(e, reason)| convert::exception(&doctor.doctor_id, e, reason))
                .collect(),
        })
    }
}
