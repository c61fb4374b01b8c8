//! The whole platform over mutual TLS, with an authority made in the test: every service
//! serves TLS only and asks for the platform's client certificate, the gateway's channels and
//! each service's channel to svc-accounts present theirs; accounts and scheduling reach
//! PostgreSQL over TLS (verify-full) and every service its cache, a Redis speaking TLS only.
//! A patient books, the clinic confirms,
//! the confirmation names the patient (scheduling asked accounts over TLS); a client without a
//! certificate, or trusting another authority, reaches no service.

mod common;

use std::time::Duration;

use common::{dev_figment, graphql_as};
use medmesh::Platform;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use svc_kit::{
    ServiceName, Settings,
    auth::dev_issuer::WEB_CLIENT,
    testing::TestCa,
    tls::{ClientAuth, Tls, TlsSettings},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn with_tls(figment: figment::Figment, tls: &TlsSettings) -> figment::Figment {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().unwrap().display().to_string();
    figment
        .merge(("tls.cert_file", path(&tls.cert_file)))
        .merge(("tls.key_file", path(&tls.key_file)))
        .merge(("tls.ca_file", path(&tls.ca_file)))
        .merge(("tls.client_auth", "required"))
}

async fn health(tls: &Tls, url: &str) -> Result<i32, String> {
    let channel = tls
        .endpoint(url)?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_and_the_gateways_channels_speak_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    // One certificate for every service of the process: it names each of them, since under
    // mutual TLS a service's token is accepted only from a certificate naming that service.
    let tls = ca.settings(
        dir.path(),
        &[
            "127.0.0.1",
            "localhost",
            "svc-gateway",
            "svc-accounts",
            "svc-scheduling",
            "svc-pharmacy",
            "svc-records",
            "svc-notify",
        ],
        ClientAuth::Required,
    );
    // Accounts and scheduling keep their data in PostgreSQL, reached over TLS (verify-full).
    let accounts_db =
        svc_kit::testing::over_tls(&svc_kit::testing::fresh_postgres_database().await);
    let scheduling_db =
        svc_kit::testing::over_tls(&svc_kit::testing::fresh_postgres_database().await);
    // The cache is a Redis that speaks TLS only, its certificate signed by the same authority.
    let redis = svc_kit::testing::RedisServer::start_tls(&ca, dir.path());
    let figment = with_tls(dev_figment(dir.path()), &tls)
        .merge(("cache.backend", "redis"))
        .merge(("cache.redis.url", redis.url.clone()))
        .merge(("cache.redis.timeout_ms", 2000))
        .merge(("cache.key_prefix", svc_kit::testing::unique_prefix()))
        .merge((
            "services.accounts.database_url",
            accounts_db.expose_secret().to_string(),
        ))
        .merge((
            "services.scheduling.database_url",
            scheduling_db.expose_secret().to_string(),
        ));
    let settings = Settings::from_figment(figment).unwrap();
    let platform = Platform::start(settings, &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform)
        .await
        .unwrap()
        .expect("dev seeds demo data");
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let q = |token: Option<String>, query: &'static str, variables: Value| {
        let url = url.clone();
        async move { graphql_as(&url, token.as_deref(), query, variables).await }
    };

    // The gateway reaches every service, each over TLS.
    let health_answer = q(
        None,
        "{ meshHealth { healthy services { name status } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        health_answer["data"]["meshHealth"]["healthy"], true,
        "{health_answer}"
    );

    // A booking, its confirmation and the patient's name in it: gateway → scheduling,
    // scheduling → accounts (its own token, its own certificate).
    let patient = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    let admin = issuer.password_grant("admin", "admin", WEB_CLIENT).unwrap();
    let admin_token = admin.clone();
    let from = common::weekday_after(1)
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let slots = q(
        Some(patient.clone()),
        "query($doctor: ID!, $from: DateTime!, $to: DateTime!) { freeSlots(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
        json!({ "doctor": demo.doctor_id, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(1)).to_rfc3339() }),
    )
    .await;
    let start = slots["data"]["freeSlots"]["slots"][0]["start"].clone();
    assert!(start.is_string(), "{slots}");
    let booked = q(
        Some(patient.clone()),
        "mutation($doctor: ID!, $start: DateTime!) { bookAppointment(input: {requestId: \"tls-book-1\", doctorId: $doctor, start: $start, reason: \"check-up\"}) { id status } }",
        json!({ "doctor": demo.doctor_id, "start": start }),
    )
    .await;
    let id = booked["data"]["bookAppointment"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{booked}"))
        .to_string();
    let confirmed = q(
        Some(admin),
        "mutation($id: ID!) { changeAppointmentStatus(requestId: \"tls-confirm-1\", id: $id, status: CONFIRMED) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        confirmed["data"]["changeAppointmentStatus"]["status"], "CONFIRMED",
        "{confirmed}"
    );
    let document = q(
        Some(patient),
        "query($id: ID!) { appointmentConfirmation(id: $id) { sizeBytes } }",
        json!({ "id": id }),
    )
    .await;
    assert!(
        document["data"]["appointmentConfirmation"]["sizeBytes"]
            .as_i64()
            .is_some_and(|n| n > 1000),
        "{document}"
    );

    // Scheduling's and accounts' connections are TLS.
    for service in [ServiceName::Accounts, ServiceName::Scheduling] {
        let db = &platform
            .services
            .iter()
            .find(|s| s.service == service)
            .unwrap()
            .context
            .db;
        assert_eq!(
            svc_kit::testing::count(
                db,
                "SELECT COUNT(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl"
            )
            .await,
            1,
            "{service} speaks TLS to PostgreSQL"
        );
    }

    // Every service used the cache over TLS and never fell back for want of it: scheduling
    // looked the free slots up in Redis (a miss is Redis answering "none"; an unreachable
    // Redis is a fallback), and nothing fell back.
    for _ in 0..2 {
        q(
            Some(admin_token.clone()),
            "query($doctor: ID!, $from: DateTime!, $to: DateTime!) { freeSlots(doctorId: $doctor, from: $from, to: $to) { slots { start } } }",
            json!({ "doctor": demo.doctor_id, "from": from.to_rfc3339(), "to": (from + chrono::Duration::days(2)).to_rfc3339() }),
        )
        .await;
    }
    let metric = |name: &str, label: &str| -> f64 {
        svc_kit::telemetry::metrics_handle()
            .render()
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        metric("cache_fallback_total", ""),
        0.0,
        "no cache call fell back"
    );
    assert!(
        metric("medmesh_scheduling_slot_cache_total", "result=\"miss\"") >= 1.0,
        "free slots were looked up in Redis"
    );
    let probe = svc_kit::cache::Cache::from_settings(
        &Settings::from_figment(
            dev_figment(dir.path())
                .merge(("cache.backend", "redis"))
                .merge(("cache.redis.url", redis.url.clone())),
        )
        .unwrap()
        .cache,
        "probe",
    )
    .unwrap();
    probe.ping().await.expect("Redis answers over TLS");

    // From outside: the platform's own certificate gets in; no certificate, another
    // authority, or plain HTTP/2 does not, at any service.
    let member = Tls::load(&ca.settings(dir.path(), &["svc-notify"], ClientAuth::None)).unwrap();
    let ca_only = {
        let mut settings = tls.clone();
        settings.cert_file = None;
        settings.key_file = None;
        settings.client_auth = ClientAuth::None;
        Tls::load(&settings).unwrap()
    };
    let stranger = Tls::load(&TestCa::new("Someone else's CA").settings(
        dir.path(),
        &["127.0.0.1"],
        ClientAuth::None,
    ))
    .unwrap();
    for service in ServiceName::ALL {
        let addr = platform
            .services
            .iter()
            .find(|s| s.service == service)
            .unwrap()
            .grpc_addr;
        let https = format!("https://{addr}");
        assert_eq!(health(&member, &https).await, Ok(1), "{service}: SERVING");
        for (what, tls, url) in [
            ("without a certificate", &ca_only, https.clone()),
            ("trusting another authority", &stranger, https.clone()),
            ("plain HTTP/2", &member, format!("http://{addr}")),
        ] {
            let answer = health(tls, &url).await;
            assert!(answer.is_err(), "{service} {what}: {answer:?}");
        }
    }
    platform.stop().await;
}

