//! Pharmacy at the gateway, with what the gateway decides by itself: who may select each
//! field (refused before any service is asked) and the quantities it checks. The service's
//! own rules are its tests'.

mod common;

use async_graphql::{Request, Response};
use futures::StreamExt;
use gateway_graphql::{MeshSchema, RequestAuth};
use serde_json::Value;
use svc_kit::auth::Principal;

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
