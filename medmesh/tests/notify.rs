//! Notifications end to end on the real parts: the platform with its events on Kafka (tansu),
//! notify on PostgreSQL, mailing through a real SMTP server (aiosmtpd). A patient books
//! through the GraphQL gateway and the confirmation arrives at the SMTP server; a
//! cancellation's notice follows; a reminder fires at the injected time, once, however many
//! workers race for it.

mod common;

use std::time::Duration;

use common::{graphql_as, weekday_after};
use medmesh::Platform;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use svc_kit::{
    ServiceName, Settings,
    auth::dev_issuer::WEB_CLIENT,
    people::People,
    testing::{Broker, SmtpSink, fresh_postgres_database},
};
use svc_notify::{
    NotifyConfig,
    app::{
        App,
        delivery::{Delivery, Tuning},
        transport::Transports,
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_through_the_gateway_is_mailed_and_its_reminder_fires_once() {
    let own_broker;
    let brokers = match std::env::var("MEDMESH_TEST_KAFKA_BROKERS") {
        Ok(brokers) => brokers,
        Err(_) => {
            own_broker = Broker::start();
            own_broker.brokers()
        }
    };
    let smtp = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let notify_db = fresh_postgres_database().await;
    let figment = common::dev_figment(dir.path())
        .merge(("events.backend", "kafka"))
        .merge(("events.kafka.brokers", brokers))
        .merge((
            "events.topic_prefix",
            format!("medmesh-notify-{}", uuid::Uuid::new_v4().simple()),
        ))
        .merge((
            "services.notify.database_url",
            notify_db.expose_secret().to_string(),
        ))
        .merge(("notify.smtp.url", smtp.url()))
        .merge(("notify.poll_interval_ms", 50));
    let settings = Settings::from_figment(figment).unwrap();
    let platform = Platform::start(settings.clone(), &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform).await.unwrap().unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let patient = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    let q = |query: String, variables: Value| {
        let (url, token) = (url.clone(), patient.clone());
        async move { graphql_as(&url, Some(&token), &query, variables).await }
    };
    let book = |day: chrono::NaiveDate, n: usize| {
        let doctor = demo.doctor_id.clone();
        async move {
            let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
            let slots = q(
                "query($d: ID!, $from: DateTime!, $to: DateTime!) { freeSlots(doctorId: $d, from: $from, to: $to) { slots { start } } }".into(),
                json!({ "d": doctor, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(1)).to_rfc3339() }),
            )
            .await;
            let start = slots["data"]["freeSlots"]["slots"][n]["start"].clone();
            assert!(start.is_string(), "{slots}");
            let hold = q(
                format!("mutation($d: ID!, $s: DateTime!) {{ holdSlot(requestId: \"hold-{day}-{n}\", doctorId: $d, start: $s) {{ id }} }}"),
                json!({ "d": doctor, "s": start }),
            )
            .await;
            let hold_id = hold["data"]["holdSlot"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{hold}"))
                .to_string();
            let booked = q(
                format!("mutation($h: ID!) {{ bookAppointment(input: {{requestId: \"book-{day}-{n}\", holdId: $h, reason: \"control\"}}) {{ id status }} }}"),
                json!({ "h": hold_id }),
            )
            .await;
            booked["data"]["bookAppointment"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{booked}"))
                .to_string()
        }
    };
    let mailed = |id: &str| {
        let link = format!("/appointments/{id}");
        smtp.messages()
            .into_iter()
            .filter(|m| m["body"].as_str().is_some_and(|b| b.contains(&link)))
            .collect::<Vec<_>>()
    };

    // Booked through the gateway: scheduling's event crosses Kafka, notify mails the patient.
    let first = book(weekday_after(3), 0).await;
    let link = format!("/appointments/{first}");
    smtp.wait_for(Duration::from_secs(60), |m| {
        m["body"].as_str().is_some_and(|b| b.contains(&link))
    })
    .await;
    let confirmation = mailed(&first);
    assert_eq!(confirmation.len(), 1, "{confirmation:?}");
    assert_eq!(confirmation[0]["rcpt_tos"], json!(["patient@medmesh.dev"]));
    assert!(!confirmation[0]["subject"].as_str().unwrap().is_empty());

    // Cancelled: the notice follows.
    let cancelled = q(
        "mutation($id: ID!) { cancelAppointment(requestId: \"cancel-1\", id: $id, reason: \"travel\") { status } }".to_string(),
        json!({ "id": first }),
    )
    .await;
    assert_eq!(
        cancelled["data"]["cancelAppointment"]["status"], "CANCELLED",
        "{cancelled}"
    );
    // The notice names the cancelled time as the confirmation wrote it (it has no link: the
    // appointment is gone).
    let body = confirmation[0]["body"].as_str().unwrap();
    let when = body
        .lines()
        .find_map(|l| l.strip_prefix("When: "))
        .unwrap_or_else(|| panic!("{body}"))
        .trim()
        .to_string();
    let to_patient = |m: &Value| m["rcpt_tos"] == json!(["patient@medmesh.dev"]);
    let is_notice = |m: &Value| {
        to_patient(m)
            && m["message_id"] != confirmation[0]["message_id"]
            && m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("cancelled"))
            && m["body"].as_str().is_some_and(|b| b.contains(&when))
    };
    let all = smtp.wait_for(Duration::from_secs(60), is_notice).await;
    assert_eq!(
        all.iter().filter(|m| is_notice(m)).count(),
        1,
        "one cancellation notice: {all:?}"
    );

    // A second booking; its 24-hour reminder is due in days. Workers whose clock reads past
    // that moment race for it: it fires once; the cancelled booking's never does.
    let second = book(weekday_after(4), 1).await;
    let link = format!("/appointments/{second}");
    smtp.wait_for(Duration::from_secs(60), |m| {
        m["body"].as_str().is_some_and(|b| b.contains(&link))
    })
    .await;
    assert_eq!(mailed(&second).len(), 1, "only the confirmation so far");
    let config: NotifyConfig = settings.section().unwrap();
    // The workers reach accounts where the platform bound it.
    let mut settings = settings.clone();
    settings.services.accounts.endpoint = Some(format!(
        "http://{}",
        platform.service_addr(ServiceName::Accounts).unwrap()
    ));
    let db = svc_kit::db::connect(&notify_db, &settings.database)
        .await
        .unwrap();
    let worker = |offset: chrono::Duration| {
        Delivery::new(
            App {
                db: db.clone(),
                keys: config.keyring(settings.mode).unwrap(),
                clock_offset: offset,
                app_url: config.app_url.clone(),
            },
            Transports::new(&config).unwrap(),
            People::for_service(
                &settings,
                ServiceName::Notify,
                svc_notify::CLIENT_ID,
                &platform.issuer_url,
            )
            .unwrap(),
            Tuning {
                max_attempts: 3,
                retry_base_ms: 100,
                retry_max_ms: 1000,
                batch: 100,
                concurrency: 4,
                lease: chrono::Duration::seconds(60),
                per_recipient_per_hour: 30,
                poll_interval: Duration::from_millis(50),
                send_timeout: chrono::Duration::seconds(10),
            },
        )
    };
    // Everything made so far is sent (so the workers below, whose clocks run ahead, find
    // nothing but the reminder), and nothing is due at the real time.
    let open =
        "SELECT COUNT(*) AS n FROM notifications WHERE status IN ('queued', 'sending', 'failed')";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while svc_kit::testing::count(&db, open).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "notifications still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        worker(chrono::Duration::zero())
            .fire_reminders()
            .await
            .unwrap(),
        0
    );
    // Their clocks read 23 hours before the appointment: past the reminder's time, before
    // the visit.
    let starts_at: chrono::DateTime<chrono::Utc> = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT starts_at FROM appointments WHERE appointment_id = $1",
            [second.clone().into()],
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get("", "starts_at")
    .unwrap();
    let ahead = starts_at - chrono::Duration::hours(23) - chrono::Utc::now();
    let (a, b, c) = (worker(ahead), worker(ahead), worker(ahead));
    let (x, y, z) = tokio::join!(a.fire_reminders(), b.fire_reminders(), c.fire_reminders());
    assert_eq!(x.unwrap() + y.unwrap() + z.unwrap(), 1, "fired once");
    let (x, y) = tokio::join!(a.send_due(), b.send_due());
    assert_eq!(x.unwrap() + y.unwrap(), 1);
    let reminders = mailed(&second);
    assert_eq!(
        reminders.len(),
        2,
        "the confirmation and one reminder: {reminders:?}"
    );
    assert_eq!(a.fire_reminders().await.unwrap(), 0);
    platform.stop().await;
}
