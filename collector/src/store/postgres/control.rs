//! The control connection of a replica: `LISTEN`s for events other replicas commit and
//! holds the session advisory locks of the singleton jobs this replica runs. When it
//! breaks, the locks are gone (the server released them with the session) and it is
//! opened again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Mutex};
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls};

use super::settings::Tls;
use super::{events, lock_keys, publish, Tx, EVENTS_CHANNEL};
use crate::error::{Error, Result};
use crate::store::SingletonJob;

/// How often the control connection is checked and the newest event re-read (events
/// whose notification was lost while the connection was down are found this way).
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for the control connection (connecting, or a query): a connection that
/// does not answer in time is dropped, with the locks it held.
const PATIENCE: Duration = Duration::from_secs(10);

pub(super) struct Control {
    config: Config,
    tls: Option<Tls>,
    events: watch::Sender<u64>,
    open: Mutex<Option<Open>>,
}

struct Open {
    client: Client,
    /// Its server process, which `pg_locks` names as the holder of its locks.
    pid: i32,
    held: HashSet<SingletonJob>,
}

fn job_key(job: SingletonJob) -> i64 {
    lock_keys::JOBS
        + match job {
            SingletonJob::Janitor => 0,
            SingletonJob::DtrackPlanner => 1,
            SingletonJob::Policies => 2,
            SingletonJob::Notifier => 3,
        }
}

impl Control {
    /// Starts the connection and its check loop; the loop ends with the last `Arc`.
    pub(super) fn start(config: Config, tls: Option<Tls>, events: watch::Sender<u64>) -> Arc<Self> {
        let control = Arc::new(Self {
            config,
            tls,
            events,
            open: Mutex::new(None),
        });
        let weak = Arc::downgrade(&control);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(control) = weak.upgrade() else {
                    return;
                };
                if let Err(err) = control.refresh().await {
                    tracing::warn!(error = %err, "PostgreSQL control connection");
                }
            }
        });
        control
    }

    /// Opens the connection if needed and publishes the newest event.
    async fn refresh(&self) -> Result<()> {
        let mut open = self.open.lock().await;
        let newest = within(&mut open, async |open| {
            let client = self.connected(open).await?;
            events::last_sequence(client).await
        })
        .await?;
        publish(&self.events, newest);
        Ok(())
    }

    async fn connected<'a>(&self, open: &'a mut Option<Open>) -> Result<&'a Client> {
        if open.as_ref().is_some_and(|open| open.client.is_closed()) {
            let lost = open.take().map(|open| open.held).unwrap_or_default();
            if !lost.is_empty() {
                tracing::warn!(jobs = ?lost, "control connection lost; singleton jobs released");
            }
        }
        if open.is_none() {
            let client = match &self.tls {
                Some(tls) => {
                    let (client, connection) = self
                        .config
                        .connect(tls.clone())
                        .await
                        .map_err(Error::postgres("opening the control connection"))?;
                    tokio::spawn(drive(connection, self.events.clone()));
                    client
                }
                None => {
                    let (client, connection) = self
                        .config
                        .connect(NoTls)
                        .await
                        .map_err(Error::postgres("opening the control connection"))?;
                    tokio::spawn(drive(connection, self.events.clone()));
                    client
                }
            };
            client
                .batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
                .await
                .map_err(Error::postgres("listening for events"))?;
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(Error::postgres("opening the control connection"))?;
            *open = Some(Open {
                client,
                pid,
                held: HashSet::new(),
            });
        }
        match open.as_ref() {
            Some(open) => Ok(&open.client),
            None => Err(Error::Internal("control connection missing".into())),
        }
    }

    /// True when this replica runs `job` now: it holds the job's lock, or took it.
    pub(super) async fn hold(&self, job: SingletonJob) -> Result<bool> {
        Ok(self.holder(job).await?.is_some())
    }

    /// The server process of the control session when it holds `job`'s lock (taking it
    /// if it is free), for [`fence`].
    pub(super) async fn holder(&self, job: SingletonJob) -> Result<Option<i32>> {
        let mut open = self.open.lock().await;
        within(&mut open, async |open| {
            self.connected(open).await?;
            let Some(open) = open.as_mut() else {
                return Ok(None);
            };
            if !open.held.contains(&job) {
                let taken: bool = open
                    .client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&job_key(job)])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(Error::postgres("taking a singleton job's lock"))?;
                if !taken {
                    return Ok(None);
                }
                tracing::info!(?job, "this replica runs the job now");
                open.held.insert(job);
            }
            Ok(Some(open.pid))
        })
        .await
    }
}

/// Runs `work` on the control connection within [`PATIENCE`]; on a timeout or a lost
/// connection the connection is dropped (the server releases its locks).
async fn within<T>(
    open: &mut Option<Open>,
    work: impl AsyncFnOnce(&mut Option<Open>) -> Result<T>,
) -> Result<T> {
    let outcome = tokio::time::timeout(PATIENCE, work(open)).await;
    let result = outcome.unwrap_or_else(|_| {
        Err(Error::Internal(format!(
            "the PostgreSQL control connection did not answer within {PATIENCE:?}"
        )))
    });
    if result.is_err() {
        if let Some(lost) = open.take() {
            if !lost.held.is_empty() {
                tracing::warn!(jobs = ?lost.held, "control connection dropped; singleton jobs released");
            }
        }
    }
    result
}

/// Fails unless the session `pid` still holds `job`'s lock, checked inside `tx`: a
/// singleton job's writes are fenced by it, so a replica that lost its control session
/// (and the job) a moment ago does not write next to the replica that took over.
pub(super) async fn fence(tx: &Tx<'_>, pid: i32, job: SingletonJob) -> Result<()> {
    let key = job_key(job) as u64;
    let (high, low) = ((key >> 32) as u32, key as u32);
    let held = tx
        .query_opt(
            "checking a singleton job's lock",
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1
                 AND classid = $2 AND objid = $3 AND objsubid = 1",
            &[&pid, &high, &low],
        )
        .await?
        .is_some();
    if !held {
        return Err(Error::Internal(format!(
            "{job:?} moved to another replica; its writes here are dropped"
        )));
    }
    Ok(())
}

/// Drives the connection and publishes the sequence numbers other replicas notify.
async fn drive<S, T>(mut connection: Connection<S, T>, events: watch::Sender<u64>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(note)) => {
                if let Ok(newest) = note.payload().parse::<u64>() {
                    publish(&events, newest);
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "PostgreSQL control connection closed");
                return;
            }
        }
    }
}
