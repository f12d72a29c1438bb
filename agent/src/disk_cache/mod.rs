//! A layer cache on disk, so that an agent restart does not read every layer again.
//!
//! One zstd-compressed JSON file per diffID, `<dir>/layers/sha256-<hex>.<generation>.json.zst`,
//! where the generation names the file format and the agent version (the findings
//! depend on the catalogers, see [`LayerCache`]). Files of other generations are never
//! read and are deleted when the cache is opened. Files are written to a temporary
//! name and renamed, so a reader never sees half a file; a file that still cannot be
//! read (disk trouble, edited by hand) is a miss and is deleted.
//!
//! The total size of the files is bounded: the least recently used are deleted first.
//! Recency is kept in memory and rebuilt from the files' modification times on open
//! (a file read from disk gets its time refreshed). Hot layers are also kept decoded in
//! a [`MemoryLayerCache`] in front.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use lru::LruCache;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::analysis::{LayerAnalysis, LayerCache, MemoryLayerCache};
use crate::image::is_sha256;
use crate::{Error, Result};

/// Version of the file format; bump it when [`CachedLayer`] or the serde form of
/// [`LayerAnalysis`] changes.
const FORMAT: u32 = 6;
/// Subdirectory of the cache directory that holds the layer files.
const LAYERS_DIR: &str = "layers";
const PREFIX: &str = "sha256-";
const SUFFIX: &str = ".json.zst";
/// Prefix of files being written; left-overs of a crash are deleted on open.
const TEMP_PREFIX: &str = ".tmp-";
/// Largest decoded file: far above any real layer's findings, far below memory limits.
const MAX_DECODED_BYTES: u64 = 64 << 20;
const ZSTD_LEVEL: i32 = 3;

/// What one file holds. The diffID is repeated inside so that a file under the wrong
/// name is detected.
#[derive(Serialize)]
struct CachedLayerRef<'a> {
    diff_id: &'a str,
    analysis: &'a LayerAnalysis,
}

#[derive(Deserialize)]
struct CachedLayer {
    diff_id: String,
    analysis: LayerAnalysis,
}

/// A [`LayerCache`] on disk with a bounded total size, in front of which a
/// [`MemoryLayerCache`] keeps hot layers decoded.
///
/// ```no_run
/// use std::sync::Arc;
/// use nodebom_agent::analysis::LayerCache;
/// use nodebom_agent::disk_cache::DiskLayerCache;
///
/// let cache: Arc<dyn LayerCache> =
///     Arc::new(DiskLayerCache::open("/var/cache/nodebom", 512 << 20, 32 << 20)?);
/// # Ok::<(), nodebom_agent::Error>(())
/// ```
pub struct DiskLayerCache {
    dir: PathBuf,
    generation: String,
    max_bytes: u64,
    front: MemoryLayerCache,
    index: Mutex<Index>,
}

/// The files on disk, least recently used first, with their sizes.
struct Index {
    files: LruCache<String, u64>,
    total_bytes: u64,
}

