//! Persistence behind one trait per aggregate (inventory, SBOMs, events, the
//! Dependency-Track outbox), so that the collector runs on SQLite (one file, one
//! replica, the default) or on PostgreSQL shared by several replicas. The stores keep
//! facts; the dedup policy they apply is [`crate::dedup`]'s.
//!
//! Every method is one transaction: what it changes is stored completely or not at all.
//! Methods that write events make them visible to [`Store::subscribe_events`] only after
//! their commit. Session checks, build claims and event sequence numbers live in the
//! database, not in memory, so that several collector replicas can share one database.

pub mod instrumented;
pub mod outbox;
pub mod postgres;
pub(crate) mod query_model;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::Result;
use crate::exposure::finding::Finding;
use crate::inventory::{Agent, FullInventory, InventoryDelta, Limits, NodeKey, NodeSoftware};
use crate::sbom::ValidatedSbom;
use outbox::{Failure, OutboxItem, Plan, ProjectState, Usage};

pub use crate::dedup::{CheckStatus, ClaimPolicy, SbomCheck};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// One open `Sync` session of a node. A newer session of the same node makes every
/// write through an older one fail with `Error::Superseded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The node.
    pub node: NodeKey,
    /// The store's id of the node.
    pub node_id: i64,
    /// Increases with every session of the node.
    pub generation: u64,
}

/// The SBOM builds assigned to a node after a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Digests this node should build and upload now.
    pub wanted: Vec<Digest>,
    /// True when the node has images without SBOM that were not given to it (another
    /// node builds them, they failed recently, or the node has no free slot): asking
    /// again later may give it more.
    pub pending: bool,
}

/// What an upload may do, decided before the document is received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadPermit {
    /// Go ahead; the node now holds its cluster's build claim for the digest.
    Allowed,
    /// The node's cluster already built the digest (the fleet copy or a check of it).
    AlreadyStored(Box<SbomRecord>),
}

/// Result of storing an SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The SBOM is now the fleet copy.
    Stored(SbomRecord),
    /// The node's cluster had already built it; nothing changed.
    AlreadyStored(SbomRecord),
    /// Another cluster's SBOM is the fleet copy; this upload checked it.
    Checked {
        /// The fleet copy.
        fleet: SbomRecord,
        /// What this cluster found.
        check: SbomCheck,
    },
}

/// A stored SBOM's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomRecord {
    /// Image digest.
    pub manifest_digest: String,
    /// Document size.
    pub size: u64,
    /// Document SHA-256.
    pub sha256: String,
    /// CycloneDX spec version.
    pub spec_version: String,
    /// Distinct components indexed.
    pub component_count: u64,
    /// When it was stored.
    pub stored_at: Timestamp,
    /// Cluster of the node that built it.
    pub cluster: String,
    /// Node that built it.
    pub node: String,
    /// Agent version of that node ('' for SBOMs stored before it was recorded).
    pub agent_version: String,
    /// See [`crate::sbom::cyclonedx::Bom::content_hash`] ('' for SBOMs stored before).
    pub content_hash: String,
    /// The document says it lists only part of the image.
    pub incomplete: bool,
    /// Why, as the document says.
    pub incomplete_reasons: Vec<String>,
    /// The other clusters' checks of the fleet copy, by cluster.
    pub checks: Vec<SbomCheck>,
}

impl SbomRecord {
    /// What the dedup policy compares a cluster's build with, when this is the fleet
    /// copy.
    pub fn fleet_copy(&self) -> crate::dedup::FleetCopy<'_> {
        crate::dedup::FleetCopy {
            content_hash: &self.content_hash,
            agent_version: &self.agent_version,
            incomplete: self.incomplete,
        }
    }
}

/// A stored SBOM with its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSbom {
    /// Description.
    pub record: SbomRecord,
    /// zstd-compressed CycloneDX JSON.
    pub document_zstd: Vec<u8>,
}

