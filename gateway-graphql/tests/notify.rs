//! Notify at the gateway, with what the gateway decides by itself: who may select each field
//! (refused before any service is asked), the arguments it checks (page sizes, a preview's
//! placeholder values, a dead letter's id), and the graph's shape of the contract, over a
//! stand-in notify service that answers a few RPCs. The service's own rules (whose
//! notifications a caller reaches) are its tests'.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use async_graphql::{Request, Response, Variables};
use gateway_graphql::{MeshSchema, RequestAuth, ServiceClients, access, build_schema};
use medmesh_proto::notify::v1::{
    self as pb,
    notify_service_server::{NotifyService, NotifyServiceServer},
};
use serde_json::{Value, json};
use svc_kit::{
    ServiceName,
    auth::{
        Principal,
        dev_issuer::{DevIssuer, DevIssuerServer, WEB_CLIENT},
    },
    config::Mode,
};
use tokio_util::sync::CancellationToken;

/// Every notify root field, a document selecting it, and the roles the gateway lets through
/// (the brief the access table was written from, restated so a wrong rule fails).
const FIELDS: &[(&str, &str, &[&str])] = &[
    (
        "myNotificationPreferences",
        "{ myNotificationPreferences { version } }",
        ALL,
    ),
    (
        "notificationPreferences",
        r#"{ notificationPreferences(userId: "u") { version } }"#,
        ADMIN,
    ),
    (
        "myNotifications",
        "{ myNotifications(status: SENT, pageSize: 20) { nextPageToken } }",
        ALL,
    ),
    (
        "notifications",
        r#"{ notifications(userId: "u", status: DEAD) { nextPageToken } }"#,
        ADMIN,
    ),
    ("notification", r#"{ notification(id: "n") { id } }"#, ALL),
    (
        "notificationTemplates",
        r#"{ notificationTemplates(kind: APPOINTMENT_REMINDER, language: "ro") { body } }"#,
        ADMIN,
    ),
    (
        "previewNotificationTemplate",
        r#"{ previewNotificationTemplate(input: { kind: APPOINTMENT_REMINDER, channel: EMAIL, language: "ro", values: [{ name: "patient_name", value: "Ana" }] }) { body } }"#,
        ADMIN,
    ),
    (
        "notificationDeadLetters",
        "{ notificationDeadLetters { nextPageToken } }",
        ADMIN,
    ),
    (
        "updateNotificationPreferences",
        r#"mutation { updateNotificationPreferences(input: { requestId: "r", expectedVersion: 0, kinds: [{ kind: APPOINTMENT_REMINDER, channels: [EMAIL, SMS] }], quietHours: { startMinute: 1320, endMinute: 420 } }) { version } }"#,
        ALL,
    ),
    (
        "putNotificationTemplate",
        r#"mutation { putNotificationTemplate(input: { requestId: "r", kind: PRESCRIPTION_READY, channel: SMS, language: "ro", body: "Rețeta este gata", expectedVersion: 0 }) { version } }"#,
        ADMIN,
    ),
    (
        "resetNotificationTemplate",
        r#"mutation { resetNotificationTemplate(input: { requestId: "r", kind: PRESCRIPTION_READY, channel: SMS, language: "ro" }) { builtIn } }"#,
        ADMIN,
    ),
    (
        "sendNotification",
        r#"mutation { sendNotification(input: { requestId: "r", userIds: ["u"], channels: [EMAIL], subject: "Closed", body: "The clinic is closed on Monday." }) }"#,
        ADMIN,
    ),
    (
        "retryNotification",
        r#"mutation { retryNotification(input: { requestId: "r", notificationId: "n" }) { status } }"#,
        ADMIN,
    ),
    (
        "replayDeadLetterEvent",
        r#"mutation { replayDeadLetterEvent(input: { requestId: "r", deadLetterId: "7" }) }"#,
        ADMIN,
    ),
];

/// Every person: the signed-in fields are anyone's own (the service decides whose).
const ALL: &[&str] = &["admin", "doctor", "nurse", "pharmacist", "patient"];
const ADMIN: &[&str] = &["admin"];

/// `document` run as a caller holding `roles`, with `token` to forward.
async fn run_as(schema: &MeshSchema, roles: &[&str], token: &str, document: &str) -> Response {
    schema
        .execute(as_caller(Request::new(document), roles, token))
        .await
}

fn as_caller(request: Request, roles: &[&str], token: &str) -> Request {
    request
        .data(Principal::for_roles("caller", roles, "medmesh-web"))
        .data(RequestAuth {
            bearer: Some(token.to_string()),
        })
}

fn first_error(response: &Response) -> Value {
    let errors = serde_json::to_value(&response.errors).unwrap();
    errors[0].clone()
}

fn document_of(field: &str) -> &'static str {
    FIELDS.iter().find(|(f, _, _)| *f == field).unwrap().1
}

