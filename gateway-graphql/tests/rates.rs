//! Rate limits at the gateway: per subject, per client address without a token, and for
//! booking mutations; shared by two gateways through one Redis; HTTP 429 with Retry-After.

mod common;

use std::{sync::Arc, time::Duration};

use gateway_graphql::{
    GatewayServer,
    proxies::TrustedProxies,
    server::{RateLimits, RateRules},
};
use serde_json::{Value, json};
use svc_kit::{
    Settings,
    auth::{
        Authenticator,
        dev_issuer::{DevIssuer, DevIssuerServer, WEB_CLIENT},
    },
    cache::{Cache, RateRule},
    config::Mode,
    testing::RedisServer,
};
use tokio_util::sync::CancellationToken;

/// One request a minute on average, `burst` at once: nothing is refilled while a test runs.
fn rule(name: &'static str, burst: u32) -> RateRule {
    RateRule {
        name,
        per_period: 1,
        period: Duration::from_secs(60),
        burst,
    }
}

fn rules() -> RateRules {
    RateRules {
        subject: rule("subject", 5),
        anonymous: rule("anonymous", 3),
        booking: rule("booking", 2),
    }
}

/// The cache of `settings` with `backend` (and Redis at `redis_url`).
fn budgets(backend: &str, redis_url: Option<&str>) -> Cache {
    let mut figment = Settings::figment(None).merge(("cache.backend", backend));
    if let Some(url) = redis_url {
        figment = figment.merge(("cache.redis.url", url));
    }
    let settings = Settings::from_figment(figment).unwrap();
    Cache::from_settings(&settings.cache, "gateway").unwrap()
}

struct Gateways {
    urls: Vec<String>,
    issuer: Arc<DevIssuer>,
    _stop: CancellationToken,
}

/// `caches.len()` gateways over services that never answer, each with its own budgets handle.
async fn gateways(caches: Vec<Cache>) -> Gateways {
    gateways_with(caches, common::default_config().1).await
}

/// [`gateways`] with the gateway section `config`.
async fn gateways_with(caches: Vec<Cache>, config: gateway_graphql::GatewayConfig) -> Gateways {
    let stop = CancellationToken::new();
    let sso = DevIssuerServer::bind(Mode::Dev, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let issuer = sso.issuer.clone();
    tokio::spawn(sso.serve(stop.clone()));
    let (settings, _) = common::default_config();
    let auth = Arc::new(Authenticator::new(
        settings.auth.settings_for(issuer.issuer()),
    ));
    let mut urls = Vec::new();
    for budgets in caches {
        let server = GatewayServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            common::offline_schema(&config),
            auth.clone(),
        )
        .await
        .unwrap()
        .with_rate_limits(RateLimits {
            rules: rules(),
            budgets,
        });
        urls.push(common::serve(server, &stop));
    }
    Gateways {
        urls,
        issuer,
        _stop: stop,
    }
}

impl Gateways {
    fn token(&self, username: &str) -> String {
        let subject = format!("rates-{username}");
        self.issuer.sign(
            &self
                .issuer
                .claims(&subject, username, &["patient"], WEB_CLIENT),
        )
    }
}

/// The status, the Retry-After header and the first error's code of one request.
async fn send(url: &str, token: Option<&str>, query: &str) -> (u16, Option<u64>, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = response.json().await.unwrap();
    (
        status,
        retry_after,
        body["errors"][0]["extensions"]["code"].clone(),
    )
}