/// Filters of `ListImages`; `None` and `false` do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// Only the image of this manifest digest.
    pub digest: Option<String>,
    /// Images a node knows by a name containing this text, in any case (`ListImages`
    /// only).
    pub name: Option<String>,
    /// Images on nodes of this cluster.
    pub cluster: Option<String>,
    /// Images used by workloads in this namespace.
    pub namespace: Option<String>,
    /// Images used by a pod of this name (`ListImages` only).
    pub pod: Option<String>,
    /// Images on nodes of this name.
    pub node: Option<String>,
    /// Images used by a running workload.
    pub running_only: bool,
}

/// A page of images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePage {
    /// The images, by digest.
    pub images: Vec<ImageSummary>,
    /// Last digest of this page when there are more.
    pub next_after: Option<String>,
}

/// An image with where it is and runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSummary {
    /// Manifest digest.
    pub manifest_digest: String,
    /// Index digests nodes reported, sorted.
    pub index_digests: Vec<String>,
    /// Config digest.
    pub config_digest: String,
    /// Platform.
    pub platform: String,
    /// All names, sorted.
    pub names: Vec<String>,
    /// The stored SBOM, if any.
    pub sbom: Option<SbomRecord>,
    /// First report by any node.
    pub first_seen: Option<Timestamp>,
    /// Last report by any node.
    pub last_seen: Option<Timestamp>,
    /// Nodes that have it (filtered).
    pub nodes: Vec<NodePresence>,
    /// Workloads that use it (filtered).
    pub workloads: Vec<WorkloadPlacement>,
    /// Set when the record is a node's own software rather than an image.
    pub node: Option<NodeSoftware>,
}

/// A node with what it holds and runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    /// Cluster.
    pub cluster: String,
    /// Node.
    pub node: String,
    /// Its node pool ('' when its agent reads none).
    pub node_pool: String,
    /// Its agent's version.
    pub agent_version: String,
    /// Digest of its own software's SBOM record, when its agent reads the host.
    pub software_digest: Option<String>,
    /// What that record says.
    pub software: Option<NodeSoftware>,
    /// True when the collector stores that SBOM.
    pub has_software_sbom: bool,
    /// Its first report.
    pub first_seen: Timestamp,
    /// Its last report (the last contact).
    pub last_seen: Timestamp,
    /// Images on it.
    pub images: u64,
    /// Containers running on it.
    pub running: u64,
}

/// A namespace of a cluster with what runs in it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSummary {
    /// Namespace.
    pub namespace: String,
    /// Pods with a running container.
    pub pods: u64,
    /// Running containers.
    pub containers: u64,
    /// Distinct images they run.
    pub images: u64,
}

/// A node that has an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePresence {
    /// Cluster.
    pub cluster: String,
    /// Node.
    pub node: String,
    /// When the node first reported the image.
    pub first_seen: Timestamp,
    /// When the node last reported.
    pub last_seen: Timestamp,
}

/// A workload as stored, with where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadPlacement {
    /// Cluster.
    pub cluster: String,
    /// Node.
    pub node: String,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Container name.
    pub container: String,
    /// Image digest.
    pub manifest_digest: String,
    /// Image reference from the pod spec.
    pub image: String,
    /// Container id.
    pub container_id: String,
    /// False once stopped.
    pub running: bool,
    /// First report.
    pub first_seen: Timestamp,
    /// Last report while running, or when it stopped.
    pub last_seen: Timestamp,
}

/// What `FindComponents` looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentQuery {
    /// Components whose purl has this base (see [`crate::sbom::purl::PurlKey`]), and
    /// this version when given.
    Purl {
        /// Lower-cased `pkg:type/namespace/name`.
        base: String,
        /// Exact version.
        version: Option<String>,
    },
    /// Components with this name (case-insensitive).
    Name {
        /// The name or, with `contains`, a part of it.
        name: String,
        /// Exact version or a prefix ending before `.` or `-`.
        version: Option<String>,
        /// Match names containing `name`.
        contains: bool,
    },
}

/// A `FindComponents` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSearch {
    /// What to look for.
    pub query: ComponentQuery,
    /// Only images a running workload uses.
    pub running_only: bool,
    /// Only images on nodes of this cluster.
    pub cluster: Option<String>,
    /// At most this many images.
    pub limit: usize,
}

