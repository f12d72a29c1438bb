//! The agent's Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::analysis::LayerOrigin;

/// Prefix of every metric name. Names are part of the agent's interface (dashboards
/// and alerts use them): add new ones, never rename.
pub const METRIC_PREFIX: &str = "nodebom_agent";

/// Where an analysed layer was read from: the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Snapshot,
    Blob,
}

impl EncodeLabelValue for Source {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        let value = match self {
            Source::Snapshot => "snapshot",
            Source::Blob => "blob",
        };
        EncodeLabelValue::encode(&value, encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: Source,
}

/// The agent's metrics; clones share the same values.
///
/// Exposed as (OpenMetrics text):
/// `nodebom_agent_images_known`, `nodebom_agent_sboms_built_total`,
/// `nodebom_agent_sboms_incomplete_total`,
/// `nodebom_agent_layers_analysed_total{source="snapshot|blob"}`,
/// `nodebom_agent_layer_cache_hits_total`, `nodebom_agent_bytes_read_total`,
/// `nodebom_agent_scan_seconds` (histogram), `nodebom_agent_send_failures_total`,
/// `nodebom_agent_queue_depth`, `nodebom_agent_host_reads_total`,
/// `nodebom_agent_host_read_failures_total`.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    images_known: Gauge,
    sboms_built: Counter,
    sboms_incomplete: Counter,
    layers_from_snapshots: Counter,
    layers_from_blobs: Counter,
    layer_cache_hits: Counter,
    bytes_read: Counter,
    scan_seconds: Histogram,
    send_failures: Counter,
    queue_depth: Gauge,
    host_reads: Counter,
    host_read_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(METRIC_PREFIX);
        let images_known = Gauge::default();
        registry.register(
            "images_known",
            "Images in containerd that this agent resolved",
            images_known.clone(),
        );
        let sboms_built = Counter::default();
        registry.register("sboms_built", "SBOMs built", sboms_built.clone());
        let sboms_incomplete = Counter::default();
        registry.register(
            "sboms_incomplete",
            "SBOMs built that say they are incomplete (a limit hit, entries or records skipped)",
            sboms_incomplete.clone(),
        );
        let layers_analysed = Family::<SourceLabels, Counter>::default();
        registry.register(
            "layers_analysed",
            "Layers analysed, by where they were read from (snapshot or blob)",
            layers_analysed.clone(),
        );
        // Both series exist from the start, so that rates exist before the first scan.
        let layers_from_snapshots = layers_analysed.get_or_create_owned(&SourceLabels {
            source: Source::Snapshot,
        });
        let layers_from_blobs = layers_analysed.get_or_create_owned(&SourceLabels {
            source: Source::Blob,
        });
        let layer_cache_hits = Counter::default();
        registry.register(
            "layer_cache_hits",
            "Layers whose analysis came from the layer cache",
            layer_cache_hits.clone(),
        );
        let bytes_read = Counter::default();
        registry.register(
            "bytes_read",
            "Bytes read from snapshots and layer blobs",
            bytes_read.clone(),
        );
        // 50 ms up to about 7 minutes.
        let scan_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 14));
        registry.register_with_unit(
            "scan",
            "Time to scan one image",
            Unit::Seconds,
            scan_seconds.clone(),
        );
        let send_failures = Counter::default();
        registry.register(
            "send_failures",
            "Failed sends to the collector",
            send_failures.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Images waiting to be scanned",
            queue_depth.clone(),
        );
        let host_reads = Counter::default();
        registry.register(
            "host_reads",
            "Readings of the node's own software (with --host-root)",
            host_reads.clone(),
        );
        let host_read_failures = Counter::default();
        registry.register(
            "host_read_failures",
            "Readings of the node's own software that failed (the last good one is kept)",
            host_read_failures.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            images_known,
            sboms_built,
            sboms_incomplete,
            layers_from_snapshots,
            layers_from_blobs,
            layer_cache_hits,
            bytes_read,
            scan_seconds,
            send_failures,
            queue_depth,
            host_reads,
            host_read_failures,
        }
    }

    /// Counts one reading of the node's own software.
    pub fn host_read(&self, ok: bool) {
        self.host_reads.inc();
        if !ok {
            self.host_read_failures.inc();
        }
    }

    /// Sets the number of images known on the node.
    pub fn set_images_known(&self, count: usize) {
        self.images_known.set(saturating_i64(count));
    }

    /// Counts one SBOM built.
    pub fn sbom_built(&self) {
        self.sboms_built.inc();
    }

    /// Counts one SBOM built from an incomplete scan.
    pub fn sbom_incomplete(&self) {
        self.sboms_incomplete.inc();
    }

    /// Counts one layer by where its analysis came from: the cache, or a read of a
    /// snapshot or a blob.
    pub fn layer(&self, origin: LayerOrigin) {
        let counter = match origin {
            LayerOrigin::Cache => &self.layer_cache_hits,
            LayerOrigin::Snapshot => &self.layers_from_snapshots,
            LayerOrigin::Blob => &self.layers_from_blobs,
        };
        counter.inc();
    }

    /// Records a finished scan: each layer's origin (as [`Self::layer`]) and the time
    /// it took.
    pub fn scan_finished(&self, origins: &[LayerOrigin], elapsed: Duration) {
        for origin in origins {
            self.layer(*origin);
        }
        self.scan_seconds.observe(elapsed.as_secs_f64());
    }

    /// Adds bytes read from snapshots or blobs.
    pub fn bytes_read(&self, bytes: u64) {
        self.bytes_read.inc_by(bytes);
    }

    /// Counts one failed send to the collector.
    pub fn send_failure(&self) {
        self.send_failures.inc();
    }

    /// Sets the number of images waiting to be scanned.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.set(saturating_i64(depth));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn saturating_i64(value: usize) -> i64 {
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
    fn every_metric_is_exposed_under_its_stable_name() {
        let text = Metrics::new().encode().unwrap();
        for series in [
            "nodebom_agent_images_known",
            "nodebom_agent_sboms_built_total",
            "nodebom_agent_sboms_incomplete_total",
            "nodebom_agent_layers_analysed_total{source=\"snapshot\"}",
            "nodebom_agent_layers_analysed_total{source=\"blob\"}",
            "nodebom_agent_layer_cache_hits_total",
            "nodebom_agent_bytes_read_total",
            "nodebom_agent_scan_seconds_count",
            "nodebom_agent_send_failures_total",
            "nodebom_agent_queue_depth",
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn scan_counts_layers_by_origin() {
        let metrics = Metrics::new();
        metrics.scan_finished(
            &[
                LayerOrigin::Cache,
                LayerOrigin::Snapshot,
                LayerOrigin::Snapshot,
                LayerOrigin::Blob,
            ],
            Duration::from_millis(300),
        );
        metrics.bytes_read(4096);
        metrics.set_images_known(7);
        metrics.sbom_incomplete();
        let text = metrics.encode().unwrap();
        assert_eq!(
            sample(&text, "nodebom_agent_sboms_incomplete_total"),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "nodebom_agent_layers_analysed_total{source=\"snapshot\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                "nodebom_agent_layers_analysed_total{source=\"blob\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "nodebom_agent_layer_cache_hits_total"),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "nodebom_agent_bytes_read_total"),
            Some(4096.0)
        );
        assert_eq!(sample(&text, "nodebom_agent_images_known"), Some(7.0));
        assert_eq!(sample(&text, "nodebom_agent_scan_seconds_count"), Some(1.0));
        assert_eq!(sample(&text, "nodebom_agent_scan_seconds_sum"), Some(0.3));
        // 0.3 s falls in the 0.4 s bucket, not in the 0.2 s one.
        assert_eq!(
            sample(&text, "nodebom_agent_scan_seconds_bucket{le=\"0.2\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "nodebom_agent_scan_seconds_bucket{le=\"0.4\"}"),
            Some(1.0)
        );
    }
}
