//! `nodebom-collector query …` and `report`: a small CLI for people on top of the Query
//! API, with table, JSON and (for exposures) Markdown output.

mod exposures;
mod output;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use nodebom_proto::chunks::Reassembly;
use nodebom_proto::v1 as pb;
use nodebom_proto::v1::query_client::QueryClient;
use sha2::{Digest as _, Sha256};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use crate::error::{Error, Result};

/// How to reach the collector's Query API.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Collector address (`http://` or `https://`).
    #[arg(long, env = "NODEBOM_SERVER", default_value = "http://127.0.0.1:7443")]
    pub server: String,
    /// CA certificate (PEM) that signed an `https://` collector's certificate
    /// [default: the Mozilla root CAs].
    #[arg(long, env = "NODEBOM_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Bearer token, for a collector started with --query-token.
    #[arg(long, env = "NODEBOM_QUERY_TOKEN")]
    pub token: Option<String>,
}

/// `nodebom-collector query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Output format (`markdown`: `exposures` only).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// What to ask.
    #[command(subcommand)]
    pub command: QueryCommand,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts (`watch`: one object a line).
    Json,
    /// Markdown, to paste into an issue or a chat (`exposures` only).
    Markdown,
}

/// Which exposures to ask for.
#[derive(Debug, Clone, Default, Args)]
pub struct ExposureArgs {
    /// Only where images are in this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only images run in this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this image: a digest, a name (`repository:tag`) or a repository.
    #[arg(long)]
    pub image: Option<String>,
    /// Only vulnerabilities in CISA's KEV catalog.
    #[arg(long)]
    pub kev: bool,
    /// Only images that workloads run now (not those only on disk).
    #[arg(long)]
    pub running: bool,
    /// Only vulnerabilities with at least this EPSS score (0 to 1).
    #[arg(long, value_name = "SCORE")]
    pub min_epss: Option<f64>,
    /// Only vulnerabilities at least this severe.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub min_severity: Option<SeverityArg>,
}

/// Severities, for `--min-severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

/// How `query exposures` groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// One section per cluster.
    Cluster,
    /// One section per cluster and namespace.
    Namespace,
}

/// `nodebom-collector report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub filter: ExposureArgs,
    /// The most urgent exposures listed (0: all of them); the report says how many
    /// there are in all.
    #[arg(long, default_value_t = 200)]
    pub limit: u64,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For an issue or a chat message.
    Markdown,
    /// For other tools.
    Json,
}

