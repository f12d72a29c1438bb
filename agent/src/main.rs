//! `nodebom-agent`: SBOMs of the images already on this node, without pulling.

mod kube;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing::{error, info, warn};

use nodebom_agent::analysis::MemoryLayerCache;
use nodebom_agent::containerd::Containerd;
use nodebom_agent::daemon::{self, HostScanConfig, LayerCacheConfig, RunConfig};
use nodebom_agent::host;
use nodebom_agent::image::{self, Platform};
use nodebom_agent::inventory::WatchConfig;
use nodebom_agent::layers::Limits;
use nodebom_agent::observe::Metrics;
use nodebom_agent::sbom::{self, SpecVersion};
use nodebom_agent::scan::Scanner;
use nodebom_agent::ship::ShipConfig;

/// Bytes of layer analyses kept in memory across the images of one run (base layers are
/// shared widely), in front of the disk cache when there is one.
const LAYER_CACHE_MEMORY_BYTES: u64 = 32 << 20;

#[derive(Parser)]
#[command(name = "nodebom-agent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "NODEBOM_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter (tracing's EnvFilter syntax, e.g. `info`, `nodebom_agent=debug`).
    #[arg(long, global = true, default_value = "info", env = "NODEBOM_LOG")]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Write CycloneDX SBOMs of images already in containerd (never pulls).
    ///
    /// Reads each layer from its unpacked overlayfs snapshot when there is one (no
    /// decompression), otherwise from the layer blob. Works on nodes that discard layer
    /// blobs after unpacking. With one IMAGE and no --output the SBOM goes to stdout.
    /// An image whose scan hit a limit or skipped entries still gets its SBOM, which says
    /// it is incomplete and why; a warning on stderr names the reasons (exit status 0).
    Scan(ScanArgs),
    /// Run as the node's daemon (what the DaemonSet starts): report this node's images
    /// and pod containers to the collector, follow containerd's events, and build the
    /// SBOMs the collector asks for (it asks each image of the fleet about once).
    Run(Box<RunArgs>),
    /// Write the CycloneDX SBOM of this node's own software to stdout (or --output): the
    /// OS and its packages, the running kernel, and the Go and Rust programs on the paths
    /// kubelet, containerd, runc, crictl and the CNI plugins live in. Only a fixed,
    /// documented set of paths under ROOT is read (see docs/agent.md); links are never
    /// followed. The kernel is the running one.
    ScanHost(ScanHostArgs),
}

