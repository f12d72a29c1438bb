//! Command line and environment (`clap`): the `serve` and `query` subcommands, and the
//! checked configuration the server runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::{ClusterTokens, QueryTokens};
use crate::error::{Error, Result};
use crate::inventory::{JanitorSettings, Limits, SessionSettings};
use crate::store::postgres::PostgresSettings;
use crate::store::ClaimPolicy;

const MIB: u64 = 1024 * 1024;

/// `nodebom-collector`: keeps one SBOM per image digest for a whole fleet, knows which
/// cluster, node and pod runs which image, and answers queries about both.
#[derive(Debug, Parser)]
#[command(name = "nodebom-collector", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand, `serve` with its defaults.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log filter in `tracing` syntax, e.g. `info` or `nodebom_collector=debug`.
    #[arg(long, env = "NODEBOM_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "NODEBOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector.
    Serve(Box<ServeArgs>),
    /// Ask a running collector about images, SBOMs, components, exposures and events.
    Query(crate::cli::QueryArgs),
    /// Write the exposure report of a running collector (Markdown or JSON): per cluster
    /// and namespace, what is exposed, since when, the KEV due date and the fix.
    Report(crate::cli::ReportArgs),
}

/// `nodebom-collector serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. A non-loopback address needs TLS (or --insecure) and
    /// cluster tokens.
    #[arg(long, env = "NODEBOM_LISTEN", default_value = "127.0.0.1:7443")]
    pub listen: SocketAddr,
    /// Serve Prometheus metrics (`nodebom_collector_*`, listed in docs/operations.md) on
    /// `http://<address>/metrics`, e.g. `0.0.0.0:9090`, with `/healthz` (200 while the
    /// process runs) and `/readyz` (200 while the store answers a read within 2 s, else
    /// 503 with the reason). Not served when unset.
    #[arg(long, env = "NODEBOM_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the web UI (fleet, search, images and their SBOMs, exposures) on this
    /// address, e.g. `0.0.0.0:8443`: with the --tls-cert of the gRPC port, and signed in
    /// with a --query-token (open when there is none). Not served when unset.
    #[arg(long, env = "NODEBOM_UI_LISTEN")]
    pub ui_listen: Option<SocketAddr>,
    /// Store URL: `sqlite://PATH` (one replica; e.g. `sqlite:///var/lib/nodebom/nodebom.db`)
    /// or `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full]`
    /// (any number of replicas on one database). A password in a PostgreSQL URL is
    /// accepted only from the environment (NODEBOM_STORE); otherwise use
    /// NODEBOM_STORE_PASSWORD or --store-password-file.
    /// [default: sqlite://<data-dir>/nodebom.db]
    #[arg(long, env = "NODEBOM_STORE")]
    pub store: Option<String>,
    /// File holding the PostgreSQL password (trailing newline ignored). The environment
    /// variable NODEBOM_STORE_PASSWORD is the other way; never a flag value.
    #[arg(long, env = "NODEBOM_STORE_PASSWORD_FILE")]
    pub store_password_file: Option<PathBuf>,
    /// CA certificates (PEM) that sign the PostgreSQL server's certificate; without it,
    /// the Mozilla roots. TLS to PostgreSQL always verifies the chain and the host name.
    #[arg(long, env = "NODEBOM_STORE_CA_FILE")]
    pub store_ca_file: Option<PathBuf>,
    /// PostgreSQL connections of this replica.
    #[arg(long, env = "NODEBOM_STORE_POOL_SIZE", default_value_t = 16)]
    pub store_pool_size: usize,
    /// Directory of the default SQLite database.
    #[arg(long, env = "NODEBOM_DATA_DIR", default_value = "nodebom-data")]
    pub data_dir: PathBuf,
    /// TLS certificate chain (PEM).
    #[arg(long, env = "NODEBOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "NODEBOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) for client certificates: with it, every client must present
    /// a certificate signed by one of them (mTLS).
    #[arg(long, env = "NODEBOM_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (behind a TLS-terminating proxy or mesh).
    #[arg(long, env = "NODEBOM_INSECURE", conflicts_with = "tls_cert")]
    pub insecure: bool,
    /// Accept agents of CLUSTER that present TOKEN; repeat for more clusters or tokens
    /// (environment: comma-separated). Without any token, agents of any cluster are
    /// accepted, which is only allowed on loopback.
    #[arg(
        long = "cluster-token",
        value_name = "CLUSTER=TOKEN",
        env = "NODEBOM_CLUSTER_TOKENS",
        value_delimiter = ','
    )]
    pub cluster_tokens: Vec<String>,
    /// File of cluster tokens: one `CLUSTER=TOKEN` a line, `#` comments.
    #[arg(long, env = "NODEBOM_CLUSTER_TOKENS_FILE")]
    pub cluster_tokens_file: Option<PathBuf>,
    /// Require this bearer token on Query calls; repeatable (environment:
    /// comma-separated). Without any, Query is open.
    #[arg(
        long = "query-token",
        value_name = "TOKEN",
        env = "NODEBOM_QUERY_TOKENS",
        value_delimiter = ','
    )]
    pub query_tokens: Vec<String>,
    /// A node that has not been seen for this long (disconnected) loses its state.
    #[arg(long, env = "NODEBOM_NODE_EXPIRY", default_value = "24h", value_parser = humantime::parse_duration)]
    pub node_expiry: Duration,
    /// How long events (for Watch) and stopped workloads are kept.
    #[arg(long, env = "NODEBOM_HISTORY_RETENTION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub history_retention: Duration,
    /// How long a node may take to upload an SBOM it was asked for before another node
    /// is asked.
    #[arg(long, env = "NODEBOM_BUILD_LEASE", default_value = "15m", value_parser = humantime::parse_duration)]
    pub build_lease: Duration,
    /// How many SBOM builds one node is asked for at a time.
    #[arg(long, env = "NODEBOM_MAX_BUILDS_PER_NODE", default_value_t = 4)]
    pub max_builds_per_node: u32,
    /// After an agent reports that it cannot build an SBOM, no node is asked for it for
    /// this long.
    #[arg(long, env = "NODEBOM_BUILD_FAILURE_BACKOFF", default_value = "1h", value_parser = humantime::parse_duration)]
    pub build_failure_backoff: Duration,
    /// How often a node that waits for SBOMs built by other nodes is offered them again.
    #[arg(long, env = "NODEBOM_REOFFER_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub reoffer_interval: Duration,
    /// Largest SBOM document accepted, in bytes.
    #[arg(long, env = "NODEBOM_MAX_SBOM_BYTES", default_value_t = 128 * MIB)]
    pub max_sbom_bytes: u64,
    /// Largest gRPC message accepted, in bytes (SBOMs arrive in chunks below it).
    #[arg(long, env = "NODEBOM_MAX_MESSAGE_BYTES", default_value_t = 4 * MIB)]
    pub max_message_bytes: u64,
    /// Most images one node may report.
    #[arg(long, env = "NODEBOM_MAX_IMAGES_PER_NODE", default_value_t = 10_000)]
    pub max_images_per_node: usize,
    /// Most running workloads one node may report.
    #[arg(long, env = "NODEBOM_MAX_WORKLOADS_PER_NODE", default_value_t = 10_000)]
    pub max_workloads_per_node: usize,
    /// SBOM uploads received at the same time; more wait (flow control holds the agent).
    #[arg(long, env = "NODEBOM_MAX_CONCURRENT_UPLOADS", default_value_t = 8)]
    pub max_concurrent_uploads: usize,
    /// Dependency-Track forwarding and the KEV policy.
    #[command(flatten)]
    pub dtrack: crate::dtrack::DtrackArgs,
    /// Webhook notifications of exposures.
    #[command(flatten)]
    pub notify: crate::notify::NotifyArgs,
}

