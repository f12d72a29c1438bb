//! A [`Store`] that times every call of another one into
//! `nodebom_collector_store_operation_duration_seconds{operation}`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;

use super::outbox::{Failure, OutboxItem, Plan, ProjectState, Usage};
use super::{
    AlertChanges, AlertStore, ClaimPolicy, Claims, ComponentMatches, ComponentSearch, Delivery,
    DtrackStore, Event, EventStore, FindingStore, ImageFilter, ImagePage, ImagePlacements,
    InventoryStore, NamespaceSummary, NodeSummary, OpenAlert, Pruned, PutOutcome, SbomStore,
    Session, SingletonJob, StatsStore, Store, StoreStats, StoredFinding, StoredSbom, UploadPermit,
};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::Result;
use crate::exposure::finding::Finding;
use crate::inventory::{Agent, FullInventory, InventoryDelta, Limits, NodeKey};
use crate::metrics::Metrics;
use crate::sbom::ValidatedSbom;

/// Delegates every call to `inner` and records how long it took (failed calls too),
/// labelled with the method's name.
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    metrics: Metrics,
}

impl std::fmt::Debug for InstrumentedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedStore").finish_non_exhaustive()
    }
}

impl InstrumentedStore {
    /// Times the calls of `inner` into `metrics`.
    pub fn new(inner: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(&self, operation: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = call.await;
        self.metrics.store_call(operation, started.elapsed());
        result
    }
}

#[async_trait]
impl InventoryStore for InstrumentedStore {
    async fn begin_session(
        &self,
        node: &NodeKey,
        agent: &Agent,
        now: Timestamp,
    ) -> Result<Session> {
        self.timed("begin_session", self.inner.begin_session(node, agent, now))
            .await
    }

    async fn replace_inventory(
        &self,
        session: &Session,
        inventory: FullInventory,
        limits: Limits,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        self.timed(
            "replace_inventory",
            self.inner
                .replace_inventory(session, inventory, limits, policy, now),
        )
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
        self.timed(
            "apply_delta",
            self.inner.apply_delta(session, delta, limits, policy, now),
        )
        .await
    }

    async fn claim_builds(
        &self,
        session: &Session,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<Claims> {
        self.timed(
            "claim_builds",
            self.inner.claim_builds(session, policy, now),
        )
        .await
    }

    async fn build_failed(
        &self,
        session: &Session,
        digest: &Digest,
        reason: &str,
        retry_at: Timestamp,
    ) -> Result<()> {
        self.timed(
            "build_failed",
            self.inner.build_failed(session, digest, reason, retry_at),
        )
        .await
    }

    async fn touch_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()> {
        self.timed("touch_sessions", self.inner.touch_sessions(sessions, now))
            .await
    }

    async fn end_session(&self, session: &Session, now: Timestamp) -> Result<()> {
        self.timed("end_session", self.inner.end_session(session, now))
            .await
    }

    async fn expire_nodes(&self, cutoff: Timestamp, now: Timestamp) -> Result<u64> {
        self.timed("expire_nodes", self.inner.expire_nodes(cutoff, now))
            .await
    }
}

#[async_trait]
impl SbomStore for InstrumentedStore {
    async fn begin_upload(
        &self,
        node: &NodeKey,
        digest: &Digest,
        policy: ClaimPolicy,
        now: Timestamp,
    ) -> Result<UploadPermit> {
        self.timed(
            "begin_upload",
            self.inner.begin_upload(node, digest, policy, now),
        )
        .await
    }

    async fn put_sbom(
        &self,
        node: &NodeKey,
        sbom: ValidatedSbom,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        self.timed("put_sbom", self.inner.put_sbom(node, sbom, now))
            .await
    }

    async fn get_sbom(&self, digest: &Digest, cluster: Option<&str>) -> Result<Option<StoredSbom>> {
        self.timed("get_sbom", self.inner.get_sbom(digest, cluster))
            .await
    }

    async fn nodes(&self, cluster: Option<String>) -> Result<Vec<NodeSummary>> {
        self.timed("nodes", self.inner.nodes(cluster)).await
    }

    async fn namespaces(&self, cluster: String) -> Result<Vec<NamespaceSummary>> {
        self.timed("namespaces", self.inner.namespaces(cluster))
            .await
    }

    async fn list_images(
        &self,
        filter: ImageFilter,
        after: Option<Digest>,
        page_size: usize,
    ) -> Result<ImagePage> {
        self.timed(
            "list_images",
            self.inner.list_images(filter, after, page_size),
        )
        .await
    }

    async fn find_components(&self, search: ComponentSearch) -> Result<ComponentMatches> {
        self.timed("find_components", self.inner.find_components(search))
            .await
    }

    async fn placements(&self, filter: ImageFilter, limit: usize) -> Result<Vec<ImagePlacements>> {
        self.timed("placements", self.inner.placements(filter, limit))
            .await
    }
}

#[async_trait]
impl EventStore for InstrumentedStore {
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.timed("events_after", self.inner.events_after(after, limit))
            .await
    }

    async fn last_event(&self) -> Result<u64> {
        self.timed("last_event", self.inner.last_event()).await
    }

