//! Layer analyses kept by diffID, so a base layer shared by many images is read once.

use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

use super::LayerAnalysis;

/// Where finished [`LayerAnalysis`] values are kept, keyed by diffID.
///
/// Implementations must only ever return what was `put` for that diffID (a diffID names
/// the layer's content, so an entry never goes stale while the catalogers stay the
/// same). A cache that outlives the process, such as one on disk storing the serde form
/// of [`LayerAnalysis`], must also key on the agent's version, since the findings depend
/// on the catalogers. Callers put only analyses of layers read and verified completely:
/// an `Ok` from [`super::analyze_layer`].
pub trait LayerCache: Send + Sync {
    /// The analysis of layer `diff_id`, if cached.
    fn get(&self, diff_id: &str) -> Option<Arc<LayerAnalysis>>;
    /// Stores the analysis of layer `diff_id`, replacing any earlier one.
    fn put(&self, diff_id: &str, analysis: Arc<LayerAnalysis>);
}

/// An in-memory [`LayerCache`] holding at most about `max_bytes` of analyses, dropping
/// the least recently used first. A layer's size is that of its serde form, which tracks
/// what it holds in memory (paths, names, versions) closely enough to bound it.
pub struct MemoryLayerCache {
    max_bytes: u64,
    entries: Mutex<Entries>,
}

struct Entries {
    /// Each analysis with its estimated size.
    layers: LruCache<String, (Arc<LayerAnalysis>, u64)>,
    total_bytes: u64,
}

impl MemoryLayerCache {
    /// A cache of at most about `max_bytes`; 0 disables caching.
    pub fn new(max_bytes: u64) -> Self {
        MemoryLayerCache {
            max_bytes,
            entries: Mutex::new(Entries {
                layers: LruCache::unbounded(),
                total_bytes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves the map consistent: every
        // change to it is completed before the next call that could panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Layers held and their estimated bytes.
    pub fn usage(&self) -> (usize, u64) {
        let entries = self.lock();
        (entries.layers.len(), entries.total_bytes)
    }
}

/// Bytes of an analysis's serde form, counted without building it.
fn estimated_bytes(analysis: &LayerAnalysis) -> u64 {
    struct Counter(u64);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serialising plain data into a writer that cannot fail does not fail; if it ever
    // did, the entry counts as too large to cache.
    match serde_json::to_writer(&mut counter, analysis) {
        Ok(()) => counter.0,
        Err(_) => u64::MAX,
    }
}

impl LayerCache for MemoryLayerCache {
    fn get(&self, diff_id: &str) -> Option<Arc<LayerAnalysis>> {
        self.lock()
            .layers
            .get(diff_id)
            .map(|(analysis, _)| analysis.clone())
    }

    fn put(&self, diff_id: &str, analysis: Arc<LayerAnalysis>) {
        if self.max_bytes == 0 {
            return;
        }
        let size = estimated_bytes(&analysis);
        let mut entries = self.lock();
        if let Some((_, old)) = entries.layers.pop(diff_id) {
            entries.total_bytes -= old;
        }
        if size > self.max_bytes {
            return;
        }
        entries.layers.put(diff_id.to_owned(), (analysis, size));
        entries.total_bytes += size;
        while entries.total_bytes > self.max_bytes {
            let Some((_, (_, dropped))) = entries.layers.pop_lru() else {
                break;
            };
            entries.total_bytes -= dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(whiteout: &str) -> Arc<LayerAnalysis> {
        let mut analysis = LayerAnalysis::default();
        analysis.whiteouts.insert(whiteout.to_string());
        Arc::new(analysis)
    }

    #[test]
    fn least_recently_used_layer_is_dropped_first_once_the_bytes_are_spent() {
        let size = estimated_bytes(&analysis("/a"));
        let cache = MemoryLayerCache::new(2 * size);
        cache.put("sha256:a", analysis("/a"));
        cache.put("sha256:b", analysis("/b"));
        assert!(cache.get("sha256:a").is_some());
        cache.put("sha256:c", analysis("/c"));
        assert!(cache.get("sha256:b").is_none());
        assert_eq!(cache.get("sha256:a"), Some(analysis("/a")));
        assert_eq!(cache.get("sha256:c"), Some(analysis("/c")));
        assert_eq!(cache.usage(), (2, 2 * size));
    }

    #[test]
    fn a_large_layer_displaces_several_small_ones_and_one_over_the_bound_is_not_kept() {
        let small = estimated_bytes(&analysis("/a"));
        let cache = MemoryLayerCache::new(4 * small);
        for name in ["a", "b", "c", "d"] {
            cache.put(&format!("sha256:{name}"), analysis(&format!("/{name}")));
        }
        let growing_past = |bytes: u64, prefix: &str| {
            let mut grown = LayerAnalysis::default();
            while estimated_bytes(&grown) <= bytes {
                grown
                    .whiteouts
                    .insert(format!("/{prefix}{}", grown.whiteouts.len()));
            }
            Arc::new(grown)
        };
        let large = growing_past(2 * small, "l");
        let large_size = estimated_bytes(&large);
        assert!(large_size <= 4 * small, "{large_size}");
        cache.put("sha256:l", large.clone());
        let (layers, bytes) = cache.usage();
        assert!(bytes <= 4 * small, "{bytes}");
        assert_eq!(cache.get("sha256:l"), Some(large));
        assert!(cache.get("sha256:a").is_none() && cache.get("sha256:b").is_none());
        assert!(layers < 4);

        cache.put("sha256:h", growing_past(4 * small, "h"));
        assert!(cache.get("sha256:h").is_none());
        assert!(cache.get("sha256:l").is_some());
    }

    #[test]
    fn zero_bytes_caches_nothing() {
        let cache = MemoryLayerCache::new(0);
        cache.put("sha256:a", analysis("/a"));
        assert!(cache.get("sha256:a").is_none());
    }
}
