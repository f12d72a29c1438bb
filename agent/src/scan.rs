//! One scan: resolve the image, analyse each layer not already cached, merge.
//!
//! Layers are read from what is on the node, in this order: committed overlayfs
//! snapshots (a read-only view under a lease; each lowerdir is one layer, nothing to
//! decompress), then layer blobs from the content store. Nothing is ever pulled.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::analysis::layer_cache::LayerCache;
use crate::analysis::{self, LayerAnalysis, LayerOrigin};
use crate::catalog::Cataloger;
use crate::containerd::api::types::Mount;
use crate::containerd::Lease;
use crate::image::{self, Platform, ResolvedImage};
use crate::image_store::ImageStore;
use crate::layers::blob::BlobLayer;
use crate::layers::snapshot::SnapshotLayer;
use crate::layers::Limits;
use crate::package::ImageContents;
use crate::{Error, Result};

/// Snapshotters whose committed snapshots are overlayfs diff directories.
const DIFF_DIR_SNAPSHOTTERS: [&str; 1] = ["overlayfs"];
/// Snapshotters that fetch from a registry when files are read: never read through them.
const LAZY_SNAPSHOTTERS: [&str; 5] = ["stargz", "soci", "nydus", "overlaybd", "gcfs"];

/// The result of scanning one image.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub image: ResolvedImage,
    pub contents: ImageContents,
    /// Origin of each layer's analysis, bottom first.
    pub origins: Vec<LayerOrigin>,
}

/// Scans images of one containerd namespace, sharing a per-layer cache across images.
pub struct Scanner {
    store: Arc<dyn ImageStore>,
    catalogers: Arc<Vec<Box<dyn Cataloger>>>,
    cache: Arc<dyn LayerCache>,
    limits: Limits,
    platform: Platform,
    layer_concurrency: usize,
    metrics: Option<crate::observe::Metrics>,
}

impl Scanner {
    /// A scanner of the images in `store` (on a node: a [`crate::containerd::Containerd`]).
    pub fn new(
        store: impl ImageStore + 'static,
        cache: Arc<dyn LayerCache>,
        limits: Limits,
        platform: Platform,
    ) -> Self {
        Scanner {
            store: Arc::new(store),
            catalogers: Arc::new(crate::catalog::all()),
            cache,
            limits,
            platform,
            layer_concurrency: 1,
            metrics: None,
        }
    }

    /// Counts the bytes read from layer blobs in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::observe::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How many layer blobs of one image are decompressed at once (default 1; each
    /// takes one core and a few MiB).
    pub fn with_layer_concurrency(mut self, layers: usize) -> Self {
        self.layer_concurrency = layers.max(1);
        self
    }

    pub fn store(&self) -> &dyn ImageStore {
        self.store.as_ref()
    }

    /// Resolves `reference` and analyses it.
    pub async fn scan(&self, reference: &str) -> Result<ScanOutcome> {
        let image = image::resolve(self.store.as_ref(), reference, &self.platform).await?;
        let span = info_span!("scan", image = %image.repository, digest = %image.manifest_digest);
        self.scan_resolved(image).instrument(span).await
    }

