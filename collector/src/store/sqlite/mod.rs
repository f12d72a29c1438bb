//! The SQLite store: one file, WAL mode, one writer thread and a few readers.
//!
//! All writes go through one thread that owns the write connection (SQLite allows one
//! writer at a time anyway). It commits in groups: the operations that queued up while
//! the previous commit was running share one transaction, each inside its own savepoint,
//! so a failing operation rolls back alone and thousands of agents cost one fsync per
//! group instead of one per message. An operation's result is handed back only after its
//! group committed with `synchronous = FULL`: an acknowledgement means it is on disk.
//! Readers use their own connections and never block the writer.

mod alerts;
mod dtrack;
mod events;
mod findings;
mod inventory;
mod migrate;
mod query;
mod sboms;
mod stats;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

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

/// Reader connections: enough for a few concurrent queries on two cores.
const READERS: usize = 4;
/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Nodes expired per transaction, so that a mass expiry does not hold the writer long.
const EXPIRE_BATCH: usize = 100;
/// Most operations committed together.
const GROUP: usize = 256;
/// How often the writer refreshes the query planner's statistics.
const OPTIMIZE_EVERY: Duration = Duration::from_secs(3600);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;
/// SQLite page cache of the writer connection, in KiB. Each commit costs time in
/// proportion to it (the end of a transaction walks the cache: 12 % of the writer's
/// time with 32 MiB during a fleet-wide reconnect), more than the reads a larger cache
/// saves, which the OS page cache serves.
const WRITER_CACHE_KIB: i64 = 8 * 1024;
/// SQLite page cache of each reader connection, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;
/// WAL pages after which a commit checkpoints. A group of full inventories changes
/// index pages all over the database; checkpointing every 1,000 pages (SQLite's
/// default) would copy the same pages to the database file after nearly every commit.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 16 * 1024;
/// Operations waiting for the writer before callers wait to queue more.
const QUEUE: usize = 1024;

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    writes: mpsc::Sender<Box<dyn Job>>,
    readers: Arc<ReaderPool>,
    events: watch::Sender<u64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// An operation for the writer thread.
trait Job: Send {
    /// Runs inside the group's transaction (in a savepoint of its own).
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Outcome>;
    /// The group could not start; the operation did not run.
    fn abort(self: Box<Self>, error: Error);
}

/// The result of an operation, held until its group commits.
trait Outcome: Send {
    /// True when the operation succeeded and its savepoint should be kept.
    fn succeeded(&self) -> bool;
    /// Delivers the result, or `failure` when the group (or the savepoint) did not commit.
    fn finish(self: Box<Self>, failure: Option<Error>);
}

struct WriteJob<T, F> {
    work: F,
    done: oneshot::Sender<Result<T>>,
}

struct WriteOutcome<T> {
    result: Result<T>,
    done: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Outcome> {
        let result = (self.work)(conn);
        Box::new(WriteOutcome {
            result,
            done: self.done,
        })
    }

    fn abort(self: Box<Self>, error: Error) {
        let _ = self.done.send(Err(error));
    }
}

impl<T: Send + 'static> Outcome for WriteOutcome<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, failure: Option<Error>) {
        let result = match (self.result, failure) {
            (Ok(_), Some(failure)) => Err(failure),
            (result, _) => result,
        };
        let _ = self.done.send(result);
    }
}

/// A copy of `err` for each operation of a failed group (`rusqlite::Error` is not
/// `Clone`).
fn group_failure(context: &str, err: &rusqlite::Error) -> Error {
    let source = match err {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    };
    Error::Database {
        context: context.to_owned(),
        source,
    }
}

