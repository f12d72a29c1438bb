//! One agent's `Sync` session: the order of its messages and what each one does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Agent, FullInventory, Image, InventoryDelta, Limits, NodeKey, Workload};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::{ClaimPolicy, Session, Store};

/// How long a full inventory may take from its first part to its last: a session that
/// holds a staging permit longer is ended, so that stalled agents cannot keep the others
/// waiting.
pub const STAGING_DEADLINE: Duration = Duration::from_secs(60);

/// How sessions behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Size limits per node.
    pub limits: Limits,
    /// How SBOM builds are handed out.
    pub claims: ClaimPolicy,
    /// How often a session whose node waits for SBOMs built elsewhere asks again.
    pub reoffer_interval: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            claims: ClaimPolicy::default(),
            reoffer_interval: Duration::from_secs(30),
        }
    }
}

/// What an agent says after its `Hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// A second `Hello`, which is not allowed.
    Hello,
    /// Part of the full inventory.
    InventoryPart {
        /// Images in this part.
        images: Vec<Image>,
        /// Workloads in this part.
        workloads: Vec<Workload>,
        /// The final part.
        last: bool,
    },
    /// Changes.
    Delta(InventoryDelta),
    /// The agent cannot build an SBOM.
    BuildFailed {
        /// The image.
        digest: Digest,
        /// Why.
        reason: String,
    },
}

/// A node's open session.
pub struct AgentSession {
    store: Arc<dyn Store>,
    settings: SessionSettings,
    session: Session,
    staged: Option<FullInventory>,
    /// Shared by all sessions: a permit is held while `staged` is.
    staging: Arc<Semaphore>,
    staging_permit: Option<OwnedSemaphorePermit>,
    /// When the full inventory being received must be complete.
    staging_deadline: Option<tokio::time::Instant>,
    has_inventory: bool,
    pending: bool,
    metrics: Metrics,
}

impl AgentSession {
    /// Opens the session of `node`, replacing any older one; the inventory reports it
    /// stores are counted into `metrics`.
    pub async fn open(
        store: Arc<dyn Store>,
        settings: SessionSettings,
        staging: Arc<Semaphore>,
        metrics: Metrics,
        node: &NodeKey,
        agent: &Agent,
    ) -> Result<Self> {
        let session = store.begin_session(node, agent, Timestamp::now()).await?;
        Ok(Self {
            store,
            settings,
            session,
            staged: None,
            staging,
            staging_permit: None,
            staging_deadline: None,
            has_inventory: false,
            pending: false,
            metrics,
        })
    }

    /// When the full inventory being received must be complete, while one is.
    pub fn staging_deadline(&self) -> Option<tokio::time::Instant> {
        self.staging_deadline
    }

    /// The store's session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// True when the node has images without SBOM that it was not asked to build yet;
    /// [`AgentSession::claim_more`] may then give it some later.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Handles one message; returns the digests the node should build (for the ack).
    pub async fn handle(&mut self, message: AgentMessage) -> Result<Vec<Digest>> {
        let now = Timestamp::now();
        match message {
            AgentMessage::Hello => Err(Error::FailedPrecondition(
                "Hello may only be the first message of a Sync stream".into(),
            )),
            AgentMessage::InventoryPart {
                images,
                workloads,
                last,
            } => {
                if self.staging_permit.is_none() {
                    // Waiting here leaves the parts in the agent's stream (flow control),
                    // not in memory.
                    let permit = self.staging.clone().acquire_owned().await.map_err(|_| {
                        Error::Internal("the inventory staging limit was closed".into())
                    })?;
                    self.staging_permit = Some(permit);
                    self.staging_deadline = Some(tokio::time::Instant::now() + STAGING_DEADLINE);
                }
                let staged = self.staged.get_or_insert_with(FullInventory::default);
                staged.extend(images, workloads, self.settings.limits)?;
                if !last {
                    return Ok(Vec::new());
                }
                let full = self.staged.take().unwrap_or_default();
                // Released once stored (or when the session ends with an error).
                let _permit = self.staging_permit.take();
                self.staging_deadline = None;
                full.check_unique()?;
                let (images, workloads) = (full.images.len(), full.workloads.len());
                let claims = self
                    .store
                    .replace_inventory(
                        &self.session,
                        full,
                        self.settings.limits,
                        self.settings.claims,
                        now,
                    )
                    .await?;
                tracing::debug!(node = %self.session.node, images, workloads, wanted = claims.wanted.len(), "full inventory stored");
                self.metrics.full_inventory_stored(images + workloads);
                self.has_inventory = true;
                self.pending = claims.pending;
                Ok(claims.wanted)
            }
            AgentMessage::Delta(delta) => {
                if self.staged.is_some() {
                    return Err(Error::FailedPrecondition(
                        "a delta arrived in the middle of a full inventory; send the InventoryPart with last = true first".into(),
                    ));
                }
                if !self.has_inventory {
                    return Err(Error::FailedPrecondition(
                        "send the full inventory (InventoryPart with last = true) before deltas"
                            .into(),
                    ));
                }
                let records = delta.len();
                let claims = self
                    .store
                    .apply_delta(
                        &self.session,
                        delta,
                        self.settings.limits,
                        self.settings.claims,
                        now,
                    )
                    .await?;
                self.metrics.delta_stored(records);
                self.pending = claims.pending;
                Ok(claims.wanted)
            }
            AgentMessage::BuildFailed { digest, reason } => {
                tracing::warn!(node = %self.session.node, %digest, %reason, "agent cannot build an SBOM");
                let retry_at = now.saturating_add(self.settings.claims.failure_backoff);
                self.store
                    .build_failed(&self.session, &digest, &reason, retry_at)
                    .await?;
                self.claim_more().await
            }
        }
    }

    /// Asks for more builds for this node (after an upload finished, or periodically
    /// while [`AgentSession::pending`]).
    pub async fn claim_more(&mut self) -> Result<Vec<Digest>> {
        if !self.has_inventory {
            return Ok(Vec::new());
        }
        let claims = self
            .store
            .claim_builds(&self.session, self.settings.claims, Timestamp::now())
            .await?;
        self.pending = claims.pending;
        Ok(claims.wanted)
    }

    /// Ends the session; the node keeps its state until it expires.
    pub async fn close(self) {
        if let Err(err) = self
            .store
            .end_session(&self.session, Timestamp::now())
            .await
        {
            tracing::warn!(node = %self.session.node, error = %err, "could not close a node session");
        }
    }
}