#[derive(Args)]
struct ScanHostArgs {
    /// The host's root file system (the host's `/` mounted read-only in a pod).
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: PathBuf,
    /// CycloneDX specification version of the output.
    #[arg(long, value_enum, default_value_t = Spec::V1_5)]
    spec: Spec,
    /// Output file; default: stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args)]
struct RunArgs {
    /// Name of this cluster, as the collector knows it (tags `cluster:<name>` in DT).
    #[arg(long, env = "NODEBOM_CLUSTER")]
    cluster: String,
    /// Collector address: `https://host:7443`, or `http://host:7443` with --insecure.
    #[arg(long, env = "NODEBOM_COLLECTOR")]
    collector: String,
    /// Kubernetes node name (from the downward API in the DaemonSet); default: the host name.
    #[arg(long, env = "NODE_NAME")]
    node: Option<String>,
    /// File holding this cluster's collector token.
    #[arg(long, env = "NODEBOM_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the collector's certificate; default: public roots.
    #[arg(long, env = "NODEBOM_CA_FILE", conflicts_with = "insecure")]
    ca_file: Option<PathBuf>,
    /// Allow a plaintext `http://` collector address (tests, or a mesh that encrypts).
    #[arg(long, env = "NODEBOM_INSECURE")]
    insecure: bool,
    /// containerd's gRPC socket.
    #[arg(
        long,
        env = "CONTAINERD_ADDRESS",
        default_value = "/run/containerd/containerd.sock"
    )]
    socket: String,
    /// containerd namespace (Kubernetes uses k8s.io).
    #[arg(long, env = "CONTAINERD_NAMESPACE", default_value = "k8s.io")]
    namespace: String,
    /// Directory for the per-layer cache, so that a restart does not rescan everything
    /// (a hostPath in the DaemonSet). Without it the cache is in memory only.
    #[arg(long, env = "NODEBOM_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Largest size of the on-disk layer cache, in MiB (least recently used go first).
    #[arg(long, env = "NODEBOM_CACHE_MIB", default_value_t = 512)]
    cache_mib: u64,
    /// SBOMs built at once.
    #[arg(long, env = "NODEBOM_BUILDERS", default_value_t = 1)]
    builders: usize,
    /// Niceness added to the process so that scans yield to workloads (0 keeps it).
    #[arg(long, env = "NODEBOM_NICE", default_value_t = 10)]
    nice: i32,
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "NODEBOM_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    metrics_listen: std::net::SocketAddr,
    /// CycloneDX specification version of the SBOMs sent.
    #[arg(long, value_enum, default_value_t = Spec::V1_5)]
    spec: Spec,
    /// Layer blobs of one image decompressed at once (snapshots are read one by one).
    #[arg(
        long,
        env = "NODEBOM_LAYER_CONCURRENCY",
        default_value_t = 1,
        value_name = "N"
    )]
    layer_concurrency: usize,
    /// Also report the node's own software, read from the host's root file system mounted
    /// here (read-only), as `scan-host` does.
    #[arg(long, env = "NODEBOM_HOST_ROOT", value_name = "DIR")]
    host_root: Option<PathBuf>,
    /// How often the node's own software is read again.
    #[arg(long, env = "NODEBOM_HOST_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    host_interval: Duration,
    /// Node pool of this node, tagged `node-pool:<pool>` on its own software in
    /// Dependency-Track. Default: the value of --node-pool-label on this node.
    #[arg(long, env = "NODEBOM_NODE_POOL")]
    node_pool: Option<String>,
    /// Node label whose value is the node pool (`cloud.google.com/gke-nodepool`,
    /// `eks.amazonaws.com/nodegroup`, `agentpool`, …), read from the Kubernetes API with
    /// the pod's service account (it may `get` nodes).
    #[arg(long, env = "NODEBOM_NODE_POOL_LABEL", conflicts_with = "node_pool")]
    node_pool_label: Option<String>,
    /// Kubernetes API server for --node-pool-label; default: the in-cluster address.
    #[arg(long, env = "NODEBOM_KUBERNETES_API", hide = true)]
    kubernetes_api: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Bounds on one layer, so that a hostile image cannot exhaust the node. A layer over a
/// bound is read up to it, and the image's SBOM says it is incomplete and why.
#[derive(Args)]
struct LimitArgs {
    /// Size one layer may expand to when decompressed, in MiB (decompression bombs).
    #[arg(long, env = "NODEBOM_MAX_LAYER_MIB", default_value_t = Limits::default().max_layer_bytes >> 20)]
    max_layer_mib: u64,
    /// Files, directories and links in one layer.
    #[arg(long, env = "NODEBOM_MAX_LAYER_ENTRIES", default_value_t = Limits::default().max_entries)]
    max_layer_entries: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_layer_bytes: self.max_layer_mib.saturating_mul(1 << 20),
            max_entries: self.max_layer_entries,
            ..Limits::default()
        }
    }
}

