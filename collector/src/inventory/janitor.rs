//! Background upkeep of the inventory.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::LiveSessions;
use crate::clock::Timestamp;
use crate::store::{SingletonJob, Store};

/// When nodes expire and history is pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JanitorSettings {
    /// A node not seen for this long loses its state.
    pub node_expiry: Duration,
    /// Events and stopped workloads are kept this long.
    pub history_retention: Duration,
}

impl JanitorSettings {
    /// How often heartbeats are written and expiry and pruning run: often enough that a
    /// live node is never near its expiry, at most once a minute.
    pub fn tick(&self) -> Duration {
        (self.node_expiry.min(self.history_retention) / 4)
            .clamp(Duration::from_millis(25), Duration::from_secs(60))
    }
}

/// Starts the task that writes the heartbeats of open sessions, expires silent nodes and
/// prunes history, until `cancel`.
pub fn spawn_janitor(
    store: Arc<dyn Store>,
    sessions: Arc<LiveSessions>,
    settings: JanitorSettings,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(settings.tick());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = Timestamp::now();
            let live = sessions.snapshot();
            if !live.is_empty() {
                if let Err(err) = store.touch_sessions(&live, now).await {
                    tracing::error!(error = %err, "could not record node heartbeats");
                }
            }
            // Heartbeats are every replica's; expiry and pruning one replica's at a time.
            match store.hold_singleton(SingletonJob::Janitor).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether this replica runs the janitor");
                    continue;
                }
            }
            match store
                .expire_nodes(now.saturating_sub(settings.node_expiry), now)
                .await
            {
                Ok(0) => {}
                Ok(expired) => tracing::info!(
                    expired,
                    "expired nodes that were not seen for {:?}",
                    settings.node_expiry
                ),
                Err(err) => tracing::error!(error = %err, "could not expire nodes"),
            }
            match store
                .prune_history(now.saturating_sub(settings.history_retention))
                .await
            {
                Ok(pruned) if pruned.events + pruned.workloads > 0 => {
                    tracing::debug!(
                        events = pruned.events,
                        workloads = pruned.workloads,
                        "pruned history"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "could not prune history"),
            }
        }
    })
}