/// Questions.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Images, with the clusters, nodes and workloads that have them.
    Images {
        /// Only images on nodes of this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// Only images used in this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Only images on this node.
        #[arg(long)]
        node: Option<String>,
        /// Only images a running container uses.
        #[arg(long)]
        running: bool,
    },
    /// Write the stored CycloneDX JSON of an image.
    Sbom {
        /// Manifest digest, `sha256:…`.
        digest: String,
        /// The SBOM this cluster uses: its own build when that differs from the stored
        /// copy (see the checks in `images`).
        #[arg(long)]
        cluster: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Images and running workloads that contain a component, e.g.
    /// `find log4j-core --version 2.14` or `find --purl pkg:pypi/requests@2.31.0`.
    Find {
        /// Component name (case-insensitive).
        #[arg(required_unless_present = "purl", conflicts_with = "purl")]
        name: Option<String>,
        /// Package URL; with a version, only that version.
        #[arg(long)]
        purl: Option<String>,
        /// With a name: the version, or a prefix of it ending before `.` or `-`.
        #[arg(long)]
        version: Option<String>,
        /// With a name: match names that contain it.
        #[arg(long)]
        contains: bool,
        /// Only images a running container uses.
        #[arg(long)]
        running: bool,
        /// Only images on nodes of this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// At most this many images.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Nodes, with their pool, agent and own software (the node SBOM's digest, OS and
    /// kernel when their agent reads the host).
    Nodes {
        /// Only nodes of this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// Only nodes of this pool.
        #[arg(long)]
        pool: Option<String>,
        /// Only nodes whose own software has this digest (`sha256:…`).
        #[arg(long)]
        digest: Option<String>,
    },
    /// Dependency-Track actions that DT refused for good (dropped, not retried), newest
    /// first.
    DtrackFailures {
        /// At most this many (at most 1,000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Vulnerabilities Dependency-Track found in images, with where those images run,
    /// most urgent first (KEV, EPSS, severity, running, spread), with the reasons.
    Exposures {
        #[command(flatten)]
        filter: ExposureArgs,
        /// Group the rows by cluster, or by cluster and namespace.
        #[arg(long, value_enum)]
        by: Option<GroupBy>,
        /// At most this many exposures (0: all).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Every workload and node that has a vulnerability now, e.g.
    /// `vulnerability CVE-2024-3094` (an id or any alias).
    Vulnerability {
        /// The vulnerability's id or an alias (CVE-…, GHSA-…).
        id: String,
        /// Only where images are in this cluster.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Print events as they happen (SBOM stored, workload started or stopped).
    Watch {
        /// Start after this event sequence number (resume); 0 prints every stored event.
        #[arg(long, default_value_t = 0, conflicts_with = "from_now")]
        after: u64,
        /// Print only events from now on.
        #[arg(long)]
        from_now: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
}

type Client = QueryClient<InterceptedService<Channel, Authorization>>;

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Authorization(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Authorization {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

async fn connect(args: &Connection) -> Result<Client> {
    let mut endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|err| Error::Config(format!("--server {:?}: {err}", args.server)))?;
    if args.server.starts_with("https://") {
        let tls = match &args.ca_cert {
            Some(path) => {
                let pem = std::fs::read(path).map_err(Error::io(format!(
                    "reading CA certificate {}",
                    path.display()
                )))?;
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
            }
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint.connect().await?;
    let token = args
        .token
        .as_deref()
        .map(|token| {
            format!("Bearer {token}")
                .parse()
                .map_err(|_| Error::Config("the query token must be printable ASCII".into()))
        })
        .transpose()?;
    Ok(QueryClient::with_interceptor(channel, Authorization(token))
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
        .max_decoding_message_size(64 * 1024 * 1024))
}

/// Runs a query and writes its answer to `out`.
pub async fn run(args: QueryArgs, out: &mut (dyn Write + Send)) -> Result<()> {
    let mut client = connect(&args.connection).await?;
    let format = args.output;
    let markdown_only_for_exposures = !matches!(
        args.command,
        QueryCommand::Exposures { .. } | QueryCommand::Vulnerability { .. }
    );
    if format == Format::Markdown && markdown_only_for_exposures {
        return Err(Error::Config(
            "--output markdown is for `exposures` and `vulnerability`; use table or json".into(),
        ));
    }
    match args.command {
        QueryCommand::Exposures { filter, by, limit } => {
            let (found, _) = exposures::fetch(&mut client, &filter, limit).await?;
            exposures::render(&found, by, format, out)
        }
        QueryCommand::Vulnerability { id, cluster } => {
            let found = client
                .find_vulnerability(pb::FindVulnerabilityRequest {
                    id,
                    cluster: cluster.unwrap_or_default(),
                })
                .await?
                .into_inner();
            exposures::render(&found.exposures, None, format, out)
        }
        QueryCommand::Images {
            cluster,
            namespace,
            node,
            running,
        } => {
            let mut images = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_images(pb::ListImagesRequest {
                        cluster: cluster.clone().unwrap_or_default(),
                        namespace: namespace.clone().unwrap_or_default(),
                        node: node.clone().unwrap_or_default(),
                        running_only: running,
                        page_size: 500,
                        page_token,
                    })
                    .await?
                    .into_inner();
                images.extend(page.images);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            output::images(&images, format, out)
        }
        QueryCommand::Sbom {
            digest,
            cluster,
            file,
        } => {
            let document = download_sbom(&mut client, digest, cluster.unwrap_or_default()).await?;
            match file {
                Some(path) => std::fs::write(&path, document)
                    .map_err(Error::io(format!("writing {}", path.display()))),
                None => out
                    .write_all(&document)
                    .map_err(Error::io("writing the SBOM")),
            }
        }
        QueryCommand::Find {
            name,
            purl,
            version,
            contains,
            running,
            cluster,
            limit,
        } => {
            let found = client
                .find_components(pb::FindComponentsRequest {
                    purl: purl.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    version: version.unwrap_or_default(),
                    name_contains: contains,
                    running_only: running,
                    cluster: cluster.unwrap_or_default(),
                    limit,
                })
                .await?
                .into_inner();
            output::matches(&found, format, out)
        }
        QueryCommand::Nodes {
            cluster,
            pool,
            digest,
        } => {
            let mut nodes = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_nodes(pb::ListNodesRequest {
                        cluster: cluster.clone().unwrap_or_default(),
                        node_pool: pool.clone().unwrap_or_default(),
                        sbom_digest: digest.clone().unwrap_or_default(),
                        page_size: 5_000,
                        page_token,
                    })
                    .await?
                    .into_inner();
                nodes.extend(page.nodes);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            output::nodes(&nodes, format, out)
        }
        QueryCommand::DtrackFailures { limit } => {
            let answer = client
                .list_dtrack_failures(pb::ListDtrackFailuresRequest { limit })
                .await?
                .into_inner();
            output::dtrack_failures(&answer.failures, format, out)
        }
        QueryCommand::Watch {
            after,
            from_now,
            count,
        } => {
            let mut stream = client
                .watch(pb::WatchRequest {
                    after_sequence: after,
                    from_now,
                })
                .await?
                .into_inner();
            let mut printed = 0u64;
            if format == Format::Table {
                output::event_header(out)?;
            }
            while count.is_none_or(|count| printed < count) {
                let Some(batch) = stream.message().await? else {
                    break;
                };
                for event in batch.events {
                    if count.is_some_and(|count| printed >= count) {
                        break;
                    }
                    output::event(&event, format, out)?;
                    printed += 1;
                }
                out.flush().map_err(Error::io("writing events"))?;
            }
            Ok(())
        }
    }
}

/// Writes the exposure report `args` asks for to `out`.
pub async fn report(args: ReportArgs, out: &mut (dyn Write + Send)) -> Result<()> {
    let mut client = connect(&args.connection).await?;
    let (found, total) = exposures::fetch(&mut client, &args.filter, args.limit).await?;
    exposures::report(&found, total, &args, out)
}

/// Receives a stored SBOM and checks it against its announced size and digest.
async fn download_sbom(client: &mut Client, digest: String, cluster: String) -> Result<Vec<u8>> {
    use pb::get_sbom_response::Part;
    let mut stream = client
        .get_sbom(pb::GetSbomRequest {
            manifest_digest: digest,
            cluster,
        })
        .await?
        .into_inner();
    let info = match stream.message().await? {
        Some(pb::GetSbomResponse {
            part: Some(Part::Info(info)),
        }) => info,
        _ => {
            return Err(Error::Corrupt(
                "the collector did not describe the SBOM first".into(),
            ))
        }
    };
    let mut document = Vec::with_capacity(
        usize::try_from(info.size)
            .unwrap_or(0)
            .min(256 * 1024 * 1024),
    );
    let mut hasher = Sha256::new();
    let mut reassembly = Reassembly::new(info.size);
    while let Some(message) = stream.message().await? {
        if let Some(Part::Chunk(chunk)) = message.part {
            reassembly
                .accept(chunk.offset, chunk.data.len())
                .map_err(|err| Error::Corrupt(format!("the collector's SBOM: {err}")))?;
            hasher.update(&chunk.data);
            document.extend_from_slice(&chunk.data);
        }
    }
    let sha256 = crate::digest::Digest::from_sha256(hasher).to_string();
    if document.len() as u64 != info.size || sha256 != info.sha256 {
        return Err(Error::Corrupt(format!(
            "received {} bytes with digest {sha256}; the collector announced {} bytes with digest {}",
            document.len(),
            info.size,
            info.sha256
        )));
    }
    Ok(document)
}
