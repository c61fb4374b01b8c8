//! Reading one prescription, in a request and outside one (a subscription's later reads).
//! Either way with the caller's token: svc-pharmacy decides who reaches it.

use async_graphql::{Context, ID, Result};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, client_of, upstream},
    prescription_types::Prescription,
};
use crate::{
    clients::ServiceClients,
    context::{as_caller, with_token},
};

pub(super) async fn read_prescription(ctx: &Context<'_>, id: ID) -> Result<Prescription> {
    let request = as_caller(
        ctx,
        pb::GetPrescriptionRequest {
            prescription_id: id.0,
        },
    )?;
    let prescription = client(ctx)
        .get_prescription(request)
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Prescription::read(prescription))
}

/// The prescription asked for with `bearer`, outside any request context.
pub(super) async fn fetch_prescription(
    clients: &ServiceClients,
    bearer: &str,
    id: &ID,
) -> Result<Prescription> {
    let request = with_token(
        pb::GetPrescriptionRequest {
            prescription_id: id.0.clone(),
        },
        bearer,
    )?;
    let prescription = client_of(clients)
        .get_prescription(request)
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Prescription::read(prescription))
}
