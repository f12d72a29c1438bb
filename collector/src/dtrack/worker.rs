//! Drains the outbox: the oldest action of each project, one per project at a time,
//! retried with exponential backoff when DT is unavailable, reported and dropped when DT
//! refuses it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nodebom_proto::retry::Backoff;
use tokio::task::JoinSet;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::sbom::decompress;
use crate::store::Store;

use super::client::{BomUpload, DtClient, DtError, NewProjectFields};
use crate::store::outbox::{split_project_key, Action, Failure, OutboxItem};

/// Projects worked on at the same time.
const BATCH: usize = 8;
/// How long to wait before asking again whether the previous upload is processed.
const TOKEN_POLL: Duration = Duration::from_millis(500);

/// What the worker needs.
#[derive(Clone)]
pub(super) struct Worker {
    pub store: Arc<dyn Store>,
    pub client: DtClient,
    pub parent: Option<(String, String)>,
    /// Set once the parent is known to exist.
    pub parent_ready: Arc<tokio::sync::OnceCell<()>>,
    pub backoff: Backoff,
    pub lease: Duration,
    pub metrics: Metrics,
    pub fixes: super::fixes::FixedVersions,
}

/// What one drain pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Actions done.
    pub done: usize,
    /// Actions put off (DT unavailable, or the previous upload still processing).
    pub postponed: usize,
    /// Actions DT refused.
    pub failed: usize,
}

enum Outcome {
    Done(Option<String>),
    Wait,
    Error(DtError),
}

impl Worker {
    /// Tries the due head of every project's queue once.
    pub(super) async fn drain(&self, now: Timestamp) -> Result<Drained> {
        let items = self.store.dtrack_take(now, BATCH, self.lease).await?;
        let mut running = JoinSet::new();
        for item in items {
            let worker = self.clone();
            running.spawn(async move { worker.settle(item, now).await });
        }
        // Every action runs to its end, whatever happens to the others: one that stopped
        // half-way would wait for its lease to run out.
        let mut drained = Drained::default();
        let mut first_error = None;
        while let Some(joined) = running.join_next().await {
            match joined
                .map_err(crate::error::Error::from)
                .and_then(|settled| settled)
            {
                Ok(Settled::Done) => drained.done += 1,
                Ok(Settled::Postponed) => drained.postponed += 1,
                Ok(Settled::Failed) => drained.failed += 1,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) if drained.done + drained.postponed + drained.failed == 0 => Err(err),
            Some(err) => {
                tracing::warn!(error = %err, "recording a Dependency-Track action's outcome failed");
                Ok(drained)
            }
            None => Ok(drained),
        }
    }

    async fn settle(&self, item: OutboxItem, now: Timestamp) -> Result<Settled> {
        let outcome = match &item.action {
            Action::Upload { tags, .. } => self.upload(&item, tags).await,
            Action::Update {
                add,
                remove,
                active,
            } => self.update(&item, add, remove, *active).await,
            Action::Findings => self.findings(&item, now).await,
        };
        match outcome {
            Outcome::Done(token) => {
                self.store.dtrack_done(item.id, token).await?;
                Ok(Settled::Done)
            }
            Outcome::Wait => {
                let next = now.saturating_add(TOKEN_POLL);
                self.store.dtrack_retry(item.id, next, None).await?;
                Ok(Settled::Postponed)
            }
            // Reading findings changes nothing in DT: an answer it cannot use now is
            // tried again, and the findings stored before stay.
            Outcome::Error(err) if err.retryable() || item.action == Action::Findings => {
                let wait = self
                    .backoff
                    .after(item.attempts)
                    .max(err.retry_after().unwrap_or_default());
                tracing::warn!(
                    project = %format!("{}@{}", item.name, item.version),
                    action = item.action.kind(),
                    attempts = item.attempts + 1,
                    retry_in_ms = wait.as_millis() as u64,
                    error = %err,
                    "Dependency-Track action failed; will retry"
                );
                let next = now.saturating_add(wait);
                self.store
                    .dtrack_retry(item.id, next, Some(err.to_string()))
                    .await?;
                Ok(Settled::Postponed)
            }
            Outcome::Error(err) => {
                let failure = Failure {
                    at: now,
                    digest: item.digest.clone(),
                    project: format!("{}@{}", item.name, item.version),
                    action: item.action.kind().to_owned(),
                    status: err.status(),
                    message: err.to_string(),
                };
                tracing::warn!(
                    project = %failure.project,
                    action = %failure.action,
                    error = %err,
                    "Dependency-Track refused an action; it is dropped (see dtrack_failures)"
                );
                self.store.dtrack_fail(item.id, failure).await?;
                self.metrics.dtrack_action_refused(item.action.kind());
                Ok(Settled::Failed)
            }
        }
    }

    /// While DT still processes the project's last upload (and analyses it): what to
    /// answer instead of going on.
    async fn previous_upload_processing(&self, item: &OutboxItem) -> Option<Outcome> {
        let token = item.token.as_ref()?;
        match self.client.processing(token).await {
            Ok(true) => Some(Outcome::Wait),
            Ok(false) => None,
            Err(err) => Some(Outcome::Error(err)),
        }
    }