#[derive(Debug, Parser)]
#[command(name = "serve")]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

impl ServeArgs {
    /// Parses `serve` flags alone (first item: the program name), for embedding and tests.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        ServeOnly::try_parse_from(args)
            .map(|parsed| parsed.args)
            .map_err(|err| Error::Config(err.to_string()))
    }

    /// Checks the flags and reads the files they name.
    pub fn resolve(&self) -> Result<ServeConfig> {
        let store = match &self.store {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreUrl::Postgres(self.postgres_settings(url)?)
            }
            Some(url) => StoreUrl::parse(url)?,
            None => StoreUrl::Sqlite(self.data_dir.join("nodebom.db")),
        };
        let mut entries = self
            .cluster_tokens
            .iter()
            .map(|entry| ClusterTokens::parse_entry(entry))
            .collect::<Result<Vec<_>>>()?;
        if let Some(file) = &self.cluster_tokens_file {
            let text = read_text(file, "cluster tokens file")?;
            let parsed = ClusterTokens::parse_file(&text)
                .map_err(|err| Error::Config(format!("{}: {err}", file.display())))?;
            entries.extend(parsed);
        }
        let cluster_tokens = ClusterTokens::new(entries)?;
        let query_tokens = QueryTokens::new(self.query_tokens.iter().cloned())?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: read_bytes(cert, "TLS certificate")?,
                key: read_bytes(key, "TLS key")?,
                client_ca: self
                    .tls_client_ca
                    .as_deref()
                    .map(|ca| read_bytes(ca, "TLS client CA"))
                    .transpose()?,
            }),
            _ => None,
        };
        let loopback = self.listen.ip().is_loopback();
        if !loopback && tls.is_none() && !self.insecure {
            return Err(Error::Config(format!(
                "refusing to serve plaintext on {}: pass --tls-cert and --tls-key, or --insecure behind a \
                 TLS-terminating proxy",
                self.listen
            )));
        }
        if let Some(ui) = self.ui_listen {
            if !ui.ip().is_loopback() && tls.is_none() && !self.insecure {
                return Err(Error::Config(format!(
                    "refusing to serve the web UI in plaintext on {ui}: pass --tls-cert and --tls-key, \
                     or --insecure behind a TLS-terminating proxy"
                )));
            }
        }
        if !loopback && cluster_tokens.is_open() {
            return Err(Error::Config(format!(
                "refusing to accept agents without tokens on {}: pass --cluster-token CLUSTER=TOKEN or \
                 --cluster-tokens-file",
                self.listen
            )));
        }
        positive("--max-builds-per-node", u64::from(self.max_builds_per_node))?;
        positive(
            "--max-concurrent-uploads",
            self.max_concurrent_uploads as u64,
        )?;
        positive("--max-images-per-node", self.max_images_per_node as u64)?;
        positive(
            "--max-workloads-per-node",
            self.max_workloads_per_node as u64,
        )?;
        positive("--max-sbom-bytes", self.max_sbom_bytes)?;
        if self.max_message_bytes < 64 * 1024 {
            return Err(Error::Config(
                "--max-message-bytes must be at least 65536".into(),
            ));
        }
        for (flag, duration) in [
            ("--node-expiry", self.node_expiry),
            ("--history-retention", self.history_retention),
            ("--build-lease", self.build_lease),
            ("--reoffer-interval", self.reoffer_interval),
        ] {
            if duration < Duration::from_millis(100) {
                return Err(Error::Config(format!("{flag} must be at least 100ms")));
            }
        }
        Ok(ServeConfig {
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            ui_listen: self.ui_listen,
            store,
            tls,
            insecure: self.insecure,
            cluster_tokens,
            query_tokens,
            sessions: SessionSettings {
                limits: Limits {
                    max_images_per_node: self.max_images_per_node,
                    max_workloads_per_node: self.max_workloads_per_node,
                },
                claims: ClaimPolicy {
                    lease: self.build_lease,
                    max_per_node: self.max_builds_per_node,
                    failure_backoff: self.build_failure_backoff,
                },
                reoffer_interval: self.reoffer_interval,
            },
            janitor: JanitorSettings {
                node_expiry: self.node_expiry,
                history_retention: self.history_retention,
            },
            max_sbom_bytes: self.max_sbom_bytes,
            max_message_bytes: usize::try_from(self.max_message_bytes).unwrap_or(usize::MAX),
            max_concurrent_uploads: self.max_concurrent_uploads,
            notify: self.notify.resolve(
                self.dtrack.dtrack_url.is_some(),
                nodebom_proto::retry::Backoff::new(
                    self.dtrack.dtrack_retry_first,
                    self.dtrack.dtrack_retry_max,
                ),
            )?,
            dtrack: self.dtrack.resolve()?,
        })
    }
}

