//! Scheduling in the graph: the clinic directory, schedules, free slots, holds, appointments
//! and waitlists. Every resolver forwards the caller's bearer token; svc-scheduling decides
//! whose appointments a caller reaches.

mod booking_mutation;
mod client;
mod directory_mutation;
mod inputs;
mod live;
mod query;
mod slots;
mod subscription;
mod types;

pub use inputs::{
    BookInput, ClinicInput, DoctorInput, ScheduleExceptionInput, ScheduleTemplateInput,
};
pub use live::AvailabilityFeed;
pub use query::SchedulingQuery;

/// Every scheduling mutation, in the schema's order: the directory and schedules, then
/// appointments and waitlists.
#[derive(async_graphql::MergedObject, Debug, Default)]
pub struct SchedulingMutation(
    directory_mutation::DirectoryMutation,
    booking_mutation::BookingMutation,
);
pub use subscription::SchedulingSubscription;
pub use types::{
    Appointment, AppointmentPage, AppointmentStatus, Cabinet, CabinetPage, Clinic, ClinicPage,
    Doctor, DoctorPage, Document, FreeSlots, Schedule, ScheduleException, ScheduleTemplate, Slot,
    Specialization, SpecializationPage, WaitlistEntry, WaitlistPage, WaitlistStatus,
};
