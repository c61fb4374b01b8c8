//! Pharmacy at the gateway, with what the gateway decides by itself: who may select each
//! field (refused before any service is asked), quantities it checks, and the live
//! `prescriptionStatus` feed over a stand-in pharmacy service that answers `GetPrescription`
//! only. The service's own rules are its tests'.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_graphql::{Request, Response};
use futures::{Stream, StreamExt};
use gateway_graphql::{
    LiveFeeds, MeshSchema, PrescriptionFeed, RequestAuth, ServiceClients, build_schema_with_feeds,
};
use medmesh_proto::{
    events::v1::EventEnvelope,
    pharmacy::v1::{
        self as pb,
        pharmacy_service_server::{PharmacyService, PharmacyServiceServer},
    },
};
use prost::Message;
use serde_json::Value;
use svc_kit::{
    ServiceName,
    auth::Principal,
    events::{EventSource, MemoryBus, OutgoingEvent, Publisher},
};
use tokio_util::sync::CancellationToken;

/// Every pharmacy root field, a document selecting it, and the roles the gateway lets
/// through (the brief the access table was written from, restated so a wrong rule fails).
const FIELDS: &[(&str, &str, &[&str])] = &[
    ("pharmacies", "{ pharmacies { nextPageToken } }", ALL),
    ("pharmacy", r#"{ pharmacy(id: "p") { id } }"#, ALL),
    ("medications", "{ medications { nextPageToken } }", ALL),
    ("medication", r#"{ medication(id: "m") { id } }"#, ALL),
    (
        "availability",
        r#"{ availability(medicationIds: ["m"]) { availability } }"#,
        ALL,
    ),
    ("stock", r#"{ stock(pharmacyId: "p") { onHand } }"#, STOCK),
    (
        "lowStock",
        r#"{ lowStock(pharmacyId: "p") { onHand } }"#,
        STOCK,
    ),
    (
        "expiringLots",
        r#"{ expiringLots(pharmacyId: "p") { medicationId } }"#,
        STOCK,
    ),
    (
        "stockMovements",
        r#"{ stockMovements(pharmacyId: "p") { nextPageToken } }"#,
        STOCK,
    ),
    (
        "preferredPharmacies",
        "{ preferredPharmacies { pharmacyIds } }",
        &["doctor", "patient"],
    ),
    (
        "prescriptions",
        "{ prescriptions { nextPageToken } }",
        READERS,
    ),
    (
        "prescription",
        r#"{ prescription(id: "x") { id } }"#,
        READERS,
    ),
    (
        "prescriptionStatus",
        r#"subscription { prescriptionStatus(prescriptionId: "x") { id } }"#,
        READERS,
    ),
    (
        "createPharmacy",
        r#"mutation { createPharmacy(input: { requestId: "r", name: "n", timeZone: "UTC" }) { id } }"#,
        &["admin"],
    ),
    (
        "updatePharmacy",
        r#"mutation { updatePharmacy(id: "p", input: { requestId: "r", name: "n", timeZone: "UTC" }) { id } }"#,
        &["admin"],
    ),
    (
        "createMedication",
        r#"mutation { createMedication(input: { requestId: "r", name: "n", prescriptionOnly: true }) { id } }"#,
        &["admin"],
    ),
    (
        "updateMedication",
        r#"mutation { updateMedication(id: "m", input: { requestId: "r", name: "n", prescriptionOnly: true }) { id } }"#,
        &["admin"],
    ),
    (
        "receiveShipment",
        r#"mutation { receiveShipment(requestId: "r", pharmacyId: "p", lines: [{ medicationId: "m", quantity: 10, lot: "L1", expiresAt: "2027-01-01T00:00:00Z" }]) { id } }"#,
        &["pharmacist"],
    ),
    (
        "adjustStock",
        r#"mutation { adjustStock(requestId: "r", pharmacyId: "p", medicationId: "m", delta: -2, reason: BREAKAGE) { onHand } }"#,
        &["pharmacist"],
    ),
    (
        "setCriticalThreshold",
        r#"mutation { setCriticalThreshold(requestId: "r", pharmacyId: "p", medicationId: "m", criticalThreshold: 5) { onHand } }"#,
        STOCK,
    ),
    (
        "setPreferredPharmacies",
        r#"mutation { setPreferredPharmacies(requestId: "r", pharmacyIds: ["p"]) { pharmacyIds } }"#,
        &["patient"],
    ),
    (
        "issuePrescription",
        r#"mutation { issuePrescription(input: { requestId: "r", patientId: "u", pharmacyId: "p", items: [{ medicationId: "m", quantity: 20 }] }) { id } }"#,
        &["doctor"],
    ),
    (
        "cancelPrescription",
        r#"mutation { cancelPrescription(requestId: "r", id: "x") { id } }"#,
        &["doctor"],
    ),
    (
        "changePrescriptionPharmacy",
        r#"mutation { changePrescriptionPharmacy(requestId: "r", id: "x", pharmacyId: "p") { id } }"#,
        &["doctor", "patient"],
    ),
    (
        "startDispensing",
        r#"mutation { startDispensing(requestId: "r", id: "x") { id } }"#,
        &["pharmacist"],
    ),
    (
        "dispensePrescription",
        r#"mutation { dispensePrescription(requestId: "r", id: "x") { id } }"#,
        &["pharmacist"],
    ),
    (
        "rejectPrescription",
        r#"mutation { rejectPrescription(requestId: "r", id: "x", reason: "illegible") { id } }"#,
        &["pharmacist"],
    ),
];

const ALL: &[&str] = &["admin", "doctor", "nurse", "pharmacist", "patient"];
const STOCK: &[&str] = &["admin", "pharmacist"];
const READERS: &[&str] = &["doctor", "pharmacist", "patient"];

/// `document` run as a caller holding `roles`, with a token to forward: its first answer.
async fn run_as(schema: &MeshSchema, roles: &[&str], document: &str) -> Response {
    let request = as_caller(Request::new(document), roles, "token");
    let mut answers = schema.execute_stream(request);
    answers.next().await.expect("an answer")
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

#[tokio::test]
async fn each_role_reaches_exactly_the_pharmacy_fields_its_rule_names() {
    let (_, config) = common::default_config();
    // No service answers: a field let through fails UNAVAILABLE at svc-pharmacy; a field
    // refused fails FORBIDDEN at the gateway, before any service is asked.
    let schema = common::offline_schema(&config);
    for (field, document, allowed) in FIELDS {
        for role in ALL {
            let error = first_error(&run_as(&schema, &[role], document).await);
            let what = format!("{role} selecting {field}: {error}");
            if allowed.contains(role) {
                assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{what}");
                assert_eq!(error["extensions"]["service"], "pharmacy", "{what}");
            } else {
                assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{what}");
                assert_eq!(error["extensions"]["service"], "gateway", "{what}");
            }
        }
        let anonymous = schema
            .execute_stream(Request::new(*document))
            .next()
            .await
            .unwrap();
        assert_eq!(
            first_error(&anonymous)["extensions"]["code"],
            "UNAUTHENTICATED",
            "{field} without a token"
        );
    }
}

#[tokio::test]
async fn a_patient_cannot_receive_a_shipment_and_nothing_runs() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let (_, document, _) = FIELDS
        .iter()
        .find(|(f, _, _)| *f == "receiveShipment")
        .unwrap();
    let response = run_as(&schema, &["patient"], document).await;
    assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        error["message"],
        "not allowed to use Mutation.receiveShipment"
    );
}

#[tokio::test]
async fn quantities_out_of_range_are_bad_input_before_any_service_is_asked() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let cases: &[(&str, &str, &str)] = &[
        (
            "pharmacist",
            "quantity",
            r#"mutation { receiveShipment(requestId: "r", pharmacyId: "p", lines: [{ medicationId: "m", quantity: -5, lot: "L1", expiresAt: "2027-01-01T00:00:00Z" }]) { id } }"#,
        ),
        (
            "pharmacist",
            "quantity",
            r#"mutation { receiveShipment(requestId: "r", pharmacyId: "p", lines: [{ medicationId: "m", quantity: 3, lot: "L1", expiresAt: "2027-01-01T00:00:00Z" }, { medicationId: "m", quantity: 0, lot: "L2", expiresAt: "2027-01-01T00:00:00Z" }]) { id } }"#,
        ),
        (
            "doctor",
            "quantity",
            r#"mutation { issuePrescription(input: { requestId: "r", patientId: "u", pharmacyId: "p", items: [{ medicationId: "m", quantity: 0 }] }) { id } }"#,
        ),
        (
            "doctor",
            "quantity",
            r#"mutation { issuePrescription(input: { requestId: "r", patientId: "u", pharmacyId: "p", items: [{ medicationId: "m", quantity: 2147483648 }] }) { id } }"#,
        ),
        (
            "pharmacist",
            "quantity",
            r#"mutation { dispensePrescription(requestId: "r", id: "x", lines: [{ itemId: "i", quantity: -1 }]) { id } }"#,
        ),
        (
            "pharmacist",
            "criticalThreshold",
            r#"mutation { setCriticalThreshold(requestId: "r", pharmacyId: "p", medicationId: "m", criticalThreshold: -1) { onHand } }"#,
        ),
        (
            "pharmacist",
            "delta",
            r#"mutation { adjustStock(requestId: "r", pharmacyId: "p", medicationId: "m", delta: -2147483648, reason: EXPIRED) { onHand } }"#,
        ),
    ];
    for (role, argument, document) in cases {
        let error = first_error(&run_as(&schema, &[role], document).await);
        let what = format!("{document}: {error}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}");
        assert_eq!(error["extensions"]["service"], "gateway", "{what}");
        assert!(
            error["message"].as_str().unwrap().contains(argument),
            "names {argument}: {what}"
        );
    }
    // The same quantities given as variables are checked the same way.
    let request = Request::new(
        r#"mutation($lines: [ShipmentLineInput!]!) { receiveShipment(requestId: "r", pharmacyId: "p", lines: $lines) { id } }"#,
    )
    .variables(async_graphql::Variables::from_json(serde_json::json!({
        "lines": [{ "medicationId": "m", "quantity": -1, "lot": "L", "expiresAt": "2027-01-01T00:00:00Z" }]
    })));
    let response = schema
        .execute(as_caller(request, &["pharmacist"], "token"))
        .await;
    assert_eq!(
        first_error(&response)["extensions"]["code"],
        "BAD_USER_INPUT",
        "{:?}",
        response.errors
    );
}

// ---- prescriptionStatus over a stand-in svc-pharmacy -----------------------------------

/// The prescription the stand-in holds, and the token it lets read it.
const PRESCRIPTION_ID: &str = "0193a6f4-1f2b-7c3d-8e4f-5a6b7c8d9e0f";
const PATIENT_TOKEN: &str = "patient-token";

/// Answers `GetPrescription` for one prescription, to one token (anyone else: NOT_FOUND, as
/// svc-pharmacy answers what is out of a caller's reach), and counts the reads.
#[derive(Clone, Default)]
struct StandIn {
    prescription: Arc<Mutex<pb::Prescription>>,
    reads: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl PharmacyService for StandIn {
    async fn get_prescription(
        &self,
        request: tonic::Request<pb::GetPrescriptionRequest>,
    ) -> Result<tonic::Response<pb::Prescription>, tonic::Status> {
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.reads.lock().unwrap().push(bearer.clone());
        if bearer != format!("Bearer {PATIENT_TOKEN}")
            || request.get_ref().prescription_id != PRESCRIPTION_ID
        {
            return Err(tonic::Status::not_found("no such prescription"));
        }
        Ok(tonic::Response::new(
            self.prescription.lock().unwrap().clone(),
        ))
    }
}

impl StandIn {
    fn set(&self, status: pb::PrescriptionStatus, version: i64) {
        let mut p = self.prescription.lock().unwrap();
        p.status = status as i32;
        p.version = version;
    }
}

struct Fixture {
    schema: MeshSchema,
    stand_in: StandIn,
    bus: MemoryBus,
    topic: String,
    _stop: CancellationToken,
}

async fn fixture() -> Fixture {
    let stop = CancellationToken::new();
    let stand_in = StandIn::default();
    *stand_in.prescription.lock().unwrap() = pb::Prescription {
        prescription_id: PRESCRIPTION_ID.into(),
        patient_id: "patient".into(),
        status: pb::PrescriptionStatus::Issued as i32,
        version: 1,
        items: vec![pb::PrescriptionItem {
            item_id: "item".into(),
            medication_id: "med".into(),
            quantity: 20,
            available_now: 12,
            ..Default::default()
        }],
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(PharmacyServiceServer::new(stand_in.clone()))
        .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    tokio::spawn(server);

    let (_, config) = common::default_config();
    let endpoints = ServiceName::ALL.map(|s| {
        let port = if s == ServiceName::Pharmacy {
            addr.port()
        } else {
            1
        };
        (s, format!("http://127.0.0.1:{port}"))
    });
    let clients = ServiceClients::new(endpoints, &config, &svc_kit::tls::Tls::none()).unwrap();
    let bus = MemoryBus::new();
    let topic = svc_kit::events::topic_for("medmesh", ServiceName::Pharmacy);
    let feeds = LiveFeeds {
        availability: None,
        prescriptions: Some(PrescriptionFeed::start(
            EventSource::Memory(bus.clone()),
            topic.clone(),
            stop.clone(),
        )),
        accounts: None,
    };
    Fixture {
        schema: build_schema_with_feeds(clients, &config, None, feeds),
        stand_in,
        bus,
        topic,
        _stop: stop,
    }
}

impl Fixture {
    async fn publish(&self, kind: &str, aggregate_id: &str) {
        let envelope = EventEnvelope {
            id: uuid::Uuid::now_v7().to_string(),
            r#type: format!("medmesh.pharmacy.v1.{kind}"),
            aggregate_id: aggregate_id.into(),
            ..Default::default()
        };
        let event = OutgoingEvent {
            seq: 0,
            event_id: envelope.id.clone(),
            event_type: envelope.r#type.clone(),
            topic: self.topic.clone(),
            key: aggregate_id.into(),
            payload: envelope.encode_to_vec().into(),
        };
        let outcome = self.bus.publish(std::slice::from_ref(&event)).await;
        assert_eq!(outcome.delivered, 1);
    }

    fn subscribe(&self, token: &str, id: &str) -> impl Stream<Item = Response> + use<> {
        let document = format!(
            r#"subscription {{ prescriptionStatus(prescriptionId: "{id}") {{ id status version items {{ availableNow }} }} }}"#
        );
        self.schema
            .execute_stream(as_caller(Request::new(document), &["patient"], token))
    }
}

/// The next answer, publishing `kind` for `aggregate_id` until one comes (the feed follows
/// the bus from when its task first ran, which a test cannot see).
async fn next_after_event(
    f: &Fixture,
    answers: &mut (impl Stream<Item = Response> + Unpin),
    kind: &str,
    aggregate_id: &str,
) -> Option<Value> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            f.publish(kind, aggregate_id).await;
            if let Ok(answer) =
                tokio::time::timeout(Duration::from_millis(200), answers.next()).await
            {
                return answer.map(|r| {
                    assert!(r.errors.is_empty(), "{:?}", r.errors);
                    r.data.into_json().unwrap()["prescriptionStatus"].clone()
                });
            }
        }
    })
    .await
    .expect("an answer within 10 s")
}

