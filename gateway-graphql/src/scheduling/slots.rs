//! Free slots: read through this gateway's short-lived copy where the live feed keeps it
//! honest, and the marks that a doctor's time changed.

use async_graphql::{Context, ID, Result};
use chrono::{DateTime, Utc};
use medmesh_proto::scheduling::v1::{
    self as pb, scheduling_service_client::SchedulingServiceClient,
};
use svc_kit::ServiceName;

use super::{
    client::{client, upstream},
    live::AvailabilityFeed,
    types::{FreeSlots, Slot},
};
use crate::{
    clients::ServiceClients,
    context::{as_caller, with_token},
    convert::{canonical_id, timestamp},
};

pub(super) async fn free_slots(
    ctx: &Context<'_>,
    doctor_id: ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<FreeSlots> {
    let doctor_id = canonical_id(doctor_id);
    // Everyone allowed to select this field may read any doctor's free slots (the same rule as
    // svc-scheduling's), so an answer read for one caller serves the next.
    let feed = ctx.data_opt::<AvailabilityFeed>();
    let (from_key, to_key) = (from.timestamp_micros(), to.timestamp_micros());
    let mut generation = 0;
    if let Some(feed) = feed {
        let (current, cached) = feed.cached(&doctor_id.0, from_key, to_key).await;
        if let Some(cached) = cached {
            metrics::counter!("graphql_free_slots_answers_total", "source" => "gateway")
                .increment(1);
            return Ok(cached);
        }
        generation = current;
    }
    let request = as_caller(
        ctx,
        pb::ListFreeSlotsRequest {
            doctor_id: doctor_id.0.clone(),
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        },
    )?;
    let list = client(ctx)
        .list_free_slots(request)
        .await
        .map_err(upstream)?
        .into_inner();
    metrics::counter!("graphql_free_slots_answers_total", "source" => "scheduling").increment(1);
    let answer = FreeSlots {
        doctor_id: doctor_id.clone(),
        time_zone: list.time_zone,
        slots: list.slots.into_iter().map(Slot::from).collect(),
    };
    if let Some(feed) = feed {
        feed.remember(&doctor_id.0, generation, from_key, to_key, answer.clone())
            .await;
    }
    Ok(answer)
}

/// A scheduling change made through this gateway shows in its own free-slot answers at once
/// (other gateways learn it from the event feed).
pub(super) fn changed(ctx: &Context<'_>, appointment: &pb::Appointment) {
    if let Some(slot) = appointment.slot.as_ref() {
        doctor_changed(ctx, &slot.doctor_id);
    }
}

/// The doctor's schedule or listing changed through this gateway.
pub(super) fn doctor_changed(ctx: &Context<'_>, doctor_id: &str) {
    if let Some(feed) = ctx.data_opt::<AvailabilityFeed>() {
        feed.changed(doctor_id);
    }
}

/// Free slots asked for with `bearer`, outside any request context (live updates).
pub(super) async fn fetch_free_slots(
    clients: &ServiceClients,
    bearer: &str,
    doctor_id: &ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<FreeSlots> {
    let request = with_token(
        pb::ListFreeSlotsRequest {
            doctor_id: doctor_id.0.clone(),
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        },
        bearer,
    )?;
    let list = SchedulingServiceClient::new(clients.channel(ServiceName::Scheduling))
        .list_free_slots(request)
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(FreeSlots {
        doctor_id: doctor_id.clone(),
        time_zone: list.time_zone,
        slots: list.slots.into_iter().map(Slot::from).collect(),
    })
}
