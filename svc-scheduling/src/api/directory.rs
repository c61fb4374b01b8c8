//! Clinics, cabinets, specializations and the doctor directory.

use medmesh_proto::scheduling::v1 as pb;
use tonic::Request;

use super::{Answer, SchedulingApi, key};
use crate::{
    app::{CabinetInput, ClinicInput, DoctorFilter, DoctorInput, SpecializationRecord},
    convert,
    domain::Operation,
    input::{self, Violations},
};

/// The clinic fields every write validates.
fn parse_clinic(c: &pb::Clinic, clinic_id: String, v: &mut Violations) -> ClinicInput {
    let name = v.take(input::text("clinic.name", &c.name, 200, true));
    let address = v.take(input::text("clinic.address", &c.address, 500, false));
    let time_zone =
        v.take(input::time_zone("clinic.time_zone", &c.time_zone).map(|tz| tz.name().to_string()));
    if !(0..=10_080).contains(&c.cancellation_cutoff_minutes) {
        v.push(
            "clinic.cancellation_cutoff_minutes",
            "must be between 0 and 10080 (a week)",
        );
    }
    ClinicInput {
        clinic_id,
        name,
        address,
        time_zone,
        cancellation_cutoff_minutes: c.cancellation_cutoff_minutes,
        archived: c.archived,
        version: c.version,
    }
}