    /// Analyses an already resolved image.
    pub async fn scan_resolved(&self, image: ResolvedImage) -> Result<ScanOutcome> {
        let started = Instant::now();
        let count = image.diff_ids.len();
        let mut analyses: Vec<Option<Arc<LayerAnalysis>>> =
            image.diff_ids.iter().map(|d| self.cache.get(d)).collect();
        let mut origins = vec![LayerOrigin::Cache; count];
        let cached = analyses.iter().filter(|a| a.is_some()).count();
        info!(layers = count, cached, platform = %image.platform, "scanning image");

        if analyses.iter().any(Option::is_none) {
            self.read_from_snapshots(&image, &mut analyses, &mut origins)
                .await;
        }
        // Blobs left: decompression dominates, so layers are read side by side.
        let missing: Vec<usize> = (0..count).filter(|&i| analyses[i].is_none()).collect();
        let mut reads = stream::iter(missing)
            .map(|index| {
                let image = &image;
                async move { (index, self.read_from_blob(image, index).await) }
            })
            .buffer_unordered(self.layer_concurrency);
        while let Some((index, analysis)) = reads.next().await {
            analyses[index] = Some(analysis?);
            origins[index] = LayerOrigin::Blob;
        }
        drop(reads);

        let layers: Vec<(String, Arc<LayerAnalysis>)> = image
            .diff_ids
            .iter()
            .cloned()
            .zip(analyses.into_iter().flatten())
            .collect();
        let contents = analysis::merge::merge(&layers);
        let seconds = started.elapsed().as_secs_f64();
        let packages = contents.packages.len();
        if contents.incomplete.is_empty() {
            info!(packages, seconds, "image scanned");
        } else {
            warn!(
                packages,
                seconds,
                reasons = %contents.incomplete.join("; "),
                "image scanned, incomplete: its SBOM says so"
            );
        }
        Ok(ScanOutcome {
            image,
            contents,
            origins,
        })
    }

    /// Fills in the layers that are missing from the cache from a snapshot view, when the
    /// image is unpacked in a snapshotter we can read per layer. Failures are logged and
    /// leave the layers to the blob reader.
    async fn read_from_snapshots(
        &self,
        image: &ResolvedImage,
        analyses: &mut [Option<Arc<LayerAnalysis>>],
        origins: &mut [LayerOrigin],
    ) {
        let snapshotter = image.snapshotter.as_deref().unwrap_or("overlayfs");
        if LAZY_SNAPSHOTTERS
            .iter()
            .any(|lazy| snapshotter.contains(lazy))
        {
            info!(
                snapshotter,
                "lazy snapshotter: not reading snapshots, which could trigger a pull"
            );
            return;
        }
        if !DIFF_DIR_SNAPSHOTTERS.contains(&snapshotter) {
            debug!(
                snapshotter,
                "snapshotter has no per-layer directories; reading blobs"
            );
            return;
        }
        let chain = image::chain_ids(&image.diff_ids);
        let Some(top) = chain.last() else { return };
        match self.store.snapshot_exists(snapshotter, top).await {
            Ok(true) => {}
            Ok(false) => {
                debug!(snapshotter, chain_id = %top, "image is not unpacked; reading blobs");
                return;
            }
            Err(e) => {
                warn!(error = %e, "cannot stat snapshot; reading blobs");
                return;
            }
        }
        let lease = match self.store.create_lease().await {
            Ok(lease) => lease,
            Err(e) => {
                warn!(error = %e, "cannot create lease; reading blobs");
                return;
            }
        };
        let key = format!("nodebom-view-{}", uuid::Uuid::new_v4());
        match self.store.view(snapshotter, &key, top, &lease).await {
            Ok(mounts) => match layer_dirs(&mounts, image.diff_ids.len()) {
                Ok(dirs) => {
                    self.analyse_snapshot_dirs(image, dirs, analyses, origins)
                        .await
                }
                Err(message) => warn!(%message, "unexpected snapshot mounts; reading blobs"),
            },
            Err(e) => warn!(error = %e, "cannot create snapshot view; reading blobs"),
        }
        self.release(snapshotter, &key, &lease).await;
    }

