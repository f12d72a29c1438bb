//! Tests of the disk layer cache with analyses of the catalogers' real fixture trees.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::analysis::analyze_layer;
use crate::layers::snapshot::SnapshotLayer;
use crate::layers::Limits;

/// The analysis of a fixture tree read as one snapshot layer, under a diffID made
/// from the tree's path.
fn analysed(tree: &str) -> (String, Arc<LayerAnalysis>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/catalog")
        .join(tree);
    let diff_id = nodebom_proto::digest::Digest::sha256_of(tree.as_bytes()).to_string();
    let mut layer = SnapshotLayer::new(diff_id.clone(), root, Limits::default());
    let analysis = analyze_layer(&mut layer, &crate::catalog::all()).unwrap();
    assert!(analysis.package_count() > 0, "{tree} has packages");
    (diff_id, Arc::new(analysis))
}

fn dpkg() -> (String, Arc<LayerAnalysis>) {
    analysed("dpkg/testdata")
}

fn apk() -> (String, Arc<LayerAnalysis>) {
    analysed("apk/testdata")
}

fn python() -> (String, Arc<LayerAnalysis>) {
    analysed("python/testdata")
}

/// Layer files in the cache directory, by name.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(LAYERS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn file_of(dir: &Path, diff_id: &str) -> PathBuf {
    let name = files(dir)
        .into_iter()
        .find(|name| name.contains(diff_id.trim_start_matches("sha256:")))
        .unwrap();
    dir.join(LAYERS_DIR).join(name)
}

/// Size on disk of one layer's file, measured in a scratch cache.
fn stored_size(layer: &(String, Arc<LayerAnalysis>)) -> u64 {
    let scratch = tempfile::tempdir().unwrap();
    let cache = DiskLayerCache::open(scratch.path(), u64::MAX, 0).unwrap();
    cache.put(&layer.0, layer.1.clone());
    cache.disk_bytes()
}

#[test]
fn analyses_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (diff_id, analysis) = dpkg();
    {
        let cache = DiskLayerCache::open(dir.path(), 1 << 30, 16 << 20).unwrap();
        cache.put(&diff_id, analysis.clone());
    }
    let reopened = DiskLayerCache::open(dir.path(), 1 << 30, 16 << 20).unwrap();
    assert_eq!(reopened.disk_layers(), 1);
    assert_eq!(reopened.get(&diff_id), Some(analysis));
    let (other, _) = apk();
    assert_eq!(reopened.get(&other), None);
}

#[test]
fn least_recently_used_file_is_evicted_first() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dpkg(), apk(), python());
    // Room for any two of the three.
    let bound = stored_size(&a) + stored_size(&b) + stored_size(&c)
        - [stored_size(&a), stored_size(&b), stored_size(&c)]
            .into_iter()
            .min()
            .unwrap();
    // No memory front: every get reads the disk.
    let cache = DiskLayerCache::open(dir.path(), bound, 0).unwrap();
    cache.put(&a.0, a.1.clone());
    cache.put(&b.0, b.1.clone());
    assert_eq!(cache.get(&a.0), Some(a.1.clone()));
    cache.put(&c.0, c.1.clone());

    assert_eq!(cache.get(&b.0), None, "b was used least recently");
    assert_eq!(cache.get(&a.0), Some(a.1));
    assert_eq!(cache.get(&c.0), Some(c.1));
    assert_eq!(files(dir.path()).len(), 2);
}

#[test]
fn eviction_order_after_reopening_follows_the_files_last_use() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dpkg(), apk());
    {
        let cache = DiskLayerCache::open(dir.path(), u64::MAX, 0).unwrap();
        cache.put(&a.0, a.1.clone());
        cache.put(&b.0, b.1.clone());
    }
    // `a` was written last-but-one; make it the most recently used one as a read would.
    let old = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(file_of(dir.path(), &b.0))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let bound = stored_size(&a);
    let cache = DiskLayerCache::open(dir.path(), bound, 0).unwrap();
    assert_eq!(cache.disk_layers(), 1);
    assert_eq!(cache.get(&a.0), Some(a.1));
    assert_eq!(cache.get(&b.0), None);
}

