//! Test harness shared by the end-to-end tests: a private containerd daemon, and OCI
//! images built from fixture trees and imported with `ctr`.

pub mod containerd;
pub mod dtrack;
pub mod fixtures;
pub mod oci;
pub mod samples;

pub use containerd::ContainerdDaemon;
pub use oci::{BuiltImage, Compression, Entry, ImageSpec, Layer};
