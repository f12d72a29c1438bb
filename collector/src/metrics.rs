//! The collector's Prometheus metrics; [`endpoints`] serves them on `/metrics` with
//! `/healthz` and `/readyz`.

pub mod endpoints;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{CheckStatus, StoreStats};

pub use endpoints::{serve, Observed};

/// Prefix of every metric name. Names are part of the collector's interface
/// (dashboards and alerts use them): add new ones, never rename.
pub const METRIC_PREFIX: &str = "nodebom_collector";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CopyLabels {
    copy: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
/// A gauge of seconds, with fractions.
type SecondsGauge = Gauge<f64, AtomicU64>;

/// Store calls: 0.5 ms up to about 16 s.
fn store_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Dependency-Track calls: 10 ms up to about 80 s (a call times out after 60 s).
fn dtrack_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// KEV policy syncs (one DT call per changed condition): 0.1 s up to about 14 minutes.
fn policy_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 14))
}

/// Why an SBOM upload was rejected: the `reason` label, from the error that ended it.
fn rejection_reason(err: &Error) -> &'static str {
    match err {
        Error::Unauthenticated(_) => "unauthenticated",
        Error::PermissionDenied(_) => "permission_denied",
        Error::InvalidArgument { .. } | Error::InvalidSbom(_) => "invalid",
        Error::ResourceExhausted(_) => "too_large",
        // The node lacks the image, or another node of its cluster builds it.
        Error::FailedPrecondition(_) => "not_assigned",
        Error::Rpc(_) => "interrupted",
        Error::ShuttingDown => "shutting_down",
        Error::NotFound(_)
        | Error::OutOfRange(_)
        | Error::Superseded { .. }
        | Error::Database { .. }
        | Error::Postgres { .. }
        | Error::StoreUnavailable { .. }
        | Error::Corrupt(_)
        | Error::Io { .. }
        | Error::Internal(_)
        | Error::Config(_)
        | Error::Transport(_)
        | Error::Task(_) => "internal",
    }
}

const REJECTION_REASONS: [&str; 8] = [
    "unauthenticated",
    "permission_denied",
    "invalid",
    "too_large",
    "not_assigned",
    "interrupted",
    "shutting_down",
    "internal",
];

/// Which SBOM document an upload stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredCopy {
    /// The fleet copy of a digest (its first build).
    Fleet,
    /// A cluster's own copy: its build differs from the fleet copy.
    Own,
}

impl StoredCopy {
    fn label(self) -> &'static str {
        match self {
            Self::Fleet => "fleet",
            Self::Own => "own",
        }
    }
}

/// Gauges set from [`StoreStats`].
#[derive(Clone, Default)]
struct StoreGauges {
    nodes: Gauge,
    images: Gauge,
    workloads_running: Gauge,
    sboms: Family<CopyLabels, Gauge>,
    sbom_bytes: Family<CopyLabels, Gauge>,
    claims: Family<StateLabels, Gauge>,
    dtrack_queued: Gauge,
    dtrack_due: Gauge,
    dtrack_oldest_due_age: SecondsGauge,
    dtrack_failures: Gauge,
}

/// The collector's metrics; clones share the same values. `docs/operations.md` lists
/// them with their meaning.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    sbom_checks: Family<StatusLabels, Counter>,
    agents_connected: Family<ClusterLabels, Gauge>,
    inventory_reports: Family<KindLabels, Counter>,
    inventory_records: Family<KindLabels, Counter>,
    sboms_stored: Family<CopyLabels, Counter>,
    sbom_bytes_stored: Family<CopyLabels, Counter>,
    uploads_rejected: Family<ReasonLabels, Counter>,
    dtrack_calls: Histograms<CallLabels>,
    dtrack_refused: Family<ActionLabels, Counter>,
    policy_syncs: Histograms<OutcomeLabels>,
    policy_last_success: SecondsGauge,
    store_calls: Histograms<OperationLabels>,
    store: StoreGauges,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates the series of `labels` at zero, so that alerts and rates see them before
/// the first event.
fn exported<L: Clone + std::hash::Hash + Eq, M: Clone + Default>(
    family: &Family<L, M>,
    labels: impl IntoIterator<Item = L>,
) {
    for label in labels {
        let _created = family.get_or_create(&label);
    }
}

impl Metrics {
    /// New metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(METRIC_PREFIX);

