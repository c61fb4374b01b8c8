//! The `medmesh` binary's configuration handling: bad configuration fails fast, before any
//! port is bound, with exit code 64 and one line naming the key.

mod common;

use std::process::{Command, Output};

fn medmesh(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medmesh"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("MEDMESH_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// `medmesh dev` on `data_dir`, with every port 0 but the admin port, quiet logs, and none of
/// this environment's MEDMESH_* settings.
fn dev_command(data_dir: &std::path::Path, admin_port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medmesh"));
    command.args(["dev", "--data-dir"]).arg(data_dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("MEDMESH_") {
            command.env_remove(key);
        }
    }
    command
        .env("MEDMESH_ADMIN__PORT", admin_port.to_string())
        .env("MEDMESH_GATEWAY__PORT", "0")
        .env("MEDMESH_DEV_ISSUER__PORT", "0")
        .env("MEDMESH_LOG__FILTER", "warn");
    for service in ["accounts", "scheduling", "pharmacy", "records", "notify"] {
        command.env(
            format!("MEDMESH_SERVICES__{}__PORT", service.to_uppercase()),
            "0",
        );
    }
    command
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[test]
fn a_wrong_type_fails_with_64_naming_the_key() {
    let output = medmesh(&["dev"], &[("MEDMESH_ADMIN__PORT", "not-a-port")]);
    assert_eq!(output.status.code(), Some(64));
    let line = stderr_line(&output);
    assert!(line.contains("`admin.port`"), "{line}");
    assert!(
        line.contains("MEDMESH_ADMIN__PORT"),
        "names where the value came from: {line}"
    );
}

#[test]
fn a_missing_required_key_fails_with_64_naming_the_key() {
    let output = medmesh(
        &["serve", "scheduling"],
        &[
            ("MEDMESH_MODE", "production"),
            (
                "MEDMESH_AUTH__ISSUER",
                "https://sso.example.org/realms/medmesh",
            ),
            ("MEDMESH_CACHE__BACKEND", "redis"),
            ("MEDMESH_CACHE__REDIS__URL", "redis://127.0.0.1:6379"),
            ("MEDMESH_EVENTS__BACKEND", "kafka"),
            ("MEDMESH_EVENTS__KAFKA__BROKERS", "127.0.0.1:9092"),
        ],
    );
    assert_eq!(output.status.code(), Some(64));
    let line = stderr_line(&output);
    assert!(
        line.contains("`services.scheduling.database_url`"),
        "{line}"
    );
}

#[test]
fn production_mode_refuses_the_in_process_bus() {
    let output = medmesh(
        &["serve", "gateway"],
        &[
            ("MEDMESH_MODE", "production"),
            (
                "MEDMESH_AUTH__ISSUER",
                "https://sso.example.org/realms/medmesh",
            ),
            ("MEDMESH_CACHE__BACKEND", "redis"),
            ("MEDMESH_CACHE__REDIS__URL", "redis://127.0.0.1:6379"),
        ],
    );
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_line(&output).contains("`events.backend`"));
}

#[test]
fn production_mode_requires_an_issuer() {
    let output = medmesh(&["serve", "accounts"], &[("MEDMESH_MODE", "production")]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_line(&output).contains("`auth.issuer`"));
}

#[test]
fn a_bad_value_in_a_parts_own_section_fails_with_64_naming_the_key() {
    // The gateway's section is the gateway's (not svc-kit's), and still checked before start.
    let output = medmesh(&["dev"], &[("MEDMESH_GATEWAY__MAX_DEPTH", "0")]);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr_line(&output).contains("`gateway.max_depth`"),
        "{}",
        stderr_line(&output)
    );
    let output = medmesh(
        &["serve", "gateway"],
        &[("MEDMESH_MODE", "dev"), ("MEDMESH_GATEWAY__PORT", "eighty")],
    );
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr_line(&output).contains("MEDMESH_GATEWAY__PORT"),
        "{}",
        stderr_line(&output)
    );
}

#[test]
fn an_unknown_top_level_key_is_refused() {
    let output = medmesh(&["dev"], &[("MEDMESH_GATEWAAY__PORT", "8080")]);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr_line(&output).contains("`gatewaay`"),
        "{}",
        stderr_line(&output)
    );
}

#[test]
fn a_missing_config_file_is_reported() {
    let output = medmesh(&["dev", "--config", "/nonexistent/medmesh.toml"], &[]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_line(&output).contains("/nonexistent/medmesh.toml"));
}

