//! The patient card through the gateway, on `medmesh dev` with its demo data: the demo doctor
//! reads the card they wrote (the patient is in their care since the demo booking, learned from
//! scheduling's events), writes and signs a new entry, and prescribes (the pharmacy's event
//! puts it in the card's medication history); the patient reads their card, downloads it as a
//! PDF in their own script, and sees in their access log who read it and why; an admin reads
//! the log and its integrity, never the card.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{dev_settings, graphql_as};
use medmesh::Platform;
use serde_json::{Value, json};
use svc_kit::auth::dev_issuer::WEB_CLIENT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_card_from_the_doctor_to_the_patient() {
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
    let (doctor, patient, admin) = (sign_in("doctor"), sign_in("patient"), sign_in("admin"));
    let q = |token: &str, query: &str, variables: Value| {
        let (url, token, query) = (url.clone(), token.to_string(), query.to_string());
        async move { graphql_as(&url, Some(&token), &query, variables).await }
    };
    let patient_id = q(&patient, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let doctor_id = q(&doctor, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();

    // The doctor opens the demo card: in their care, written in Romanian.
    let card_query = "query($p: ID) { patientCard(patientId: $p) { basis signedEntries diagnoses { content { diagnosis { icd10Code status } } } allergies { content { allergy { substance severity } } } latestObservations { content { labResult { name value } observation { name value } } } recentEncounters { signedBy } medications { status lines { medicationName } } } }";
    let card = q(&doctor, card_query, json!({ "p": patient_id })).await;
    let c = &card["data"]["patientCard"];
    assert_eq!(c["basis"], "CARE", "{card}");
    assert_eq!(c["signedEntries"], 8, "{card}");
    assert_eq!(
        c["diagnoses"][0]["content"]["diagnosis"],
        json!({ "icd10Code": "I10", "status": "ACTIVE" }),
        "active first: {card}"
    );
    assert_eq!(
        c["allergies"][0]["content"]["allergy"],
        json!({ "substance": "Penicilină", "severity": "SEVERE" })
    );
    assert_eq!(
        c["latestObservations"].as_array().unwrap().len(),
        3,
        "{card}"
    );
    assert_eq!(c["recentEncounters"][0]["signedBy"], doctor_id);

    // A new visit, written as a draft and signed.
    let created = q(
        &doctor,
        "mutation($p: ID!) { createRecordEntry(input: { requestId: \"e2e-entry\", patientId: $p, content: { encounter: { complaint: \"Tuse uscată\", findings: \"Murmur vezicular prezent bilateral\", plan: \"Control la nevoie\" } } }) { id version status } }",
        json!({ "p": patient_id }),
    )
    .await;
    let entry = &created["data"]["createRecordEntry"];
    assert_eq!(entry["status"], "DRAFT", "{created}");
    let signed = q(
        &doctor,
        "mutation($id: ID!, $v: Int!) { signRecordEntry(input: { requestId: \"e2e-sign\", entryId: $id, version: $v }) { status signedBy } }",
        json!({ "id": entry["id"], "v": entry["version"] }),
    )
    .await;
    assert_eq!(
        signed["data"]["signRecordEntry"]["status"], "SIGNED",
        "{signed}"
    );

    // A prescription reaches the card's medication history through the pharmacy's events.
    let pharmacies = q(&doctor, "{ pharmacies { pharmacies { id } } }", json!({})).await;
    let medications = q(
        &doctor,
        "{ medications(query: \"paracetamol\") { medications { id } } }",
        json!({}),
    )
    .await;
    let issued = q(
        &doctor,
        "mutation($p: ID!, $ph: ID!, $m: ID!) { issuePrescription(input: {requestId: \"e2e-rec-rx\", patientId: $p, pharmacyId: $ph, items: [{medicationId: $m, quantity: 2, dose: \"1 comprimat\", frequency: \"de 2 ori pe zi\", durationDays: 1}]}) { id } }",
        json!({
            "p": patient_id,
            "ph": pharmacies["data"]["pharmacies"]["pharmacies"][0]["id"],
            "m": medications["data"]["medications"]["medications"][0]["id"],
        }),
    )
    .await;
    assert!(issued["errors"].is_null(), "{issued}");
    let mut mine = Value::Null;
    for _ in 0..100 {
        mine = q(&patient, card_query, json!({})).await;
        if !mine["data"]["patientCard"]["medications"]
            .as_array()
            .is_none_or(|m| m.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = &mine["data"]["patientCard"];
    assert_eq!(c["basis"], "OWN", "{mine}");
    assert_eq!(c["signedEntries"], 9, "{mine}");
    assert_eq!(c["medications"][0]["status"], "issued", "{mine}");
    assert_eq!(
        c["medications"][0]["lines"][0]["medicationName"],
        "Paracetamol"
    );

    // The patient downloads it, readable in the script it was written in.
    let export = q(
        &patient,
        "{ cardExport(format: PDF) { mediaType content } }",
        json!({}),
    )
    .await;
    assert_eq!(
        export["data"]["cardExport"]["mediaType"], "application/pdf",
        "{export}"
    );
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(export["data"]["cardExport"]["content"].as_str().unwrap())
        .unwrap();
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    let text = document.extract_text(&pages).unwrap();
    assert!(text.contains("Penicilină"), "{text}");
    assert!(
        text.contains("Hipertensiune") && text.contains("esențială"),
        "{text}"
    );
    assert!(
        text.contains("Demo patient"),
        "the patient name heads it: {text}"
    );

    // Who read it, and why, as the patient sees it.
    let log = q(
        &patient,
        "{ accessLog(pageSize: 200) { entries { actorId actorRole action resource basis allowed } } }",
        json!({}),
    )
    .await;
    let entries = log["data"]["accessLog"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        entries.iter().any(|e| e["actorId"] == doctor_id
            && e["resource"] == "card"
            && e["basis"] == "CARE"
            && e["action"] == "READ"),
        "{log}"
    );
    assert!(
        entries.iter().any(|e| e["resource"] == "export:pdf"),
        "{log}"
    );

    // Admins: the log and its integrity, never the card.
    let refused = q(&admin, card_query, json!({ "p": patient_id })).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    let integrity = q(
        &admin,
        "{ accessLogIntegrity { intact chainsChecked entriesChecked } }",
        json!({}),
    )
    .await;
    assert_eq!(
        integrity["data"]["accessLogIntegrity"]["intact"], true,
        "{integrity}"
    );
    platform.stop().await;
}
