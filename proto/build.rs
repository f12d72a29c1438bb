//! Generates the `nodebom.v1` messages, clients and servers, plus the encoded file
//! descriptor set that the collector serves through gRPC server reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "nodebom/v1/types.proto",
    "nodebom/v1/ingest.proto",
    "nodebom/v1/query.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("nodebom_v1_descriptor.bin"))
        .compile_protos(PROTOS, &["."])?;
    Ok(())
}
