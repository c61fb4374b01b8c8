//! svc-records against real databases (PostgreSQL and SQLite), the dev OIDC issuer and
//! svc-accounts, with other services' events arriving on the bus: the card from draft to
//! amendment, sealed storage, access decided per patient and logged, the log's chain and its
//! tampering, grants, emergency access, exports, erasure and key rotation.

mod common;

use common::{Harness, pdf_text, start, ts, with};
use medmesh_proto::records::v1::{self as pb, entry_content::Body};
use prost::Message as _;
use svc_kit::testing::TestDb;
use tonic::Code;

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn encounter(complaint: &str) -> pb::EntryContent {
    pb::EntryContent {
        body: Some(Body::Encounter(pb::Encounter {
            complaint: complaint.into(),
            findings: "Faringe hiperemiată".into(),
            plan: "Repaus, lichide".into(),
        })),
    }
}

fn allergy(substance: &str) -> pb::EntryContent {
    pb::EntryContent {
        body: Some(Body::Allergy(pb::Allergy {
            substance: substance.into(),
            reaction: "urticarie".into(),
            severity: pb::Severity::Severe as i32,
            notes: String::new(),
        })),
    }
}

fn observation(code: &str, value: &str) -> pb::EntryContent {
    pb::EntryContent {
        body: Some(Body::Observation(pb::Observation {
            code: code.into(),
            name: "Pulse".into(),
            value: value.into(),
            unit: "/min".into(),
            reference_range: "60-100".into(),
            observed_at: Some(ts(chrono::Utc::now())),
            comment: String::new(),
        })),
    }
}

struct World {
    doctor: String,
    doctor_id: String,
    patient: String,
    patient_id: String,
    other_doctor: String,
}

async fn world(h: &Harness) -> World {
    let doctor = h.token("doctor");
    let patient = h.token("patient");
    let other_doctor = h.token_for("dr-stranger", &["doctor"]);
    let doctor_id = h.user_id(&doctor).await;
    let patient_id = h.user_id(&patient).await;
    h.user_id(&other_doctor).await;
    h.book(&doctor_id, &patient_id, "clinic-1").await;
    World {
        doctor,
        doctor_id,
        patient,
        patient_id,
        other_doctor,
    }
}

