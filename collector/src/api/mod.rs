//! The gRPC services: thin adapters that convert messages ([`convert`]) and call the
//! inventory, SBOM and store code.

pub mod convert;
mod ingest;
mod query;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::ClusterTokens;
use crate::exposure::query::ExposureCache;
use crate::inventory::{LiveSessions, SessionSettings};
use crate::kev::LatestKev;
use crate::metrics::Metrics;
use crate::store::Store;

pub use ingest::IngestService;
pub use query::QueryService;

/// What the services share.
pub struct ApiState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Sessions open on this process.
    pub sessions: Arc<LiveSessions>,
    /// Session behaviour.
    pub settings: SessionSettings,
    /// Agent tokens.
    pub cluster_tokens: ClusterTokens,
    /// Largest SBOM.
    pub max_sbom_bytes: u64,
    /// Largest gRPC message.
    pub max_message_bytes: usize,
    /// Bounds concurrent SBOM uploads.
    pub uploads: Semaphore,
    /// Bounds the full inventories held while their parts arrive: after a collector
    /// restart every agent sends one at once, and each is held whole until stored.
    pub staging: Arc<Semaphore>,
    /// Fires when the collector shuts down; ends long-lived streams.
    pub shutdown: CancellationToken,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The newest KEV catalog read, to rank exposures.
    pub kev: LatestKev,
    /// Recent exposure answers, for their next pages.
    pub exposures: ExposureCache,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("settings", &self.settings)
            .field("max_sbom_bytes", &self.max_sbom_bytes)
            .finish_non_exhaustive()
    }
}

/// Shared handle.
pub type SharedState = Arc<ApiState>;
