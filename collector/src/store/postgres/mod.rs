//! The PostgreSQL store: one database shared by any number of collector replicas.
//!
//! Replicas coordinate through the database only:
//! - every operation is one transaction; one on a node's state first locks the node's row,
//!   one on a digest's SBOM first takes an advisory lock on the digest, so the same checks
//!   as SQLite's single writer hold when two replicas serve the same node or image;
//! - a build claim is taken by a conditional upsert, so two replicas never hand one
//!   image to two nodes of a cluster;
//! - events are inserted at commit under one advisory lock held until the commit, so
//!   their sequence order is commit order and `Watch` never skips one; the committing
//!   replica `NOTIFY`s the others;
//! - Dependency-Track actions are leased with `FOR UPDATE SKIP LOCKED`;
//! - singleton jobs (planning DT changes, the KEV policy, the janitor) run where a
//!   session advisory lock is held, on a control connection that also `LISTEN`s for
//!   events; when that replica dies its locks go with its connection.

mod alerts;
mod control;
mod dtrack;
mod events;
mod findings;
mod inventory;
mod migrate;
mod query;
mod sboms;
mod settings;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio::sync::watch;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};

pub use settings::PostgresSettings;

use super::{
    AlertChanges, AlertStore, ClaimPolicy, Claims, ComponentMatches, ComponentSearch, Delivery,
    DtrackStore, Event, EventStore, FindingStore, ImageFilter, ImagePage, ImagePlacements,
    InventoryStore, NamespaceSummary, NodeSummary, OpenAlert, Pruned, PutOutcome, SbomStore,
    Session, SingletonJob, StatsStore, StoreStats, StoredFinding, StoredSbom, UploadPermit,
};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::exposure::finding::Finding;
use crate::inventory::{Agent, FullInventory, InventoryDelta, Limits, NodeKey};
use crate::sbom::ValidatedSbom;
use crate::store::outbox::{Failure, OutboxItem, Plan, ProjectState, Usage};
use control::Control;
use events::NewEvent;

/// How long a caller waits for a pooled connection before the store is unavailable.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Tries of an operation the database aborted (serialization failure, deadlock, a
/// connection lost before the commit).
const ATTEMPTS: u32 = 4;
/// First pause before trying again; doubles each time.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Nodes expired per transaction.
const EXPIRE_BATCH: usize = 100;

/// Advisory lock keys, in the 64-bit space of `pg_advisory_lock`: "nodebom" then a number.
mod lock_keys {
    const BASE: i64 = 0x6e6f_6465_626f_6d00;
    /// Held while migrating the schema.
    pub const MIGRATE: i64 = BASE + 1;
    /// Held from inserting events until commit.
    pub const EVENTS: i64 = BASE + 2;
    /// Base of the singleton jobs' keys.
    pub const JOBS: i64 = BASE + 16;
}

/// The `LISTEN` channel of new events; the payload is the newest sequence number.
const EVENTS_CHANNEL: &str = "nodebom_events";

/// True for errors after which the same operation may well succeed: a lost connection,
/// a server that is shutting down or starting, a transaction the database aborted.
pub fn is_transient(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || code.code().starts_with("08")
        }
        // No SQLSTATE: transient only when the socket failed (not a type or parse error).
        None => std::error::Error::source(err)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    settings: PostgresSettings,
    /// This replica in the database's records (`host:pid`; the host is the pod's name).
    replica: String,
    pool: Pool,
    control: Arc<Control>,
    events: watch::Sender<u64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.settings.to_string())
            .finish_non_exhaustive()
    }
}

/// One transaction, with the events it will write at commit.
struct Tx<'a> {
    inner: deadpool_postgres::Transaction<'a>,
    events: Vec<NewEvent>,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    async fn statement(&self, context: &str, sql: &str) -> Result<Statement> {
        self.inner
            .prepare_cached(sql)
            .await
            .map_err(Error::postgres(context))
    }

    /// Every row of `sql`.
    async fn query(&self, context: &str, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let statement = self.statement(context, sql).await?;
        self.inner
            .query(&statement, params)
            .await
            .map_err(Error::postgres(context))
    }

    /// The row of `sql`, if any.
    async fn query_opt(&self, context: &str, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let statement = self.statement(context, sql).await?;
        self.inner
            .query_opt(&statement, params)
            .await
            .map_err(Error::postgres(context))
    }

    /// The one row of `sql`.
    async fn query_one(&self, context: &str, sql: &str, params: Params<'_>) -> Result<Row> {
        let statement = self.statement(context, sql).await?;
        self.inner
            .query_one(&statement, params)
            .await
            .map_err(Error::postgres(context))
    }

    /// Runs `sql`; the number of rows changed.
    async fn execute(&self, context: &str, sql: &str, params: Params<'_>) -> Result<u64> {
        let statement = self.statement(context, sql).await?;
        self.inner
            .execute(&statement, params)
            .await
            .map_err(Error::postgres(context))
    }

    /// Records an event, written when the transaction commits.
    fn event(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Writes the events and commits; the newest event's sequence number, if any.
    async fn commit(self) -> Result<Option<u64>> {
        let newest = events::insert_all(&self.inner, &self.events).await?;
        self.inner
            .commit()
            .await
            .map_err(Error::postgres("committing"))?;
        Ok(newest)
    }
}

