//! The gateway over HTTP: depth and complexity limits, and stable error codes on requests the
//! gateway itself refuses.

mod common;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

async fn gateway() -> (String, CancellationToken) {
    let (settings, config) = common::default_config();
    // These tests send no tokens; the validator's issuer is never asked.
    let token = CancellationToken::new();
    let url = common::start(
        &settings,
        common::offline_schema(&config),
        "http://127.0.0.1:1/realms/medmesh".into(),
        &token,
    )
    .await;
    (url, token)
}

async fn post(url: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn first_error(response: &Value) -> &Value {
    &response["errors"][0]
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused_as_bad_input() {
    let (url, token) = gateway().await;
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
    let response = post(&url, deep).await;
    assert_eq!(response["data"], Value::Null, "{response}");
    let error = first_error(&response);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{error}"
    );
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["service"], "gateway");
    token.cancel();
}

#[tokio::test]
async fn a_query_too_complex_is_refused_as_bad_input() {
    let (url, token) = gateway().await;
    // Eleven health rounds at 100 (and one for `healthy`) each pass the budget of 1,000.
    let fields: Vec<String> = (0..11)
        .map(|i| format!("h{i}: meshHealth {{ healthy }}"))
        .collect();
    let response = post(&url, &format!("{{ {} }}", fields.join(" "))).await;
    let error = first_error(&response);
    assert!(
        error["message"].as_str().unwrap().contains("too complex"),
        "{error}"
    );
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    token.cancel();
}

#[tokio::test]
async fn unknown_fields_and_bad_arguments_are_bad_input() {
    let (url, token) = gateway().await;
    let response = post(&url, "{ nope }").await;
    assert_eq!(
        first_error(&response)["extensions"]["code"],
        "BAD_USER_INPUT",
        "{response}"
    );
    let response = post(
        &url,
        "subscription { meshHealth(intervalSeconds: 0) { healthy } }",
    )
    .await;
    assert_eq!(
        first_error(&response)["extensions"]["code"],
        "BAD_USER_INPUT",
        "{response}"
    );
    let response = post(&url, "{ version }").await;
    assert_eq!(response["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(response.get("errors").is_none(), "{response}");
    token.cancel();
}

#[tokio::test]
async fn subscriptions_stream_over_websocket() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let (url, token) = gateway().await;
    let ws_url = url.replace("http://", "ws://") + "/ws";
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init" })))
        .await
        .unwrap();
    let ack: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": "subscription { meshHealth(intervalSeconds: 1) { healthy services { name status } } }" }
        })))
        .await
        .unwrap();
    // Two updates, a second apart; no service runs here, so each reports them unreachable.
    for _ in 0..2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let next: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(next["payload"]["data"]["meshHealth"]["healthy"], false);
        let services = next["payload"]["data"]["meshHealth"]["services"]
            .as_array()
            .unwrap();
        assert_eq!(services.len(), 5);
        assert!(
            services.iter().all(|s| s["status"] == "UNREACHABLE"),
            "{next}"
        );
    }
    token.cancel();
}

/// F0 … F(n-1), each spreading the next twice: about 60 bytes a fragment, 2^(n-1) selections
/// once expanded.
fn fragment_bomb(n: usize) -> String {
    let mut query = String::from("query { ...F0 }\n");
    for i in 0..n - 1 {
        let next = i + 1;
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment F{} on Query {{ version }}\n", n - 1));
    query
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_before_it_is_walked() {
    let (url, token) = gateway().await;
    // Anonymous, a kilobyte or two: refused as bad input at once (before, n = 28 meant walking
    // some 2^27 spreads before any limit applied).
    for n in [20, 28, 40] {
        let response = post(&url, &fragment_bomb(n)).await;
        let error = first_error(&response);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{response}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("once its fragments are expanded"),
            "{response}"
        );
    }
    // A fragment that spreads itself, even one no operation uses.
    let response = post(&url, "{ version } fragment Z on Query { version ...Z }").await;
    assert_eq!(
        first_error(&response)["extensions"]["code"],
        "BAD_USER_INPUT",
        "{response}"
    );
    // A bomb small enough to expand is still answered, and the gateway answers after all this.
    let response = post(&url, &fragment_bomb(6)).await;
    assert!(response["errors"].is_null(), "{response}");
    let response = post(&url, "{ __typename }").await;
    assert_eq!(response["data"]["__typename"], "Query", "{response}");
    token.cancel();
}

#[tokio::test]
async fn a_body_or_a_websocket_message_over_the_limit_is_refused() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let (url, token) = gateway().await;
    // 16 MiB of query: refused with 413 before it is read.
    let body = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(16 << 20)) });
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    let response = post(&url, "{ __typename }").await;
    assert_eq!(response["data"]["__typename"], "Query", "{response}");

    // A 16 MiB websocket message: the connection is closed, not read into memory.
    let ws_url = url.replace("http://", "ws://") + "/ws";
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let huge = json!({ "type": "connection_init", "payload": { "pad": "x".repeat(16 << 20) } });
    let _ = socket.send(Message::Text(huge.to_string().into())).await;
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("the gateway answers");
    assert!(
        !matches!(&answer, Some(Ok(Message::Text(text))) if text.contains("connection_ack")),
        "{answer:?}"
    );
    let response = post(&url, "{ __typename }").await;
    assert_eq!(response["data"]["__typename"], "Query", "{response}");
    token.cancel();
}

