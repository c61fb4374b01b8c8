//! Scheduling through the GraphQL gateway under `medmesh dev`: find a doctor, see free slots,
//! hold, book, retry, reschedule, cancel, the errors a client meets, and the live availability
//! subscription. The main responses are checked as JSON snapshots (`tests/snapshots/`), with
//! ids and dates replaced by placeholders.

mod common;

use std::time::Duration;

use common::{dev_settings, graphql_as};
use futures::{SinkExt, StreamExt};
use medmesh::Platform;
use serde_json::{Value, json};
use svc_kit::{ServiceName, auth::dev_issuer::WEB_CLIENT};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// Ids, dates and instants vary from run to run; what a client relies on (shape, statuses,
/// codes, times of day in the clinic's zone) does not.
fn stable(value: &Value) -> Value {
    match value {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => json!("[id]"),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.len() >= 20 => {
            // Instants (UTC) vary; a clinic's wall-clock time of day does not, but its offset
            // does with the season.
            let at = chrono::DateTime::parse_from_rfc3339(s).unwrap();
            if at.offset().local_minus_utc() == 0 {
                json!("[instant]")
            } else {
                json!(format!("[date]T{}[offset]", at.format("%H:%M:%S")))
            }
        }
        Value::String(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
            json!("[date]")
        }
        Value::Array(items) => Value::Array(items.iter().map(stable).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), stable(v))).collect())
        }
        other => other.clone(),
    }
}