#[tokio::test]
async fn two_gateways_share_each_callers_budget_through_redis() {
    let mut redis = RedisServer::start();
    let g = gateways(vec![
        budgets("redis", Some(&redis.url)),
        budgets("redis", Some(&redis.url)),
    ])
    .await;
    let (alice, bob) = (g.token("alice"), g.token("bob"));

    // Alice's 8 requests, alternating between the two gateways: 5 pass, 3 are refused.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (status, retry_after, code) =
            send(&g.urls[i % 2], Some(&alice), "{ __typename }").await;
        if status == 429 {
            assert_eq!(code, "RATE_LIMITED");
            let wait = retry_after.expect("a 429 says when to retry");
            assert!((1..=60).contains(&wait), "{wait}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);

    // Bob is not affected by Alice.
    for i in 0..5 {
        assert_eq!(
            send(&g.urls[i % 2], Some(&bob), "{ __typename }").await.0,
            200
        );
    }

    // Without a token, the client address is the caller: 3 at once.
    let mut anonymous = Vec::new();
    for i in 0..4 {
        anonymous.push(send(&g.urls[i % 2], None, "{ __typename }").await.0);
    }
    assert_eq!(anonymous, [200, 200, 200, 429]);

    // Booking mutations have a budget of their own, besides the caller's: Carol's third
    // holdSlot is refused while her queries still pass.
    let carol = g.token("carol");
    let hold = r#"mutation { holdSlot(requestId: "r", doctorId: "d", start: "2030-01-01T08:00:00Z") { id } }"#;
    let mut holds = Vec::new();
    for i in 0..3 {
        holds.push(send(&g.urls[i % 2], Some(&carol), hold).await.0);
    }
    assert_eq!(holds, [200, 200, 429]);
    assert_eq!(
        send(&g.urls[0], Some(&carol), "{ __typename }").await.0,
        200
    );
    // A booking field behind a fragment counts the same.
    let dave = g.token("dave");
    let hidden = r#"mutation { ...H } fragment H on Mutation { holdSlot(requestId: "r", doctorId: "d", start: "2030-01-01T08:00:00Z") { id } }"#;
    let mut hidden_holds = Vec::new();
    for i in 0..3 {
        hidden_holds.push(send(&g.urls[i % 2], Some(&dave), hidden).await.0);
    }
    assert_eq!(hidden_holds, [200, 200, 429]);

    // Each booking field counts, aliases too: two holds in one request use Eve's whole booking
    // burst, three are never admitted at once.
    let eve = g.token("eve");
    let two = r#"mutation { a: holdSlot(requestId: "a", doctorId: "d", start: "2030-01-01T08:00:00Z") { id } b: holdSlot(requestId: "b", doctorId: "d", start: "2030-01-01T09:00:00Z") { id } }"#;
    assert_eq!(send(&g.urls[0], Some(&eve), two).await.0, 200);
    assert_eq!(send(&g.urls[1], Some(&eve), hold).await.0, 429);
    let fred = g.token("fred");
    let three = r#"mutation { a: holdSlot(requestId: "a", doctorId: "d", start: "2030-01-01T08:00:00Z") { id } b: holdSlot(requestId: "b", doctorId: "d", start: "2030-01-01T09:00:00Z") { id } c: holdSlot(requestId: "c", doctorId: "d", start: "2030-01-01T10:00:00Z") { id } }"#;
    assert_eq!(send(&g.urls[0], Some(&fred), three).await.0, 429);

    // Redis gone: limits are not checked rather than every caller refused.
    redis.stop();
    assert_eq!(
        send(&g.urls[0], Some(&alice), "{ __typename }").await.0,
        200
    );
}

#[tokio::test]
async fn one_gateway_without_redis_keeps_the_budgets_in_process() {
    let g = gateways(vec![budgets("memory", None)]).await;
    let erin = g.token("erin");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(send(&g.urls[0], Some(&erin), "{ __typename }").await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(
        send(&g.urls[0], Some(&g.token("frank")), "{ __typename }")
            .await
            .0,
        200
    );
}

/// The status of an anonymous request that says it was forwarded for `forwarded_for`.
async fn send_forwarded(url: &str, forwarded_for: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_visitor_has_a_budget_of_their_own() {
    // This test's client is the proxy: 127.0.0.1.
    let behind_proxy = |trusted: &[&str]| {
        let server = GatewayServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            common::offline_schema(&common::default_config().1),
            Arc::new(Authenticator::new(
                common::default_config()
                    .0
                    .auth
                    .settings_for("http://127.0.0.1:9/unused".into()),
            )),
        );
        let trusted: Vec<String> = trusted.iter().map(|t| t.to_string()).collect();
        async move {
            server
                .await
                .unwrap()
                .with_rate_limits(RateLimits {
                    rules: rules(),
                    budgets: budgets("memory", None),
                })
                .with_trusted_proxies(TrustedProxies::parse(&trusted).unwrap())
        }
    };
    let stop = CancellationToken::new();
    let trusting = common::serve(behind_proxy(&["127.0.0.0/8"]).await, &stop);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send_forwarded(&trusting, "198.51.100.4").await);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "one visitor, one budget");
    // Another visitor behind the same proxy still has all of theirs.
    assert_eq!(send_forwarded(&trusting, "198.51.100.5").await, 200);
    // A visitor cannot pick a fresh budget by writing the header through the proxy: the
    // address the proxy appends is the one counted.
    assert_eq!(
        send_forwarded(&trusting, "203.0.113.1, 198.51.100.4").await,
        429
    );
    // Nor by writing something that is no address there: it is never read.
    assert_eq!(send_forwarded(&trusting, "x, 198.51.100.4").await, 429);

    // Not trusted: the header is ignored and everyone is the peer.
    let ignoring = common::serve(behind_proxy(&[]).await, &stop);
    let mut statuses = Vec::new();
    for visitor in [
        "198.51.100.6",
        "198.51.100.7",
        "198.51.100.8",
        "198.51.100.9",
    ] {
        statuses.push(send_forwarded(&ignoring, visitor).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "all one caller: the peer");
    stop.cancel();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket session opened with `token`, subscribed to the mesh's health every second.
async fn health_session(url: &str, token: &str) -> Socket {
    let mut socket = open_session(url, token).await;
    subscribe_health(&mut socket, "1").await;
    socket
}

/// A websocket session opened with `token`, acknowledged.
async fn open_session(url: &str, token: &str) -> Socket {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let mut request = (url.replace("http://", "ws://") + "/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") }
        })))
        .await
        .unwrap();
    let ack: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