impl ServeArgs {
    /// The PostgreSQL URL with its password from where passwords may come from.
    fn postgres_settings(&self, url: &str) -> Result<PostgresSettings> {
        let mut settings = PostgresSettings::parse(url)?;
        // A flag value shows in `ps` and in the pod spec; the environment comes from a
        // Secret.
        let from_environment = std::env::var("NODEBOM_STORE").is_ok_and(|env| env == url);
        if settings.has_password() && !from_environment {
            return Err(Error::Config(
                "a password in the --store URL would show in the process list; put the URL in \
                 NODEBOM_STORE, or the password in NODEBOM_STORE_PASSWORD or --store-password-file"
                    .into(),
            ));
        }
        if let Some(file) = &self.store_password_file {
            let password = read_text(file, "PostgreSQL password file")?;
            settings.set_password(password.trim_end_matches(['\n', '\r']));
        } else if let Ok(password) = std::env::var("NODEBOM_STORE_PASSWORD") {
            settings.set_password(&password);
        }
        if let Some(ca) = &self.store_ca_file {
            settings.ca_pem = Some(read_bytes(ca, "PostgreSQL CA file")?);
        }
        positive("--store-pool-size", self.store_pool_size as u64)?;
        settings.pool_size = self.store_pool_size;
        Ok(settings)
    }
}