/// Images containing matching components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentMatches {
    /// By image digest.
    pub matches: Vec<ComponentMatch>,
    /// More images matched than the limit.
    pub truncated: bool,
}

/// One image and its matching components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentMatch {
    /// The image, with running workloads only.
    pub image: ImageSummary,
    /// The matching components.
    pub components: Vec<crate::sbom::Component>,
}

/// Kinds of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An SBOM was stored.
    SbomStored,
    /// A workload started.
    WorkloadStarted,
    /// A workload stopped.
    WorkloadStopped,
    /// A cluster built an image whose fleet copy (built by another cluster with the same
    /// agent version) has other contents.
    SbomConflict,
    ExposureAppeared,
    ExposureResolved,
}

impl EventKind {
    /// The value stored in the database.
    pub fn code(self) -> i64 {
        match self {
            Self::SbomStored => 1,
            Self::WorkloadStarted => 2,
            Self::WorkloadStopped => 3,
            Self::SbomConflict => 4,
            Self::ExposureAppeared => 5,
            Self::ExposureResolved => 6,
        }
    }

    /// The kind of a stored value.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::SbomStored),
            2 => Some(Self::WorkloadStarted),
            3 => Some(Self::WorkloadStopped),
            4 => Some(Self::SbomConflict),
            5 => Some(Self::ExposureAppeared),
            6 => Some(Self::ExposureResolved),
            _ => None,
        }
    }
}

/// Something that happened, in the order of `sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increasing, never reused.
    pub sequence: u64,
    /// When.
    pub time: Timestamp,
    /// What.
    pub kind: EventKind,
    /// The image.
    pub manifest_digest: String,
    /// Cluster concerned.
    pub cluster: String,
    /// Node concerned.
    pub node: String,
    /// For workload events.
    pub workload: Option<WorkloadPlacement>,
    /// For SBOM events.
    pub component_count: u64,
    /// For exposure events.
    pub exposure: Option<ExposureChange>,
}

/// What an exposure event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExposureChange {
    /// The vulnerability's id.
    pub vulnerability: String,
    /// The package's purl, else `name@version`.
    pub package: String,
    /// The image's name.
    pub image: String,
}

/// The columns of a stored event, as both stores keep them.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredEvent {
    pub sequence: i64,
    pub at: i64,
    pub kind: i64,
    pub digest: String,
    pub cluster: String,
    pub node: String,
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    pub image: String,
    pub container_id: String,
    pub component_count: i64,
    pub vulnerability: String,
    pub package: String,
}

impl StoredEvent {
    /// The event these columns record.
    pub(crate) fn into_event(self) -> Result<Event> {
        let sequence = self.sequence.max(0) as u64;
        let time = Timestamp::from_unix_millis(self.at);
        let kind = EventKind::from_code(self.kind).ok_or_else(|| {
            crate::error::Error::Corrupt(format!("event {sequence} has unknown kind {}", self.kind))
        })?;
        let exposure = matches!(
            kind,
            EventKind::ExposureAppeared | EventKind::ExposureResolved
        )
        .then(|| ExposureChange {
            vulnerability: self.vulnerability,
            package: self.package,
            image: self.image.clone(),
        });
        let workload = match kind {
            EventKind::SbomStored
            | EventKind::SbomConflict
            | EventKind::ExposureAppeared
            | EventKind::ExposureResolved => None,
            EventKind::WorkloadStarted | EventKind::WorkloadStopped => Some(WorkloadPlacement {
                cluster: self.cluster.clone(),
                node: self.node.clone(),
                namespace: self.namespace,
                pod: self.pod,
                pod_uid: self.pod_uid,
                container: self.container,
                manifest_digest: self.digest.clone(),
                image: self.image,
                container_id: self.container_id,
                running: kind == EventKind::WorkloadStarted,
                first_seen: time,
                last_seen: time,
            }),
        };
        Ok(Event {
            sequence,
            time,
            kind,
            manifest_digest: self.digest,
            cluster: self.cluster,
            node: self.node,
            workload,
            component_count: self.component_count.max(0) as u64,
            exposure,
        })
    }
}

