//! The rules, without I/O: who may do what ([`access`]), a prescription's life and how a
//! dispense is planned ([`prescription`]), and how stock reads ([`stock`]).

pub mod access;
pub mod prescription;
pub mod stock;

pub use access::{Caller, Operation};
pub use prescription::{DispensePlan, PlannedLine, Status};
