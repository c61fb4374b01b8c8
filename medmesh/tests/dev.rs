//! `medmesh dev` end to end: every service and the gateway in one process on loopback ports,
//! SQLite under a data directory, booted from empty and again from what the first run left.

mod common;

use common::dev_settings;

use std::time::Duration;

use medmesh::Platform;
use medmesh_proto::common::v1::Actor;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};
use svc_kit::{ServiceName, Settings, events::NewEvent, testing::count};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

async fn graphql(platform: &Platform, query: &str) -> Value {
    common::graphql(
        &format!("http://{}/graphql", platform.gateway_addr.unwrap()),
        query,
    )
    .await
}

fn api_name(service: ServiceName) -> &'static str {
    gateway_graphql::clients::service_api_name(service)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_boots_from_empty_and_again_from_existing_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    // First boot: nothing exists yet.
    let platform = Platform::start(dev_settings(&data_dir), &Platform::all_components())
        .await
        .unwrap();
    let health = graphql(
        &platform,
        "{ meshHealth { healthy services { name status error } } }",
    )
    .await;
    assert_eq!(
        health["data"]["meshHealth"]["healthy"],
        json!(true),
        "{health}"
    );
    let names: Vec<&str> = health["data"]["meshHealth"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["accounts", "scheduling", "pharmacy", "records", "notify"]
    );
    for service in ServiceName::ALL {
        assert!(
            data_dir.join(format!("{service}.sqlite3")).is_file(),
            "{service} has its own database file"
        );
    }

    // Write through a service's own database, the way a handler would.
    let accounts = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Accounts)
        .unwrap();
    let ctx = &accounts.context;
    let txn = ctx.db.begin().await.unwrap();
    let event = NewEvent::new(
        "medmesh.test.v1.kept",
        "test",
        "agg-1",
        "medmesh.common.v1.Actor",
        &Actor::default(),
    );
    let event_id = ctx.outbox.enqueue(&txn, event).await.unwrap();
    txn.commit().await.unwrap();
    let migrations_before = count(&ctx.db, "SELECT COUNT(*) FROM schema_migrations").await;
    platform.stop().await;

    // Second boot on the same directory: data kept, nothing migrated twice.
    let platform = Platform::start(dev_settings(&data_dir), &Platform::all_components())
        .await
        .unwrap();
    let health = graphql(&platform, "{ meshHealth { healthy } }").await;
    assert_eq!(
        health["data"]["meshHealth"]["healthy"],
        json!(true),
        "{health}"
    );
    let accounts = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Accounts)
        .unwrap();
    let db = &accounts.context.db;
    let kept = count(
        db,
        &format!("SELECT COUNT(*) FROM outbox WHERE event_id = '{event_id}'"),
    )
    .await;
    assert_eq!(
        kept, 1,
        "the event written before the restart is still there"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM schema_migrations").await,
        migrations_before
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_answers_health_and_reflection() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    for service in ServiceName::ALL {
        let addr = platform.service_addr(service).unwrap();
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();

        let mut health = HealthClient::new(channel.clone());
        let status = health
            .check(HealthCheckRequest {
                service: api_name(service).into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");

        let mut reflection = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                api_name(service).into(),
            )),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.next().await.unwrap().unwrap();
        match response.message_response {
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                assert!(
                    !files.file_descriptor_proto.is_empty(),
                    "{service} describes its API"
                );
            }
            other => panic!("{service}: unexpected reflection answer {other:?}"),
        }
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_serves_metrics_live_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    // Produce some gRPC traffic through the gateway.
    graphql(&platform, "{ meshHealth { healthy } }").await;
    let admin = platform.admin_addr;
    let client = reqwest::Client::new();

    let live = client
        .get(format!("http://{admin}/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = client
        .get(format!("http://{admin}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["scheduling.database"], "ok", "{ready}");

    let metrics = client
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("grpc_server_handling_seconds_bucket{")
                && l.contains("grpc_service=\"grpc.health.v1.Health\"")),
        "health checks show as histogram buckets:\n{metrics}"
    );
    assert!(
        metrics.contains("graphql_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // Once shutdown starts, /ready says so while the port still answers.
    let token = platform.shutdown_token();
    let stopping = tokio::spawn(platform.run_until_stopped());
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_leaves_every_replica_ready_and_every_answer_right() {
    use svc_kit::{auth::dev_issuer::WEB_CLIENT, testing::RedisServer};
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let figment = common::dev_figment(dir.path())
        .merge(("cache.backend", "redis"))
        .merge(("cache.redis.url", redis.url.clone()));
    let settings = Settings::from_figment(figment).unwrap();
    let platform = Platform::start(settings, &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform).await.unwrap().unwrap();
    let ready = || async {
        let answer = reqwest::get(format!("http://{}/ready", platform.admin_addr))
            .await
            .unwrap();
        let status = answer.status();
        (status, answer.json::<Value>().await.unwrap())
    };
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["scheduling.cache"], "ok", "{body}");

    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let patient = platform
        .dev_issuer
        .as_ref()
        .unwrap()
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    let day = common::weekday_after(2)
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let slots = || async {
        let answer = common::graphql_as(
            &url,
            Some(&patient),
            "query($d: ID!, $f: DateTime!, $t: DateTime!) { freeSlots(doctorId: $d, from: $f, to: $t) { slots { start } } }",
            json!({ "d": demo.doctor_id, "f": day.to_rfc3339(), "t": (day + chrono::Duration::days(1)).to_rfc3339() }),
        )
        .await;
        assert!(answer["errors"].is_null(), "{answer}");
        answer["data"]["freeSlots"]["slots"]
            .as_array()
            .unwrap()
            .clone()
    };
    // Read once with Redis up, so the answer is cached there.
    let before = slots().await;
    assert!(!before.is_empty());

    redis.stop();
    // Still ready: the cache is reported, not required.
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["scheduling.database"], "ok", "{body}");
    assert_ne!(body["checks"]["scheduling.cache"], "ok", "{body}");
    // And right: a slot held now is gone from the next answer, read from the database.
    let hold = common::graphql_as(
        &url,
        Some(&patient),
        "mutation($d: ID!, $s: DateTime!) { holdSlot(requestId: \"outage-hold\", doctorId: $d, start: $s) { id } }",
        json!({ "d": demo.doctor_id, "s": before[0]["start"] }),
    )
    .await;
    assert!(hold["errors"].is_null(), "{hold}");
    let after = slots().await;
    assert_eq!(after.len(), before.len() - 1, "{after:?}");
    assert!(!after.contains(&before[0]));
    platform.stop().await;
}

/// Calls one RPC of every service's API with `token` and returns each status code.
async fn call_every_api(
    platform: &Platform,
    token: Option<&str>,
) -> Vec<(ServiceName, tonic::Code)> {
    use medmesh_proto::{
        accounts::v1::{GetMyProfileRequest, accounts_service_client::AccountsServiceClient},
        notify::v1::{GetPreferencesRequest, notify_service_client::NotifyServiceClient},
        pharmacy::v1::{ListPharmaciesRequest, pharmacy_service_client::PharmacyServiceClient},
        records::v1::{GetPatientCardRequest, records_service_client::RecordsServiceClient},
        scheduling::v1::{ListClinicsRequest, scheduling_service_client::SchedulingServiceClient},
    };
    fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
    }
    let channel = |service| {
        let addr = platform.service_addr(service).unwrap();
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    };
    let code = |result: Result<tonic::Response<_>, tonic::Status>| match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    vec![
        (
            ServiceName::Accounts,
            code(
                AccountsServiceClient::new(channel(ServiceName::Accounts))
                    .get_my_profile(request(GetMyProfileRequest {}, token))
                    .await
                    .map(|_| tonic::Response::new(())),
            ),
        ),
        (
            ServiceName::Scheduling,
            code(
                SchedulingServiceClient::new(channel(ServiceName::Scheduling))
                    .list_clinics(request(ListClinicsRequest::default(), token))
                    .await
                    .map(|_| tonic::Response::new(())),
            ),
        ),
        (
            ServiceName::Pharmacy,
            code(
                PharmacyServiceClient::new(channel(ServiceName::Pharmacy))
                    .list_pharmacies(request(ListPharmaciesRequest::default(), token))
                    .await
                    .map(|_| tonic::Response::new(())),
            ),
        ),
        (
            ServiceName::Records,
            code(
                RecordsServiceClient::new(channel(ServiceName::Records))
                    .get_patient_card(request(GetPatientCardRequest::default(), token))
                    .await
                    .map(|_| tonic::Response::new(())),
            ),
        ),
        (
            ServiceName::Notify,
            code(
                NotifyServiceClient::new(channel(ServiceName::Notify))
                    .get_preferences(request(GetPreferencesRequest::default(), token))
                    .await
                    .map(|_| tonic::Response::new(())),
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_api_refuses_bad_tokens_and_admits_good_ones() {
    use svc_kit::auth::dev_issuer::{DevIssuer, WEB_CLIENT};
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let issuer = platform
        .dev_issuer
        .clone()
        .expect("dev mode runs the dev issuer");
    let now = chrono::Utc::now().timestamp();
    let claims = issuer.claims(
        &DevIssuer::demo_subject("patient").unwrap(),
        "patient",
        &["patient"],
        WEB_CLIENT,
    );
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let impostor =
        DevIssuer::new(svc_kit::config::Mode::Dev, "http://unused".into(), None).unwrap();
    let bad_tokens: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("garbage".into())),
        (
            "expired",
            Some(issuer.sign(&with("exp", json!(now - 3600)))),
        ),
        (
            "nbf in the future",
            Some(issuer.sign(&with("nbf", json!(now + 3600)))),
        ),
        (
            "wrong issuer",
            Some(issuer.sign(&with("iss", json!("http://evil/realms/medmesh")))),
        ),
        (
            "not our audience",
            Some(issuer.sign(&with("aud", json!("account")))),
        ),
        (
            "disallowed client",
            Some(issuer.sign(&with("azp", json!("evil-client")))),
        ),
        ("unknown signing key", Some(impostor.sign(&claims))),
    ];
    for (what, token) in &bad_tokens {
        for (service, code) in call_every_api(&platform, token.as_deref()).await {
            assert_eq!(code, tonic::Code::Unauthenticated, "{service} with {what}");
        }
    }
    // A valid token gets through to every service (the patient's own profile, card and
    // notification preferences).
    let good = issuer
        .password_grant("patient", "patient", WEB_CLIENT)
        .unwrap();
    for (service, code) in call_every_api(&platform, Some(&good)).await {
        assert_eq!(code, tonic::Code::Ok, "{service} with a valid token");
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_reports_a_stopped_service_as_unreachable() {
    use medmesh::Component;
    let dir = tempfile::tempdir().unwrap();
    // Everything but records, whose endpoint points at a port nobody listens on: port 1
    // (tcpmux), never bound here, where a free port picked earlier could be taken by one of the
    // services this test starts on port 0.
    let port = 1;
    let settings = Settings::from_figment(
        Settings::figment(None)
            .merge(("data_dir", dir.path().display().to_string()))
            .merge(("admin.port", 0))
            .merge(("gateway.port", 0))
            .merge(("gateway.upstream_timeout_ms", 500))
            .merge(("dev_issuer.port", 0))
            .merge(("services.accounts.port", 0))
            .merge(("services.scheduling.port", 0))
            .merge(("services.pharmacy.port", 0))
            .merge(("services.notify.port", 0))
            .merge((
                "services.records.endpoint",
                format!("http://127.0.0.1:{port}"),
            )),
    )
    .unwrap();
    let components: Vec<Component> = Platform::all_components()
        .into_iter()
        .filter(|c| *c != Component::Service(ServiceName::Records))
        .collect();
    let platform = Platform::start(settings, &components).await.unwrap();
    let health = graphql(
        &platform,
        "{ meshHealth { healthy services { name status error } } }",
    )
    .await;
    assert_eq!(
        health["data"]["meshHealth"]["healthy"],
        json!(false),
        "{health}"
    );
    let records = health["data"]["meshHealth"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "records")
        .unwrap()
        .clone();
    assert_eq!(records["status"], "UNREACHABLE", "{records}");
    assert_eq!(records["error"], "Unavailable", "{records}");
    platform.stop().await;
}

/// The first error's `extensions.code`.
fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error with a code: {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_through_the_gateway() {
    use common::{graphql_as, sign_in};
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.issuer_url.clone();
    let profile = "id username email roles phone timeZone version";

    // A visitor registers, then signs in at the issuer like the web app does.
    let register = format!(
        "mutation($input: RegisterPatientInput!) {{ registerPatient(input: $input) {{ {profile} }} }}"
    );
    let input = json!({ "input": {
        "requestId": "reg-1", "username": "maria", "email": "maria@example.org",
        "givenName": "Maria", "familyName": "Koval", "password": "a long enough secret",
        "timeZone": "Europe/Kyiv",
    }});
    let registered = graphql_as(&url, None, &register, input.clone()).await;
    assert_eq!(
        registered["data"]["registerPatient"]["roles"],
        json!(["PATIENT"]),
        "{registered}"
    );
    let again = graphql_as(&url, None, &register, input).await;
    assert_eq!(
        again["data"]["registerPatient"]["id"],
        registered["data"]["registerPatient"]["id"]
    );
    let maria = sign_in(&issuer, "maria", "a long enough secret")
        .await
        .expect("signs in");
    let me = graphql_as(
        &url,
        Some(&maria),
        &format!("{{ me {{ {profile} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(
        me["data"]["me"]["id"], registered["data"]["registerPatient"]["id"],
        "{me}"
    );

    // Bad input names the field, in the graph's own words.
    let update =
        "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { phone version } }";
    let bad = graphql_as(
        &url,
        Some(&maria),
        update,
        json!({ "input": { "requestId": "u-1", "givenName": "" } }),
    )
    .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    assert_eq!(
        bad["errors"][0]["extensions"]["fields"][0]["field"],
        "givenName"
    );
    let good = graphql_as(
        &url,
        Some(&maria),
        update,
        json!({ "input": { "requestId": "u-2", "phone": "+380 44 123 4567" } }),
    )
    .await;
    assert_eq!(
        good["data"]["updateProfile"]["phone"], "+380441234567",
        "{good}"
    );

    // Roles per resolver: admin fields are refused before anything runs.
    let users = "{ users(role: PATIENT) { users { username } nextPageToken } }";
    let refused = graphql_as(&url, Some(&maria), users, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(refused["data"], Value::Null);
    assert_eq!(
        error_code(&graphql_as(&url, None, "{ me { id } }", json!({})).await),
        "UNAUTHENTICATED"
    );

    // Ownership is the service's: someone else's id is simply not found.
    let admin = sign_in(&issuer, "admin", "admin").await.unwrap();
    let admin_me = graphql_as(&url, Some(&admin), "{ me { id } }", json!({})).await;
    let admin_id = admin_me["data"]["me"]["id"].as_str().unwrap().to_string();
    let probe = graphql_as(
        &url,
        Some(&maria),
        "query($id: ID!) { user(id: $id) { email } }",
        json!({ "id": admin_id }),
    )
    .await;
    assert_eq!(error_code(&probe), "NOT_FOUND", "{probe}");
    assert_eq!(probe["errors"][0]["extensions"]["service"], "accounts");

    // The admin sees her, changes her roles, and the trail shows it.
    let listed = graphql_as(&url, Some(&admin), users, json!({})).await;
    assert_eq!(
        listed["data"]["users"]["users"],
        json!([{ "username": "maria" }]),
        "{listed}"
    );
    let maria_id = me["data"]["me"]["id"].as_str().unwrap().to_string();
    let set = "mutation($id: ID!) { setRoles(requestId: \"r-1\", userId: $id, roles: [PATIENT, NURSE]) { roles } }";
    let changed = graphql_as(&url, Some(&admin), set, json!({ "id": maria_id })).await;
    assert_eq!(
        changed["data"]["setRoles"]["roles"],
        json!(["NURSE", "PATIENT"]),
        "{changed}"
    );
    let unknown = graphql_as(&url, Some(&admin), "mutation($id: ID!) { setRoles(requestId: \"r-2\", userId: $id, roles: [JANITOR]) { roles } }", json!({ "id": maria_id })).await;
    assert_eq!(
        error_code(&unknown),
        "BAD_USER_INPUT",
        "an unknown role: {unknown}"
    );
    let trail = graphql_as(
        &url,
        Some(&admin),
        "query($id: ID) { auditEvents(userId: $id) { events { action actorUsername } } }",
        json!({ "id": maria_id }),
    )
    .await;
    let actions: Vec<&str> = trail["data"]["auditEvents"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["roles.set", "profile.updated", "user.registered"]
    );

    // Her export, then her erasure; afterwards her token reaches nothing.
    let export = graphql_as(
        &url,
        Some(&maria),
        "{ myDataExport { contentType document } }",
        json!({}),
    )
    .await;
    assert_eq!(
        export["data"]["myDataExport"]["document"]["profile"]["username"], "maria",
        "{export}"
    );
    let erased = graphql_as(
        &url,
        Some(&maria),
        "mutation { eraseMyAccount(requestId: \"e-1\") }",
        json!({}),
    )
    .await;
    assert!(erased["data"]["eraseMyAccount"].is_string(), "{erased}");
    assert!(
        sign_in(&issuer, "maria", "a long enough secret")
            .await
            .is_none()
    );
    let after = graphql_as(&url, Some(&maria), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&after), "FORBIDDEN", "{after}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused_by_the_gateway_and_touch_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let issuer = platform.dev_issuer.clone().unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let claims = issuer.claims(
        &svc_kit::auth::dev_issuer::DevIssuer::demo_subject("admin").unwrap(),
        "admin",
        &["admin"],
        "medmesh-web",
    );
    let queries = [
        "{ me { id } }",
        "mutation { updateProfile(input: { requestId: \"f\", phone: \"+380441234567\" }) { id } }",
        "mutation { registerPatient(input: { requestId: \"f\", username: \"forger\", email: \"f@example.org\", givenName: \"F\", familyName: \"F\", password: \"a long enough secret\" }) { id } }",
    ];
    for (what, token) in svc_kit::testing::forged_tokens(&issuer, &claims) {
        for query in queries {
            let response = common::graphql_as(&url, Some(&token), query, json!({})).await;
            assert_eq!(response["data"], Value::Null, "{what}: {response}");
            assert_eq!(error_code(&response), "UNAUTHENTICATED", "{what}");
        }
    }
    let accounts = platform
        .services
        .iter()
        .find(|s| s.service == ServiceName::Accounts)
        .unwrap();
    assert_eq!(
        count(&accounts.context.db, "SELECT COUNT(*) FROM users").await,
        0
    );
    assert_eq!(
        count(&accounts.context.db, "SELECT COUNT(*) FROM outbox").await,
        0
    );
    assert!(issuer.directory.by_username("forger").is_none());
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_signs_in_as_a_demo_user() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let gateway = format!("http://{}", platform.gateway_addr.unwrap());
    let page = reqwest::get(format!("{gateway}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token_url = platform.dev_issuer.as_ref().unwrap().token_endpoint();
    assert!(
        page.contains("medmesh-sign-in"),
        "the picker is on the page"
    );
    assert!(
        page.contains(&format!("\"{token_url}\"")),
        "it signs in at the dev issuer"
    );
    for user in svc_kit::auth::dev_issuer::DEMO_USERS {
        assert!(page.contains(&format!("\"{user}\"")), "{user} is offered");
    }
    // The page lives on the gateway's origin and asks the issuer's: the issuer allows it.
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, &token_url)
        .header("Origin", &gateway)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let answer = client
        .post(&token_url)
        .header("Origin", &gateway)
        .form(&[
            ("grant_type", "password"),
            ("client_id", "medmesh-web"),
            ("username", "doctor"),
            ("password", "doctor"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    let token: Value = answer.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap();
    // What the page's fetch wrapper then sends.
    let me = common::graphql_as(
        &format!("{gateway}/graphql"),
        Some(token),
        "{ me { username roles } }",
        json!({}),
    )
    .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "username": "doctor", "roles": ["DOCTOR"] }),
        "{me}"
    );
    // The admin API is not open to pages.
    let admin = client
        .request(
            reqwest::Method::OPTIONS,
            format!(
                "{}/users",
                platform.dev_issuer.as_ref().unwrap().admin_base()
            ),
        )
        .header("Origin", &gateway)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(admin.headers().get("access-control-allow-origin").is_none());
    platform.stop().await;
}
