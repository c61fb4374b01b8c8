//! The deployments' environment against the binary that reads it: every MedMesh container of
//! the Swarm stack and of each Kubernetes overlay, with the variables its manifest gives it
//! (secrets as files with values of the right shape), must pass `medmesh check-config
//! <component>` — the checks `serve` makes before it binds a port. A renamed or misspelt key,
//! or a production requirement a manifest forgets, fails here rather than in a deployment.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// YAML (one document or several) as JSON, by PyYAML: the parser the stack's own tooling uses.
fn yaml_documents(yaml: &[u8]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML could not read the manifest");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `${NAME:-default}` and `$$` as `docker stack deploy` reads them, with nothing set.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix("${") {
            let end = body.find('}').expect("a closed ${...}");
            let expr = &body[..end];
            out.push_str(expr.split_once(":-").map_or("", |(_, default)| default));
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A value of the shape the secret called `name` holds in a deployment (on Swarm, whose stores
/// are reached on an encrypted overlay).
fn placeholder(name: &str) -> String {
    placeholder_for(name, false)
}

/// A value of the shape the secret called `name` holds in a deployment; `tls`: one that speaks
/// TLS to every store (Kubernetes' production overlay waives nothing).
fn placeholder_for(name: &str, tls: bool) -> String {
    let name = name.to_ascii_lowercase();
    if name.contains("database_url") && tls {
        "postgres://medmesh:placeholder@db.example.internal:5432/medmesh?sslmode=verify-full\
         &sslrootcert=/run/secrets/tls/ca.crt"
            .into()
    } else if name.contains("database_url") {
        "postgres://medmesh:placeholder@postgres:5432/medmesh".into()
    } else if name.contains("redis") && name.contains("url") && tls {
        "rediss://:placeholder@cache.example.internal:6380".into()
    } else if name.contains("redis") && name.contains("url") {
        "redis://:placeholder@redis:6379".into()
    } else if name.contains("smtp") {
        "smtps://mailer:placeholder@mail.example.org:465".into()
    } else if name.contains("key_k") || name.contains("keys__") || name.ends_with("_key") {
        // 32 bytes, not the development key.
        "c2VjcmV0LWtleS1mb3ItdGhlLWRlcGxveW1lbnQtdGU=".into()
    } else {
        "placeholder-secret-value".into()
    }
}

/// Runs `medmesh check-config <component>` with exactly `env` (secrets as files in `dir`).
fn check_config(component: &str, env: &BTreeMap<String, String>) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_medmesh"))
        .args(["check-config", component])
        .env_clear()
        .envs(env)
        .output()
        .expect("medmesh runs")
}

fn assert_accepted(what: &str, component: &str, env: &BTreeMap<String, String>) {
    let out = check_config(component, env);
    assert!(
        out.status.success(),
        "{what}: `medmesh check-config {component}` refused its environment: {}\n{env:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The component a container's command runs, if it is a MedMesh one.
fn component_of(command: &[Value]) -> Option<String> {
    let words: Vec<&str> = command.iter().filter_map(Value::as_str).collect();
    match words.as_slice() {
        ["serve", component, ..] => Some((*component).to_string()),
        ["seed-demo", ..] => Some("seed-demo".to_string()),
        _ => None,
    }
}

/// The variables of one Swarm service, secrets written under `dir` from the names of their
/// `/run/secrets/...` files.
fn swarm_env(service: &Value, dir: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (name, value) in service["environment"].as_object().into_iter().flatten() {
        let value = match value {
            Value::String(s) => interpolate(s),
            other => other.to_string(),
        };
        if name.ends_with("_FILE")
            && let Some(secret) = value.strip_prefix("/run/secrets/")
        {
            let file = dir.join(secret);
            std::fs::write(&file, placeholder(secret)).unwrap();
            env.insert(name.clone(), file.display().to_string());
        } else {
            env.insert(name.clone(), value);
        }
    }
    env
}

#[test]
fn every_medmesh_container_of_the_swarm_stack_starts_with_its_environment() {
    let stack = std::fs::read(repo().join("swarm/stack.yml")).unwrap();
    let stack = &yaml_documents(&stack)[0];
    let dir = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    for (name, service) in stack["services"].as_object().unwrap() {
        let image = service["image"].as_str().unwrap_or_default();
        let Some(component) = service["command"].as_array().and_then(|c| component_of(c)) else {
            assert!(
                !image.contains("MEDMESH_IMAGE"),
                "{name} runs the MedMesh image without a MedMesh command"
            );
            continue;
        };
        assert_accepted(name, &component, &swarm_env(service, dir.path()));
        checked.push(name.clone());
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "accounts",
            "demo",
            "gateway",
            "notify",
            "pharmacy",
            "records",
            "scheduling"
        ]
    );

    // The stack test's stand-in for Keycloak runs from the same image.
    let test = std::fs::read(repo().join("swarm/stack.test.yml")).unwrap();
    let test = &yaml_documents(&test)[0];
    let keycloak = &test["services"]["keycloak"];
    let component = component_of(keycloak["command"].as_array().unwrap()).unwrap();
    assert_eq!(component, "dev-issuer");
    assert_accepted(
        "stack.test.yml keycloak",
        &component,
        &swarm_env(keycloak, dir.path()),
    );
}

#[test]
fn the_check_refuses_what_a_deployment_would_refuse() {
    let stack = std::fs::read(repo().join("swarm/stack.yml")).unwrap();
    let stack = &yaml_documents(&stack)[0];
    let dir = tempfile::tempdir().unwrap();
    let env = swarm_env(&stack["services"]["scheduling"], dir.path());
    assert_accepted("scheduling", "scheduling", &env);

    // A misspelt key.
    let mut typo = env.clone();
    typo.insert("MEDMESH_SCHEDULING__HOLD_MINUTEZ".into(), "5".into());
    let out = check_config("scheduling", &typo);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hold_minutez"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A secret file that is not there names its variable, never a value.
    let mut missing = env.clone();
    missing.insert(
        "MEDMESH_SERVICES__SCHEDULING__CLIENT_SECRET_FILE".into(),
        dir.path().join("absent").display().to_string(),
    );
    let out = check_config("scheduling", &missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("MEDMESH_SERVICES__SCHEDULING__CLIENT_SECRET_FILE"),
        "{stderr}"
    );

    // The stack names each part it reaches in the clear on its encrypted overlay: without
    // Kafka's, Kafka on another host is refused; the `true` that waived everything is refused.
    let waived = &env["MEDMESH_TLS__ALLOW_PLAINTEXT"];
    let mut no_kafka = env.clone();
    no_kafka.insert(
        "MEDMESH_TLS__ALLOW_PLAINTEXT".into(),
        waived.replace(",kafka", "").replace("kafka,", ""),
    );
    assert_ne!(&no_kafka["MEDMESH_TLS__ALLOW_PLAINTEXT"], waived);
    let out = check_config("scheduling", &no_kafka);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("events.kafka.brokers"), "{stderr}");
    let mut everything = env.clone();
    everything.insert("MEDMESH_TLS__ALLOW_PLAINTEXT".into(), "true".into());
    let out = check_config("scheduling", &everything);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("tls.allow_plaintext"), "{stderr}");

    // A production requirement left out: its own database.
    let mut no_db = env.clone();
    no_db.remove("MEDMESH_SERVICES__SCHEDULING__DATABASE_URL_FILE");
    let out = check_config("scheduling", &no_db);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("database_url"), "{stderr}");

    // The secret's value arrives from the file: the development key is refused in production.
    let mut dev_key = swarm_env(&stack["services"]["records"], dir.path());
    let key_file = dir.path().join("dev-key");
    std::fs::write(&key_file, "dev\n").unwrap();
    dev_key.insert(
        "MEDMESH_RECORDS__KEYS__K1_FILE".into(),
        key_file.display().to_string(),
    );
    let out = check_config("records", &dev_key);
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The objects `kubectl kustomize` renders for an overlay.
fn kustomize(overlay: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join("k8s/overlays").join(overlay))
        .output()
        .expect("kubectl runs (the test command needs it: scripts/check-k8s.sh)");
    assert!(
        out.status.success(),
        "kubectl kustomize k8s/overlays/{overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(&out.stdout)
}

#[test]
fn every_medmesh_container_of_each_kubernetes_overlay_starts_with_its_environment() {
    let ca = svc_kit::testing::TestCa::new("MedMesh test CA");
    let ca_pem = ca.pem();
    for overlay in ["dev", "prod"] {
        let objects = kustomize(overlay);
        let config_maps: BTreeMap<String, &Value> = objects
            .iter()
            .filter(|o| o["kind"] == "ConfigMap")
            .map(|o| (o["metadata"]["name"].as_str().unwrap().to_string(), o))
            .collect();
        let mut checked = Vec::new();
        for deployment in objects.iter().filter(|o| o["kind"] == "Deployment") {
            let name = deployment["metadata"]["name"].as_str().unwrap();
            for container in deployment["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
            {
                let command: Vec<Value> = container["command"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(container["args"].as_array().into_iter().flatten())
                    .filter(|w| w != &"medmesh")
                    .cloned()
                    .collect();
                let Some(component) = component_of(&command) else {
                    continue;
                };
                let dir = tempfile::tempdir().unwrap();
                let (cert, key) = ca.issue(&[component.as_str(), &format!("svc-{component}")]);
                let mut env = BTreeMap::new();
                for source in container["envFrom"].as_array().into_iter().flatten() {
                    if let Some(map) = source["configMapRef"]["name"].as_str() {
                        let map = config_maps.get(map).unwrap_or_else(|| {
                            panic!("{overlay}: {name} names ConfigMap {map}, which is not rendered")
                        });
                        for (k, v) in map["data"].as_object().into_iter().flatten() {
                            env.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                        }
                    }
                    assert!(
                        source["secretRef"].is_null(),
                        "{overlay}: {name} takes a whole Secret as environment; name each key"
                    );
                }
                for var in container["env"].as_array().into_iter().flatten() {
                    let key = var["name"].as_str().unwrap().to_string();
                    let value = if let Some(value) = var["value"].as_str() {
                        value.to_string()
                    } else if let Some(secret_key) =
                        var["valueFrom"]["secretKeyRef"]["key"].as_str()
                    {
                        placeholder_for(&format!("{key} {secret_key}"), overlay == "prod")
                    } else if let Some(map_key) =
                        var["valueFrom"]["configMapKeyRef"]["key"].as_str()
                    {
                        let map = var["valueFrom"]["configMapKeyRef"]["name"]
                            .as_str()
                            .unwrap();
                        config_maps[map]["data"][map_key]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    } else {
                        continue;
                    };
                    env.insert(key, value);
                }
                // The certificate files a Secret volume holds: real ones of a test authority,
                // naming the component as its Service does.
                for (key, pem) in [
                    ("MEDMESH_TLS__CERT_FILE", &cert),
                    ("MEDMESH_TLS__KEY_FILE", &key),
                    ("MEDMESH_TLS__CA_FILE", &ca_pem),
                ] {
                    if let Some(value) = env.get_mut(key) {
                        let file = dir.path().join(key.to_ascii_lowercase());
                        std::fs::write(&file, pem).unwrap();
                        *value = file.display().to_string();
                    }
                }
                // Secrets mounted as files and named by *_FILE variables: placeholders there.
                for (key, value) in env.iter_mut() {
                    if key.ends_with("_FILE") && !key.starts_with("MEDMESH_TLS__") {
                        let file = dir.path().join(key.to_ascii_lowercase());
                        std::fs::write(&file, placeholder_for(key, overlay == "prod")).unwrap();
                        *value = file.display().to_string();
                    }
                }
                assert_accepted(&format!("k8s/{overlay} {name}"), &component, &env);
                checked.push(component);
            }
        }
        checked.sort();
        checked.dedup();
        assert_eq!(
            checked,
            [
                "accounts",
                "gateway",
                "notify",
                "pharmacy",
                "records",
                "scheduling"
            ],
            "{overlay}"
        );
    }
}