#[test]
fn corrupt_file_is_a_miss_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (diff_id, analysis) = dpkg();
    DiskLayerCache::open(dir.path(), 1 << 30, 0)
        .unwrap()
        .put(&diff_id, analysis);
    let path = file_of(dir.path(), &diff_id);
    // A truncated file, as a full disk leaves it.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let cache = DiskLayerCache::open(dir.path(), 1 << 30, 0).unwrap();
    assert_eq!(cache.get(&diff_id), None);
    assert!(!path.exists());
    assert_eq!(cache.disk_bytes(), 0);
}

#[test]
fn file_holding_another_layer_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dpkg(), apk());
    let cache = DiskLayerCache::open(dir.path(), 1 << 30, 0).unwrap();
    cache.put(&a.0, a.1.clone());
    cache.put(&b.0, b.1);
    std::fs::copy(file_of(dir.path(), &a.0), file_of(dir.path(), &b.0)).unwrap();
    assert_eq!(cache.get(&b.0), None);
    assert_eq!(cache.get(&a.0), Some(a.1));
}

#[test]
fn total_size_stays_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let layers = [dpkg(), apk(), python()];
    let bound = layers.iter().map(stored_size).max().unwrap() + 1;
    let cache = DiskLayerCache::open(dir.path(), bound, 0).unwrap();
    for layer in &layers {
        cache.put(&layer.0, layer.1.clone());
        let on_disk: u64 = files(dir.path())
            .iter()
            .map(|name| {
                std::fs::metadata(dir.path().join(LAYERS_DIR).join(name))
                    .unwrap()
                    .len()
            })
            .sum();
        assert!(on_disk <= bound, "{on_disk} > {bound}");
        assert_eq!(on_disk, cache.disk_bytes());
    }
    // Reopening with a smaller bound evicts down to it.
    let cache = DiskLayerCache::open(dir.path(), 0, 0).unwrap();
    assert_eq!(cache.disk_layers(), 0);
    assert!(files(dir.path()).is_empty());
}

#[test]
fn layer_larger_than_the_bound_stays_in_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let (diff_id, analysis) = dpkg();
    let cache = DiskLayerCache::open(dir.path(), 16, 4 << 20).unwrap();
    cache.put(&diff_id, analysis.clone());
    assert_eq!(cache.get(&diff_id), Some(analysis));
    assert_eq!(cache.disk_layers(), 0);
    assert!(files(dir.path()).is_empty());
}

#[test]
fn files_of_another_generation_and_left_over_temp_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (diff_id, analysis) = dpkg();
    DiskLayerCache::open_generation(dir.path(), 1 << 30, 0, "v0-0.0.1".into())
        .unwrap()
        .put(&diff_id, analysis.clone());
    let layers = dir.path().join(LAYERS_DIR);
    std::fs::write(layers.join(".tmp-crashed"), b"partial").unwrap();
    std::fs::write(layers.join("README"), b"not ours").unwrap();

    let cache = DiskLayerCache::open(dir.path(), 1 << 30, 0).unwrap();
    assert_eq!(cache.get(&diff_id), None);
    assert_eq!(files(dir.path()), ["README"]);
    cache.put(&diff_id, analysis.clone());
    assert_eq!(cache.get(&diff_id), Some(analysis));
}

#[test]
fn malformed_diff_id_never_names_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, analysis) = dpkg();
    let cache = DiskLayerCache::open(dir.path(), 1 << 30, 4 << 20).unwrap();
    cache.put("sha256:../../../etc/passwd", analysis.clone());
    assert!(files(dir.path()).is_empty());
    assert_eq!(cache.get("sha256:../../../etc/passwd"), Some(analysis));
}