/// What a history pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events deleted.
    pub events: u64,
    /// Stopped workloads forgotten.
    pub workloads: u64,
}

/// Totals of the store at one moment, for the collector's metrics: read in one
/// transaction, from counts that indexes answer or small tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Nodes known (not expired).
    pub nodes: u64,
    /// Image digests known.
    pub images: u64,
    /// Workloads running.
    pub workloads_running: u64,
    /// Fleet copies of SBOMs (one per digest).
    pub sboms: u64,
    /// Their size as CycloneDX JSON (they are kept compressed).
    pub sbom_bytes: u64,
    /// Clusters' own copies, kept where a cluster's build differs from the fleet copy.
    pub own_copies: u64,
    /// Their size as CycloneDX JSON.
    pub own_copy_bytes: u64,
    /// Build claims whose node is building now (lease not over).
    pub claims_building: u64,
    /// Build claims whose lease or failure backoff is over and that no node took again
    /// yet.
    pub claims_expired: u64,
    /// Build claims of failed builds, in their backoff.
    pub claims_failed: u64,
    /// Dependency-Track actions queued.
    pub dtrack_queued: u64,
    /// Of these, the ones due now.
    pub dtrack_due: u64,
    /// Since when the longest-waiting due action is due: when it was queued, or the time
    /// it was last put off until; `None` when none is due. (Actions queued by a
    /// collector before 0.3, which did not record it, do not count.)
    pub dtrack_oldest_due_since: Option<Timestamp>,
    /// Actions Dependency-Track refused for good, recorded.
    pub dtrack_failures: u64,
}

/// A job that one replica at a time runs: the others skip it while it is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SingletonJob {
    /// Node expiry and history pruning.
    Janitor,
    /// Planning Dependency-Track changes (the outbox is worked by every replica).
    DtrackPlanner,
    /// Keeping nodebom's policies (KEV and the policy file's) in Dependency-Track.
    Policies,
    /// Comparing exposures with the open alerts and queueing notifications.
    Notifier,
}