async fn create(
    h: &Harness,
    token: &str,
    patient_id: &str,
    content: pb::EntryContent,
) -> pb::Entry {
    h.client()
        .create_entry(with(
            pb::CreateEntryRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                patient_id: patient_id.into(),
                content: Some(content),
                appointment_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn sign(h: &Harness, token: &str, entry: &pb::Entry) -> pb::Entry {
    h.client()
        .sign_entry(with(
            pb::SignEntryRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                entry_id: entry.entry_id.clone(),
                version: entry.version,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn card(
    h: &Harness,
    token: &str,
    patient_id: &str,
) -> Result<pb::PatientCard, tonic::Status> {
    h.client()
        .get_patient_card(with(
            pb::GetPatientCardRequest {
                patient_id: patient_id.into(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn log_of(h: &Harness, token: &str, patient_id: &str) -> Vec<pb::AccessLogEntry> {
    h.client()
        .list_access_log(with(
            pb::ListAccessLogRequest {
                patient_id: patient_id.into(),
                page_size: 200,
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries
}

async fn both(test: impl AsyncFn(TestDb)) {
    test(TestDb::postgres().await).await;
    test(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_card_from_draft_to_signature_to_amendment() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let draft = create(
            &h,
            &w.doctor,
            &w.patient_id,
            encounter("Durere în gât, тошнота"),
        )
        .await;
        assert_eq!(draft.status(), pb::EntryStatus::Draft);
        let sealed_of = |entry_id: String| {
            let db = h.db.clone();
            async move {
                use sea_orm::ConnectionTrait;
                db.query_one_raw(sea_orm::Statement::from_sql_and_values(
                    db.get_database_backend(),
                    "SELECT sealed FROM entries WHERE entry_id = $1",
                    [entry_id.into()],
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<Vec<u8>>("", "sealed")
                .unwrap()
            }
        };
        let first_draft = sealed_of(draft.entry_id.clone()).await;
        // The patient never sees a draft; the doctor does.
        let get = |token: String, id: String| {
            let mut client = h.client();
            async move {
                client
                    .get_entry(with(pb::GetEntryRequest { entry_id: id }, &token))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        assert_eq!(
            code(get(w.patient.clone(), draft.entry_id.clone()).await),
            Code::NotFound
        );
        assert_eq!(
            card(&h, &w.doctor, &w.patient_id)
                .await
                .unwrap()
                .drafts
                .len(),
            1
        );
        assert!(card(&h, &w.patient, "").await.unwrap().drafts.is_empty());

        // Edited during the visit (at the version read), then signed; a retry of the signature
        // answers the same.
        let edited = h
            .client()
            .update_draft(with(
                pb::UpdateDraftRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    entry_id: draft.entry_id.clone(),
                    version: draft.version,
                    content: Some(encounter("Durere în gât de 3 zile")),
                    appointment_id: String::new(),
                },
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(edited.version, 2);
        let sign_request = pb::SignEntryRequest {
            request_id: "sign-once".into(),
            entry_id: draft.entry_id.clone(),
            version: edited.version,
        };
        let signed = h
            .client()
            .sign_entry(with(sign_request.clone(), &w.doctor))
            .await
            .unwrap()
            .into_inner();
        let again = h
            .client()
            .sign_entry(with(sign_request, &w.doctor))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(signed, again);
        assert_eq!(signed.status(), pb::EntryStatus::Signed);
        assert_eq!(signed.signed_by, w.doctor_id);

        // A signed entry is never edited, discarded or signed again.
        let edit = h
            .client()
            .update_draft(with(
                pb::UpdateDraftRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    entry_id: signed.entry_id.clone(),
                    version: signed.version,
                    content: Some(encounter("rewritten")),
                    appointment_id: String::new(),
                },
                &w.doctor,
            ))
            .await;
        assert_eq!(code(edit), Code::FailedPrecondition);
        let discard = h
            .client()
            .discard_draft(with(
                pb::DiscardDraftRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    entry_id: signed.entry_id.clone(),
                    version: signed.version,
                },
                &w.doctor,
            ))
            .await;
        assert_eq!(code(discard), Code::FailedPrecondition);

        // Corrected by amendment: the card shows the amendment, the list shows both.
        let amend = |entry_id: String, reason: &str| {
            let mut client = h.client();
            let token = w.doctor.clone();
            let reason = reason.to_string();
            async move {
                client
                    .amend_entry(with(
                        pb::AmendEntryRequest {
                            request_id: uuid::Uuid::new_v4().to_string(),
                            entry_id,
                            content: Some(encounter("Durere în gât de 5 zile")),
                            reason,
                        },
                        &token,
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let amendment = amend(signed.entry_id.clone(), "wrong duration")
            .await
            .unwrap();
        assert_eq!(amendment.amends_entry_id, signed.entry_id);
        assert_eq!(amendment.amendment_reason, "wrong duration");
        assert_eq!(amendment.status(), pb::EntryStatus::Signed);
        // The original is amended once; a further correction amends the amendment.
        assert_eq!(
            code(amend(signed.entry_id.clone(), "again").await),
            Code::FailedPrecondition
        );
        amend(amendment.entry_id.clone(), "again").await.unwrap();
        let patient_card = card(&h, &w.patient, "").await.unwrap();
        assert_eq!(patient_card.recent_encounters.len(), 1);
        assert_eq!(patient_card.signed_entries, 3);
        let listed = h
            .client()
            .list_entries(with(pb::ListEntriesRequest::default(), &w.patient))
            .await
            .unwrap()
            .into_inner()
            .entries;
        let statuses: Vec<_> = listed.iter().map(|e| e.status()).collect();
        assert_eq!(
            statuses,
            [
                pb::EntryStatus::Signed,
                pb::EntryStatus::Amended,
                pb::EntryStatus::Amended
            ]
        );
        assert_eq!(listed[2].amended_by_entry_id, amendment.entry_id);

        // At rest: ciphertext only, and a value moved to another row does not open.
        let raw: Vec<Vec<u8>> = {
            use sea_orm::ConnectionTrait;
            h.db.query_all_raw(sea_orm::Statement::from_string(
                h.db.get_database_backend(),
                "SELECT sealed FROM entries",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<Vec<u8>>("", "sealed").unwrap())
            .collect()
        };
        for bytes in &raw {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("Durere") && !text.contains("gât"),
                "plaintext at rest"
            );
        }
        svc_kit::testing::execute(
            &h.db,
            &format!(
                "UPDATE entries SET sealed = (SELECT sealed FROM entries WHERE entry_id = '{}')
                 WHERE entry_id = '{}'",
                amendment.entry_id, signed.entry_id
            ),
        )
        .await;
        let moved = get(w.patient.clone(), signed.entry_id.clone())
            .await
            .unwrap_err();
        assert_eq!(moved.code(), Code::Internal);
        assert!(!moved.message().contains("Durere"), "{}", moved.message());
        // Nor does the first draft's content, put back over the signed entry.
        {
            use sea_orm::ConnectionTrait;
            h.db.execute_raw(sea_orm::Statement::from_sql_and_values(
                h.db.get_database_backend(),
                "UPDATE entries SET sealed = $1 WHERE entry_id = $2",
                [first_draft.into(), signed.entry_id.clone().into()],
            ))
            .await
            .unwrap();
        }
        let restored = get(w.patient.clone(), signed.entry_id.clone())
            .await
            .unwrap_err();
        assert_eq!(restored.code(), Code::Internal);

        // Every read and write is in the patient's log, with why.
        let log = log_of(&h, &w.patient, "").await;
        assert!(log.iter().any(|l| l.actor_id == w.doctor_id
            && l.action() == pb::AccessAction::Write
            && l.basis() == pb::AccessBasis::Care));
        assert!(
            log.iter()
                .any(|l| l.actor_id == w.patient_id && l.resource == "card")
        );
        // The patient's attempt on the draft is there too, refused.
        let refused: Vec<_> = log.iter().filter(|l| !l.allowed).collect();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].actor_id, w.patient_id);
        assert_eq!(refused[0].resource, format!("entry:{}", draft.entry_id));
        // A write's answer is kept for retries without its content (no plaintext at rest).
        let kept: Vec<Vec<u8>> = {
            use sea_orm::ConnectionTrait;
            h.db.query_all_raw(sea_orm::Statement::from_string(
                h.db.get_database_backend(),
                "SELECT response FROM idempotency_keys",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<Vec<u8>>("", "response").unwrap())
            .collect()
        };
        assert!(!kept.is_empty());
        for bytes in &kept {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("Durere") && !text.contains("wrong duration"),
                "{text}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn access_is_decided_per_patient_and_every_attempt_is_logged() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let entry = create(&h, &w.doctor, &w.patient_id, allergy("Penicilină")).await;
        sign(&h, &w.doctor, &entry).await;
        let stranger_id = h.user_id(&w.other_doctor).await;

        // A doctor without a tie: "not found", and the attempt is in the log.
        assert_eq!(
            code(card(&h, &w.other_doctor, &w.patient_id).await),
            Code::NotFound
        );
        let log = log_of(&h, &w.patient, "").await;
        let refused = log.iter().find(|l| l.actor_id == stranger_id).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.basis(), pb::AccessBasis::None);

        // A grant lets them in for its period; revoked, it does not.
        let grant = h
            .client()
            .grant_access(with(
                pb::GrantAccessRequest {
                    request_id: "g1".into(),
                    doctor_id: stranger_id.clone(),
                    starts_at: None,
                    ends_at: Some(ts(chrono::Utc::now() + chrono::Duration::days(7))),
                },
                &w.patient,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(grant.active);
        let seen = card(&h, &w.other_doctor, &w.patient_id).await.unwrap();
        assert_eq!(seen.basis(), pb::AccessBasis::Grant);
        assert_eq!(seen.allergies.len(), 1);
        h.client()
            .revoke_access(with(
                pb::RevokeAccessRequest {
                    request_id: "r1".into(),
                    grant_id: grant.grant_id.clone(),
                },
                &w.patient,
            ))
            .await
            .unwrap();
        assert_eq!(
            code(card(&h, &w.other_doctor, &w.patient_id).await),
            Code::NotFound
        );
        // A grant that has run out lets no one in.
        let short = h
            .client()
            .grant_access(with(
                pb::GrantAccessRequest {
                    request_id: "g2".into(),
                    doctor_id: stranger_id.clone(),
                    starts_at: None,
                    ends_at: Some(ts(chrono::Utc::now() + chrono::Duration::milliseconds(800))),
                },
                &w.patient,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(short.active);
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
        assert_eq!(
            code(card(&h, &w.other_doctor, &w.patient_id).await),
            Code::NotFound
        );
        // Another patient cannot revoke it, and does not learn it exists.
        let other_patient = h.token_for("another-patient", &["patient"]);
        h.user_id(&other_patient).await;
        let revoke = h
            .client()
            .revoke_access(with(
                pb::RevokeAccessRequest {
                    request_id: "r2".into(),
                    grant_id: short.grant_id.clone(),
                },
                &other_patient,
            ))
            .await;
        assert_eq!(code(revoke), Code::NotFound);
        assert_eq!(
            code(card(&h, &other_patient, &w.patient_id).await),
            Code::NotFound
        );

        // Break glass: allowed with a reason, flagged, shown to the patient and to admins.
        let short_reason = h
            .client()
            .break_glass(with(
                pb::BreakGlassRequest {
                    request_id: "bg0".into(),
                    patient_id: w.patient_id.clone(),
                    reason: "urgent".into(),
                },
                &w.other_doctor,
            ))
            .await;
        assert_eq!(code(short_reason), Code::InvalidArgument);
        let glass = h
            .client()
            .break_glass(with(
                pb::BreakGlassRequest {
                    request_id: "bg1".into(),
                    patient_id: w.patient_id.clone(),
                    reason: "Unconscious in the emergency room".into(),
                },
                &w.other_doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        let seen = card(&h, &w.other_doctor, &w.patient_id).await.unwrap();
        assert_eq!(seen.basis(), pb::AccessBasis::Emergency);
        let flagged = h
            .client()
            .list_access_log(with(
                pb::ListAccessLogRequest {
                    flagged_only: true,
                    ..Default::default()
                },
                &w.patient,
            ))
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert!(flagged.len() >= 2, "{flagged:?}");
        assert!(
            flagged
                .iter()
                .all(|l| l.flagged && l.actor_id == stranger_id)
        );
        assert!(
            flagged
                .iter()
                .any(|l| l.reason == "Unconscious in the emergency room")
        );
        let admin = h.token("admin");
        let accesses = h
            .client()
            .list_break_glass(with(pb::ListBreakGlassRequest::default(), &admin))
            .await
            .unwrap()
            .into_inner()
            .accesses;
        assert_eq!(accesses[0].access_id, glass.access_id);

        // A nurse of a clinic the patient visits reads; a nurse elsewhere does not.
        let nurse = h.token_for("nurse-here", &["nurse"]);
        h.affiliate_nurse(&nurse, "clinic-1").await;
        assert_eq!(
            card(&h, &nurse, &w.patient_id).await.unwrap().basis(),
            pb::AccessBasis::Clinic
        );
        let far_nurse = h.token_for("nurse-elsewhere", &["nurse"]);
        h.affiliate_nurse(&far_nurse, "clinic-2").await;
        assert_eq!(
            code(card(&h, &far_nurse, &w.patient_id).await),
            Code::NotFound
        );
        // A nurse records observations as drafts, not diagnoses, and never signs.
        let vitals = create(&h, &nurse, &w.patient_id, observation("pulse", "72")).await;
        assert_eq!(vitals.status(), pb::EntryStatus::Draft);
        let diagnosis = h
            .client()
            .create_entry(with(
                pb::CreateEntryRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    patient_id: w.patient_id.clone(),
                    content: Some(allergy("Latex")),
                    appointment_id: String::new(),
                },
                &nurse,
            ))
            .await;
        assert_eq!(code(diagnosis), Code::InvalidArgument);
        // The doctor signs the nurse's draft for the visit.
        let signed = sign(&h, &w.doctor, &vitals).await;
        assert_eq!(signed.author_id, h.user_id(&nurse).await);
        assert_eq!(signed.signed_by, w.doctor_id);

        // Admins read the log, never the card; partners and services reach nothing.
        assert_eq!(
            code(card(&h, &admin, &w.patient_id).await),
            Code::PermissionDenied
        );
        assert!(!log_of(&h, &admin, &w.patient_id).await.is_empty());
        for client in ["partner-demo", "svc-notify"] {
            let token = h.client_token(client);
            assert_eq!(
                code(card(&h, &token, &w.patient_id).await),
                Code::PermissionDenied
            );
        }
        // Each of those three refusals is in the patient's log.
        let log = log_of(&h, &w.patient, "").await;
        let by_role = log
            .iter()
            .filter(|l| !l.allowed && l.reason == "not allowed for this role")
            .count();
        assert_eq!(by_role, 3, "{log:?}");
    })
    .await;
}

#[tokio::test]
async fn the_log_is_chained_and_an_edit_is_named() {
    let h = start(TestDb::postgres().await).await;
    let w = world(&h).await;
    for _ in 0..3 {
        card(&h, &w.doctor, &w.patient_id).await.unwrap();
    }
    assert_eq!(
        code(card(&h, &w.other_doctor, &w.patient_id).await),
        Code::NotFound
    );
    let admin = h.token("admin");
    let verify = |patient_id: &str| {
        let mut client = h.client();
        let request = with(
            pb::VerifyAccessLogRequest {
                patient_id: patient_id.into(),
            },
            &admin,
        );
        async move {
            client
                .verify_access_log(request)
                .await
                .unwrap()
                .into_inner()
        }
    };
    let report = verify("").await;
    assert!(report.intact, "{report:?}");
    assert!(report.entries_checked >= 4);
    // The table refuses edits and deletions ...
    use sea_orm::ConnectionTrait;
    let edit = h
        .db
        .execute_unprepared("UPDATE access_log SET reason = 'nothing happened' WHERE sequence = 2")
        .await;
    assert!(edit.is_err());
    assert!(
        h.db.execute_unprepared("DELETE FROM access_log")
            .await
            .is_err()
    );
    // ... and someone who gets past that is found out, at the first link they touched.
    h.db.execute_unprepared(
        "ALTER TABLE access_log DISABLE TRIGGER access_log_append_only;
         UPDATE access_log SET actor_id = 'someone else' WHERE sequence = 2;
         ALTER TABLE access_log ENABLE TRIGGER access_log_append_only",
    )
    .await
    .unwrap();
    let report = verify(&w.patient_id).await;
    assert!(!report.intact);
    let broken = report.first_broken.unwrap();
    assert_eq!(
        (broken.patient_id.as_str(), broken.sequence),
        (w.patient_id.as_str(), 2)
    );
    assert!(broken.problem.contains("changed"), "{}", broken.problem);
    // A removed entry is named too.
    h.db.execute_unprepared(
        "ALTER TABLE access_log DISABLE TRIGGER access_log_append_only;
         UPDATE access_log SET actor_id = (SELECT actor_id FROM access_log WHERE sequence = 1)
            WHERE sequence = 2;
         DELETE FROM access_log WHERE sequence = 3;
         ALTER TABLE access_log ENABLE TRIGGER access_log_append_only",
    )
    .await
    .unwrap();
    // (Entry 2 is as it was again; entry 3 is gone.)
    let report = verify("").await;
    assert!(!report.intact);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.sequence, 3);
    assert!(broken.problem.contains("missing"), "{}", broken.problem);

    // When the log cannot be written, nothing is read: the card is refused, not served unlogged.
    h.db.execute_unprepared("ALTER TABLE access_log RENAME TO access_log_away")
        .await
        .unwrap();
    let closed = card(&h, &w.doctor, &w.patient_id).await.unwrap_err();
    assert_eq!(closed.code(), Code::Unavailable, "{closed:?}");
    h.db.execute_unprepared("ALTER TABLE access_log_away RENAME TO access_log")
        .await
        .unwrap();
    assert!(card(&h, &w.doctor, &w.patient_id).await.is_ok());
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    let h = start(TestDb::postgres().await).await;
    let w = world(&h).await;
    let bad = h
        .client()
        .create_entry(with(
            pb::CreateEntryRequest {
                request_id: "bad".into(),
                patient_id: "not-an-id".into(),
                content: Some(pb::EntryContent {
                    body: Some(Body::Diagnosis(pb::Diagnosis {
                        icd10_code: "flu".into(),
                        text: String::new(),
                        status: 0,
                    })),
                }),
                appointment_id: "also-bad".into(),
            },
            &w.doctor,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let named: Vec<String> = svc_kit::error::field_violations(&bad)
        .into_iter()
        .map(|v| v.field)
        .collect();
    for field in [
        "patient_id",
        "appointment_id",
        "content.diagnosis.icd10_code",
        "content.diagnosis.text",
        "content.diagnosis.status",
    ] {
        assert!(named.iter().any(|f| f == field), "{field}: {named:?}");
    }
    // An appointment of someone else's is not this patient's.
    let elsewhere = h
        .book(&w.doctor_id, &uuid::Uuid::new_v4().to_string(), "clinic-1")
        .await;
    let wrong = h
        .client()
        .create_entry(with(
            pb::CreateEntryRequest {
                request_id: "wrong-appointment".into(),
                patient_id: w.patient_id.clone(),
                content: Some(encounter("x")),
                appointment_id: elsewhere,
            },
            &w.doctor,
        ))
        .await;
    assert_eq!(code(wrong), Code::InvalidArgument);
    // A stale version is refused.
    let draft = create(&h, &w.doctor, &w.patient_id, encounter("first")).await;
    let stale = h
        .client()
        .sign_entry(with(
            pb::SignEntryRequest {
                request_id: "stale".into(),
                entry_id: draft.entry_id.clone(),
                version: draft.version + 1,
            },
            &w.doctor,
        ))
        .await;
    assert_eq!(code(stale), Code::FailedPrecondition);
    assert_eq!(h.count("SELECT COUNT(*) AS n FROM entries").await, 1);
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM entries WHERE status = 'signed'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_patient_downloads_their_card_in_their_own_script() {
    let h = start(TestDb::postgres().await).await;
    let w = world(&h).await;
    for content in [allergy("Пеніцилін"), encounter("Durere în gât, ștergere")] {
        let e = create(&h, &w.doctor, &w.patient_id, content).await;
        sign(&h, &w.doctor, &e).await;
    }
    let export = |format: pb::ExportFormat, token: String| {
        let mut client = h.client();
        async move {
            client
                .export_card(with(
                    pb::ExportCardRequest {
                        format: format as i32,
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let json = export(pb::ExportFormat::Json, w.patient.clone())
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&json.content).unwrap();
    assert_eq!(parsed["entries"].as_array().unwrap().len(), 2);
    assert!(
        String::from_utf8(json.content)
            .unwrap()
            .contains("Пеніцилін")
    );
    let pdf = export(pb::ExportFormat::Pdf, w.patient.clone())
        .await
        .unwrap();
    assert_eq!(pdf.media_type, "application/pdf");
    let text = pdf_text(&pdf.content);
    assert!(text.contains("Пеніцилін"), "{text}");
    assert!(text.contains("ștergere"), "{text}");
    // Only the patient downloads their card.
    assert_eq!(
        code(export(pb::ExportFormat::Pdf, w.doctor.clone()).await),
        Code::PermissionDenied
    );
    let log = log_of(&h, &w.patient, "").await;
    assert!(log.iter().any(|l| l.resource == "export:pdf"));
}

#[tokio::test]
async fn medication_history_and_erasure_come_from_other_services_events() {
    use medmesh_proto::pharmacy::v1 as rx;
    let h = start(TestDb::postgres().await).await;
    let w = world(&h).await;
    let prescription = rx::PrescriptionEvent {
        prescription: Some(rx::Prescription {
            prescription_id: uuid::Uuid::now_v7().to_string(),
            patient_id: w.patient_id.clone(),
            doctor_id: w.doctor_id.clone(),
            items: vec![rx::PrescriptionItem {
                medication_id: "m1".into(),
                medication_name: "Парацетамол 500 mg".into(),
                quantity: 20,
                dose: "1 tablet".into(),
                frequency: "3 times a day".into(),
                duration_days: 5,
                ..Default::default()
            }],
            created_at: Some(ts(chrono::Utc::now())),
            updated_at: Some(ts(chrono::Utc::now())),
            ..Default::default()
        }),
        actor: None,
        pharmacy_name: "Farmacia Centrală".into(),
    };
    h.publish(
        "medmesh.pharmacy.v1",
        "medmesh.pharmacy.v1.prescription.issued",
        "rx",
        "medmesh.pharmacy.v1.PrescriptionEvent",
        prescription.encode_to_vec(),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM medication_courses", 1)
        .await;
    let seen = card(&h, &w.patient, "").await.unwrap();
    assert_eq!(
        seen.medications[0].lines[0].medication_name,
        "Парацетамол 500 mg"
    );
    assert_eq!(seen.medications[0].status, "issued");

    // Erasure: what the law keeps (signed entries in retention) stays, the rest goes.
    let kept = create(&h, &w.doctor, &w.patient_id, allergy("Latex")).await;
    sign(&h, &w.doctor, &kept).await;
    create(&h, &w.doctor, &w.patient_id, encounter("a draft")).await;
    h.publish(
        "medmesh.accounts.v1",
        "medmesh.accounts.v1.user.erased",
        &w.patient_id,
        "medmesh.accounts.v1.UserEvent",
        Vec::new(),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM erasures", 1).await;
    assert_eq!(h.count("SELECT COUNT(*) AS n FROM entries").await, 1);
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM medication_courses")
            .await,
        0
    );
    assert_eq!(h.count("SELECT kept_entries AS n FROM erasures").await, 1);
    assert_eq!(
        h.count(
            "SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'medmesh.records.v1.record.erased'"
        )
        .await,
        1
    );
    // A late event about the erased patient brings nothing back.
    let handled = h.count("SELECT COUNT(*) AS n FROM processed_events").await;
    h.publish(
        "medmesh.pharmacy.v1",
        "medmesh.pharmacy.v1.prescription.dispensed",
        "rx",
        "medmesh.pharmacy.v1.PrescriptionEvent",
        prescription.encode_to_vec(),
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM processed_events", handled + 1)
        .await;
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM medication_courses")
            .await,
        0
    );
    // When the kept entry's retention ends, the background work removes it.
    svc_kit::testing::execute(
        &h.db,
        "UPDATE entries SET signed_at = now() - interval '30 years';
         UPDATE erasures SET keep_until = now() - interval '1 day'",
    )
    .await;
    h.wait_for("SELECT COUNT(*) AS n FROM entries", 0).await;
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM medication_courses")
            .await,
        0
    );
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM erasures WHERE keep_until IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn a_new_key_takes_over_without_downtime() {
    let mut h = start(TestDb::postgres().await).await;
    let w = world(&h).await;
    for n in 0..5 {
        let e = create(
            &h,
            &w.doctor,
            &w.patient_id,
            encounter(&format!("visit {n}")),
        )
        .await;
        sign(&h, &w.doctor, &e).await;
    }
    assert_eq!(
        h.count("SELECT COUNT(*) AS n FROM entries WHERE key_id = 'dev'")
            .await,
        5
    );
    // Step 1 of docs/api/records.md: every replica learns the new key (still sealing with the
    // old one). Step 2: the new key becomes active and the old one retired, one replica at a
    // time; the replica not yet updated keeps answering beside the one that re-seals.
    const K2: &str = "a2V5IG51bWJlciB0d28gZm9yIHJvdGF0aW9uIHRlc3Q=";
    let learned = h.add_replica(|f| f.merge(("records.keys.k2", K2))).await;
    h.stops[0].cancel();
    let rotated = h
        .add_replica(|f| {
            f.merge(("records.active_key", "k2"))
                .merge(("records.keys.k2", K2))
                .merge(("records.retired_keys", vec!["dev"]))
        })
        .await;
    h.wait_for("SELECT COUNT(*) AS n FROM entries WHERE key_id <> 'k2'", 0)
        .await;
    // The replica that only learned the key reads what the other re-sealed.
    let before_update = h
        .client_of(learned)
        .list_entries(with(pb::ListEntriesRequest::default(), &w.patient))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(before_update.len(), 5);
    let seen = h
        .client_of(rotated)
        .list_entries(with(pb::ListEntriesRequest::default(), &w.patient))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().any(|e| matches!(
        e.content.as_ref().and_then(|c| c.body.as_ref()),
        Some(Body::Encounter(x)) if x.complaint == "visit 3"
    )));
    // Signed entries were sealed again, not changed: same versions, same signatures.
    assert!(
        seen.iter()
            .all(|e| e.version == 2 && e.status() == pb::EntryStatus::Signed)
    );
}

/// docs/api/records.md's access table, RPC by RPC: a role it does not name is refused with
/// PERMISSION_DENIED before anything is read; a role it names gets past the table (to the
/// per-patient decision or the request's checks).
#[tokio::test]
async fn every_rpc_refuses_the_roles_it_does_not_name() {
    let h = start(TestDb::sqlite().await).await;
    let mut c = h.client();
    let tokens = [
        ("admin", h.token_for("m.admin", &["admin"])),
        ("doctor", h.token_for("m.doctor", &["doctor"])),
        ("nurse", h.token_for("m.nurse", &["nurse"])),
        ("patient", h.token_for("m.patient", &["patient"])),
        ("pharmacist", h.token_for("m.pharmacist", &["pharmacist"])),
        ("partner", h.client_token("partner-demo")),
        ("svc-notify", h.client_token("svc-notify")),
        ("svc-gateway", h.client_token("medmesh-gateway")),
        ("svc-pharmacy", h.client_token("svc-pharmacy")),
    ];
    for (_, token) in &tokens[..5] {
        h.user_id(token).await;
    }
    macro_rules! rpc {
        ($name:ident, $request:expr, $allowed:expr) => {{
            let allowed: &[&str] = $allowed;
            for (role, token) in &tokens {
                let got = code(c.$name(with($request, token)).await);
                if allowed.contains(role) {
                    assert_ne!(
                        got,
                        Code::PermissionDenied,
                        "{} as {role}",
                        stringify!($name)
                    );
                } else {
                    assert_eq!(
                        got,
                        Code::PermissionDenied,
                        "{} as {role}",
                        stringify!($name)
                    );
                }
            }
        }};
    }
    const READERS: &[&str] = &["doctor", "nurse", "patient"];
    rpc!(
        get_patient_card,
        pb::GetPatientCardRequest::default(),
        READERS
    );
    rpc!(list_entries, pb::ListEntriesRequest::default(), READERS);
    rpc!(get_entry, pb::GetEntryRequest::default(), READERS);
    rpc!(
        create_entry,
        pb::CreateEntryRequest::default(),
        &["doctor", "nurse"]
    );
    rpc!(
        update_draft,
        pb::UpdateDraftRequest::default(),
        &["doctor", "nurse"]
    );
    rpc!(
        discard_draft,
        pb::DiscardDraftRequest::default(),
        &["doctor", "nurse"]
    );
    rpc!(sign_entry, pb::SignEntryRequest::default(), &["doctor"]);
    rpc!(amend_entry, pb::AmendEntryRequest::default(), &["doctor"]);
    rpc!(
        grant_access,
        pb::GrantAccessRequest::default(),
        &["patient"]
    );
    rpc!(
        revoke_access,
        pb::RevokeAccessRequest::default(),
        &["patient"]
    );
    rpc!(
        list_grants,
        pb::ListGrantsRequest::default(),
        &["doctor", "patient"]
    );
    rpc!(break_glass, pb::BreakGlassRequest::default(), &["doctor"]);
    rpc!(
        list_break_glass,
        pb::ListBreakGlassRequest::default(),
        &["admin"]
    );
    rpc!(
        list_access_log,
        pb::ListAccessLogRequest::default(),
        &["admin", "patient"]
    );
    rpc!(
        verify_access_log,
        pb::VerifyAccessLogRequest::default(),
        &["admin"]
    );
    rpc!(export_card, pb::ExportCardRequest::default(), &["patient"]);
}

/// Reads racing on one patient's record each get their own link: the chain stays whole, with
/// one entry per read and no sequence taken twice.
#[tokio::test]
async fn concurrent_reads_chain_one_after_another() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let before = h.count("SELECT COUNT(*) AS n FROM access_log").await;
        let reads = futures::future::join_all((0..24).map(|n| {
            let mut client = h.client();
            let token = if n % 2 == 0 {
                w.doctor.clone()
            } else {
                w.patient.clone()
            };
            let patient_id = w.patient_id.clone();
            async move {
                client
                    .get_patient_card(with(pb::GetPatientCardRequest { patient_id }, &token))
                    .await
                    .is_ok()
            }
        }))
        .await;
        assert!(reads.iter().all(|ok| *ok));
        assert_eq!(
            h.count("SELECT COUNT(*) AS n FROM access_log").await,
            before + 24
        );
        assert_eq!(
            h.count("SELECT MAX(sequence) AS n FROM access_log").await,
            h.count("SELECT COUNT(*) AS n FROM access_log").await
        );
        let report = h
            .client()
            .verify_access_log(with(
                pb::VerifyAccessLogRequest::default(),
                &h.token("admin"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(report.intact, "{report:?}");
    })
    .await;
}
