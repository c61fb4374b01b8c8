//! Reading one prescription, with the caller's token: svc-pharmacy decides who reaches it.

use async_graphql::{Context, ID, Result};
use medmesh_proto::pharmacy::v1 as pb;

use super::{
    client::{client, upstream},
    prescription_types::Prescription,
};
use crate::context::as_caller;

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