#[derive(Args)]
struct ScanArgs {
    /// containerd's gRPC socket.
    #[arg(
        long,
        env = "CONTAINERD_ADDRESS",
        default_value = "/run/containerd/containerd.sock"
    )]
    socket: String,
    /// containerd namespace (Kubernetes uses k8s.io).
    #[arg(long, env = "CONTAINERD_NAMESPACE", default_value = "k8s.io")]
    namespace: String,
    /// CycloneDX specification version of the output.
    #[arg(long, value_enum, default_value_t = Spec::V1_5)]
    spec: Spec,
    /// Output file (one image) or directory (several images or --all: one
    /// `sha256-<hex>.cdx.json` file per manifest digest). Default: stdout for one image.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Platform whose manifest is picked from multi-platform images (default: this node's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Layer blobs of one image decompressed at once (default: the number of CPUs).
    /// Snapshots need no decompression and are read one by one.
    #[arg(long, value_name = "N")]
    layer_concurrency: Option<usize>,
    /// Scan every image in the namespace.
    #[arg(long, conflicts_with = "images")]
    all: bool,
    /// Images to scan: any name containerd knows (`docker.io/library/nginx:1.27`,
    /// `repo@sha256:…`), a short name (`nginx:1.27`) or a digest (`sha256:…`, the config
    /// digest being the CRI image id).
    #[arg(value_name = "IMAGE", required_unless_present = "all")]
    images: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Spec {
    #[value(name = "1.5")]
    V1_5,
    #[value(name = "1.6")]
    V1_6,
}