        let sbom_checks = Family::<StatusLabels, Counter>::default();
        registry.register(
            "sbom_checks",
            "Builds of an image by a cluster other than the one whose SBOM is stored, by outcome",
            sbom_checks.clone(),
        );
        exported(
            &sbom_checks,
            [
                CheckStatus::Verified,
                CheckStatus::Conflict,
                CheckStatus::Unverified,
            ]
            .map(|status| StatusLabels {
                status: status.as_str(),
            }),
        );

        let agents_connected = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "agents_connected",
            "Agents with an open Sync session on this collector process, by cluster",
            agents_connected.clone(),
        );
        let inventory_reports = Family::<KindLabels, Counter>::default();
        registry.register(
            "inventory_reports",
            "Inventory reports of agents stored, by kind (full: a whole inventory in all its parts; delta: changes)",
            inventory_reports.clone(),
        );
        let inventory_records = Family::<KindLabels, Counter>::default();
        registry.register(
            "inventory_records",
            "Images and workloads in the inventory reports stored, by kind of report",
            inventory_records.clone(),
        );
        for family in [&inventory_reports, &inventory_records] {
            exported(family, ["full", "delta"].map(|kind| KindLabels { kind }));
        }

        let sboms_stored = Family::<CopyLabels, Counter>::default();
        registry.register(
            "sboms_stored",
            "SBOM documents stored from uploads: fleet copies (an image's first build) and clusters' own copies (a build that differs)",
            sboms_stored.clone(),
        );
        let sbom_bytes_stored = Family::<CopyLabels, Counter>::default();
        registry.register_with_unit(
            "sboms_stored",
            "Size as CycloneDX JSON of the SBOM documents stored from uploads",
            Unit::Bytes,
            sbom_bytes_stored.clone(),
        );
        for family in [&sboms_stored, &sbom_bytes_stored] {
            exported(
                family,
                [StoredCopy::Fleet, StoredCopy::Own].map(|copy| CopyLabels { copy: copy.label() }),
            );
        }
        let uploads_rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "sbom_uploads_rejected",
            "SBOM uploads that ended without storing or skipping the document, by reason",
            uploads_rejected.clone(),
        );
        exported(
            &uploads_rejected,
            REJECTION_REASONS.map(|reason| ReasonLabels { reason }),
        );

        let dtrack_calls: Histograms<CallLabels> =
            Family::new_with_constructor(dtrack_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "dtrack_request_duration",
            "Dependency-Track API calls by operation and outcome (ok; retry: DT unavailable, retried later; refused: DT answered 4xx; error: an answer nodebom cannot use)",
            Unit::Seconds,
            dtrack_calls.clone(),
        );
        let dtrack_refused = Family::<ActionLabels, Counter>::default();
        registry.register(
            "dtrack_actions_refused",
            "Dependency-Track actions refused for good and dropped from the outbox (listed by `query dtrack-failures`), by action",
            dtrack_refused.clone(),
        );
        exported(
            &dtrack_refused,
            ["upload", "update"].map(|action| ActionLabels { action }),
        );
        let policy_syncs: Histograms<OutcomeLabels> =
            Family::new_with_constructor(policy_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "dtrack_policy_sync_duration",
            "Passes over nodebom's Dependency-Track policies (KEV and the policy file's, brought in line), by outcome (ok, error: some policy could not be synced)",
            Unit::Seconds,
            policy_syncs.clone(),
        );
        let policy_last_success = SecondsGauge::default();
        registry.register_with_unit(
            "dtrack_policy_last_success_timestamp",
            "When every nodebom policy was last in sync in Dependency-Track, as Unix time (0: not yet)",
            Unit::Seconds,
            policy_last_success.clone(),
        );

        let store_calls: Histograms<OperationLabels> =
            Family::new_with_constructor(store_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "store_operation_duration",
            "Store calls (each one transaction) by operation",
            Unit::Seconds,
            store_calls.clone(),
        );
        let store = StoreGauges::default();
        Self::register_store_gauges(&mut registry, &store);

        Self {
            registry: Arc::new(registry),
            sbom_checks,
            agents_connected,
            inventory_reports,
            inventory_records,
            sboms_stored,
            sbom_bytes_stored,
            uploads_rejected,
            dtrack_calls,
            dtrack_refused,
            policy_syncs,
            policy_last_success,
            store_calls,
            store,
        }
    }

    fn register_store_gauges(registry: &mut Registry, store: &StoreGauges) {
        registry.register(
            "store_nodes",
            "Nodes in the store (not expired)",
            store.nodes.clone(),
        );
        registry.register(
            "store_images",
            "Image digests in the store",
            store.images.clone(),
        );
        registry.register(
            "store_workloads_running",
            "Running workloads in the store",
            store.workloads_running.clone(),
        );
        registry.register(
            "store_sboms",
            "SBOM documents in the store: fleet copies (one per digest) and clusters' own copies",
            store.sboms.clone(),
        );
        registry.register_with_unit(
            "store_sbom",
            "Size as CycloneDX JSON of the SBOM documents in the store (they are kept zstd-compressed)",
            Unit::Bytes,
            store.sbom_bytes.clone(),
        );
        for family in [&store.sboms, &store.sbom_bytes] {
            exported(
                family,
                [StoredCopy::Fleet, StoredCopy::Own].map(|copy| CopyLabels { copy: copy.label() }),
            );
        }
        registry.register(
            "store_build_claims",
            "SBOM build claims by state (building: a node is asked for it; expired: its lease or failure backoff is over and no node took it again yet; failed: the build failed, in backoff)",
            store.claims.clone(),
        );
        exported(
            &store.claims,
            ["building", "expired", "failed"].map(|state| StateLabels { state }),
        );
        registry.register(
            "store_dtrack_outbox_actions",
            "Dependency-Track actions queued in the outbox",
            store.dtrack_queued.clone(),
        );
        registry.register(
            "store_dtrack_outbox_due_actions",
            "Queued Dependency-Track actions due now (a healthy forwarder keeps this near 0)",
            store.dtrack_due.clone(),
        );
        registry.register_with_unit(
            "store_dtrack_outbox_oldest_due_age",
            "How long the longest-waiting due action that was tried before has been due (0: none)",
            Unit::Seconds,
            store.dtrack_oldest_due_age.clone(),
        );
        registry.register(
            "store_dtrack_failures",
            "Dependency-Track actions refused for good, as recorded in the store",
            store.dtrack_failures.clone(),
        );
    }

    /// Counts a cluster's check of a stored SBOM.
    pub fn sbom_checked(&self, status: CheckStatus) {
        self.sbom_checks
            .get_or_create(&StatusLabels {
                status: status.as_str(),
            })
            .inc();
    }

    /// Counts a full inventory stored, with its images and workloads.
    pub fn full_inventory_stored(&self, records: usize) {
        self.inventory_stored("full", records);
    }

    /// Counts a delta stored, with its changed and removed images and workloads.
    pub fn delta_stored(&self, records: usize) {
        self.inventory_stored("delta", records);
    }

    fn inventory_stored(&self, kind: &'static str, records: usize) {
        let labels = KindLabels { kind };
        self.inventory_reports.get_or_create(&labels).inc();
        self.inventory_records
            .get_or_create(&labels)
            .inc_by(records as u64);
    }

    /// Counts an SBOM document stored from an upload, of `json_bytes`.
    pub fn sbom_stored(&self, copy: StoredCopy, json_bytes: u64) {
        let labels = CopyLabels { copy: copy.label() };
        self.sboms_stored.get_or_create(&labels).inc();
        self.sbom_bytes_stored
            .get_or_create(&labels)
            .inc_by(json_bytes);
    }

    /// Counts an SBOM upload that ended with `err`.
    pub fn sbom_upload_rejected(&self, err: &Error) {
        self.uploads_rejected
            .get_or_create(&ReasonLabels {
                reason: rejection_reason(err),
            })
            .inc();
    }

    /// Records a Dependency-Track call: its operation, how it ended (`ok`, `retry`,
    /// `refused` or `error`, see `DtError::outcome`) and how long it took.
    pub fn dtrack_call(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        self.dtrack_calls
            .get_or_create(&CallLabels { operation, outcome })
            .observe(took.as_secs_f64());
    }

    /// Counts an outbox action (`upload` or `update`) Dependency-Track refused for good.
    pub fn dtrack_action_refused(&self, action: &'static str) {
        self.dtrack_refused
            .get_or_create(&ActionLabels { action })
            .inc();
    }

    /// Records a pass over nodebom's Dependency-Track policies that ended at `at`.
    pub fn policies_synced(&self, succeeded: bool, took: Duration, at: Timestamp) {
        let outcome = if succeeded { "ok" } else { "error" };
        self.policy_syncs
            .get_or_create(&OutcomeLabels { outcome })
            .observe(took.as_secs_f64());
        if succeeded {
            self.policy_last_success
                .set(at.unix_millis() as f64 / 1000.0);
        }
    }

    /// Records a store call.
    pub fn store_call(&self, operation: &'static str, took: Duration) {
        self.store_calls
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }

    /// Sets the agents connected now: every cluster of `clusters` (0 when none) and of
    /// `connected`.
    pub fn set_agents_connected(&self, clusters: &[String], connected: &BTreeMap<String, usize>) {
        // Clusters whose last agent left, and that have no token, go away.
        self.agents_connected.clear();
        for cluster in clusters {
            let _created = self.agents_connected.get_or_create(&ClusterLabels {
                cluster: cluster.clone(),
            });
        }
        for (cluster, count) in connected {
            self.agents_connected
                .get_or_create(&ClusterLabels {
                    cluster: cluster.clone(),
                })
                .set(gauge_value(*count as u64));
        }
    }

    /// Sets the store gauges from totals read at `now`.
    pub fn set_store_stats(&self, stats: &StoreStats, now: Timestamp) {
        let gauges = &self.store;
        gauges.nodes.set(gauge_value(stats.nodes));
        gauges.images.set(gauge_value(stats.images));
        gauges
            .workloads_running
            .set(gauge_value(stats.workloads_running));
        for (copy, count, bytes) in [
            (StoredCopy::Fleet, stats.sboms, stats.sbom_bytes),
            (StoredCopy::Own, stats.own_copies, stats.own_copy_bytes),
        ] {
            let labels = CopyLabels { copy: copy.label() };
            gauges.sboms.get_or_create(&labels).set(gauge_value(count));
            gauges
                .sbom_bytes
                .get_or_create(&labels)
                .set(gauge_value(bytes));
        }
        for (state, count) in [
            ("building", stats.claims_building),
            ("expired", stats.claims_expired),
            ("failed", stats.claims_failed),
        ] {
            gauges
                .claims
                .get_or_create(&StateLabels { state })
                .set(gauge_value(count));
        }
        gauges.dtrack_queued.set(gauge_value(stats.dtrack_queued));
        gauges.dtrack_due.set(gauge_value(stats.dtrack_due));
        let age_ms = stats.dtrack_oldest_due_since.map_or(0, |since| {
            now.unix_millis().saturating_sub(since.unix_millis()).max(0)
        });
        gauges.dtrack_oldest_due_age.set(age_ms as f64 / 1000.0);
        gauges
            .dtrack_failures
            .set(gauge_value(stats.dtrack_failures));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|err| Error::Internal(format!("encoding metrics: {err}")))?;
        Ok(text)
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `series `.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn checks_are_counted_by_status_and_every_status_is_exported() {
        let metrics = Metrics::new();
        metrics.sbom_checked(CheckStatus::Conflict);
        metrics.sbom_checked(CheckStatus::Conflict);
        metrics.sbom_checked(CheckStatus::Verified);
        let text = metrics.encode().unwrap();
        for line in [
            "nodebom_collector_sbom_checks_total{status=\"conflict\"} 2",
            "nodebom_collector_sbom_checks_total{status=\"verified\"} 1",
            "nodebom_collector_sbom_checks_total{status=\"unverified\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn series_that_alerts_use_exist_at_zero_from_the_start() {
        let text = Metrics::new().encode().unwrap();
        for series in [
            "nodebom_collector_inventory_reports_total{kind=\"full\"}",
            "nodebom_collector_inventory_records_total{kind=\"delta\"}",
            "nodebom_collector_sboms_stored_total{copy=\"fleet\"}",
            "nodebom_collector_sboms_stored_bytes_total{copy=\"own\"}",
            "nodebom_collector_sbom_uploads_rejected_total{reason=\"not_assigned\"}",
            "nodebom_collector_dtrack_actions_refused_total{action=\"upload\"}",
            "nodebom_collector_dtrack_policy_last_success_timestamp_seconds",
            "nodebom_collector_store_nodes",
            "nodebom_collector_store_sbom_bytes{copy=\"fleet\"}",
            "nodebom_collector_store_build_claims{state=\"expired\"}",
            "nodebom_collector_store_dtrack_outbox_oldest_due_age_seconds",
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn dtrack_calls_are_timed_by_operation_and_outcome() {
        let metrics = Metrics::new();
        metrics.dtrack_call("upload_bom", "refused", Duration::from_millis(30));
        metrics.dtrack_call("upload_bom", "retry", Duration::from_millis(5));
        metrics.dtrack_call("upload_bom", "ok", Duration::from_millis(5));
        let text = metrics.encode().unwrap();
        let series = |outcome: &str, suffix: &str| {
            format!("nodebom_collector_dtrack_request_duration_seconds_{suffix}{{operation=\"upload_bom\",outcome=\"{outcome}\"")
        };
        for outcome in ["ok", "retry", "refused"] {
            let count = format!("{}}}", series(outcome, "count"));
            assert_eq!(sample(&text, &count), Some(1.0), "{count} in:\n{text}");
        }
        // 30 ms is above the 20 ms bucket and within the 40 ms one.
        let bucket = |le: &str| {
            format!("nodebom_collector_dtrack_request_duration_seconds_bucket{{le=\"{le}\",operation=\"upload_bom\",outcome=\"refused\"}}")
        };
        assert_eq!(sample(&text, &bucket("0.02")), Some(0.0), "{text}");
        assert_eq!(sample(&text, &bucket("0.04")), Some(1.0), "{text}");
    }

    #[test]
    fn store_totals_become_gauges_and_the_due_age_counts_from_then() {
        let metrics = Metrics::new();
        let now = Timestamp::from_unix_millis(1_700_000_090_000);
        metrics.set_store_stats(
            &StoreStats {
                nodes: 3,
                sboms: 2,
                sbom_bytes: 5000,
                own_copies: 1,
                own_copy_bytes: 700,
                claims_expired: 4,
                dtrack_due: 6,
                dtrack_oldest_due_since: Some(Timestamp::from_unix_millis(1_700_000_000_000)),
                ..StoreStats::default()
            },
            now,
        );
        let text = metrics.encode().unwrap();
        for (series, value) in [
            ("nodebom_collector_store_nodes", 3.0),
            ("nodebom_collector_store_sboms{copy=\"fleet\"}", 2.0),
            ("nodebom_collector_store_sboms{copy=\"own\"}", 1.0),
            ("nodebom_collector_store_sbom_bytes{copy=\"fleet\"}", 5000.0),
            ("nodebom_collector_store_sbom_bytes{copy=\"own\"}", 700.0),
            (
                "nodebom_collector_store_build_claims{state=\"expired\"}",
                4.0,
            ),
            (
                "nodebom_collector_store_build_claims{state=\"building\"}",
                0.0,
            ),
            ("nodebom_collector_store_dtrack_outbox_due_actions", 6.0),
            (
                "nodebom_collector_store_dtrack_outbox_oldest_due_age_seconds",
                90.0,
            ),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
    }

    #[test]
    fn connected_agents_keep_clusters_with_tokens_at_zero_and_drop_others() {
        let metrics = Metrics::new();
        let clusters = vec!["prod-a".to_owned(), "prod-b".to_owned()];
        let first = BTreeMap::from([("prod-a".to_owned(), 2), ("lab".to_owned(), 1)]);
        metrics.set_agents_connected(&clusters, &first);
        let text = metrics.encode().unwrap();
        let series =
            |cluster: &str| format!("nodebom_collector_agents_connected{{cluster=\"{cluster}\"}}");
        assert_eq!(sample(&text, &series("prod-a")), Some(2.0), "{text}");
        assert_eq!(sample(&text, &series("prod-b")), Some(0.0), "{text}");
        assert_eq!(sample(&text, &series("lab")), Some(1.0), "{text}");
        metrics.set_agents_connected(&clusters, &BTreeMap::new());
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, &series("prod-a")), Some(0.0), "{text}");
        assert_eq!(sample(&text, &series("lab")), None, "{text}");
    }

    #[test]
    fn upload_rejections_are_named_by_their_error() {
        let metrics = Metrics::new();
        metrics.sbom_upload_rejected(&Error::InvalidSbom("not CycloneDX".into()));
        metrics.sbom_upload_rejected(&Error::FailedPrecondition("not yours".into()));
        metrics.sbom_upload_rejected(&Error::Internal("oops".into()));
        let text = metrics.encode().unwrap();
        for (reason, count) in [
            ("invalid", 1.0),
            ("not_assigned", 1.0),
            ("internal", 1.0),
            ("too_large", 0.0),
        ] {
            let series =
                format!("nodebom_collector_sbom_uploads_rejected_total{{reason=\"{reason}\"}}");
            assert_eq!(sample(&text, &series), Some(count), "{series} in:\n{text}");
        }
    }
}