#[tokio::test]
async fn each_role_reaches_exactly_the_notify_fields_its_rule_names() {
    let (_, config) = common::default_config();
    // No service answers: a field let through fails UNAVAILABLE at svc-notify; a field refused
    // fails FORBIDDEN at the gateway, before any service is asked.
    let schema = common::offline_schema(&config);
    for (field, document, allowed) in FIELDS {
        let root = if document.starts_with("mutation") {
            "Mutation"
        } else {
            "Query"
        };
        assert!(
            access::rule(root, field).is_some(),
            "{root}.{field} has a rule"
        );
        for role in ALL {
            let response = run_as(&schema, &[role], "token", document).await;
            let error = first_error(&response);
            let what = format!("{role} selecting {field}: {error}");
            if allowed.contains(role) {
                assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{what}");
                assert_eq!(error["extensions"]["service"], "notify", "{what}");
            } else {
                assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{what}");
                assert_eq!(error["extensions"]["service"], "gateway", "{what}");
            }
        }
        let anonymous = schema.execute(Request::new(*document)).await;
        assert_eq!(
            first_error(&anonymous)["extensions"]["code"],
            "UNAUTHENTICATED",
            "{field} without a token"
        );
    }
}

#[tokio::test]
async fn a_client_acting_with_its_own_credentials_has_no_notifications_of_its_own() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    for field in [
        "myNotificationPreferences",
        "myNotifications",
        "notification",
        "updateNotificationPreferences",
    ] {
        // A service's or a partner's token: signed in, but no person.
        for role in ["svc-notify", "svc-gateway", "partner"] {
            let response = run_as(&schema, &[role], "token", document_of(field)).await;
            assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
            let error = first_error(&response);
            assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{role}: {error}");
        }
    }
}

#[tokio::test]
async fn a_patient_cannot_send_a_message_and_nothing_runs() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let response = run_as(
        &schema,
        &["patient"],
        "token",
        document_of("sendNotification"),
    )
    .await;
    assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        error["message"],
        "not allowed to use Mutation.sendNotification"
    );
    // One refused field refuses the whole document, the fields allowed with it included.
    let response = run_as(
        &schema,
        &["patient"],
        "token",
        "{ myNotifications { nextPageToken } notificationDeadLetters { nextPageToken } }",
    )
    .await;
    assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
    assert_eq!(
        first_error(&response)["message"],
        "not allowed to use Query.notificationDeadLetters"
    );
}

