//! Exposures from the store: the images in a filter's scope with their placements, and
//! their findings.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{exposures, image_matches, Exposure, ExposureFilter};
use crate::error::{Error, Result};
use crate::kev::KevCatalog;
use crate::store::{ImageFilter, ImagePlacements, Store};

/// Most images an exposure query considers.
const MAX_IMAGES: usize = 200_000;
/// How long an answer is kept for its next pages.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Answers kept.
const CACHE_ENTRIES: usize = 8;

/// Recent answers, so that paging through one computes it once and every page comes
/// from the same answer.
#[derive(Debug, Default)]
pub struct ExposureCache {
    entries: Mutex<Vec<CachedAnswer>>,
}

#[derive(Debug)]
struct CachedAnswer {
    filter: String,
    at: Instant,
    exposures: Arc<Vec<Exposure>>,
}

impl ExposureCache {
    /// The exposures `filter` selects: computed anew for a first page, else the answer
    /// computed for its first page when it is recent.
    pub async fn list(
        &self,
        store: &dyn Store,
        kev: Option<&KevCatalog>,
        filter: &ExposureFilter,
        first_page: bool,
    ) -> Result<Arc<Vec<Exposure>>> {
        let key = format!("{filter:?}");
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = entries
                .iter()
                .find(|c| !first_page && c.filter == key && c.at.elapsed() < CACHE_TTL)
            {
                return Ok(Arc::clone(&cached.exposures));
            }
            // Not kept while the new answer is computed: two would be held at once.
            entries.retain(|c| c.filter != key && c.at.elapsed() < CACHE_TTL);
        }
        let exposures = Arc::new(list(store, kev, filter).await?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|c| c.filter != key && c.at.elapsed() < CACHE_TTL);
        if entries.len() >= CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push(CachedAnswer {
            filter: key,
            at: Instant::now(),
            exposures: Arc::clone(&exposures),
        });
        Ok(exposures)
    }
}

/// Every exposure `filter` selects, most urgent first.
pub async fn list(
    store: &dyn Store,
    kev: Option<&KevCatalog>,
    filter: &ExposureFilter,
) -> Result<Vec<Exposure>> {
    let started = Instant::now();
    let images = images_in_scope(store, filter).await?;
    let images_read = started.elapsed();
    let findings = match &filter.vulnerability {
        Some(id) => {
            let digests: BTreeSet<&str> = images
                .iter()
                .map(|image| image.manifest_digest.as_str())
                .collect();
            let mut found = store.findings_known_as(id).await?;
            found.retain(|stored| {
                let (digest, _) = crate::store::outbox::split_project_key(&stored.project);
                digests.contains(digest)
            });
            found
        }
        None => {
            let digests = images
                .iter()
                .map(|image| image.manifest_digest.clone())
                .collect();
            store.findings_of(digests).await?
        }
    };
    let findings_read = started.elapsed();
    let count = findings.len();
    let exposures = exposures(&images, findings, kev, filter);
    tracing::debug!(
        images = images.len(),
        findings = count,
        exposures = exposures.len(),
        images_ms = images_read.as_millis() as u64,
        findings_ms = (findings_read - images_read).as_millis() as u64,
        join_ms = (started.elapsed() - findings_read).as_millis() as u64,
        "exposures computed"
    );
    Ok(exposures)
}

/// The images on nodes or in workloads within the filter's cluster and namespace, with
/// their placements there.
async fn images_in_scope(
    store: &dyn Store,
    filter: &ExposureFilter,
) -> Result<Vec<ImagePlacements>> {
    let scope = ImageFilter {
        digest: None,
        name: None,
        cluster: filter.cluster.clone(),
        namespace: filter.namespace.clone(),
        node: None,
        pod: None,
        running_only: filter.running_only,
    };
    let mut images = store.placements(scope, MAX_IMAGES + 1).await?;
    if images.len() > MAX_IMAGES {
        return Err(Error::ResourceExhausted(format!(
            "more than {MAX_IMAGES} images in scope; narrow it by cluster or namespace"
        )));
    }
    if let Some(wanted) = filter.image.as_deref() {
        images.retain(|image| image_matches(wanted, &image.manifest_digest, &image.names));
    }
    Ok(images)
}
