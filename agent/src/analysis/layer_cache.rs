//! Layer analyses kept by diffID, so a base layer shared by many images is read once.

use std::num::NonZeroUsize;
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

/// An in-memory [`LayerCache`] holding at most a fixed number of layers, dropping the
/// least recently used first.
pub struct MemoryLayerCache {
    /// `None` when the capacity is zero: caching is off.
    entries: Option<Mutex<LruCache<String, Arc<LayerAnalysis>>>>,
}

impl MemoryLayerCache {
    /// A cache of at most `capacity` layers; 0 disables caching.
    pub fn new(capacity: usize) -> Self {
        MemoryLayerCache {
            entries: NonZeroUsize::new(capacity).map(|cap| Mutex::new(LruCache::new(cap))),
        }
    }
}

impl LayerCache for MemoryLayerCache {
    fn get(&self, diff_id: &str) -> Option<Arc<LayerAnalysis>> {
        let entries = self.entries.as_ref()?;
        // A panic elsewhere while holding the lock leaves the map consistent: every
        // operation on it is a single call.
        let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(diff_id).cloned()
    }

    fn put(&self, diff_id: &str, analysis: Arc<LayerAnalysis>) {
        if let Some(entries) = &self.entries {
            let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.put(diff_id.to_owned(), analysis);
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
    fn least_recently_used_layer_is_dropped_first() {
        let cache = MemoryLayerCache::new(2);
        cache.put("sha256:a", analysis("/a"));
        cache.put("sha256:b", analysis("/b"));
        assert!(cache.get("sha256:a").is_some());
        cache.put("sha256:c", analysis("/c"));
        assert!(cache.get("sha256:b").is_none());
        assert_eq!(cache.get("sha256:a"), Some(analysis("/a")));
        assert_eq!(cache.get("sha256:c"), Some(analysis("/c")));
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = MemoryLayerCache::new(0);
        cache.put("sha256:a", analysis("/a"));
        assert!(cache.get("sha256:a").is_none());
    }
}