    fn subscribe_events(&self) -> watch::Receiver<u64> {
        self.inner.subscribe_events()
    }

    async fn prune_history(&self, cutoff: Timestamp) -> Result<Pruned> {
        self.timed("prune_history", self.inner.prune_history(cutoff))
            .await
    }

    async fn hold_singleton(&self, job: SingletonJob) -> Result<bool> {
        self.timed("hold_singleton", self.inner.hold_singleton(job))
            .await
    }
}

#[async_trait]
impl FindingStore for InstrumentedStore {
    async fn put_findings(
        &self,
        project: &str,
        findings: Vec<Finding>,
        now: Timestamp,
    ) -> Result<()> {
        self.timed(
            "put_findings",
            self.inner.put_findings(project, findings, now),
        )
        .await
    }

    async fn findings_of(&self, digests: Vec<String>) -> Result<Vec<StoredFinding>> {
        self.timed("findings_of", self.inner.findings_of(digests))
            .await
    }

    async fn findings_known_as(&self, id: &str) -> Result<Vec<StoredFinding>> {
        self.timed("findings_known_as", self.inner.findings_known_as(id))
            .await
    }
}

#[async_trait]
impl AlertStore for InstrumentedStore {
    async fn alerts_open(&self) -> Result<Vec<OpenAlert>> {
        self.timed("alerts_open", self.inner.alerts_open()).await
    }

    async fn alerts_apply(&self, changes: AlertChanges, now: Timestamp) -> Result<()> {
        self.timed("alerts_apply", self.inner.alerts_apply(changes, now))
            .await
    }

    async fn deliveries_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        self.timed(
            "deliveries_take",
            self.inner.deliveries_take(now, limit, lease),
        )
        .await
    }

    async fn delivery_done(&self, id: i64) -> Result<()> {
        self.timed("delivery_done", self.inner.delivery_done(id))
            .await
    }

    async fn delivery_retry(&self, id: i64, next_at: Timestamp, error: String) -> Result<()> {
        self.timed(
            "delivery_retry",
            self.inner.delivery_retry(id, next_at, error),
        )
        .await
    }
}

#[async_trait]
impl StatsStore for InstrumentedStore {
    async fn stats(&self, now: Timestamp) -> Result<StoreStats> {
        self.timed("stats", self.inner.stats(now)).await
    }
}

#[async_trait]
impl DtrackStore for InstrumentedStore {
    async fn dtrack_usage(&self, every_image: bool) -> Result<Vec<Usage>> {
        self.timed("dtrack_usage", self.inner.dtrack_usage(every_image))
            .await
    }

    async fn dtrack_projects(&self) -> Result<Vec<ProjectState>> {
        self.timed("dtrack_projects", self.inner.dtrack_projects())
            .await
    }

    async fn dtrack_plan(&self, plans: Vec<Plan>) -> Result<()> {
        self.timed("dtrack_plan", self.inner.dtrack_plan(plans))
            .await
    }

    async fn dtrack_take(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>> {
        self.timed("dtrack_take", self.inner.dtrack_take(now, limit, lease))
            .await
    }

    async fn dtrack_done(&self, id: i64, token: Option<String>) -> Result<()> {
        self.timed("dtrack_done", self.inner.dtrack_done(id, token))
            .await
    }

    async fn dtrack_retry(&self, id: i64, next_at: Timestamp, error: Option<String>) -> Result<()> {
        self.timed("dtrack_retry", self.inner.dtrack_retry(id, next_at, error))
            .await
    }

    async fn dtrack_fail(&self, id: i64, failure: Failure) -> Result<()> {
        self.timed("dtrack_fail", self.inner.dtrack_fail(id, failure))
            .await
    }

    async fn dtrack_failures(&self, limit: usize) -> Result<Vec<Failure>> {
        self.timed("dtrack_failures", self.inner.dtrack_failures(limit))
            .await
    }

    async fn dtrack_pending(&self) -> Result<u64> {
        self.timed("dtrack_pending", self.inner.dtrack_pending())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn every_call_is_timed_under_its_method_name_failed_ones_too() {
        let dir = tempfile::tempdir().unwrap();
        let inner = SqliteStore::open(dir.path().join("nodebom.db"))
            .await
            .unwrap();
        let metrics = Metrics::new();
        let store = InstrumentedStore::new(Arc::new(inner), metrics.clone());
        assert_eq!(store.last_event().await.unwrap(), 0);
        assert_eq!(store.last_event().await.unwrap(), 0);
        let node = NodeKey::new("prod-a", "a1").unwrap();
        let digest = crate::digest::parse("d", &format!("sha256:{}", "a".repeat(64))).unwrap();
        // The node never reported: refused, and still timed.
        let refused = store
            .begin_upload(&node, &digest, ClaimPolicy::default(), Timestamp::now())
            .await;
        assert!(refused.is_err());
        let text = metrics.encode().unwrap();
        for (operation, count) in [("last_event", 2), ("begin_upload", 1)] {
            let line = format!(
                "nodebom_collector_store_operation_duration_seconds_count{{operation=\"{operation}\"}} {count}"
            );
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(!text.contains("operation=\"put_sbom\""), "{text}");
    }
}
