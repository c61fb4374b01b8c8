//! Compiles every `.proto` under `medmesh/` with the protoc that ships in `protoc-bin-vendored`,
//! so a build never depends on a system protoc.

use std::{env, io, path::PathBuf};

fn main() -> io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(io::Error::other)?;
    let include = protoc_bin_vendored::include_path().map_err(io::Error::other)?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    let protos: Vec<PathBuf> = [
        "medmesh/common/v1/common.proto",
        "medmesh/events/v1/envelope.proto",
        "medmesh/accounts/v1/accounts.proto",
        "medmesh/scheduling/v1/scheduling.proto",
        "medmesh/pharmacy/v1/pharmacy.proto",
        "medmesh/records/v1/records.proto",
        "medmesh/notify/v1/notify.proto",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("medmesh_descriptor.bin"))
        // RPCs not implemented yet answer UNIMPLEMENTED instead of failing to compile.
        .generate_default_stubs(true)
        .include_file("medmesh.rs")
        .compile_with_config(config, &protos, &[PathBuf::from("."), include])?;
    println!("cargo:rerun-if-changed=medmesh");
    Ok(())
}