#[test]
fn a_process_whose_certificate_does_not_name_its_service_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("MedMesh test CA");
    let validate = |names: &[&str], components: &[medmesh::Component]| {
        let tls = ca.settings(dir.path(), names, ClientAuth::Required);
        let settings = Settings::from_figment(with_tls(dev_figment(dir.path()), &tls)).unwrap();
        Platform::validate(&settings, components).map(|_| ())
    };
    let scheduling = [medmesh::Component::Service(ServiceName::Scheduling)];
    // Under mutual TLS its calls as svc-scheduling would all be refused: it does not start.
    let refused = validate(&["127.0.0.1", "localhost"], &scheduling)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("tls.cert_file"), "{refused}");
    assert!(refused.contains("svc-scheduling"), "{refused}");
    let refused = validate(&["svc-notify"], &scheduling)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("svc-scheduling"), "{refused}");
    // Its workload name or its host name in the deployments will do.
    validate(&["svc-scheduling"], &scheduling).unwrap();
    validate(&["scheduling", "127.0.0.1"], &scheduling).unwrap();
    // The gateway's is svc-gateway (or gateway); a process of several needs every name.
    let both = [
        medmesh::Component::Gateway,
        medmesh::Component::Service(ServiceName::Scheduling),
    ];
    assert!(validate(&["scheduling"], &both).is_err());
    validate(&["gateway", "scheduling"], &both).unwrap();
}