/// `host:pid` of this process.
fn replica_name() -> String {
    let host = rustix::system::uname();
    format!(
        "{}:{}",
        host.nodename().to_string_lossy(),
        std::process::id()
    )
}

/// Tells subscribers about `newest` unless they know a newer event.
fn publish(events: &watch::Sender<u64>, newest: u64) {
    events.send_if_modified(|current| {
        let newer = newest > *current;
        if newer {
            *current = newest;
        }
        newer
    });
}

/// A failed try of an operation, and whether it may be tried again.
struct Failed {
    error: Error,
    again: bool,
}

fn classify(error: Error, committing: bool) -> Failed {
    let again = match &error {
        // A commit that failed on a lost connection may have happened: not again.
        Error::Postgres { source, .. } => {
            is_transient(source) && !(committing && source.is_closed())
        }
        Error::StoreUnavailable { .. } => false,
        _ => false,
    };
    Failed { error, again }
}

impl PostgresStore {
    /// Connects, migrates the schema (once, under an advisory lock, whichever replica
    /// starts first) and starts the control connection.
    pub async fn open(settings: PostgresSettings) -> Result<Self> {
        let config = settings.driver_config()?;
        let tls = settings.tls(&config)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(config.clone(), NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(POOL_WAIT),
                create: Some(POOL_WAIT),
                recycle: Some(POOL_WAIT),
            })
            .build()
            .map_err(|err| Error::Config(format!("PostgreSQL connection pool: {err}")))?;
        let context = format!("connecting to {settings}");
        let mut client = pool
            .get()
            .await
            .map_err(|source| Error::StoreUnavailable { context, source })?;
        migrate::migrate(&mut client).await?;
        let last = events::last_sequence(&client).await?;
        drop(client);
        let (events, _) = watch::channel(last);
        let control = Control::start(config, tls, events.clone());
        let replica = replica_name();
        tracing::info!(database = %settings, %replica, "PostgreSQL store open");
        Ok(Self {
            settings,
            replica,
            pool,
            control,
            events,
        })
    }

    async fn client(&self, context: &str) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|source| Error::StoreUnavailable {
                context: context.to_owned(),
                source,
            })
    }
}

