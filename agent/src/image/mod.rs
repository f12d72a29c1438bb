//! Image resolution: index → the node platform's manifest that is present → config → diffIDs.

mod reference;

pub use reference::{normalize_name, repository_of};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::image_store::ImageStore;
use crate::{Error, Result};
use nodebom_proto::digest::Digest;

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
    /// Snapshotter that unpacked the image, from the config's GC label, when known.
    pub snapshotter: Option<String>,
}

/// A layer blob as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// The platform whose manifest is picked from a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this agent runs on, in OCI/Go terms.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant,
        })
    }

    /// How well an index entry's platform fits: `None` when it does not run here at all,
    /// higher is better (an exact variant beats an unspecified one).
    fn fit(&self, os: &str, architecture: &str, variant: Option<&str>) -> Option<u8> {
        if os != self.os || architecture != self.architecture {
            return None;
        }
        match (variant, self.variant.as_deref()) {
            (Some(v), Some(want)) if v == want => Some(2),
            (None, _) => Some(1),
            (Some(_), None) => Some(1),
            (Some(_), Some(_)) => Some(0),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// Nested indexes are legal but rare; a hostile chain of them must end.
const MAX_INDEX_DEPTH: usize = 4;
/// Layers in one image (Docker's limit is 127; leave room).
const MAX_LAYERS: usize = 256;

/// Finds the containerd image record for `reference` and resolves it for `platform`.
///
/// `reference` may be any name containerd knows (`docker.io/library/nginx:1.27`,
/// `repo@sha256:…`), a Docker-style short name (`nginx:1.27`), or a digest: the
/// manifest/index digest or the config digest (`sha256:…`, the CRI image id).
pub async fn resolve(
    client: &dyn ImageStore,
    reference: &str,
    platform: &Platform,
) -> Result<ResolvedImage> {
    let images = client.list_images().await?;
    let record = find_record(client, &images, reference, platform).await?;
    let Some(target) = record.target.as_ref() else {
        return Err(Error::Image {
            image: reference.to_string(),
            message: "containerd image record has no target".into(),
        });
    };
    let mut names: Vec<String> = images
        .iter()
        .filter(|image| image.target.as_ref().map(|t| &t.digest) == Some(&target.digest))
        .map(|image| image.name.clone())
        .collect();
    names.sort();
    names.dedup();
    let repository = names
        .iter()
        .find_map(|name| repository_of(name))
        .unwrap_or_else(|| reference.to_string());
    resolve_target(
        client,
        reference,
        &target.media_type,
        &target.digest,
        platform,
    )
    .await
    .map(|(index_digest, manifest)| ResolvedImage {
        repository,
        names,
        index_digest,
        ..manifest
    })
}

/// Resolves one image record already listed by the caller, without listing the namespace
/// again as [`resolve`] does: resolving every image of a node costs one `Images.List`.
/// `names` holds only the record's own name; the caller knows the other records.
pub async fn resolve_record(
    client: &dyn ImageStore,
    record: &crate::containerd::api::images::Image,
    platform: &Platform,
) -> Result<ResolvedImage> {
    let Some(target) = record.target.as_ref() else {
        return Err(Error::Image {
            image: record.name.clone(),
            message: "containerd image record has no target".into(),
        });
    };
    let (index_digest, manifest) = resolve_target(
        client,
        &record.name,
        &target.media_type,
        &target.digest,
        platform,
    )
    .await?;
    Ok(ResolvedImage {
        repository: repository_of(&record.name).unwrap_or_else(|| record.name.clone()),
        names: vec![record.name.clone()],
        index_digest,
        ..manifest
    })
}

/// Every distinct image (by target digest) of the namespace, as names to resolve.
pub async fn list_targets(client: &dyn ImageStore) -> Result<Vec<String>> {
    let mut images = client.list_images().await?;
    images.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = std::collections::BTreeSet::new();
    let mut names = Vec::new();
    // Prefer a readable name (`repo:tag`) over `repo@digest` and the bare config digest.
    images.sort_by_key(|image| (image.name.starts_with("sha256:"), image.name.contains('@')));
    for image in images {
        let Some(target) = image.target else { continue };
        if seen.insert(target.digest) {
            names.push(image.name);
        }
    }
    names.sort();
    Ok(names)
}

async fn find_record(
    client: &dyn ImageStore,
    images: &[crate::containerd::api::images::Image],
    reference: &str,
    platform: &Platform,
) -> Result<crate::containerd::api::images::Image> {
    let by_name = |name: &str| images.iter().find(|image| image.name == name).cloned();
    if let Some(image) = by_name(reference) {
        return Ok(image);
    }
    if let Some(normalized) = normalize_name(reference) {
        if let Some(image) = by_name(&normalized) {
            return Ok(image);
        }
    }
    let digest = reference
        .rsplit_once('@')
        .map(|(_, digest)| digest)
        .unwrap_or(reference);
    if digest.starts_with("sha256:") {
        if let Some(image) = images
            .iter()
            .find(|image| image.target.as_ref().is_some_and(|t| t.digest == digest))
        {
            return Ok(image.clone());
        }
        // A config digest (the CRI image id) of an image that has no `sha256:` record.
        for image in images {
            let Some(target) = &image.target else {
                continue;
            };
            if let Ok((_, resolved)) = resolve_target(
                client,
                &image.name,
                &target.media_type,
                &target.digest,
                platform,
            )
            .await
            {
                if resolved.config_digest == digest {
                    return Ok(image.clone());
                }
            }
        }
    }
    Err(Error::ImageNotFound {
        image: reference.to_string(),
        namespace: client.namespace().to_string(),
    })
}

/// Resolves a target descriptor down to one manifest; returns the index digest if there was one.
async fn resolve_target(
    client: &dyn ImageStore,
    image: &str,
    media_type: &str,
    digest: &str,
    platform: &Platform,
) -> Result<(Option<String>, ResolvedImage)> {
    let mut media_type = media_type.to_string();
    let mut digest = digest.to_string();
    let mut index_digest = None;
    for _ in 0..MAX_INDEX_DEPTH {
        let bytes = read_metadata_blob(client, image, &digest).await?;
        let is_index = INDEX_TYPES.contains(&media_type.as_str())
            || (!MANIFEST_TYPES.contains(&media_type.as_str()) && looks_like_index(&bytes));
        if !is_index {
            let manifest =
                ImageManifest::from_reader(bytes.as_slice()).map_err(|e| Error::Image {
                    image: image.to_string(),
                    message: format!("manifest {digest}: {e}"),
                })?;
            let resolved = resolve_manifest(client, image, &digest, &manifest).await?;
            return Ok((index_digest, resolved));
        }
        let index = ImageIndex::from_reader(bytes.as_slice()).map_err(|e| Error::Image {
            image: image.to_string(),
            message: format!("index {digest}: {e}"),
        })?;
        index_digest.get_or_insert_with(|| digest.clone());
        let chosen = pick_manifest(client, image, &digest, index.manifests(), platform).await?;
        media_type = chosen.media_type().to_string();
        digest = chosen.digest().to_string();
    }
    Err(Error::Image {
        image: image.to_string(),
        message: format!("indexes nested deeper than {MAX_INDEX_DEPTH}"),
    })
}

fn looks_like_index(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|v| v.get("manifests").is_some())
        .unwrap_or(false)
}

/// Picks the best-fitting manifest for `platform` among those whose blob is on this node.
async fn pick_manifest<'a>(
    client: &dyn ImageStore,
    image: &str,
    index_digest: &str,
    manifests: &'a [Descriptor],
    platform: &Platform,
) -> Result<&'a Descriptor> {
    let mut candidates: Vec<(u8, &Descriptor)> = manifests
        .iter()
        .filter_map(|descriptor| {
            let fit = match descriptor.platform() {
                Some(p) => platform.fit(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )?,
                // No platform: only usable when it is the index's sole entry.
                None if manifests.len() == 1 => 0,
                None => return None,
            };
            Some((fit, descriptor))
        })
        .collect();
    candidates.sort_by_key(|(fit, _)| std::cmp::Reverse(*fit));
    if candidates.is_empty() {
        return Err(Error::Image {
            image: image.to_string(),
            message: format!("index {index_digest} has no manifest for platform {platform}"),
        });
    }
    for (_, descriptor) in &candidates {
        if client
            .blob_labels(descriptor.digest().as_ref())
            .await?
            .is_some()
        {
            return Ok(descriptor);
        }
    }
    let digest = candidates
        .first()
        .map(|(_, d)| d.digest().to_string())
        .unwrap_or_default();
    Err(Error::ContentMissing {
        image: image.to_string(),
        digest,
        message: format!("no manifest of index {index_digest} for {platform} is present"),
    })
}

