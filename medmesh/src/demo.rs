//! Demo data for `medmesh dev`: a clinic with a cabinet, a specialization, and the demo doctor
//! listed with a weekday schedule, so the playground can find a doctor and book at once. It goes
//! through the public gRPC APIs as the demo admin and doctor, like any client would, and only
//! when the directory is empty (a second start keeps what is there).

use chrono::Datelike;
use chrono::{Duration, Utc};
use medmesh_proto::{
    accounts::v1::{GetMyProfileRequest, accounts_service_client::AccountsServiceClient},
    common::v1::{Date, TimeOfDay},
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
use svc_kit::ServiceName;
use tonic::{Request, transport::Channel};

use crate::{Platform, dev_sso};

/// What the demo data holds, for the banner.
#[derive(Debug, Clone)]
pub struct Demo {
    pub clinic: String,
    pub doctor_id: String,
}

fn bearer<T>(message: T, token: &str) -> Result<Request<T>, tonic::Status> {
    Ok(svc_kit::auth::with_bearer(Request::new(message), token)?)
}

fn channel(platform: &Platform, service: ServiceName) -> Option<Channel> {
    let addr = platform.service_addr(service)?;
    Channel::from_shared(format!("http://{addr}"))
        .ok()
        .map(|c| c.connect_lazy())
}

/// Seeds the demo data if the directory is empty; `None` when this process does not run the
/// dev issuer, accounts and scheduling together.
pub async fn seed(platform: &Platform) -> Result<Option<Demo>, tonic::Status> {
    let (Some(issuer), Some(accounts), Some(scheduling)) = (
        platform.dev_issuer.as_ref(),
        channel(platform, ServiceName::Accounts),
        channel(platform, ServiceName::Scheduling),
    ) else {
        return Ok(None);
    };
    let token = |user: &str| -> Result<String, tonic::Status> {
        dev_sso::token_for(issuer, user)
            .ok_or_else(|| tonic::Status::internal("demo user cannot sign in"))
    };
    let admin = token("admin")?;
    let doctor = token("doctor")?;
    let mut scheduling = SchedulingServiceClient::new(scheduling);
    let existing = scheduling
        .list_doctors(bearer(pb::ListDoctorsRequest::default(), &admin)?)
        .await?
        .into_inner();
    if let Some(first) = existing.doctors.first() {
        let clinic = scheduling
            .get_clinic(bearer(
                pb::GetClinicRequest {
                    clinic_id: first.clinic_id.clone(),
                },
                &admin,
            )?)
            .await?
            .into_inner();
        return Ok(Some(Demo {
            clinic: clinic.name,
            doctor_id: first.doctor_id.clone(),
        }));
    }
    let clinic = scheduling
        .create_clinic(bearer(
            pb::CreateClinicRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                clinic: Some(pb::Clinic {
                    name: "MedMesh Central Clinic".into(),
                    address: "1 Khreshchatyk St, Kyiv".into(),
                    time_zone: "Europe/Kyiv".into(),
                    cancellation_cutoff_minutes: 120,
                    ..Default::default()
                }),
            },
            &admin,
        )?)
        .await?
        .into_inner();
    let cabinet = scheduling
        .create_cabinet(bearer(
            pb::CreateCabinetRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                cabinet: Some(pb::Cabinet {
                    clinic_id: clinic.clinic_id.clone(),
                    room: "214".into(),
                    floor: "2".into(),
                    ..Default::default()
                }),
            },
            &admin,
        )?)
        .await?
        .into_inner();
    let specialization = scheduling
        .create_specialization(bearer(
            pb::CreateSpecializationRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                specialization: Some(pb::Specialization {
                    name: "General practice".into(),
                    ..Default::default()
                }),
            },
            &admin,
        )?)
        .await?
        .into_inner();
    let doctor_id = AccountsServiceClient::new(accounts)
        .get_my_profile(bearer(GetMyProfileRequest {}, &doctor)?)
        .await?
        .into_inner()
        .user_id;
    scheduling
        .upsert_doctor(bearer(
            pb::UpsertDoctorRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                doctor: Some(pb::Doctor {
                    doctor_id: doctor_id.clone(),
                    specialization_id: specialization.specialization_id,
                    clinic_id: clinic.clinic_id.clone(),
                    cabinet_id: cabinet.cabinet_id,
                    bio: "Family medicine; sees adults and children.".into(),
                    years_of_experience: 12,
                    default_visit_minutes: 30,
                    ..Default::default()
                }),
            },
            &admin,
        )?)
        .await?;
    let today = Utc::now().date_naive() - Duration::days(1);
    for weekday in 1..=5 {
        scheduling
            .add_schedule_template(bearer(
                pb::AddScheduleTemplateRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    template: Some(pb::ScheduleTemplate {
                        weekday,
                        start: Some(TimeOfDay {
                            hours: 9,
                            minutes: 0,
                        }),
                        end: Some(TimeOfDay {
                            hours: 17,
                            minutes: 0,
                        }),
                        visit_minutes: 30,
                        valid_from: Some(Date {
                            year: today.year(),
                            month: today.month() as i32,
                            day: today.day() as i32,
                        }),
                        ..Default::default()
                    }),
                },
                &doctor,
            )?)
            .await?;
    }
    Ok(Some(Demo {
        clinic: clinic.name,
        doctor_id,
    }))
}
