//! The rules, without I/O: who may do what and on what standing ([`access`]), an entry's life
//! and content ([`entry`]), and the access log's hash chain ([`chain`]).

pub mod access;
pub mod chain;
pub mod entry;

pub use access::{Basis, Caller, Operation, Ties};
pub use entry::{Kind, Refusal, Status};
