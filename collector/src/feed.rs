//! The resumable event feed behind `Query.Watch`: stored events first, then new ones as
//! their transactions commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::store::{Event, Store};

/// Events read from the store at a time.
const BATCH: usize = 500;
/// How often the store is read even without a commit notification: commits by another
/// process sharing the database send none.
const POLL: Duration = Duration::from_secs(2);

/// Sends the events after sequence `after` to `sink`, in batches wrapped by `wrap`, until
/// `sink` is closed or `cancel` fires. An error (events pruned, store failure) is sent
/// and ends the feed.
pub async fn follow<T>(
    store: Arc<dyn Store>,
    mut after: u64,
    sink: mpsc::Sender<T>,
    wrap: impl Fn(Result<Vec<Event>>) -> T,
    cancel: CancellationToken,
) {
    let mut newest = store.subscribe_events();
    loop {
        // Mark the current notification as seen before reading, so that a commit after
        // the read wakes the wait below.
        newest.borrow_and_update();
        let batch = match store.events_after(after, BATCH).await {
            Ok(batch) => batch,
            Err(err) => {
                let _ = sink.send(wrap(Err(err))).await;
                return;
            }
        };
        let full = batch.len() == BATCH;
        if let Some(last) = batch.last() {
            after = last.sequence;
            if sink.send(wrap(Ok(batch))).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            () = cancel.cancelled() => {
                let _ = sink.send(wrap(Err(Error::ShuttingDown))).await;
                return;
            }
            () = sink.closed() => return,
            changed = newest.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
