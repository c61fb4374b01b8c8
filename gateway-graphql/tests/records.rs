//! Records at the gateway, with what the gateway decides by itself: who may select each field
//! (refused before any service is asked), the entry content it checks (exactly one kind; a
//! document's file as base64), and the graph's shape of the contract, over a stand-in records
//! service that answers a few RPCs. The service's own rules (who reaches which patient) are
//! its tests'.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use async_graphql::{Request, Response, Variables};
use gateway_graphql::{MeshSchema, RequestAuth, ServiceClients, access, build_schema};
use medmesh_proto::records::v1::{
    self as pb,
    entry_content::Body,
    records_service_server::{RecordsService, RecordsServiceServer},
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

/// Every records root field, a document selecting it, and the roles the gateway lets through:
/// svc-records' own table (`svc-records/src/domain/access.rs`), restated so a wrong rule fails.
const FIELDS: &[(&str, &str, &[&str])] = &[
    ("patientCard", "{ patientCard { patientId } }", READERS),
    (
        "recordEntries",
        r#"{ recordEntries(patientId: "p", kinds: [DIAGNOSIS, LAB_RESULT]) { nextPageToken } }"#,
        READERS,
    ),
    ("recordEntry", r#"{ recordEntry(id: "e") { id } }"#, READERS),
    (
        "accessLog",
        "{ accessLog(flaggedOnly: true) { nextPageToken } }",
        &["admin", "patient"],
    ),
    (
        "recordGrants",
        "{ recordGrants(includeEnded: true) { id } }",
        &["doctor", "patient"],
    ),
    (
        "breakGlassAccesses",
        "{ breakGlassAccesses { nextPageToken } }",
        &["admin"],
    ),
    (
        "accessLogIntegrity",
        "{ accessLogIntegrity { intact } }",
        &["admin"],
    ),
    (
        "cardExport",
        "{ cardExport(format: PDF) { fileName } }",
        &["patient"],
    ),
    (
        "createRecordEntry",
        r#"mutation { createRecordEntry(input: { requestId: "r", patientId: "p", content: { encounter: { complaint: "cough" } } }) { id } }"#,
        CLINICIANS,
    ),
    (
        "updateDraft",
        r#"mutation { updateDraft(input: { requestId: "r", entryId: "e", version: 1, content: { allergy: { substance: "penicillin", severity: LIFE_THREATENING } } }) { id } }"#,
        CLINICIANS,
    ),
    (
        "discardDraft",
        r#"mutation { discardDraft(input: { requestId: "r", entryId: "e", version: 1 }) }"#,
        CLINICIANS,
    ),
    (
        "signRecordEntry",
        r#"mutation { signRecordEntry(input: { requestId: "r", entryId: "e", version: 2 }) { status } }"#,
        &["doctor"],
    ),
    (
        "amendRecordEntry",
        r#"mutation { amendRecordEntry(input: { requestId: "r", entryId: "e", reason: "wrong code", content: { diagnosis: { icd10Code: "J06.9", text: "Common cold", status: ACTIVE } } }) { id } }"#,
        &["doctor"],
    ),
    (
        "grantRecordAccess",
        r#"mutation { grantRecordAccess(input: { requestId: "r", doctorId: "d", endsAt: "2027-01-01T00:00:00Z" }) { active } }"#,
        &["patient"],
    ),
    (
        "revokeRecordAccess",
        r#"mutation { revokeRecordAccess(input: { requestId: "r", grantId: "g" }) { revokedAt } }"#,
        &["patient"],
    ),
    (
        "breakGlass",
        r#"mutation { breakGlass(input: { requestId: "r", patientId: "p", reason: "unconscious in the emergency room" }) { expiresAt } }"#,
        &["doctor"],
    ),
];

const ALL: &[&str] = &["admin", "doctor", "nurse", "pharmacist", "patient"];
/// Who may open a card (the service decides whose).
const READERS: &[&str] = &["doctor", "nurse", "patient"];
const CLINICIANS: &[&str] = &["doctor", "nurse"];

/// A document entry's content, with `content` as the file's text.
fn document_entry(content: &str) -> String {
    format!(
        r#"mutation {{ createRecordEntry(input: {{ requestId: "r", patientId: "p", content: {{ document: {{ title: "Discharge letter", mediaType: "application/pdf", content: "{content}" }} }} }}) {{ id content {{ document {{ content sizeBytes }} }} }} }}"#
    )
}

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

#[tokio::test]
async fn each_role_reaches_exactly_the_records_fields_its_rule_names() {
    let (_, config) = common::default_config();
    // No service answers: a field let through fails UNAVAILABLE at svc-records; a field
    // refused fails FORBIDDEN at the gateway, before any service is asked.
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
                assert_eq!(error["extensions"]["service"], "records", "{what}");
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
async fn a_nurse_cannot_sign_and_nothing_runs() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let (_, document, _) = FIELDS
        .iter()
        .find(|(f, _, _)| *f == "signRecordEntry")
        .unwrap();
    let response = run_as(&schema, &["nurse"], "token", document).await;
    assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        error["message"],
        "not allowed to use Mutation.signRecordEntry"
    );
}

#[tokio::test]
async fn a_document_that_is_not_base64_is_bad_input_before_any_service_is_asked() {
    let (_, config) = common::default_config();
    // Were the service asked, the answer would be UNAVAILABLE.
    let schema = common::offline_schema(&config);
    let with_content = |mutation: &str, extra: &str, content: &str| {
        format!(
            r#"mutation {{ {mutation}(input: {{ requestId: "r", entryId: "e"{extra}, content: {{ document: {{ title: "Scan", mediaType: "image/png", content: "{content}" }} }} }}) {{ id }} }}"#
        )
    };
    let mut documents = Vec::new();
    for bad in [
        "%PDF-1.7",
        "JVBERi0xLjc",
        "JVBE Ri0x",
        "data:image/png;base64,iVBO",
    ] {
        documents.push(("doctor", document_entry(bad)));
    }
    documents.push(("nurse", with_content("updateDraft", ", version: 1", "***")));
    documents.push((
        "doctor",
        with_content("amendRecordEntry", r#", reason: "wrong file""#, "é"),
    ));
    for (role, document) in documents {
        let response = run_as(&schema, &[role], "token", &document).await;
        let error = first_error(&response);
        let what = format!("{document}: {error}");
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}");
        assert_eq!(error["extensions"]["service"], "gateway", "{what}");
        assert_eq!(error["extensions"]["argument"], "input", "{what}");
        assert_eq!(
            error["extensions"]["fields"][0]["field"], "content.document.content",
            "{what}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("content.document.content must be base64"),
            "{what}"
        );
    }
    // The same content given as a variable is checked the same way.
    let request = Request::new(
        r#"mutation($content: EntryContentInput!) { createRecordEntry(input: { requestId: "r", patientId: "p", content: $content }) { id } }"#,
    )
    .variables(Variables::from_json(json!({
        "content": { "document": { "title": "Scan", "mediaType": "image/png", "content": "not base64" } }
    })));
    let response = schema
        .execute(as_caller(request, &["doctor"], "token"))
        .await;
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["service"], "gateway", "{error}");
}

