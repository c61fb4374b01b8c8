//! svc-pharmacy end to end over gRPC, on PostgreSQL and on SQLite: the catalog, stock with lots,
//! prescriptions reserving stock, dispensing (all or nothing, partial where allowed, generics),
//! every way a reservation is released, bad input, and who reaches what.

mod common;

use chrono::{Duration, Utc};
use common::{Harness, start, ts, with};
use medmesh_proto::pharmacy::v1 as pb;
use sea_orm::ConnectionTrait;
use svc_kit::testing::TestDb;
use tonic::Code;

/// Two pharmacies, paracetamol (and a generic of it) and ibuprofen in the catalog, a
/// pharmacist at the first pharmacy, a doctor and a patient in their care.
struct World {
    pharmacy: String,
    other_pharmacy: String,
    paracetamol: String,
    generic: String,
    ibuprofen: String,
    pharmacist: String,
    doctor: String,
    doctor_id: String,
    patient: String,
    patient_id: String,
}

async fn world(h: &Harness) -> World {
    let pharmacy = h.pharmacy("Farmacia Știință").await;
    let other_pharmacy = h.pharmacy("Аптека Здоров'я").await;
    let paracetamol = h.medication("Paracetamol", "paracetamol", "500 mg").await;
    let generic = h
        .medication("Paracetamol Zentiva", "Paracetamol", "500 MG")
        .await;
    let ibuprofen = h.medication("Ibuprofen", "ibuprofen", "400 mg").await;
    let pharmacist = h.token_for("ana.pharmacist", &["pharmacist"]);
    h.affiliate_pharmacist(&pharmacist, &pharmacy).await;
    let doctor = h.token_for("dr.ionescu", &["doctor"]);
    let doctor_id = h.user_id(&doctor).await;
    let patient = h.token_for("maria.popescu", &["patient"]);
    let patient_id = h.user_id(&patient).await;
    h.book(&doctor_id, &patient_id).await;
    World {
        pharmacy,
        other_pharmacy,
        paracetamol,
        generic,
        ibuprofen,
        pharmacist,
        doctor,
        doctor_id,
        patient,
        patient_id,
    }
}

fn item(medication_id: &str, quantity: i64) -> pb::PrescriptionItem {
    pb::PrescriptionItem {
        medication_id: medication_id.to_string(),
        quantity,
        dose: "1 tablet".into(),
        frequency: "3 times a day".into(),
        duration_days: 5,
        ..Default::default()
    }
}

