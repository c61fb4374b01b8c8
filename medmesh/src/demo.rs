//! Demo data for `medmesh dev`: a clinic with a cabinet, a specialization, and the demo doctor
//! listed with a weekday schedule, so the playground can find a doctor and book at once; two
//! pharmacies with stock; the demo patient's card in the demo doctor's care. It goes
//! through the public gRPC APIs as the demo admin and doctor, like any client would, and only
//! when the directory is empty (a second start keeps what is there).

use std::collections::HashMap;

use chrono::Datelike;
use chrono::{Duration, Utc};
use medmesh_proto::{
    accounts::v1::{GetMyProfileRequest, accounts_service_client::AccountsServiceClient},
    common::v1::{Date, TimeOfDay},
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
use svc_kit::{ServiceName, Settings};
use tonic::{Request, transport::Channel};

use crate::{Platform, dev_sso};

/// What the demo data holds, for the banner.
#[derive(Debug, Clone)]
pub struct Demo {
    pub clinic: String,
    pub doctor_id: String,
}

/// A demo step's idempotency key: the same on every attempt, so a seeding retried after a
/// failure part-way (a service not up yet) replays the steps that were done.
fn request_id(step: impl std::fmt::Display) -> String {
    format!("medmesh-demo-{step}")
}

fn bearer<T>(message: T, token: &str) -> Result<Request<T>, tonic::Status> {
    Ok(svc_kit::auth::with_bearer(Request::new(message), token)?)
}

/// How the seeder reaches the platform: the demo users' tokens and the services' channels.
#[derive(Debug, Default)]
pub struct Reach {
    tokens: HashMap<&'static str, String>,
    channels: HashMap<ServiceName, Channel>,
}

/// The demo users the seeder acts as.
const ACTORS: [&str; 4] = ["admin", "doctor", "patient", "pharmacist"];

impl Reach {
    fn token(&self, user: &str) -> Result<String, tonic::Status> {
        self.tokens
            .get(user)
            .cloned()
            .ok_or_else(|| tonic::Status::internal("demo user cannot sign in"))
    }

    fn channel(&self, service: ServiceName) -> Option<Channel> {
        self.channels.get(&service).cloned()
    }

    /// The services of `platform` and its development issuer; `None` when this process does
    /// not run the dev issuer, accounts and scheduling together.
    fn local(platform: &Platform) -> Option<Reach> {
        let issuer = platform.dev_issuer.as_ref()?;
        let mut reach = Reach::default();
        for user in ACTORS {
            reach.tokens.insert(user, dev_sso::token_for(issuer, user)?);
        }
        let scheme = if platform.tls.serves_tls() {
            "https"
        } else {
            "http"
        };
        for service in ServiceName::ALL {
            if let Some(addr) = platform.service_addr(service)
                && let Ok(channel) = platform.tls.endpoint(&format!("{scheme}://{addr}"))
            {
                reach.channels.insert(service, channel.connect_lazy());
            }
        }
        (reach.channels.contains_key(&ServiceName::Accounts)
            && reach.channels.contains_key(&ServiceName::Scheduling))
        .then_some(reach)
    }

    /// The services at their configured endpoints, signed in at `auth.issuer` as the demo
    /// users (a development issuer, or an identity provider that has them).
    pub async fn remote(settings: &Settings) -> Result<Reach, String> {
        let issuer = settings
            .auth
            .issuer
            .clone()
            .filter(|issuer| !issuer.is_empty())
            .ok_or("`auth.issuer` names no identity provider to sign the demo users in at")?;
        let http = svc_kit::tls::http_client()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut reach = Reach::default();
        for user in ACTORS {
            let answer: serde_json::Value = http
                .post(format!("{issuer}/protocol/openid-connect/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", "medmesh-web"),
                    ("username", user),
                    ("password", user),
                ])
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| format!("signing in as the demo {user}: {e}"))?
                .json()
                .await
                .map_err(|e| format!("signing in as the demo {user}: {e}"))?;
            let token = answer["access_token"]
                .as_str()
                .ok_or_else(|| format!("signing in as the demo {user}: no access token"))?;
            reach.tokens.insert(user, token.to_string());
        }
        let tls = svc_kit::tls::Tls::load(&settings.tls).map_err(|e| e.to_string())?;
        for service in ServiceName::ALL {
            let endpoint = settings.endpoint(service);
            let channel = tls
                .endpoint(&endpoint)
                .map_err(|e| format!("services.{service}.endpoint {endpoint:?}: {e}"))?;
            reach.channels.insert(service, channel.connect_lazy());
        }
        Ok(reach)
    }
}

