//! No double booking across processes: svc-accounts and two svc-scheduling processes, each its
//! own `medmesh serve`, on real PostgreSQL, with a real OIDC issuer. 200 clients race for one
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
    ];
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

    // 200 clients, two processes, one slot: exactly one booking, every other a conflict.
    let (race_doctor, race_slot) = grid[3].clone();
    let tally = testing::race(&clients, &patients, &race_doctor, &race_slot).await;
    assert_eq!(tally.get("Ok"), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("AlreadyExists"),
        Some(&199),
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
    eprintln!("storm over two processes: {:?}", report.tally);
    assert!(
        report.false_conflicts.is_empty(),
        "{:?}",
        report.false_conflicts
    );
    for (code, n) in &report.tally {
        assert!(
            code == "Ok" || code == "AlreadyExists",
            "{n} calls answered {code}: {:?}",
            report.tally
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
