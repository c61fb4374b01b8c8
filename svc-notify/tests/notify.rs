//! svc-notify end to end in the test mesh: events in, email through a real SMTP server and
//! SMS through a recording provider webhook out; preferences, quiet hours, history and who
//! may read it, retries and dead letters, poison events, reminders fired once by racing
//! replicas, templates, erasure, pharmacists' stock alerts.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Harness, SMS_SECRET, start, with};
use medmesh_proto::{
    accounts::v1::{self as accounts, AffiliationKind},
    notify::v1 as pb,
    pharmacy::v1 as pharmacy,
};
use prost::Message;
use svc_kit::testing::TestDb;
use tonic::Code;

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn history(
    h: &Harness,
    token: &str,
    user_id: &str,
) -> Result<Vec<pb::Notification>, tonic::Status> {
    h.client()
        .list_notifications(with(
            pb::ListNotificationsRequest {
                user_id: user_id.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().notifications)
}

async fn a_booking_reaches_patient_and_doctor(h: Harness) {
    let patient = h.token_for("ana", &["patient"]);
    let doctor = h.token_for("dr-turcanu", &["doctor"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&doctor).await;
    // She lives in London; the clinic is in Chișinău, and so is the time she must be there.
    h.set_profile(&patient, "ro", "Europe/London", "").await;
    // 2027-03-02 10:00 in Chișinău is 08:00 UTC.
    let start = chrono::DateTime::parse_from_rfc3339("2027-03-02T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let appointment = uuid();
    let event = h
        .appointment_event("booked", &appointment, &patient_id, &doctor_id, start)
        .await;

    let mail = h.wait_for_mail("ana@medmesh.dev", 1).await;
    let subject = mail[0]["subject"].as_str().unwrap();
    let body = mail[0]["body"].as_str().unwrap();
    // In Romanian, with the time in her zone, the doctor's name as written, and the link.
    assert!(
        body.contains("2 martie 2027") && body.contains("10:00"),
        "{body}"
    );
    assert!(body.contains("Ștefan Țurcanu"), "{body}");
    assert!(
        body.contains(&format!("/appointments/{appointment}")),
        "{body}"
    );
    assert!(!subject.is_empty());
    assert!(
        mail[0]["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@medmesh>")
    );
    // The doctor hears of it too, in their own language (English by default).
    let to_doctor = h.wait_for_mail("dr-turcanu@medmesh.dev", 1).await;
    assert!(
        to_doctor[0]["body"].as_str().unwrap().contains("Demo ana"),
        "{to_doctor:?}"
    );

    // The same event delivered again makes nothing new (the event after it, for another
    // appointment, shows it was read past).
    let before = h.count("SELECT COUNT(*) AS n FROM notifications").await;
    h.appointment_event_as(
        &event,
        "booked",
        &appointment,
        &patient_id,
        &doctor_id,
        start,
    )
    .await;
    let other = uuid();
    h.appointment_event(
        "booked",
        &other,
        &patient_id,
        &doctor_id,
        start + chrono::Duration::hours(2),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM notifications", before + 2)
        .await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM notifications WHERE status = 'sent'",
        before + 2,
    )
    .await;

    // History: hers, with what was sent; the doctor cannot read it; an admin can.
    let own: Vec<_> = history(&h, &patient, "")
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.body.contains(&appointment))
        .collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].status(), pb::DeliveryStatus::Sent);
    assert_eq!(own[0].kind(), pb::Kind::AppointmentBooked);
    assert_eq!(own[0].language, "ro");
    assert_eq!(own[0].to, "a***@medmesh.dev");
    assert!(own[0].body.contains("10:00"));
    let probe = history(&h, &doctor, &patient_id).await.unwrap_err();
    assert_eq!(probe.code(), Code::NotFound);
    let probe = h
        .client()
        .get_notification(with(
            pb::GetNotificationRequest {
                notification_id: own[0].notification_id.clone(),
            },
            &doctor,
        ))
        .await
        .unwrap_err();
    assert_eq!(probe.code(), Code::NotFound);
    let admin = h.token("admin");
    let seen = h
        .client()
        .get_notification(with(
            pb::GetNotificationRequest {
                notification_id: own[0].notification_id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.attempt_log.len(), 1);
    assert!(
        seen.attempt_log[0].ok && seen.attempt_log[0].answer.starts_with("250"),
        "{:?}",
        seen.attempt_log
    );
    // Sealed at rest: the address and the text are not in the row.
    let plain = h
        .count("SELECT COUNT(*) AS n FROM notifications WHERE context_key = '' OR content IS NULL")
        .await;
    assert_eq!(plain, 0);

    // Cancelled by anyone: the patient is told.
    h.appointment_event("cancelled", &appointment, &patient_id, &doctor_id, start)
        .await;
    let mail = h.wait_for_mail("ana@medmesh.dev", 3).await;
    let about_it: Vec<_> = mail
        .iter()
        .filter(|m| m["body"].as_str().unwrap().contains("2 martie 2027, 10:00"))
        .collect();
    assert_eq!(
        about_it.len(),
        2,
        "the confirmation and the cancellation: {mail:?}"
    );
    assert_ne!(about_it[0]["message_id"], about_it[1]["message_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_reaches_patient_and_doctor_on_postgres() {
    a_booking_reaches_patient_and_doctor(start(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_reaches_patient_and_doctor_on_sqlite() {
    a_booking_reaches_patient_and_doctor(start(TestDb::sqlite().await).await).await;
}

async fn update(
    h: &Harness,
    token: &str,
    prefs: pb::Preferences,
    expected: i64,
) -> Result<pb::Preferences, tonic::Status> {
    h.client()
        .update_preferences(with(
            pb::UpdatePreferencesRequest {
                request_id: uuid(),
                preferences: Some(prefs),
                expected_version: expected,
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preferences_choose_the_channels_and_quiet_hours_hold_sms() {
    let h = start(TestDb::postgres().await).await;
    let patient = h.token_for("maria", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&h.token_for("dr-x", &["doctor"])).await;
    h.set_profile(&patient, "uk", "Europe/Kyiv", "+380441234567")
        .await;

    // Defaults: email for every kind, emergency access required.
    let prefs = h
        .client()
        .get_preferences(with(pb::GetPreferencesRequest::default(), &patient))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(prefs.version, 0);
    assert_eq!(prefs.reminder_lead_minutes, vec![1440]);
    let emergency = prefs
        .kinds
        .iter()
        .find(|k| k.kind() == pb::Kind::EmergencyAccess)
        .unwrap();
    assert!(emergency.required);

    // Bad input: every bad field named, nothing stored.
    let bad = update(
        &h,
        &patient,
        pb::Preferences {
            language: "fr".into(),
            reminder_lead_minutes: vec![1],
            agenda_time: "25:00".into(),
            kinds: vec![pb::KindChannels {
                kind: 99,
                channels: vec![],
                required: false,
            }],
            ..Default::default()
        },
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let fields: Vec<String> = svc_kit::error::field_violations(&bad)
        .into_iter()
        .map(|v| v.field)
        .collect();
    for field in [
        "preferences.language",
        "preferences.reminder_lead_minutes[0]",
        "preferences.agenda_time",
        "preferences.kinds[0].kind",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }

    // Booking notices by SMS only; emergency access asked for SMS keeps its email.
    let mine = pb::Preferences {
        kinds: vec![
            pb::KindChannels {
                kind: pb::Kind::AppointmentBooked as i32,
                channels: vec![pb::Channel::Sms as i32],
                required: false,
            },
            pb::KindChannels {
                kind: pb::Kind::EmergencyAccess as i32,
                channels: vec![pb::Channel::Sms as i32],
                required: false,
            },
        ],
        ..Default::default()
    };
    let stored = update(&h, &patient, mine.clone(), 0).await.unwrap();
    assert_eq!(stored.version, 1);
    let emergency = stored
        .kinds
        .iter()
        .find(|k| k.kind() == pb::Kind::EmergencyAccess)
        .unwrap();
    assert_eq!(
        emergency.channels,
        vec![pb::Channel::Email as i32, pb::Channel::Sms as i32]
    );
    // A stale version is refused; someone else's preferences are out of reach.
    assert_eq!(
        update(&h, &patient, mine.clone(), 0)
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    let other = h.token_for("intruder", &["patient"]);
    let probe = update(
        &h,
        &other,
        pb::Preferences {
            user_id: patient_id.clone(),
            ..mine.clone()
        },
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(probe.code(), Code::NotFound);

    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        Utc::now() + chrono::Duration::days(3),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'appointment_booked' AND status = 'sent'", 1).await;
    assert!(
        h.mail_to("maria@medmesh.dev").is_empty(),
        "email was off for bookings"
    );
    let sms = h.sms.requests();
    assert_eq!(sms.len(), 1);
    // Signed as documented, with the notification id as idempotency key, in Ukrainian.
    let request = &sms[0];
    let timestamp = request.headers["x-medmesh-timestamp"].to_str().unwrap();
    let signature = request.headers["x-medmesh-signature"].to_str().unwrap();
    assert_eq!(
        signature,
        format!(
            "sha256={}",
            svc_notify::app::transport::sign(SMS_SECRET, timestamp, &request.body)
        )
    );
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["to"], "+380441234567");
    assert_eq!(body["language"], "uk");
    assert_eq!(
        request.headers["idempotency-key"].to_str().unwrap(),
        body["id"].as_str().unwrap()
    );

    // Quiet hours around the whole day (but one minute): SMS waits, it is not dropped.
    let now_kyiv = Utc::now().with_timezone(&chrono_tz::Europe::Kyiv);
    let minute =
        chrono::Timelike::hour(&now_kyiv) as i32 * 60 + chrono::Timelike::minute(&now_kyiv) as i32;
    let quiet = pb::Preferences {
        quiet_hours: Some(pb::QuietHours {
            start_minute: (minute + 1439 - 5) % 1440,
            end_minute: (minute + 60) % 1440,
        }),
        ..mine
    };
    update(&h, &patient, quiet, 1).await.unwrap();
    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        Utc::now() + chrono::Duration::days(4),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'appointment_booked' AND status = 'queued' AND attempts = 0", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.sms.requests().len(), 1, "held for quiet hours");
    let waiting = history(&h, &patient, "").await.unwrap();
    let held = waiting
        .iter()
        .find(|n| n.status() == pb::DeliveryStatus::Queued)
        .unwrap();
    let until = held.next_attempt_at.unwrap().seconds;
    assert!(
        until > Utc::now().timestamp() + 50 * 60,
        "waits until the quiet hours end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sends_back_off_then_dead_letter_and_an_admin_sends_them_again() {
    let h = start(TestDb::postgres().await).await;
    let admin = h.token("admin");
    let patient = h.token_for("ion", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    h.set_profile(&patient, "ro", "Europe/Chisinau", "+37369000111")
        .await;
    h.sms.answer(503);
    let sent = h
        .client()
        .send_notification(with(
            pb::SendNotificationRequest {
                request_id: uuid(),
                user_ids: vec![patient_id.clone()],
                channels: vec![pb::Channel::Sms as i32],
                subject: String::new(),
                body: "Clinica este închisă mâine.".into(),
                urgent: true,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let id = sent.notification_ids[0].clone();
    h.wait_for(&format!("SELECT COUNT(*) AS n FROM notifications WHERE notification_id = '{id}' AND status = 'dead'"), 1).await;
    assert_eq!(h.sms.requests().len(), 3, "max_attempts = 3");
    let dead = h
        .client()
        .list_dead_letters(with(pb::ListDeadLettersRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dead.notifications.len(), 1);
    assert!(
        dead.notifications[0].last_error.starts_with("503"),
        "{:?}",
        dead.notifications[0]
    );
    // A patient sees their own dead letter in their history, never the dead-letter queue.
    let denied = h
        .client()
        .list_dead_letters(with(pb::ListDeadLettersRequest::default(), &patient))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    h.sms.answer(200);
    let retry = pb::RetryNotificationRequest {
        request_id: uuid(),
        notification_id: id.clone(),
    };
    h.client()
        .retry_notification(with(retry.clone(), &admin))
        .await
        .unwrap();
    // The same request again answers the same, and does not queue it twice.
    h.client()
        .retry_notification(with(retry, &admin))
        .await
        .unwrap();
    h.wait_for(&format!("SELECT COUNT(*) AS n FROM notifications WHERE notification_id = '{id}' AND status = 'sent'"), 1).await;
    let seen = h
        .client()
        .get_notification(with(
            pb::GetNotificationRequest {
                notification_id: id.clone(),
            },
            &patient,
        ))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<bool> = seen.attempt_log.iter().map(|a| a.ok).collect();
    assert_eq!(outcomes, vec![false, false, false, true]);
    assert_eq!(h.sms.requests().len(), 4);
    // A sent one is not retried.
    let refused = h
        .client()
        .retry_notification(with(
            pb::RetryNotificationRequest {
                request_id: uuid(),
                notification_id: id,
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_event_is_dead_lettered_and_the_intake_goes_on() {
    let h = start(TestDb::postgres().await).await;
    let admin = h.token("admin");
    let patient = h.token_for("elena", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&h.token_for("dr-y", &["doctor"])).await;
    // A booking whose payload is not an appointment event.
    h.publish_as(
        &uuid(),
        "medmesh.scheduling.v1",
        "medmesh.scheduling.v1.appointment.booked",
        "x",
        &patient_id,
        "medmesh.scheduling.v1.AppointmentEvent",
        vec![0xff, 0xff, 0xff],
    )
    .await;
    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        Utc::now() + chrono::Duration::days(2),
    )
    .await;
    h.wait_for_mail("elena@medmesh.dev", 1).await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM dead_letters WHERE consumer = 'notify'",
        1,
    )
    .await;
    let dead = h
        .client()
        .list_dead_letters(with(pb::ListDeadLettersRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dead.events.len(), 1);
    assert_eq!(
        dead.events[0].event_type,
        "medmesh.scheduling.v1.appointment.booked"
    );
    assert_eq!(dead.events[0].attempts, 2);
    // Replaying it fails again (its cause is not fixed) and changes nothing.
    let replay = h
        .client()
        .replay_event(with(
            pb::ReplayEventRequest {
                request_id: uuid(),
                dead_letter_id: dead.events[0].dead_letter_id,
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::FailedPrecondition);
    assert_eq!(h.count("SELECT COUNT(*) AS n FROM dead_letters").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reminder_fires_once_at_its_time_however_many_replicas_race() {
    let mut h = start(TestDb::postgres().await).await;
    let patient = h.token_for("vasile", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&h.token_for("dr-z", &["doctor"])).await;
    let start = Utc::now() + chrono::Duration::days(3);
    let kept = uuid();
    let cancelled = uuid();
    h.appointment_event("booked", &kept, &patient_id, &doctor_id, start)
        .await;
    h.appointment_event(
        "booked",
        &cancelled,
        &patient_id,
        &doctor_id,
        start + chrono::Duration::hours(1),
    )
    .await;
    h.appointment_event(
        "cancelled",
        &cancelled,
        &patient_id,
        &doctor_id,
        start + chrono::Duration::hours(1),
    )
    .await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM reminders WHERE status = 'cancelled'",
        1,
    )
    .await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM reminders WHERE status = 'pending'",
        1,
    )
    .await;
    h.wait_for_mail("vasile@medmesh.dev", 3).await; // two bookings, one cancellation
    // Not due yet: nothing fires.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'appointment_reminder'")
            .await,
        0
    );
    // Three replicas whose clocks read two days and a bit later: the reminder is due for all.
    h.stops[0].cancel();
    for _ in 0..3 {
        h.add_replica(|f| f.merge(("notify.clock_offset_seconds", 2 * 86_400 + 60)))
            .await;
    }
    h.replicas.remove(0);
    h.wait_for("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'appointment_reminder' AND status = 'sent'", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reminders: Vec<_> = h
        .mail_to("vasile@medmesh.dev")
        .into_iter()
        .filter(|m| {
            m["body"]
                .as_str()
                .unwrap()
                .contains(&format!("/appointments/{kept}"))
        })
        .collect();
    // The booking notice and exactly one reminder link to the kept appointment.
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM reminders WHERE status = 'fired'")
            .await,
        1
    );

    // Moved a day later after its reminder went out: the new time gets a reminder of its own.
    let moved = start + chrono::Duration::days(1);
    h.appointment_event("rescheduled", &kept, &patient_id, &doctor_id, moved)
        .await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM reminders WHERE status = 'pending'",
        1,
    )
    .await;
    h.add_replica(|f| f.merge(("notify.clock_offset_seconds", 3 * 86_400 + 60)))
        .await;
    h.wait_for(
        "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'appointment_reminder' AND status = 'sent'",
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_edit_preview_and_reset_templates_and_no_one_else_can() {
    let h = start(TestDb::sqlite().await).await;
    let admin = h.token("admin");
    let patient = h.token_for("olga", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&h.token_for("dr-w", &["doctor"])).await;

    let all = h
        .client()
        .list_templates(with(
            pb::ListTemplatesRequest {
                kind: pb::Kind::AppointmentBooked as i32,
                language: "ro".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .templates;
    assert_eq!(all.len(), 3, "one per channel");
    assert!(
        all.iter()
            .all(|t| t.built_in && t.placeholders.contains(&"doctor_name".to_string()))
    );

    let preview = h
        .client()
        .preview_template(with(
            pb::PreviewTemplateRequest {
                kind: pb::Kind::AppointmentBooked as i32,
                channel: pb::Channel::Email as i32,
                language: "ru".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !preview.body.contains('{'),
        "every placeholder filled: {}",
        preview.body
    );

    // An unknown placeholder is refused by name.
    let put = |subject: &str, body: &str, expected: i64| pb::PutTemplateRequest {
        request_id: uuid(),
        template: Some(pb::Template {
            kind: pb::Kind::AppointmentBooked as i32,
            channel: pb::Channel::Email as i32,
            language: "en".into(),
            subject: subject.into(),
            body: body.into(),
            ..Default::default()
        }),
        expected_version: expected,
    };
    let bad = h
        .client()
        .put_template(with(put("Hi", "{diagnosis}", 0), &admin))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("diagnosis")
            || format!("{:?}", svc_kit::error::field_violations(&bad)).contains("diagnosis")
    );
    let stored = h
        .client()
        .put_template(with(
            put(
                "Booked: {doctor_name}",
                "See you {start}, {recipient_name}.",
                0,
            ),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stored.version, stored.built_in), (1, false));
    assert_eq!(
        h.client()
            .put_template(with(put("x", "y", 0), &admin))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );

    // The override is what goes out.
    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        Utc::now() + chrono::Duration::days(2),
    )
    .await;
    let mail = h.wait_for_mail("olga@medmesh.dev", 1).await;
    assert_eq!(mail[0]["subject"], "Booked: Dr. Ștefan Țurcanu");
    assert!(
        mail[0]["body"].as_str().unwrap().starts_with("See you "),
        "{mail:?}"
    );

    let reset = h
        .client()
        .reset_template(with(
            pb::ResetTemplateRequest {
                request_id: uuid(),
                kind: pb::Kind::AppointmentBooked as i32,
                channel: pb::Channel::Email as i32,
                language: "en".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(reset.built_in);

    // Deny by default: a patient reaches no admin operation; clients reach nothing.
    let denied = h
        .client()
        .list_templates(with(pb::ListTemplatesRequest::default(), &patient))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Every other service's client, each with a role of its own, and a partner's.
    for client in [
        "svc-records",
        "svc-scheduling",
        "svc-pharmacy",
        "medmesh-gateway",
        "partner-demo",
    ] {
        let token = h.client_token(client);
        let denied = h
            .client()
            .get_preferences(with(pb::GetPreferencesRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{client}");
        let denied = h
            .client()
            .list_templates(with(pb::ListTemplatesRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{client}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pharmacists_hear_of_low_stock_and_erased_users_are_forgotten() {
    let h = start(TestDb::postgres().await).await;
    let pharmacist = h.token_for("farmacist", &["pharmacist"]);
    let pharmacy_id = uuid();
    // An admin affiliates them in accounts; notify learns it from accounts' event (the
    // mesh's accounts relays to a bus of its own: the event is put on this one as it is).
    let pharmacist_id = h.user_id(&pharmacist).await;
    let affiliated = accounts::UserEvent {
        user_id: pharmacist_id.clone(),
        active: true,
        affiliations: vec![accounts::Affiliation {
            kind: AffiliationKind::Pharmacist as i32,
            pharmacy_id: pharmacy_id.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    h.publish_as(
        &uuid(),
        "medmesh.accounts.v1",
        "medmesh.accounts.v1.user.affiliations_changed",
        &pharmacist_id,
        "",
        "medmesh.accounts.v1.UserEvent",
        affiliated.encode_to_vec(),
    )
    .await;
    h.wait_for(
        &format!("SELECT COUNT(*) AS n FROM pharmacy_staff WHERE pharmacy_id = '{pharmacy_id}'"),
        1,
    )
    .await;
    let low = pharmacy::StockLowEvent {
        level: Some(pharmacy::StockLevel {
            pharmacy_id: pharmacy_id.clone(),
            medication_id: uuid(),
            medication_name: "Paracetamol 500 mg".into(),
            available: 3,
            critical_threshold: 10,
            ..Default::default()
        }),
        pharmacy_name: "Farmacia Centrală".into(),
    };
    h.publish_as(
        &uuid(),
        "medmesh.pharmacy.v1",
        "medmesh.pharmacy.v1.stock.low",
        &pharmacy_id,
        "",
        "medmesh.pharmacy.v1.StockLowEvent",
        low.encode_to_vec(),
    )
    .await;
    let mail = h.wait_for_mail("farmacist@medmesh.dev", 1).await;
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap()
            .contains("Paracetamol 500 mg"),
        "{mail:?}"
    );

    // A lot nearing its expiry: the pharmacist hears of it, the date in their language.
    let expiring = pharmacy::StockExpiringEvent {
        pharmacy_id: pharmacy_id.clone(),
        pharmacy_name: "Farmacia Centrală".into(),
        medication_id: uuid(),
        medication_name: "Ibuprofen 200 mg".into(),
        lot: "L2406-17".into(),
        quantity: 12,
        expires_at: Some(common::ts(
            chrono::DateTime::parse_from_rfc3339("2027-01-15T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        )),
    };
    h.publish_as(
        &uuid(),
        "medmesh.pharmacy.v1",
        "medmesh.pharmacy.v1.stock.expiring",
        &pharmacy_id,
        "",
        "medmesh.pharmacy.v1.StockExpiringEvent",
        expiring.encode_to_vec(),
    )
    .await;
    let mail = h.wait_for_mail("farmacist@medmesh.dev", 2).await;
    let alert = mail
        .iter()
        .find(|m| m["body"].as_str().unwrap().contains("L2406-17"))
        .unwrap_or_else(|| panic!("{mail:?}"));
    assert!(
        alert["body"].as_str().unwrap().contains("15 January 2027"),
        "{alert}"
    );

    // Erasure: their notifications go, and a late event does not bring them back.
    let patient = h.token_for("erased", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    let doctor_id = h.user_id(&h.token_for("dr-v", &["doctor"])).await;
    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        Utc::now() + chrono::Duration::days(5),
    )
    .await;
    h.wait_for_mail("erased@medmesh.dev", 1).await;
    let erased = accounts::UserEvent {
        user_id: patient_id.clone(),
        ..Default::default()
    };
    h.publish_as(
        &uuid(),
        "medmesh.accounts.v1",
        "medmesh.accounts.v1.user.erased",
        &patient_id,
        &patient_id,
        "medmesh.accounts.v1.UserEvent",
        erased.encode_to_vec(),
    )
    .await;
    h.wait_for(
        &format!("SELECT COUNT(*) AS n FROM erasures WHERE user_id = '{patient_id}'"),
        1,
    )
    .await;
    // The doctor's calendar notice about her goes too.
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = '{doctor_id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = '{patient_id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) AS n FROM reminders WHERE patient_id = '{patient_id}'"
        ))
        .await,
        0
    );
    let late = h
        .appointment_event(
            "booked",
            &uuid(),
            &patient_id,
            &doctor_id,
            Utc::now() + chrono::Duration::days(6),
        )
        .await;
    h.wait_for(
        &format!("SELECT COUNT(*) AS n FROM processed_events WHERE event_id = '{late}'"),
        1,
    )
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = '{patient_id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) AS n FROM appointments WHERE patient_id = '{patient_id}'"
        ))
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_doctor_gets_the_days_agenda_once_at_the_time_they_chose() {
    let h = start(TestDb::postgres().await).await;
    let doctor = h.token_for("dr-agenda", &["doctor"]);
    let doctor_id = h.user_id(&doctor).await;
    let patient_id = h.user_id(&h.token_for("p-agenda", &["patient"])).await;
    // Today (the doctor's zone is UTC: none set), one appointment early in the day, one
    // tomorrow that the agenda leaves out.
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 1, 0)
        .unwrap()
        .and_utc();
    h.appointment_event("booked", &uuid(), &patient_id, &doctor_id, today)
        .await;
    h.appointment_event(
        "booked",
        &uuid(),
        &patient_id,
        &doctor_id,
        today + chrono::Duration::days(1),
    )
    .await;
    h.wait_for_mail("dr-agenda@medmesh.dev", 2).await; // the two calendar notices
    // Any time already passed today: the agenda is due at once.
    update(
        &h,
        &doctor,
        pb::Preferences {
            agenda_time: "00:00".into(),
            ..Default::default()
        },
        0,
    )
    .await
    .unwrap();
    let mail = h.wait_for_mail("dr-agenda@medmesh.dev", 3).await;
    let agenda = mail
        .iter()
        .find(|m| m["body"].as_str().unwrap().contains("Appointments: 1"))
        .unwrap_or_else(|| panic!("no agenda: {mail:?}"));
    assert!(
        agenda["body"].as_str().unwrap().contains("00:01"),
        "{agenda}"
    );
    // Once a day, however many rounds pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'daily_agenda'")
            .await,
        1
    );
}
