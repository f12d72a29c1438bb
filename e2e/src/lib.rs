//! Test harness shared by the end-to-end tests and the collector's tests: a private
//! containerd daemon, OCI images built from fixture trees and imported with `ctr`, a
//! Dependency-Track test server, a private PostgreSQL cluster, and Prometheus' linter
//! for `/metrics`.

pub mod containerd;
pub mod dtrack;
pub mod fixtures;
pub mod golang;
pub mod oci;
pub mod postgres;
pub mod promtool;
pub mod samples;

pub use containerd::ContainerdDaemon;
pub use oci::{BuiltImage, Compression, Entry, ImageSpec, Layer};
pub use postgres::{Durability, TestPostgres};
pub use promtool::promtool_check_metrics;
