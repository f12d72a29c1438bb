//! Operational endpoints of the agent: Prometheus metrics, liveness and readiness.
//!
//! [`Metrics`] holds the agent's counters under stable names prefixed `nodebom_agent_`;
//! [`Readiness`] says whether the agent is ready (first inventory listed and collector
//! connected); [`ObserveServer`] serves both over HTTP on `/metrics`, `/healthz` and
//! `/readyz` until its cancellation token fires.

mod metrics;
mod readiness;
mod server;

pub use metrics::{Metrics, METRIC_PREFIX};
pub use readiness::Readiness;
pub use server::ObserveServer;