impl SchedulingApi {
    pub(crate) async fn create_clinic(
        &self,
        request: Request<pb::CreateClinicRequest>,
    ) -> Answer<pb::Clinic> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "CreateClinic", &body.request_id, body)?;
        let mut v = Violations::default();
        let given = parse_clinic(
            &body.clinic.clone().unwrap_or_default(),
            String::new(),
            &mut v,
        );
        v.finish()?;
        self.app.create_clinic(&caller, &key, given).await
    }

    pub(crate) async fn update_clinic(
        &self,
        request: Request<pb::UpdateClinicRequest>,
    ) -> Answer<pb::Clinic> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "UpdateClinic", &body.request_id, body)?;
        let clinic = body.clinic.clone().unwrap_or_default();
        let mut v = Violations::default();
        let clinic_id = v.take(input::id("clinic.clinic_id", &clinic.clinic_id));
        let given = parse_clinic(&clinic, clinic_id, &mut v);
        v.finish()?;
        self.app.update_clinic(&caller, &key, given).await
    }

    pub(crate) async fn get_clinic(
        &self,
        request: Request<pb::GetClinicRequest>,
    ) -> Answer<pb::Clinic> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let id = input::id("clinic_id", &request.get_ref().clinic_id)?;
        Ok(convert::clinic(&self.app.get_clinic(&caller, &id).await?))
    }

    pub(crate) async fn list_clinics(
        &self,
        request: Request<pb::ListClinicsRequest>,
    ) -> Answer<pb::ListClinicsResponse> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let body = request.get_ref();
        let (clinics, next_page_token) = self
            .app
            .list_clinics(
                &caller,
                body.include_archived,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(pb::ListClinicsResponse {
            clinics: clinics.iter().map(convert::clinic).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn create_cabinet(
        &self,
        request: Request<pb::CreateCabinetRequest>,
    ) -> Answer<pb::Cabinet> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "CreateCabinet", &body.request_id, body)?;
        let given = body.cabinet.clone().unwrap_or_default();
        let mut v = Violations::default();
        let given = CabinetInput {
            id: v.take(input::id("cabinet.clinic_id", &given.clinic_id)),
            room: v.take(input::text("cabinet.room", &given.room, 50, true)),
            floor: v.take(input::text("cabinet.floor", &given.floor, 50, false)),
            archived: false,
        };
        v.finish()?;
        self.app.create_cabinet(&caller, &key, given).await
    }

    pub(crate) async fn update_cabinet(
        &self,
        request: Request<pb::UpdateCabinetRequest>,
    ) -> Answer<pb::Cabinet> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "UpdateCabinet", &body.request_id, body)?;
        let given = body.cabinet.clone().unwrap_or_default();
        let mut v = Violations::default();
        let given = CabinetInput {
            id: v.take(input::id("cabinet.cabinet_id", &given.cabinet_id)),
            room: v.take(input::text("cabinet.room", &given.room, 50, true)),
            floor: v.take(input::text("cabinet.floor", &given.floor, 50, false)),
            archived: given.archived,
        };
        v.finish()?;
        self.app.update_cabinet(&caller, &key, given).await
    }

    pub(crate) async fn list_cabinets(
        &self,
        request: Request<pb::ListCabinetsRequest>,
    ) -> Answer<pb::ListCabinetsResponse> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let body = request.get_ref();
        let clinic_id = input::id("clinic_id", &body.clinic_id)?;
        let (cabinets, next_page_token) = self
            .app
            .list_cabinets(
                &caller,
                &clinic_id,
                body.include_archived,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(pb::ListCabinetsResponse {
            cabinets: cabinets.iter().map(convert::cabinet).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn create_specialization(
        &self,
        request: Request<pb::CreateSpecializationRequest>,
    ) -> Answer<pb::Specialization> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "CreateSpecialization", &body.request_id, body)?;
        let given = body.specialization.clone().unwrap_or_default();
        let name = input::text("specialization.name", &given.name, 100, true)?;
        self.app.create_specialization(&caller, &key, name).await
    }

    pub(crate) async fn update_specialization(
        &self,
        request: Request<pb::UpdateSpecializationRequest>,
    ) -> Answer<pb::Specialization> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "UpdateSpecialization", &body.request_id, body)?;
        let given = body.specialization.clone().unwrap_or_default();
        let mut v = Violations::default();
        let record = SpecializationRecord {
            specialization_id: v.take(input::id(
                "specialization.specialization_id",
                &given.specialization_id,
            )),
            name: v.take(input::text("specialization.name", &given.name, 100, true)),
            archived: given.archived,
        };
        v.finish()?;
        self.app.update_specialization(&caller, &key, record).await
    }

    pub(crate) async fn list_specializations(
        &self,
        request: Request<pb::ListSpecializationsRequest>,
    ) -> Answer<pb::ListSpecializationsResponse> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let body = request.get_ref();
        let (page, next_page_token) = self
            .app
            .list_specializations(
                &caller,
                body.include_archived,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(pb::ListSpecializationsResponse {
            specializations: page.iter().map(convert::specialization).collect(),
            next_page_token,
        })
    }

    pub(crate) async fn upsert_doctor(
        &self,
        request: Request<pb::UpsertDoctorRequest>,
    ) -> Answer<pb::Doctor> {
        let caller = self
            .caller_for(&request, Operation::ManageDirectory)
            .await?;
        let body = request.get_ref();
        let key = key(&caller, "UpsertDoctor", &body.request_id, body)?;
        let given = body.doctor.clone().unwrap_or_default();
        let mut v = Violations::default();
        let doctor = DoctorInput {
            doctor_id: v.take(input::id("doctor.doctor_id", &given.doctor_id)),
            specialization_id: v.take(input::id(
                "doctor.specialization_id",
                &given.specialization_id,
            )),
            clinic_id: v.take(input::id("doctor.clinic_id", &given.clinic_id)),
            cabinet_id: v.take(input::optional_id("doctor.cabinet_id", &given.cabinet_id)),
            bio: v.take(input::text("doctor.bio", &given.bio, 2000, false)),
            years_of_experience: given.years_of_experience,
            default_visit_minutes: 0,
            archived: given.archived,
        };
        if !(0..=80).contains(&given.years_of_experience) {
            v.push("doctor.years_of_experience", "must be between 0 and 80");
        }
        let default_visit_minutes = v.take(input::visit_minutes(
            "doctor.default_visit_minutes",
            given.default_visit_minutes,
        ));
        v.finish()?;
        let doctor = DoctorInput {
            default_visit_minutes,
            ..doctor
        };
        self.app
            .upsert_doctor(
                &caller,
                svc_kit::auth::request_token(&request)?,
                &key,
                doctor,
            )
            .await
    }

    pub(crate) async fn get_doctor(
        &self,
        request: Request<pb::GetDoctorRequest>,
    ) -> Answer<pb::Doctor> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let id = input::id("doctor_id", &request.get_ref().doctor_id)?;
        Ok(convert::doctor(&self.app.get_doctor(&caller, &id).await?))
    }

    pub(crate) async fn list_doctors(
        &self,
        request: Request<pb::ListDoctorsRequest>,
    ) -> Answer<pb::ListDoctorsResponse> {
        let caller = self.caller_for(&request, Operation::ReadDirectory).await?;
        let body = request.get_ref();
        let mut v = Violations::default();
        let filter = DoctorFilter {
            specialization_id: v.take(input::optional_id(
                "specialization_id",
                &body.specialization_id,
            )),
            clinic_id: v.take(input::optional_id("clinic_id", &body.clinic_id)),
            name_query: {
                let q = v.take(input::text("name_query", &body.name_query, 100, false));
                (!q.is_empty()).then(|| svc_kit::text::search_key(&q))
            },
        };
        v.finish()?;
        let (doctors, next_page_token) = self
            .app
            .list_doctors(&caller, filter, body.page_size, &body.page_token)
            .await?;
        Ok(pb::ListDoctorsResponse {
            doctors: doctors.iter().map(convert::doctor).collect(),
            next_page_token,
        })
    }
}
