//! Load drivers shared by the concurrency tests (in-process replicas in this crate's tests,
//! separate processes in the platform's): a random storm of prescriptions, dispenses,
//! rejections, shipments and adjustments, and the SQL checks that stock stayed whole.

use std::collections::BTreeMap;

use futures::future::join_all;
use medmesh_proto::pharmacy::v1::{self as pb, pharmacy_service_client::PharmacyServiceClient};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::DatabaseConnection;
use svc_kit::testing::count;
use tonic::{Code, Request, transport::Channel};

fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    request
}

/// What a storm works over: pharmacies with a pharmacist's token each, medications stocked at
/// every pharmacy, a doctor's token and the patients in their care.
#[derive(Debug, Clone)]
pub struct Scene {
    pub pharmacies: Vec<String>,
    pub medications: Vec<String>,
    pub pharmacists: Vec<String>,
    pub doctor: String,
    pub patients: Vec<String>,
}

/// `walkers` clients at once, `steps` random operations each, spread over `clients`; returns
/// how many calls of each kind ended how (`"dispense:Ok"`, `"dispense:short"` for a real
/// shortage, otherwise the status code).
pub async fn storm(
    clients: &[PharmacyServiceClient<Channel>],
    s: &Scene,
    walkers: u64,
    steps: usize,
) -> BTreeMap<String, usize> {
    let tallies = join_all((0..walkers).map(|seed| walker(clients, s, seed, steps))).await;
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for tally in tallies {
        for (k, v) in tally {
            *total.entry(k).or_default() += v;
        }
    }
    total
}

fn tally_code<T>(
    tally: &mut BTreeMap<String, usize>,
    what: &str,
    result: &Result<T, tonic::Status>,
) {
    // A real shortage is told apart from any other refusal.
    let outcome = match result {
        Ok(_) => "Ok".to_string(),
        Err(s)
            if s.code() == Code::FailedPrecondition
                && (s.message().contains("not enough stock")
                    || s.message().contains("cannot be removed")) =>
        {
            "short".to_string()
        }
        Err(s) => format!("{:?}", s.code()),
    };
    *tally.entry(format!("{what}:{outcome}")).or_default() += 1;
}

/// One client's random walk: write a prescription, then dispense, reject or leave it; receive
/// or adjust stock now and then.
async fn walker(
    clients: &[PharmacyServiceClient<Channel>],
    s: &Scene,
    seed: u64,
    steps: usize,
) -> BTreeMap<String, usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = BTreeMap::new();
    for step in 0..steps {
        let mut c = clients[rng.gen_range(0..clients.len())].clone();
        let at = rng.gen_range(0..s.pharmacies.len());
        let pharmacy = &s.pharmacies[at];
        let pharmacist = &s.pharmacists[at];
        let medication = &s.medications[rng.gen_range(0..s.medications.len())];
        let rid = format!("w{seed}-{step}");
        match rng.gen_range(0..10) {
            0 => {
                let r = c
                    .receive_shipment(with(
                        pb::ReceiveShipmentRequest {
                            request_id: rid,
                            pharmacy_id: pharmacy.clone(),
                            lines: vec![pb::ShipmentLine {
                                medication_id: medication.clone(),
                                quantity: rng.gen_range(1..6),
                                lot: format!("S{}", rng.gen_range(1..4)),
                                expires_at: None,
                            }],
                        },
                        pharmacist,
                    ))
                    .await;
                tally_code(&mut tally, "receive", &r);
            }
            1 => {
                let r = c
                    .adjust_stock(with(
                        pb::AdjustStockRequest {
                            request_id: rid,
                            pharmacy_id: pharmacy.clone(),
                            medication_id: medication.clone(),
                            delta: if rng.gen_bool(0.5) { -1 } else { 1 },
                            reason: pb::AdjustmentReason::CountCorrection as i32,
                            note: "storm".into(),
                            lot: String::new(),
                        },
                        pharmacist,
                    ))
                    .await;
                tally_code(&mut tally, "adjust", &r);
            }
            _ => {
                let patient = &s.patients[rng.gen_range(0..s.patients.len())];
                let mut items = vec![pb::PrescriptionItem {
                    medication_id: medication.clone(),
                    quantity: rng.gen_range(1..5),
                    ..Default::default()
                }];
                if rng.gen_bool(0.4) {
                    let other = s.medications.iter().find(|m| *m != medication).unwrap();
                    items.push(pb::PrescriptionItem {
                        medication_id: other.clone(),
                        quantity: rng.gen_range(1..4),
                        ..Default::default()
                    });
                }
                let created = c
                    .create_prescription(with(
                        pb::CreatePrescriptionRequest {
                            request_id: format!("{rid}-rx"),
                            patient_id: patient.clone(),
                            pharmacy_id: pharmacy.clone(),
                            items,
                            allow_partial: rng.gen_bool(0.3),
                            ..Default::default()
                        },
                        &s.doctor,
                    ))
                    .await;
                tally_code(&mut tally, "prescribe", &created);
                let Ok(created) = created else { continue };
                let id = created.into_inner().prescription_id;
                let mut c = clients[rng.gen_range(0..clients.len())].clone();
                match rng.gen_range(0..4) {
                    0 => {
                        let r = c
                            .reject_prescription(with(
                                pb::RejectPrescriptionRequest {
                                    request_id: format!("{rid}-rej"),
                                    prescription_id: id,
                                    reason: "storm".into(),
                                },
                                pharmacist,
                            ))
                            .await;
                        tally_code(&mut tally, "reject", &r);
                    }
                    1 => {}
                    _ => {
                        let request = pb::DispensePrescriptionRequest {
                            request_id: format!("{rid}-disp"),
                            prescription_id: id,
                            lines: vec![],
                        };
                        // Twice at once through both replicas, with one request id: one
                        // dispense, two identical answers.
                        let mut c2 = clients[rng.gen_range(0..clients.len())].clone();
                        let (a, b) = tokio::join!(
                            c.dispense_prescription(with(request.clone(), pharmacist)),
                            c2.dispense_prescription(with(request, pharmacist)),
                        );
                        if let (Ok(a), Ok(b)) = (&a, &b) {
                            assert_eq!(a.get_ref(), b.get_ref(), "a retry got another answer");
                        }
                        tally_code(&mut tally, "dispense", &a);
                    }
                }
            }
        }
    }
    tally
}

