//! Dependency-Track policies nodebom keeps: the KEV policy.

pub mod kev;

pub use kev::{spawn_kev_policy, sync_kev_policy, KevCatalog, KevSettings, KevSource, KevSync};