/// Contents that are not exactly one kind: two at once, none, a kind given as null.
const NOT_ONE_KIND: &[&str] = &[
    r#"{ encounter: { complaint: "cough" }, diagnosis: { icd10Code: "J06.9", text: "Common cold", status: ACTIVE } }"#,
    "{}",
    "{ allergy: null }",
];

#[tokio::test]
async fn an_entry_content_must_be_exactly_one_kind_and_nothing_runs_otherwise() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    for content in NOT_ONE_KIND {
        let document = format!(
            r#"mutation {{ createRecordEntry(input: {{ requestId: "r", patientId: "p", content: {content} }}) {{ id }} }}"#
        );
        let response = run_as(&schema, &["doctor"], "token", &document).await;
        assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
        let error = first_error(&response);
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("exactly one"), "{content}: {error}");
        assert_ne!(
            error["extensions"]["code"], "UNAVAILABLE",
            "no service was asked: {error}"
        );
    }
    // Two kinds given in variables are refused too.
    let request = Request::new(
        r#"mutation($content: EntryContentInput!) { amendRecordEntry(input: { requestId: "r", entryId: "e", reason: "typo", content: $content }) { id } }"#,
    )
    .variables(Variables::from_json(json!({
        "content": {
            "observation": { "code": "pulse", "value": "72", "observedAt": "2026-01-05T09:00:00Z" },
            "labResult": { "code": "2345-7", "value": "5.4", "observedAt": "2026-01-05T09:00:00Z" }
        }
    })));
    let response = schema
        .execute(as_caller(request, &["doctor"], "token"))
        .await;
    assert_eq!(response.data, async_graphql::Value::Null, "nothing ran");
    let error = first_error(&response);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("exactly one"),
        "{error}"
    );
}

