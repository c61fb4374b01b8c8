//! svc-scheduling end to end over gRPC, on PostgreSQL and on SQLite, with svc-accounts and a
//! real OIDC issuer beside it.

mod common;

use common::{Harness, code, date, day, fields, pdf_text, start, ts, with};
use medmesh_proto::{
    common::v1::TimeOfDay,
    scheduling::v1::{self as pb, AppointmentStatus as S},
};
use svc_kit::{backend_test, testing::TestDb};
use tonic::Code;

/// A clinic in Kyiv with one doctor seeing patients every day 08:00-20:00.
async fn practice(h: &Harness) -> String {
    let (clinic, _) = h.clinic("Central", "Europe/Kyiv").await;
    let spec = h.specialization("Cardiology").await;
    h.doctor(&h.token("doctor"), &clinic, &spec).await
}

fn hold(doctor: &str, slot: &pb::Slot, request_id: &str) -> pb::HoldSlotRequest {
    pb::HoldSlotRequest {
        request_id: request_id.to_string(),
        doctor_id: doctor.to_string(),
        start: slot.start,
        patient_id: String::new(),
    }
}

fn book(doctor: &str, slot: &pb::Slot, request_id: &str) -> pb::BookAppointmentRequest {
    pb::BookAppointmentRequest {
        request_id: request_id.to_string(),
        doctor_id: doctor.to_string(),
        start: slot.start,
        reason: "check-up".to_string(),
        ..Default::default()
    }
}

