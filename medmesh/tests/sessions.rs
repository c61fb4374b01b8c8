//! Websocket sessions under `medmesh dev` end with their user's account: deactivating a user
//! closes their open subscriptions (4403), others' keep running.

mod common;

use std::time::Duration;

use common::{dev_settings, graphql_as};
use futures::{SinkExt, StreamExt};
use medmesh::Platform;
use serde_json::{Value, json};
use svc_kit::auth::dev_issuer::WEB_CLIENT;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A session of `token`'s user, subscribed to the mesh's health every second, that has had its
/// first update.
async fn health_session(ws_url: &str, token: &str) -> Socket {
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })))
        .await
        .unwrap();
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": "subscription { meshHealth(intervalSeconds: 1) { healthy } }" }
        })))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the session answers")
            .unwrap()
            .unwrap();
        let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        seen.push(message["type"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(seen, ["connection_ack", "next"]);
    socket
}

/// How the session goes on for up to `window`: `Some(code)` when the server closed it, `None`
/// while updates keep arriving.
async fn goes_on(socket: &mut Socket, window: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the session ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deactivating_a_user_closes_their_open_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dev_settings(dir.path()), &Platform::all_components())
        .await
        .unwrap();
    let url = format!("http://{}/graphql", platform.gateway_addr.unwrap());
    let ws_url = format!("ws://{}/graphql/ws", platform.gateway_addr.unwrap());
    let issuer = platform.dev_issuer.clone().unwrap();
    let grant = |user: &str| issuer.password_grant(user, user, WEB_CLIENT).unwrap();
    let (patient, nurse, admin) = (grant("patient"), grant("nurse"), grant("admin"));
    let me = graphql_as(&url, Some(&patient), "{ me { id } }", json!({})).await;
    let patient_id = me["data"]["me"]["id"]
        .as_str()
        .expect("a profile")
        .to_string();

    let mut patients = health_session(&ws_url, &patient).await;
    let mut nurses = health_session(&ws_url, &nurse).await;
    let deactivated = graphql_as(
        &url,
        Some(&admin),
        "mutation($id: ID!) { deactivateUser(requestId: \"sessions-1\", userId: $id, reason: \"left the clinic\") { active } }",
        json!({ "id": patient_id }),
    )
    .await;
    assert_eq!(
        deactivated["data"]["deactivateUser"]["active"], false,
        "{deactivated}"
    );
    assert_eq!(
        goes_on(&mut patients, Duration::from_secs(10)).await,
        Some(4403)
    );
    assert_eq!(goes_on(&mut nurses, Duration::from_secs(3)).await, None);
    platform.stop().await;
}
