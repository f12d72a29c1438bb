//! The HTTP server of `--metrics-listen`: `GET /metrics` (OpenMetrics text, or the
//! Prometheus text format for a client that asks for `text/plain` only), `GET
//! /healthz` (200 while the process runs) and `GET /readyz` (200 while the store
//! answers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::api::convert::chain;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::LiveSessions;
use crate::store::Store;

/// Content type of the OpenMetrics text format, which Prometheus scrapes natively.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format, for clients that do not read
/// OpenMetrics (`promtool check metrics`, older scrapers).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Store totals are read again at most this often, however many scrapers there are:
/// the store gauges are at most this old.
const STORE_STATS_MAX_AGE: Duration = Duration::from_secs(5);

/// How long a scrape waits for the store totals before it answers with the previous
/// ones, and how long `/readyz` waits for the store.
const STORE_PATIENCE: Duration = Duration::from_secs(2);

/// What the endpoints report on.
#[derive(Clone)]
pub struct Observed {
    /// The metrics.
    pub metrics: Metrics,
    /// The store, for its totals and for readiness.
    pub store: Arc<dyn Store>,
    /// The sessions open on this process, for the connected agents.
    pub sessions: Arc<LiveSessions>,
    /// Clusters with a token: their connected-agents series are exported at 0 too.
    pub clusters: Vec<String>,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("clusters", &self.clusters)
            .finish_non_exhaustive()
    }
}

struct Shared {
    observed: Observed,
    /// When the store totals were last asked for. Held for a whole scrape: concurrent
    /// scrapes wait for one read of the totals instead of each making their own, and no
    /// scrape encodes gauges that another one is resetting.
    stats_asked: Mutex<Option<Instant>>,
}

impl Shared {
    /// Brings the gauges that are read rather than counted up to date; `asked` is the
    /// held [`Shared::stats_asked`].
    async fn refresh(&self, asked: &mut Option<Instant>) {
        let observed = &self.observed;
        observed
            .metrics
            .set_agents_connected(&observed.clusters, &observed.sessions.count_by_cluster());
        if asked.is_some_and(|at| at.elapsed() < STORE_STATS_MAX_AGE) {
            return;
        }
        // A failed or slow read is not retried before the next period either: a
        // struggling store gets no more queries from scrapes.
        *asked = Some(Instant::now());
        let now = Timestamp::now();
        match tokio::time::timeout(STORE_PATIENCE, observed.store.stats(now)).await {
            Ok(Ok(stats)) => observed.metrics.set_store_stats(&stats, now),
            Ok(Err(err)) => {
                tracing::warn!(error = %chain(&err), "cannot read the store totals for /metrics; the store gauges keep their previous values");
            }
            Err(_) => tracing::warn!(
                "the store did not give its totals within {STORE_PATIENCE:?}; the store gauges keep their previous values"
            ),
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown` fires; returns
/// the bound address and the server's task.
pub async fn serve(
    addr: SocketAddr,
    observed: Observed,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(Error::io(format!("listening on {addr} for /metrics")))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("reading the metrics listen address"))?;
    let shared = Arc::new(Shared {
        observed,
        stats_asked: Mutex::new(None),
    });
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared);
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
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

/// True when the client takes the Prometheus text format and not OpenMetrics.
fn wants_prometheus_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    accept.contains("text/plain") && !accept.contains("application/openmetrics-text")
}

/// The Prometheus text format (0.0.4) of an OpenMetrics body of gauges, counters and
/// histograms. Written here because `prometheus-client` encodes OpenMetrics only; the
/// formats differ in a counter's family name (OpenMetrics names the family `X` and its
/// sample `X_total`, the Prometheus format names both `X_total`), in `# UNIT` lines and
/// in the closing `# EOF`.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match described {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                text.push_str(prefix);
                text.push_str(name);
                if counters.contains(name) {
                    text.push_str("_total");
                }
                text.push(' ');
                text.push_str(tail);
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let mut asked = shared.stats_asked.lock().await;
    shared.refresh(&mut asked).await;
    let encoded = shared.observed.metrics.encode();
    drop(asked);
    match encoded {
        Ok(text) if wants_prometheus_text(&headers) => (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
            prometheus_text(&text),
        )
            .into_response(),
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(error) => {
            tracing::warn!(%error, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready while the store answers a trivial read in time.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let unavailable = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response()
    };
    match tokio::time::timeout(STORE_PATIENCE, shared.observed.store.last_event()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(err)) => unavailable(format!("the store failed: {}", chain(&err))),
        Err(_) => unavailable(format!(
            "the store did not answer within {} s",
            STORE_PATIENCE.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::instrumented::InstrumentedStore;
    use crate::store::SqliteStore;

    struct Served {
        addr: SocketAddr,
        shutdown: CancellationToken,
        task: JoinHandle<()>,
    }

    async fn serve_store(store: SqliteStore) -> Served {
        let metrics = Metrics::new();
        let store: Arc<dyn Store> =
            Arc::new(InstrumentedStore::new(Arc::new(store), metrics.clone()));
        let observed = Observed {
            metrics,
            store,
            sessions: Arc::new(LiveSessions::default()),
            clusters: vec!["prod-a".into()],
        };
        let shutdown = CancellationToken::new();
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), observed, shutdown.clone())
            .await
            .unwrap();
        Served {
            addr,
            shutdown,
            task,
        }
    }

    /// (status, body) of `GET path`.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let client = crate::dtrack::client::http_client(Duration::from_secs(10)).unwrap();
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn a_working_store_is_ready_and_its_totals_are_read_once_per_period() {
        let dir = tempfile::tempdir().unwrap();
        let served = serve_store(
            SqliteStore::open(dir.path().join("nodebom.db"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(get(served.addr, "/healthz").await, (200, "ok\n".into()));
        assert_eq!(get(served.addr, "/readyz").await, (200, "ready\n".into()));
        let (status, first) = get(served.addr, "/metrics").await;
        assert_eq!(status, 200);
        let (_, second) = get(served.addr, "/metrics").await;
        for text in [&first, &second] {
            assert!(
                text.contains("nodebom_collector_agents_connected{cluster=\"prod-a\"} 0\n"),
                "{text}"
            );
            assert!(text.contains("nodebom_collector_store_nodes 0\n"), "{text}");
        }
        // Two scrapes within the period: the totals were read once.
        assert!(
            second.contains(
                "nodebom_collector_store_operation_duration_seconds_count{operation=\"stats\"} 1\n"
            ),
            "{second}"
        );
        assert!(
            second.contains(
                "nodebom_collector_store_operation_duration_seconds_count{operation=\"last_event\"} 1\n"
            ),
            "{second}"
        );
        served.shutdown.cancel();
        served.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_store_that_fails_is_not_ready_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("nodebom.db"))
            .await
            .unwrap();
        // Its readers open the file when first needed: gone, they cannot.
        drop(dir);
        let served = serve_store(store).await;
        let (status, body) = get(served.addr, "/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body.starts_with("not ready: the store failed: database: "),
            "{body}"
        );
        assert!(body.contains("unable to open database file"), "{body}");
        // Liveness does not depend on the store, and /metrics still answers.
        assert_eq!(get(served.addr, "/healthz").await.0, 200);
        assert_eq!(get(served.addr, "/metrics").await.0, 200);
        served.shutdown.cancel();
        served.task.await.unwrap();
    }
}