backend_test!(
    the_directory_and_schedules_are_managed_and_validated,
    directory
);
async fn directory(db: TestDb) {
    let h = start(db).await;
    let admin = h.token("admin");
    let (clinic, cabinet) = h.clinic("Central", "Europe/Kyiv").await;
    let spec = h.specialization("Cardiology").await;
    let doctor = h.doctor(&h.token("doctor"), &clinic, &spec).await;

    // Anyone signed in finds the doctor by specialization, clinic and part of the name.
    let patient = h.token("patient");
    let found = h
        .client()
        .list_doctors(with(
            pb::ListDoctorsRequest {
                specialization_id: spec.clone(),
                clinic_id: clinic.clone(),
                name_query: "DOCT".to_string(),
                ..Default::default()
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.doctors.len(), 1);
    assert_eq!(found.doctors[0].doctor_id, doctor);
    assert_eq!(found.doctors[0].specialization_name, "Cardiology");
    assert_eq!(
        found.doctors[0].display_name, "Demo doctor",
        "the name comes from svc-accounts"
    );
    let none = h
        .client()
        .list_doctors(with(
            pb::ListDoctorsRequest {
                name_query: "%".to_string(),
                ..Default::default()
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(none.doctors.is_empty(), "% matches itself, not everything");

    // Only an admin manages the directory.
    let refused = h
        .client()
        .create_clinic(with(
            pb::CreateClinicRequest {
                request_id: "c-x".into(),
                clinic: Some(pb::Clinic {
                    name: "X".into(),
                    time_zone: "UTC".into(),
                    ..Default::default()
                }),
            },
            &patient,
        ))
        .await;
    assert_eq!(code(&refused), Code::PermissionDenied);

    // Bad input names each field and writes nothing.
    let before = h.count("SELECT COUNT(*) FROM clinics").await;
    let bad = h
        .client()
        .create_clinic(with(
            pb::CreateClinicRequest {
                request_id: "c-bad".into(),
                clinic: Some(pb::Clinic {
                    name: " ".into(),
                    time_zone: "Mars/Olympus".into(),
                    cancellation_cutoff_minutes: -5,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await;
    assert_eq!(
        fields(bad),
        [
            "clinic.name",
            "clinic.time_zone",
            "clinic.cancellation_cutoff_minutes"
        ]
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM clinics").await, before);

    // A template overlapping one of the doctor's is refused, and the doctor manages their own.
    let doctor_token = h.token("doctor");
    let overlapping = h
        .client()
        .add_schedule_template(with(
            pb::AddScheduleTemplateRequest {
                request_id: "t-overlap".into(),
                template: Some(pb::ScheduleTemplate {
                    weekday: 3,
                    start: Some(TimeOfDay {
                        hours: 19,
                        minutes: 0,
                    }),
                    end: Some(TimeOfDay {
                        hours: 21,
                        minutes: 0,
                    }),
                    valid_from: Some(date(chrono::Utc::now().date_naive())),
                    ..Default::default()
                }),
            },
            &doctor_token,
        ))
        .await;
    assert_eq!(code(&overlapping), Code::AlreadyExists, "{overlapping:?}");
    assert!(
        overlapping
            .unwrap_err()
            .message()
            .contains("overlaps template")
    );
    let templates = h.count("SELECT COUNT(*) FROM schedule_templates").await;
    assert_eq!(templates, 7);
    let bad_template = h
        .client()
        .add_schedule_template(with(
            pb::AddScheduleTemplateRequest {
                request_id: "t-bad".into(),
                template: Some(pb::ScheduleTemplate {
                    weekday: 9,
                    start: Some(TimeOfDay {
                        hours: 10,
                        minutes: 0,
                    }),
                    end: Some(TimeOfDay {
                        hours: 25,
                        minutes: 0,
                    }),
                    valid_from: None,
                    cabinet_id: cabinet.clone(),
                    ..Default::default()
                }),
            },
            &doctor_token,
        ))
        .await;
    assert_eq!(
        fields(bad_template),
        ["template.weekday", "template.end", "template.valid_from"]
    );
    // Another doctor's calendar is not this doctor's to change.
    let other = h.token_for("other-doctor", &["doctor"]);
    let foreign = h
        .client()
        .add_schedule_exception(with(
            pb::AddScheduleExceptionRequest {
                request_id: "e-foreign".into(),
                exception: Some(pb::ScheduleException {
                    doctor_id: doctor.clone(),
                    date: Some(date(
                        chrono::Utc::now().date_naive() + chrono::Duration::days(3),
                    )),
                    day_off: true,
                    ..Default::default()
                }),
            },
            &other,
        ))
        .await;
    assert_eq!(code(&foreign), Code::NotFound);

    // A day off empties that day.
    assert!(!h.free_slots(&patient, &doctor, 3).await.is_empty());
    let kyiv_day = (chrono::Utc::now() + chrono::Duration::days(3)).date_naive();
    h.client()
        .add_schedule_exception(with(
            pb::AddScheduleExceptionRequest {
                request_id: "e-off".into(),
                exception: Some(pb::ScheduleException {
                    date: Some(date(kyiv_day)),
                    day_off: true,
                    reason: "conference".into(),
                    ..Default::default()
                }),
            },
            &doctor_token,
        ))
        .await
        .unwrap();
    assert!(
        h.free_slots(&patient, &doctor, 3).await.is_empty(),
        "the cached list was invalidated"
    );
    let schedule = h
        .client()
        .get_schedule(with(pb::GetScheduleRequest::default(), &doctor_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schedule.templates.len(), 7);
    assert_eq!(schedule.exceptions.len(), 1);
    assert_eq!(schedule.time_zone, "Europe/Kyiv");
    // A patient does not read schedules.
    let denied = h
        .client()
        .get_schedule(with(pb::GetScheduleRequest { doctor_id: doctor }, &patient))
        .await;
    assert_eq!(code(&denied), Code::PermissionDenied);
    archiving(&h, &clinic, &spec).await;
}

/// Cabinets and specializations are renamed and archived; archived ones are not listed (unless
/// asked) and not offered for new schedules or listings.
async fn archiving(h: &Harness, clinic: &str, spec: &str) {
    let admin = h.token("admin");
    let patient = h.token("patient");
    let second = h
        .client()
        .create_cabinet(with(
            pb::CreateCabinetRequest {
                request_id: "cab-2".into(),
                cabinet: Some(pb::Cabinet {
                    clinic_id: clinic.to_string(),
                    room: "102".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let same_room = h
        .client()
        .update_cabinet(with(
            pb::UpdateCabinetRequest {
                request_id: "cab-u1".into(),
                cabinet: Some(pb::Cabinet {
                    cabinet_id: second.cabinet_id.clone(),
                    room: "101".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await;
    assert_eq!(
        code(&same_room),
        Code::AlreadyExists,
        "one cabinet per room"
    );
    let archived = h
        .client()
        .update_cabinet(with(
            pb::UpdateCabinetRequest {
                request_id: "cab-u2".into(),
                cabinet: Some(pb::Cabinet {
                    cabinet_id: second.cabinet_id.clone(),
                    room: "103".into(),
                    floor: "1".into(),
                    archived: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((archived.room.as_str(), archived.archived), ("103", true));
    let listed = |include_archived: bool| {
        let mut client = h.client();
        let (clinic, admin) = (clinic.to_string(), admin.clone());
        async move {
            client
                .list_cabinets(with(
                    pb::ListCabinetsRequest {
                        clinic_id: clinic,
                        include_archived,
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner()
                .cabinets
                .len()
        }
    };
    assert_eq!((listed(false).await, listed(true).await), (1, 2));
    // A page at a time, by room.
    let first_page = h
        .client()
        .list_cabinets(with(
            pb::ListCabinetsRequest {
                clinic_id: clinic.to_string(),
                include_archived: true,
                page_size: 1,
                page_token: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_page.cabinets[0].room, "101");
    assert!(!first_page.next_page_token.is_empty());
    let second_page = h
        .client()
        .list_cabinets(with(
            pb::ListCabinetsRequest {
                clinic_id: clinic.to_string(),
                include_archived: true,
                page_size: 1,
                page_token: first_page.next_page_token,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second_page.cabinets.len(), 1);
    assert_eq!(second_page.cabinets[0].room, "103");
    assert!(second_page.next_page_token.is_empty(), "the last page");
    let on_archived = h
        .client()
        .add_schedule_template(with(
            pb::AddScheduleTemplateRequest {
                request_id: "t-archived".into(),
                template: Some(pb::ScheduleTemplate {
                    weekday: 1,
                    start: Some(TimeOfDay {
                        hours: 21,
                        minutes: 0,
                    }),
                    end: Some(TimeOfDay {
                        hours: 22,
                        minutes: 0,
                    }),
                    cabinet_id: second.cabinet_id.clone(),
                    valid_from: Some(date(chrono::Utc::now().date_naive())),
                    ..Default::default()
                }),
            },
            &h.token("doctor"),
        ))
        .await;
    assert_eq!(fields(on_archived), ["template.cabinet_id"]);
    let renamed = h
        .client()
        .update_specialization(with(
            pb::UpdateSpecializationRequest {
                request_id: "spec-u1".into(),
                specialization: Some(pb::Specialization {
                    specialization_id: spec.to_string(),
                    name: "Cardiology and vascular medicine".into(),
                    archived: true,
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(renamed.archived);
    let visible = h
        .client()
        .list_specializations(with(pb::ListSpecializationsRequest::default(), &patient))
        .await
        .unwrap()
        .into_inner();
    assert!(
        visible.specializations.is_empty(),
        "archived ones are not listed"
    );
    let all = h
        .client()
        .list_specializations(with(
            pb::ListSpecializationsRequest {
                include_archived: true,
                ..Default::default()
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.specializations[0].name,
        "Cardiology and vascular medicine"
    );
}

backend_test!(a_patient_holds_books_reschedules_and_cancels, booking_flow);
async fn booking_flow(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let me = h.user_id(&patient).await;
    let slots = h.free_slots(&patient, &doctor, 2).await;
    assert_eq!(slots.len(), 24, "08:00-20:00 in 30-minute visits");
    assert_eq!(slots[0].time_zone, "Europe/Kyiv");

    // Hold, then the slot is no longer free (the cached list was invalidated).
    let held = h
        .client()
        .hold_slot(with(hold(&doctor, &slots[0], "h-1"), &patient))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status(), S::Held);
    assert_eq!(held.patient_id, me);
    assert!(held.hold_expires_at.is_some());
    let after_hold = h.free_slots(&patient, &doctor, 2).await;
    assert_eq!(after_hold.len(), 23);
    assert!(!after_hold.iter().any(|s| s.start == slots[0].start));

    // Another patient cannot take it, even directly.
    let other = h.token_for("second-patient", &["patient"]);
    let taken = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-x"), &other))
        .await;
    assert_eq!(code(&taken), Code::AlreadyExists);
    assert!(taken.unwrap_err().message().contains("doctor"));

    // Book from the hold; a retry answers the same appointment and acts once.
    let from_hold = pb::BookAppointmentRequest {
        request_id: "b-1".into(),
        hold_id: held.appointment_id.clone(),
        reason: "check-up".into(),
        ..Default::default()
    };
    let booked = h
        .client()
        .book_appointment(with(from_hold.clone(), &patient))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(booked.appointment_id, held.appointment_id);
    assert_eq!(booked.status(), S::Booked);
    let again = h
        .client()
        .book_appointment(with(from_hold, &patient))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, booked);
    assert_eq!(h.events("appointment.booked").await, 1);
    // The same key with another body is refused.
    let reused = h
        .client()
        .book_appointment(with(book(&doctor, &slots[3], "b-1"), &patient))
        .await;
    assert_eq!(fields(reused), ["request_id"]);

    // The patient cannot be in two places: another doctor at the same time is refused.
    let spec = h.specialization("Dermatology").await;
    let (clinic2, _) = h.clinic("North", "Europe/Kyiv").await;
    let second_doctor = h
        .doctor(&h.token_for("doctor-two", &["doctor"]), &clinic2, &spec)
        .await;
    let same_time = h.free_slots(&patient, &second_doctor, 2).await;
    let clash = h
        .client()
        .book_appointment(with(book(&second_doctor, &same_time[0], "b-2"), &patient))
        .await;
    assert_eq!(code(&clash), Code::AlreadyExists);
    assert!(clash.unwrap_err().message().contains("patient"));

    // Reschedule: the new time is taken and the old one freed together.
    let moved = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "r-1".into(),
                appointment_id: booked.appointment_id.clone(),
                new_start: slots[4].start,
                new_doctor_id: String::new(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.appointment_id, booked.appointment_id);
    assert_eq!(moved.slot.as_ref().unwrap().start, slots[4].start);
    let free = h.free_slots(&patient, &doctor, 2).await;
    assert!(
        free.iter().any(|s| s.start == slots[0].start),
        "the old slot is free again"
    );
    assert!(!free.iter().any(|s| s.start == slots[4].start));
    assert_eq!(h.events("appointment.rescheduled").await, 1);

    // Rescheduling into a taken slot fails and leaves the appointment as it was.
    h.client()
        .book_appointment(with(book(&doctor, &slots[6], "b-other"), &other))
        .await
        .unwrap();
    let blocked = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "r-2".into(),
                appointment_id: booked.appointment_id.clone(),
                new_start: slots[6].start,
                new_doctor_id: String::new(),
            },
            &patient,
        ))
        .await;
    assert_eq!(code(&blocked), Code::AlreadyExists);
    let unchanged = h
        .client()
        .get_appointment(with(
            pb::GetAppointmentRequest {
                appointment_id: booked.appointment_id.clone(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged, moved, "the failed reschedule changed nothing");

    // The state machine: a booked visit cannot be completed before check-in.
    let nurse = h.token("nurse");
    let admin = h.token("admin");
    let change = |id: &str, status: S, request_id: &str| pb::ChangeAppointmentStatusRequest {
        request_id: request_id.into(),
        appointment_id: id.to_string(),
        status: status as i32,
        reason: String::new(),
    };
    let early = h
        .client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::Completed, "s-0"),
            &admin,
        ))
        .await;
    assert_eq!(code(&early), Code::FailedPrecondition);
    let a = h
        .client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::Confirmed, "s-1"),
            &admin,
        ))
        .await
        .unwrap();
    assert_eq!(a.get_ref().status(), S::Confirmed);
    // A nurse of no clinic does not reach it; a patient may not change statuses at all.
    let nurse_try = h
        .client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::CheckedIn, "s-2"),
            &nurse,
        ))
        .await;
    assert_eq!(code(&nurse_try), Code::NotFound);
    let patient_try = h
        .client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::CheckedIn, "s-3"),
            &patient,
        ))
        .await;
    assert_eq!(code(&patient_try), Code::PermissionDenied);
    let doctor_token = h.token("doctor");
    h.client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::CheckedIn, "s-4"),
            &doctor_token,
        ))
        .await
        .unwrap();
    let done = h
        .client()
        .change_appointment_status(with(
            change(&moved.appointment_id, S::Completed, "s-5"),
            &doctor_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status(), S::Completed);
    let late_cancel = h
        .client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-1".into(),
                appointment_id: done.appointment_id.clone(),
                reason: "x".into(),
            },
            &patient,
        ))
        .await;
    assert_eq!(code(&late_cancel), Code::FailedPrecondition);
    assert_eq!(h.events("appointment.completed").await, 1);

    // A booking of the other patient is cancelled by them, and the slot is free again.
    let theirs = h
        .client()
        .list_appointments(with(pb::ListAppointmentsRequest::default(), &other))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        theirs.appointments.len(),
        1,
        "a patient lists only their own"
    );
    let cancelled = h
        .client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-2".into(),
                appointment_id: theirs.appointments[0].appointment_id.clone(),
                reason: "feeling better".into(),
            },
            &other,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status(), S::Cancelled);
    assert_eq!(cancelled.cancellation_reason, "feeling better");
    assert!(
        h.free_slots(&patient, &doctor, 2)
            .await
            .iter()
            .any(|s| s.start == slots[6].start)
    );
    // The audit trail has every step of the completed visit.
    let steps = h
        .count(&format!(
            "SELECT COUNT(*) FROM appointment_audit WHERE appointment_id = '{}'",
            done.appointment_id
        ))
        .await;
    assert_eq!(
        steps, 6,
        "held, booked, rescheduled, confirmed, checked in, completed"
    );
}

backend_test!(bad_input_gets_a_field_error_and_writes_nothing, bad_input);
async fn bad_input(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let slots = h.free_slots(&patient, &doctor, 2).await;
    let before = h.count("SELECT COUNT(*) FROM appointments").await;
    let keys = h.count("SELECT COUNT(*) FROM idempotency_keys").await;
    // Setting up the practice told the platform about its schedule; bad input adds nothing.
    let scheduling_events =
        "SELECT COUNT(*) FROM outbox WHERE event_type LIKE 'medmesh.scheduling%'";
    let events = h.count(scheduling_events).await;

    let (from, to) = day(2);
    let backwards = h
        .client()
        .list_free_slots(with(
            pb::ListFreeSlotsRequest {
                doctor_id: doctor.clone(),
                from: Some(to),
                to: Some(from),
            },
            &patient,
        ))
        .await;
    assert_eq!(fields(backwards), ["to"]);
    let unknown = h
        .client()
        .list_free_slots(with(
            pb::ListFreeSlotsRequest {
                doctor_id: uuid::Uuid::new_v4().to_string(),
                from: Some(from),
                to: Some(to),
            },
            &patient,
        ))
        .await;
    assert_eq!(fields(unknown), ["doctor_id"]);

    let mut off_grid = book(&doctor, &slots[0], "bad-1");
    off_grid.start.as_mut().unwrap().seconds += 600;
    assert_eq!(
        fields(h.client().book_appointment(with(off_grid, &patient)).await),
        ["start"]
    );
    let past = pb::BookAppointmentRequest {
        start: Some(ts(chrono::Utc::now() - chrono::Duration::days(1))),
        ..book(&doctor, &slots[0], "bad-2")
    };
    let past = h.client().book_appointment(with(past, &patient)).await;
    let status = past.as_ref().unwrap_err();
    assert!(status.message().contains("past"), "{status:?}");
    assert_eq!(fields(past), ["start"]);
    let no_key = book(&doctor, &slots[0], "");
    assert_eq!(
        fields(h.client().book_appointment(with(no_key, &patient)).await),
        ["request_id"]
    );
    let bad_doctor = pb::BookAppointmentRequest {
        doctor_id: "not-an-id".into(),
        ..book(&doctor, &slots[0], "bad-3")
    };
    assert_eq!(
        fields(
            h.client()
                .book_appointment(with(bad_doctor, &patient))
                .await
        ),
        ["doctor_id"]
    );
    let long_reason = pb::BookAppointmentRequest {
        reason: "x".repeat(501),
        ..book(&doctor, &slots[0], "bad-4")
    };
    assert_eq!(
        fields(
            h.client()
                .book_appointment(with(long_reason, &patient))
                .await
        ),
        ["reason"]
    );
    let unknown_hold = pb::BookAppointmentRequest {
        request_id: "bad-5".into(),
        hold_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    assert_eq!(
        fields(
            h.client()
                .book_appointment(with(unknown_hold, &patient))
                .await
        ),
        ["hold_id"]
    );
    let bad_status = pb::ChangeAppointmentStatusRequest {
        request_id: "bad-6".into(),
        appointment_id: uuid::Uuid::new_v4().to_string(),
        status: S::Cancelled as i32,
        reason: String::new(),
    };
    assert_eq!(
        fields(
            h.client()
                .change_appointment_status(with(bad_status, &h.token("admin")))
                .await
        ),
        ["status"]
    );
    let backwards_wait = pb::JoinWaitlistRequest {
        request_id: "bad-7".into(),
        doctor_id: doctor.clone(),
        from_date: Some(date(
            chrono::Utc::now().date_naive() + chrono::Duration::days(5),
        )),
        to_date: Some(date(
            chrono::Utc::now().date_naive() + chrono::Duration::days(4),
        )),
        patient_id: String::new(),
    };
    assert_eq!(
        fields(
            h.client()
                .join_waitlist(with(backwards_wait, &patient))
                .await
        ),
        ["to_date"]
    );

    assert_eq!(h.count("SELECT COUNT(*) FROM appointments").await, before);
    assert_eq!(h.count("SELECT COUNT(*) FROM idempotency_keys").await, keys);
    assert_eq!(h.count("SELECT COUNT(*) FROM waitlist").await, 0);
    assert_eq!(h.count(scheduling_events).await, events);
}

backend_test!(holds_expire_on_their_own_and_the_waitlist_moves_on, expiry);
async fn expiry(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let first = h.token("patient");
    let second = h.token_for("waiting-one", &["patient"]);
    let third = h.token_for("waiting-two", &["patient"]);
    let slots = h.free_slots(&first, &doctor, 2).await;

    // A hold that is never booked frees its slot when its time runs out.
    h.client()
        .hold_slot(with(hold(&doctor, &slots[1], "h-1"), &first))
        .await
        .unwrap();
    assert!(
        !h.free_slots(&first, &doctor, 2)
            .await
            .iter()
            .any(|s| s.start == slots[1].start)
    );
    svc_scheduling::clock::advance(chrono::Duration::minutes(11));
    h.eventually("the hold expires", || async {
        h.events("hold.expired").await == 1
    })
    .await;
    // The sweeper clears the cached slots just after its transaction (with the event) commits:
    // the slot is free again once that has run, not at the instant the event is visible.
    h.eventually("the expired hold's slot is free again", || async {
        h.free_slots(&first, &doctor, 2)
            .await
            .iter()
            .any(|s| s.start == slots[1].start)
    })
    .await;

    // Two patients wait; the first patient cancels; the first in line is offered the slot.
    let booked = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-1"), &first))
        .await
        .unwrap()
        .into_inner();
    let tomorrow_plus = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    for (token, id) in [(&second, "w-1"), (&third, "w-2")] {
        h.client()
            .join_waitlist(with(
                pb::JoinWaitlistRequest {
                    request_id: id.into(),
                    doctor_id: doctor.clone(),
                    from_date: Some(date(tomorrow_plus)),
                    to_date: Some(date(tomorrow_plus + chrono::Duration::days(3))),
                    patient_id: String::new(),
                },
                token,
            ))
            .await
            .unwrap();
    }
    h.client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-1".into(),
                appointment_id: booked.appointment_id.clone(),
                reason: String::new(),
            },
            &first,
        ))
        .await
        .unwrap();
    let offers = |token: String| {
        let client = h.client();
        async move {
            let mut client = client;
            client
                .list_appointments(with(
                    pb::ListAppointmentsRequest {
                        statuses: vec![S::Held as i32],
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .appointments
        }
    };
    let offered = offers(second.clone()).await;
    assert_eq!(offered.len(), 1, "the first in line holds the freed slot");
    assert_eq!(offered[0].slot.as_ref().unwrap().start, slots[0].start);
    assert!(!offered[0].waitlist_entry_id.is_empty());
    assert_eq!(h.events("waitlist.offered").await, 1);
    assert!(offers(third.clone()).await.is_empty());

    // The offer runs out unanswered: the next in line gets it.
    svc_scheduling::clock::advance(chrono::Duration::minutes(31));
    h.eventually("the offer moves on", || async {
        h.events("waitlist.offered").await == 2
    })
    .await;
    assert!(offers(second.clone()).await.is_empty());
    let next = offers(third.clone()).await;
    assert_eq!(next.len(), 1);
    let entries = h
        .client()
        .list_waitlist(with(pb::ListWaitlistRequest::default(), &second))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entries.entries[0].status(), pb::WaitlistStatus::Lapsed);

    // The third patient takes it.
    let taken = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                request_id: "b-3".into(),
                hold_id: next[0].appointment_id.clone(),
                ..Default::default()
            },
            &third,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(taken.status(), S::Booked);
    let entries = h
        .client()
        .list_waitlist(with(pb::ListWaitlistRequest::default(), &third))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entries.entries[0].status(), pb::WaitlistStatus::Fulfilled);

    // Booking from a hold after it expired is refused, and nothing changes.
    let late = h
        .client()
        .hold_slot(with(hold(&doctor, &slots[8], "h-late"), &first))
        .await
        .unwrap()
        .into_inner();
    svc_scheduling::clock::advance(chrono::Duration::minutes(11));
    let refused = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                request_id: "b-late".into(),
                hold_id: late.appointment_id.clone(),
                ..Default::default()
            },
            &first,
        ))
        .await;
    assert_eq!(code(&refused), Code::FailedPrecondition);
}

backend_test!(nobody_reaches_anothers_appointments, cross_user);
async fn cross_user(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let owner = h.token("patient");
    let stranger = h.token_for("stranger", &["patient"]);
    let slots = h.free_slots(&owner, &doctor, 2).await;
    let mine = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-1"), &owner))
        .await
        .unwrap()
        .into_inner();
    let id = mine.appointment_id.clone();

    let get = h
        .client()
        .get_appointment(with(
            pb::GetAppointmentRequest {
                appointment_id: id.clone(),
            },
            &stranger,
        ))
        .await;
    assert_eq!(code(&get), Code::NotFound);
    let unknown = h
        .client()
        .get_appointment(with(
            pb::GetAppointmentRequest {
                appointment_id: uuid::Uuid::new_v4().to_string(),
            },
            &stranger,
        ))
        .await;
    assert_eq!(
        unknown.unwrap_err().message(),
        get.unwrap_err().message(),
        "someone else's and none answer alike"
    );
    let cancel = h
        .client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "x-1".into(),
                appointment_id: id.clone(),
                reason: String::new(),
            },
            &stranger,
        ))
        .await;
    assert_eq!(code(&cancel), Code::NotFound);
    let reschedule = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "x-2".into(),
                appointment_id: id.clone(),
                new_start: slots[2].start,
                new_doctor_id: String::new(),
            },
            &stranger,
        ))
        .await;
    assert_eq!(code(&reschedule), Code::NotFound);
    let as_owner = pb::HoldSlotRequest {
        patient_id: h.user_id(&owner).await,
        ..hold(&doctor, &slots[3], "x-3")
    };
    assert_eq!(
        code(&h.client().hold_slot(with(as_owner, &stranger)).await),
        Code::PermissionDenied
    );
    let listed = h
        .client()
        .list_appointments(with(
            pb::ListAppointmentsRequest {
                patient_id: mine.patient_id.clone(),
                ..Default::default()
            },
            &stranger,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.appointments.is_empty(),
        "a filter on someone else yields nothing"
    );
    let waitlist = h
        .client()
        .list_waitlist(with(
            pb::ListWaitlistRequest {
                doctor_id: doctor.clone(),
                ..Default::default()
            },
            &stranger,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(waitlist.entries.is_empty());

    // The doctor sees their calendar, a nurse of another clinic does not, an admin does.
    let calendar = |token: String| {
        let mut client = h.client();
        let doctor = doctor.clone();
        async move {
            client
                .list_appointments(with(
                    pb::ListAppointmentsRequest {
                        doctor_id: doctor,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .appointments
                .len()
        }
    };
    assert_eq!(calendar(h.token("doctor")).await, 1);
    assert_eq!(calendar(h.token_for("other-doctor", &["doctor"])).await, 0);
    assert_eq!(calendar(h.token("nurse")).await, 0);
    assert_eq!(calendar(h.token("admin")).await, 1);
    // A nurse affiliated with the doctor's clinic sees it and may check the patient in.
    let clinic = mine.clinic_id.clone();
    let ward_nurse = h.token_for("ward-nurse", &["nurse"]);
    h.affiliate_nurse(&ward_nurse, &clinic).await;
    assert_eq!(calendar(ward_nurse.clone()).await, 1);
    let checked_in = h
        .client()
        .change_appointment_status(with(
            pb::ChangeAppointmentStatusRequest {
                request_id: "n-1".into(),
                appointment_id: mine.appointment_id.clone(),
                status: S::CheckedIn as i32,
                reason: String::new(),
            },
            &ward_nurse,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked_in.status(), S::CheckedIn);

    // A partner reads the directory and free slots but books nothing.
    let partner = h.client_token("partner-demo");
    assert!(!h.free_slots(&partner, &doctor, 2).await.is_empty());
    let partner_book = h
        .client()
        .book_appointment(with(book(&doctor, &slots[5], "p-1"), &partner))
        .await;
    assert_eq!(code(&partner_book), Code::PermissionDenied);
    let partner_read = h
        .client()
        .get_appointment(with(
            pb::GetAppointmentRequest { appointment_id: id },
            &partner,
        ))
        .await;
    assert_eq!(code(&partner_read), Code::PermissionDenied);
}

backend_test!(
    staff_may_book_over_a_conflict_only_with_a_reason_and_it_is_audited,
    overrides
);
async fn overrides(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let urgent = h.token_for("urgent", &["patient"]);
    let urgent_id = h.user_id(&urgent).await;
    let slots = h.free_slots(&patient, &doctor, 2).await;
    let first = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-1"), &patient))
        .await
        .unwrap()
        .into_inner();

    let by_patient = pb::BookAppointmentRequest {
        override_reason: "please".into(),
        ..book(&doctor, &slots[0], "o-1")
    };
    assert_eq!(
        code(&h.client().book_appointment(with(by_patient, &urgent)).await),
        Code::PermissionDenied
    );
    let by_admin = pb::BookAppointmentRequest {
        override_reason: "acute chest pain".into(),
        patient_id: urgent_id,
        ..book(&doctor, &slots[0], "o-2")
    };
    let squeezed = h
        .client()
        .book_appointment(with(by_admin, &h.token("admin")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(squeezed.override_reason, "acute chest pain");
    let audited = h
        .count(&format!(
            "SELECT COUNT(*) FROM appointment_audit WHERE appointment_id = '{}' AND action = 'appointment.booked_over_conflict' AND reason = 'acute chest pain'",
            squeezed.appointment_id
        ))
        .await;
    assert_eq!(audited, 1);

    // Nothing goes over the patient's own time, not even an override.
    let same_patient = pb::BookAppointmentRequest {
        override_reason: "double check".into(),
        patient_id: first.patient_id.clone(),
        ..book(&doctor, &slots[0], "o-3")
    };
    let refused = h
        .client()
        .book_appointment(with(same_patient, &h.token("admin")))
        .await;
    assert_eq!(code(&refused), Code::AlreadyExists);
    assert!(refused.unwrap_err().message().contains("patient"));

    // The override let that one booking in, not the next: with the first booking cancelled,
    // the overridden one still holds the doctor's time.
    h.client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-1".into(),
                appointment_id: first.appointment_id.clone(),
                reason: String::new(),
            },
            &patient,
        ))
        .await
        .unwrap();
    let third = h.token_for("third", &["patient"]);
    let after = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-3"), &third))
        .await;
    assert_eq!(code(&after), Code::AlreadyExists, "{after:?}");
    assert!(
        !h.free_slots(&third, &doctor, 2)
            .await
            .iter()
            .any(|s| s.start == slots[0].start)
    );
}

backend_test!(a_confirmed_appointment_has_a_pdf_confirmation, confirmation);
async fn confirmation(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let slots = h.free_slots(&patient, &doctor, 2).await;
    let booked = h
        .client()
        .book_appointment(with(book(&doctor, &slots[2], "b-1"), &patient))
        .await
        .unwrap()
        .into_inner();
    let get = |token: String, id: String| {
        let mut client = h.client();
        async move {
            client
                .get_appointment_confirmation(with(
                    pb::GetAppointmentConfirmationRequest { appointment_id: id },
                    &token,
                ))
                .await
        }
    };
    let early = get(patient.clone(), booked.appointment_id.clone()).await;
    assert_eq!(
        code(&early),
        Code::FailedPrecondition,
        "not before the clinic confirms"
    );

    h.client()
        .change_appointment_status(with(
            pb::ChangeAppointmentStatusRequest {
                request_id: "s-1".into(),
                appointment_id: booked.appointment_id.clone(),
                status: S::Confirmed as i32,
                reason: String::new(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap();
    let document = get(patient.clone(), booked.appointment_id.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(document.content_type, "application/pdf");
    assert!(document.file_name.ends_with(".pdf"));
    assert!(document.content.starts_with(b"%PDF-"), "a PDF");
    let text = pdf_text(&document.content);
    for expected in [
        "Demo patient",
        "Demo doctor (Cardiology)",
        "Central",
        "101, floor 1",
        "(Europe/Kyiv)",
        booked.appointment_id.as_str(),
        "confirmed",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    // The wall-clock time in the clinic's zone.
    let start = chrono::DateTime::from_timestamp(slots[2].start.unwrap().seconds, 0).unwrap();
    let local = start
        .with_timezone(&"Europe/Kyiv".parse::<chrono_tz::Tz>().unwrap())
        .format("%H:%M")
        .to_string();
    assert!(text.contains(&local), "{local} in the confirmation");
    let again = get(patient.clone(), booked.appointment_id.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.content, document.content,
        "served from the store, not rendered again"
    );

    // Nobody else reads it.
    let stranger = h.token_for("stranger", &["patient"]);
    assert_eq!(
        code(&get(stranger, booked.appointment_id.clone()).await),
        Code::NotFound
    );

    // Moved to another time, it gets a fresh confirmation.
    let moved = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "r-1".into(),
                appointment_id: booked.appointment_id.clone(),
                new_start: slots[6].start,
                new_doctor_id: String::new(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap()
        .into_inner();
    h.client()
        .change_appointment_status(with(
            pb::ChangeAppointmentStatusRequest {
                request_id: "s-2".into(),
                appointment_id: moved.appointment_id.clone(),
                status: S::Confirmed as i32,
                reason: String::new(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap();
    let fresh = get(patient, booked.appointment_id.clone())
        .await
        .unwrap()
        .into_inner();
    assert_ne!(fresh.content, document.content);
    let start = chrono::DateTime::from_timestamp(slots[6].start.unwrap().seconds, 0).unwrap();
    let local = start
        .with_timezone(&"Europe/Kyiv".parse::<chrono_tz::Tz>().unwrap())
        .format("%H:%M")
        .to_string();
    assert!(pdf_text(&fresh.content).contains(&local));
}

backend_test!(
    a_confirmation_prints_romanian_and_cyrillic_names_as_written,
    confirmation_names
);
async fn confirmation_names(db: TestDb) {
    let h = start(db).await;
    let (clinic, _) = h.clinic("Central", "Europe/Kyiv").await;
    let spec = h.specialization("Cardiology").await;
    let doctor_token = h.token_named("olena", "Олена", "Коваленко", &["doctor"]);
    let doctor = h.doctor(&doctor_token, &clinic, &spec).await;
    let patient = h.token_named("stefan", "Ștefan", "Țurcanu", &["patient"]);
    let slots = h.free_slots(&patient, &doctor, 2).await;
    let booked = h
        .client()
        .book_appointment(with(book(&doctor, &slots[0], "b-1"), &patient))
        .await
        .unwrap()
        .into_inner();
    h.client()
        .change_appointment_status(with(
            pb::ChangeAppointmentStatusRequest {
                request_id: "s-1".into(),
                appointment_id: booked.appointment_id.clone(),
                status: S::Confirmed as i32,
                reason: String::new(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap();

    let document = h
        .client()
        .get_appointment_confirmation(with(
            pb::GetAppointmentConfirmationRequest {
                appointment_id: booked.appointment_id,
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    let text = pdf_text(&document.content);
    assert!(text.contains("Ștefan Țurcanu"), "the patient in {text}");
    assert!(
        text.contains("Олена Коваленко (Cardiology)"),
        "the doctor in {text}"
    );

    // The doctor is found by name however it is typed, and listed as written.
    let romanian_doctor = h.token_named("ioana", "Ioana", "Bălănescu-Țurcan", &["doctor"]);
    let ioana = h.doctor(&romanian_doctor, &clinic, &spec).await;
    let find = |query: &'static str| {
        let mut client = h.client();
        let token = h.token("patient");
        async move {
            client
                .list_doctors(with(
                    pb::ListDoctorsRequest {
                        name_query: query.to_string(),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .doctors
                .into_iter()
                .map(|d| (d.doctor_id, d.display_name))
                .collect::<Vec<_>>()
        }
    };
    for query in ["коваленко", "ОЛЕНА", "Олена Коваленко"] {
        assert_eq!(
            find(query).await,
            vec![(doctor.clone(), "Олена Коваленко".to_string())],
            "{query}"
        );
    }
    for query in ["balanescu", "ţurcan", "BĂLĂNESCU-ȚURCAN", "Ioana Balanescu"] {
        assert_eq!(
            find(query).await,
            vec![(ioana.clone(), "Ioana Bălănescu-Țurcan".to_string())],
            "{query}"
        );
    }
}

backend_test!(every_rpc_refuses_the_roles_it_does_not_name, role_matrix);
async fn role_matrix(db: TestDb) {
    let h = start(db).await;
    let callers = [
        ("patient", h.token("patient")),
        ("doctor", h.token("doctor")),
        ("nurse", h.token("nurse")),
        ("pharmacist", h.token("pharmacist")),
        ("partner", h.client_token("partner-demo")),
        // Each of the platform's own clients holds a role of its own.
        ("svc-gateway", h.client_token("medmesh-gateway")),
        ("svc-notify", h.client_token("svc-notify")),
        ("svc-scheduling", h.client_token("svc-scheduling")),
    ];
    // The roles (besides admin) each operation lets in; every other caller is refused before
    // anything is read or parsed.
    let directory_writes: &[&str] = &[];
    let schedule_writes: &[&str] = &["doctor"];
    let schedule_reads: &[&str] = &["doctor", "nurse"];
    let bookings: &[&str] = &["doctor", "nurse", "patient"];
    let status_changes: &[&str] = &["doctor", "nurse"];
    let appointment_reads: &[&str] = &["doctor", "nurse", "patient"];
    let everyone: &[&str] = &[
        "patient",
        "doctor",
        "nurse",
        "pharmacist",
        "partner",
        "svc-gateway",
    ];
    for (role, token) in &callers {
        let mut c = h.client();
        let t = token.as_str();
        let outcomes: Vec<(&str, &[&str], Code)> = vec![
            (
                "CreateClinic",
                directory_writes,
                code(
                    &c.create_clinic(with(pb::CreateClinicRequest::default(), t))
                        .await,
                ),
            ),
            (
                "UpdateClinic",
                directory_writes,
                code(
                    &c.update_clinic(with(pb::UpdateClinicRequest::default(), t))
                        .await,
                ),
            ),
            (
                "CreateCabinet",
                directory_writes,
                code(
                    &c.create_cabinet(with(pb::CreateCabinetRequest::default(), t))
                        .await,
                ),
            ),
            (
                "CreateSpecialization",
                directory_writes,
                code(
                    &c.create_specialization(with(pb::CreateSpecializationRequest::default(), t))
                        .await,
                ),
            ),
            (
                "UpsertDoctor",
                directory_writes,
                code(
                    &c.upsert_doctor(with(pb::UpsertDoctorRequest::default(), t))
                        .await,
                ),
            ),
            (
                "AddScheduleTemplate",
                schedule_writes,
                code(
                    &c.add_schedule_template(with(pb::AddScheduleTemplateRequest::default(), t))
                        .await,
                ),
            ),
            (
                "RemoveScheduleTemplate",
                schedule_writes,
                code(
                    &c.remove_schedule_template(with(
                        pb::RemoveScheduleTemplateRequest::default(),
                        t,
                    ))
                    .await,
                ),
            ),
            (
                "AddScheduleException",
                schedule_writes,
                code(
                    &c.add_schedule_exception(with(pb::AddScheduleExceptionRequest::default(), t))
                        .await,
                ),
            ),
            (
                "GetSchedule",
                schedule_reads,
                code(
                    &c.get_schedule(with(pb::GetScheduleRequest::default(), t))
                        .await,
                ),
            ),
            (
                "HoldSlot",
                bookings,
                code(&c.hold_slot(with(pb::HoldSlotRequest::default(), t)).await),
            ),
            (
                "BookAppointment",
                bookings,
                code(
                    &c.book_appointment(with(pb::BookAppointmentRequest::default(), t))
                        .await,
                ),
            ),
            (
                "RescheduleAppointment",
                bookings,
                code(
                    &c.reschedule_appointment(with(pb::RescheduleAppointmentRequest::default(), t))
                        .await,
                ),
            ),
            (
                "CancelAppointment",
                bookings,
                code(
                    &c.cancel_appointment(with(pb::CancelAppointmentRequest::default(), t))
                        .await,
                ),
            ),
            (
                "JoinWaitlist",
                bookings,
                code(
                    &c.join_waitlist(with(pb::JoinWaitlistRequest::default(), t))
                        .await,
                ),
            ),
            (
                "LeaveWaitlist",
                bookings,
                code(
                    &c.leave_waitlist(with(pb::LeaveWaitlistRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ChangeAppointmentStatus",
                status_changes,
                code(
                    &c.change_appointment_status(with(
                        pb::ChangeAppointmentStatusRequest::default(),
                        t,
                    ))
                    .await,
                ),
            ),
            (
                "GetAppointment",
                appointment_reads,
                code(
                    &c.get_appointment(with(pb::GetAppointmentRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ListAppointments",
                appointment_reads,
                code(
                    &c.list_appointments(with(pb::ListAppointmentsRequest::default(), t))
                        .await,
                ),
            ),
            (
                "GetAppointmentConfirmation",
                appointment_reads,
                code(
                    &c.get_appointment_confirmation(with(
                        pb::GetAppointmentConfirmationRequest::default(),
                        t,
                    ))
                    .await,
                ),
            ),
            (
                "ListWaitlist",
                appointment_reads,
                code(
                    &c.list_waitlist(with(pb::ListWaitlistRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ListClinics",
                everyone,
                code(
                    &c.list_clinics(with(pb::ListClinicsRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ListDoctors",
                everyone,
                code(
                    &c.list_doctors(with(pb::ListDoctorsRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ListSpecializations",
                everyone,
                code(
                    &c.list_specializations(with(pb::ListSpecializationsRequest::default(), t))
                        .await,
                ),
            ),
            (
                "ListFreeSlots",
                everyone,
                code(
                    &c.list_free_slots(with(pb::ListFreeSlotsRequest::default(), t))
                        .await,
                ),
            ),
        ];
        for (operation, allowed, outcome) in outcomes {
            if allowed.contains(role) {
                assert_ne!(
                    outcome,
                    Code::PermissionDenied,
                    "{role} may call {operation}"
                );
            } else {
                assert_eq!(
                    outcome,
                    Code::PermissionDenied,
                    "{role} may not call {operation}"
                );
            }
        }
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM clinics").await,
        0,
        "nothing was written"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
}

fn set_status(
    appointment_id: &str,
    status: S,
    request_id: &str,
) -> pb::ChangeAppointmentStatusRequest {
    pb::ChangeAppointmentStatusRequest {
        request_id: request_id.to_string(),
        appointment_id: appointment_id.to_string(),
        status: status as i32,
        reason: String::new(),
    }
}

backend_test!(
    staff_change_their_own_appointments_status_only_as_its_patient,
    staff_as_patient
);
async fn staff_as_patient(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let slots = h.free_slots(&h.token("patient"), &doctor, 2).await;
    let clinic = h
        .client()
        .get_doctor(with(
            pb::GetDoctorRequest {
                doctor_id: doctor.clone(),
            },
            &h.token("admin"),
        ))
        .await
        .unwrap()
        .into_inner()
        .clinic_id;
    // A nurse of no clinic, a nurse of this very clinic and a doctor of another calendar, each
    // booking a visit of their own as a patient.
    let roaming_nurse = h.token_for("roaming-nurse", &["nurse", "patient"]);
    let ward_nurse = h.token_for("ward-nurse-patient", &["nurse", "patient"]);
    h.affiliate_nurse(&ward_nurse, &clinic).await;
    let other_doctor = h.token_for("other-doctor-patient", &["doctor", "patient"]);
    for (n, token) in [&roaming_nurse, &ward_nurse, &other_doctor]
        .into_iter()
        .enumerate()
    {
        let mine = h
            .client()
            .book_appointment(with(book(&doctor, &slots[n], &format!("own-{n}")), token))
            .await
            .unwrap()
            .into_inner();
        for (m, status) in [S::Confirmed, S::CheckedIn, S::NoShow]
            .into_iter()
            .enumerate()
        {
            let refused = h
                .client()
                .change_appointment_status(with(
                    set_status(&mine.appointment_id, status, &format!("own-{n}-{m}")),
                    token,
                ))
                .await;
            assert_eq!(
                code(&refused),
                Code::PermissionDenied,
                "staff #{n} may not move their own appointment to {status:?}"
            );
        }
        // The appointment is as it was.
        let seen = h
            .client()
            .get_appointment(with(
                pb::GetAppointmentRequest {
                    appointment_id: mine.appointment_id.clone(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen.status(), S::Booked, "nothing changed");
    }
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM appointment_audit WHERE action IN \
             ('appointment.confirmed', 'appointment.checked_in', 'appointment.no_show')"
        )
        .await,
        0
    );
    assert_eq!(h.events("appointment.confirmed").await, 0);

    // Staff of the clinic, acting on someone else's appointment there, may.
    let patients = h.token("patient");
    let theirs = h
        .client()
        .book_appointment(with(book(&doctor, &slots[5], "theirs"), &patients))
        .await
        .unwrap()
        .into_inner();
    let confirmed = h
        .client()
        .change_appointment_status(with(
            set_status(&theirs.appointment_id, S::Confirmed, "theirs-1"),
            &ward_nurse,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.status(), S::Confirmed);
    // A nurse of no clinic reaches nobody's appointments there.
    let out_of_reach = h
        .client()
        .change_appointment_status(with(
            set_status(&theirs.appointment_id, S::CheckedIn, "theirs-2"),
            &roaming_nurse,
        ))
        .await;
    assert_eq!(code(&out_of_reach), Code::NotFound);
}

/// The schedule.changed events in the outbox, as the gateway's live feed decodes every
/// scheduling event: (aggregate id, the doctor it finds in the payload).
async fn schedule_changes(h: &Harness) -> Vec<(String, String)> {
    use medmesh_proto::events::v1::EventEnvelope;
    use prost::Message;
    use sea_orm::ConnectionTrait;
    let rows =
        h.db.query_all_raw(svc_kit::db::stmt(
            h.db.get_database_backend(),
            "SELECT aggregate_id, envelope FROM outbox
             WHERE event_type = 'medmesh.scheduling.v1.schedule.changed' ORDER BY seq",
            [],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let aggregate: String = row.try_get("", "aggregate_id").unwrap();
            let envelope: Vec<u8> = row.try_get("", "envelope").unwrap();
            let envelope = EventEnvelope::decode(envelope.as_slice()).unwrap();
            let event =
                pb::AppointmentEvent::decode(envelope.payload.unwrap().value.as_slice()).unwrap();
            let doctor = event
                .appointment
                .and_then(|a| a.slot)
                .or(event.previous_slot)
                .map(|s| s.doctor_id)
                .unwrap_or_default();
            (aggregate, doctor)
        })
        .collect()
}

backend_test!(
    schedule_edits_refresh_free_slots_at_once_and_announce_the_change,
    schedule_edits
);
async fn schedule_edits(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let admin = h.token("admin");
    let patient = h.token("patient");
    // Setting up the week: one announcement per template, keyed by the doctor, naming them.
    let announced = schedule_changes(&h).await;
    assert_eq!(announced.len(), 7);
    assert!(
        announced
            .iter()
            .all(|(key, d)| key == &doctor && d == &doctor)
    );

    // The doctor's clinic moves to another zone: the cached slots (read just before) are not
    // served again, and every doctor there is announced.
    let before = h.free_slots(&patient, &doctor, 3).await;
    assert!(!before.is_empty());
    let d = h
        .client()
        .get_doctor(with(
            pb::GetDoctorRequest {
                doctor_id: doctor.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let clinic = h
        .client()
        .get_clinic(with(
            pb::GetClinicRequest {
                clinic_id: d.clinic_id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    h.client()
        .update_clinic(with(
            pb::UpdateClinicRequest {
                request_id: "zone-1".into(),
                clinic: Some(pb::Clinic {
                    time_zone: "America/New_York".into(),
                    ..clinic.clone()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    let after = h.free_slots(&patient, &doctor, 3).await;
    assert_eq!(
        after.first().map(|s| s.time_zone.as_str()),
        Some("America/New_York")
    );
    assert_ne!(
        after.first().map(|s| s.start),
        before.first().map(|s| s.start)
    );
    assert_eq!(schedule_changes(&h).await.len(), 8);

    // A day off takes the day's slots at once.
    let day_off_date = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        + chrono::Duration::days(4);
    let on_that_day = |slots: &[pb::Slot]| {
        slots
            .iter()
            .filter(|s| {
                let start = chrono::DateTime::from_timestamp(s.start.unwrap().seconds, 0).unwrap();
                start
                    .with_timezone(&chrono_tz::America::New_York)
                    .date_naive()
                    == day_off_date
            })
            .count()
    };
    let week = |h: &Harness| {
        let patient = patient.clone();
        let doctor = doctor.clone();
        let client = h.client();
        async move {
            let mut client = client;
            client
                .list_free_slots(with(
                    pb::ListFreeSlotsRequest {
                        doctor_id: doctor,
                        from: Some(ts(chrono::Utc::now() + chrono::Duration::days(2))),
                        to: Some(ts(chrono::Utc::now() + chrono::Duration::days(7))),
                    },
                    &patient,
                ))
                .await
                .unwrap()
                .into_inner()
                .slots
        }
    };
    assert!(on_that_day(&week(&h).await) > 0);
    h.client()
        .add_schedule_exception(with(
            pb::AddScheduleExceptionRequest {
                request_id: "off-1".into(),
                exception: Some(pb::ScheduleException {
                    doctor_id: doctor.clone(),
                    date: Some(date(day_off_date)),
                    day_off: true,
                    reason: "conference".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert_eq!(on_that_day(&week(&h).await), 0);
    assert_eq!(schedule_changes(&h).await.len(), 9);

    // Removing a template takes its weekday's slots at once.
    let schedule = h
        .client()
        .get_schedule(with(
            pb::GetScheduleRequest {
                doctor_id: doctor.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let cached = week(&h).await;
    let template = &schedule.templates[0];
    h.client()
        .remove_schedule_template(with(
            pb::RemoveScheduleTemplateRequest {
                request_id: "rm-1".into(),
                template_id: template.template_id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert!(week(&h).await.len() < cached.len());
    assert_eq!(schedule_changes(&h).await.len(), 10);

    // Archiving the doctor: no free slots any more, and announced.
    h.client()
        .upsert_doctor(with(
            pb::UpsertDoctorRequest {
                request_id: "archive-1".into(),
                doctor: Some(pb::Doctor {
                    archived: true,
                    ..d.clone()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();
    let archived = h
        .client()
        .list_free_slots(with(
            pb::ListFreeSlotsRequest {
                doctor_id: doctor.clone(),
                from: Some(ts(chrono::Utc::now() + chrono::Duration::days(2))),
                to: Some(ts(chrono::Utc::now() + chrono::Duration::days(7))),
            },
            &patient,
        ))
        .await;
    assert_eq!(fields(archived), ["doctor_id"]);
    let announced = schedule_changes(&h).await;
    assert_eq!(announced.len(), 11);
    assert!(
        announced
            .iter()
            .all(|(key, d)| key == &doctor && d == &doctor)
    );
}

backend_test!(a_long_waitlist_is_read_a_page_at_a_time, long_waitlist);
async fn long_waitlist(db: TestDb) {
    use sea_orm::TransactionTrait;
    use svc_scheduling::store::waitlist::{self, EntryRecord, EntryStatus};
    let h = start(db).await;
    let doctor = practice(&h).await;
    let today = chrono::Utc::now().date_naive();
    let txn = h.db.begin().await.unwrap();
    for _ in 0..501 {
        let entry = EntryRecord {
            entry_id: uuid::Uuid::now_v7().to_string(),
            doctor_id: doctor.clone(),
            patient_id: uuid::Uuid::new_v4().to_string(),
            from_date: today,
            to_date: today + chrono::Duration::days(30),
            status: EntryStatus::Waiting,
            offered_appointment_id: String::new(),
            created_at: chrono::Utc::now(),
        };
        assert!(waitlist::insert(&txn, &entry).await.unwrap());
    }
    txn.commit().await.unwrap();

    // Over gRPC, page by page (the default page, then the largest): every entry once, in the
    // order they joined, and the last page says no more follow.
    let admin = h.token("admin");
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = h
            .client()
            .list_waitlist(with(
                pb::ListWaitlistRequest {
                    doctor_id: doctor.clone(),
                    page_size: if pages.is_empty() { 0 } else { 200 },
                    page_token: page_token.clone(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        pages.push(page.entries.len());
        seen.extend(page.entries.into_iter().map(|e| e.entry_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, vec![50, 200, 200, 51]);
    // A token no listing gave is refused by name.
    let bad = h
        .client()
        .list_waitlist(with(
            pb::ListWaitlistRequest {
                doctor_id: doctor.clone(),
                page_token: "not-a-token".to_string(),
                ..Default::default()
            },
            &admin,
        ))
        .await;
    assert_eq!(fields(bad), vec!["page_token"]);
    assert_eq!(seen.len(), 501);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);
}

backend_test!(
    a_patient_cannot_hoard_a_doctors_time_but_staff_book_for_them,
    hoarding
);
async fn hoarding(db: TestDb) {
    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let me = h.user_id(&patient).await;
    let slots = h.free_slots(&patient, &doctor, 2).await;
    let mine = || async {
        h.count(&format!(
            "SELECT COUNT(*) FROM appointments WHERE patient_id = '{me}'"
        ))
        .await
    };

    // Two live holds at most (the default)...
    for (i, slot) in slots[..2].iter().enumerate() {
        h.client()
            .hold_slot(with(hold(&doctor, slot, &format!("hold-{i}")), &patient))
            .await
            .unwrap();
    }
    let third = h
        .client()
        .hold_slot(with(hold(&doctor, &slots[2], "hold-2"), &patient))
        .await
        .unwrap_err();
    assert_eq!(third.code(), Code::FailedPrecondition, "{third:?}");
    assert!(third.message().contains("holds 2 slots"), "{third:?}");
    assert_eq!(mine().await, 2, "a refusal writes nothing");
    // ...and three upcoming appointments with one doctor, holds included.
    let booked = h
        .client()
        .book_appointment(with(book(&doctor, &slots[2], "book-2"), &patient))
        .await
        .unwrap()
        .into_inner();
    let fourth = h
        .client()
        .book_appointment(with(book(&doctor, &slots[3], "book-3"), &patient))
        .await
        .unwrap_err();
    assert_eq!(fourth.code(), Code::FailedPrecondition, "{fourth:?}");
    assert!(
        fourth
            .message()
            .contains("3 upcoming appointments with this doctor"),
        "{fourth:?}"
    );
    // The same request again meets the same answer, and still writes nothing.
    let again = h
        .client()
        .book_appointment(with(book(&doctor, &slots[3], "book-3"), &patient))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(mine().await, 3);
    assert_eq!(h.events("appointment.booked").await, 1);

    // Cancelling one makes room.
    h.client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "cancel-2".into(),
                appointment_id: booked.appointment_id,
                reason: String::new(),
            },
            &patient,
        ))
        .await
        .unwrap();
    h.client()
        .book_appointment(with(book(&doctor, &slots[3], "book-3b"), &patient))
        .await
        .unwrap();

    // Staff booking for the patient are not held to the patient's caps.
    let nurse = h.token_for("front-desk", &["nurse"]);
    let clinic = h
        .client()
        .get_doctor(with(
            pb::GetDoctorRequest {
                doctor_id: doctor.clone(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner()
        .clinic_id;
    h.affiliate_nurse(&nurse, &clinic).await;
    for (i, slot) in slots[4..8].iter().enumerate() {
        let request = pb::BookAppointmentRequest {
            patient_id: me.clone(),
            ..book(&doctor, slot, &format!("desk-{i}"))
        };
        h.client()
            .book_appointment(with(request, &nurse))
            .await
            .unwrap();
    }
    assert_eq!(mine().await, 8);

    // Sent all at once, a patient's holds still stop at the cap: they are counted one after
    // the other.
    let rushing = h.token_for("rushing-patient", &["patient"]);
    let them = h.user_id(&rushing).await;
    let attempts = futures::future::join_all(slots[8..16].iter().enumerate().map(|(i, slot)| {
        let mut client = h.client();
        let request = hold(&doctor, slot, &format!("rush-{i}"));
        let token = rushing.clone();
        async move { code(&client.hold_slot(with(request, &token)).await) }
    }))
    .await;
    assert_eq!(
        attempts.iter().filter(|c| **c == Code::Ok).count(),
        2,
        "{attempts:?}"
    );
    assert!(
        attempts
            .iter()
            .all(|c| *c == Code::Ok || *c == Code::FailedPrecondition),
        "{attempts:?}"
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM appointments WHERE patient_id = '{them}'"
        ))
        .await,
        2
    );

    // Moving an appointment from another doctor to one already at the cap is refused as a new
    // booking would be; moving within the doctor's own time is not.
    let mover = h.token_for("moving-patient", &["patient"]);
    for (i, slot) in slots[16..19].iter().enumerate() {
        h.client()
            .book_appointment(with(book(&doctor, slot, &format!("mv-{i}")), &mover))
            .await
            .unwrap();
    }
    let spec = h.specialization("Dermatology").await;
    let (north, _) = h.clinic("North", "Europe/Kyiv").await;
    let second = h
        .doctor(&h.token_for("doctor-two", &["doctor"]), &north, &spec)
        .await;
    let elsewhere = h.free_slots(&mover, &second, 2).await;
    let theirs = h
        .client()
        .book_appointment(with(book(&second, &elsewhere[0], "mv-x"), &mover))
        .await
        .unwrap()
        .into_inner();
    let moved = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "mv-move".into(),
                appointment_id: theirs.appointment_id.clone(),
                new_start: slots[20].start,
                new_doctor_id: doctor.clone(),
            },
            &mover,
        ))
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Code::FailedPrecondition, "{moved:?}");
    assert!(moved.message().contains("with this doctor"), "{moved:?}");
    let later = h.free_slots(&mover, &second, 2).await;
    h.client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "mv-within".into(),
                appointment_id: theirs.appointment_id,
                new_start: later[3].start,
                new_doctor_id: String::new(),
            },
            &mover,
        ))
        .await
        .unwrap();
}

backend_test!(
    events_carry_no_reason_for_the_visit_nor_any_other_free_text,
    events_without_free_text
);
/// Every kind of appointment event this walk makes, read back from the outbox as a consumer
/// would: the reason for the visit, the cancellation reason and the override reason appear in
/// no envelope, in any language, while the appointment itself still answers them to its reader.
async fn events_without_free_text(db: TestDb) {
    use medmesh_proto::events::v1::EventEnvelope;
    use prost::Message;
    use sea_orm::ConnectionTrait;

    const VISIT: &str = "Біль у грудях після тренування";
    const CANCELLED: &str = "Mă simt mai bine, mulțumesc";
    const OVERRIDE: &str = "Острая боль, принять сегодня";
    const NO_SHOW: &str = "Did not come: called twice";

    let h = start(db).await;
    let doctor = practice(&h).await;
    let patient = h.token("patient");
    let patient_id = h.user_id(&patient).await;
    let admin = h.token("admin");
    let slots = h.free_slots(&patient, &doctor, 2).await;

    // Held, then booked from the hold with a reason for the visit.
    let held = h
        .client()
        .hold_slot(with(hold(&doctor, &slots[0], "h-1"), &patient))
        .await
        .unwrap()
        .into_inner();
    let booked = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                request_id: "b-1".into(),
                hold_id: held.appointment_id.clone(),
                reason: VISIT.into(),
                ..Default::default()
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(booked.reason, VISIT, "the appointment keeps its reason");
    // Booked over the conflict by an admin, for another patient.
    let urgent = h.token_for("urgent", &["patient"]);
    let urgent_id = h.user_id(&urgent).await;
    let squeezed = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                override_reason: OVERRIDE.into(),
                patient_id: urgent_id,
                reason: VISIT.into(),
                ..book(&doctor, &slots[0], "o-1")
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(squeezed.override_reason, OVERRIDE);
    // Rescheduled, confirmed, checked in, completed.
    let moved = h
        .client()
        .reschedule_appointment(with(
            pb::RescheduleAppointmentRequest {
                request_id: "r-1".into(),
                appointment_id: booked.appointment_id.clone(),
                new_start: slots[2].start,
                new_doctor_id: String::new(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    for (status, request_id) in [
        (S::Confirmed, "s-1"),
        (S::CheckedIn, "s-2"),
        (S::Completed, "s-3"),
    ] {
        h.client()
            .change_appointment_status(with(
                set_status(&moved.appointment_id, status, request_id),
                &admin,
            ))
            .await
            .unwrap();
    }
    // The squeezed-in visit: a no-show, with a note.
    h.client()
        .change_appointment_status(with(
            pb::ChangeAppointmentStatusRequest {
                reason: NO_SHOW.into(),
                ..set_status(&squeezed.appointment_id, S::NoShow, "s-4")
            },
            &admin,
        ))
        .await
        .unwrap();
    // Another booking with a reason, cancelled with one.
    let later = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                reason: VISIT.into(),
                ..book(&doctor, &slots[5], "b-2")
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    let cancelled = h
        .client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-1".into(),
                appointment_id: later.appointment_id.clone(),
                reason: CANCELLED.into(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.cancellation_reason, CANCELLED);

    let rows =
        h.db.query_all_raw(svc_kit::db::stmt(
            h.db.get_database_backend(),
            "SELECT event_type, envelope FROM outbox
             WHERE event_type LIKE 'medmesh.scheduling.v1.%' ORDER BY seq",
            [],
        ))
        .await
        .unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for row in &rows {
        let kind: String = row.try_get("", "event_type").unwrap();
        let bytes: Vec<u8> = row.try_get("", "envelope").unwrap();
        for text in [VISIT, CANCELLED, OVERRIDE, NO_SHOW] {
            for word in text
                .split([' ', ',', ':'])
                .filter(|w| w.chars().count() > 4)
            {
                assert!(
                    !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
                    "{kind} carries {word:?}"
                );
            }
        }
        let envelope = EventEnvelope::decode(bytes.as_slice()).unwrap();
        let event =
            pb::AppointmentEvent::decode(envelope.payload.unwrap().value.as_slice()).unwrap();
        if let Some(a) = event.appointment {
            // What consumers need is still there.
            assert!(
                !a.appointment_id.is_empty() && !a.patient_id.is_empty(),
                "{kind}"
            );
            assert!(a.slot.is_some_and(|s| s.doctor_id == doctor), "{kind}");
            assert!(!event.doctor_display_name.is_empty(), "{kind}");
        }
        kinds.insert(
            kind.trim_start_matches("medmesh.scheduling.v1.")
                .to_string(),
        );
    }
    let walked = [
        "appointment.held",
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.confirmed",
        "appointment.checked_in",
        "appointment.completed",
        "appointment.no_show",
        "appointment.cancelled",
    ];
    for kind in walked {
        assert!(kinds.contains(kind), "{kind} was not emitted: {kinds:?}");
    }
    // The booking over the conflict is one of the `appointment.booked` events scanned.
    assert_eq!(h.events("appointment.booked").await, 3);
    // The patient's own reads still answer everything.
    let read = h
        .client()
        .get_appointment(with(
            pb::GetAppointmentRequest {
                appointment_id: moved.appointment_id.clone(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.reason, VISIT);
    assert_eq!(read.patient_id, patient_id);
}

backend_test!(
    an_erasure_keeps_the_clinics_record_and_nothing_of_the_patient,
    erasure
);
/// The erasure as the sweeper carries it out, on both backends: an erased patient's upcoming
/// visit is cancelled and the time given to the next one waiting (not to them), a visit of
/// theirs booked over a conflict and completed keeps its time beside the one it overlapped,
/// every text of theirs is gone from every column of every table, the other patient's is not,
/// and nothing more is booked for them.
async fn erasure(db: TestDb) {
    use sea_orm::ConnectionTrait;
    const VISIT: &str = "Durere în piept după efort";
    const OVERRIDE: &str = "Острая боль, срочно";
    const CANCELLED: &str = "Не смогу прийти, уезжаю";
    const KEPT: &str = "Annual check-up of the other patient";
    let h = start(db).await;
    let doctor = practice(&h).await;
    let admin = h.token("admin");
    let other = h.token("patient");
    let erased_token = h.token_for("urgent", &["patient"]);
    let erased = h.user_id(&erased_token).await;
    let waiting = h.token_for("waiting", &["patient"]);
    h.user_id(&waiting).await;
    let slots = h.free_slots(&other, &doctor, 2).await;

    // The other patient's visit, and the erased patient's booking over it, completed.
    let theirs = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                reason: KEPT.into(),
                ..book(&doctor, &slots[0], "b-other")
            },
            &other,
        ))
        .await
        .unwrap()
        .into_inner();
    let squeezed = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                override_reason: OVERRIDE.into(),
                patient_id: erased.clone(),
                reason: VISIT.into(),
                ..book(&doctor, &slots[0], "o-1")
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    for (status, request_id) in [
        (S::Confirmed, "s-1"),
        (S::CheckedIn, "s-2"),
        (S::Completed, "s-3"),
    ] {
        h.client()
            .change_appointment_status(with(
                set_status(&squeezed.appointment_id, status, request_id),
                &admin,
            ))
            .await
            .unwrap();
    }
    // An upcoming visit of theirs, one they cancelled with a reason, and a waitlist entry of
    // theirs and of another patient for that day.
    let upcoming = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                reason: VISIT.into(),
                ..book(&doctor, &slots[4], "b-1")
            },
            &erased_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let dropped = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                reason: VISIT.into(),
                ..book(&doctor, &slots[6], "b-2")
            },
            &erased_token,
        ))
        .await
        .unwrap()
        .into_inner();
    h.client()
        .cancel_appointment(with(
            pb::CancelAppointmentRequest {
                request_id: "c-1".into(),
                appointment_id: dropped.appointment_id.clone(),
                reason: CANCELLED.into(),
            },
            &erased_token,
        ))
        .await
        .unwrap();
    let day = slots[4]
        .start
        .map(|t| chrono::DateTime::from_timestamp(t.seconds, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono_tz::Europe::Kyiv)
        .date_naive();
    for (token, request_id) in [(&erased_token, "w-1"), (&waiting, "w-2")] {
        h.client()
            .join_waitlist(with(
                pb::JoinWaitlistRequest {
                    request_id: request_id.into(),
                    doctor_id: doctor.clone(),
                    from_date: Some(date(day)),
                    to_date: Some(date(day)),
                    patient_id: String::new(),
                },
                token,
            ))
            .await
            .unwrap();
    }

    // Accounts' user.erased, as the intake records it; the sweeper carries it out.
    let b = h.db.get_database_backend();
    h.db.execute_raw(svc_kit::db::stmt(
        b,
        "INSERT INTO erasures (patient_id, subject, requested_at) VALUES ($1, $2, $3)",
        [
            erased.clone().into(),
            common::subject_of("urgent").into(),
            svc_kit::db::ts(b, chrono::Utc::now()),
        ],
    ))
    .await
    .unwrap();
    let done = format!(
        "SELECT COUNT(*) FROM erasures WHERE patient_id = '{erased}' AND done_at IS NOT NULL"
    );
    h.eventually("the erasure is carried out", || async {
        h.count(&done).await == 1
    })
    .await;

    let read = |id: String| {
        let admin = admin.clone();
        let h = &h;
        async move {
            h.client()
                .get_appointment(with(
                    pb::GetAppointmentRequest { appointment_id: id },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    // The completed visit keeps its time and status, beside the one it overlapped.
    let kept = read(squeezed.appointment_id.clone()).await;
    assert_eq!(kept.status(), S::Completed);
    assert_eq!(kept.slot, squeezed.slot);
    assert!(kept.reason.is_empty() && !kept.override_reason.contains("Острая"));
    assert_eq!(read(theirs.appointment_id.clone()).await.reason, KEPT);
    // The upcoming one is cancelled, and its time offered to the patient waiting, not to them.
    assert_eq!(
        read(upcoming.appointment_id.clone()).await.status(),
        S::Cancelled
    );
    let offers = h
        .count(&format!(
            "SELECT COUNT(*) FROM appointments WHERE status = 'held' AND patient_id = '{erased}'"
        ))
        .await;
    assert_eq!(offers, 0, "nothing is offered to the erased patient");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM waitlist WHERE status = 'offered'")
            .await,
        1,
        "the time went to the patient waiting"
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM waitlist WHERE patient_id = '{erased}'"
        ))
        .await,
        0
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM erasures WHERE patient_id = '{erased}'
               AND appointments_anonymised = 3 AND appointments_cancelled = 1
               AND waitlist_entries_removed = 1"
        ))
        .await,
        1,
        "the report"
    );

    // No text of theirs in any column of any table; the other patient's is still there.
    let columns = svc_kit::testing::columns(&h.db).await.len();
    assert!(columns > 50, "{columns} columns");
    for needle in ["Durere", "efort", "Острая", "срочно", "уезжаю"] {
        let holding = svc_kit::testing::columns_holding(&h.db, needle).await;
        assert!(holding.is_empty(), "{holding:?} hold {needle:?}");
    }
    assert!(
        !svc_kit::testing::columns_holding(&h.db, "Annual check-up")
            .await
            .is_empty(),
        "the other patient's reason is still there"
    );

    // Nothing more is booked for them, by anyone.
    let refused = h
        .client()
        .book_appointment(with(
            pb::BookAppointmentRequest {
                patient_id: erased.clone(),
                reason: VISIT.into(),
                ..book(&doctor, &slots[8], "b-after")
            },
            &admin,
        ))
        .await;
    assert_eq!(code(&refused), Code::FailedPrecondition, "{refused:?}");
    let rejoin = h
        .client()
        .join_waitlist(with(
            pb::JoinWaitlistRequest {
                request_id: "w-after".into(),
                doctor_id: doctor.clone(),
                from_date: Some(date(day)),
                to_date: Some(date(day)),
                patient_id: erased.clone(),
            },
            &admin,
        ))
        .await;
    assert_eq!(code(&rejoin), Code::FailedPrecondition, "{rejoin:?}");
}