    /// Uploads the stored SBOM once the project's previous upload is processed.
    async fn upload(&self, item: &OutboxItem, tags: &[String]) -> Outcome {
        if let Some(waiting) = self.previous_upload_processing(item).await {
            return waiting;
        }
        if let Err(err) = self.parent_exists().await {
            return Outcome::Error(err);
        }
        let document = match self.document(&item.digest).await {
            Ok(document) => document,
            Err(message) => return Outcome::Error(DtError::Invalid(message)),
        };
        let dt = self.client.version().await;
        let creates = if dt.tags_on_upload() {
            match self.client.lookup_project(&item.name, &item.version).await {
                Ok(found) => found.is_none(),
                Err(err) => return Outcome::Error(err),
            }
        } else {
            false
        };
        let own_copy = split_project_key(&item.digest).1.is_some();
        let upload = BomUpload {
            name: &item.name,
            version: &item.version,
            parent: self.parent.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
            created: creates.then_some(NewProjectFields {
                tags,
                // A new digest of a name is its newest; a cluster's own copy is not.
                latest_field: dt.latest_field().filter(|_| !own_copy),
            }),
            document: &document,
        };
        match self.client.upload_bom(&upload).await {
            Ok(token) => Outcome::Done(Some(token)),
            Err(err) => Outcome::Error(err),
        }
    }

    /// Makes sure the configured parent exists before an upload names it: DT 4.13+
    /// gets it created as a collection project of its children, so that DT's own
    /// dashboards show the fleet's risk in one place; older releases need it made by
    /// hand, and uploads wait (retried) until it is.
    async fn parent_exists(&self) -> Result<(), DtError> {
        let Some((name, version)) = &self.parent else {
            return Ok(());
        };
        self.parent_ready
            .get_or_try_init(|| async {
                if self.client.lookup_project(name, version).await?.is_some() {
                    return Ok(());
                }
                let dt = self.client.version().await;
                if !dt.has_collections() {
                    return Err(DtError::Unavailable {
                        message: format!(
                            "the parent project {name}@{version} does not exist: create it in Dependency-Track {dt} (from 4.13 nodebom creates it)"
                        ),
                        retry_after: None,
                    });
                }
                self.client.create_collection_project(name, version).await?;
                tracing::info!(parent = %format!("{name}@{version}"), "created the parent as a collection project of nodebom's projects");
                Ok(())
            })
            .await
            .map(drop)
    }

    /// The SBOM of a project key (see [`crate::store::outbox::Usage::digest`]),
    /// decompressed; an error when it cannot be read.
    async fn document(&self, key: &str) -> Result<Vec<u8>, String> {
        let (digest, own_copy_of) = split_project_key(key);
        let parsed = crate::digest::parse("digest", digest).map_err(|err| err.to_string())?;
        let stored = self
            .store
            .get_sbom(&parsed, own_copy_of)
            .await
            .map_err(|err| err.to_string())?
            .ok_or_else(|| format!("the SBOM of {digest} is no longer stored"))?;
        decompress(&stored.document_zstd, stored.record.size).map_err(|err| err.to_string())
    }

    /// Reads the project's findings into the store once its last upload is processed.
    async fn findings(&self, item: &OutboxItem, now: Timestamp) -> Outcome {
        if let Some(waiting) = self.previous_upload_processing(item).await {
            return waiting;
        }
        let project = match self.client.lookup_project(&item.name, &item.version).await {
            Ok(Some(project)) => project,
            // Not created yet (its upload was refused): nothing to read.
            Ok(None) => return Outcome::Done(None),
            Err(err) => return Outcome::Error(err),
        };
        let mut read = match self.client.findings(&project.uuid).await {
            Ok(read) => read,
            Err(err) => return Outcome::Error(err),
        };
        self.fixes.fill(&self.client, &mut read.findings).await;
        if read.skipped > 0 {
            tracing::warn!(
                project = %format!("{}@{}", item.name, item.version),
                skipped = read.skipped,
                "Dependency-Track findings without a vulnerability id were skipped"
            );
        }
        match self
            .store
            .put_findings(&item.digest, read.findings, now)
            .await
        {
            Ok(()) => Outcome::Done(None),
            Err(err) => Outcome::Error(DtError::Unavailable {
                message: format!("storing findings: {err}"),
                retry_after: None,
            }),
        }
    }

    /// Adds and removes nodebom's tags (keeping everyone else's) and sets `active`.
    async fn update(
        &self,
        item: &OutboxItem,
        add: &[String],
        remove: &[String],
        active: bool,
    ) -> Outcome {
        let project = match self.client.lookup_project(&item.name, &item.version).await {
            Ok(Some(project)) => project,
            Ok(None) => {
                return Outcome::Error(DtError::Refused {
                    status: 404,
                    message: "the project does not exist".into(),
                })
            }
            Err(err) => return Outcome::Error(err),
        };
        let current: BTreeSet<String> = project
            .tags
            .iter()
            .map(|tag| tag.name.trim().to_lowercase())
            .collect();
        let mut tags = current.clone();
        for tag in remove {
            tags.remove(tag);
        }
        tags.extend(add.iter().cloned());
        if tags == current && project.active == active {
            return Outcome::Done(None);
        }
        let tags: Vec<String> = tags.into_iter().collect();
        match self.client.update_project(&project, &tags, active).await {
            Ok(()) => Outcome::Done(None),
            Err(err) => Outcome::Error(err),
        }
    }
}

enum Settled {
    Done,
    Postponed,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let backoff = Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        let waits: Vec<u64> = (0..9).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(300));
    }
}
