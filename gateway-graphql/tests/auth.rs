//! Tokens through the gateway, against a real local OIDC issuer: bad tokens are refused with
//! UNAUTHENTICATED before anything runs, over HTTP and over websocket; every root field of the
//! schema has a declared access rule.

mod common;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use gateway_graphql::access::RULES;
use serde_json::{Value, json};
use svc_kit::{
    auth::dev_issuer::{DevIssuer, DevIssuerServer, WEB_CLIENT},
    config::Mode,
};
use tokio_util::sync::CancellationToken;

struct Gateway {
    url: String,
    issuer: Arc<DevIssuer>,
    _stop: CancellationToken,
}

async fn gateway() -> Gateway {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let (settings, config) = common::default_config();
    let url = common::start(
        &settings,
        common::offline_schema(&config),
        issuer.issuer(),
        &stop,
    )
    .await;
    Gateway {
        url,
        issuer,
        _stop: stop,
    }
}

async fn post(url: &str, token: Option<&str>, query: &str) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_before_anything_runs() {
    let g = gateway().await;
    let claims = g.issuer.claims(
        &DevIssuer::demo_subject("nurse").unwrap(),
        "nurse",
        &["nurse"],
        WEB_CLIENT,
    );
    let bad = svc_kit::testing::forged_tokens(&g.issuer, &claims);
    assert!(bad.len() >= 10, "the whole suite");
    for (what, token) in bad {
        let response = post(&g.url, Some(&token), "{ version }").await;
        assert_eq!(
            response["data"],
            Value::Null,
            "{what}: nothing ran: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what}"
        );
        assert_eq!(
            response["errors"][0]["message"], "invalid or expired token",
            "{what}: no details leak"
        );
    }
    // A valid token, and no token at all, reach public fields.
    let good = g
        .issuer
        .password_grant("nurse", "nurse", WEB_CLIENT)
        .unwrap();
    assert_eq!(
        post(&g.url, Some(&good), "{ version }").await["data"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        post(&g.url, None, "{ version }").await["data"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[tokio::test]
async fn a_bad_token_cannot_open_a_subscription() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let g = gateway().await;
    let mut request = g
        .url
        .replace("http://", "ws://")
        .add_ws()
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init =
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer garbage" } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    // The server refuses the connection instead of acknowledging it.
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    match answer {
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(other)) => {
            let text = other.to_text().unwrap_or_default().to_string();
            assert!(
                !text.contains("connection_ack"),
                "refused, not acknowledged: {text}"
            );
        }
    }
}

trait WsPath {
    fn add_ws(self) -> String;
}

impl WsPath for String {
    fn add_ws(self) -> String {
        self + "/ws"
    }
}

#[tokio::test]
async fn every_root_field_has_an_access_rule() {
    let (_, config) = common::default_config();
    let schema = common::offline_schema(&config);
    let query = "{ __schema { queryType { name fields { name } } mutationType { name fields { name } } subscriptionType { name fields { name } } } }";
    let response = serde_json::to_value(schema.execute(query).await).unwrap();
    let mut in_schema = BTreeSet::new();
    for root in ["queryType", "mutationType", "subscriptionType"] {
        let ty = &response["data"]["__schema"][root];
        if ty.is_null() {
            continue;
        }
        for field in ty["fields"].as_array().unwrap() {
            in_schema.insert((
                ty["name"].as_str().unwrap().to_string(),
                field["name"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert!(!in_schema.is_empty(), "{response}");
    let ruled: BTreeSet<(String, String)> = RULES
        .iter()
        .map(|(r, f, _)| (r.to_string(), f.to_string()))
        .collect();
    let missing: Vec<_> = in_schema.difference(&ruled).collect();
    assert!(
        missing.is_empty(),
        "root fields without an access rule (deny by default): {missing:?}"
    );
    let stale: Vec<_> = ruled.difference(&in_schema).collect();
    assert!(
        stale.is_empty(),
        "rules for fields that no longer exist: {stale:?}"
    );
}

#[tokio::test]
async fn outside_dev_the_playground_has_no_demo_sign_in() {
    let g = gateway().await;
    let page = reqwest::get(g.url.trim_end_matches("/graphql").to_string() + "/")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("graphiql"), "the playground is served");
    assert!(!page.contains("medmesh-sign-in"));
}