/// Seeds the demo data if the directory is empty; `None` when this process does not run the
/// dev issuer, accounts and scheduling together.
pub async fn seed(platform: &Platform) -> Result<Option<Demo>, tonic::Status> {
    match Reach::local(platform) {
        Some(reach) => seed_with(&reach).await.map(Some),
        None => Ok(None),
    }
}

/// Seeds the demo data through `reach` if the directory is empty.
pub async fn seed_with(reach: &Reach) -> Result<Demo, tonic::Status> {
    let token = |user: &str| reach.token(user);
    let accounts = reach
        .channel(ServiceName::Accounts)
        .ok_or_else(|| tonic::Status::internal("accounts is not reachable"))?;
    let scheduling = reach
        .channel(ServiceName::Scheduling)
        .ok_or_else(|| tonic::Status::internal("scheduling is not reachable"))?;
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
        return Ok(Demo {
            clinic: clinic.name,
            doctor_id: first.doctor_id.clone(),
        });
    }
    let clinic = scheduling
        .create_clinic(bearer(
            pb::CreateClinicRequest {
                request_id: request_id("clinic"),
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
                request_id: request_id("cabinet"),
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
                request_id: request_id("specialization"),
                specialization: Some(pb::Specialization {
                    name: "General practice".into(),
                    ..Default::default()
                }),
            },
            &admin,
        )?)
        .await?
        .into_inner();
    let doctor_id = AccountsServiceClient::new(accounts.clone())
        .get_my_profile(bearer(GetMyProfileRequest {}, &doctor)?)
        .await?
        .into_inner()
        .user_id;
    scheduling
        .upsert_doctor(bearer(
            pb::UpsertDoctorRequest {
                request_id: request_id("doctor"),
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
                    request_id: request_id(format!("template-{weekday}")),
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
    // The demo patient books a visit in ten days' time, so they are in the demo doctor's care
    // (the pharmacy and records learn it from scheduling's events) and the coming week stays
    // free for a newcomer to book.
    let patient = token("patient")?;
    // From midnight (UTC), so the visit is the first of its day: the same every run.
    let in_ten_days = (Utc::now().date_naive() + Duration::days(10))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let slots = scheduling
        .list_free_slots(bearer(
            pb::ListFreeSlotsRequest {
                doctor_id: doctor_id.clone(),
                from: Some(timestamp(in_ten_days)),
                to: Some(timestamp(in_ten_days + Duration::days(7))),
            },
            &patient,
        )?)
        .await?
        .into_inner()
        .slots;
    if let Some(slot) = slots.first() {
        scheduling
            .book_appointment(bearer(
                pb::BookAppointmentRequest {
                    request_id: request_id("booking"),
                    doctor_id: doctor_id.clone(),
                    start: slot.start,
                    reason: "Demo visit".into(),
                    ..Default::default()
                },
                &patient,
            )?)
            .await?;
    }
    if let Some(pharmacy) = reach.channel(ServiceName::Pharmacy) {
        seed_pharmacy(pharmacy, accounts.clone(), &admin, &token("pharmacist")?).await?;
    }
    if let Some(records) = reach.channel(ServiceName::Records) {
        let patient_id = AccountsServiceClient::new(accounts)
            .get_my_profile(bearer(GetMyProfileRequest {}, &patient)?)
            .await?
            .into_inner()
            .user_id;
        seed_records(records, &doctor, &patient_id).await?;
    }
    Ok(Demo {
        clinic: clinic.name,
        doctor_id,
    })
}

/// The demo patient's card, written and signed by the demo doctor: two visits, a diagnosis
/// since resolved and one active, an allergy, lab results and vitals. Records learns that the
/// patient is in the doctor's care from scheduling's event of the booking above, so the first
/// write waits for it.
async fn seed_records(
    records: Channel,
    doctor: &str,
    patient_id: &str,
) -> Result<(), tonic::Status> {
    use medmesh_proto::records::v1::{self as rec, entry_content::Body};
    let mut client = rec::records_service_client::RecordsServiceClient::new(records);
    // At 10:00 UTC of a day: a retried seeding writes the very same entries.
    let ago = |days: i64| {
        Some(timestamp(
            (Utc::now().date_naive() - Duration::days(days))
                .and_hms_opt(10, 0, 0)
                .unwrap_or_default()
                .and_utc(),
        ))
    };
    let observation =
        |code: &str, name: &str, value: &str, unit: &str, range: &str, days| rec::Observation {
            code: code.into(),
            name: name.into(),
            value: value.into(),
            unit: unit.into(),
            reference_range: range.into(),
            observed_at: ago(days),
            comment: String::new(),
        };
    let entries = [
        Body::Encounter(rec::Encounter {
            complaint: "Durere în gât și febră de două zile".into(),
            findings: "Faringe hiperemiată, temperatura 38,2 °C, fără exsudat.".into(),
            plan: "Paracetamol 500 mg la nevoie, lichide, control peste 7 zile.".into(),
        }),
        Body::Diagnosis(rec::Diagnosis {
            icd10_code: "J06.9".into(),
            text: "Infecție acută a căilor respiratorii superioare".into(),
            status: rec::DiagnosisStatus::Resolved as i32,
        }),
        Body::Allergy(rec::Allergy {
            substance: "Penicilină".into(),
            reaction: "Urticarie generalizată".into(),
            severity: rec::Severity::Severe as i32,
            notes: "Reacție în 2019; evitați beta-lactamele.".into(),
        }),
        Body::LabResult(observation(
            "718-7",
            "Hemoglobină",
            "13.6",
            "g/dL",
            "12.0-15.5",
            30,
        )),
        Body::LabResult(observation(
            "2345-7", "Glucoză", "5.4", "mmol/L", "3.9-5.8", 30,
        )),
        Body::Observation(observation(
            "8480-6",
            "Tensiune arterială sistolică",
            "146",
            "mmHg",
            "90-139",
            3,
        )),
        Body::Encounter(rec::Encounter {
            complaint: "Control: dureri de cap dimineața".into(),
            findings: "TA 146/92 mmHg la două măsurători.".into(),
            plan: "Monitorizarea tensiunii acasă timp de 2 săptămâni; dietă hiposodată.".into(),
        }),
        Body::Diagnosis(rec::Diagnosis {
            icd10_code: "I10".into(),
            text: "Hipertensiune arterială esențială".into(),
            status: rec::DiagnosisStatus::Active as i32,
        }),
    ];
    for (n, body) in entries.into_iter().enumerate() {
        let request = rec::CreateEntryRequest {
            request_id: format!("demo-record-{patient_id}-{n}"),
            patient_id: patient_id.to_string(),
            content: Some(rec::EntryContent { body: Some(body) }),
            appointment_id: String::new(),
        };
        // Until records has heard of the booking, the patient is not in the doctor's care.
        let mut waited = 0;
        let draft = loop {
            match client.create_entry(bearer(request.clone(), doctor)?).await {
                Ok(created) => break created.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound && waited < 100 => {
                    waited += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(status) => return Err(status),
            }
        };
        client
            .sign_entry(bearer(
                rec::SignEntryRequest {
                    request_id: format!("demo-sign-{patient_id}-{n}"),
                    entry_id: draft.entry_id,
                    version: draft.version,
                },
                doctor,
            )?)
            .await?;
    }
    Ok(())
}

fn timestamp(at: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// Two pharmacies with a small catalog in stock (paracetamol close to its critical threshold),
/// and the demo pharmacist working at the first.
async fn seed_pharmacy(
    pharmacy: Channel,
    accounts: Channel,
    admin: &str,
    pharmacist: &str,
) -> Result<(), tonic::Status> {
    use medmesh_proto::{accounts::v1 as acc, pharmacy::v1 as rx};
    let mut client = rx::pharmacy_service_client::PharmacyServiceClient::new(pharmacy);
    let hours = |opens: i32, closes: i32| -> Vec<rx::OpeningHours> {
        (1..=7)
            .map(|weekday| rx::OpeningHours {
                weekday,
                opens: Some(TimeOfDay {
                    hours: opens,
                    minutes: 0,
                }),
                closes: Some(TimeOfDay {
                    hours: closes,
                    minutes: 0,
                }),
            })
            .collect()
    };
    let mut pharmacies = Vec::new();
    for (name, address, zone, opens, closes) in [
        (
            "Farmacia Sănătatea",
            "Strada Ștefan cel Mare 12, Chișinău",
            "Europe/Chisinau",
            8,
            21,
        ),
        (
            "Аптека «Здоров'я»",
            "вул. Хрещатик 5, Київ",
            "Europe/Kyiv",
            0,
            23,
        ),
    ] {
        let created = client
            .create_pharmacy(bearer(
                rx::CreatePharmacyRequest {
                    request_id: request_id(format!("pharmacy-{zone}")),
                    pharmacy: Some(rx::Pharmacy {
                        name: name.into(),
                        address: address.into(),
                        time_zone: zone.into(),
                        phone: "+373 22 000 000".into(),
                        opening_hours: hours(opens, closes),
                        ..Default::default()
                    }),
                },
                admin,
            )?)
            .await?
            .into_inner();
        pharmacies.push(created.pharmacy_id);
    }
    let mut medications = Vec::new();
    let mut n = 0;
    for (name, substance, form, strength, atc) in [
        ("Paracetamol", "paracetamol", "tablet", "500 mg", "N02BE01"),
        (
            "Paracetamol Zentiva",
            "paracetamol",
            "tablet",
            "500 mg",
            "N02BE01",
        ),
        ("Ibuprofen", "ibuprofen", "tablet", "400 mg", "M01AE01"),
        ("Amoxicilină", "amoxicillin", "capsule", "500 mg", "J01CA04"),
        (
            "Цитрамон",
            "acetylsalicylic acid, paracetamol, caffeine",
            "tablet",
            "240 mg",
            "N02BA71",
        ),
    ] {
        n += 1;
        let created = client
            .create_medication(bearer(
                rx::CreateMedicationRequest {
                    request_id: request_id(format!("medication-{n}")),
                    medication: Some(rx::Medication {
                        name: name.into(),
                        active_substance: substance.into(),
                        form: form.into(),
                        strength: strength.into(),
                        pack_size: 20,
                        atc_code: atc.into(),
                        prescription_only: substance == "amoxicillin",
                        ..Default::default()
                    }),
                },
                admin,
            )?)
            .await?
            .into_inner();
        medications.push(created.medication_id);
    }
    let pharmacist_id = AccountsServiceClient::new(accounts.clone())
        .get_my_profile(bearer(GetMyProfileRequest {}, pharmacist)?)
        .await?
        .into_inner()
        .user_id;
    AccountsServiceClient::new(accounts)
        .add_affiliation(bearer(
            acc::AddAffiliationRequest {
                request_id: request_id("affiliation"),
                user_id: pharmacist_id,
                kind: acc::AffiliationKind::Pharmacist as i32,
                pharmacy_id: pharmacies[0].clone(),
                ..Default::default()
            },
            admin,
        )?)
        .await?;
    // From midnight, so a retried seeding asks for the very same shipment.
    let expiry = Some(timestamp(
        (Utc::now().date_naive() + Duration::days(400))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    ));
    let quantities = [12, 60, 40, 30, 50];
    client
        .receive_shipment(bearer(
            rx::ReceiveShipmentRequest {
                request_id: request_id("shipment"),
                pharmacy_id: pharmacies[0].clone(),
                lines: medications
                    .iter()
                    .zip(quantities)
                    .map(|(m, quantity)| rx::ShipmentLine {
                        medication_id: m.clone(),
                        quantity,
                        lot: "DEMO-2026-01".into(),
                        expires_at: expiry,
                    })
                    .collect(),
            },
            pharmacist,
        )?)
        .await?;
    // Paracetamol sits just above its critical threshold.
    client
        .set_critical_threshold(bearer(
            rx::SetCriticalThresholdRequest {
                request_id: request_id("threshold"),
                pharmacy_id: pharmacies[0].clone(),
                medication_id: medications[0].clone(),
                critical_threshold: 10,
            },
            pharmacist,
        )?)
        .await?;
    Ok(())
}
