//! Forwarding to OWASP Dependency-Track (DT).
//!
//! A reconciler turns where images are used (the store's workloads) into the DT state
//! nodebom wants per image digest — project name and version from templates, one
//! `cluster:<name>` tag per cluster using it (kept for a grace period after the last
//! use), active while any cluster uses it — and writes the actions that get DT there
//! into a durable outbox in the same transaction. A worker drains the outbox per project
//! in order, waiting for DT's processing token before the next upload to a project.
//! A DT outage or a collector restart loses nothing: an action leaves the outbox only
//! once DT has done it or refused it for good (then it is recorded in
//! `dtrack_failures` and logged at warn).

pub mod client;
pub mod config;
pub mod findings;
mod fixes;
pub mod policy;
pub mod reconcile;
pub mod template;
pub mod version;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::{SingletonJob, Store};

pub use client::{DtClient, DtError};
pub use config::{DtrackArgs, DtrackSettings};
pub use worker::Drained;

/// How often the outbox is looked at when nothing wakes the forwarder.
const TICK: Duration = Duration::from_millis(500);
/// Least time between two reconciliations caused by store events, so that a burst of
/// inventory changes is planned once.
const SETTLE: Duration = Duration::from_secs(1);

/// The reconciler and outbox worker.
#[derive(Clone)]
pub struct Forwarder {
    store: Arc<dyn Store>,
    settings: DtrackSettings,
    worker: worker::Worker,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("url", &self.settings.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// A forwarder for `store` to the DT of `settings`.
    pub fn new(store: Arc<dyn Store>, settings: DtrackSettings) -> Result<Self> {
        let client = DtClient::new(settings.url.clone(), settings.api_key.clone())?;
        let worker = worker::Worker {
            store: Arc::clone(&store),
            client,
            parent: settings.parent.clone(),
            parent_ready: Arc::default(),
            backoff: settings.backoff,
            lease: settings.lease,
            metrics: Metrics::new(),
            fixes: fixes::FixedVersions::default(),
        };
        Ok(Self {
            store,
            settings,
            worker,
        })
    }

    /// The same forwarder, counting its DT calls and refused actions into `metrics`
    /// (by default, into metrics of its own that nothing exports).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.worker.client = self.worker.client.with_metrics(metrics.clone());
        self.worker.metrics = metrics;
        self
    }

    /// The DT client it uses.
    pub fn client(&self) -> &DtClient {
        &self.worker.client
    }

    /// The store it forwards from.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Its settings.
    pub fn settings(&self) -> &DtrackSettings {
        &self.settings
    }

    /// Compares where images are used at `now` with what DT was last asked for and
    /// queues the difference. Returns the number of actions queued.
    pub async fn reconcile(&self, now: Timestamp) -> Result<usize> {
        // Two replicas planning at once would queue the same actions twice.
        if !self
            .store
            .hold_singleton(SingletonJob::DtrackPlanner)
            .await?
        {
            return Ok(0);
        }
        let usage = self.store.dtrack_usage(self.settings.every_image).await?;
        let known = self.store.dtrack_projects().await?;
        let plans = reconcile::plan(&usage, &known, now, &self.settings.rules);
        let queued = plans.iter().map(|plan| plan.actions.len()).sum();
        if !plans.is_empty() {
            self.store.dtrack_plan(plans).await?;
        }
        Ok(queued)
    }

    /// Tries every project's oldest due action once.
    pub async fn drain(&self, now: Timestamp) -> Result<Drained> {
        self.worker.drain(now).await
    }

    /// Runs until `cancel`: reconciles on store events and periodically, drains the
    /// outbox continuously.
    pub fn spawn(self, cancel: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move { self.run(cancel).await })
    }

    async fn run(self, cancel: CancellationToken) {
        let mut events = self.store.subscribe_events();
        let mut changed = true;
        let mut last_reconcile: Option<tokio::time::Instant> = None;
        loop {
            let since = last_reconcile.map_or(Duration::MAX, |at| at.elapsed());
            if (changed && since >= SETTLE) || since >= self.settings.reconcile_interval {
                changed = false;
                last_reconcile = Some(tokio::time::Instant::now());
                let reconciled = tokio::select! {
                    () = cancel.cancelled() => return,
                    reconciled = self.reconcile(Timestamp::now()) => reconciled,
                };
                if let Err(err) = reconciled {
                    tracing::warn!(error = %err, "planning Dependency-Track changes failed");
                }
            }
            // A drain cut short by shutdown is safe: unfinished actions stay queued.
            let drained = tokio::select! {
                () = cancel.cancelled() => return,
                drained = self.drain(Timestamp::now()) => drained,
            };
            match drained {
                Ok(drained) if drained.done + drained.failed > 0 => continue,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "draining the Dependency-Track outbox failed")
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                closed = events.changed() => {
                    if closed.is_err() {
                        return;
                    }
                    changed = true;
                }
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }
}