#[tokio::test]
async fn a_page_size_out_of_its_limits_is_bad_input_before_any_service_is_asked() {
    let (_, config) = common::default_config();
    // Were the service asked, the answer would be UNAVAILABLE.
    let schema = common::offline_schema(&config);
    for (role, field) in [
        ("patient", "myNotifications"),
        ("admin", "notifications"),
        ("admin", "notificationDeadLetters"),
    ] {
        for size in [0, 201] {
            let document = format!("{{ {field}(pageSize: {size}) {{ nextPageToken }} }}");
            let response = run_as(&schema, &[role], "token", &document).await;
            let error = first_error(&response);
            let what = format!("{document}: {error}");
            assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}");
            assert_eq!(error["extensions"]["argument"], "pageSize", "{what}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("pageSize must be between 1 and 200, not {size}")),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn a_placeholder_named_twice_is_bad_input_before_any_service_is_asked() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let inline = r#"{ previewNotificationTemplate(input: { kind: APPOINTMENT_REMINDER, channel: EMAIL, language: "ro", values: [{ name: "clinic", value: "Botanica" }, { name: "clinic", value: "Centru" }] }) { body } }"#;
    let response = run_as(&schema, &["admin"], "token", inline).await;
    let in_variables = Request::new(
        "query($input: PreviewNotificationTemplateInput!) { previewNotificationTemplate(input: $input) { body } }",
    )
    .variables(Variables::from_json(json!({
        "input": {
            "kind": "APPOINTMENT_REMINDER", "channel": "SMS", "language": "ro",
            "body": "{clinic}, {clinic}",
            "values": [{ "name": "clinic", "value": "a" }, { "name": "clinic", "value": "b" }]
        }
    })));
    let from_variables = schema
        .execute(as_caller(in_variables, &["admin"], "token"))
        .await;
    for response in [response, from_variables] {
        let error = first_error(&response);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["service"], "gateway", "{error}");
        assert_eq!(error["extensions"]["argument"], "input", "{error}");
        assert_eq!(
            error["extensions"]["fields"][0]["field"], "values",
            "{error}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(r#""clinic" twice"#),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_dead_letter_id_that_is_not_a_number_is_bad_input_before_any_service_is_asked() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    for bad in ["seven", "", "-1", "0", "1e3"] {
        let document = format!(
            r#"mutation {{ replayDeadLetterEvent(input: {{ requestId: "r", deadLetterId: "{bad}" }}) }}"#
        );
        let response = run_as(&schema, &["admin"], "token", &document).await;
        let error = first_error(&response);
        let what = format!("{bad:?}: {error}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}");
        assert_eq!(error["extensions"]["service"], "gateway", "{what}");
        assert_eq!(
            error["extensions"]["fields"][0]["field"], "deadLetterId",
            "{what}"
        );
    }
}

#[tokio::test]
async fn over_http_arguments_the_graph_cannot_read_are_bad_user_input() {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer: Arc<DevIssuer> = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let (settings, config) = common::default_config();
    let url = common::start(
        &settings,
        common::offline_schema(&config),
        issuer.issuer(),
        &stop,
    )
    .await;
    let subject = DevIssuer::demo_subject("admin").unwrap();
    let token = issuer.sign(&issuer.claims(&subject, "admin", &["admin"], WEB_CLIENT));
    for query in [
        // A status the contract does not have.
        "{ myNotifications(status: DELIVERED) { nextPageToken } }",
        // A channel named as the contract spells it, not as the graph does.
        r#"mutation { sendNotification(input: { requestId: "r", userIds: ["u"], channels: [CHANNEL_EMAIL], body: "b" }) }"#,
        // A required argument left out.
        "{ notificationPreferences { version } }",
        // Quiet hours without their end.
        r#"mutation { updateNotificationPreferences(input: { requestId: "r", expectedVersion: 0, kinds: [], quietHours: { startMinute: 1320 } }) { version } }"#,
        // A page size out of its limits.
        "{ notifications(pageSize: 500) { nextPageToken } }",
    ] {
        let answer: Value = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let error = &answer["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {answer}"
        );
        assert!(answer["data"].is_null(), "nothing ran: {query}: {answer}");
    }
    stop.cancel();
}

#[test]
fn the_sdl_models_the_contract_as_the_graph_does() {
    let sdl = gateway_graphql::schema_sdl();
    let block = |head: &str| -> String {
        let start = sdl
            .find(&format!("{head} {{"))
            .unwrap_or_else(|| panic!("{head} is in the SDL"));
        let end = start + sdl[start..].find("\n}").unwrap();
        sdl[start..end].to_string()
    };
    // A block's lines outside its descriptions: an enum's values, a type's fields.
    let lines = |head: &str| -> Vec<String> {
        let mut lines = Vec::new();
        let mut in_doc = false;
        for line in block(head).lines().skip(1).map(str::trim) {
            if line == "\"\"\"" {
                in_doc = !in_doc;
            } else if !in_doc && !line.is_empty() && !line.starts_with("\"\"\"") {
                lines.push(line.to_string());
            }
        }
        lines
    };

    // Enums without their prefix.
    assert_eq!(
        lines("enum NotificationKind"),
        [
            "APPOINTMENT_BOOKED",
            "APPOINTMENT_RESCHEDULED",
            "APPOINTMENT_CANCELLED",
            "APPOINTMENT_REMINDER",
            "WAITLIST_OFFER",
            "PRESCRIPTION_READY",
            "PRESCRIPTION_REJECTED",
            "EMERGENCY_ACCESS",
            "CALENDAR_CHANGED",
            "DAILY_AGENDA",
            "ACCESS_GRANTED",
            "STOCK_LOW",
            "STOCK_EXPIRING",
            "MANUAL",
        ]
    );
    assert_eq!(lines("enum NotificationChannel"), ["EMAIL", "SMS", "PUSH"]);
    assert_eq!(
        lines("enum DeliveryStatus"),
        ["QUEUED", "SENDING", "SENT", "FAILED", "DEAD", "SKIPPED"]
    );
    // Enum values in answers are nullable (an unknown value reads as null); versions are Int;
    // a notification carries its attempts.
    let notification = lines("type Notification");
    for line in [
        "id: ID!",
        "kind: NotificationKind",
        "channel: NotificationChannel",
        "status: DeliveryStatus",
        "attempts: Int!",
        "attemptLog: [NotificationAttempt!]!",
    ] {
        assert!(
            notification.iter().any(|f| f == line),
            "{line} in {notification:?}"
        );
    }
    assert_eq!(
        lines("type NotificationAttempt"),
        [
            "number: Int!",
            "at: DateTime",
            "ok: Boolean!",
            "answer: String"
        ]
    );
    let preferences = lines("type NotificationPreferences");
    for line in [
        "kinds: [KindChannels!]!",
        "reminderLeadMinutes: [Int!]!",
        "quietHours: QuietHours",
        "agendaTime: String",
        "version: Int!",
    ] {
        assert!(
            preferences.iter().any(|f| f == line),
            "{line} in {preferences:?}"
        );
    }
    assert_eq!(
        lines("type KindChannels"),
        [
            "kind: NotificationKind",
            "channels: [NotificationChannel!]!",
            "required: Boolean!"
        ]
    );
    assert_eq!(
        lines("type QuietHours"),
        ["startMinute: Int!", "endMinute: Int!"]
    );
    assert_eq!(
        lines("type NotificationDeadLetterPage"),
        [
            "notifications: [Notification!]!",
            "events: [EventDeadLetter!]!",
            "nextPageToken: String"
        ]
    );
    // The preview's placeholder values: a list of name and value.
    assert_eq!(
        lines("input PlaceholderValueInput"),
        ["name: String!", "value: String!"]
    );
    assert!(
        lines("input PreviewNotificationTemplateInput")
            .iter()
            .any(|f| f == "values: [PlaceholderValueInput!]! = []"),
        "values in PreviewNotificationTemplateInput"
    );
    let update = lines("input UpdateNotificationPreferencesInput");
    for line in [
        "expectedVersion: Int!",
        "userId: ID",
        "kinds: [KindChannelsInput!]!",
        "language: String",
        "reminderLeadMinutes: [Int!]",
        "quietHours: QuietHoursInput",
        "agendaTime: String",
    ] {
        assert!(update.iter().any(|f| f == line), "{line} in {update:?}");
    }
    // The root fields and their arguments.
    let query = lines("type Query");
    for line in [
        "myNotificationPreferences: NotificationPreferences!",
        "notificationPreferences(userId: ID!): NotificationPreferences!",
        "myNotifications(status: DeliveryStatus, pageSize: Int, pageToken: String): NotificationPage!",
        "notifications(userId: ID, status: DeliveryStatus, pageSize: Int, pageToken: String): NotificationPage!",
        "notification(id: ID!): Notification!",
        "notificationTemplates(kind: NotificationKind, language: String): [NotificationTemplate!]!",
        "previewNotificationTemplate(input: PreviewNotificationTemplateInput!): RenderedMessage!",
        "notificationDeadLetters(pageSize: Int, pageToken: String): NotificationDeadLetterPage!",
    ] {
        assert!(query.iter().any(|f| f == line), "{line} in Query");
    }
    let mutation = lines("type Mutation");
    for line in [
        "updateNotificationPreferences(input: UpdateNotificationPreferencesInput!): NotificationPreferences!",
        "putNotificationTemplate(input: PutNotificationTemplateInput!): NotificationTemplate!",
        "resetNotificationTemplate(input: ResetNotificationTemplateInput!): NotificationTemplate!",
        "sendNotification(input: SendNotificationInput!): [ID!]!",
        "retryNotification(input: RetryNotificationInput!): Notification!",
        "replayDeadLetterEvent(input: ReplayDeadLetterEventInput!): Boolean!",
    ] {
        assert!(mutation.iter().any(|f| f == line), "{line} in Mutation");
    }
    // Every mutation's input carries its idempotency key.
    for input in [
        "UpdateNotificationPreferencesInput",
        "PutNotificationTemplateInput",
        "ResetNotificationTemplateInput",
        "SendNotificationInput",
        "RetryNotificationInput",
        "ReplayDeadLetterEventInput",
    ] {
        let fields = lines(&format!("input {input}"));
        assert!(
            fields.iter().any(|f| f == "requestId: String!"),
            "{input}: {fields:?}"
        );
    }
}

// ---- over a stand-in svc-notify ---------------------------------------------------------

const NOTIFICATION_ID: &str = "0193a6f4-1f2b-7c3d-8e4f-5a6b7c8d9e0f";
const PATIENT_TOKEN: &str = "patient-token";
const ADMIN_TOKEN: &str = "admin-token";

/// Answers `ListNotifications` (one notification, with values this gateway does not know),
/// `GetNotification` for one notification to the patient (anyone else: NOT_FOUND, as
/// svc-notify answers what is out of a caller's reach), `PreviewTemplate` (echoing the values
/// it got) and `ReplayEvent`; keeps what it was sent.
#[derive(Clone, Default)]
struct StandIn {
    listed: Arc<Mutex<Vec<(String, pb::ListNotificationsRequest)>>>,
    previewed: Arc<Mutex<Vec<pb::PreviewTemplateRequest>>>,
    replayed: Arc<Mutex<Vec<pb::ReplayEventRequest>>>,
}

fn bearer<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tonic::async_trait]
impl NotifyService for StandIn {
    async fn list_notifications(
        &self,
        request: tonic::Request<pb::ListNotificationsRequest>,
    ) -> Result<tonic::Response<pb::ListNotificationsResponse>, tonic::Status> {
        let bearer = bearer(&request);
        self.listed
            .lock()
            .unwrap()
            .push((bearer, request.into_inner()));
        Ok(tonic::Response::new(pb::ListNotificationsResponse {
            notifications: vec![pb::Notification {
                notification_id: NOTIFICATION_ID.into(),
                user_id: "patient".into(),
                kind: 99,
                channel: pb::Channel::Sms as i32,
                status: 0,
                attempts: 1,
                ..Default::default()
            }],
            next_page_token: String::new(),
        }))
    }

    async fn get_notification(
        &self,
        request: tonic::Request<pb::GetNotificationRequest>,
    ) -> Result<tonic::Response<pb::Notification>, tonic::Status> {
        if bearer(&request) != format!("Bearer {PATIENT_TOKEN}")
            || request.get_ref().notification_id != NOTIFICATION_ID
        {
            return Err(tonic::Status::not_found("no such notification"));
        }
        Ok(tonic::Response::new(pb::Notification {
            notification_id: NOTIFICATION_ID.into(),
            user_id: "patient".into(),
            kind: pb::Kind::PrescriptionReady as i32,
            channel: pb::Channel::Email as i32,
            status: pb::DeliveryStatus::Sent as i32,
            attempts: 2,
            subject: "Rețeta este gata".into(),
            language: "ro".into(),
            to: "a***@example.com".into(),
            attempt_log: vec![
                pb::Attempt {
                    number: 1,
                    at: Some(prost_types::Timestamp {
                        seconds: 1_767_600_000,
                        nanos: 0,
                    }),
                    ok: false,
                    answer: "421 try again later".into(),
                },
                pb::Attempt {
                    number: 2,
                    at: None,
                    ok: true,
                    answer: "250 OK".into(),
                },
            ],
            ..Default::default()
        }))
    }

    async fn preview_template(
        &self,
        request: tonic::Request<pb::PreviewTemplateRequest>,
    ) -> Result<tonic::Response<pb::RenderedMessage>, tonic::Status> {
        let r = request.into_inner();
        self.previewed.lock().unwrap().push(r.clone());
        Ok(tonic::Response::new(pb::RenderedMessage {
            subject: String::new(),
            body: format!("Bună ziua, {}!", r.values["patient_name"]),
        }))
    }

    async fn replay_event(
        &self,
        request: tonic::Request<pb::ReplayEventRequest>,
    ) -> Result<tonic::Response<pb::ReplayEventResponse>, tonic::Status> {
        self.replayed.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(pb::ReplayEventResponse {
            handled: true,
        }))
    }
}