impl From<Spec> for SpecVersion {
    fn from(spec: Spec) -> Self {
        match spec {
            Spec::V1_5 => SpecVersion::V1_5,
            Spec::V1_6 => SpecVersion::V1_6,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// glibc gives threads that allocate at once arenas of their own and keeps freed pages
/// in them: with the runtime's and the layer readers' threads that is ~20 MiB of idle RSS
/// on the blob path (`bench/run.sh`). Two arenas keep the peak within the agent's memory
/// budget; an operator's `MALLOC_ARENA_MAX` still wins.
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator tuning; it is called before any thread
        // other than this one exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli) {
        eprintln!("nodebom-agent: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("nodebom-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Scan(args) => runtime.block_on(scan(args)),
        Command::Run(args) => runtime.block_on(run(*args)),
        Command::ScanHost(args) => runtime.block_on(scan_host(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodebom-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn scan_host(args: ScanHostArgs) -> anyhow::Result<()> {
    let root = args.root.clone();
    let limits = args.limits.limits();
    let node = tokio::task::spawn_blocking(move || {
        host::scan(&root, &nodebom_agent::catalog::all(), limits)
    })
    .await
    .context("the host reader stopped")?
    .with_context(|| format!("reading the host at {}", args.root.display()))?;
    let subject = sbom::Subject::Node {
        node: &node.facts,
        digest: &node.digest,
    };
    let json = sbom::build_for(subject, &node.contents, args.spec.into())?;
    if !node.contents.incomplete.is_empty() {
        warn!(reasons = %node.contents.incomplete.join("; "), "the node's SBOM is incomplete");
    }
    info!(
        digest = %node.digest,
        os = %node.facts.os,
        kernel = %node.facts.kernel,
        packages = node.contents.packages.len(),
        "node software read"
    );
    write_output(args.output.as_deref(), &json)
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .with_context(|| format!("invalid --log filter {:?}", cli.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let platform = match &args.platform {
        Some(text) => Platform::parse(text)
            .with_context(|| format!("--platform {text:?} is not OS/ARCH[/VARIANT]"))?,
        None => Platform::host(),
    };
    let spec = args.spec.into();
    let client = Containerd::connect(&args.socket, &args.namespace).await?;
    let references = if args.all {
        image::list_targets(&client).await?
    } else {
        args.images.clone()
    };
    let to_dir = args.all || references.len() > 1;
    if to_dir {
        let Some(dir) = &args.output else {
            bail!("--output DIR is required with --all or several images");
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating output directory {}", dir.display()))?;
    }
    if references.is_empty() {
        warn!(namespace = %args.namespace, "no images in this namespace");
        return Ok(());
    }

    let scanner = Scanner::new(
        client,
        Arc::new(MemoryLayerCache::new(LAYER_CACHE_MEMORY_BYTES)),
        args.limits.limits(),
        platform,
    )
    .with_layer_concurrency(
        args.layer_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
    );
    let mut failed = Vec::new();
    let mut written = std::collections::BTreeSet::new();
    for reference in &references {
        let outcome = match scanner.scan(reference).await {
            Ok(outcome) => outcome,
            Err(e) if to_dir => {
                error!(image = %reference, "{e}");
                failed.push(reference.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !written.insert(outcome.image.manifest_digest.clone()) {
            continue;
        }
        let bom = sbom::build(&outcome.image, &outcome.contents, spec)
            .with_context(|| format!("building the SBOM of {reference}"))?;
        match (&args.output, to_dir) {
            (Some(dir), true) => {
                let name = format!(
                    "{}.cdx.json",
                    outcome.image.manifest_digest.replace(':', "-")
                );
                write_atomically(&dir.join(name), &bom)?;
            }
            (Some(path), false) => {
                let path = if path.is_dir() {
                    path.join(format!(
                        "{}.cdx.json",
                        outcome.image.manifest_digest.replace(':', "-")
                    ))
                } else {
                    path.clone()
                };
                write_atomically(&path, &bom)?;
            }
            (None, _) => write_output(None, &bom)?,
        }
    }
    if to_dir {
        info!(images = written.len(), failed = failed.len(), "done");
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} images could not be scanned: {}",
            failed.len(),
            references.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Writes one document to `path`, or to stdout followed by a newline.
fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    match path {
        Some(path) => write_atomically(path, bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).context("writing to stdout")?;
            stdout.write_all(b"\n").context("writing to stdout")?;
            Ok(())
        }
    }
}

/// Writes through a temporary file in the same directory, so readers never see half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let temporary = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.collector.starts_with("http://") && !args.insecure {
        bail!(
            "--collector {} is plaintext: use https:// or pass --insecure",
            args.collector
        );
    }
    if !args.collector.starts_with("http://") && !args.collector.starts_with("https://") {
        bail!("--collector must start with https:// (or http:// with --insecure)");
    }
    let node = match args.node.clone() {
        Some(node) => node,
        None => rustix::system::uname()
            .nodename()
            .to_str()
            .context("the host name is not UTF-8; pass --node")?
            .to_string(),
    };
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading --token-file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let ca_pem = match &args.ca_file {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("reading --ca-file {}", path.display()))?,
        ),
        None => None,
    };
    if args.nice != 0 {
        // Scans are background work: let the node's workloads have the CPU first.
        if let Err(e) = rustix::process::nice(args.nice) {
            warn!(error = %e, "cannot lower the scheduling priority");
        }
    }

    let layer_cache = match &args.cache_dir {
        Some(dir) => LayerCacheConfig::Disk {
            dir: dir.clone(),
            max_bytes: args.cache_mib << 20,
            memory_bytes: LAYER_CACHE_MEMORY_BYTES,
        },
        None => LayerCacheConfig::Memory {
            max_bytes: LAYER_CACHE_MEMORY_BYTES,
        },
    };
    let node_pool = match (&args.node_pool, &args.node_pool_label) {
        (Some(pool), _) => pool.trim().to_owned(),
        (None, Some(label)) => {
            kube::node_label(args.kubernetes_api.as_deref(), &node, label)
                .await
                .unwrap_or_else(|e| {
                    warn!(error = %format!("{e:#}"), %label, "cannot read the node pool label; reporting no pool");
                    String::new()
                })
        }
        (None, None) => String::new(),
    };
    let host = args.host_root.as_ref().map(|root| HostScanConfig {
        root: root.clone(),
        interval: args.host_interval.max(Duration::from_secs(60)),
    });
    let config = RunConfig {
        watch: WatchConfig::new(&args.socket, &args.namespace, Platform::host()),
        ship: ShipConfig {
            collector: args.collector.clone(),
            cluster: args.cluster.clone(),
            node,
            token,
            ca_pem,
            builders: args.builders.max(1),
            spec: args.spec.into(),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            node_pool,
            host: None,
        },
        layer_cache,
        limits: args.limits.limits(),
        layer_concurrency: args.layer_concurrency.max(1),
        metrics_listen: Some(args.metrics_listen),
        metrics: Metrics::new(),
        host,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        stop.cancel();
    });
    daemon::run(config, shutdown).await?;
    Ok(())
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
