//! Generates the `nodebom.v1` messages, clients and servers, plus the encoded file
//! descriptor set that the collector serves through gRPC server reflection.
//!
//! The `.proto` files are parsed by `protox`, a Rust protobuf compiler that carries
//! Google's well-known types, so building needs no system `protoc`.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "nodebom/v1/types.proto",
    "nodebom/v1/ingest.proto",
    "nodebom/v1/query.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Imports included: reflection clients resolve google.protobuf.* from this set too.
    let descriptors = protox::compile(PROTOS, ["."])?;
    std::fs::write(
        out_dir.join("nodebom_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
