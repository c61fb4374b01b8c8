//! Live availability: the gateway listens to scheduling's events and tells each open
//! `doctorAvailability` subscription when its doctor's time changed, so booking pages update
//! without polling. The feed only says *which doctor*; the subscription then asks
//! svc-scheduling for the fresh free slots (through the cache, so a burst is cheap).
//!
//! The same feed keeps the gateway's own short-lived copy of free-slot answers honest: each
//! doctor has a generation that every event (and every scheduling mutation through this
//! gateway) moves on, and an answer is only reused under the generation it was read at. A
//! booking page's repeated reads then cost no call to svc-scheduling at all.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use medmesh_proto::{events::v1::EventEnvelope, scheduling::v1::AppointmentEvent};
use prost::Message;
use svc_kit::events::{EventSource, Follower};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::types::FreeSlots;

/// How long a free-slot answer is reused at most, should an event be lost.
const ANSWER_TTL: Duration = Duration::from_secs(5);

/// (doctor, generation, from, to) of a free-slot answer.
type AnswerKey = (String, u64, i64, i64);

/// Doctor ids whose availability changed, as they happen.
#[derive(Clone)]
pub struct AvailabilityFeed {
    changes: broadcast::Sender<String>,
    generations: Arc<Mutex<HashMap<String, u64>>>,
    answers: moka::future::Cache<AnswerKey, FreeSlots>,
}

impl std::fmt::Debug for AvailabilityFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvailabilityFeed").finish_non_exhaustive()
    }
}

impl AvailabilityFeed {
    /// Starts listening to `topic` (scheduling's events) on `source` until `shutdown`.
    pub fn start(
        source: EventSource,
        topic: String,
        shutdown: CancellationToken,
    ) -> AvailabilityFeed {
        let (changes, _) = broadcast::channel(1024);
        let feed = AvailabilityFeed {
            changes,
            generations: Arc::default(),
            answers: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(ANSWER_TTL)
                .build(),
        };
        let sender = feed.clone();
        // Every gateway replica needs every event for its own subscribers and answers: the
        // follower reads as a listener of its own and shares no progress with other replicas.
        let follower = Follower::new("gateway-live", vec![topic]);
        tokio::spawn(async move {
            let result = follower
                .run(source, shutdown, move |event| announce(&sender, &event))
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "live availability feed stopped");
            }
        });
        feed
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    fn generation(&self, doctor_id: &str) -> u64 {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.get(doctor_id).copied().unwrap_or(0)
    }

    /// The doctor's time changed: answers read before are not reused, subscribers re-read.
    pub fn changed(&self, doctor_id: &str) {
        {
            let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            *generations.entry(doctor_id.to_string()).or_default() += 1;
        }
        // No subscriber is fine.
        let _ = self.changes.send(doctor_id.to_string());
    }

    /// A free-slot answer read under the doctor's current generation, if there is one.
    pub(crate) async fn cached(
        &self,
        doctor_id: &str,
        from: i64,
        to: i64,
    ) -> (u64, Option<FreeSlots>) {
        let generation = self.generation(doctor_id);
        let key = (doctor_id.to_string(), generation, from, to);
        (generation, self.answers.get(&key).await)
    }

    /// The doctor's free slots in `[from, to)` under the current generation, read by `read` at
    /// most once however many subscribers ask at the same time: a change is one read to
    /// svc-scheduling, fanned out to every subscription of that doctor and range.
    pub(crate) async fn shared<F>(
        &self,
        doctor_id: &str,
        from: i64,
        to: i64,
        read: F,
    ) -> async_graphql::Result<FreeSlots>
    where
        F: std::future::Future<Output = async_graphql::Result<FreeSlots>>,
    {
        let key = (doctor_id.to_string(), self.generation(doctor_id), from, to);
        self.answers
            .try_get_with(key, async {
                metrics::counter!("graphql_free_slots_answers_total", "source" => "scheduling")
                    .increment(1);
                read.await
            })
            .await
            .map_err(|error| (*error).clone())
    }

    /// Keeps an answer read under `generation` (if the doctor's time changed since, it is
    /// simply never found).
    pub(crate) async fn remember(
        &self,
        doctor_id: &str,
        generation: u64,
        from: i64,
        to: i64,
        answer: FreeSlots,
    ) {
        self.answers
            .insert((doctor_id.to_string(), generation, from, to), answer)
            .await;
    }
}

/// Moves on the doctors an event touches (before and after a reschedule).
fn announce(sender: &AvailabilityFeed, envelope: &EventEnvelope) {
    // Other payloads on the topic (an erasure's report) name no doctor's time.
    let Some(any) = envelope.payload.as_ref().filter(|any| {
        any.type_url
            .ends_with("/medmesh.scheduling.v1.AppointmentEvent")
    }) else {
        return;
    };
    let Ok(event) = AppointmentEvent::decode(any.value.as_slice()) else {
        return;
    };
    let doctors = [
        event.appointment.and_then(|a| a.slot).map(|s| s.doctor_id),
        event.previous_slot.map(|s| s.doctor_id),
    ];
    for doctor in doctors.into_iter().flatten().filter(|d| !d.is_empty()) {
        sender.changed(&doctor);
    }
}
