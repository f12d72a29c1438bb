//! Starting and stopping the collector: store, gRPC services with health and
//! reflection, TLS, the background janitor, and the metrics endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nodebom_proto::v1::ingest_server::IngestServer;
use nodebom_proto::v1::query_server::QueryServer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};
use tonic_health::server::HealthReporter;

use crate::api::{ApiState, IngestService, QueryService};
use crate::config::{ServeConfig, StoreUrl};
use crate::dtrack::policy::spawn_policies;
use crate::dtrack::Forwarder;
use crate::error::{Error, Result};
use crate::inventory::{spawn_janitor, LiveSessions};
use crate::kev::LatestKev;
use crate::metrics::{self, Metrics, Observed};
use crate::notify::spawn_notifier;
use crate::store::instrumented::InstrumentedStore;
use crate::store::{PostgresStore, SqliteStore, Store};

/// Full inventories received at once (each is held whole until stored; a node of
/// 10,000 images is about 10 MiB): after a restart, every agent of the fleet sends one.
pub const STAGED_INVENTORIES: usize = 16;

/// How long a shutdown waits for calls to finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A running collector.
#[derive(Debug)]
pub struct Collector {
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<Result<()>>,
    janitor: JoinHandle<()>,
    /// Dependency-Track forwarder, KEV policy and notifier tasks, when configured.
    jobs: Vec<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    metrics: Option<JoinHandle<()>>,
    ui_addr: Option<SocketAddr>,
    ui: Option<JoinHandle<()>>,
    health: HealthReporter,
}

/// Opens the configured store and starts serving.
pub async fn start(config: ServeConfig) -> Result<Collector> {
    let store = open_store(&config.store).await?;
    start_with_store(config, store).await
}

/// Opens (and migrates) the store `url` names.
pub async fn open_store(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path.clone()).await?),
        StoreUrl::Postgres(settings) => Arc::new(PostgresStore::open(settings.clone()).await?),
    })
}

/// Starts serving with an already opened store (every call to it is timed into the
/// metrics).
pub async fn start_with_store(config: ServeConfig, store: Arc<dyn Store>) -> Result<Collector> {
    let metrics = Metrics::new();
    let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(store, metrics.clone()));
    let shutdown = CancellationToken::new();
    let sessions = Arc::new(LiveSessions::default());
    let kev = LatestKev::default();
    let state = Arc::new(ApiState {
        store: Arc::clone(&store),
        sessions: Arc::clone(&sessions),
        settings: config.sessions,
        cluster_tokens: config.cluster_tokens.clone(),
        max_sbom_bytes: config.max_sbom_bytes,
        max_message_bytes: config.max_message_bytes,
        uploads: Semaphore::new(config.max_concurrent_uploads),
        staging: Arc::new(Semaphore::new(STAGED_INVENTORIES)),
        shutdown: shutdown.clone(),
        metrics: metrics.clone(),
        kev: kev.clone(),
        exposures: Default::default(),
    });

    let ingest = IngestServer::new(IngestService::new(Arc::clone(&state)))
        .max_decoding_message_size(config.max_message_bytes)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Zstd);
    let query = QueryServer::new(QueryService::new(Arc::clone(&state)))
        .max_decoding_message_size(config.max_message_bytes)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Zstd);
    let query_tokens = config.query_tokens.clone();
    let query = InterceptedService::new(
        query,
        move |request: Request<()>| -> Result<Request<()>, Status> {
            query_tokens.check(request.metadata())?;
            Ok(request)
        },
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IngestServer<IngestService>>().await;
    health.set_serving::<QueryServer<QueryService>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(nodebom_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_error =
        |err: tonic_reflection::server::Error| Error::Config(format!("gRPC reflection: {err}"));
    let reflection_v1 = reflection().build_v1().map_err(reflection_error)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_error)?;

    let forwarder = config
        .dtrack
        .clone()
        .map(|settings| {
            Forwarder::new(Arc::clone(&store), settings)
                .map(|forwarder| forwarder.with_metrics(metrics.clone()))
        })
        .transpose()?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(Error::io(format!("listening on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("reading the listen address"))?;
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));

    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = &config.tls {
        let mut tls_config =
            ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key));
        if let Some(ca) = &tls.client_ca {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(ca));
        }
        builder = builder.tls_config(tls_config)?;
    }
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ingest)
        .add_service(query);
    // Started last, with the gRPC port bound: nothing says ready before it can be, and
    // nothing fails after it started.
    let metrics_server = match config.metrics_listen {
        Some(addr) => {
            let observed = Observed {
                metrics: metrics.clone(),
                store: Arc::clone(&store),
                sessions: Arc::clone(&sessions),
                clusters: config
                    .cluster_tokens
                    .clusters()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            };
            Some(metrics::serve(addr, observed, shutdown.clone()).await?)
        }
        None => None,
    };
    let ui_server = match config.ui_listen {
        Some(addr) => {
            let state = crate::ui::UiState {
                api: Arc::clone(&state),
                tokens: config.query_tokens.clone(),
                dtrack: forwarder.as_ref().map(|forwarder| crate::ui::DtLinks {
                    client: forwarder.client().clone(),
                    frontend: forwarder.settings().frontend.clone(),
                }),
            };
            let (addr, task) = crate::ui::serve(
                addr,
                crate::ui::router(state),
                config.tls.as_ref(),
                shutdown.clone(),
            )
            .await?;
            tracing::info!(%addr, tls = config.tls.is_some(), "web UI listening");
            Some((addr, task))
        }
        None => None,
    };
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .map_err(Error::from)
    });
    let mut jobs = spawn_dtrack(forwarder, kev.clone(), &metrics, &shutdown);
    if let Some(settings) = config.notify.clone() {
        tracing::info!(
            webhooks = settings.webhooks.len(),
            "notifying webhooks of exposures"
        );
        jobs.push(spawn_notifier(
            Arc::clone(&store),
            kev,
            settings,
            shutdown.clone(),
        )?);
    }
    let janitor = spawn_janitor(store, sessions, config.janitor, shutdown.clone());

    let clusters = if config.cluster_tokens.is_open() {
        "any (no --cluster-token: agents are not authenticated)".to_owned()
    } else {
        config.cluster_tokens.clusters().join(",")
    };
    let transport = match (&config.tls, config.insecure) {
        (Some(tls), _) if tls.client_ca.is_some() => "TLS with client certificates",
        (Some(_), _) => "TLS",
        (None, true) => "plaintext (--insecure)",
        (None, false) => "plaintext, loopback only",
    };
    tracing::info!(
        %addr,
        transport,
        store = %config.store,
        clusters = %clusters,
        query_auth = !config.query_tokens.is_open(),
        "nodebom collector listening"
    );
    let (metrics_addr, metrics_task) = metrics_server.unzip();
    let (ui_addr, ui_task) = ui_server.unzip();
    Ok(Collector {
        addr,
        metrics_addr,
        shutdown,
        server,
        janitor,
        jobs,
        metrics: metrics_task,
        ui_addr,
        ui: ui_task,
        health,
    })
}