fn prescription(
    w: &World,
    request_id: &str,
    items: Vec<pb::PrescriptionItem>,
) -> pb::CreatePrescriptionRequest {
    pb::CreatePrescriptionRequest {
        request_id: request_id.to_string(),
        patient_id: w.patient_id.clone(),
        pharmacy_id: w.pharmacy.clone(),
        items,
        ..Default::default()
    }
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn status(p: &pb::Prescription) -> pb::PrescriptionStatus {
    pb::PrescriptionStatus::try_from(p.status).unwrap()
}

async fn both(test: impl AsyncFn(TestDb)) {
    test(TestDb::postgres().await).await;
    test(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn prescribe_reserve_and_dispense() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 10, "L1")
            .await;

        // Ibuprofen is not in stock: the prescription is still issued, the shortfall shown.
        let p = c
            .create_prescription(with(
                prescription(
                    &w,
                    "rx-1",
                    vec![item(&w.paracetamol, 4), item(&w.ibuprofen, 2)],
                ),
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&p), pb::PrescriptionStatus::Issued);
        assert_eq!((p.items[0].reserved, p.items[0].shortfall), (4, 0));
        assert_eq!((p.items[1].reserved, p.items[1].shortfall), (0, 2));
        assert_eq!(p.items[0].medication_name, "Paracetamol");
        let level = h.stock(&w.pharmacist, &w.pharmacy, &w.paracetamol).await;
        assert_eq!((level.on_hand, level.reserved, level.available), (10, 4, 6));

        // The patient and the pharmacy see it, with a live stock check per item.
        let seen = c
            .get_prescription(with(
                pb::GetPrescriptionRequest {
                    prescription_id: p.prescription_id.clone(),
                },
                &w.patient,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen.items[0].available_now, 6);
        assert_eq!(seen.items[1].available_now, 0);

        // All or nothing: ibuprofen is short, so nothing is given and nothing changes.
        let dispense = |request_id: &str| pb::DispensePrescriptionRequest {
            request_id: request_id.to_string(),
            prescription_id: p.prescription_id.clone(),
            lines: vec![],
        };
        let refused = c
            .dispense_prescription(with(dispense("d-1"), &w.pharmacist))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(
            refused.message().contains("not enough stock"),
            "{}",
            refused.message()
        );
        let level = h.stock(&w.pharmacist, &w.pharmacy, &w.paracetamol).await;
        assert_eq!((level.on_hand, level.reserved), (10, 4));

        h.receive(&w.pharmacist, &w.pharmacy, &w.ibuprofen, 5, "I1")
            .await;
        let done = c
            .dispense_prescription(with(dispense("d-2"), &w.pharmacist))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&done), pb::PrescriptionStatus::Dispensed);
        assert_eq!(
            done.items.iter().map(|i| i.dispensed).collect::<Vec<_>>(),
            [4, 2]
        );
        let level = h.stock(&w.pharmacist, &w.pharmacy, &w.paracetamol).await;
        assert_eq!((level.on_hand, level.reserved, level.available), (6, 0, 6));
        assert_eq!(
            h.stock(&w.pharmacist, &w.pharmacy, &w.ibuprofen)
                .await
                .on_hand,
            3
        );

        // A retry gets the first answer and gives nothing twice; a second dispense is refused.
        let again = c
            .dispense_prescription(with(dispense("d-2"), &w.pharmacist))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again, done);
        assert_eq!(
            code(
                c.dispense_prescription(with(dispense("d-3"), &w.pharmacist))
                    .await
            ),
            Code::FailedPrecondition
        );
        assert_eq!(
            h.stock(&w.pharmacist, &w.pharmacy, &w.paracetamol)
                .await
                .on_hand,
            6
        );

        let events = |kind: &str| {
            format!("SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.pharmacy.v1.{kind}'")
        };
        assert_eq!(h.count(&events("prescription.issued")).await, 1);
        assert_eq!(h.count(&events("prescription.dispensed")).await, 1);
        assert_eq!(h.count(&events("stock.received")).await, 2);
        h.check_conservation().await;
    })
    .await;
}