/// Runs `$body` (a future using the transaction `$tx`) in a read-write transaction of
/// `$store`, tried again when the database aborts it; an expression of type `Result<T>`.
/// A macro rather than a function over an async closure: the trait's futures must be
/// `Send`, which rustc cannot yet prove through a closure generic over the lifetimes.
macro_rules! write {
    ($store:expr, $context:expr, |$tx:ident| $body:expr) => {{
        let context: &'static str = $context;
        let mut pause = RETRY_PAUSE;
        let mut attempt = 1;
        loop {
            let tried: std::result::Result<_, Failed> = async {
                let mut client = $store.client(context).await.map_err(|err| classify(err, false))?;
                let inner = client
                    .transaction()
                    .await
                    .map_err(|err| classify(Error::postgres(context)(err), false))?;
                let mut transaction = Tx {
                    inner,
                    events: Vec::new(),
                };
                let value = {
                    let $tx = &mut transaction;
                    $body.await.map_err(|err| classify(err, false))?
                };
                let newest = transaction.commit().await.map_err(|err| classify(err, true))?;
                Ok((value, newest))
            }
            .await;
            match tried {
                Ok((value, newest)) => {
                    if let Some(newest) = newest {
                        publish(&$store.events, newest);
                    }
                    break Ok(value);
                }
                Err(failed) if failed.again && attempt < ATTEMPTS => {
                    tracing::debug!(error = %failed.error, attempt, "{context}: trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(failed) => break Err(failed.error),
            }
        }
    }};
}

/// Runs `$body` (a future using the transaction `$tx`) in a read-only transaction that
/// sees one snapshot; an expression of type `Result<T>`.
macro_rules! read {
    ($store:expr, $context:expr, |$tx:ident| $body:expr) => {{
        let context: &'static str = $context;
        async {
            let mut client = $store.client(context).await?;
            let inner = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(Error::postgres(context))?;
            let mut transaction = Tx {
                inner,
                events: Vec::new(),
            };
            let value = {
                let $tx = &mut transaction;
                $body.await?
            };
            transaction
                .inner
                .commit()
                .await
                .map_err(Error::postgres(context))?;
            Ok(value)
        }
        .await
    }};
}

#[async_trait]
impl InventoryStore for PostgresStore {
    async fn begin_session(
        &self,
        node: &NodeKey,
        agent: &Agent,
        now: Timestamp,
    ) -> Result<Session> {
        write!(self, "opening a node session", |tx| async {
            inventory::begin_session(tx, node, agent, now).await
        })
    }

    async fn replace_inventory(
        &self,
        session: &Session,
        full: FullInventory,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        write!(self, "replacing a node's inventory", |tx| async {
            inventory::replace(tx, session, &full, limits, now).await?;
            inventory::claim_builds(tx, session, policy, now).await
        })
    }

    async fn apply_delta(
        &self,
        session: &Session,
        delta: InventoryDelta,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        write!(self, "applying an inventory change", |tx| async {
            inventory::apply_delta(tx, session, &delta, limits, now).await?;
            inventory::claim_builds(tx, session, policy, now).await
        })
    }

    async fn claim_builds(
        &self,
        session: &Session,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        write!(self, "claiming SBOM builds", |tx| async {
            inventory::lock_session(tx, session).await?;
            inventory::claim_builds(tx, session, policy, now).await
        })
    }

    async fn build_failed(
        &self,
        session: &Session,
        digest: &Digest,
        reason: &str,
        retry_at: Timestamp,
    ) -> Result<()> {
        write!(self, "recording a failed SBOM build", |tx| async {
            inventory::build_failed(tx, session, digest, reason, retry_at).await
        })
    }

    async fn touch_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()> {
        write!(self, "recording node heartbeats", |tx| async {
            inventory::touch_all(tx, sessions, now).await
        })
    }

    async fn end_session(&self, session: &Session, now: Timestamp) -> Result<()> {
        write!(self, "ending a node session", |tx| async {
            inventory::end_session(tx, session, now).await
        })
    }

    async fn expire_nodes(&self, cutoff: Timestamp, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let expired: usize = write!(self, "expiring nodes", |tx| async {
                inventory::expire_nodes(tx, cutoff, now, EXPIRE_BATCH).await
            })?;
            total += expired as u64;
            if expired < EXPIRE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl SbomStore for PostgresStore {
    async fn begin_upload(
        &self,
        node: &NodeKey,
        digest: &Digest,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<UploadPermit> {
        write!(self, "checking an SBOM upload", |tx| async {
            sboms::begin_upload(tx, node, digest, policy, now).await
        })
    }

    async fn put_sbom(
        &self,
        node: &NodeKey,
        sbom: ValidatedSbom,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        write!(self, "storing an SBOM", |tx| async {
            sboms::put(tx, node, &sbom, now).await
        })
    }

    async fn get_sbom(&self, digest: &Digest, cluster: Option<&str>) -> Result<Option<StoredSbom>> {
        read!(self, "reading an SBOM", |tx| async {
            sboms::get(tx, digest, cluster).await
        })
    }

    async fn nodes(&self, cluster: Option<String>) -> Result<Vec<NodeSummary>> {
        read!(self, "listing nodes", |tx| async {
            query::nodes(tx, cluster.as_deref()).await
        })
    }

    async fn namespaces(&self, cluster: String) -> Result<Vec<NamespaceSummary>> {
        read!(self, "listing namespaces", |tx| async {
            query::namespaces(tx, &cluster).await
        })
    }

    async fn list_images(
        &self,
        filter: ImageFilter,
        after: Option<Digest>,
        page_size: usize,
    ) -> Result<ImagePage> {
        read!(self, "listing images", |tx| async {
            query::list_images(tx, &filter, after.as_ref(), page_size).await
        })
    }

    async fn find_components(&self, search: ComponentSearch) -> Result<ComponentMatches> {
        read!(self, "finding components", |tx| async {
            query::find_components(tx, &search).await
        })
    }

    async fn placements(&self, filter: ImageFilter, limit: usize) -> Result<Vec<ImagePlacements>> {
        read!(self, "reading placements", |tx| async {
            query::placements(tx, &filter, limit).await
        })
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        read!(self, "reading events", |tx| async {
            events::after(tx, after, limit).await
        })
    }

    async fn last_event(&self) -> Result<u64> {
        let client = self.client("reading the newest event").await?;
        events::last_sequence(&client).await
    }

    fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    async fn prune_history(&self, cutoff: Timestamp) -> Result<Pruned> {
        write!(self, "pruning history", |tx| events::prune(tx, cutoff))
    }

    async fn hold_singleton(&self, job: SingletonJob) -> Result<bool> {
        self.control.hold(job).await
    }
}

#[async_trait]
impl DtrackStore for PostgresStore {
    async fn dtrack_usage(&self, every_image: bool) -> Result<Vec<Usage>> {
        read!(self, "reading the images to forward", |tx| async {
            dtrack::usage(tx, every_image).await
        })
    }

    async fn dtrack_projects(&self) -> Result<Vec<ProjectState>> {
        read!(self, "reading the forwarded projects", |tx| async {
            dtrack::projects(tx).await
        })
    }

    async fn dtrack_plan(&self, plans: Vec<Plan>) -> Result<()> {
        // Planning is a singleton job: written only while this replica holds it.
        let job = SingletonJob::DtrackPlanner;
        let Some(pid) = self.control.holder(job).await? else {
            tracing::info!("another replica plans Dependency-Track changes; this plan is dropped");
            return Ok(());
        };
        write!(self, "queueing Dependency-Track actions", |tx| async {
            control::fence(tx, pid, job).await?;
            dtrack::plan(tx, &plans).await
        })
    }

    async fn dtrack_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>> {
        write!(self, "taking due Dependency-Track actions", |tx| async {
            dtrack::take(tx, &self.replica, now, limit, lease).await
        })
    }

    async fn dtrack_done(&self, id: i64, token: Option<String>) -> Result<()> {
        write!(self, "completing a Dependency-Track action", |tx| async {
            dtrack::done(tx, &self.replica, id, token.as_deref()).await
        })
    }

    async fn dtrack_retry(&self, id: i64, next_at: Timestamp, error: Option<String>) -> Result<()> {
        write!(self, "postponing a Dependency-Track action", |tx| async {
            dtrack::retry(tx, &self.replica, id, next_at, error.as_deref()).await
        })
    }

    async fn dtrack_fail(&self, id: i64, failure: Failure) -> Result<()> {
        write!(
            self,
            "recording a refused Dependency-Track action",
            |tx| async { dtrack::fail(tx, &self.replica, id, &failure).await }
        )
    }

    async fn dtrack_failures(&self, limit: usize) -> Result<Vec<Failure>> {
        read!(
            self,
            "reading refused Dependency-Track actions",
            |tx| async { dtrack::failures(tx, limit).await }
        )
    }

    async fn dtrack_pending(&self) -> Result<u64> {
        read!(
            self,
            "counting queued Dependency-Track actions",
            |tx| async { dtrack::pending(tx).await }
        )
    }
}

#[async_trait]
impl FindingStore for PostgresStore {
    async fn put_findings(
        &self,
        project: &str,
        findings: Vec<Finding>,
        now: Timestamp,
    ) -> Result<()> {
        write!(self, "storing findings", |tx| async {
            findings::put(tx, project, &findings, now).await
        })
    }

    async fn findings_of(&self, digests: Vec<String>) -> Result<Vec<StoredFinding>> {
        read!(self, "reading findings", |tx| async {
            findings::of_digests(tx, &digests).await
        })
    }

    async fn findings_known_as(&self, id: &str) -> Result<Vec<StoredFinding>> {
        read!(self, "finding a vulnerability", |tx| async {
            findings::known_as(tx, id).await
        })
    }
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn alerts_open(&self) -> Result<Vec<OpenAlert>> {
        read!(self, "reading open alerts", |tx| async {
            alerts::open(tx).await
        })
    }

    async fn alerts_apply(&self, changes: AlertChanges, now: Timestamp) -> Result<()> {
        write!(self, "recording alerts", |tx| async {
            alerts::apply(tx, &changes, now).await
        })
    }

    async fn deliveries_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        write!(self, "taking due webhook calls", |tx| async {
            alerts::take(tx, &self.replica, now, limit, lease).await
        })
    }

    async fn delivery_done(&self, id: i64) -> Result<()> {
        write!(self, "completing a webhook call", |tx| async {
            alerts::done(tx, id).await
        })
    }

    async fn delivery_retry(&self, id: i64, next_at: Timestamp, error: String) -> Result<()> {
        write!(self, "postponing a webhook call", |tx| async {
            alerts::retry(tx, id, next_at, &error).await
        })
    }
}

#[async_trait]
impl StatsStore for PostgresStore {
    async fn stats(&self, now: Timestamp) -> Result<StoreStats> {
        read!(self, "reading store statistics", |tx| stats::read(tx, now))
    }
}