/// The writer thread: takes the queued operations in groups and commits each group once.
fn run_writer(
    mut conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    events: watch::Sender<u64>,
) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(GROUP);
    let mut optimized = Instant::now();
    while let Some(first) = jobs.blocking_recv() {
        if optimized.elapsed() > OPTIMIZE_EVERY {
            // Refreshes the planner's statistics as tables grow; cheap when nothing changed.
            if let Err(err) = conn.execute_batch("PRAGMA optimize") {
                tracing::warn!(error = %err, "PRAGMA optimize failed");
            }
            optimized = Instant::now();
        }
        group.push(first);
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                for job in group.drain(..) {
                    job.abort(group_failure("starting a write transaction", &err));
                }
                continue;
            }
        };
        let mut outcomes: Vec<(Box<dyn Outcome>, Option<Error>)> = Vec::with_capacity(group.len());
        for job in group.drain(..) {
            let savepoint = match tx.savepoint() {
                Ok(savepoint) => savepoint,
                Err(err) => {
                    job.abort(group_failure("starting a savepoint", &err));
                    continue;
                }
            };
            // A panicking operation loses its result (its caller sees an internal error)
            // and its changes, not the writer.
            let Ok(outcome) = catch_unwind(AssertUnwindSafe(|| job.run(&savepoint))) else {
                continue;
            };
            // A failed operation's savepoint rolls back when dropped.
            let released = if outcome.succeeded() {
                savepoint
                    .commit()
                    .err()
                    .map(|err| group_failure("releasing a savepoint", &err))
            } else {
                None
            };
            outcomes.push((outcome, released));
        }
        let committed = tx.commit();
        for (outcome, released) in outcomes {
            let failure = match &committed {
                Ok(()) => released,
                Err(err) => Some(group_failure("committing", err)),
            };
            outcome.finish(failure);
        }
        if let Ok(sequence) = events::last_sequence(&conn) {
            events.send_if_modified(|newest| {
                let newer = sequence > *newest;
                if newer {
                    *newest = sequence;
                }
                newer
            });
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it to the newest
    /// schema and starts its writer thread.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let opened = path.clone();
        let (writer, last_event) = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(dir) = opened.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(Error::io(format!(
                    "creating data directory {}",
                    dir.display()
                )))?;
            }
            let mut writer = open_connection(&opened, false)?;
            migrate::migrate(&mut writer)?;
            writer
                .execute_batch("PRAGMA optimize = 0x10002")
                .map_err(Error::database("analyzing the database"))?;
            let last_event = events::last_sequence(&writer)?;
            Ok((writer, last_event))
        })
        .await??;
        let (events, _) = watch::channel(last_event);
        let (writes, jobs) = mpsc::channel(QUEUE);
        let publisher = events.clone();
        std::thread::Builder::new()
            .name("nodebom-sqlite-writer".into())
            .spawn(move || run_writer(writer, jobs, publisher))
            .map_err(Error::io("starting the database writer thread"))?;
        Ok(Self {
            readers: Arc::new(ReaderPool::new(path.clone())),
            path,
            writes,
            events,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in the writer thread; the result comes back once it is committed.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.writes
            .send(Box::new(WriteJob { work, done }))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        result.await.map_err(|_| {
            Error::Internal("a database write panicked or the writer stopped".into())
        })?
    }

    /// Runs `work` in one read transaction (a consistent snapshot).
    async fn read<T, F>(&self, context: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers
            .run(move |conn| {
                let tx = conn.transaction().map_err(Error::database(context))?;
                work(&tx)
            })
            .await
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let context = || format!("opening {}", path.display());
    let conn = Connection::open_with_flags(path, flags).map_err(Error::database(context()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(Error::database(context()))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(Error::database(context()))?;
    // Every statement is prepared once per connection; the default cache of 16 is smaller
    // than the store's set of statements.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Page cache (negative: KiB). The writer touches every node's rows; readers walk
    // indexes of whole images.
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.pragma_update(None, "cache_size", -cache_kib)
        .map_err(Error::database(context()))?;
    if !read_only {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(Error::database(context()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "{} cannot use write-ahead logging (journal mode is {mode})",
                path.display()
            )));
        }
        // An acknowledged upload or inventory must survive a power cut, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(Error::database(context()))?;
        // Each operation of a group runs in a savepoint, whose journal of the pages it
        // changes would otherwise spill to a temporary file after 64 KiB.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(Error::database(context()))?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(Error::database(context()))?;
    }
    Ok(conn)
}

/// A small pool of read-only connections.
///
/// Hand-written because `r2d2_sqlite` and `deadpool-sqlite` pin rusqlite 0.40, and the
/// workspace links SQLite once through rusqlite 0.41.
struct ReaderPool {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReaderPool {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: std::sync::Mutex::new(Vec::with_capacity(READERS)),
            permits: Semaphore::new(READERS),
        }
    }

    async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().ok().and_then(|mut idle| idle.pop());
            let mut conn = match idle {
                Some(conn) => conn,
                None => open_connection(&pool.path, true)?,
            };
            let result = work(&mut conn);
            if let Ok(mut idle) = pool.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await?
    }
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn begin_session(
        &self,
        node: &NodeKey,
        agent: &Agent,
        now: Timestamp,
    ) -> Result<Session> {
        let node = node.clone();
        let agent = agent.clone();
        self.write(move |conn| inventory::begin_session(conn, &node, &agent, now))
            .await
    }

    async fn replace_inventory(
        &self,
        session: &Session,
        full: FullInventory,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        let session = session.clone();
        self.write(move |conn| {
            inventory::replace(conn, &session, &full, limits, now)?;
            inventory::claim_builds(conn, &session, policy, now)
        })
        .await
    }

    async fn apply_delta(
        &self,
        session: &Session,
        delta: InventoryDelta,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        let session = session.clone();
        self.write(move |conn| {
            inventory::apply_delta(conn, &session, &delta, limits, now)?;
            inventory::claim_builds(conn, &session, policy, now)
        })
        .await
    }

    async fn claim_builds(
        &self,
        session: &Session,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        let session = session.clone();
        self.write(move |conn| {
            inventory::check_session(conn, &session)?;
            inventory::claim_builds(conn, &session, policy, now)
        })
        .await
    }

    async fn build_failed(
        &self,
        session: &Session,
        digest: &Digest,
        reason: &str,
        retry_at: Timestamp,
    ) -> Result<()> {
        let session = session.clone();
        let digest = digest.clone();
        let reason = reason.to_owned();
        self.write(move |conn| inventory::build_failed(conn, &session, &digest, &reason, retry_at))
            .await
    }

    async fn touch_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()> {
        let sessions = sessions.to_vec();
        self.write(move |conn| {
            for session in &sessions {
                match inventory::touch(conn, session, now) {
                    Ok(()) | Err(Error::Superseded { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        })
        .await
    }

    async fn end_session(&self, session: &Session, now: Timestamp) -> Result<()> {
        let session = session.clone();
        self.write(move |conn| inventory::end_session(conn, &session, now))
            .await
    }

    async fn expire_nodes(&self, cutoff: Timestamp, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let expired = self
                .write(move |conn| inventory::expire_nodes(conn, cutoff, now, EXPIRE_BATCH))
                .await?;
            total += expired as u64;
            if expired < EXPIRE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl SbomStore for SqliteStore {
    async fn begin_upload(
        &self,
        node: &NodeKey,
        digest: &Digest,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<UploadPermit> {
        let node = node.clone();
        let digest = digest.clone();
        self.write(move |conn| sboms::begin_upload(conn, &node, &digest, policy, now))
            .await
    }

    async fn put_sbom(
        &self,
        node: &NodeKey,
        sbom: ValidatedSbom,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        let node = node.clone();
        self.write(move |conn| sboms::put(conn, &node, &sbom, now))
            .await
    }

    async fn get_sbom(&self, digest: &Digest, cluster: Option<&str>) -> Result<Option<StoredSbom>> {
        let cluster = cluster.map(str::to_owned);
        let digest = digest.clone();
        self.read("reading an SBOM", move |conn| {
            sboms::get(conn, &digest, cluster.as_deref())
        })
        .await
    }

    async fn nodes(&self, cluster: Option<String>) -> Result<Vec<NodeSummary>> {
        self.read("listing nodes", move |conn| {
            query::nodes(conn, cluster.as_deref())
        })
        .await
    }

    async fn namespaces(&self, cluster: String) -> Result<Vec<NamespaceSummary>> {
        self.read("listing namespaces", move |conn| {
            query::namespaces(conn, &cluster)
        })
        .await
    }

    async fn list_images(
        &self,
        filter: ImageFilter,
        after: Option<Digest>,
        page_size: usize,
    ) -> Result<ImagePage> {
        self.read("listing images", move |conn| {
            query::list_images(conn, &filter, after.as_ref(), page_size)
        })
        .await
    }

    async fn find_components(&self, search: ComponentSearch) -> Result<ComponentMatches> {
        self.read("finding components", move |conn| {
            query::find_components(conn, &search)
        })
        .await
    }

    async fn placements(&self, filter: ImageFilter, limit: usize) -> Result<Vec<ImagePlacements>> {
        self.read("reading placements", move |conn| {
            query::placements(conn, &filter, limit)
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.read("reading events", move |conn| {
            events::after(conn, after, limit)
        })
        .await
    }

    async fn last_event(&self) -> Result<u64> {
        self.read("reading the newest event", |conn| {
            events::last_sequence(conn)
        })
        .await
    }

    fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    async fn hold_singleton(&self, _job: SingletonJob) -> Result<bool> {
        // One process owns an SQLite database.
        Ok(true)
    }

    async fn prune_history(&self, cutoff: Timestamp) -> Result<Pruned> {
        self.write(move |conn| events::prune(conn, cutoff)).await
    }
}

#[async_trait]
impl DtrackStore for SqliteStore {
    async fn dtrack_usage(&self, every_image: bool) -> Result<Vec<Usage>> {
        self.read("reading the images to forward", move |tx| {
            dtrack::usage(tx, every_image)
        })
        .await
    }

    async fn dtrack_projects(&self) -> Result<Vec<ProjectState>> {
        self.read("reading the forwarded projects", dtrack::projects)
            .await
    }

    async fn dtrack_plan(&self, plans: Vec<Plan>) -> Result<()> {
        self.write(move |tx| dtrack::plan(tx, &plans)).await
    }

    async fn dtrack_take(
        &self,
        now: Timestamp,
        limit: usize,
        _lease: Duration,
    ) -> Result<Vec<OutboxItem>> {
        // One process works an SQLite store's outbox, one drain at a time: nothing to
        // lease.
        self.read("reading due Dependency-Track actions", move |tx| {
            dtrack::due(tx, now, limit)
        })
        .await
    }

    async fn dtrack_done(&self, id: i64, token: Option<String>) -> Result<()> {
        self.write(move |tx| dtrack::done(tx, id, token.as_deref()))
            .await
    }

    async fn dtrack_retry(&self, id: i64, next_at: Timestamp, error: Option<String>) -> Result<()> {
        self.write(move |tx| dtrack::retry(tx, id, next_at, error.as_deref()))
            .await
    }

    async fn dtrack_fail(&self, id: i64, failure: Failure) -> Result<()> {
        self.write(move |tx| dtrack::fail(tx, id, &failure)).await
    }

    async fn dtrack_failures(&self, limit: usize) -> Result<Vec<Failure>> {
        self.read("reading refused Dependency-Track actions", move |tx| {
            dtrack::failures(tx, limit)
        })
        .await
    }

    async fn dtrack_pending(&self) -> Result<u64> {
        self.read("counting queued Dependency-Track actions", dtrack::pending)
            .await
    }
}

#[async_trait]
impl FindingStore for SqliteStore {
    async fn put_findings(
        &self,
        project: &str,
        findings: Vec<Finding>,
        now: Timestamp,
    ) -> Result<()> {
        let project = project.to_owned();
        self.write(move |tx| findings::put(tx, &project, &findings, now))
            .await
    }

    async fn findings_of(&self, digests: Vec<String>) -> Result<Vec<StoredFinding>> {
        self.read("reading findings", move |tx| {
            findings::of_digests(tx, &digests)
        })
        .await
    }

    async fn findings_known_as(&self, id: &str) -> Result<Vec<StoredFinding>> {
        let id = id.to_owned();
        self.read("finding a vulnerability", move |tx| {
            findings::known_as(tx, &id)
        })
        .await
    }
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn alerts_open(&self) -> Result<Vec<OpenAlert>> {
        self.read("reading open alerts", alerts::open).await
    }

    async fn alerts_apply(&self, changes: AlertChanges, now: Timestamp) -> Result<()> {
        self.write(move |tx| alerts::apply(tx, &changes, now)).await
    }

    async fn deliveries_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        self.write(move |tx| alerts::take(tx, now, limit, lease))
            .await
    }

    async fn delivery_done(&self, id: i64) -> Result<()> {
        self.write(move |tx| alerts::done(tx, id)).await
    }

    async fn delivery_retry(&self, id: i64, next_at: Timestamp, error: String) -> Result<()> {
        self.write(move |tx| alerts::retry(tx, id, next_at, &error))
            .await
    }
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn stats(&self, now: Timestamp) -> Result<StoreStats> {
        self.read("reading store statistics", move |tx| stats::read(tx, now))
            .await
    }
}