#[tokio::test]
async fn over_http_an_entry_content_of_two_kinds_is_bad_user_input() {
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
    let subject = DevIssuer::demo_subject("doctor").unwrap();
    let token = issuer.sign(&issuer.claims(&subject, "doctor", &["doctor"], WEB_CLIENT));
    let query = format!(
        r#"mutation {{ createRecordEntry(input: {{ requestId: "r", patientId: "p", content: {} }}) {{ id }} }}"#,
        NOT_ONE_KIND[0]
    );
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
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    assert_eq!(error["extensions"]["service"], "gateway", "{answer}");
    assert!(answer["data"].is_null(), "nothing ran: {answer}");
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
    let fields = |head: &str| -> Vec<String> {
        block(head)
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("\"\"\"") && l.contains(':'))
            .map(str::to_string)
            .collect()
    };
    let values = |head: &str| -> Vec<String> {
        let mut values = Vec::new();
        let mut in_doc = false;
        for line in block(head).lines().skip(1).map(str::trim) {
            if line == "\"\"\"" {
                in_doc = !in_doc;
            } else if !in_doc && !line.is_empty() {
                values.push(line.to_string());
            }
        }
        values
    };

    // The oneof input: exactly one kind, each optional in itself.
    assert_eq!(
        fields("input EntryContentInput @oneOf"),
        [
            "encounter: EncounterInput",
            "diagnosis: DiagnosisInput",
            "allergy: AllergyInput",
            "observation: ObservationInput",
            "labResult: ObservationInput",
            "document: RecordDocumentInput",
        ]
    );
    // The output: one nullable field per kind (no union for clients to switch on).
    assert_eq!(
        fields("type EntryContent"),
        [
            "encounter: Encounter",
            "diagnosis: Diagnosis",
            "allergy: Allergy",
            "observation: Observation",
            "labResult: Observation",
            "document: RecordDocument",
        ]
    );
    // Enums without their prefix.
    assert_eq!(
        values("enum EntryKind"),
        [
            "ENCOUNTER",
            "DIAGNOSIS",
            "ALLERGY",
            "OBSERVATION",
            "LAB_RESULT",
            "DOCUMENT"
        ]
    );
    assert_eq!(values("enum EntryStatus"), ["DRAFT", "SIGNED", "AMENDED"]);
    assert_eq!(values("enum DiagnosisStatus"), ["ACTIVE", "RESOLVED"]);
    assert_eq!(
        values("enum Severity"),
        ["MILD", "MODERATE", "SEVERE", "LIFE_THREATENING"]
    );
    assert_eq!(
        values("enum AccessBasis"),
        [
            "OWN",
            "CARE",
            "CLINIC",
            "GRANT",
            "EMERGENCY",
            "ADMIN",
            "NONE"
        ]
    );
    assert_eq!(values("enum AccessAction"), ["READ", "WRITE"]);
    assert_eq!(values("enum ExportFormat"), ["JSON", "PDF"]);
    // Enum values in answers are nullable (an unknown value reads as null); versions are Int.
    let entry = fields("type RecordEntry");
    for line in [
        "kind: EntryKind",
        "status: EntryStatus",
        "content: EntryContent!",
        "version: Int!",
    ] {
        assert!(entry.iter().any(|f| f == line), "{line} in {entry:?}");
    }
    // The root fields and their arguments.
    let query = fields("type Query");
    for line in [
        "patientCard(patientId: ID): PatientCard!",
        "recordEntries(patientId: ID, kinds: [EntryKind!], pageSize: Int, pageToken: String): RecordEntryPage!",
        "recordEntry(id: ID!): RecordEntry!",
        "accessLog(patientId: ID, flaggedOnly: Boolean! = false, pageSize: Int, pageToken: String): AccessLogPage!",
        "recordGrants(patientId: ID, includeEnded: Boolean! = false): [RecordGrant!]!",
        "breakGlassAccesses(pageSize: Int, pageToken: String): BreakGlassAccessPage!",
        "accessLogIntegrity(patientId: ID): IntegrityReport!",
        "cardExport(format: ExportFormat!): CardExport!",
    ] {
        assert!(query.iter().any(|f| f == line), "{line} in Query");
    }
    let mutation = fields("type Mutation");
    for line in [
        "createRecordEntry(input: CreateRecordEntryInput!): RecordEntry!",
        "updateDraft(input: UpdateDraftInput!): RecordEntry!",
        "discardDraft(input: DiscardDraftInput!): ID!",
        "signRecordEntry(input: SignRecordEntryInput!): RecordEntry!",
        "amendRecordEntry(input: AmendRecordEntryInput!): RecordEntry!",
        "grantRecordAccess(input: GrantRecordAccessInput!): RecordGrant!",
        "revokeRecordAccess(input: RevokeRecordAccessInput!): RecordGrant!",
        "breakGlass(input: BreakGlassInput!): BreakGlassAccess!",
    ] {
        assert!(mutation.iter().any(|f| f == line), "{line} in Mutation");
    }
    // Every mutation's input carries its idempotency key.
    for input in [
        "CreateRecordEntryInput",
        "UpdateDraftInput",
        "DiscardDraftInput",
        "SignRecordEntryInput",
        "AmendRecordEntryInput",
        "GrantRecordAccessInput",
        "RevokeRecordAccessInput",
        "BreakGlassInput",
    ] {
        let fields = fields(&format!("input {input}"));
        assert!(
            fields.iter().any(|f| f == "requestId: String!"),
            "{input}: {fields:?}"
        );
    }
    assert_eq!(
        fields("type CardExport"),
        [
            "fileName: String!",
            "mediaType: String!",
            "sizeBytes: Int!",
            "content: String!"
        ]
    );
}