    async fn analyse_snapshot_dirs(
        &self,
        image: &ResolvedImage,
        dirs: Vec<PathBuf>,
        analyses: &mut [Option<Arc<LayerAnalysis>>],
        origins: &mut [LayerOrigin],
    ) {
        let count = dirs.len();
        for (index, dir) in dirs.into_iter().enumerate() {
            if analyses[index].is_some() {
                continue;
            }
            let diff_id = image.diff_ids[index].clone();
            let span = info_span!("layer", layer = %diff_id, index = index + 1, of = count);
            let started = Instant::now();
            let catalogers = self.catalogers.clone();
            let limits = self.limits.clone();
            let task_diff_id = diff_id.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut source = SnapshotLayer::new(task_diff_id, dir, limits);
                analysis::analyze_layer(&mut source, &catalogers)
            })
            .instrument(span.clone())
            .await;
            let _enter = span.enter();
            match flatten_join(result, &diff_id) {
                Ok(analysis) => {
                    let analysis = Arc::new(analysis);
                    info!(
                        source = "snapshot",
                        seconds = started.elapsed().as_secs_f64(),
                        "layer analysed"
                    );
                    self.keep(&diff_id, &analysis);
                    analyses[index] = Some(analysis);
                    origins[index] = LayerOrigin::Snapshot;
                }
                Err(e) => warn!(error = %e, "cannot read snapshot; trying the blob"),
            }
        }
    }

    /// Removes the view and its lease; failures are logged (the lease expires anyway).
    async fn release(&self, snapshotter: &str, key: &str, lease: &Lease) {
        if let Err(e) = self.store.remove_snapshot(snapshotter, key, lease).await {
            warn!(error = %e, "cannot remove snapshot view");
        }
        if let Err(e) = self.store.delete_lease(lease).await {
            warn!(error = %e, "cannot delete lease; it expires by itself");
        }
    }

    async fn read_from_blob(
        &self,
        image: &ResolvedImage,
        index: usize,
    ) -> Result<Arc<LayerAnalysis>> {
        let diff_id = image.diff_ids[index].clone();
        let descriptor = image.layers[index].clone();
        let span =
            info_span!("layer", layer = %diff_id, index = index + 1, of = image.diff_ids.len());
        let started = Instant::now();
        let Some(mut stream) = self.store.read_blob(&descriptor.digest).await? else {
            return Err(Error::ContentMissing {
                image: image.repository.clone(),
                digest: descriptor.digest,
                message: format!(
                    "layer {} is neither unpacked in a readable snapshot nor present as a blob",
                    index + 1
                ),
            });
        };
        let (sender, receiver) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        let pump = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        let catalogers = self.catalogers.clone();
        let limits = self.limits.clone();
        let task_diff_id = diff_id.clone();
        let blob_digest = descriptor.digest.clone();
        let result = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader::new(receiver);
            let mut source = BlobLayer::new(blob_digest, task_diff_id, reader, limits);
            analysis::analyze_layer(&mut source, &catalogers)
        })
        .instrument(span.clone())
        .await;
        pump.abort();
        let analysis = Arc::new(flatten_join(result, &diff_id)?);
        let _enter = span.enter();
        info!(
            source = "blob",
            bytes = descriptor.size,
            seconds = started.elapsed().as_secs_f64(),
            "layer analysed"
        );
        if let Some(metrics) = &self.metrics {
            metrics.bytes_read(descriptor.size);
        }
        self.keep(&diff_id, &analysis);
        Ok(analysis)
    }

    /// Caches a layer's analysis when the whole layer was read: one that stopped at a
    /// limit is used for this image only, and the layer is read again for the next.
    fn keep(&self, diff_id: &str, analysis: &Arc<LayerAnalysis>) {
        if analysis.is_whole() {
            self.cache.put(diff_id, analysis.clone());
        }
    }
}

fn flatten_join<T>(
    result: std::result::Result<Result<T>, tokio::task::JoinError>,
    diff_id: &str,
) -> Result<T> {
    result.map_err(|e| Error::Layer {
        diff_id: diff_id.to_string(),
        message: format!("analysis task failed: {e}"),
    })?
}