#[tokio::test]
async fn partial_dispense_and_generics() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 6, "L1")
            .await;
        let mut request = prescription(&w, "rx-partial", vec![item(&w.paracetamol, 10)]);
        request.allow_partial = true;
        let p = c
            .create_prescription(with(request, &w.doctor))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((p.items[0].reserved, p.items[0].shortfall), (6, 4));
        let item_id = p.items[0].item_id.clone();
        let line = |quantity: i64, substitute: &str| pb::DispenseLine {
            item_id: item_id.clone(),
            quantity,
            substitute_medication_id: substitute.to_string(),
        };
        let part = c
            .dispense_prescription(with(
                pb::DispensePrescriptionRequest {
                    request_id: "part-1".into(),
                    prescription_id: p.prescription_id.clone(),
                    lines: vec![line(6, "")],
                },
                &w.pharmacist,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&part), pb::PrescriptionStatus::PartiallyDispensed);
        assert_eq!((part.items[0].dispensed, part.items[0].owed), (6, 4));

        // Ibuprofen is no generic of paracetamol; the generic is (case and spelling of the
        // strength aside), and it is recorded.
        let not_generic = c
            .dispense_prescription(with(
                pb::DispensePrescriptionRequest {
                    request_id: "part-2".into(),
                    prescription_id: p.prescription_id.clone(),
                    lines: vec![line(4, &w.ibuprofen)],
                },
                &w.pharmacist,
            ))
            .await
            .unwrap_err();
        assert_eq!(not_generic.code(), Code::InvalidArgument);
        h.receive(&w.pharmacist, &w.pharmacy, &w.generic, 4, "G1")
            .await;
        let done = c
            .dispense_prescription(with(
                pb::DispensePrescriptionRequest {
                    request_id: "part-3".into(),
                    prescription_id: p.prescription_id.clone(),
                    lines: vec![line(0, &w.generic)],
                },
                &w.pharmacist,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&done), pb::PrescriptionStatus::Dispensed);
        assert_eq!(done.items[0].substituted_medication_id, w.generic);
        assert_eq!(
            h.stock(&w.pharmacist, &w.pharmacy, &w.generic)
                .await
                .on_hand,
            0
        );

        // Without `allow_partial`, part of it is refused.
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 10, "L2")
            .await;
        let whole = c
            .create_prescription(with(
                prescription(&w, "rx-whole", vec![item(&w.paracetamol, 5)]),
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        let refused = c
            .dispense_prescription(with(
                pb::DispensePrescriptionRequest {
                    request_id: "whole-1".into(),
                    prescription_id: whole.prescription_id.clone(),
                    lines: vec![pb::DispenseLine {
                        item_id: whole.items[0].item_id.clone(),
                        quantity: 2,
                        ..Default::default()
                    }],
                },
                &w.pharmacist,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        h.check_conservation().await;
    })
    .await;
}

#[tokio::test]
async fn every_way_out_releases_the_reservation() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        let other_pharmacist = h.token_for("ion.pharmacist", &["pharmacist"]);
        h.affiliate_pharmacist(&other_pharmacist, &w.other_pharmacy).await;
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 20, "L1").await;
        h.receive(&other_pharmacist, &w.other_pharmacy, &w.paracetamol, 20, "M1").await;
        const NOTE: &str = "Pacientul are insuficiență renală";
        let write = |request_id: &str| {
            let mut r = prescription(
                &w,
                request_id,
                vec![pb::PrescriptionItem {
                    notes: NOTE.into(),
                    ..item(&w.paracetamol, 5)
                }],
            );
            r.allowed_pharmacy_ids = vec![w.other_pharmacy.clone()];
            r.notes = NOTE.into();
            r
        };
        let reserved = async |token: &str, pharmacy: &str| h.stock(token, pharmacy, &w.paracetamol).await.reserved;

        // Rejected by the pharmacy.
        let p = c.create_prescription(with(write("rx-a"), &w.doctor)).await.unwrap().into_inner();
        assert_eq!(reserved(&w.pharmacist, &w.pharmacy).await, 5);
        let rejected = c
            .reject_prescription(with(
                pb::RejectPrescriptionRequest {
                    request_id: "rej".into(),
                    prescription_id: p.prescription_id.clone(),
                    reason: "Rețetă ilizibilă".into(),
                },
                &w.pharmacist,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&rejected), pb::PrescriptionStatus::Rejected);
        assert_eq!(rejected.rejection_reason, "Rețetă ilizibilă");
        assert_eq!(reserved(&w.pharmacist, &w.pharmacy).await, 0);

        // Moved by the patient to the other pharmacy, then cancelled by the doctor.
        let p = c.create_prescription(with(write("rx-b"), &w.doctor)).await.unwrap().into_inner();
        let moved = c
            .change_prescription_pharmacy(with(
                pb::ChangePrescriptionPharmacyRequest {
                    request_id: "move".into(),
                    prescription_id: p.prescription_id.clone(),
                    pharmacy_id: w.other_pharmacy.clone(),
                },
                &w.patient,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(moved.pharmacy_id, w.other_pharmacy);
        assert_eq!(reserved(&w.pharmacist, &w.pharmacy).await, 0);
        assert_eq!(reserved(&other_pharmacist, &w.other_pharmacy).await, 5);
        // The first pharmacy no longer reaches it.
        let gone = c
            .get_prescription(with(pb::GetPrescriptionRequest { prescription_id: p.prescription_id.clone() }, &w.pharmacist))
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
        let cancelled = c
            .cancel_prescription(with(
                pb::CancelPrescriptionRequest {
                    request_id: "cancel".into(),
                    prescription_id: p.prescription_id.clone(),
                    reason: "changed the treatment".into(),
                },
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&cancelled), pb::PrescriptionStatus::Cancelled);
        assert_eq!(reserved(&other_pharmacist, &w.other_pharmacy).await, 0);

        // Expired by the sweeper once its validity ends.
        let mut short = write("rx-c");
        short.valid_until = Some(ts(Utc::now() + Duration::milliseconds(1500)));
        let p = c.create_prescription(with(short, &w.doctor)).await.unwrap().into_inner();
        assert_eq!(reserved(&w.pharmacist, &w.pharmacy).await, 5);
        let mut expired = None;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = c
                .get_prescription(with(pb::GetPrescriptionRequest { prescription_id: p.prescription_id.clone() }, &w.patient))
                .await
                .unwrap()
                .into_inner();
            if status(&now) == pb::PrescriptionStatus::Expired {
                expired = Some(now);
                break;
            }
        }
        assert!(expired.is_some(), "the prescription did not expire");
        assert_eq!(reserved(&w.pharmacist, &w.pharmacy).await, 0);
        let events = |kind: &str| format!("SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.pharmacy.v1.prescription.{kind}'");
        for kind in ["rejected", "pharmacy_changed", "cancelled", "expired"] {
            assert_eq!(h.count(&events(kind)).await, 1, "{kind}");
        }
        // The notes doctor and pharmacist write each other and a cancellation's reason stay in
        // the pharmacy: no event of any kind carries them.
        let rows = h
            .db
            .query_all_raw(svc_kit::db::stmt(
                h.db.get_database_backend(),
                "SELECT event_type, envelope FROM outbox",
                [],
            ))
            .await
            .unwrap();
        assert!(rows.len() >= 8, "{} events", rows.len());
        for row in &rows {
            let kind: String = row.try_get("", "event_type").unwrap();
            let bytes: Vec<u8> = row.try_get("", "envelope").unwrap();
            for text in ["insuficiență", "renală", "changed the treatment"] {
                assert!(
                    !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                    "{kind} carries {text:?}"
                );
            }
        }
        h.check_conservation().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        let stranger = h.token_for("not.my.patient", &["patient"]);
        let stranger_id = h.user_id(&stranger).await;
        let fields = |status: tonic::Status| -> Vec<String> {
            svc_kit::error::field_violations(&status)
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        let cases: Vec<(pb::CreatePrescriptionRequest, &str)> = vec![
            (
                prescription(&w, "b1", vec![item(&uuid::Uuid::now_v7().to_string(), 1)]),
                "items[0].medication_id",
            ),
            (
                prescription(&w, "b2", vec![item(&w.paracetamol, 0)]),
                "items[0].quantity",
            ),
            (
                prescription(&w, "b3", vec![item(&w.paracetamol, -3)]),
                "items[0].quantity",
            ),
            (prescription(&w, "b4", vec![]), "items"),
            (
                pb::CreatePrescriptionRequest {
                    valid_until: Some(ts(Utc::now() - Duration::days(1))),
                    ..prescription(&w, "b5", vec![item(&w.paracetamol, 1)])
                },
                "valid_until",
            ),
            (
                pb::CreatePrescriptionRequest {
                    patient_id: stranger_id.clone(),
                    ..prescription(&w, "b6", vec![item(&w.paracetamol, 1)])
                },
                "patient_id",
            ),
            (
                pb::CreatePrescriptionRequest {
                    pharmacy_id: uuid::Uuid::now_v7().to_string(),
                    ..prescription(&w, "b7", vec![item(&w.paracetamol, 1)])
                },
                "pharmacy_id",
            ),
            (
                pb::CreatePrescriptionRequest {
                    pharmacy_id: "not-an-id".into(),
                    ..prescription(&w, "b8", vec![item(&w.paracetamol, 1)])
                },
                "pharmacy_id",
            ),
        ];
        for (request, field) in cases {
            let refused = c
                .create_prescription(with(request, &w.doctor))
                .await
                .unwrap_err();
            assert_eq!(
                refused.code(),
                Code::InvalidArgument,
                "{field}: {refused:?}"
            );
            assert!(
                fields(refused.clone()).iter().any(|f| f == field),
                "{field}: {refused:?}"
            );
        }
        assert_eq!(h.count("SELECT COUNT(*) FROM prescriptions").await, 0);

        let shipment = |lines: Vec<pb::ShipmentLine>| pb::ReceiveShipmentRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            pharmacy_id: w.pharmacy.clone(),
            lines,
        };
        let line = |quantity: i64, lot: &str, days: i64| pb::ShipmentLine {
            medication_id: w.paracetamol.clone(),
            quantity,
            lot: lot.to_string(),
            expires_at: Some(ts(Utc::now() + Duration::days(days))),
        };
        for (request, field) in [
            (shipment(vec![line(0, "L", 30)]), "lines[0].quantity"),
            (shipment(vec![line(5, "", 30)]), "lines[0].lot"),
            (shipment(vec![line(5, "L", -1)]), "lines[0].expires_at"),
            (shipment(vec![]), "lines"),
        ] {
            let refused = c
                .receive_shipment(with(request, &w.pharmacist))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument);
            assert!(
                fields(refused.clone()).iter().any(|f| f == field),
                "{field}: {refused:?}"
            );
        }
        // A lot received again with another expiry is refused whole.
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 5, "L9")
            .await;
        let refused = c
            .receive_shipment(with(shipment(vec![line(3, "L9", 10)]), &w.pharmacist))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(
            h.stock(&w.pharmacist, &w.pharmacy, &w.paracetamol)
                .await
                .on_hand,
            5
        );

        // Adjustments: a reason is required, and nothing goes below what is reserved.
        let adjust = |delta: i64, reason: pb::AdjustmentReason| pb::AdjustStockRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            pharmacy_id: w.pharmacy.clone(),
            medication_id: w.paracetamol.clone(),
            delta,
            reason: reason as i32,
            note: "numărătoare".into(),
            lot: String::new(),
        };
        assert_eq!(
            code(
                c.adjust_stock(with(
                    adjust(-1, pb::AdjustmentReason::Unspecified),
                    &w.pharmacist
                ))
                .await
            ),
            Code::InvalidArgument
        );
        c.create_prescription(with(
            prescription(&w, "hold-4", vec![item(&w.paracetamol, 4)]),
            &w.doctor,
        ))
        .await
        .unwrap();
        let refused = c
            .adjust_stock(with(
                adjust(-2, pb::AdjustmentReason::Breakage),
                &w.pharmacist,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        let level = c
            .adjust_stock(with(
                adjust(-1, pb::AdjustmentReason::Breakage),
                &w.pharmacist,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((level.on_hand, level.reserved, level.available), (4, 4, 0));
        h.check_conservation().await;
    })
    .await;
}

#[tokio::test]
async fn nobody_reaches_anothers_prescriptions() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 10, "L1")
            .await;
        let p = c
            .create_prescription(with(
                prescription(&w, "rx", vec![item(&w.paracetamol, 2)]),
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        let other_patient = h.token_for("other.patient", &["patient"]);
        let other_doctor = h.token_for("other.doctor", &["doctor"]);
        let other_pharmacist = h.token_for("other.pharmacist", &["pharmacist"]);
        h.affiliate_pharmacist(&other_pharmacist, &w.other_pharmacy)
            .await;
        let get = |id: &str| pb::GetPrescriptionRequest {
            prescription_id: id.to_string(),
        };
        for token in [&other_patient, &other_doctor, &other_pharmacist] {
            assert_eq!(
                code(
                    c.get_prescription(with(get(&p.prescription_id), token))
                        .await
                ),
                Code::NotFound
            );
            let list = c
                .list_prescriptions(with(pb::ListPrescriptionsRequest::default(), token))
                .await
                .map(|r| r.into_inner().prescriptions.len());
            assert!(matches!(list, Ok(0)), "{list:?}");
        }
        // The other pharmacist cannot act on it, nor read the first pharmacy's stock.
        let dispense = pb::DispensePrescriptionRequest {
            request_id: "x".into(),
            prescription_id: p.prescription_id.clone(),
            lines: vec![],
        };
        assert_eq!(
            code(
                c.dispense_prescription(with(dispense, &other_pharmacist))
                    .await
            ),
            Code::NotFound
        );
        let stock = pb::GetStockRequest {
            pharmacy_id: w.pharmacy.clone(),
            medication_ids: vec![],
        };
        assert_eq!(
            code(c.get_stock(with(stock, &other_pharmacist)).await),
            Code::NotFound
        );
        // The other doctor cannot cancel it; another patient cannot move it.
        let cancel = pb::CancelPrescriptionRequest {
            request_id: "x".into(),
            prescription_id: p.prescription_id.clone(),
            reason: String::new(),
        };
        assert_eq!(
            code(c.cancel_prescription(with(cancel, &other_doctor)).await),
            Code::NotFound
        );
        let mv = pb::ChangePrescriptionPharmacyRequest {
            request_id: "x".into(),
            prescription_id: p.prescription_id.clone(),
            pharmacy_id: w.other_pharmacy.clone(),
        };
        assert_eq!(
            code(
                c.change_prescription_pharmacy(with(mv, &other_patient))
                    .await
            ),
            Code::NotFound
        );
        // A partner reads availability, without quantities.
        let partner = h.client_token("partner-demo");
        let availability = c
            .get_availability(with(
                pb::GetAvailabilityRequest {
                    pharmacy_ids: vec![w.pharmacy.clone()],
                    medication_ids: vec![w.paracetamol.clone(), w.ibuprofen.clone()],
                    patient_id: String::new(),
                },
                &partner,
            ))
            .await
            .unwrap()
            .into_inner()
            .availability;
        let kinds: Vec<_> = availability.iter().map(|a| a.availability).collect();
        assert_eq!(
            kinds,
            [
                pb::Availability::InStock as i32,
                pb::Availability::OutOfStock as i32
            ]
        );
        // ...and nothing about patients.
        let list = c
            .list_prescriptions(with(pb::ListPrescriptionsRequest::default(), &partner))
            .await;
        assert_eq!(code(list), Code::PermissionDenied);
        // The doctor and the patient each see theirs.
        for token in [&w.doctor, &w.patient] {
            let list = c
                .list_prescriptions(with(pb::ListPrescriptionsRequest::default(), token))
                .await
                .unwrap()
                .into_inner()
                .prescriptions;
            assert_eq!(list.len(), 1);
        }
        let _ = &w.doctor_id;
    })
    .await;
}

