//! Notifications: a `Watch` event, and a call to each webhook (generic JSON, or
//! Slack-compatible), when an exposure worth acting on now — a vulnerability in CISA
//! KEV, or likely to be exploited (EPSS at or above `--notify-min-epss`), in a running
//! workload — appears, and when it is resolved (the image no longer runs, or the
//! finding went).
//!
//! One replica at a time compares the exposures with the open alerts in the store
//! (`SingletonJob::Notifier`) and, in the same transaction as the alert changes, queues
//! one call per webhook: an exposure is announced once however often it is seen, and
//! a restart loses nothing. Every replica sends due calls, in order per webhook,
//! retried with backoff while the receiver fails (5xx, 429, timeouts, refused
//! connections) and dropped with a warning when it refuses them (other 4xx).

mod alert;
mod config;
mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::exposure::query::list;
use crate::exposure::{Exposure, ExposureFilter};
use crate::kev::LatestKev;
use crate::store::{AlertChanges, NewDelivery, OpenAlert, SingletonJob, Store};

pub use alert::Alert;
pub use config::{NotifyArgs, NotifySettings, Webhook, WebhookFormat};

/// Calls sent per pass.
const BATCH: usize = 16;
/// How long a replica may take to send one call before another one may.
const LEASE: Duration = Duration::from_secs(60);
/// How often the queue is looked at.
const TICK: Duration = Duration::from_millis(500);
/// Alerts opened, and alerts resolved, in one pass: the rest wait for the next.
const MAX_CHANGES: usize = 1000;

/// Runs the notifier until `cancel`.
pub fn spawn_notifier(
    store: Arc<dyn Store>,
    kev: LatestKev,
    settings: NotifySettings,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>> {
    let sender = webhook::Sender::new(&settings)?;
    Ok(tokio::spawn(async move {
        let mut last_check: Option<tokio::time::Instant> = None;
        loop {
            if last_check.is_none_or(|at| at.elapsed() >= settings.interval) {
                last_check = Some(tokio::time::Instant::now());
                let checked = tokio::select! {
                    () = cancel.cancelled() => return,
                    checked = check(store.as_ref(), &kev, &settings, Timestamp::now()) => checked,
                };
                if let Err(err) = checked {
                    tracing::warn!(error = %err, "comparing exposures with open alerts failed");
                }
            }
            let sent = tokio::select! {
                () = cancel.cancelled() => return,
                sent = sender.send_due(store.as_ref(), Timestamp::now()) => sent,
            };
            match sent {
                Ok(0) => {}
                Ok(_) => continue,
                Err(err) => tracing::warn!(error = %err, "sending webhook calls failed"),
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }))
}

/// Compares the exposures worth an alert with the open alerts and queues what changed.
/// Returns how many alerts opened and how many were resolved.
pub async fn check(
    store: &dyn Store,
    kev: &LatestKev,
    settings: &NotifySettings,
    now: Timestamp,
) -> Result<(usize, usize)> {
    if !store.hold_singleton(SingletonJob::Notifier).await? {
        return Ok((0, 0));
    }
    let catalog = kev.get();
    let notable = ExposureFilter {
        running_only: true,
        kev_or_min_epss: Some(settings.min_epss),
        ..ExposureFilter::default()
    };
    let exposures = list(store, catalog.as_deref(), &notable).await?;
    // Most urgent first: when more change than one pass takes, those go first. An
    // exposure seen under two projects (a cluster's own copy) is one alert.
    let mut current: BTreeSet<String> = BTreeSet::new();
    let mut by_rank: Vec<(String, &Exposure)> = Vec::new();
    for exposure in &exposures {
        let key = alert::key(exposure);
        if current.insert(key.clone()) {
            by_rank.push((key, exposure));
        }
    }
    let open = store.alerts_open().await?;
    let open_keys: BTreeMap<&str, &OpenAlert> = open
        .iter()
        .map(|alert| (alert.key.as_str(), alert))
        .collect();
    let mut changes = AlertChanges::default();
    let appeared: Vec<&(String, &Exposure)> = by_rank
        .iter()
        .filter(|(key, _)| !open_keys.contains_key(key.as_str()))
        .collect();
    if appeared.len() > MAX_CHANGES {
        tracing::warn!(
            appeared = appeared.len(),
            "more exposures appeared than one pass announces; the most urgent go first"
        );
    }
    for (key, exposure) in appeared.into_iter().take(MAX_CHANGES) {
        let alert = Alert::of(exposure);
        announce(
            &mut changes,
            settings,
            webhook::Event::Appeared,
            &alert,
            now,
        );
        changes.opened.push(OpenAlert {
            key: key.clone(),
            payload: alert.to_json()?,
        });
    }
    let gone = open_keys.iter().filter(|(key, _)| !current.contains(**key));
    for (key, open) in gone.take(MAX_CHANGES) {
        // Said as it was said when it opened.
        match Alert::from_json(&open.payload) {
            Ok(alert) => announce(
                &mut changes,
                settings,
                webhook::Event::Resolved,
                &alert,
                now,
            ),
            Err(err) => {
                tracing::warn!(error = %err, "an open alert cannot be read; closed without a call")
            }
        }
        changes.resolved.push((*key).to_owned());
    }
    let counts = (changes.opened.len(), changes.resolved.len());
    if counts != (0, 0) {
        tracing::info!(
            opened = counts.0,
            resolved = counts.1,
            calls = changes.deliveries.len(),
            "exposure alerts changed"
        );
        store.alerts_apply(changes, now).await?;
    }
    Ok(counts)
}

/// Queues the `Watch` event and one call per webhook that say `event` of `alert`.
fn announce(
    changes: &mut AlertChanges,
    settings: &NotifySettings,
    event: webhook::Event,
    alert: &Alert,
    now: Timestamp,
) {
    changes
        .deliveries
        .extend(settings.webhooks.iter().map(|webhook| NewDelivery {
            target: webhook.name(),
            body: webhook.body(event, alert, now),
        }));
    changes
        .events
        .push((event.kind(), alert.manifest_digest.clone(), alert.change()));
}
