//! The SQLite store: one file, WAL mode, one writer connection and a few readers.
//!
//! Writes are serialized through one connection (SQLite allows one writer at a time
//! anyway); each runs as an IMMEDIATE transaction on a blocking thread. `synchronous =
//! FULL` makes a commit durable before the collector acknowledges it. Readers use their
//! own connections and never block the writer.

mod events;
mod inventory;
mod migrate;
mod query;
mod sboms;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{watch, Mutex, Semaphore};

use super::{
    ClaimPolicy, Claims, ComponentMatches, ComponentSearch, Event, ImageFilter, ImagePage, Pruned,
    PutOutcome, Session, Store, StoredSbom, UploadPermit,
};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::{FullInventory, InventoryDelta, Limits, NodeKey};
use crate::sbom::ValidatedSbom;

/// Reader connections: enough for a few concurrent queries on two cores.
const READERS: usize = 4;
/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Nodes expired per transaction, so that a mass expiry does not hold the writer long.
const EXPIRE_BATCH: usize = 100;

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
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

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it to the newest
    /// schema.
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
            let last_event = events::last_sequence(&writer)?;
            Ok((writer, last_event))
        })
        .await??;
        let (events, _) = watch::channel(last_event);
        Ok(Self {
            readers: Arc::new(ReaderPool::new(path.clone())),
            path,
            writer: Arc::new(Mutex::new(writer)),
            events,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in one write transaction and publishes new events after the commit.
    async fn write<T, F>(&self, context: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        let (result, last_event) = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(Error::database(context))?;
                let value = work(&tx)?;
                tx.commit().map_err(Error::database(context))?;
                Ok(value)
            })();
            let last_event = match &result {
                Ok(_) => events::last_sequence(&conn).ok(),
                Err(_) => None,
            };
            (result, last_event)
        })
        .await?;
        if let Some(sequence) = last_event {
            self.events.send_if_modified(|newest| {
                let newer = sequence > *newest;
                if newer {
                    *newest = sequence;
                }
                newer
            });
        }
        result
    }

    /// Runs `work` in one read transaction (a consistent snapshot).
    async fn read<T, F>(&self, context: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
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
impl Store for SqliteStore {
    async fn begin_session(
        &self,
        node: &NodeKey,
        agent_version: &str,
        now: Timestamp,
    ) -> Result<Session> {
        let node = node.clone();
        let agent_version = agent_version.to_owned();
        self.write("opening a node session", move |tx| {
            inventory::begin_session(tx, &node, &agent_version, now)
        })
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
        self.write("replacing a node's inventory", move |tx| {
            inventory::replace(tx, &session, &full, limits, now)?;
            inventory::claim_builds(tx, &session, policy, now)
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
        self.write("applying an inventory delta", move |tx| {
            inventory::apply_delta(tx, &session, &delta, limits, now)?;
            inventory::claim_builds(tx, &session, policy, now)
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
        self.write("claiming SBOM builds", move |tx| {
            inventory::check_session(tx, &session)?;
            inventory::claim_builds(tx, &session, policy, now)
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
        self.write("recording a failed SBOM build", move |tx| {
            inventory::build_failed(tx, &session, &digest, &reason, retry_at)
        })
        .await
    }

    async fn touch_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()> {
        let sessions = sessions.to_vec();
        self.write("recording node heartbeats", move |tx| {
            for session in &sessions {
                match inventory::touch(tx, session, now) {
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
        self.write("closing a node session", move |tx| {
            inventory::end_session(tx, &session, now)
        })
        .await
    }

    async fn expire_nodes(&self, cutoff: Timestamp, now: Timestamp) -> Result<u64> {
        let mut total = 0;
        loop {
            let expired = self
                .write("expiring nodes", move |tx| {
                    inventory::expire_nodes(tx, cutoff, now, EXPIRE_BATCH)
                })
                .await?;
            total += expired as u64;
            if expired < EXPIRE_BATCH {
                return Ok(total);
            }
        }
    }

    async fn prune_history(&self, cutoff: Timestamp) -> Result<Pruned> {
        self.write("pruning history", move |tx| events::prune(tx, cutoff))
            .await
    }

    async fn begin_upload(
        &self,
        node: &NodeKey,
        digest: &Digest,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<UploadPermit> {
        let node = node.clone();
        let digest = digest.clone();
        self.write("checking an SBOM upload", move |tx| {
            sboms::begin_upload(tx, &node, &digest, policy, now)
        })
        .await
    }

    async fn put_sbom(
        &self,
        node: &NodeKey,
        sbom: ValidatedSbom,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        let node = node.clone();
        self.write("storing an SBOM", move |tx| {
            sboms::put(tx, &node, &sbom, now)
        })
        .await
    }

    async fn get_sbom(&self, digest: &Digest) -> Result<Option<StoredSbom>> {
        let digest = digest.clone();
        self.read("reading an SBOM", move |tx| sboms::get(tx, &digest))
            .await
    }

    async fn list_images(
        &self,
        filter: ImageFilter,
        after: Option<Digest>,
        page_size: usize,
    ) -> Result<ImagePage> {
        self.read("listing images", move |tx| {
            query::list_images(tx, &filter, after.as_ref(), page_size)
        })
        .await
    }

    async fn find_components(&self, search: ComponentSearch) -> Result<ComponentMatches> {
        self.read("finding components", move |tx| {
            query::find_components(tx, &search)
        })
        .await
    }

    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.read("reading events", move |tx| events::after(tx, after, limit))
            .await
    }

    async fn last_event(&self) -> Result<u64> {
        self.read("reading the newest event", |tx| events::last_sequence(tx))
            .await
    }

    fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }
}
