//! The monitoring configuration against a live platform and a real Prometheus: `medmesh dev`
//! runs in-process and serves some traffic (a booking, a patient card, a prescription
//! dispensed); Prometheus (Debian's package, as the test command installs it) runs with the
//! committed `swarm/prometheus/dev.yml` and its rules, scrapes the platform, and then:
//!
//! - every target is up and every rule loads and evaluates without an error;
//! - every metric named by an alert or a Grafana panel is one Prometheus scraped from the
//!   platform, and every panel's expression runs.

mod common;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{graphql_as, weekday_after};
use medmesh::Platform;
use serde_json::{Value, json};
use svc_kit::auth::dev_issuer::WEB_CLIENT;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn prometheus_binary() -> String {
    std::env::var("MEDMESH_TEST_PROMETHEUS").unwrap_or_else(|_| "prometheus".to_string())
}

/// A Prometheus server; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// The committed dev configuration, its target moved to `admin` (the port this test's
    /// platform bound), its rules the committed ones.
    fn start(admin: std::net::SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = std::fs::read_to_string(repo().join("swarm/prometheus/dev.yml")).unwrap();
        assert!(
            config.contains("127.0.0.1:9100"),
            "dev.yml scrapes 127.0.0.1:9100"
        );
        let config = config.replace("127.0.0.1:9100", &admin.to_string());
        std::fs::write(dir.path().join("dev.yml"), config).unwrap();
        std::os::unix::fs::symlink(
            repo().join("swarm/prometheus/rules"),
            dir.path().join("rules"),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(prometheus_binary())
            .arg(format!(
                "--config.file={}",
                dir.path().join("dev.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not run ({e}): the test command installs Debian's prometheus",
                    prometheus_binary()
                )
            });
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/{path}", self.url))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus answers /api/v1/{path}: {e}"))
            .json()
            .await
            .unwrap();
        answer
    }

    /// Polls `check` on `path` until it holds, for up to `within`.
    async fn wait(&self, what: &str, within: Duration, path: &str, check: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(answer) = reqwest::Client::new()
                .get(format!("{}/api/v1/{path}", self.url))
                .send()
                .await
                && let Ok(body) = answer.json::<Value>().await
                && check(&body)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus: {what} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The metric names a PromQL expression selects: identifiers outside label matchers, ranges,
/// strings and grouping clauses, that are not functions, keywords or numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Clauses followed by a parenthesised list of labels.
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        // Aggregations, which may read `sum by (x) (...)`: a name, then a clause.
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_to = |mut i: usize, close: char| {
        while i < chars.len() && chars[i] != close {
            i += 1;
        }
        i + 1
    };
    let mut group_next = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => i = skip_to(i, '}'),
            '[' => i = skip_to(i, ']'),
            '"' => i = skip_to(i + 1, '"'),
            '\'' => i = skip_to(i + 1, '\''),
            '(' if group_next => {
                i = skip_to(i, ')');
                group_next = false;
            }
            '$' => {
                // A dashboard variable: skip it whole.
                i += 1;
                while i < chars.len() && is_part(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or a duration (5m, 1e3).
                while i < chars.len() && (is_part(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_start(c) => {
                let start = i;
                while i < chars.len() && is_part(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&lower.as_str()) {
                    group_next = true;
                } else if KEYWORDS.contains(&lower.as_str()) {
                } else if j < chars.len() && chars[j] == '(' {
                    // A function or an aggregation (whose `by (...)` may follow its body).
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
        if !c.is_whitespace() && !is_start(c) && c != '(' {
            group_next = group_next && c == ')';
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = |e| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le, grpc_service) (rate(grpc_server_handling_seconds_bucket{job=~"$job"}[$__rate_interval])))"#
        ),
        ["grpc_server_handling_seconds_bucket"]
    );
    assert_eq!(
        names(
            r#"sum(rate(a_total{x="y"}[5m])) by (service) / ignoring(x) group_left sum without (y) (b_total offset 1h) > 0.5 and on() vector(1)"#
        ),
        ["a_total", "b_total"]
    );
    assert_eq!(names("up == 0"), ["up"]);
    assert_eq!(names(r#"count(up{job="x"}) or vector(0)"#), ["up"]);
}

/// Some of everything the dashboards show: a booking, a card read, a prescription dispensed.
async fn traffic(platform: &Platform, doctor_id: &str) {
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let token = |user: &str| issuer.password_grant(user, user, WEB_CLIENT).unwrap();
    let (patient, doctor, pharmacist) = (token("patient"), token("doctor"), token("pharmacist"));
    let q = |token: &str, query: &str, variables: Value| {
        let (url, token, query) = (url.clone(), token.to_string(), query.to_string());
        async move {
            let answer = graphql_as(&url, Some(&token), &query, variables).await;
            assert!(answer["errors"].is_null(), "{query}: {answer}");
            answer["data"].clone()
        }
    };
    let day = weekday_after(3).and_hms_opt(0, 0, 0).unwrap().and_utc();
    let slots = q(
        &patient,
        "query($d: ID!, $f: DateTime!, $t: DateTime!) { freeSlots(doctorId: $d, from: $f, to: $t) { slots { start } } }",
        json!({ "d": doctor_id, "f": day.to_rfc3339(), "t": (day + chrono::Duration::days(1)).to_rfc3339() }),
    )
    .await;
    let start = slots["freeSlots"]["slots"][0]["start"].clone();
    let hold = q(
        &patient,
        "mutation($d: ID!, $s: DateTime!) { holdSlot(requestId: \"monitoring-hold\", doctorId: $d, start: $s) { id } }",
        json!({ "d": doctor_id, "s": start }),
    )
    .await;
    q(
        &patient,
        "mutation($h: ID!) { bookAppointment(input: {requestId: \"monitoring-book\", holdId: $h, reason: \"check-up\"}) { id } }",
        json!({ "h": hold["holdSlot"]["id"] }),
    )
    .await;
    // A second hold of the same time is a conflict (counted).
    let conflict = graphql_as(
        &url,
        Some(&token("nurse")),
        "mutation($d: ID!, $s: DateTime!, $p: ID) { holdSlot(requestId: \"monitoring-conflict\", doctorId: $d, start: $s, patientId: $p) { id } }",
        json!({ "d": doctor_id, "s": start, "p": q(&patient, "{ me { id } }", json!({})).await["me"]["id"] }),
    )
    .await;
    assert!(!conflict["errors"].is_null(), "{conflict}");

    let patient_id = q(&patient, "{ me { id } }", json!({})).await["me"]["id"].clone();
    q(
        &doctor,
        "query($p: ID!) { patientCard(patientId: $p) { patientId } }",
        json!({ "p": patient_id }),
    )
    .await;
    let medication = q(
        &doctor,
        "{ medications(query: \"paracetamol\") { medications { id } } }",
        json!({}),
    )
    .await["medications"]["medications"][0]["id"]
        .clone();
    let pharmacy = q(&doctor, "{ pharmacies { pharmacies { id } } }", json!({})).await
        ["pharmacies"]["pharmacies"][0]["id"]
        .clone();
    let issued = q(
        &doctor,
        "mutation($p: ID!, $ph: ID!, $m: ID!) { issuePrescription(input: {requestId: \"monitoring-rx\", patientId: $p, pharmacyId: $ph, items: [{medicationId: $m, quantity: 1, dose: \"1 tablet\", frequency: \"when needed\"}]}) { id } }",
        json!({ "p": patient_id, "ph": pharmacy, "m": medication }),
    )
    .await;
    q(
        &pharmacist,
        "mutation($id: ID!) { dispensePrescription(requestId: \"monitoring-dispense\", id: $id) { id status } }",
        json!({ "id": issued["issuePrescription"]["id"] }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_the_platform_and_every_alert_and_panel_names_a_real_metric() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::dev_settings(dir.path());
    let platform = Platform::start(settings, &Platform::all_components())
        .await
        .unwrap();
    let demo = medmesh::demo::seed(&platform).await.unwrap().unwrap();
    traffic(&platform, &demo.doctor_id).await;
    let prometheus = Prometheus::start(platform.admin_addr);

    // Every target up (the committed scrape interval: up to two rounds).
    prometheus
        .wait("every target up", Duration::from_secs(60), "targets", |t| {
            let active = t["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            !active.is_empty() && active.iter().all(|t| t["health"] == "up")
        })
        .await;
    // The histograms of the traffic above are in (the notification lag needs the mail sent).
    prometheus
        .wait(
            "the traffic's histograms scraped",
            Duration::from_secs(60),
            "label/__name__/values",
            |names| {
                let names = names["data"].as_array().cloned().unwrap_or_default();
                [
                    "graphql_operation_duration_seconds_bucket",
                    "events_consumer_lag_seconds_bucket",
                    "medmesh_notify_lag_seconds_bucket",
                ]
                .iter()
                .all(|n| names.iter().any(|m| m == n))
            },
        )
        .await;
    // Every rule loaded and evaluated once without an error.
    prometheus
        .wait(
            "every rule evaluated",
            Duration::from_secs(60),
            "rules",
            |r| {
                let rules: Vec<&Value> = r["data"]["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                    .collect();
                !rules.is_empty() && rules.iter().all(|rule| rule["health"] == "ok")
            },
        )
        .await;

    let scraped: BTreeSet<String> = prometheus.api("label/__name__/values", &[]).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let rules = prometheus.api("rules", &[]).await;
    let mut known = scraped.clone();
    let mut expressions = Vec::new();
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap();
            if rule["type"] == "recording" {
                known.insert(name.to_string());
            }
            expressions.push((
                format!("rule {name}"),
                rule["query"].as_str().unwrap().to_string(),
            ));
        }
    }
    let alerts = expressions.len();
    assert!(
        alerts >= 10,
        "the rules name at least the alerts the issue asks for"
    );

    let dashboards = repo().join("swarm/grafana/dashboards");
    let mut panels = 0;
    for entry in std::fs::read_dir(&dashboards).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let mut stack = vec![&dashboard];
        while let Some(node) = stack.pop() {
            for panel in node["panels"].as_array().into_iter().flatten() {
                stack.push(panel);
                for target in panel["targets"].as_array().into_iter().flatten() {
                    let expr = target["expr"].as_str().unwrap_or_default();
                    assert!(
                        !expr.is_empty(),
                        "{file}: a panel target without an expression"
                    );
                    expressions.push((format!("{file}: {}", panel["title"]), expr.to_string()));
                    panels += 1;
                }
            }
        }
    }
    assert!(panels > 20, "{panels} panel expressions");

    let mut unknown = Vec::new();
    for (what, expr) in &expressions {
        for name in metric_names(expr) {
            if !known.contains(&name) {
                unknown.push(format!("{what}: {name}"));
            }
        }
        // The expression runs (dashboard variables as Grafana would fill them).
        let runnable = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h")
            .replace("$job", ".*");
        let answer = prometheus
            .api("query", &[("query", runnable.as_str())])
            .await;
        assert_eq!(answer["status"], "success", "{what}: {expr}: {answer}");
    }
    assert!(
        unknown.is_empty(),
        "metrics named by alerts or panels that the platform does not export:\n{}",
        unknown.join("\n")
    );
    eprintln!(
        "{} metric names scraped; {alerts} rules and {panels} panel expressions checked",
        scraped.len()
    );
    platform.shutdown_token().cancel();
}
