//! The rules of scheduling, with no I/O: slot computation ([`calendar`]), the appointment state
//! machine ([`status`]), who may do what ([`access`]).

pub mod access;
pub mod calendar;
pub mod status;

pub use access::{Caller, Operation, Reach};
pub use status::Status;