// ---- over a stand-in svc-records --------------------------------------------------------

const ENTRY_ID: &str = "0193a6f4-1f2b-7c3d-8e4f-5a6b7c8d9e0f";
const DOCTOR_TOKEN: &str = "doctor-token";
const PATIENT_TOKEN: &str = "patient-token";

/// Answers `CreateEntry` (echoing the content it got), `GetEntry` for one entry to the doctor
/// (with values this gateway does not know; anyone else: NOT_FOUND, as svc-records answers
/// what is out of a caller's reach) and `ExportCard`; keeps what it was sent.
#[derive(Clone, Default)]
struct StandIn {
    created: Arc<Mutex<Vec<(String, pb::CreateEntryRequest)>>>,
    exports: Arc<Mutex<Vec<i32>>>,
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
impl RecordsService for StandIn {
    async fn create_entry(
        &self,
        request: tonic::Request<pb::CreateEntryRequest>,
    ) -> Result<tonic::Response<pb::Entry>, tonic::Status> {
        let bearer = bearer(&request);
        let r = request.into_inner();
        self.created.lock().unwrap().push((bearer, r.clone()));
        Ok(tonic::Response::new(pb::Entry {
            entry_id: ENTRY_ID.into(),
            patient_id: r.patient_id,
            author_id: "doctor".into(),
            kind: pb::EntryKind::Document as i32,
            status: pb::EntryStatus::Draft as i32,
            content: r.content,
            version: 1,
            ..Default::default()
        }))
    }

    async fn get_entry(
        &self,
        request: tonic::Request<pb::GetEntryRequest>,
    ) -> Result<tonic::Response<pb::Entry>, tonic::Status> {
        if bearer(&request) != format!("Bearer {DOCTOR_TOKEN}")
            || request.get_ref().entry_id != ENTRY_ID
        {
            return Err(tonic::Status::not_found("no such entry"));
        }
        Ok(tonic::Response::new(pb::Entry {
            entry_id: ENTRY_ID.into(),
            kind: 99,
            status: 0,
            content: Some(pb::EntryContent { body: None }),
            version: 3,
            ..Default::default()
        }))
    }