/// The access table of docs/api/pharmacy.md: for every RPC, the roles it names get past the
/// role check (they then meet input checks) and every other role is refused.
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
        // The platform's own clients: each holds a role of its own, and none reaches the
        // pharmacy.
        ("svc-notify", h.client_token("svc-notify")),
        ("svc-gateway", h.client_token("medmesh-gateway")),
        ("svc-records", h.client_token("svc-records")),
    ];
    const ALL: &[&str] = &[
        "admin",
        "doctor",
        "nurse",
        "patient",
        "pharmacist",
        "partner",
    ];
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
    rpc!(
        create_pharmacy,
        pb::CreatePharmacyRequest::default(),
        &["admin"]
    );
    rpc!(
        update_pharmacy,
        pb::UpdatePharmacyRequest::default(),
        &["admin"]
    );
    rpc!(get_pharmacy, pb::GetPharmacyRequest::default(), ALL);
    rpc!(list_pharmacies, pb::ListPharmaciesRequest::default(), ALL);
    rpc!(
        create_medication,
        pb::CreateMedicationRequest::default(),
        &["admin"]
    );
    rpc!(
        update_medication,
        pb::UpdateMedicationRequest::default(),
        &["admin"]
    );
    rpc!(get_medication, pb::GetMedicationRequest::default(), ALL);
    rpc!(
        search_medications,
        pb::SearchMedicationsRequest::default(),
        ALL
    );
    rpc!(
        get_stock,
        pb::GetStockRequest::default(),
        &["admin", "pharmacist"]
    );
    rpc!(get_availability, pb::GetAvailabilityRequest::default(), ALL);
    rpc!(
        get_preferred_pharmacies,
        pb::GetPreferredPharmaciesRequest::default(),
        &["doctor", "patient"]
    );
    rpc!(
        set_preferred_pharmacies,
        pb::SetPreferredPharmaciesRequest::default(),
        &["patient"]
    );
    rpc!(
        receive_shipment,
        pb::ReceiveShipmentRequest::default(),
        &["pharmacist"]
    );
    rpc!(
        adjust_stock,
        pb::AdjustStockRequest::default(),
        &["pharmacist"]
    );
    rpc!(
        set_critical_threshold,
        pb::SetCriticalThresholdRequest::default(),
        &["admin", "pharmacist"]
    );
    rpc!(
        list_low_stock,
        pb::ListLowStockRequest::default(),
        &["admin", "pharmacist"]
    );
    rpc!(
        list_expiring_lots,
        pb::ListExpiringLotsRequest::default(),
        &["admin", "pharmacist"]
    );
    rpc!(
        list_stock_movements,
        pb::ListStockMovementsRequest::default(),
        &["admin", "pharmacist"]
    );
    rpc!(
        create_prescription,
        pb::CreatePrescriptionRequest::default(),
        &["doctor"]
    );
    rpc!(
        get_prescription,
        pb::GetPrescriptionRequest::default(),
        &["doctor", "patient", "pharmacist"]
    );
    rpc!(
        list_prescriptions,
        pb::ListPrescriptionsRequest::default(),
        &["doctor", "patient", "pharmacist"]
    );
    rpc!(
        change_prescription_pharmacy,
        pb::ChangePrescriptionPharmacyRequest::default(),
        &["doctor", "patient"]
    );
    rpc!(
        start_dispensing,
        pb::StartDispensingRequest::default(),
        &["pharmacist"]
    );
    rpc!(
        dispense_prescription,
        pb::DispensePrescriptionRequest::default(),
        &["pharmacist"]
    );
    rpc!(
        reject_prescription,
        pb::RejectPrescriptionRequest::default(),
        &["pharmacist"]
    );
    rpc!(
        cancel_prescription,
        pb::CancelPrescriptionRequest::default(),
        &["doctor"]
    );
}

