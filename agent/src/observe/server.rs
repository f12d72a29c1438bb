//! The HTTP server of `/metrics`, `/healthz` and `/readyz`.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Metrics, Readiness};
use crate::{Error, Result};

/// Content type of the OpenMetrics text format, which Prometheus scrapes natively.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct Shared {
    metrics: Metrics,
    readiness: Readiness,
}

/// A bound, not yet running server of the agent's operational endpoints:
/// `GET /metrics` (OpenMetrics text), `GET /healthz` (200 while the process runs) and
/// `GET /readyz` (200 once [`Readiness::is_ready`], 503 with what is missing before).
///
/// ```no_run
/// # async fn example() -> nodebom_agent::Result<()> {
/// use nodebom_agent::observe::{Metrics, ObserveServer, Readiness};
/// let cancel = tokio_util::sync::CancellationToken::new();
/// let server =
///     ObserveServer::bind("0.0.0.0:9464".parse().unwrap(), Metrics::new(), Readiness::new())
///         .await?;
/// let task = server.spawn(cancel.clone());
/// // … on shutdown:
/// cancel.cancel();
/// task.await.ok();
/// # Ok(()) }
/// ```
pub struct ObserveServer {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Shared,
}

impl ObserveServer {
    /// Binds `addr` (port 0 picks a free port, see [`Self::local_addr`]).
    pub async fn bind(addr: SocketAddr, metrics: Metrics, readiness: Readiness) -> Result<Self> {
        let io_error = |source| Error::Observe {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(io_error)?;
        let addr = listener.local_addr().map_err(io_error)?;
        Ok(ObserveServer {
            listener,
            addr,
            shared: Shared { metrics, readiness },
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `cancel` fires, then lets requests in progress finish.
    pub async fn serve(self, cancel: CancellationToken) -> Result<()> {
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(self.shared);
        info!(addr = %self.addr, "serving /metrics, /healthz and /readyz");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
            .map_err(|source| Error::Observe {
                addr: self.addr.to_string(),
                source,
            })
    }

    /// Runs [`Self::serve`] as a task.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<Result<()>> {
        tokio::spawn(self.serve(cancel))
    }
}

async fn metrics(State(shared): State<Shared>) -> Response {
    match shared.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(error) => {
            warn!(%error, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Shared>) -> Response {
    let missing = shared.readiness.missing();
    if missing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready; waiting for: {}\n", missing.join(", "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::analysis::LayerOrigin;

    /// A plain HTTP/1.1 GET over TCP: (status code, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    async fn started() -> (
        SocketAddr,
        Metrics,
        Readiness,
        CancellationToken,
        JoinHandle<Result<()>>,
    ) {
        let metrics = Metrics::new();
        let readiness = Readiness::new();
        let server = ObserveServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            readiness.clone(),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        let cancel = CancellationToken::new();
        let task = server.spawn(cancel.clone());
        (addr, metrics, readiness, cancel, task)
    }

    #[tokio::test]
    async fn metrics_endpoint_shows_the_agent_metrics() {
        let (addr, metrics, _, cancel, task) = started().await;
        metrics.layer(LayerOrigin::Blob);
        metrics.sbom_built();
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            body.contains("nodebom_agent_layers_analysed_total{source=\"blob\"} 1\n"),
            "{body}"
        );
        assert!(
            body.contains("nodebom_agent_sboms_built_total 1\n"),
            "{body}"
        );
        for name in [
            "nodebom_agent_images_known",
            "nodebom_agent_layer_cache_hits_total",
            "nodebom_agent_bytes_read_total",
            "nodebom_agent_scan_seconds_bucket",
            "nodebom_agent_send_failures_total",
            "nodebom_agent_queue_depth",
        ] {
            assert!(body.contains(name), "{name} missing from:\n{body}");
        }
        cancel.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn readyz_turns_ready_once_inventory_and_collector_are_there() {
        let (addr, _, readiness, cancel, task) = started().await;
        assert_eq!(get(addr, "/healthz").await.0, 200);
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("first inventory"), "{body}");
        readiness.set_inventory_listed();
        assert_eq!(get(addr, "/readyz").await.0, 503);
        readiness.set_collector_connected(true);
        assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_string()));
        assert_eq!(get(addr, "/nothing-here").await.0, 404);
        cancel.cancel();
        task.await.unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "stopped listening");
    }
}