async fn resolve_manifest(
    client: &dyn ImageStore,
    image: &str,
    manifest_digest: &str,
    manifest: &ImageManifest,
) -> Result<ResolvedImage> {
    let config_digest = manifest.config().digest().to_string();
    let config_bytes = read_metadata_blob(client, image, &config_digest).await?;
    let config =
        ImageConfiguration::from_reader(config_bytes.as_slice()).map_err(|e| Error::Image {
            image: image.to_string(),
            message: format!("config {config_digest}: {e}"),
        })?;
    let diff_ids = config.rootfs().diff_ids().clone();
    let layers: Vec<LayerDescriptor> = manifest
        .layers()
        .iter()
        .map(|layer| LayerDescriptor {
            digest: layer.digest().to_string(),
            media_type: layer.media_type().to_string(),
            size: layer.size(),
        })
        .collect();
    if layers.len() != diff_ids.len() {
        return Err(Error::Image {
            image: image.to_string(),
            message: format!(
                "manifest lists {} layers but the config {} diffIDs",
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    if layers.len() > MAX_LAYERS {
        return Err(Error::Image {
            image: image.to_string(),
            message: format!("{} layers (more than {MAX_LAYERS})", layers.len()),
        });
    }
    if let Some(bad) = diff_ids.iter().find(|d| !is_sha256(d)) {
        return Err(Error::Image {
            image: image.to_string(),
            message: format!("config {config_digest}: diffID {bad:?} is not a sha256 digest"),
        });
    }
    let snapshotter = client
        .blob_labels(&config_digest)
        .await?
        .unwrap_or_default()
        .keys()
        .find_map(|label| label.strip_prefix("containerd.io/gc.ref.snapshot."))
        .map(str::to_string);
    let mut platform = format!("{}/{}", config.os(), config.architecture());
    if let Some(variant) = config.variant() {
        platform.push('/');
        platform.push_str(variant);
    }
    Ok(ResolvedImage {
        repository: String::new(),
        names: Vec::new(),
        manifest_digest: manifest_digest.to_string(),
        index_digest: None,
        config_digest,
        platform,
        diff_ids,
        layers,
        snapshotter,
    })
}

async fn read_metadata_blob(client: &dyn ImageStore, image: &str, digest: &str) -> Result<Vec<u8>> {
    let bytes = client
        .read_small_blob(digest)
        .await?
        .ok_or_else(|| Error::ContentMissing {
            image: image.to_string(),
            digest: digest.to_string(),
            message: "blob not in the content store".into(),
        })?;
    Digest::parse(digest)
        .map_err(|e| e.to_string())
        .and_then(|expected| expected.verify(&bytes))
        .map_err(|message| Error::Image {
            image: image.to_string(),
            message,
        })?;
    Ok(bytes)
}

/// Whether `text` is a SHA-256 digest (diffIDs and chain IDs must be).
pub fn is_sha256(text: &str) -> bool {
    Digest::parse(text).is_ok_and(|digest| digest.is_sha256())
}

/// The chain IDs of a layer stack: the names of its committed snapshots.
/// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(parent) => Digest::sha256_of(format!("{parent} {diff_id}").as_bytes()).into(),
        };
        chain.push(next);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_store::memory::{MemoryImageStore, INDEX, MANIFEST};
    use crate::layers::testutil::LayerTar;

    fn platform(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    fn layer(path: &str) -> Vec<u8> {
        LayerTar::new().file(path, b"x", 0o644).finish()
    }

    #[tokio::test]
    async fn index_resolves_to_this_platforms_manifest_that_is_on_the_node() {
        let mut store = MemoryImageStore::default();
        let amd64 = store.put_image(&[layer("a"), layer("b")], "linux/amd64");
        // The arm64 manifest was never pulled onto this node.
        let arm64 = Digest::sha256_of(b"absent arm64 manifest").to_string();
        let index = store.put_index(&[("linux/arm64", &arm64), ("linux/amd64", &amd64)]);
        store.tag("docker.io/library/app:1", INDEX, &index);

        let image = resolve(&store, "app:1", &platform("linux/amd64"))
            .await
            .unwrap();
        assert_eq!(image.manifest_digest, amd64);
        assert_eq!(image.index_digest.as_deref(), Some(index.as_str()));
        assert_eq!(image.repository, "docker.io/library/app");
        assert_eq!(image.platform, "linux/amd64");
        assert_eq!(image.diff_ids.len(), 2);
        assert_eq!(image.layers.len(), 2);

        let missing = resolve(&store, "app:1", &platform("linux/arm64")).await;
        assert!(
            matches!(&missing, Err(Error::ContentMissing { digest, .. }) if *digest == arm64),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn config_digest_names_the_image_as_the_cri_does() {
        let mut store = MemoryImageStore::default();
        let manifest = store.put_image(&[layer("a")], "linux/amd64");
        store.tag("docker.io/library/app:1", MANIFEST, &manifest);
        let resolved = resolve(&store, "app:1", &platform("linux/amd64"))
            .await
            .unwrap();

        let by_config = resolve(&store, &resolved.config_digest, &platform("linux/amd64"))
            .await
            .unwrap();
        assert_eq!(by_config.manifest_digest, manifest);
        let unknown = resolve(&store, "other:2", &platform("linux/amd64")).await;
        assert!(
            matches!(unknown, Err(Error::ImageNotFound { .. })),
            "{unknown:?}"
        );
    }

    #[tokio::test]
    async fn a_blob_that_does_not_match_its_digest_is_refused() {
        let mut store = MemoryImageStore::default();
        let manifest = store.put_image(&[layer("a")], "linux/amd64");
        store.tag("docker.io/library/app:1", MANIFEST, &manifest);
        store.blobs.get_mut(&manifest).unwrap().push(b' ');
        let swapped = resolve(&store, "app:1", &platform("linux/amd64")).await;
        assert!(
            matches!(&swapped, Err(Error::Image { message, .. }) if message.contains("does not match")),
            "{swapped:?}"
        );
    }

    #[test]
    fn chain_id_of_two_layers_hashes_parent_space_diff_id() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(
            chain[1],
            Digest::sha256_of(format!("{a} {b}").as_bytes()).to_string()
        );
        assert_ne!(chain[1], b);
    }

    #[test]
    fn exact_variant_fits_better_than_missing_one() {
        let host = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(host.fit("linux", "arm64", Some("v8")), Some(2));
        assert_eq!(host.fit("linux", "arm64", None), Some(1));
        assert_eq!(host.fit("linux", "amd64", None), None);
        assert_eq!(host.fit("windows", "arm64", None), None);
    }

    #[test]
    fn platform_parse_rejects_garbage() {
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("linux/amd64/v1/x").is_none());
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
    }

    #[test]
    fn digest_check_wants_64_lower_hex() {
        assert!(is_sha256(&format!("sha256:{}", "0f".repeat(32))));
        assert!(!is_sha256(&format!("sha256:{}", "0F".repeat(32))));
        assert!(!is_sha256("sha256:abc"));
        assert!(!is_sha256("md5:abc"));
    }
}