struct Fixture {
    schema: MeshSchema,
    stand_in: StandIn,
    stop: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn fixture() -> Fixture {
    let stop = CancellationToken::new();
    let stand_in = StandIn::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(NotifyServiceServer::new(stand_in.clone()))
        .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    tokio::spawn(server);
    let (_, config) = common::default_config();
    let endpoints = ServiceName::ALL.map(|s| {
        let port = if s == ServiceName::Notify {
            addr.port()
        } else {
            1
        };
        (s, format!("http://127.0.0.1:{port}"))
    });
    let clients = ServiceClients::new(endpoints, &config, &svc_kit::tls::Tls::none()).unwrap();
    Fixture {
        schema: build_schema(clients, &config, None),
        stand_in,
        stop,
    }
}

#[tokio::test]
async fn my_notifications_ask_for_the_callers_own_with_the_callers_token() {
    let f = fixture().await;
    let response = run_as(
        &f.schema,
        &["patient"],
        PATIENT_TOKEN,
        "{ myNotifications(status: FAILED, pageSize: 10, pageToken: \"t\") { notifications { id kind channel status attempts attemptLog { number } } nextPageToken } }",
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().unwrap()["myNotifications"],
        json!({
            "notifications": [{
                "id": NOTIFICATION_ID, "kind": null, "channel": "SMS", "status": null,
                "attempts": 1, "attemptLog": []
            }],
            "nextPageToken": null
        }),
        "values this gateway does not know read as null; the last page has no token"
    );
    let response = run_as(
        &f.schema,
        &["admin"],
        ADMIN_TOKEN,
        r#"{ notifications(userId: "u1") { nextPageToken } }"#,
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);

    let listed = f.stand_in.listed.lock().unwrap().clone();
    let [(patient_bearer, mine), (admin_bearer, theirs)] = listed.as_slice() else {
        panic!("two calls: {listed:?}");
    };
    assert_eq!(*patient_bearer, format!("Bearer {PATIENT_TOKEN}"));
    assert_eq!(mine.user_id, "", "the caller's own");
    assert_eq!(mine.status, pb::DeliveryStatus::Failed as i32);
    assert_eq!((mine.page_size, mine.page_token.as_str()), (10, "t"));
    assert_eq!(*admin_bearer, format!("Bearer {ADMIN_TOKEN}"));
    assert_eq!(theirs.user_id, "u1");
    assert_eq!(theirs.status, 0, "absent: any status");
    assert_eq!(theirs.page_size, 0, "absent: the service's default");
}

#[tokio::test]
async fn a_notification_comes_with_its_attempts() {
    let f = fixture().await;
    let document = format!(
        r#"{{ notification(id: "{NOTIFICATION_ID}") {{ kind status subject body language to eventType attemptLog {{ number at ok answer }} }} }}"#
    );
    let response = run_as(&f.schema, &["patient"], PATIENT_TOKEN, &document).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().unwrap()["notification"],
        json!({
            "kind": "PRESCRIPTION_READY",
            "status": "SENT",
            "subject": "Rețeta este gata",
            "body": null,
            "language": "ro",
            "to": "a***@example.com",
            "eventType": null,
            "attemptLog": [
                { "number": 1, "at": "2026-01-05T08:00:00+00:00", "ok": false, "answer": "421 try again later" },
                { "number": 2, "at": null, "ok": true, "answer": "250 OK" }
            ]
        })
    );
}