/// The per-layer directories of a read-only view, bottom layer first.
///
/// containerd's overlayfs snapshotter returns a `bind` mount of the only layer's
/// directory, or an `overlay` mount whose `lowerdir=` lists every layer, top first.
fn layer_dirs(mounts: &[Mount], expected: usize) -> std::result::Result<Vec<PathBuf>, String> {
    let [mount] = mounts else {
        return Err(format!("{} mounts instead of one", mounts.len()));
    };
    let dirs: Vec<PathBuf> = match mount.r#type.as_str() {
        "bind" => vec![PathBuf::from(&mount.source)],
        "overlay" => {
            let lower = mount
                .options
                .iter()
                .find_map(|option| option.strip_prefix("lowerdir="))
                .ok_or("overlay mount without lowerdir")?;
            if mount.options.iter().any(|o| o.starts_with("upperdir=")) {
                return Err("overlay mount with an upperdir is not a read-only view".into());
            }
            lower.split(':').rev().map(PathBuf::from).collect()
        }
        other => return Err(format!("mount type {other:?}")),
    };
    if dirs.len() != expected {
        return Err(format!(
            "{} layer directories for {expected} layers",
            dirs.len()
        ));
    }
    if let Some(relative) = dirs.iter().find(|d| !d.is_absolute()) {
        return Err(format!("relative layer directory {}", relative.display()));
    }
    Ok(dirs)
}