fn positive(flag: &str, value: u64) -> Result<()> {
    if value == 0 {
        return Err(Error::Config(format!("{flag} must be at least 1")));
    }
    Ok(())
}

fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(Error::io(format!("reading {what} {}", path.display())))
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io(format!("reading {what} {}", path.display())))
}

/// Where the collector keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, possibly shared with other replicas.
    Postgres(PostgresSettings),
}

impl StoreUrl {
    /// Parses `sqlite://PATH` (`sqlite:///abs/path` or `sqlite://relative/path`),
    /// `sqlite:PATH`, or a `postgres://` / `postgresql://` URL with default settings.
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(PostgresSettings::parse(url)?));
        }
        Self::parse_sqlite(url)
    }

    fn parse_sqlite(url: &str) -> Result<Self> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(Error::Config(format!("store URL {url:?} names no file")));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(Error::Config(format!(
            "store URL {url:?} is not understood; use sqlite://PATH or postgres://USER@HOST/DATABASE"
        )))
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Postgres(settings) => settings.fmt(f),
        }
    }
}

/// PEM files for TLS.
#[derive(Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: Vec<u8>,
    /// Private key.
    pub key: Vec<u8>,
    /// CA for client certificates.
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("client_ca", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// The checked configuration of `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Address of `/metrics`, when served.
    pub metrics_listen: Option<SocketAddr>,
    /// Address of the web UI, when served.
    pub ui_listen: Option<SocketAddr>,
    /// Store.
    pub store: StoreUrl,
    /// TLS, or plaintext when `None`.
    pub tls: Option<TlsFiles>,
    /// Plaintext on a non-loopback address was asked for.
    pub insecure: bool,
    /// Agent tokens.
    pub cluster_tokens: ClusterTokens,
    /// Query tokens.
    pub query_tokens: QueryTokens,
    /// Agent sessions.
    pub sessions: SessionSettings,
    /// Expiry and retention.
    pub janitor: JanitorSettings,
    /// Largest SBOM.
    pub max_sbom_bytes: u64,
    /// Largest gRPC message.
    pub max_message_bytes: usize,
    /// Concurrent uploads.
    pub max_concurrent_uploads: usize,
    /// Dependency-Track forwarding; `None`: nothing is forwarded.
    pub dtrack: Option<crate::dtrack::DtrackSettings>,
    /// Exposure events and webhook notifications; `None` without Dependency-Track.
    pub notify: Option<crate::notify::NotifySettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Result<ServeConfig> {
        ServeArgs::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?.resolve()
    }

    #[test]
    fn no_flags_means_local_sqlite_plaintext_loopback_and_open_tokens() {
        let config = resolve(&[]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7443".parse().unwrap());
        assert_eq!(
            config.store,
            StoreUrl::Sqlite(PathBuf::from("nodebom-data/nodebom.db"))
        );
        assert!(config.tls.is_none());
        assert!(config.cluster_tokens.is_open());
        assert_eq!(config.janitor.node_expiry, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn plaintext_on_a_public_address_needs_insecure() {
        let err = resolve(&["--listen", "0.0.0.0:7443", "--cluster-token", "a=t"]).unwrap_err();
        assert!(
            err.to_string().contains("refusing to serve plaintext"),
            "{err}"
        );
        assert!(resolve(&[
            "--listen",
            "0.0.0.0:7443",
            "--cluster-token",
            "a=t",
            "--insecure"
        ])
        .is_ok());
    }

    #[test]
    fn public_address_needs_cluster_tokens() {
        let err = resolve(&["--listen", "0.0.0.0:7443", "--insecure"]).unwrap_err();
        assert!(err.to_string().contains("without tokens"), "{err}");
    }

    #[test]
    fn store_urls_name_sqlite_files() {
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/nodebom/nodebom.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/var/lib/nodebom/nodebom.db"))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:data/x.db").unwrap(),
            StoreUrl::Sqlite(PathBuf::from("data/x.db"))
        );
        assert!(StoreUrl::parse("/var/lib/x.db").is_err());
    }

    #[test]
    fn durations_are_human_readable() {
        let config = resolve(&["--node-expiry", "90m", "--history-retention", "2d"]).unwrap();
        assert_eq!(config.janitor.node_expiry, Duration::from_secs(90 * 60));
        assert_eq!(
            config.janitor.history_retention,
            Duration::from_secs(2 * 86400)
        );
    }
}
