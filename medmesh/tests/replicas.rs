//! No double booking across processes: svc-accounts and two svc-scheduling processes, each its
//! own `medmesh serve`, on real PostgreSQL, with a real OIDC issuer. 159 clients race for one
//! slot; then a random storm of bookings, cancellations and reschedules. The database, not any
//! process, keeps the schedule whole.

use std::{
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::Utc;
use futures::future::join_all;
use medmesh_proto::{
    accounts::v1::accounts_service_client::AccountsServiceClient,
    scheduling::v1::{self as pb, scheduling_service_client::SchedulingServiceClient},
};
use secrecy::ExposeSecret;
use svc_kit::{
    auth::dev_issuer::{DevIssuer, DevIssuerServer, WEB_CLIENT},
    config::Mode,
    testing::{TestDb, free_port},
};
use svc_scheduling::testing;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `medmesh serve <component>` on `port`, configured through the environment as an operator
/// would.
fn serve(component: &str, port: u16, data_dir: &Path, env: &[(&str, String)]) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medmesh"));
    command
        .args(["serve", component])
        .env("MEDMESH_MODE", "dev")
        .env("MEDMESH_DATA_DIR", data_dir)
        .env("MEDMESH_ADMIN__PORT", "0")
        .env("MEDMESH_LOG__FILTER", "warn")
        // Three processes per test and two tests at once stay within PostgreSQL's 100
        // connections (at the default 16 each, a burst could take them all and be refused).
        .env("MEDMESH_DATABASE__MAX_CONNECTIONS", "10")
        .env(
            format!("MEDMESH_SERVICES__{}__PORT", component.to_uppercase()),
            port.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let process = Process(command.spawn().expect("medmesh starts"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..300 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return process;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{component} did not listen on {addr}");
}

fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy()
}

fn with<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn token(issuer: &DevIssuer, name: &str, roles: &[&str]) -> String {
    let subject = uuid::Uuid::new_v4().to_string();
    issuer.sign(&issuer.claims(&subject, name, roles, WEB_CLIENT))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_scheduling_processes_never_double_book() {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    let accounts_db = TestDb::postgres().await;
    let scheduling_db = TestDb::postgres().await;

    let accounts_port = free_port();
    let _accounts = serve(
        "accounts",
        accounts_port,
        dir.path(),
        &[
            ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
            (
                "MEDMESH_SERVICES__ACCOUNTS__DATABASE_URL",
                accounts_db.url.expose_secret().to_string(),
            ),
        ],
    );
    let scheduling_env = [
        ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
        (
            "MEDMESH_SERVICES__SCHEDULING__DATABASE_URL",
            scheduling_db.url.expose_secret().to_string(),
        ),
        (
            "MEDMESH_SERVICES__ACCOUNTS__ENDPOINT",
            format!("http://127.0.0.1:{accounts_port}"),
        ),
    ]
    .into_iter()
    // The storm's patients book at random: the caps are lifted so every call meets the race.
    .chain(
        testing::WITHOUT_PATIENT_CAPS_ENV
            .iter()
            .map(|(key, value)| (*key, value.to_string())),
    )
    .collect::<Vec<_>>();
    let ports = [free_port(), free_port()];
    let _replicas: Vec<Process> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            serve(
                "scheduling",
                *port,
                &dir.path().join(format!("replica-{i}")),
                &scheduling_env,
            )
        })
        .collect();
    let clients: Vec<_> = ports
        .iter()
        .map(|p| SchedulingServiceClient::new(channel(*p)))
        .collect();
    let mut scheduling = clients[0].clone();

    // A clinic, and six doctors seeing patients every day 08:00-20:00.
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();
    let doctor_tokens: Vec<String> = (0..6)
        .map(|i| token(&issuer, &format!("doctor-{i}"), &["doctor"]))
        .collect();
    let mut accounts = AccountsServiceClient::new(channel(accounts_port));
    let doctors = testing::seed_doctors(
        &mut scheduling,
        &mut accounts,
        &admin,
        &doctor_tokens,
        "Europe/Kyiv",
        30,
    )
    .await
    .unwrap();

    // Patients, each known to both processes before the race (first sign-in is not measured).
    let patients: Vec<String> = (0..200)
        .map(|i| token(&issuer, &format!("patient-{i}"), &["patient"]))
        .collect();
    for chunk in patients.chunks(25) {
        join_all(chunk.iter().map(|t| {
            let clients = clients.clone();
            async move {
                for mut client in clients {
                    client
                        .list_appointments(with(pb::ListAppointmentsRequest::default(), t))
                        .await
                        .unwrap();
                }
            }
        }))
        .await;
    }
    let day = (Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let mut grid = Vec::new();
    for doctor in &doctors {
        let slots = scheduling
            .list_free_slots(with(
                pb::ListFreeSlotsRequest {
                    doctor_id: doctor.clone(),
                    from: Some(prost_types::Timestamp {
                        seconds: day.timestamp(),
                        nanos: 0,
                    }),
                    to: Some(prost_types::Timestamp {
                        seconds: (day + chrono::Duration::days(1)).timestamp(),
                        nanos: 0,
                    }),
                },
                &patients[0],
            ))
            .await
            .unwrap()
            .into_inner()
            .slots;
        grid.extend(slots.into_iter().take(8).map(|s| (doctor.clone(), s)));
    }

    // 159 clients, two processes, one slot: exactly one booking, every other a conflict. The
    // racers are not the storm's patients (1..41), so the winner's appointment cannot meet a
    // storm patient's first booking at the same time with another doctor.
    let (race_doctor, race_slot) = grid[3].clone();
    let racers = &patients[41..];
    let tally = testing::race(&clients, racers, &race_doctor, &race_slot).await;
    assert_eq!(tally.get("Ok"), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("AlreadyExists"),
        Some(&(racers.len() - 1)),
        "no other outcome: {tally:?}"
    );
    let winner = testing::booked_ids(&scheduling_db.db).await;
    assert_eq!(winner.len(), 1);

    // Then the storm, with 40 patients over the rest of the grid.
    let others: Vec<(String, pb::Slot)> = grid
        .iter()
        .filter(|(d, s)| !(d == &race_doctor && s.start == race_slot.start))
        .cloned()
        .collect();
    let report = testing::storm(&clients, &patients[1..41], &others, 12).await;
    eprintln!(
        "storm over two processes: {:?} {:?}; sent again: {:?}",
        report.tally, report.messages, report.retries
    );
    assert!(
        report.false_conflicts.is_empty(),
        "{:?}",
        report.false_conflicts
    );
    for (code, n) in &report.tally {
        assert!(
            code == "Ok" || code == "AlreadyExists",
            "{n} calls answered {code}: {:?} {:?}",
            report.tally,
            report.messages
        );
    }
    assert_eq!(
        testing::overlaps(&scheduling_db.db).await,
        (0, 0),
        "no overlapping live appointments"
    );
    // No ghost bookings: what is booked is what the clients were told, plus the race's winner
    // (the storm's patients did not touch it).
    let mut believed = report.believed.clone();
    believed.extend(winner);
    assert_eq!(
        testing::booked_ids(&scheduling_db.db).await,
        believed,
        "no ghost bookings"
    );
    stop.cancel();
}

/// Stock stays whole across processes: svc-accounts and two svc-pharmacy processes, each its
/// own `medmesh serve`, on one PostgreSQL and one Redis. A storm of prescriptions, dispenses
/// (each sent twice at once, through both processes, with one request id), rejections,
/// shipments and adjustments over two hot medications at two pharmacies; then SQL checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pharmacy_processes_keep_stock_whole() {
    use medmesh_proto::{accounts::v1 as acc, pharmacy::v1 as rx};
    use sea_orm::ConnectionTrait;
    use svc_pharmacy::testing::{Scene, check_conservation, storm};

    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    let accounts_db = TestDb::postgres().await;
    let pharmacy_db = TestDb::postgres().await;
    let accounts_port = free_port();
    let _accounts = serve(
        "accounts",
        accounts_port,
        dir.path(),
        &[
            ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
            (
                "MEDMESH_SERVICES__ACCOUNTS__DATABASE_URL",
                accounts_db.url.expose_secret().to_string(),
            ),
        ],
    );
    let env = [
        ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
        (
            "MEDMESH_SERVICES__PHARMACY__DATABASE_URL",
            pharmacy_db.url.expose_secret().to_string(),
        ),
        (
            "MEDMESH_SERVICES__ACCOUNTS__ENDPOINT",
            format!("http://127.0.0.1:{accounts_port}"),
        ),
        ("MEDMESH_CACHE__BACKEND", "redis".to_string()),
        ("MEDMESH_CACHE__REDIS__URL", svc_kit::testing::redis_url()),
        (
            "MEDMESH_CACHE__KEY_PREFIX",
            svc_kit::testing::unique_prefix(),
        ),
    ];
    let ports = [free_port(), free_port()];
    let _replicas: Vec<Process> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            serve(
                "pharmacy",
                *port,
                &dir.path().join(format!("pharmacy-{i}")),
                &env,
            )
        })
        .collect();
    let clients: Vec<_> = ports
        .iter()
        .map(|p| rx::pharmacy_service_client::PharmacyServiceClient::new(channel(*p)))
        .collect();
    let mut pharmacy = clients[0].clone();
    let mut accounts = AccountsServiceClient::new(channel(accounts_port));
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();

    let mut scene = Scene {
        pharmacies: Vec::new(),
        medications: Vec::new(),
        pharmacists: Vec::new(),
        doctor: token(&issuer, "storm-doctor", &["doctor"]),
        patients: Vec::new(),
    };
    for name in ["Hotamol", "Coldafen"] {
        let m = pharmacy
            .create_medication(with(
                rx::CreateMedicationRequest {
                    request_id: format!("med-{name}"),
                    medication: Some(rx::Medication {
                        name: name.into(),
                        active_substance: name.to_lowercase(),
                        form: "tablet".into(),
                        strength: "500 mg".into(),
                        pack_size: 20,
                        ..Default::default()
                    }),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        scene.medications.push(m.medication_id);
    }
    for i in 0..2 {
        let p = pharmacy
            .create_pharmacy(with(
                rx::CreatePharmacyRequest {
                    request_id: format!("pharmacy-{i}"),
                    pharmacy: Some(rx::Pharmacy {
                        name: format!("Storm {i}"),
                        address: "1 Main St".into(),
                        time_zone: "Europe/Kyiv".into(),
                        ..Default::default()
                    }),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        let pharmacist = token(&issuer, &format!("storm-pharmacist-{i}"), &["pharmacist"]);
        let user_id = accounts
            .get_my_profile(with(acc::GetMyProfileRequest {}, &pharmacist))
            .await
            .unwrap()
            .into_inner()
            .user_id;
        accounts
            .add_affiliation(with(
                acc::AddAffiliationRequest {
                    request_id: format!("aff-{i}"),
                    user_id,
                    kind: acc::AffiliationKind::Pharmacist as i32,
                    pharmacy_id: p.pharmacy_id.clone(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap();
        for m in &scene.medications {
            pharmacy
                .receive_shipment(with(
                    rx::ReceiveShipmentRequest {
                        request_id: format!("ship-{i}-{m}"),
                        pharmacy_id: p.pharmacy_id.clone(),
                        lines: vec![rx::ShipmentLine {
                            medication_id: m.clone(),
                            quantity: 40,
                            lot: "S0".into(),
                            expires_at: None,
                        }],
                    },
                    &pharmacist,
                ))
                .await
                .unwrap();
        }
        scene.pharmacies.push(p.pharmacy_id);
        scene.pharmacists.push(pharmacist);
    }
    // Six patients in the doctor's care (what scheduling's events teach the pharmacy; these
    // processes run without a shared bus, so it is written where the consumer would write it).
    let doctor_id = accounts
        .get_my_profile(with(acc::GetMyProfileRequest {}, &scene.doctor))
        .await
        .unwrap()
        .into_inner()
        .user_id;
    for i in 0..6 {
        let patient = token(&issuer, &format!("storm-patient-{i}"), &["patient"]);
        let id = accounts
            .get_my_profile(with(acc::GetMyProfileRequest {}, &patient))
            .await
            .unwrap()
            .into_inner()
            .user_id;
        pharmacy_db
            .db
            .execute_unprepared(&format!(
                "INSERT INTO care_relationships (doctor_id, patient_id, first_seen_at, last_seen_at, last_appointment_id)
                 VALUES ('{doctor_id}', '{id}', now(), now(), 'a-{i}')"
            ))
            .await
            .unwrap();
        scene.patients.push(id);
    }

    let total = storm(&clients, &scene, 16, 25).await;
    eprintln!("pharmacy storm over two processes: {total:?}");
    for (what, n) in &total {
        // Nothing fails but for a real shortage: no contention, no state refusal, no error.
        let allowed = what.ends_with(":Ok")
            || what.as_str() == "dispense:short"
            || what.as_str() == "adjust:short";
        assert!(allowed, "{n} × {what}: {total:?}");
    }
    assert!(
        total.get("dispense:Ok").copied().unwrap_or(0) > 10,
        "{total:?}"
    );
    check_conservation(&pharmacy_db.db).await;
    stop.cancel();
}

/// Reminders exactly once across processes: three `medmesh serve notify` processes on one
/// PostgreSQL database race for a thousand due reminders (each to be mailed and sent by SMS);
/// one is killed mid-run. Every reminder reaches the SMTP server and the SMS provider, and the
/// idempotency key each message carries (the Message-ID, the Idempotency-Key header) is never
/// seen twice except for a message the killed process had handed over but not yet recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_notify_processes_send_each_reminder_once() {
    use std::collections::{BTreeMap, BTreeSet};

    use medmesh_proto::accounts::v1 as accounts;
    use svc_kit::testing::{HttpSink, SmtpSink};
    use svc_notify::{
        app::{App, appointment_place},
        store::{schedule, settings},
    };

    const PATIENTS: usize = 50;
    const REMINDERS: usize = 1000;
    const CONCURRENCY: usize = 8;
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let dir = tempfile::tempdir().unwrap();
    let accounts_db = TestDb::postgres().await;
    let notify_db = TestDb::postgres().await;
    let smtp = SmtpSink::start();
    let sms = HttpSink::start().await;
    let accounts_port = free_port();
    let _accounts = serve(
        "accounts",
        accounts_port,
        dir.path(),
        &[
            ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
            (
                "MEDMESH_SERVICES__ACCOUNTS__DATABASE_URL",
                accounts_db.url.expose_secret().to_string(),
            ),
        ],
    );

    // Fifty patients with an email address (from their token) and a phone number.
    let mut patients = Vec::new();
    for i in 0..PATIENTS {
        let token = token(&issuer, &format!("rem-{i}"), &["patient"]);
        let mut client = AccountsServiceClient::new(channel(accounts_port));
        let profile = client
            .get_my_profile(with(accounts::GetMyProfileRequest {}, &token))
            .await
            .unwrap()
            .into_inner();
        client
            .update_profile(with(
                accounts::UpdateProfileRequest {
                    request_id: format!("phone-{i}"),
                    profile: Some(accounts::Profile {
                        user_id: profile.user_id.clone(),
                        phone: format!("+3736900{i:04}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["phone".into()],
                    }),
                },
                &token,
            ))
            .await
            .unwrap();
        patients.push(profile.user_id);
    }

    let env = [
        ("MEDMESH_AUTH__ISSUER", issuer.issuer()),
        (
            "MEDMESH_SERVICES__NOTIFY__DATABASE_URL",
            notify_db.url.expose_secret().to_string(),
        ),
        (
            "MEDMESH_SERVICES__ACCOUNTS__ENDPOINT",
            format!("http://127.0.0.1:{accounts_port}"),
        ),
        ("MEDMESH_NOTIFY__SMTP__URL", smtp.url()),
        ("MEDMESH_NOTIFY__SMS__URL", sms.url()),
        (
            "MEDMESH_NOTIFY__SMS__SECRET",
            "sms-provider-secret-0123456789".to_string(),
        ),
        ("MEDMESH_NOTIFY__POLL_INTERVAL_MS", "20".to_string()),
        ("MEDMESH_NOTIFY__BATCH", "50".to_string()),
        ("MEDMESH_NOTIFY__CONCURRENCY", CONCURRENCY.to_string()),
        // A killed process's claims come back quickly.
        ("MEDMESH_NOTIFY__LEASE_SECONDS", "3".to_string()),
        ("MEDMESH_NOTIFY__SEND_TIMEOUT_MS", "1000".to_string()),
        ("MEDMESH_NOTIFY__PER_RECIPIENT_PER_HOUR", "1000".to_string()),
    ];
    let mut processes: Vec<Option<Process>> = (0..3)
        .map(|i| {
            Some(serve(
                "notify",
                free_port(),
                &dir.path().join(format!("notify-{i}")),
                &env,
            ))
        })
        .collect();

    // A thousand appointments whose reminder is due, their patients wanting email and SMS,
    // committed at once (the processes have migrated the database by now).
    let app = App {
        db: notify_db.db.clone(),
        keys: svc_notify::NotifyConfig::keyring(
            &svc_kit::Settings::from_figment(svc_kit::Settings::figment(None))
                .unwrap()
                .section::<svc_notify::NotifyConfig>()
                .unwrap(),
            Mode::Dev,
        )
        .unwrap(),
        clock_offset: chrono::Duration::zero(),
        app_url: "http://localhost:8080".into(),
    };
    let txn = sea_orm::TransactionTrait::begin(&notify_db.db)
        .await
        .unwrap();
    let both = r#"{"kinds":{"appointment_reminder":["email","sms"]}}"#;
    for patient in &patients {
        settings::put_preferences(&txn, patient, both, None, 0, Utc::now())
            .await
            .unwrap();
    }
    let start = Utc::now() + chrono::Duration::hours(23);
    let mut appointment_ids = BTreeSet::new();
    for i in 0..REMINDERS {
        let id = uuid::Uuid::now_v7().to_string();
        let patient = &patients[i % PATIENTS];
        let values = BTreeMap::from([
            ("doctor_name".to_string(), "Dr. Ștefan Țurcanu".to_string()),
            ("clinic_name".to_string(), "Clinica Sănătatea".to_string()),
            ("time_zone".to_string(), "Europe/Chisinau".to_string()),
            ("start".to_string(), start.to_rfc3339()),
            (
                "link".to_string(),
                format!("http://localhost:8080/appointments/{id}"),
            ),
        ]);
        let (key, context) = app.seal(&appointment_place(&id), &values);
        schedule::upsert_appointment(
            &txn,
            &id,
            patient,
            "doctor",
            start,
            true,
            &key,
            context,
            Utc::now(),
        )
        .await
        .unwrap();
        schedule::schedule_reminder(
            &txn,
            &id,
            patient,
            1440,
            Utc::now() - chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
        appointment_ids.insert(id);
    }
    txn.commit().await.unwrap();

    // Kill one process once the sending is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while smtp.messages().len() < REMINDERS / 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "sending never got under way"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(processes[0].take());
    let sent = "SELECT COUNT(*) AS n FROM notifications WHERE status = 'sent'";
    loop {
        let n = svc_kit::testing::count(&notify_db.db, sent).await;
        if n == 2 * REMINDERS as i64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} of {} sent",
            2 * REMINDERS
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        svc_kit::testing::count(&notify_db.db, "SELECT COUNT(*) AS n FROM notifications").await,
        2 * REMINDERS as i64,
        "one email and one SMS per reminder, made once"
    );

    // At the SMTP server: every reminder, each Message-ID once but for the kill's in-flight.
    let mail = smtp.messages();
    let mut mailed = BTreeMap::<String, usize>::new();
    for m in &mail {
        *mailed
            .entry(m["message_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let linked: BTreeSet<String> = mail
        .iter()
        .filter_map(|m| {
            let body = m["body"].as_str()?;
            appointment_ids
                .iter()
                .find(|id| body.contains(id.as_str()))
                .cloned()
        })
        .collect();
    assert_eq!(
        linked, appointment_ids,
        "every appointment's reminder was mailed"
    );
    assert_eq!(mailed.len(), REMINDERS, "one Message-ID per reminder");
    // At the SMS provider: the same, by Idempotency-Key.
    let texts = sms.requests();
    let mut keys = BTreeMap::<String, usize>::new();
    for r in &texts {
        *keys
            .entry(r.headers["idempotency-key"].to_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(keys.len(), REMINDERS, "one idempotency key per reminder");
    let repeated_mail = mail.len() - mailed.len();
    let repeated_sms = texts.len() - keys.len();
    eprintln!(
        "reminders: {REMINDERS}; emails accepted {} ({repeated_mail} repeated), SMS accepted {} ({repeated_sms} repeated) after one of three processes was killed",
        mail.len(),
        texts.len()
    );
    // Only what the killed process had in flight can be repeated (a provider drops a repeated
    // idempotency key): it sends at most CONCURRENCY messages at a time.
    assert!(
        repeated_mail + repeated_sms <= CONCURRENCY,
        "{repeated_mail} emails and {repeated_sms} SMS repeated"
    );
    drop(processes);
    stop.cancel();
}