#[tokio::test]
async fn the_catalog_searches_any_script() {
    let h = start(TestDb::postgres().await).await;
    for (name, substance) in [
        ("Ștefan Analgezic", "metamizol"),
        ("Цитрамон", "ацетилсаліцилова кислота"),
        ("Stefan Forte", "metamizol"),
        ("Нурофен", "ібупрофен"),
    ] {
        h.medication(name, substance, "500 mg").await;
    }
    let token = h.token_for("reader", &["patient"]);
    let search = async |query: &str| -> Vec<String> {
        h.client()
            .search_medications(with(
                pb::SearchMedicationsRequest {
                    query: query.to_string(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .medications
            .into_iter()
            .map(|m| m.name)
            .collect()
    };
    assert_eq!(search("stefan").await, ["Ștefan Analgezic", "Stefan Forte"]);
    assert_eq!(search("ȘTEFAN").await, ["Ștefan Analgezic", "Stefan Forte"]);
    assert_eq!(search("цитра").await, ["Цитрамон"]);
    assert_eq!(search("ібу").await, ["Нурофен"]);
    assert_eq!(search("100%").await, Vec::<String>::new());
}

#[tokio::test]
async fn lots_nearing_expiry_are_announced_once() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let lot = |name: &str, days: i64| pb::ShipmentLine {
            medication_id: w.paracetamol.clone(),
            quantity: 7,
            lot: name.to_string(),
            expires_at: Some(ts(Utc::now() + Duration::days(days))),
        };
        // One lot inside the expiring-soon window (90 days by default), one far outside it.
        h.client()
            .receive_shipment(with(
                pb::ReceiveShipmentRequest {
                    request_id: "expiry-1".into(),
                    pharmacy_id: w.pharmacy.clone(),
                    lines: vec![lot("SOON", 10), lot("LATER", 400)],
                },
                &w.pharmacist,
            ))
            .await
            .unwrap();
        let announced =
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.pharmacy.v1.stock.expiring'";
        for _ in 0..200 {
            if h.count(announced).await > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        // Many sweeps later, still once.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(h.count(announced).await, 1);
        assert_eq!(
            h.count("SELECT COUNT(*) FROM expiry_alerts WHERE lot = 'SOON'")
                .await,
            1
        );
        assert_eq!(
            h.count("SELECT COUNT(*) FROM expiry_alerts WHERE lot = 'LATER'")
                .await,
            0
        );
    })
    .await;
}

#[tokio::test]
async fn low_stock_is_announced_once_per_crossing() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 10, "L1")
            .await;
        c.set_critical_threshold(with(
            pb::SetCriticalThresholdRequest {
                request_id: "t".into(),
                pharmacy_id: w.pharmacy.clone(),
                medication_id: w.paracetamol.clone(),
                critical_threshold: 5,
            },
            &w.pharmacist,
        ))
        .await
        .unwrap();
        let low_events =
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'medmesh.pharmacy.v1.stock.low'";
        let low = async || {
            h.client()
                .list_low_stock(with(
                    pb::ListLowStockRequest {
                        pharmacy_id: w.pharmacy.clone(),
                    },
                    &w.pharmacist,
                ))
                .await
                .unwrap()
                .into_inner()
                .levels
                .len()
        };
        assert_eq!((h.count(low_events).await, low().await), (0, 0));
        let prescribe = async |request_id: &str, quantity: i64| {
            h.client()
                .create_prescription(with(
                    prescription(&w, request_id, vec![item(&w.paracetamol, quantity)]),
                    &w.doctor,
                ))
                .await
                .unwrap();
        };
        // Reserving 6 of 10 leaves 4 available: below 5, announced.
        prescribe("low-1", 6).await;
        assert_eq!((h.count(low_events).await, low().await), (1, 1));
        // Still low: not announced again.
        prescribe("low-2", 1).await;
        assert_eq!(h.count(low_events).await, 1);
        // Back above, then below again: a second crossing.
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 10, "L2")
            .await;
        assert_eq!(low().await, 0);
        prescribe("low-3", 9).await;
        assert_eq!(h.count(low_events).await, 2);
        h.check_conservation().await;
    })
    .await;
}

