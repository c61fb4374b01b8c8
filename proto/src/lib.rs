//! MedMesh's contracts: the gRPC APIs of every service and the event envelope, generated from
//! `proto/medmesh/**/v1/*.proto`. The module tree mirrors the protobuf packages
//! (`medmesh::scheduling::v1`, ...).

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/medmesh.rs"));

/// The encoded `FileDescriptorSet` of every MedMesh proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/medmesh_descriptor.bin"));

pub use medmesh::*;