impl DiskLayerCache {
    /// Opens the cache in `dir` (created if missing), keeping at most `max_bytes` of
    /// files on disk and about `memory_bytes` of decoded analyses in memory.
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64, memory_bytes: u64) -> Result<Self> {
        let generation = format!("v{FORMAT}-{}", env!("CARGO_PKG_VERSION"));
        Self::open_generation(dir.as_ref(), max_bytes, memory_bytes, generation)
    }

    fn open_generation(
        dir: &Path,
        max_bytes: u64,
        memory_bytes: u64,
        generation: String,
    ) -> Result<Self> {
        let dir = dir.join(LAYERS_DIR);
        let io_error = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io_error)?;
        let mut found: Vec<(SystemTime, String, u64)> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let keep = match parse_name(name) {
                Some((hex, file_generation)) if file_generation == generation => {
                    match entry.metadata() {
                        Ok(meta) if meta.is_file() => {
                            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                            found.push((used, hex.to_string(), meta.len()));
                            true
                        }
                        _ => false,
                    }
                }
                Some(_) => false,
                None => !name.starts_with(TEMP_PREFIX),
            };
            if !keep {
                debug!(file = %entry.path().display(), "stale layer cache file removed");
                remove_file(&entry.path());
            }
        }
        found.sort();
        let mut index = Index {
            files: LruCache::unbounded(),
            total_bytes: 0,
        };
        for (_, hex, size) in found {
            index.total_bytes += size;
            index.files.put(hex, size);
        }
        let cache = DiskLayerCache {
            dir,
            generation,
            max_bytes,
            front: MemoryLayerCache::new(memory_bytes),
            index: Mutex::new(index),
        };
        let victims = cache.lock().evict(max_bytes);
        cache.remove_files(&victims);
        debug!(
            dir = %cache.dir.display(),
            layers = cache.disk_layers(),
            bytes = cache.disk_bytes(),
            "layer cache opened"
        );
        Ok(cache)
    }

    /// Bytes of layer files on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.lock().total_bytes
    }

    /// Number of layer files on disk.
    pub fn disk_layers(&self) -> usize {
        self.lock().files.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // Every update of the index is completed before its lock is released, so a
        // panic elsewhere cannot leave it inconsistent.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path_of(&self, hex: &str) -> PathBuf {
        self.dir
            .join(format!("{PREFIX}{hex}.{}{SUFFIX}", self.generation))
    }

    fn remove_files(&self, hexes: &[String]) {
        for hex in hexes {
            debug!(layer = %hex, "layer evicted from the disk cache");
            remove_file(&self.path_of(hex));
        }
    }

    fn forget(&self, hex: &str) {
        let mut index = self.lock();
        if let Some(size) = index.files.pop(hex) {
            index.total_bytes = index.total_bytes.saturating_sub(size);
        }
    }

    fn read(&self, path: &Path, diff_id: &str) -> std::result::Result<LayerAnalysis, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        // Refresh the time that orders eviction after a restart; a failure only costs
        // accuracy of that order.
        let _ = file.set_modified(SystemTime::now());
        let mut json = Vec::new();
        zstd::stream::read::Decoder::new(file)
            .map_err(|e| e.to_string())?
            .take(MAX_DECODED_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| format!("decompressing: {e}"))?;
        if json.len() as u64 > MAX_DECODED_BYTES {
            return Err(format!("larger than {MAX_DECODED_BYTES} bytes decoded"));
        }
        let cached: CachedLayer =
            serde_json::from_slice(&json).map_err(|e| format!("decoding: {e}"))?;
        if cached.diff_id != diff_id {
            return Err(format!("holds layer {}", cached.diff_id));
        }
        Ok(cached.analysis)
    }

    fn write(&self, path: &Path, diff_id: &str, analysis: &LayerAnalysis) -> Result<u64> {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(&CachedLayerRef { diff_id, analysis })
            .map_err(|e| io_error(e.into()))?;
        let compressed = zstd::stream::encode_all(json.as_slice(), ZSTD_LEVEL).map_err(io_error)?;
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(io_error)?;
        temp.write_all(&compressed).map_err(io_error)?;
        temp.persist(path).map_err(|e| io_error(e.error))?;
        Ok(compressed.len() as u64)
    }
}

impl Index {
    /// Drops least recently used entries until the total is at most `max_bytes`;
    /// returns them so their files can be deleted outside the lock.
    fn evict(&mut self, max_bytes: u64) -> Vec<String> {
        let mut victims = Vec::new();
        while self.total_bytes > max_bytes {
            let Some((hex, size)) = self.files.pop_lru() else {
                break;
            };
            self.total_bytes = self.total_bytes.saturating_sub(size);
            victims.push(hex);
        }
        victims
    }
}

impl LayerCache for DiskLayerCache {
    fn get(&self, diff_id: &str) -> Option<Arc<LayerAnalysis>> {
        if let Some(analysis) = self.front.get(diff_id) {
            if let Some(hex) = file_key(diff_id) {
                self.lock().files.promote(hex);
            }
            return Some(analysis);
        }
        let hex = file_key(diff_id)?;
        // The index knows every file: no disk access for a layer never cached.
        if !self.lock().files.contains(hex) {
            return None;
        }
        let path = self.path_of(hex);
        match self.read(&path, diff_id) {
            Ok(analysis) => {
                self.lock().files.promote(hex);
                let analysis = Arc::new(analysis);
                self.front.put(diff_id, analysis.clone());
                Some(analysis)
            }
            Err(reason) => {
                warn!(file = %path.display(), %reason, "unreadable layer cache file removed");
                self.forget(hex);
                remove_file(&path);
                None
            }
        }
    }

    fn put(&self, diff_id: &str, analysis: Arc<LayerAnalysis>) {
        self.front.put(diff_id, analysis.clone());
        // Only well-formed diffIDs name files: nothing else reaches the file system.
        let Some(hex) = file_key(diff_id) else {
            return;
        };
        let path = self.path_of(hex);
        let size = match self.write(&path, diff_id, &analysis) {
            Ok(size) => size,
            Err(error) => {
                warn!(layer = %diff_id, %error, "layer not written to the disk cache");
                self.forget(hex);
                return;
            }
        };
        let victims = {
            let mut index = self.lock();
            if let Some(old) = index.files.put(hex.to_string(), size) {
                index.total_bytes = index.total_bytes.saturating_sub(old);
            }
            index.total_bytes += size;
            index.evict(self.max_bytes)
        };
        self.remove_files(&victims);
    }
}

/// The hex part of a `sha256:` diffID, which names its file.
fn file_key(diff_id: &str) -> Option<&str> {
    if is_sha256(diff_id) {
        diff_id.strip_prefix("sha256:")
    } else {
        None
    }
}

/// `sha256-<hex>.<generation>.json.zst` → (hex, generation).
fn parse_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (hex, generation) = rest.split_once('.')?;
    is_sha256(&format!("sha256:{hex}")).then_some((hex, generation))
}

fn remove_file(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(file = %path.display(), error = %e, "cannot remove layer cache file"),
    }
}

#[cfg(test)]
mod tests;