#[tokio::test]
async fn a_prescription_is_followed_as_its_caller_until_its_status_is_final() {
    let f = fixture().await;
    let mut answers = Box::pin(f.subscribe(PATIENT_TOKEN, &PRESCRIPTION_ID.to_uppercase()));
    let first = answers.next().await.unwrap();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let first = first.data.into_json().unwrap()["prescriptionStatus"].clone();
    assert_eq!(first["status"], "ISSUED");
    assert_eq!(
        first["items"][0]["availableNow"], 12,
        "a single read is live"
    );

    // Another prescription's events and stock events are not this subscriber's.
    f.stand_in.set(pb::PrescriptionStatus::InProgress, 2);
    f.publish(
        "prescription.dispensed",
        "0193a6f4-0000-7000-8000-000000000000",
    )
    .await;
    f.publish("stock.low", PRESCRIPTION_ID).await;
    let reads_before = f.stand_in.reads.lock().unwrap().len();
    let next = next_after_event(
        &f,
        &mut answers,
        "prescription.in_progress",
        PRESCRIPTION_ID,
    )
    .await
    .expect("the stream goes on");
    assert_eq!(next["status"], "IN_PROGRESS");
    assert_eq!(next["version"], 2);
    assert!(f.stand_in.reads.lock().unwrap().len() > reads_before);

    f.stand_in.set(pb::PrescriptionStatus::Dispensed, 3);
    let last = next_after_event(&f, &mut answers, "prescription.dispensed", PRESCRIPTION_ID)
        .await
        .expect("the final status is sent");
    assert_eq!(last["status"], "DISPENSED");
    let end = tokio::time::timeout(Duration::from_secs(5), answers.next())
        .await
        .expect("the stream ends by itself");
    assert!(end.is_none(), "nothing after a final status: {end:?}");

    let reads = f.stand_in.reads.lock().unwrap().clone();
    assert!(
        reads
            .iter()
            .all(|b| *b == format!("Bearer {PATIENT_TOKEN}")),
        "every read is the caller's: {reads:?}"
    );
}

#[tokio::test]
async fn a_prescription_out_of_reach_is_not_found_to_the_subscriber() {
    let f = fixture().await;
    let mut answers = Box::pin(f.subscribe("someone-elses-token", PRESCRIPTION_ID));
    let answer = answers.next().await.unwrap();
    let error = first_error(&answer);
    assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{error}");
    assert_eq!(error["extensions"]["service"], "pharmacy");
    let end = tokio::time::timeout(Duration::from_secs(5), answers.next())
        .await
        .unwrap();
    assert!(end.is_none(), "nothing more: {end:?}");
}

#[tokio::test]
async fn a_prescription_already_final_is_sent_once() {
    let f = fixture().await;
    f.stand_in.set(pb::PrescriptionStatus::Cancelled, 4);
    let mut answers = Box::pin(f.subscribe(PATIENT_TOKEN, PRESCRIPTION_ID));
    let answer = answers.next().await.unwrap();
    assert!(answer.errors.is_empty(), "{:?}", answer.errors);
    assert_eq!(
        answer.data.into_json().unwrap()["prescriptionStatus"]["status"],
        "CANCELLED"
    );
    let end = tokio::time::timeout(Duration::from_secs(5), answers.next())
        .await
        .unwrap();
    assert!(end.is_none());
}