#[tokio::test]
async fn a_notification_out_of_reach_is_not_found_from_notify() {
    let f = fixture().await;
    let document = format!(r#"{{ notification(id: "{NOTIFICATION_ID}") {{ id }} }}"#);
    let response = run_as(&f.schema, &["doctor"], "doctor-token", &document).await;
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{error}");
    assert_eq!(error["extensions"]["service"], "notify", "{error}");
    assert_eq!(error["message"], "no such notification");
}

#[tokio::test]
async fn a_preview_sends_its_placeholder_values_as_the_contracts_map() {
    let f = fixture().await;
    let response = run_as(
        &f.schema,
        &["admin"],
        ADMIN_TOKEN,
        r#"{ previewNotificationTemplate(input: { kind: APPOINTMENT_REMINDER, channel: EMAIL, language: "ro", values: [{ name: "patient_name", value: "Ana Popescu" }, { name: "clinic", value: "Botanica" }] }) { subject body } }"#,
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().unwrap()["previewNotificationTemplate"],
        json!({ "subject": null, "body": "Bună ziua, Ana Popescu!" })
    );
    let previewed = f.stand_in.previewed.lock().unwrap().clone();
    let [request] = previewed.as_slice() else {
        panic!("one call: {previewed:?}");
    };
    assert_eq!(request.kind, pb::Kind::AppointmentReminder as i32);
    assert_eq!(request.channel, pb::Channel::Email as i32);
    assert_eq!(request.language, "ro");
    assert_eq!((request.subject.as_str(), request.body.as_str()), ("", ""));
    assert_eq!(request.values.len(), 2);
    assert_eq!(request.values["clinic"], "Botanica");
}

#[tokio::test]
async fn a_dead_letter_is_replayed_by_its_number() {
    let f = fixture().await;
    let response = run_as(
        &f.schema,
        &["admin"],
        ADMIN_TOKEN,
        r#"mutation { replayDeadLetterEvent(input: { requestId: "r", deadLetterId: "9007199254740993" }) }"#,
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().unwrap()["replayDeadLetterEvent"],
        true
    );
    let replayed = f.stand_in.replayed.lock().unwrap().clone();
    assert_eq!(
        replayed,
        [pb::ReplayEventRequest {
            request_id: "r".into(),
            dead_letter_id: 9_007_199_254_740_993,
        }]
    );
}