/// Accounts' `user.erased` reaches the pharmacy: the patient's prescriptions stay (the
/// pharmacy's record of what was prescribed and dispensed) without one text a person wrote,
/// their preferences and the stored answers naming them go, the other patient's texts stay,
/// and nothing more is prescribed for them.
#[tokio::test]
async fn an_erased_patients_prescriptions_keep_the_record_and_lose_every_text() {
    both(async |db| {
        let h = start(db).await;
        let w = world(&h).await;
        let mut c = h.client();
        h.receive(&w.pharmacist, &w.pharmacy, &w.paracetamol, 20, "L1").await;
        const NOTE: &str = "Alergie la penicilină, insuficiență renală";
        const INSTRUCTIONS: &str = "Câte o tabletă după masă";
        const REJECTED: &str = "Рецепт неразборчив, позвоните врачу";
        const KEPT: &str = "Other patient: take with water";
        let mut write = prescription(
            &w,
            "erase-rx-1",
            vec![pb::PrescriptionItem {
                notes: NOTE.into(),
                dosage_instructions: INSTRUCTIONS.into(),
                ..item(&w.paracetamol, 2)
            }],
        );
        write.notes = NOTE.into();
        let dispensed = c
            .create_prescription(with(write, &w.doctor))
            .await
            .unwrap()
            .into_inner();
        let rejected = c
            .create_prescription(with(
                pb::CreatePrescriptionRequest {
                    notes: NOTE.into(),
                    ..prescription(&w, "erase-rx-2", vec![item(&w.paracetamol, 1)])
                },
                &w.doctor,
            ))
            .await
            .unwrap()
            .into_inner();
        c.reject_prescription(with(
            pb::RejectPrescriptionRequest {
                request_id: "erase-reject".into(),
                prescription_id: rejected.prescription_id.clone(),
                reason: REJECTED.into(),
            },
            &w.pharmacist,
        ))
        .await
        .unwrap();
        c.set_preferred_pharmacies(with(
            pb::SetPreferredPharmaciesRequest {
                request_id: "erase-prefs".into(),
                pharmacy_ids: vec![w.pharmacy.clone()],
            },
            &w.patient,
        ))
        .await
        .unwrap();
        // Another patient of the doctor's, whose texts stay.
        let other = h.token_for("ion.popa", &["patient"]);
        let other_id = h.user_id(&other).await;
        h.book(&w.doctor_id, &other_id).await;
        c.create_prescription(with(
            pb::CreatePrescriptionRequest {
                patient_id: other_id.clone(),
                notes: KEPT.into(),
                ..prescription(&w, "erase-rx-3", vec![item(&w.paracetamol, 1)])
            },
            &w.doctor,
        ))
        .await
        .unwrap();

        h.erase(
            &w.patient_id,
            &svc_accounts::testing::subject_of("maria.popescu"),
        )
        .await;
        // Twice, as a redelivery would: nothing more happens.
        h.erase(
            &w.patient_id,
            &svc_accounts::testing::subject_of("maria.popescu"),
        )
        .await;

        // The record stays, with what was prescribed.
        let id = &dispensed.prescription_id;
        assert_eq!(
            h.count(&format!(
                "SELECT COUNT(*) FROM prescription_items WHERE prescription_id = '{id}' AND quantity = 2 AND dose = '1 tablet'"
            ))
            .await,
            1
        );
        assert_eq!(
            h.count(&format!(
                "SELECT COUNT(*) FROM preferred_pharmacies WHERE patient_id = '{}'",
                w.patient_id
            ))
            .await,
            0
        );
        assert_eq!(
            h.count(&format!(
                "SELECT COUNT(*) FROM erasures WHERE patient_id = '{}' AND prescriptions_anonymised = 2 AND preferences_removed = 1",
                w.patient_id
            ))
            .await,
            1
        );
        // No text of theirs in any column of any table; the other patient's is there.
        let columns = svc_kit::testing::columns(&h.db).await.len();
        assert!(columns > 50, "{columns} columns");
        for needle in ["penicilin", "renală", "tabletă după", "неразборчив", "позвоните"] {
            let holding = svc_kit::testing::columns_holding(&h.db, needle).await;
            assert!(holding.is_empty(), "{holding:?} hold {needle:?}");
        }
        assert!(
            !svc_kit::testing::columns_holding(&h.db, "take with water")
                .await
                .is_empty(),
            "the other patient's note is still there"
        );

        // Nothing more is prescribed for them.
        let refused = c
            .create_prescription(with(
                prescription(&w, "erase-rx-4", vec![item(&w.paracetamol, 1)]),
                &w.doctor,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("erased") || format!("{refused:?}").contains("erased"));
    })
    .await;
}