#[test]
fn serve_runs_nothing_on_the_default_mode() {
    // The default is "dev", which would start the development issuer with its demo users:
    // a process meant for production must never get there by a forgotten variable.
    for args in [
        &["serve", "accounts"][..],
        &["serve", "dev-issuer"],
        &["check-config", "gateway"],
    ] {
        let output = medmesh(args, &[]);
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        assert!(
            stderr_line(&output).contains("`mode`"),
            "{args:?}: {}",
            stderr_line(&output)
        );
    }
    // Set, it runs the checks as before.
    let output = medmesh(&["check-config", "gateway"], &[("MEDMESH_MODE", "dev")]);
    assert!(output.status.success(), "{}", stderr_line(&output));
}

#[test]
fn an_unknown_component_is_a_usage_error() {
    let output = medmesh(&["serve", "billing"], &[]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_line(&output).contains("billing"));
}

#[test]
fn schema_prints_the_committed_sdl() {
    let output = medmesh(&["schema"], &[]);
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schema.graphql"
    ))
    .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

/// The README's run command, as a person uses it: start `medmesh dev`, read the playground
/// URL it prints, use it, stop it with SIGTERM.
#[test]
fn dev_prints_a_working_playground_url_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    // Port 0 everywhere: the banner must show the ports actually bound.
    let mut command = dev_command(data.path(), 0);
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read the banner on a thread that keeps draining stdout until the process ends, as a
    // terminal would; the playground URL comes back through a channel.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (found, banner) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("GraphQL playground") {
                let _ = found.send(url.trim().to_string());
            }
        }
    });
    let playground = banner.recv_timeout(std::time::Duration::from_secs(60)).ok();
    let playground = playground.expect("the banner names the playground");
    assert!(!playground.ends_with(":0/"), "a real port: {playground}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let page = reqwest::get(&playground).await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("MedMesh GraphQL"));
        let health = common::graphql(
            &format!("{playground}graphql"),
            "{ meshHealth { healthy } }",
        )
        .await;
        assert_eq!(health["data"]["meshHealth"]["healthy"], true, "{health}");
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(
                exit.success(),
                "medmesh dev exits cleanly on SIGTERM: {exit:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "medmesh dev did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `medmesh dev | head -1`, or a supervisor that closes stdout: the platform keeps running.
#[test]
fn dev_keeps_running_when_its_stdout_is_closed() {
    let data = tempfile::tempdir().unwrap();
    let admin_port = svc_kit::testing::free_port();
    let mut command = dev_command(data.path(), admin_port);
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the banner is written
    let addr: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    assert!(
        svc_kit::testing::wait_for_port(addr, std::time::Duration::from_secs(30)),
        "admin port up"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after writing its banner to a closed pipe"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let live = runtime.block_on(async {
        reqwest::get(format!("http://{addr}/live"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(live, 200);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `medmesh verify-access-log` walks records' log where the configuration puts it: no log at
/// all or a forged entry answers 1 (naming the entry), an intact one 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_access_log_names_a_forged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let env = [("MEDMESH_DATA_DIR", data_dir.as_str())];
    let run = || medmesh(&["verify-access-log"], &env);
    // Before records' schema exists, there is no log to call intact.
    let missing = run();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(!String::from_utf8_lossy(&missing.stdout).contains("intact"));
    assert!(medmesh(&["migrate", "records"], &env).status.success());
    let intact = run();
    assert_eq!(intact.status.code(), Some(0), "{intact:?}");
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact"));
    let settings = svc_kit::Settings::from_figment(
        svc_kit::Settings::figment(None).merge(("data_dir", data_dir.as_str())),
    )
    .unwrap();
    let url = settings
        .database_url(svc_kit::ServiceName::Records)
        .unwrap();
    let db = svc_kit::db::connect(&url, &settings.database)
        .await
        .unwrap();
    svc_kit::testing::execute(
        &db,
        "INSERT INTO access_log (patient_id, sequence, actor_id, actor_role, action, resource,
            basis, reason, allowed, flagged, trace_id, at, previous_hash, hash)
         VALUES ('p-1', 1, 'nobody', 'doctor', 'read', 'card', 'care', '', TRUE, FALSE, 't',
            '2026-12-01T10:00:00.000000Z', 'x', 'y')",
    )
    .await;
    db.close().await.unwrap();
    let broken = run();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let out = String::from_utf8_lossy(&broken.stdout);
    assert!(out.contains("BROKEN: patient p-1 at sequence 1"), "{out}");
}
