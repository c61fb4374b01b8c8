//! The pharmacy through the gateway, on `medmesh dev` with its demo data: the demo doctor
//! prescribes for the demo patient (in their care since the demo booking, learned from
//! scheduling's events), the patient watches the status live, the demo pharmacist opens it with
//! a live stock check and dispenses, and the stock shows it.

mod common;

use std::time::Duration;

use common::{dev_settings, graphql_as};
use futures::{SinkExt, StreamExt};
use medmesh::Platform;
use serde_json::{Value, json};
use svc_kit::auth::dev_issuer::WEB_CLIENT;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prescription_from_the_doctor_to_the_pharmacy_counter() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    medmesh::demo::seed(&platform)
        .await
        .unwrap()
        .expect("dev seeds demo data");
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let sign_in = |user: &str| issuer.password_grant(user, user, WEB_CLIENT).unwrap();
    let (doctor, patient, pharmacist) =
        (sign_in("doctor"), sign_in("patient"), sign_in("pharmacist"));
    let q = |token: &str, query: &str, variables: Value| {
        let (url, token, query) = (url.clone(), token.to_string(), query.to_string());
        async move { graphql_as(&url, Some(&token), &query, variables).await }
    };

    let patient_id = q(&patient, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let pharmacies = q(
        &doctor,
        "{ pharmacies { pharmacies { id name } } }",
        json!({}),
    )
    .await;
    let pharmacy = &pharmacies["data"]["pharmacies"]["pharmacies"][0];
    assert_eq!(pharmacy["name"], "Farmacia Sănătatea", "{pharmacies}");
    let medications = q(
        &doctor,
        "{ medications(query: \"paracetamol\") { medications { id name } } }",
        json!({}),
    )
    .await;
    let found = &medications["data"]["medications"]["medications"];
    assert_eq!(found[0]["name"], "Paracetamol", "{medications}");
    let paracetamol = found[0]["id"].clone();

    // The demo patient is in the demo doctor's care once the pharmacy has read the booking.
    let issue = "mutation($p: ID!, $ph: ID!, $m: ID!) { issuePrescription(input: {requestId: \"e2e-rx-1\", patientId: $p, pharmacyId: $ph, items: [{medicationId: $m, quantity: 4, dose: \"1 comprimat\", frequency: \"de 2 ori pe zi\", durationDays: 2}]}) { id status items { id reserved shortfall medicationName } } }";
    let vars = json!({ "p": patient_id, "ph": pharmacy["id"], "m": paracetamol });
    let mut issued = Value::Null;
    for _ in 0..100 {
        issued = q(&doctor, issue, vars.clone()).await;
        if issued["errors"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prescription = issued["data"]["issuePrescription"].clone();
    assert_eq!(prescription["status"], "ISSUED", "{issued}");
    assert_eq!(prescription["items"][0]["reserved"], 4, "{issued}");
    assert_eq!(prescription["items"][0]["medicationName"], "Paracetamol");
    let id = prescription["id"].clone();

    // The patient sees where it can be filled now.
    let fillable = q(
        &patient,
        "query($id: ID!) { prescription(id: $id) { fillableAt { pharmacyId availability } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        fillable["data"]["prescription"]["fillableAt"],
        json!([{ "pharmacyId": pharmacy["id"], "availability": "LOW" }]),
        "8 available against a threshold of 10: {fillable}"
    );

    // The patient watches it.
    let ws_url = format!("ws://{}/graphql/ws", platform.gateway_addr.unwrap());
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {patient}") } })))
        .await
        .unwrap();
    let next_json =
        |message: Message| -> Value { serde_json::from_str(message.to_text().unwrap()).unwrap() };
    assert_eq!(
        next_json(socket.next().await.unwrap().unwrap())["type"],
        "connection_ack"
    );
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": "subscription($id: ID!) { prescriptionStatus(prescriptionId: $id) { status items { dispensed availableNow } } }",
                "variables": { "id": id },
            }
        })))
        .await
        .unwrap();
    let mut receive = async || -> Value {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an update")
            .unwrap()
            .unwrap();
        next_json(message)
    };
    let first = receive().await;
    assert_eq!(
        first["payload"]["data"]["prescriptionStatus"]["status"], "ISSUED",
        "{first}"
    );
    // 12 received, 4 reserved by this prescription: 8 others may still have.
    assert_eq!(
        first["payload"]["data"]["prescriptionStatus"]["items"][0]["availableNow"], 8,
        "{first}"
    );

    // The pharmacist opens it, sees the live stock, and dispenses.
    let opened = q(
        &pharmacist,
        "query($id: ID!) { prescription(id: $id) { status items { availableNow owed } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        opened["data"]["prescription"]["items"][0]["owed"], 4,
        "{opened}"
    );
    let started = q(
        &pharmacist,
        "mutation($id: ID!) { startDispensing(requestId: \"e2e-start\", id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        started["data"]["startDispensing"]["status"], "IN_PROGRESS",
        "{started}"
    );
    let dispensed = q(&pharmacist, "mutation($id: ID!) { dispensePrescription(requestId: \"e2e-give\", id: $id) { status items { dispensed owed } } }", json!({ "id": id })).await;
    assert_eq!(
        dispensed["data"]["dispensePrescription"]["status"], "DISPENSED",
        "{dispensed}"
    );

    let mut statuses = Vec::new();
    loop {
        let update = receive().await;
        if update["type"] == "complete" {
            break;
        }
        statuses.push(update["payload"]["data"]["prescriptionStatus"]["status"].clone());
    }
    assert_eq!(statuses.last(), Some(&json!("DISPENSED")), "{statuses:?}");

    // The shelf shows it: 12 − 4, nothing reserved, now below the threshold of 10.
    let stock = q(&pharmacist, "query($ph: ID!, $m: ID!) { stock(pharmacyId: $ph, medicationIds: [$m]) { onHand reserved available } lowStock(pharmacyId: $ph) { medicationName } }", json!({ "ph": pharmacy["id"], "m": paracetamol })).await;
    assert_eq!(
        stock["data"]["stock"][0],
        json!({ "onHand": 8, "reserved": 0, "available": 8 }),
        "{stock}"
    );
    assert_eq!(
        stock["data"]["lowStock"][0]["medicationName"], "Paracetamol",
        "{stock}"
    );
    // A stranger's token reaches none of it.
    let stranger = issuer.sign(&issuer.claims(
        "3f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "stranger",
        &["patient"],
        WEB_CLIENT,
    ));
    let hidden = q(
        &stranger,
        "query($id: ID!) { prescription(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        hidden["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{hidden}"
    );
    platform.stop().await;
}
