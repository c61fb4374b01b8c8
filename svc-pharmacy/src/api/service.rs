//! The tonic trait, delegating each RPC to its adapter; the one place a [`PharmacyError`]
//! becomes a `tonic::Status`.

use medmesh_proto::pharmacy::v1::{self as pb, pharmacy_service_server::PharmacyService};
use tonic::{Request, Response, Status};

use super::PharmacyApi;

macro_rules! delegate {
    ($($rpc:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl PharmacyService for PharmacyApi {
            $(
                #[tracing::instrument(skip_all)]
                async fn $rpc(&self, request: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    PharmacyApi::$rpc(self, request)
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
        }
    };
}

delegate! {
    create_pharmacy(CreatePharmacyRequest) -> Pharmacy;
    update_pharmacy(UpdatePharmacyRequest) -> Pharmacy;
    get_pharmacy(GetPharmacyRequest) -> Pharmacy;
    list_pharmacies(ListPharmaciesRequest) -> ListPharmaciesResponse;
    create_medication(CreateMedicationRequest) -> Medication;
    update_medication(UpdateMedicationRequest) -> Medication;
    get_medication(GetMedicationRequest) -> Medication;
    search_medications(SearchMedicationsRequest) -> SearchMedicationsResponse;
    get_stock(GetStockRequest) -> GetStockResponse;
    get_availability(GetAvailabilityRequest) -> GetAvailabilityResponse;
    get_preferred_pharmacies(GetPreferredPharmaciesRequest) -> PreferredPharmacies;
    set_preferred_pharmacies(SetPreferredPharmaciesRequest) -> PreferredPharmacies;
    receive_shipment(ReceiveShipmentRequest) -> ReceiveShipmentResponse;
    adjust_stock(AdjustStockRequest) -> StockLevel;
    set_critical_threshold(SetCriticalThresholdRequest) -> StockLevel;
    list_low_stock(ListLowStockRequest) -> ListLowStockResponse;
    list_expiring_lots(ListExpiringLotsRequest) -> ListExpiringLotsResponse;
    list_stock_movements(ListStockMovementsRequest) -> ListStockMovementsResponse;
    create_prescription(CreatePrescriptionRequest) -> Prescription;
    get_prescription(GetPrescriptionRequest) -> Prescription;
    list_prescriptions(ListPrescriptionsRequest) -> ListPrescriptionsResponse;
    change_prescription_pharmacy(ChangePrescriptionPharmacyRequest) -> Prescription;
    start_dispensing(StartDispensingRequest) -> Prescription;
    dispense_prescription(DispensePrescriptionRequest) -> Prescription;
    reject_prescription(RejectPrescriptionRequest) -> Prescription;
    cancel_prescription(CancelPrescriptionRequest) -> Prescription;
}
