//! Every argument the gateway checks itself, out of its limits, answers BAD_USER_INPUT naming
//! the argument and the limit; nothing reaches a service (none runs here).
//!
//! The limited arguments are found in the schema by name, so a new list with a `pageSize`
//! is covered without touching this file; a check added under another name must be added to
//! `LIMITS` (the source scan below fails until it is).

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use serde_json::{Value, json};
use svc_kit::{
    auth::dev_issuer::{DevIssuer, DevIssuerServer, WEB_CLIENT},
    config::Mode,
};
use tokio_util::sync::CancellationToken;

/// (argument, smallest allowed, largest allowed).
const LIMITS: &[(&str, i64, i64)] = &[
    ("pageSize", 1, 200),
    ("intervalSeconds", 1, 300),
    ("criticalThreshold", 0, 2_147_483_647),
    ("delta", -2_147_483_647, 2_147_483_647),
];

struct Gateway {
    url: String,
    token: String,
    _stop: CancellationToken,
}

async fn gateway() -> Gateway {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer: Arc<DevIssuer> = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    // No service runs: a refused argument must be answered before any is asked.
    let (settings, config) = common::default_config();
    let url = common::start(
        &settings,
        common::offline_schema(&config),
        issuer.issuer(),
        &stop,
    )
    .await;
    // A caller holding every role may select every field that takes a limited argument.
    let subject = DevIssuer::demo_subject("admin").unwrap();
    let roles = svc_kit::auth::Role::ALL.map(|r| r.as_str());
    let token = issuer.sign(&issuer.claims(&subject, "admin", &roles, WEB_CLIENT));
    Gateway {
        url,
        token,
        _stop: stop,
    }
}

async fn post(g: &Gateway, query: &str) -> Value {
    reqwest::Client::new()
        .post(&g.url)
        .bearer_auth(&g.token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The first error a subscription answers over websocket.
async fn subscribe(g: &Gateway, query: &str) -> Value {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let mut request = format!("{}/ws", g.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", g.token) } });
    socket.send(send(init)).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    socket
        .send(send(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
        ))
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap();
    let answer: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    match answer["type"].as_str() {
        Some("error") => answer["payload"][0].clone(),
        Some("next") => answer["payload"]["errors"][0].clone(),
        _ => panic!("an error answer: {answer}"),
    }
}

/// The named type under NON_NULL and LIST wrappers.
fn named(ty: &Value) -> &Value {
    if ty["ofType"].is_null() {
        ty
    } else {
        named(&ty["ofType"])
    }
}

/// A literal for a required argument of type `ty` (its value does not matter: the limited
/// argument is refused first).
fn literal(ty: &Value) -> String {
    if ty["kind"] == "LIST" {
        return "[]".into();
    }
    let ty = named(ty);
    match (ty["kind"].as_str(), ty["name"].as_str()) {
        (_, Some("Int")) => "1".into(),
        (_, Some("Boolean")) => "false".into(),
        (_, Some("DateTime")) => "\"2026-01-05T00:00:00Z\"".into(),
        (_, Some("NaiveDate")) => "\"2026-01-05\"".into(),
        (Some("SCALAR"), _) => "\"x\"".into(),
        (Some("ENUM"), _) => ty["enumValues"][0]["name"].as_str().unwrap().into(),
        other => panic!("no literal for {other:?}; teach this test one"),
    }
}

const INTROSPECTION: &str = r#"{ __schema {
  types { name enumValues { name } }
  queryType { name } mutationType { name } subscriptionType { name } } }"#;

fn root_fields_query(root: &str) -> String {
    format!(
        r#"{{ __type(name: "{root}") {{ fields {{ name
            type {{ kind name ofType {{ kind name ofType {{ kind name ofType {{ kind name }} }} }} }}
            args {{ name defaultValue
              type {{ kind name ofType {{ kind name ofType {{ kind name ofType {{ kind name }} }} }} }} }} }} }} }}"#
    )
}