const SLOT: &str = "doctorId start end localStart cabinetId timeZone";
const APPOINTMENT: &str = "id status reason holdExpiresAt cancellationReason overrideReason version slot { localStart timeZone }";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patient_books_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform)
        .await
        .unwrap()
        .expect("dev seeds demo data");
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let patient = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    let stranger = issuer.sign(&issuer.claims(
        "8f7c2a52-9b1e-4c55-a0de-3f6b1c2d4e5f",
        "stranger",
        &["patient"],
        WEB_CLIENT,
    ));
    let q = |token: &str, query: &str, variables: Value| {
        let (url, token, query) = (url.clone(), token.to_string(), query.to_string());
        async move { graphql_as(&url, Some(&token), &query, variables).await }
    };

    // Find the doctor.
    let doctors = q(&patient, "{ doctors(name: \"doc\") { doctors { id displayName specializationName yearsOfExperience defaultVisitMinutes bio } } }", json!({})).await;
    insta::assert_json_snapshot!("doctors", stable(&doctors));
    assert_eq!(
        doctors["data"]["doctors"]["doctors"][0]["id"],
        demo.doctor_id
    );

    // Free slots on the next weekday the doctor works (Mon-Fri, 09:00-17:00 Kyiv).
    let mut day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    while matches!(
        chrono::Datelike::weekday(&day),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ) {
        day += chrono::Duration::days(1);
    }
    let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let window = json!({ "doctor": demo.doctor_id, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(1)).to_rfc3339() });
    let slots_query = format!(
        "query($doctor: ID!, $from: DateTime!, $to: DateTime!) {{ freeSlots(doctorId: $doctor, from: $from, to: $to) {{ timeZone slots {{ {SLOT} }} }} }}"
    );
    let slots = q(&patient, &slots_query, window.clone()).await;
    let list = slots["data"]["freeSlots"]["slots"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 16, "{slots}");
    let mut first_three = slots.clone();
    first_three["data"]["freeSlots"]["slots"] = json!(list[..3].to_vec());
    insta::assert_json_snapshot!("free_slots", stable(&first_three));

    // Hold, then book the hold; a retry with the same key answers the same appointment.
    let hold = q(
        &patient,
        &format!("mutation($doctor: ID!, $start: DateTime!) {{ holdSlot(requestId: \"gql-hold-1\", doctorId: $doctor, start: $start) {{ {APPOINTMENT} }} }}"),
        json!({ "doctor": demo.doctor_id, "start": list[0]["start"] }),
    )
    .await;
    insta::assert_json_snapshot!("hold", stable(&hold));
    let hold_id = hold["data"]["holdSlot"]["id"].as_str().unwrap().to_string();
    let book_query = format!(
        "mutation($hold: ID!) {{ bookAppointment(input: {{requestId: \"gql-book-1\", holdId: $hold, reason: \"annual check-up\"}}) {{ {APPOINTMENT} }} }}"
    );
    let booked = q(&patient, &book_query, json!({ "hold": hold_id })).await;
    insta::assert_json_snapshot!("booked", stable(&booked));
    // The gateway's own copy of the free slots shows the booking at once...
    let after_booking = q(&patient, &slots_query, window.clone()).await;
    let starts: Vec<&Value> = after_booking["data"]["freeSlots"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["start"])
        .collect();
    assert_eq!(starts.len(), 15, "{after_booking}");
    assert!(!starts.contains(&&list[0]["start"]));
    // ... and a booking made straight at svc-scheduling (a partner system, another gateway)
    // reaches it through the event feed.
    let admin_token = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();
    let walk_in = issuer.sign(&issuer.claims(
        "5d7e3c1a-2b4f-4e6a-9c8d-7f1e2a3b4c5d",
        "walk-in",
        &["patient"],
        WEB_CLIENT,
    ));
    let walk_in_id = {
        let channel = tonic::transport::Channel::from_shared(format!(
            "http://{}",
            platform.service_addr(ServiceName::Accounts).unwrap()
        ))
        .unwrap()
        .connect_lazy();
        let mut request = tonic::Request::new(medmesh_proto::accounts::v1::GetMyProfileRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {walk_in}").parse().unwrap(),
        );
        medmesh_proto::accounts::v1::accounts_service_client::AccountsServiceClient::new(channel)
            .get_my_profile(request)
            .await
            .unwrap()
            .into_inner()
            .user_id
    };
    {
        let channel = tonic::transport::Channel::from_shared(format!(
            "http://{}",
            platform.service_addr(ServiceName::Scheduling).unwrap()
        ))
        .unwrap()
        .connect_lazy();
        let mut request =
            tonic::Request::new(medmesh_proto::scheduling::v1::BookAppointmentRequest {
                request_id: "grpc-walk-in".into(),
                doctor_id: demo.doctor_id.clone(),
                start: Some(prost_types::Timestamp {
                    seconds: chrono::DateTime::parse_from_rfc3339(
                        list[1]["start"].as_str().unwrap(),
                    )
                    .unwrap()
                    .timestamp(),
                    nanos: 0,
                }),
                patient_id: walk_in_id,
                ..Default::default()
            });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {admin_token}").parse().unwrap(),
        );
        medmesh_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient::new(
            channel,
        )
        .book_appointment(request)
        .await
        .unwrap();
    }
    let mut seen = false;
    for _ in 0..100 {
        let now = q(&patient, &slots_query, window.clone()).await;
        if now["data"]["freeSlots"]["slots"].as_array().unwrap().len() == 14 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the gateway learned of a booking made elsewhere");
    let again = q(&patient, &book_query, json!({ "hold": hold_id })).await;
    assert_eq!(again, booked, "a retry answers the first booking");

    // The same slot for someone else: CONFLICT, with the reason.
    let taken = q(
        &stranger,
        "mutation($doctor: ID!, $start: DateTime!) { bookAppointment(input: {requestId: \"gql-book-x\", doctorId: $doctor, start: $start}) { id } }",
        json!({ "doctor": demo.doctor_id, "start": list[0]["start"] }),
    )
    .await;
    insta::assert_json_snapshot!("conflict", stable(&taken));

    // A start off the grid: BAD_USER_INPUT naming the field.
    let off_grid = (chrono::DateTime::parse_from_rfc3339(list[0]["start"].as_str().unwrap())
        .unwrap()
        + chrono::Duration::minutes(7))
    .to_rfc3339();
    let bad = q(
        &patient,
        "mutation($doctor: ID!, $start: DateTime!) { bookAppointment(input: {requestId: \"gql-book-bad\", doctorId: $doctor, start: $start}) { id } }",
        json!({ "doctor": demo.doctor_id, "start": off_grid }),
    )
    .await;
    insta::assert_json_snapshot!("off_grid", stable(&bad));

    // Someone else's appointment is NOT_FOUND; a patient may not manage clinics.
    let foreign = q(
        &stranger,
        "query($id: ID!) { appointment(id: $id) { id } }",
        json!({ "id": hold_id }),
    )
    .await;
    assert_eq!(
        foreign["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{foreign}"
    );
    let forbidden = q(
        &patient,
        "mutation { saveClinic(input: {requestId: \"x\", name: \"X\", timeZone: \"UTC\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{forbidden}"
    );

    // Reschedule, then list: one upcoming appointment at the new time.
    let moved = q(
        &patient,
        &format!("mutation($id: ID!, $start: DateTime!) {{ rescheduleAppointment(requestId: \"gql-move-1\", id: $id, newStart: $start) {{ {APPOINTMENT} }} }}"),
        json!({ "id": hold_id, "start": list[2]["start"] }),
    )
    .await;
    insta::assert_json_snapshot!("rescheduled", stable(&moved));
    let mine = q(&patient, &format!("{{ appointments(statuses: [BOOKED]) {{ appointments {{ {APPOINTMENT} }} nextPageToken }} }}"), json!({})).await;
    insta::assert_json_snapshot!("my_appointments", stable(&mine));

    // Live availability: a subscriber sees a booking take a slot without polling.
    let ws_url = format!("ws://{}/graphql/ws", platform.gateway_addr.unwrap());
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {stranger}") } })))
        .await
        .unwrap();
    let next_json =
        |message: Message| -> Value { serde_json::from_str(message.to_text().unwrap()).unwrap() };
    let ack = next_json(socket.next().await.unwrap().unwrap());
    assert_eq!(ack["type"], "connection_ack");
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": "subscription($doctor: ID!, $from: DateTime!, $to: DateTime!) { doctorAvailability(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
                "variables": window,
            }
        })))
        .await
        .unwrap();
    // Four more subscribers of the same doctor and range (on this socket, as four browser
    // tabs would be on theirs).
    for id in 2..=5 {
        socket
            .send(send(json!({
                "id": id.to_string(),
                "type": "subscribe",
                "payload": {
                    "query": "subscription($doctor: ID!, $from: DateTime!, $to: DateTime!) { doctorAvailability(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
                    "variables": window,
                }
            })))
            .await
            .unwrap();
    }
    let mut receive = async || -> Vec<Value> {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an update")
            .unwrap()
            .unwrap();
        let next = next_json(message);
        assert_eq!(next["type"], "next", "{next}");
        next["payload"]["data"]["doctorAvailability"]["slots"]
            .as_array()
            .unwrap()
            .clone()
    };
    let now = receive().await;
    assert_eq!(now.len(), 14, "16 slots, two booked");
    assert!(!now.iter().any(|s| s["start"] == list[2]["start"]));
    for _ in 2..=5 {
        assert_eq!(receive().await.len(), 14);
    }
    let scheduling_reads = || {
        svc_kit::telemetry::metrics_handle()
            .render()
            .lines()
            .filter(|l| {
                l.starts_with("grpc_server_handled_total{")
                    && l.contains("grpc_method=\"ListFreeSlots\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let reads_before = scheduling_reads();
    let booked_by_stranger = q(
        &stranger,
        "mutation($doctor: ID!, $start: DateTime!) { bookAppointment(input: {requestId: \"gql-book-s\", doctorId: $doctor, start: $start}) { id } }",
        json!({ "doctor": demo.doctor_id, "start": list[5]["start"] }),
    )
    .await;
    assert!(
        booked_by_stranger["errors"].is_null(),
        "{booked_by_stranger}"
    );
    for _ in 1..=5 {
        let after = receive().await;
        assert_eq!(after.len(), 13, "the update arrived by itself");
        assert!(!after.iter().any(|s| s["start"] == list[5]["start"]));
    }
    // Five subscribers, one read per change of the doctor's time: the gateway's own notice of
    // its mutation and scheduling's event are two changes, so at most two reads, not five or
    // ten.
    let reads = scheduling_reads() - reads_before;
    assert!(
        (1.0..=2.0).contains(&reads),
        "{reads} reads for 5 subscribers"
    );

    // Once the clinic confirms, the patient downloads the confirmation.
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();
    let confirmed = q(
        &admin,
        "mutation($id: ID!) { changeAppointmentStatus(requestId: \"gql-confirm-1\", id: $id, status: CONFIRMED) { status } }",
        json!({ "id": hold_id }),
    )
    .await;
    assert_eq!(
        confirmed["data"]["changeAppointmentStatus"]["status"], "CONFIRMED",
        "{confirmed}"
    );
    let document = q(&patient, "query($id: ID!) { appointmentConfirmation(id: $id) { fileName contentType sizeBytes base64 } }", json!({ "id": hold_id })).await;
    let full = document.clone();
    let document = &document["data"]["appointmentConfirmation"];
    assert_eq!(document["contentType"], "application/pdf", "{full}");
    let pdf = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        document["base64"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(pdf.len() as i64, document["sizeBytes"].as_i64().unwrap());
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let parsed = lopdf::Document::load_mem(&pdf).unwrap();
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    let text = parsed.extract_text(&pages).unwrap();
    assert!(text.contains("MedMesh Central Clinic"), "{text}");

    // Cancelling gives the slot back, and the subscriber sees it.
    let cancelled = q(
        &patient,
        &format!("mutation($id: ID!) {{ cancelAppointment(requestId: \"gql-cancel-1\", id: $id, reason: \"travelling\") {{ {APPOINTMENT} }} }}"),
        json!({ "id": hold_id }),
    )
    .await;
    insta::assert_json_snapshot!("cancelled", stable(&cancelled));
    let after_cancel = receive().await;
    assert_eq!(after_cancel.len(), 14);

    // `medmesh dev` needs no mail server: the confirmation and the cancellation notice are in
    // the patient's history as they were written (the development mailbox).
    let link = format!("/appointments/{hold_id}");
    let mut mailbox = Value::Null;
    for _ in 0..100 {
        mailbox = q(
            &patient,
            "{ myNotifications { notifications { kind channel status subject body } } }",
            json!({}),
        )
        .await;
        let kinds: Vec<&Value> = mailbox["data"]["myNotifications"]["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["status"] == "SENT")
            .map(|n| &n["kind"])
            .collect();
        if kinds.contains(&&json!("APPOINTMENT_CANCELLED")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let notifications = mailbox["data"]["myNotifications"]["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("{mailbox}"));
    let confirmation = notifications
        .iter()
        .find(|n| n["kind"] == "APPOINTMENT_BOOKED" && n["body"].as_str().unwrap().contains(&link))
        .unwrap_or_else(|| panic!("no confirmation: {mailbox}"));
    assert_eq!(confirmation["channel"], "EMAIL");
    assert_eq!(confirmation["status"], "SENT");
    assert!(
        notifications
            .iter()
            .any(|n| n["kind"] == "APPOINTMENT_CANCELLED" && n["status"] == "SENT"),
        "{mailbox}"
    );
    platform.stop().await;
}

/// Erasure end to end under `medmesh dev`: a patient registers, books twice with a reason for
/// the visit, has one confirmed and downloads its confirmation, cancels the other with a
/// reason, and erases their account. Scheduling then holds no name, reason or document of
/// theirs anywhere in its tables or its document store, cancelled the upcoming visit (the
/// doctor's time is free again), and reported what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_patient_leaves_no_name_reason_or_document_in_scheduling() {
    use sea_orm::ConnectionTrait;

    const REASON: &str = "Țiuit în urechi de o săptămână";
    const CANCELLED: &str = "Уехала к сестре в Одессу";
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform)
        .await
        .unwrap()
        .expect("dev seeds demo data");
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let q = |token: Option<&str>, query: &str, variables: Value| {
        let (url, token, query) = (url.clone(), token.map(str::to_string), query.to_string());
        async move { graphql_as(&url, token.as_deref(), &query, variables).await }
    };
    let registered = q(
        None,
        "mutation($input: RegisterPatientInput!) { registerPatient(input: $input) { id } }",
        json!({ "input": {
            "requestId": "erase-reg-1", "username": "oksana", "email": "oksana@example.org",
            "givenName": "Oksana", "familyName": "Țurcanu-Шевченко",
            "password": "a long enough secret", "timeZone": "Europe/Chisinau",
        }}),
    )
    .await;
    let patient_id = registered["data"]["registerPatient"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_string();
    let patient = issuer
        .password_grant("oksana", "a long enough secret", WEB_CLIENT)
        .unwrap();
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();

    let from = common::weekday_after(1)
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let slots = q(
        Some(&patient),
        "query($doctor: ID!, $from: DateTime!, $to: DateTime!) { freeSlots(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
        json!({ "doctor": demo.doctor_id, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(1)).to_rfc3339() }),
    )
    .await;
    let list = slots["data"]["freeSlots"]["slots"]
        .as_array()
        .unwrap_or_else(|| panic!("{slots}"))
        .clone();
    let book = |request_id: &str, start: &Value| {
        q(
            Some(&patient),
            "mutation($doctor: ID!, $start: DateTime!, $reason: String!, $rid: String!) { bookAppointment(input: {requestId: $rid, doctorId: $doctor, start: $start, reason: $reason}) { id reason } }",
            json!({ "doctor": demo.doctor_id, "start": start, "reason": REASON, "rid": request_id }),
        )
    };
    let kept = book("erase-book-1", &list[0]["start"]).await;
    assert_eq!(kept["data"]["bookAppointment"]["reason"], REASON, "{kept}");
    let kept = kept["data"]["bookAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dropped = book("erase-book-2", &list[2]["start"]).await;
    let dropped = dropped["data"]["bookAppointment"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{dropped}"))
        .to_string();
    let cancelled = q(
        Some(&patient),
        "mutation($id: ID!, $reason: String!) { cancelAppointment(requestId: \"erase-cancel-1\", id: $id, reason: $reason) { cancellationReason } }",
        json!({ "id": dropped, "reason": CANCELLED }),
    )
    .await;
    assert_eq!(
        cancelled["data"]["cancelAppointment"]["cancellationReason"], CANCELLED,
        "{cancelled}"
    );
    let confirmed = q(
        Some(&admin),
        "mutation($id: ID!) { changeAppointmentStatus(requestId: \"erase-confirm-1\", id: $id, status: CONFIRMED) { status } }",
        json!({ "id": kept }),
    )
    .await;
    assert_eq!(
        confirmed["data"]["changeAppointmentStatus"]["status"], "CONFIRMED",
        "{confirmed}"
    );
    let document = q(
        Some(&patient),
        "query($id: ID!) { appointmentConfirmation(id: $id) { base64 } }",
        json!({ "id": kept }),
    )
    .await;
    let pdf = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        document["data"]["appointmentConfirmation"]["base64"]
            .as_str()
            .unwrap_or_else(|| panic!("{document}")),
    )
    .unwrap();
    let parsed = lopdf::Document::load_mem(&pdf).unwrap();
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    assert!(parsed.extract_text(&pages).unwrap().contains("Oksana"));
    let documents = dir.path().join("documents").join("appointments");
    let files_of = |id: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(documents.join(id))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    assert_eq!(files_of(&kept).len(), 1, "the confirmation is stored");

    // The erasure.
    let erased = q(
        Some(&patient),
        "mutation { eraseMyAccount(requestId: \"erase-1\") }",
        json!({}),
    )
    .await;
    assert!(erased["data"]["eraseMyAccount"].is_string(), "{erased}");
    let scheduling = &platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Scheduling)
        .unwrap()
        .context
        .db;
    let mut done = false;
    for _ in 0..300 {
        if svc_kit::testing::count(
            scheduling,
            &format!(
                "SELECT COUNT(*) FROM erasures WHERE patient_id = '{patient_id}' AND done_at IS NOT NULL"
            ),
        )
        .await
            == 1
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "scheduling carried out the erasure");

    // No text of theirs in any column of any table (names, reasons, in any script).
    let columns = svc_kit::testing::columns(scheduling).await.len();
    assert!(columns > 50, "{columns} columns read");
    let needles = [
        "Oksana",
        "Țurcanu",
        "Шевченко",
        "oksana@",
        "urechi",
        "săptămână",
        "Одессу",
        "сестре",
    ];
    for needle in needles {
        let holding = svc_kit::testing::columns_holding(scheduling, needle).await;
        assert!(holding.is_empty(), "{holding:?} hold {needle:?}");
    }
    // No confirmation document left.
    assert!(files_of(&kept).is_empty(), "{:?}", files_of(&kept));
    assert!(files_of(&dropped).is_empty());
    // The upcoming visit was cancelled; both appointments keep their time for the clinic.
    let statuses = scheduling
        .query_all_raw(svc_kit::db::stmt(
            scheduling.get_database_backend(),
            "SELECT status FROM appointments WHERE patient_id = $1 ORDER BY starts_at",
            [patient_id.clone().into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "status").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(statuses, ["cancelled", "cancelled"]);
    let report = svc_kit::testing::count(
        scheduling,
        &format!(
            "SELECT COUNT(*) FROM erasures WHERE patient_id = '{patient_id}'
               AND appointments_anonymised = 2 AND appointments_cancelled = 1
               AND documents_removed = 1"
        ),
    )
    .await;
    assert_eq!(report, 1, "the erasure's report");
    assert_eq!(
        svc_kit::testing::count(
            scheduling,
            &format!(
                "SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.scheduling.v1.patient.erased' AND aggregate_id = '{patient_id}'"
            ),
        )
        .await,
        1
    );
    // The doctor's time is free again for others.
    let after = q(
        Some(&admin),
        "query($doctor: ID!, $from: DateTime!, $to: DateTime!) { freeSlots(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
        json!({ "doctor": demo.doctor_id, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(1)).to_rfc3339() }),
    )
    .await;
    assert!(
        after["data"]["freeSlots"]["slots"]
            .as_array()
            .unwrap_or_else(|| panic!("{after}"))
            .iter()
            .any(|s| s["start"] == list[0]["start"]),
        "{after}"
    );
    platform.stop().await;
}
