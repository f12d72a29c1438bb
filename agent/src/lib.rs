//! nodebom agent: CycloneDX SBOMs of the images already in a node's containerd store.
//!
//! The work is split the way trivy's fanal splits it: [`layers`] turns one layer (a
//! committed snapshot directory or a layer blob) into a stream of files; [`analysis`] runs
//! the [`catalog`] over one layer and caches the result by diffID, then merges the layers
//! bottom-up; [`sbom`] turns the merged view into CycloneDX. Nothing in a cataloger knows
//! about layers, and nothing in the merge knows about ecosystems.

pub mod analysis;
pub mod catalog;
pub mod containerd;
pub mod daemon;
pub mod disk_cache;
pub mod error;
pub mod host;
pub mod image;
pub mod image_store;
pub mod inventory;
pub mod layers;
pub mod license;
pub mod observe;
pub mod package;
pub mod sbom;
pub mod scan;
pub mod ship;

pub use error::{Error, Result};
