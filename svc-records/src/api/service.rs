//! The tonic trait, delegating each RPC to its adapter; the one place a [`RecordsError`]
//! becomes a `tonic::Status`.

use medmesh_proto::records::v1::{self as pb, records_service_server::RecordsService};
use tonic::{Request, Response, Status};

use super::RecordsApi;

macro_rules! delegate {
    ($($rpc:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl RecordsService for RecordsApi {
            $(
                #[tracing::instrument(skip_all)]
                async fn $rpc(&self, request: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    RecordsApi::$rpc(self, request)
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
        }
    };
}

delegate! {
    get_patient_card(GetPatientCardRequest) -> PatientCard;
    list_entries(ListEntriesRequest) -> ListEntriesResponse;
    get_entry(GetEntryRequest) -> Entry;
    create_entry(CreateEntryRequest) -> Entry;
    update_draft(UpdateDraftRequest) -> Entry;
    discard_draft(DiscardDraftRequest) -> DiscardDraftResponse;
    sign_entry(SignEntryRequest) -> Entry;
    amend_entry(AmendEntryRequest) -> Entry;
    grant_access(GrantAccessRequest) -> Grant;
    revoke_access(RevokeAccessRequest) -> Grant;
    list_grants(ListGrantsRequest) -> ListGrantsResponse;
    break_glass(BreakGlassRequest) -> BreakGlassAccess;
    list_break_glass(ListBreakGlassRequest) -> ListBreakGlassResponse;
    list_access_log(ListAccessLogRequest) -> ListAccessLogResponse;
    verify_access_log(VerifyAccessLogRequest) -> IntegrityReport;
    export_card(ExportCardRequest) -> CardExport;
}