/// Starts the Dependency-Track forwarder and the policy keeping, when configured.
fn spawn_dtrack(
    forwarder: Option<Forwarder>,
    kev: LatestKev,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let Some(forwarder) = forwarder else {
        return Vec::new();
    };
    tracing::info!(url = %forwarder.settings().url, "forwarding SBOMs to Dependency-Track");
    let mut tasks = Vec::new();
    if let Some(settings) = forwarder.settings().policies.clone() {
        tasks.push(spawn_policies(
            forwarder.client().clone(),
            settings,
            forwarder.store(),
            kev,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    tasks.push(forwarder.spawn(shutdown.clone()));
    tasks
}

impl Collector {
    /// The address it listens on (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of `/metrics` (with the real port when started on port 0), when
    /// `--metrics-listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the web UI is served, when it is.
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        self.ui_addr
    }

    /// Stops accepting calls, ends agent sessions and watches, and waits up to a grace
    /// period for calls in flight.
    pub async fn shutdown(mut self) -> Result<()> {
        self.health
            .set_not_serving::<IngestServer<IngestService>>()
            .await;
        self.health
            .set_not_serving::<QueryServer<QueryService>>()
            .await;
        self.shutdown.cancel();
        let outcome = match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await {
            Ok(joined) => joined.map_err(Error::from).and_then(|served| served),
            Err(_) => {
                tracing::warn!("calls still running after {SHUTDOWN_GRACE:?}; dropping them");
                self.server.abort();
                Ok(())
            }
        };
        let _ = self.janitor.await;
        for task in self
            .jobs
            .drain(..)
            .chain(self.metrics.take())
            .chain(self.ui.take())
        {
            let _ = task.await;
        }
        tracing::info!("nodebom collector stopped");
        outcome
    }

    /// Runs until `stop` completes (e.g. a signal), then shuts down.
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::select! {
            () = stop => self.shutdown().await,
            served = &mut self.server => {
                self.shutdown.cancel();
                served?
            }
        }
    }
}