    async fn export_card(
        &self,
        request: tonic::Request<pb::ExportCardRequest>,
    ) -> Result<tonic::Response<pb::CardExport>, tonic::Status> {
        self.exports.lock().unwrap().push(request.get_ref().format);
        Ok(tonic::Response::new(pb::CardExport {
            file_name: "card.pdf".into(),
            media_type: "application/pdf".into(),
            content: b"%PDF-1.7".to_vec(),
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
        .add_service(RecordsServiceServer::new(stand_in.clone()))
        .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    tokio::spawn(server);
    let (_, config) = common::default_config();
    let endpoints = ServiceName::ALL.map(|s| {
        let port = if s == ServiceName::Records {
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
async fn a_document_reaches_the_service_decoded_and_comes_back_as_base64() {
    let f = fixture().await;
    let response = run_as(
        &f.schema,
        &["doctor"],
        DOCTOR_TOKEN,
        &document_entry("JVBERi0xLjc="),
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let entry = response.data.into_json().unwrap()["createRecordEntry"].clone();
    assert_eq!(entry["id"], ENTRY_ID);
    assert_eq!(entry["content"]["document"]["content"], "JVBERi0xLjc=");
    assert_eq!(entry["content"]["document"]["sizeBytes"], 8);

    let created = f.stand_in.created.lock().unwrap().clone();
    let [(bearer, request)] = created.as_slice() else {
        panic!("one call: {created:?}");
    };
    assert_eq!(
        *bearer,
        format!("Bearer {DOCTOR_TOKEN}"),
        "the caller's token"
    );
    assert_eq!(request.request_id, "r");
    let Some(Body::Document(document)) = request.content.as_ref().and_then(|c| c.body.clone())
    else {
        panic!("a document: {request:?}");
    };
    assert_eq!(document.content, b"%PDF-1.7", "the bytes, not the text");
    assert_eq!(document.title, "Discharge letter");
}

#[tokio::test]
async fn values_this_gateway_does_not_know_read_as_null() {
    let f = fixture().await;
    let document = format!(
        r#"{{ recordEntry(id: "{ENTRY_ID}") {{ kind status version content {{ encounter {{ plan }} diagnosis {{ text }} allergy {{ substance }} observation {{ code }} labResult {{ code }} document {{ title }} }} }} }}"#
    );
    let response = run_as(&f.schema, &["doctor"], DOCTOR_TOKEN, &document).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let entry = response.data.into_json().unwrap()["recordEntry"].clone();
    assert_eq!(
        entry,
        json!({
            "kind": null, "status": null, "version": 3,
            "content": {
                "encounter": null, "diagnosis": null, "allergy": null,
                "observation": null, "labResult": null, "document": null
            }
        })
    );
}

#[tokio::test]
async fn an_entry_out_of_reach_is_not_found_from_records() {
    let f = fixture().await;
    let document = format!(r#"{{ recordEntry(id: "{ENTRY_ID}") {{ id }} }}"#);
    let response = run_as(&f.schema, &["patient"], PATIENT_TOKEN, &document).await;
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{error}");
    assert_eq!(error["extensions"]["service"], "records", "{error}");
    assert_eq!(error["message"], "no such entry");
}

#[tokio::test]
async fn a_card_export_is_inline_as_base64() {
    let f = fixture().await;
    let response = run_as(
        &f.schema,
        &["patient"],
        PATIENT_TOKEN,
        "{ cardExport(format: PDF) { fileName mediaType sizeBytes content } }",
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().unwrap()["cardExport"],
        json!({
            "fileName": "card.pdf",
            "mediaType": "application/pdf",
            "sizeBytes": 8,
            "content": "JVBERi0xLjc="
        })
    );
    assert_eq!(
        *f.stand_in.exports.lock().unwrap(),
        [pb::ExportFormat::Pdf as i32]
    );
}