/// A blocking reader over chunks sent from an async task (containerd's content stream).
struct ChannelReader {
    receiver: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    position: usize,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<std::io::Result<Vec<u8>>>) -> Self {
        ChannelReader {
            receiver,
            chunk: Vec::new(),
            position: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.position >= self.chunk.len() {
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk?;
                    self.position = 0;
                }
                None => return Ok(0),
            }
        }
        let available = &self.chunk[self.position..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::MemoryLayerCache;
    use crate::image_store::memory::{MemoryImageStore, MANIFEST};
    use crate::layers::testutil::LayerTar;

    const STATUS: &str = "Package: tzdata\nStatus: install ok installed\n\
        Architecture: all\nVersion: 2025b-0+deb12u1\n\n";

    #[tokio::test]
    async fn layers_come_from_blobs_once_then_from_the_cache() {
        let base = LayerTar::new()
            .file("var/lib/dpkg/status", STATUS.as_bytes(), 0o644)
            .finish();
        let app = |name: &str| LayerTar::new().file(name, b"app", 0o755).finish();
        let mut store = MemoryImageStore::default();
        let first = store.put_image(&[base.clone(), app("one")], "linux/amd64");
        let second = store.put_image(&[base, app("two")], "linux/amd64");
        store.tag("docker.io/library/one:1", MANIFEST, &first);
        store.tag("docker.io/library/two:1", MANIFEST, &second);
        let scanner = Scanner::new(
            store,
            Arc::new(MemoryLayerCache::new(8 << 20)),
            Limits::default(),
            Platform::parse("linux/amd64").unwrap(),
        );

        let one = scanner.scan("one:1").await.unwrap();
        assert_eq!(one.image.manifest_digest, first);
        assert_eq!(one.origins, [LayerOrigin::Blob, LayerOrigin::Blob]);
        let packages: Vec<(&str, &str)> = one
            .contents
            .packages
            .iter()
            .map(|p| (p.package.name.as_str(), p.package.version.as_str()))
            .collect();
        assert_eq!(packages, [("tzdata", "2025b-0+deb12u1")]);

        // The shared base layer is not read again.
        let two = scanner.scan("two:1").await.unwrap();
        assert_eq!(two.origins, [LayerOrigin::Cache, LayerOrigin::Blob]);
        assert_eq!(two.contents.packages.len(), 1);
    }

    #[tokio::test]
    async fn bad_entries_and_layer_limits_give_an_incomplete_scan_not_a_failed_one() {
        let mut store = MemoryImageStore::default();
        let base = LayerTar::new()
            .file("var/lib/dpkg/status", STATUS.as_bytes(), 0o644)
            .raw_hardlink(b"etc/escape", b"../..")
            .finish();
        let mut big = LayerTar::new();
        for i in 0..20 {
            big = big.file(&format!("f{i}"), b"", 0o644);
        }
        let big = big.finish();
        let manifest = store.put_image(&[base, big.clone()], "linux/amd64");
        store.tag("docker.io/library/odd:1", MANIFEST, &manifest);
        let scanner = Scanner::new(
            store,
            Arc::new(MemoryLayerCache::new(8 << 20)),
            Limits {
                max_entries: 10,
                ..Limits::default()
            },
            Platform::parse("linux/amd64").unwrap(),
        );

        let first = scanner.scan("odd:1").await.unwrap();
        assert_eq!(first.contents.packages.len(), 1);
        let big_layer = crate::layers::testutil::digest(&big);
        let base_layer = &first.image.diff_ids[0];
        let expected = vec![
            format!(
                "layer {base_layer}: skipped 1 entry: \"etc/escape\" (hard link to the layer root)"
            ),
            format!(
                "layer {big_layer}: stopped at a limit, the rest of the layer not read: \
                 more than 10 entries (max_entries)"
            ),
        ];
        assert_eq!(first.contents.incomplete, expected);

        // The layer with skipped entries is cached; the one that stopped is read again.
        let second = scanner.scan("odd:1").await.unwrap();
        assert_eq!(second.origins, [LayerOrigin::Cache, LayerOrigin::Blob]);
        assert_eq!(second.contents.incomplete, first.contents.incomplete);
    }

    #[tokio::test]
    async fn a_layer_blob_missing_from_the_node_is_content_missing() {
        let mut store = MemoryImageStore::default();
        let tar = LayerTar::new().file("a", b"a", 0o644).finish();
        let manifest = store.put_image(&[tar], "linux/amd64");
        store.tag("docker.io/library/gone:1", MANIFEST, &manifest);
        let layer_blob = store
            .blobs
            .keys()
            .find(|digest| store.blobs[*digest].starts_with(&[0x1f, 0x8b]))
            .cloned()
            .unwrap();
        store.blobs.remove(&layer_blob);
        let scanner = Scanner::new(
            store,
            Arc::new(MemoryLayerCache::new(8 << 20)),
            Limits::default(),
            Platform::parse("linux/amd64").unwrap(),
        );
        let missing = scanner.scan("gone:1").await;
        assert!(
            matches!(&missing, Err(Error::ContentMissing { digest, .. }) if *digest == layer_blob),
            "{missing:?}"
        );
    }

    fn mount(kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            r#type: kind.into(),
            source: source.into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn overlay_lowerdirs_are_returned_bottom_first() {
        let m = mount(
            "overlay",
            "overlay",
            &["ro", "lowerdir=/s/3/fs:/s/2/fs:/s/1/fs"],
        );
        let dirs = layer_dirs(&[m], 3).unwrap();
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/s/1/fs"),
                PathBuf::from("/s/2/fs"),
                PathBuf::from("/s/3/fs")
            ]
        );
    }

    #[test]
    fn single_layer_view_is_a_bind_mount() {
        let m = mount("bind", "/s/1/fs", &["ro", "rbind"]);
        assert_eq!(layer_dirs(&[m], 1).unwrap(), vec![PathBuf::from("/s/1/fs")]);
    }

    #[test]
    fn layer_count_mismatch_and_writable_mounts_are_refused() {
        let m = mount("overlay", "overlay", &["lowerdir=/a:/b"]);
        assert!(layer_dirs(&[m], 3).is_err());
        let m = mount(
            "overlay",
            "overlay",
            &["lowerdir=/a", "upperdir=/u", "workdir=/w"],
        );
        assert!(layer_dirs(&[m], 1).is_err());
        let m = mount("overlay", "overlay", &["lowerdir=rel"]);
        assert!(layer_dirs(&[m], 1).is_err());
    }

    #[test]
    fn channel_reader_concatenates_chunks_and_reports_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(b"hello ".to_vec())).unwrap();
        tx.try_send(Ok(b"world".to_vec())).unwrap();
        drop(tx);
        let mut text = String::new();
        ChannelReader::new(rx).read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello world");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Err(std::io::Error::other("boom"))).unwrap();
        let mut buf = Vec::new();
        assert!(ChannelReader::new(rx).read_to_end(&mut buf).is_err());
    }
}
