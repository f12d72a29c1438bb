//! Generates the containerd API client (`proto/containerd/`, the subset the agent
//! calls). `protox` parses the files in Rust and carries Google's well-known types, so
//! building needs no system `protoc`.

const PROTOS: &[&str] = &[
    "containerd/types.proto",
    "containerd/events.proto",
    "containerd/images.proto",
    "containerd/containers.proto",
    "containerd/content.proto",
    "containerd/leases.proto",
    "containerd/snapshots.proto",
    "containerd/events_service.proto",
    "containerd/version.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos: Vec<String> = PROTOS.iter().map(|p| format!("proto/{p}")).collect();
    let descriptors = protox::compile(&protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .include_file("containerd_api.rs")
        .compile_fds(descriptors)?;
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