/// Nodes, their sessions, images and workloads, and the build claims made for them.
#[async_trait]
pub trait InventoryStore: Send + Sync + 'static {
    /// Opens a session for `node`, replacing any older one, and releases the build
    /// claims of the node's previous sessions.
    async fn begin_session(&self, node: &NodeKey, agent: &Agent, now: Timestamp)
        -> Result<Session>;

    /// Replaces the node's whole state with `inventory` (images, workloads; started and
    /// stopped events for the difference) and claims SBOM builds for it.
    async fn replace_inventory(
        &self,
        session: &Session,
        inventory: FullInventory,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims>;

    /// Applies changes to the node's state and claims SBOM builds for it.
    async fn apply_delta(
        &self,
        session: &Session,
        delta: InventoryDelta,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims>;

    /// Claims SBOM builds for the node's images that lack an SBOM and a builder.
    async fn claim_builds(
        &self,
        session: &Session,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims>;

    /// Records that the node cannot build `digest`: no node is asked for it until
    /// `retry_at`.
    async fn build_failed(
        &self,
        session: &Session,
        digest: &Digest,
        reason: &str,
        retry_at: Timestamp,
    ) -> Result<()>;

    /// Marks the nodes of live sessions as seen now (heartbeats, one write for all);
    /// superseded sessions are skipped.
    async fn touch_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()>;

    /// Ends a session: the node keeps its state until it expires, its build claims are
    /// released for other nodes. Does nothing when a newer session exists.
    async fn end_session(&self, session: &Session, now: Timestamp) -> Result<()>;

    /// Forgets nodes not seen since `cutoff`: their workloads stop (with events) and their
    /// images are no longer on them. Returns the number of nodes expired.
    async fn expire_nodes(&self, cutoff: Timestamp, now: Timestamp) -> Result<u64>;
}

/// SBOM documents, their component index, and the read models built on them.
#[async_trait]
pub trait SbomStore: Send + Sync + 'static {
    /// Decides whether `node` may upload an SBOM for `digest` (it must have the image, its
    /// cluster must not have built it yet and no other node of its cluster may be
    /// building it), and gives it its cluster's build claim.
    async fn begin_upload(
        &self,
        node: &NodeKey,
        digest: &Digest,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<UploadPermit>;

    /// Stores an SBOM with its component index, under the same conditions as
    /// [`SbomStore::begin_upload`]: as the fleet copy when there is none, else as the
    /// node's cluster's check of it (its own copy too when the contents differ).
    async fn put_sbom(
        &self,
        node: &NodeKey,
        sbom: ValidatedSbom,
        now: Timestamp,
    ) -> Result<PutOutcome>;

    /// The stored SBOM of `digest`: with `cluster`, the cluster's own copy when its build
    /// differs from the fleet copy, else the fleet copy.
    async fn get_sbom(&self, digest: &Digest, cluster: Option<&str>) -> Result<Option<StoredSbom>>;

    /// The known nodes, of `cluster` when given, by cluster and name.
    async fn nodes(&self, cluster: Option<String>) -> Result<Vec<NodeSummary>>;

    /// The namespaces where containers of `cluster` run now, by name.
    async fn namespaces(&self, cluster: String) -> Result<Vec<NamespaceSummary>>;

    /// A page of images after digest `after`.
    async fn list_images(
        &self,
        filter: ImageFilter,
        after: Option<Digest>,
        page_size: usize,
    ) -> Result<ImagePage>;

    /// Images whose SBOM contains matching components.
    async fn find_components(&self, search: ComponentSearch) -> Result<ComponentMatches>;

    /// Every image that a node holds or a workload runs within `filter` (its cluster,
    /// namespace and running-only; not its node), with its names, the nodes holding it
    /// and the workloads running it there: what exposures join findings with. At most
    /// `limit` images.
    async fn placements(&self, filter: ImageFilter, limit: usize) -> Result<Vec<ImagePlacements>>;
}

/// Where one image is, within a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePlacements {
    pub manifest_digest: String,
    /// Its names, fleet-wide and as the nodes in scope know it.
    pub names: Vec<String>,
    /// Nodes holding it.
    pub nodes: Vec<NodePresence>,
    /// Workloads running it.
    pub workloads: Vec<WorkloadPlacement>,
}

/// The event log, and the jobs that one replica at a time runs.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Up to `limit` events with a sequence above `after`. `Error::OutOfRange` when
    /// events after `after` were pruned.
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>>;

    /// Sequence number of the newest event (0 when there is none).
    async fn last_event(&self) -> Result<u64>;

    /// Receives the newest event sequence number after each commit that wrote events,
    /// this replica's or another's.
    fn subscribe_events(&self) -> watch::Receiver<u64>;

    /// Deletes events and stopped workloads older than `cutoff`.
    async fn prune_history(&self, cutoff: Timestamp) -> Result<Pruned>;

    /// True when this replica runs `job` now (it holds the job, or just took it over);
    /// asked before every run of the job.
    async fn hold_singleton(&self, job: SingletonJob) -> Result<bool>;
}

/// What the Dependency-Track forwarder plans and its outbox.
#[async_trait]
pub trait DtrackStore: Send + Sync + 'static {
    /// Digests with a stored SBOM that running workloads use (with `every_image`: that
    /// any node has), with the clusters and namespaces using them.
    async fn dtrack_usage(&self, every_image: bool) -> Result<Vec<Usage>>;

    /// What was last planned for every digest forwarded to Dependency-Track.
    async fn dtrack_projects(&self) -> Result<Vec<ProjectState>>;

    /// Stores the new state of each digest and queues its actions, all in one
    /// transaction.
    async fn dtrack_plan(&self, plans: Vec<Plan>) -> Result<()>;

    /// Takes the oldest queued action of each project, if due at `now` and not taken
    /// by another replica; at most `limit`. Each is the caller's for `lease`: then
    /// another replica may take it (the caller died).
    async fn dtrack_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>>;

    /// Removes a done action; `token` is the processing token of a done upload.
    async fn dtrack_done(&self, id: i64, token: Option<String>) -> Result<()>;

    /// Puts an action off until `next_at`; with `error`, counts a failed try.
    async fn dtrack_retry(&self, id: i64, next_at: Timestamp, error: Option<String>) -> Result<()>;

    /// Removes an action Dependency-Track refused for good and records the failure.
    async fn dtrack_fail(&self, id: i64, failure: Failure) -> Result<()>;

    /// The newest `limit` recorded failures, newest first.
    async fn dtrack_failures(&self, limit: usize) -> Result<Vec<Failure>>;

    /// Number of queued actions.
    async fn dtrack_pending(&self) -> Result<u64>;
}