/// Subscribes `socket` to the mesh's health every second, as operation `id`.
async fn subscribe_health(socket: &mut Socket, id: &str) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let message = json!({
        "id": id,
        "type": "subscribe",
        "payload": { "query": "subscription { meshHealth(intervalSeconds: 1) { healthy } }" }
    });
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// For each operation id, whether it delivered data and whether it was refused RATE_LIMITED,
/// over `window`.
async fn outcomes(
    socket: &mut Socket,
    window: Duration,
) -> std::collections::BTreeMap<String, (bool, bool)> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = std::collections::BTreeMap::<String, (bool, bool)>::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        let Some(id) = message["id"].as_str() else {
            continue;
        };
        let entry = seen.entry(id.to_string()).or_default();
        if message["payload"]["data"]["meshHealth"].is_object() {
            entry.0 = true;
        }
        if text.contains("RATE_LIMITED") {
            entry.1 = true;
        }
    }
    seen
}

/// What the session receives within `window`: the updates, and the close frame's code if the
/// server closed it.
async fn listen(socket: &mut Socket, window: Duration) -> (usize, Option<u16>) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let deadline = tokio::time::Instant::now() + window;
    let mut updates = 0;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return (updates, None),
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(message["type"], "next", "{message}");
                updates += 1;
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (updates, frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the session ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_subscription_is_closed_when_the_token_that_opened_it_expires() {
    let g = gateways(vec![budgets("memory", None)]).await;
    let now = chrono::Utc::now().timestamp();
    let token_until = |username: &str, exp: i64| {
        let mut claims = g.issuer.claims(
            &format!("rates-{username}"),
            username,
            &["patient"],
            WEB_CLIENT,
        );
        claims["exp"] = json!(exp);
        g.issuer.sign(&claims)
    };
    // A token good for three more seconds: updates arrive, then the server closes with 4401.
    let mut short = health_session(&g.urls[0], &token_until("grace", now + 3)).await;
    let (updates, closed) = listen(&mut short, Duration::from_secs(15)).await;
    assert!(updates >= 1, "the subscription ran first");
    assert_eq!(closed, Some(4401));
    // A token good for an hour: the same subscription keeps running over the same time.
    let mut long = health_session(&g.urls[0], &token_until("henry", now + 3600)).await;
    let (updates, closed) = listen(&mut long, Duration::from_secs(6)).await;
    assert_eq!(closed, None);
    assert!(updates >= 3, "{updates}");
}

#[tokio::test]
async fn live_subscriptions_are_capped_per_connection_and_per_user() {
    let (_, mut config) = common::default_config();
    config.max_subscriptions_per_connection = 2;
    config.max_subscriptions_per_subject = 3;
    let g = gateways_with(vec![budgets("memory", None)], config).await;
    let ivy = g.token("ivy");
    let window = Duration::from_millis(2500);

    // One connection: two subscriptions run, the third is refused.
    let mut first = open_session(&g.urls[0], &ivy).await;
    for id in ["1", "2", "3"] {
        subscribe_health(&mut first, id).await;
    }
    let seen = outcomes(&mut first, window).await;
    assert_eq!(seen.get("1"), Some(&(true, false)), "{seen:?}");
    assert_eq!(seen.get("2"), Some(&(true, false)), "{seen:?}");
    assert_eq!(seen.get("3"), Some(&(false, true)), "{seen:?}");

    // A second connection of the same user: one more runs (three in all), the next is refused.
    let mut second = open_session(&g.urls[0], &ivy).await;
    for id in ["1", "2"] {
        subscribe_health(&mut second, id).await;
    }
    let seen = outcomes(&mut second, window).await;
    assert_eq!(seen.get("1"), Some(&(true, false)), "{seen:?}");
    assert_eq!(seen.get("2"), Some(&(false, true)), "{seen:?}");
    // Another user is not affected.
    let mut other = health_session(&g.urls[0], &g.token("jack")).await;
    let seen = outcomes(&mut other, window).await;
    assert_eq!(seen.get("1"), Some(&(true, false)), "{seen:?}");

    // The first connection closed, its places are given back.
    drop(first);
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscribe_health(&mut second, "3").await;
    let seen = outcomes(&mut second, window).await;
    assert_eq!(seen.get("3"), Some(&(true, false)), "{seen:?}");
}

#[tokio::test]
async fn operations_over_a_websocket_are_charged_as_over_http() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let g = gateways(vec![budgets("memory", None)]).await;
    let kate = g.token("kate");
    let mut socket = open_session(&g.urls[0], &kate).await;
    for id in 0..7 {
        let message = json!({
            "id": id.to_string(),
            "type": "subscribe",
            "payload": { "query": "{ __typename }" }
        });
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    let (mut answered, mut limited) = (0, 0);
    while answered + limited < 7 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("every operation is answered")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["payload"]["data"]["__typename"] == "Query" {
            answered += 1;
        } else if text.contains("RATE_LIMITED") {
            limited += 1;
        }
    }
    assert_eq!((answered, limited), (5, 2));
    // The same budget as over HTTP: Kate's next request there is refused too.
    assert_eq!(send(&g.urls[0], Some(&kate), "{ __typename }").await.0, 429);
}
