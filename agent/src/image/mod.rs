//! Image resolution: index → platform manifest → config → diffIDs.

/// An image as resolved on this node: what the SBOM describes and what the scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// Repository without tag or digest, e.g. `docker.io/library/nginx`.
    pub repository: String,
    /// Every containerd image name pointing at this image (`repo:tag`, `repo@sha256:…`).
    pub names: Vec<String>,
    /// Digest of the platform manifest (the dedup key: what actually ran).
    pub manifest_digest: String,
    /// Digest of the index the manifest was picked from, when the image is multi-platform.
    pub index_digest: Option<String>,
    /// Digest of the image config (the CRI image id).
    pub config_digest: String,
    /// Platform of the manifest: `linux/amd64`, `linux/arm64/v8`.
    pub platform: String,
    /// Layer diffIDs, bottom first.
    pub diff_ids: Vec<String>,
    /// Compressed layer descriptors from the manifest, bottom first (same order as diff_ids).
    pub layers: Vec<LayerDescriptor>,
}

/// A layer blob as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}
