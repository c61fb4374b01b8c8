//! Scheduling in the graph: the clinic directory, schedules, free slots, holds, appointments
//! and waitlists. Every resolver forwards the caller's bearer token; svc-scheduling decides
//! whose appointments a caller reaches.

mod client;
mod inputs;
mod live;
mod mutation;
mod query;
mod slots;
mod subscription;
mod types;

pub use inputs::{
    BookInput, ClinicInput, DoctorInput, ScheduleExceptionInput, ScheduleTemplateInput,
};
pub use live::AvailabilityFeed;
pub use mutation::SchedulingMutation;
pub use query::SchedulingQuery;
pub use subscription::SchedulingSubscription;
pub use types::{
    Appointment, AppointmentPage, AppointmentStatus, Cabinet, CabinetPage, Clinic, ClinicPage,
    Doctor, DoctorPage, Document, FreeSlots, Schedule, ScheduleException, ScheduleTemplate, Slot,
    Specialization, SpecializationPage, WaitlistEntry, WaitlistPage, WaitlistStatus,
};
