//! The tonic trait, delegating each RPC to its adapter; the one place a [`SchedulingError`]
//! becomes a `tonic::Status`.

use medmesh_proto::scheduling::v1::{self as pb, scheduling_service_server::SchedulingService};
use tonic::{Request, Response, Status};

use super::SchedulingApi;

macro_rules! delegate {
    ($($rpc:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl SchedulingService for SchedulingApi {
            $(
                #[tracing::instrument(skip_all)]
                async fn $rpc(&self, request: Request<pb::$request>) -> Result<Response<pb::$response>, Status> {
                    SchedulingApi::$rpc(self, request)
                        .await
                        .map(Response::new)
                        .map_err(Status::from)
                }
            )*
        }
    };
}

delegate! {
    create_clinic(CreateClinicRequest) -> Clinic;
    update_clinic(UpdateClinicRequest) -> Clinic;
    get_clinic(GetClinicRequest) -> Clinic;
    list_clinics(ListClinicsRequest) -> ListClinicsResponse;
    create_cabinet(CreateCabinetRequest) -> Cabinet;
    update_cabinet(UpdateCabinetRequest) -> Cabinet;
    list_cabinets(ListCabinetsRequest) -> ListCabinetsResponse;
    create_specialization(CreateSpecializationRequest) -> Specialization;
    update_specialization(UpdateSpecializationRequest) -> Specialization;
    list_specializations(ListSpecializationsRequest) -> ListSpecializationsResponse;
    upsert_doctor(UpsertDoctorRequest) -> Doctor;
    get_doctor(GetDoctorRequest) -> Doctor;
    list_doctors(ListDoctorsRequest) -> ListDoctorsResponse;
    add_schedule_template(AddScheduleTemplateRequest) -> ScheduleTemplate;
    remove_schedule_template(RemoveScheduleTemplateRequest) -> RemoveScheduleTemplateResponse;
    add_schedule_exception(AddScheduleExceptionRequest) -> ScheduleException;
    get_schedule(GetScheduleRequest) -> Schedule;
    list_free_slots(ListFreeSlotsRequest) -> ListFreeSlotsResponse;
    hold_slot(HoldSlotRequest) -> Appointment;
    book_appointment(BookAppointmentRequest) -> Appointment;
    reschedule_appointment(RescheduleAppointmentRequest) -> Appointment;
    cancel_appointment(CancelAppointmentRequest) -> Appointment;
    change_appointment_status(ChangeAppointmentStatusRequest) -> Appointment;
    get_appointment(GetAppointmentRequest) -> Appointment;
    list_appointments(ListAppointmentsRequest) -> ListAppointmentsResponse;
    get_appointment_confirmation(GetAppointmentConfirmationRequest) -> Document;
    join_waitlist(JoinWaitlistRequest) -> WaitlistEntry;
    leave_waitlist(LeaveWaitlistRequest) -> WaitlistEntry;
    list_waitlist(ListWaitlistRequest) -> ListWaitlistResponse;
}
