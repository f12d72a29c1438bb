//! nodebom collector: receives inventories and SBOMs from nodebom agents over gRPC, keeps
//! one SBOM per image manifest digest for the whole fleet, knows which cluster, node,
//! namespace, pod and container uses which digest, and answers queries about both.
//!
//! - [`api`]: the `nodebom.v1` `Ingest` and `Query` services (thin adapters).
//! - [`inventory`]: agent sessions, the inventory model, expiry and heartbeats.
//! - [`sbom`]: CycloneDX validation, component index, compression.
//! - [`store`]: persistence behind the [`store::Store`] trait (SQLite).
//! - [`dtrack`]: forwarding SBOMs to Dependency-Track, and the KEV policy there.
//! - [`auth`]: cluster and query tokens. [`config`]: flags and environment.
//! - [`server`]: starting and stopping it all. [`cli`]: `nodebom-collector query`.
//! - [`metrics`]: Prometheus metrics on `/metrics`.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dedup;
pub mod digest;
pub mod dtrack;
pub mod error;
pub mod exposure;
pub mod feed;
pub mod inventory;
pub mod kev;
pub mod metrics;
pub mod notify;
pub mod sbom;
pub mod server;
pub mod store;
pub mod ui;

pub use error::{Error, Result};
