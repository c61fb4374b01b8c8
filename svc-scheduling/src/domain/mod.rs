//! The rules of scheduling, with no I/O: slot computation ([`calendar`]), the appointment state
//! machine ([`status`]) and what each change makes of an appointment ([`appointment`]), who may do
//! what ([`access`]).

pub mod access;
pub mod appointment;
pub mod calendar;
pub mod status;

pub use access::{Caller, Operation, Reach};
pub use appointment::{Appointment, Change, Placement, Refusal};
pub use status::Status;
