//! The collector's Prometheus metrics and the HTTP server of `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::store::CheckStatus;

/// Prefix of every metric name. Names are part of the collector's interface
/// (dashboards and alerts use them): add new ones, never rename.
pub const METRIC_PREFIX: &str = "nodebom_collector";

/// Content type of the OpenMetrics text format, which Prometheus scrapes natively.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

/// The collector's metrics; clones share the same values.
///
/// Exposed as (OpenMetrics text):
/// `nodebom_collector_sbom_checks_total{status="verified|conflict|unverified"}`: builds
/// of an image by a cluster other than the one whose SBOM is stored, by outcome.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    sbom_checks: Family<StatusLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// New metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(METRIC_PREFIX);
        let sbom_checks = Family::<StatusLabels, Counter>::default();
        registry.register(
            "sbom_checks",
            "Builds of an image by a cluster other than the one whose SBOM is stored, by outcome",
            sbom_checks.clone(),
        );
        // Every outcome is exported from the start, so that alerts on conflicts see 0.
        for status in [
            CheckStatus::Verified,
            CheckStatus::Conflict,
            CheckStatus::Unverified,
        ] {
            let _created = sbom_checks.get_or_create(&StatusLabels {
                status: status.as_str(),
            });
        }
        Self {
            registry: Arc::new(registry),
            sbom_checks,
        }
    }

    /// Counts a cluster's check of a stored SBOM.
    pub fn sbom_checked(&self, status: CheckStatus) {
        self.sbom_checks
            .get_or_create(&StatusLabels {
                status: status.as_str(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|err| Error::Internal(format!("encoding metrics: {err}")))?;
        Ok(text)
    }
}

/// Serves `GET /metrics` on `addr` until `shutdown` fires; returns the bound address and
/// the server's task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(Error::io(format!("listening on {addr} for /metrics")))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("reading the metrics listen address"))?;
    let router = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics);
    tracing::info!(%addr, "serving /metrics");
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::warn!(%addr, error = %err, "the /metrics server failed");
        }
    });
    Ok((addr, task))
}

async fn render(State(metrics): State<Metrics>) -> Response {
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(error) => {
            tracing::warn!(%error, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_counted_by_status_and_every_status_is_exported() {
        let metrics = Metrics::new();
        metrics.sbom_checked(CheckStatus::Conflict);
        metrics.sbom_checked(CheckStatus::Conflict);
        metrics.sbom_checked(CheckStatus::Verified);
        let text = metrics.encode().unwrap();
        for line in [
            "nodebom_collector_sbom_checks_total{status=\"conflict\"} 2",
            "nodebom_collector_sbom_checks_total{status=\"verified\"} 1",
            "nodebom_collector_sbom_checks_total{status=\"unverified\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