/// Totals for the collector's metrics.
/// Findings read back from Dependency-Track, per forwarded project.
#[async_trait]
pub trait FindingStore: Send + Sync + 'static {
    /// Replaces the findings of the project `project` (an image digest, or a cluster's
    /// own copy: see [`outbox::project_key`]); a finding kept keeps its `first_seen`.
    async fn put_findings(
        &self,
        project: &str,
        findings: Vec<Finding>,
        now: Timestamp,
    ) -> Result<()>;

    /// The findings of every project of the image digests `digests`.
    async fn findings_of(&self, digests: Vec<String>) -> Result<Vec<StoredFinding>>;

    /// The findings whose vulnerability is known as `id` (its id or an alias, any case).
    async fn findings_known_as(&self, id: &str) -> Result<Vec<StoredFinding>>;
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFinding {
    /// Project key: the image digest, or `digest#cluster` for a cluster's own copy;
    /// shared by the findings of one project.
    pub project: Arc<str>,
    /// Shared by the stored findings of one answer that are the same (one vulnerability
    /// in one package version, found in many images).
    pub finding: Arc<Finding>,
    /// When it was first read.
    pub first_seen: Timestamp,
}

/// Open exposure alerts and the webhook calls queued about them.
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Every open alert.
    async fn alerts_open(&self) -> Result<Vec<OpenAlert>>;

    /// Opens `opened`, closes `resolved` (by key), queues `deliveries` and records
    /// `changes` as exposure events for `Watch`, in one transaction.
    async fn alerts_apply(&self, apply: AlertChanges, now: Timestamp) -> Result<()>;

    /// Leases the oldest due delivery of each target for `lease`.
    async fn deliveries_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>>;

    /// Removes a delivery that was made, or that is given up (`error` says why).
    async fn delivery_done(&self, id: i64) -> Result<()>;

    /// Puts a delivery off until `next_at`, counting a failed try.
    async fn delivery_retry(&self, id: i64, next_at: Timestamp, error: String) -> Result<()>;
}

/// What one notifier pass changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertChanges {
    pub opened: Vec<OpenAlert>,
    /// Keys of the alerts that close.
    pub resolved: Vec<String>,
    pub deliveries: Vec<NewDelivery>,
    /// Each exposure event (`ExposureAppeared` or `ExposureResolved`), with the image
    /// digest and what.
    pub events: Vec<(EventKind, String, ExposureChange)>,
}

/// An exposure alert that is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    /// What identifies the exposure.
    pub key: String,
    /// What was said when it opened (JSON).
    pub payload: String,
}

/// A webhook call to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The webhook's name (a hash of its configuration).
    pub target: String,
    /// The request body.
    pub body: String,
}

/// A queued webhook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub target: String,
    pub body: String,
    /// Failed tries so far.
    pub attempts: u32,
}

#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// Totals as of `now` (claims and actions are timed against it).
    async fn stats(&self, now: Timestamp) -> Result<StoreStats>;
}

/// The store traits, for callers that hold a concrete store rather than `dyn Store`.
pub mod prelude {
    pub use super::{
        AlertStore, DtrackStore, EventStore, FindingStore, InventoryStore, SbomStore, StatsStore,
        Store,
    };
}

/// The collector's persistence: every aggregate's store.
pub trait Store:
    InventoryStore + SbomStore + EventStore + DtrackStore + FindingStore + AlertStore + StatsStore
{
}

impl<T> Store for T where
    T: InventoryStore
        + SbomStore
        + EventStore
        + DtrackStore
        + FindingStore
        + AlertStore
        + StatsStore
{
}