/// Stock conservation, checked in SQL: every line's on-hand equals its ledger's sum and its
/// lots' sum; reserved equals what open prescriptions hold there.
pub async fn check_conservation(db: &DatabaseConnection) {
    let ledger_mismatch = count(
        db,
            "SELECT COUNT(*) FROM stock s WHERE s.on_hand <> COALESCE((SELECT SUM(m.delta) FROM stock_movements m
               WHERE m.pharmacy_id = s.pharmacy_id AND m.medication_id = s.medication_id), 0)",
        )
        .await;
    assert_eq!(ledger_mismatch, 0, "on hand differs from the ledger");
    let lots_mismatch = count(
        db,
            "SELECT COUNT(*) FROM stock s WHERE s.on_hand <> COALESCE((SELECT SUM(l.quantity) FROM lots l
               WHERE l.pharmacy_id = s.pharmacy_id AND l.medication_id = s.medication_id), 0)",
        )
        .await;
    assert_eq!(lots_mismatch, 0, "on hand differs from the lots");
    let reserved_mismatch = count(
        db,
            "SELECT COUNT(*) FROM stock s WHERE s.reserved <> COALESCE((SELECT SUM(i.reserved)
               FROM prescription_items i JOIN prescriptions p ON p.prescription_id = i.prescription_id
               WHERE p.pharmacy_id = s.pharmacy_id AND i.medication_id = s.medication_id
                 AND p.status IN ('issued', 'in_progress', 'partially_dispensed')), 0)",
        )
        .await;
    assert_eq!(
        reserved_mismatch, 0,
        "reserved differs from what open prescriptions hold"
    );
    let closed_holding = count(
        db,
            "SELECT COUNT(*) FROM prescription_items i JOIN prescriptions p ON p.prescription_id = i.prescription_id
             WHERE i.reserved > 0 AND p.status NOT IN ('issued', 'in_progress', 'partially_dispensed')",
        )
        .await;
    assert_eq!(closed_holding, 0, "a closed prescription still holds stock");
    let negative = count(
        db,
        "SELECT COUNT(*) FROM stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
    )
    .await;
    assert_eq!(negative, 0);
    let dispensed_vs_ledger = count(
        db,
            "SELECT COUNT(*) FROM prescriptions p WHERE
               (SELECT COALESCE(SUM(i.dispensed), 0) FROM prescription_items i WHERE i.prescription_id = p.prescription_id)
               <> (SELECT COALESCE(-SUM(m.delta), 0) FROM stock_movements m WHERE m.reference = p.prescription_id AND m.kind = 'dispensed')",
        )
        .await;
    assert_eq!(
        dispensed_vs_ledger, 0,
        "a prescription's dispensed units differ from its ledger rows"
    );
}
