//! Keeps the inventory current from containerd's events, across containerd restarts.

use std::time::Duration;

use nodebom_proto::retry::{Backoff, Retries};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::events::{self, Event};
use super::state::State;
use super::{diff, InventoryUpdate};
use crate::containerd::api::types::Envelope;
use crate::containerd::{Containerd, EventStream};
use crate::image::Platform;
use crate::{Error, Result};

/// Most events gathered into one delta; the rest wait for the next one.
const MAX_BATCH: usize = 256;
/// Shortest period of the periodic listing.
const MIN_RESYNC_INTERVAL: Duration = Duration::from_millis(100);

/// What [`watch`] watches and how it reconnects.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// containerd's gRPC socket.
    pub socket: String,
    /// containerd namespace; Kubernetes uses `k8s.io`.
    pub namespace: String,
    /// Platform images are resolved for; normally [`Platform::host`].
    pub platform: Platform,
    /// Delay before the first reconnect; it doubles up to `max_backoff`, and each delay
    /// is stretched by a random share of up to 100% so that the agents of a cluster do
    /// not reconnect in step. Reset once a connection has listed the inventory.
    pub min_backoff: Duration,
    /// Longest delay between reconnects (before jitter).
    pub max_backoff: Duration,
    /// Events arriving within this window after a first one become one delta (an image
    /// pull or a pod start is a burst of events).
    pub batch_window: Duration,
    /// How often the records are listed again to catch what the events missed; a
    /// difference is sent as [`InventoryUpdate::Full`]. Image resolutions are kept, so
    /// this costs one list of images and one of containers. At least 100 ms.
    pub resync_interval: Duration,
}

impl WatchConfig {
    /// Defaults: reconnect after 250 ms doubling up to 30 s, 100 ms batches, list again
    /// every 5 minutes.
    pub fn new(
        socket: impl Into<String>,
        namespace: impl Into<String>,
        platform: Platform,
    ) -> Self {
        WatchConfig {
            socket: socket.into(),
            namespace: namespace.into(),
            platform,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            batch_window: Duration::from_millis(100),
            resync_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// Starts [`watch`] as a task; its updates arrive on the returned channel, which holds
/// at most `capacity` of them (the watch waits while it is full). The task ends when
/// `cancel` fires or the receiver is dropped.
pub fn spawn_watch(
    config: WatchConfig,
    capacity: usize,
    cancel: CancellationToken,
) -> (mpsc::Receiver<InventoryUpdate>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let task = tokio::spawn(watch(config, sender, cancel));
    (receiver, task)
}

/// Watches containerd until `cancel` fires or `updates` is closed: on each connection,
/// subscribes to events, lists everything and sends [`InventoryUpdate::Full`], then
/// sends an [`InventoryUpdate::Delta`] for each burst of events that changed something.
/// A lost connection (containerd restarting) is retried with backoff and jitter; an
/// unreadable event, or a periodic list that finds what the events missed, sends a
/// full inventory again.
pub async fn watch(
    config: WatchConfig,
    updates: mpsc::Sender<InventoryUpdate>,
    cancel: CancellationToken,
) {
    let mut reconnect = Backoff::new(config.min_backoff, config.max_backoff).retries();
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = session(&config, &updates, &mut reconnect) => outcome,
        };
        let error = match outcome {
            Ok(Closed) => {
                debug!("inventory receiver gone; watch ends");
                return;
            }
            Err(error) => error,
        };
        let delay = reconnect.next_delay();
        warn!(%error, retry_in_ms = delay.as_millis() as u64, "containerd watch interrupted; will list again");
        tokio::select! {
            () = cancel.cancelled() => return,
            () = updates.closed() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The receiver of the updates is gone.
struct Closed;

/// One connection: list, then follow events until an error.
async fn session(
    config: &WatchConfig,
    updates: &mpsc::Sender<InventoryUpdate>,
    reconnect: &mut Retries,
) -> Result<Closed> {
    let client = Containerd::connect(&config.socket, &config.namespace).await?;
    // Subscribe before listing, so that nothing changes unseen in between.
    let mut stream = client.subscribe(events::filters(&config.namespace));
    let mut state = State::load(&client, &config.platform).await?;
    reconnect.reset();
    let mut current = state.inventory();
    info!(
        images = current.images.len(),
        workloads = current.workloads.len(),
        containerd = %client.socket(),
        "inventory listed"
    );
    if updates
        .send(InventoryUpdate::Full(current.clone()))
        .await
        .is_err()
    {
        return Ok(Closed);
    }
    let period = config.resync_interval.max(MIN_RESYNC_INTERVAL);
    let mut resync = tokio::time::interval_at(Instant::now() + period, period);
    resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            envelope = stream.next() => Some(envelope?.ok_or_else(|| stream_closed(&client))?),
            _ = resync.tick() => None,
        };
        // Whether the events did not tell everything: then the whole inventory goes out.
        let gap = match first {
            Some(first) => {
                let batch = gather(&client, &mut stream, first, config.batch_window).await?;
                let mut gap = false;
                for event in batch {
                    match event {
                        Some(event) => state.apply(&client, event).await?,
                        None => {
                            gap = true;
                            break;
                        }
                    }
                }
                if gap {
                    state = state.reload(&client).await?;
                }
                gap
            }
            None => {
                // Heals what events cannot tell, such as one published before containerd
                // had registered the subscription.
                let listed = state.reload(&client).await?;
                let missed = listed.inventory() != current;
                if missed {
                    warn!("containerd's records differ from what its events said");
                }
                state = listed;
                missed
            }
        };
        if gap {
            current = state.inventory();
            info!(
                images = current.images.len(),
                workloads = current.workloads.len(),
                "inventory listed again"
            );
            if updates
                .send(InventoryUpdate::Full(current.clone()))
                .await
                .is_err()
            {
                return Ok(Closed);
            }
            continue;
        }
        let next = state.inventory();
        let changes = diff(&current, &next);
        current = next;
        if changes.is_empty() {
            continue;
        }
        debug!(changes = changes.len(), "inventory changed");
        if updates.send(InventoryUpdate::Delta(changes)).await.is_err() {
            return Ok(Closed);
        }
    }
}

fn stream_closed(client: &Containerd) -> Error {
    Error::Containerd {
        socket: client.socket().to_string(),
        message: "event stream closed".into(),
    }
}

/// `first` and the events that follow it within `window`, up to [`MAX_BATCH`]. `None`
/// stands for an event that could not be read; events of other namespaces and topics
/// are dropped. A closed or broken stream is an error.
async fn gather(
    client: &Containerd,
    stream: &mut EventStream,
    first: Envelope,
    window: Duration,
) -> Result<Vec<Option<Event>>> {
    let deadline = Instant::now() + window;
    let mut batch = Vec::new();
    let mut envelope = first;
    loop {
        if envelope.namespace == client.namespace() {
            match events::decode(&envelope) {
                Ok(Some(event)) => batch.push(Some(event)),
                Ok(None) => {}
                Err(reason) => {
                    warn!(topic = %envelope.topic, %reason, "unreadable containerd event");
                    batch.push(None);
                }
            }
        }
        if batch.len() >= MAX_BATCH {
            return Ok(batch);
        }
        envelope = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next?.ok_or_else(|| stream_closed(client))?,
            Err(_elapsed) => return Ok(batch),
        };
    }
}