#[tokio::test]
async fn in_production_the_schema_is_not_introspectable_and_there_is_no_playground() {
    let (settings, mut config) = common::default_config();
    // What medmesh resolves an unset `gateway.introspection` to in production mode.
    config.introspection = Some(false);
    let auth = std::sync::Arc::new(svc_kit::auth::Authenticator::new(
        settings
            .auth
            .settings_for("http://127.0.0.1:1/realms/medmesh".into()),
    ));
    let server = gateway_graphql::GatewayServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        common::offline_schema(&config),
        auth,
    )
    .await
    .unwrap()
    .without_playground();
    let token = CancellationToken::new();
    let url = common::serve(server, &token);
    let base = url.trim_end_matches("/graphql").to_string();

    let response = post(&url, "{ __schema { types { name } } }").await;
    assert!(response["data"]["__schema"].is_null(), "{response}");
    // A misspelt field is refused without suggesting the real one.
    let response = post(&url, "{ versio }").await;
    let message = first_error(&response)["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(post(&url, "{ version }").await["errors"], Value::Null);
    token.cancel();
}

/// A 60-deep selection (the introspection types nest as deep as one likes).
fn deep_query(depth: usize) -> String {
    let mut query = String::from("{ __schema { types { fields { type { ");
    query.push_str(&"ofType { ".repeat(depth));
    query.push_str("name");
    query.push_str(&" }".repeat(depth + 4));
    query.push_str(" }");
    query
}

/// Hostile requests, one after another against one gateway: each is refused as bad input (or
/// with an HTTP client error) without being run, and after each `{ __typename }` still answers.
#[tokio::test]
async fn hostile_queries_are_refused_and_the_gateway_answers_after_each() {
    let (url, token) = gateway().await;
    let still_answers = || async {
        let response = post(&url, "{ __typename }").await;
        assert_eq!(response["data"]["__typename"], "Query", "{response}");
    };
    let refused = |response: &Value, says: &str| {
        let error = first_error(response);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{response}");
        assert!(
            error["message"].as_str().unwrap_or_default().contains(says),
            "{response}"
        );
        assert_eq!(response["data"], Value::Null, "nothing ran: {response}");
    };

    // 1,000 aliases, each a cheap field: the alias limit, not the complexity budget.
    let aliases: Vec<String> = (0..1000).map(|i| format!("a{i}: version")).collect();
    let response = post(&url, &format!("{{ {} }}", aliases.join(" "))).await;
    refused(&response, "alias at most 64 fields");
    still_answers().await;

    // Twenty health rounds of the whole mesh under aliases: meshHealth costs 100, so the
    // complexity budget (1,000) refuses them before any service is asked.
    let rounds: Vec<String> = (0..20)
        .map(|i| format!("h{i}: meshHealth {{ healthy }}"))
        .collect();
    let response = post(&url, &format!("{{ {} }}", rounds.join(" "))).await;
    refused(&response, "too complex");
    still_answers().await;
    // One round is within it (the offline services answer as they can).
    let response = post(&url, "{ meshHealth { healthy } }").await;
    assert!(
        !first_error(&response)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too complex"),
        "{response}"
    );

    // Lists cost by the page they ask for: 64 aliased largest pages of doctors are too much,
    // where the same with no page size asked is within the budget.
    let pages: Vec<String> = (0..64)
        .map(|i| format!("p{i}: doctors(pageSize: 200) {{ nextPageToken }}"))
        .collect();
    let response = post(&url, &format!("{{ {} }}", pages.join(" "))).await;
    refused(&response, "too complex");
    still_answers().await;
    let pages: Vec<String> = (0..10)
        .map(|i| format!("p{i}: doctors {{ nextPageToken }}"))
        .collect();
    let response = post(&url, &format!("{{ {} }}", pages.join(" "))).await;
    assert!(
        !first_error(&response)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too complex"),
        "{response}"
    );

    // A 60-deep selection meets the parser's recursion limit; a 20-deep one the depth limit.
    let response = post(&url, &deep_query(60)).await;
    refused(&response, "recursion depth");
    still_answers().await;
    let response = post(&url, &deep_query(20)).await;
    refused(&response, "nested too deep");
    still_answers().await;

    // A batch of 200 operations: the gateway takes one operation per request.
    let batch: Vec<Value> = (0..200)
        .map(|_| json!({ "query": "{ version }" }))
        .collect();
    let response = reqwest::Client::new()
        .post(&url)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    still_answers().await;
    token.cancel();
}