/// Every (operation, root field, argument, min, max, document without the argument's value)
/// where the argument is one of `LIMITS`.
async fn limited_arguments(g: &Gateway) -> Vec<(String, String, &'static str, i64, i64, String)> {
    let schema = post(g, INTROSPECTION).await;
    let types = schema["data"]["__schema"]["types"].as_array().unwrap();
    let enum_values = |name: &str| {
        types
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["enumValues"].clone())
            .unwrap_or(Value::Null)
    };
    let mut found = Vec::new();
    for (operation, root_key) in [
        ("query", "queryType"),
        ("mutation", "mutationType"),
        ("subscription", "subscriptionType"),
    ] {
        let Some(root) = schema["data"]["__schema"][root_key]["name"].as_str() else {
            continue;
        };
        let fields = post(g, &root_fields_query(root)).await;
        for field in fields["data"]["__type"]["fields"].as_array().unwrap() {
            let field_name = field["name"].as_str().unwrap();
            for arg in field["args"].as_array().unwrap() {
                let Some(&(argument, min, max)) =
                    LIMITS.iter().find(|(name, _, _)| arg["name"] == *name)
                else {
                    continue;
                };
                let mut others = Vec::new();
                for other in field["args"].as_array().unwrap() {
                    let required = other["type"]["kind"] == "NON_NULL"
                        && other["defaultValue"].is_null()
                        && other["name"] != arg["name"];
                    if required {
                        let mut ty = other["type"]["ofType"].clone();
                        if ty["kind"] == "ENUM" {
                            ty["enumValues"] = enum_values(ty["name"].as_str().unwrap());
                        }
                        others.push(format!(
                            "{}: {}",
                            other["name"].as_str().unwrap(),
                            literal(&ty)
                        ));
                    }
                }
                let selection = match named(&field["type"])["kind"].as_str() {
                    Some("OBJECT") | Some("INTERFACE") | Some("UNION") => "{ __typename }",
                    _ => "",
                };
                let others = others
                    .into_iter()
                    .map(|o| format!(", {o}"))
                    .collect::<String>();
                let document = format!(
                    "{operation} {{ {field_name}({argument}: VALUE{others}) {selection} }}"
                );
                found.push((
                    operation.to_string(),
                    field_name.to_string(),
                    argument,
                    min,
                    max,
                    document,
                ));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_limited_argument_out_of_its_limits_is_bad_user_input_naming_it() {
    let g = gateway().await;
    let arguments = limited_arguments(&g).await;
    // At least every list and the health subscription.
    assert!(arguments.len() >= 8, "{arguments:?}");
    for (operation, field, argument, min, max, document) in arguments {
        for value in [min - 1, max + 1] {
            let query = document.replace("VALUE", &value.to_string());
            let error = if operation == "subscription" {
                subscribe(&g, &query).await
            } else {
                let response = post(&g, &query).await;
                response["errors"][0].clone()
            };
            let what = format!("{field}({argument}: {value}): {error}");
            assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}");
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains(argument), "names the argument: {what}");
            assert!(
                message.contains(&min.to_string()) && message.contains(&max.to_string()),
                "names the limits: {what}"
            );
        }
    }
}

/// Every argument validator in the gateway's source is one of the limits this test knows
/// (`input::PAGE_SIZE`, `input::INTERVAL_SECONDS`, `input::CRITICAL_THRESHOLD`, `input::DELTA`),
/// so the test above reaches each of them; `input::QUANTITY` checks fields of input objects,
/// which `tests/pharmacy.rs` reaches.
#[test]
fn every_argument_check_is_one_the_test_knows() {
    fn scan(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| l.contains("validator(")) {
                    out.push((path.display().to_string(), line.trim().to_string()));
                }
            }
        }
    }
    let mut validators = Vec::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut validators,
    );
    assert!(!validators.is_empty());
    let known = [
        "validator(custom = \"PAGE_SIZE\")",
        "validator(custom = \"INTERVAL_SECONDS\")",
        "validator(custom = \"CRITICAL_THRESHOLD\")",
        "validator(custom = \"DELTA\")",
        "validator(custom = \"QUANTITY\")",
    ];
    let unknown: Vec<_> = validators
        .iter()
        .filter(|(_, line)| !known.iter().any(|k| line.contains(k)))
        .collect();
    assert!(
        unknown.is_empty(),
        "argument checks this test does not reach (use a limit from `input`, or add one and \
         teach `LIMITS`): {unknown:?}"
    );
}
