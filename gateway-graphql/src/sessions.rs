//! Websocket sessions: caps on live subscriptions (per connection, and per subject on this
//! replica) — one past a cap is answered with one `RATE_LIMITED` error and ends, the others keep
//! running, and a place is given back when its subscription ends — and the accounts feed that
//! ends a session when its user is deactivated or erased.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use async_graphql::{
    Response, ServerError,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextSubscribe},
    futures_util::stream::BoxStream,
};
use futures::StreamExt;
use medmesh_proto::events::v1::EventEnvelope;
use svc_kit::{
    auth::Principal,
    events::{EventSource, Follower},
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::errors::ErrorCode;

/// One websocket connection's live subscriptions (in the connection's data from
/// `connection_init` on).
#[derive(Debug, Clone, Default)]
pub struct ConnectionLoad(Arc<AtomicUsize>);

/// The extension that keeps to `gateway.max_subscriptions_per_connection` and
/// `gateway.max_subscriptions_per_subject`.
#[derive(Debug, Clone)]
pub struct SubscriptionCaps {
    per_connection: usize,
    per_subject: usize,
    by_subject: Counts,
}

/// Live subscriptions per subject.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

impl SubscriptionCaps {
    pub fn new(per_connection: usize, per_subject: usize) -> SubscriptionCaps {
        SubscriptionCaps {
            per_connection,
            per_subject,
            by_subject: Arc::default(),
        }
    }

    /// A place for one more subscription of `connection` and `subject`, or why there is none.
    fn admit(
        &self,
        connection: Option<&ConnectionLoad>,
        subject: Option<&str>,
    ) -> Result<Live, String> {
        let mut live = Live::default();
        if let Some(connection) = connection {
            let before = connection.0.fetch_add(1, Ordering::SeqCst);
            live.connection = Some(Arc::clone(&connection.0));
            if before >= self.per_connection {
                return Err(format!(
                    "at most {} live subscriptions per connection",
                    self.per_connection
                ));
            }
        }
        if let Some(subject) = subject {
            let mut counts = self.by_subject.lock().unwrap_or_else(|e| e.into_inner());
            let count = counts.entry(subject.to_string()).or_default();
            if *count >= self.per_subject {
                return Err(format!(
                    "at most {} live subscriptions per user",
                    self.per_subject
                ));
            }
            *count += 1;
            live.subject = Some((Arc::clone(&self.by_subject), subject.to_string()));
        }
        Ok(live)
    }
}

impl ExtensionFactory for SubscriptionCaps {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// A subscription's place, given back when dropped.
#[derive(Debug, Default)]
struct Live {
    connection: Option<Arc<AtomicUsize>>,
    subject: Option<(Counts, String)>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(connection) = &self.connection {
            connection.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some((counts, subject)) = &self.subject {
            let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = counts.get_mut(subject) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(subject);
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Extension for SubscriptionCaps {
    /// An operation sent over a websocket is charged to its caller's rates as one sent over
    /// HTTP is (`crate::rates`); over a rate it is refused before it runs.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        if let Some(session) = ctx.data_opt::<crate::rates::SessionRates>()
            && let Some(refusal) =
                crate::rates::over_rate(&session.rates, &session.caller, &mut request).await
        {
            return Err(refusal);
        }
        next.run(ctx, request).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let connection = ctx.data_opt::<ConnectionLoad>();
        let subject = ctx.data_opt::<Principal>().map(|p| p.subject.as_str());
        match self.admit(connection, subject) {
            Ok(live) => next
                .run(ctx, stream)
                .map(move |response| {
                    let _place = &live;
                    response
                })
                .boxed(),
            Err(message) => {
                metrics::counter!("graphql_rate_limited_total", "class" => "subscriptions")
                    .increment(1);
                let mut error = ServerError::new(message, None);
                let extensions = error.extensions.get_or_insert_with(Default::default);
                extensions.set("code", ErrorCode::RateLimited.as_str());
                extensions.set("service", "gateway");
                futures::stream::once(async move { Response::from_errors(vec![error]) }).boxed()
            }
        }
    }
}

/// The subjects (token `sub`) whose accounts svc-accounts has deactivated or erased, as its
/// events arrive: each open websocket session of theirs is closed.
#[derive(Debug, Clone)]
pub struct AccountFeed {
    ended: broadcast::Sender<String>,
}

impl AccountFeed {
    /// Starts listening to `topic` (accounts' events) on `source` until `shutdown`. Every
    /// gateway replica hears every event (a listener of its own, sharing no progress).
    pub fn start(source: EventSource, topic: String, shutdown: CancellationToken) -> AccountFeed {
        let (ended, _) = broadcast::channel(256);
        let feed = AccountFeed { ended };
        let sender = feed.clone();
        let follower = Follower::new("gateway-accounts", vec![topic]);
        tokio::spawn(async move {
            let result = follower
                .run(source, shutdown, move |event| sender.announce(&event))
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "accounts feed stopped");
            }
        });
        feed
    }

    /// Subjects whose accounts end from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.ended.subscribe()
    }

    fn announce(&self, event: &EventEnvelope) {
        let ends =
            event.r#type.ends_with(".user.deactivated") || event.r#type.ends_with(".user.erased");
        if ends && !event.subject.is_empty() {
            // No session open is fine.
            let _ = self.ended.send(event.subject.clone());
        }
    }
}
