//! What image resolution and the scanner need from the node's image store: image
//! records, blobs, and read-only snapshot views under a lease. [`Containerd`] is the one
//! on a node; tests use an in-memory one.

use std::collections::HashMap;
use std::pin::Pin;

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};

use crate::containerd::api::images::Image;
use crate::containerd::api::types::Mount;
use crate::containerd::{Containerd, Lease, MAX_METADATA_BLOB, STREAM_IDLE_DEADLINE};
use crate::{Error, Result};

/// The bytes of one blob, in order.
pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Vec<u8>>> + Send>>;

/// A read-only view of a node's images (one containerd namespace).
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// The namespace, for messages.
    fn namespace(&self) -> &str;

    /// Every image record.
    async fn list_images(&self) -> Result<Vec<Image>>;

    /// A blob's content-store labels, or `None` when the blob is not on this node.
    async fn blob_labels(&self, digest: &str) -> Result<Option<HashMap<String, String>>>;

    /// A blob's bytes, or `None` when the blob is not on this node.
    async fn read_blob(&self, digest: &str) -> Result<Option<BlobStream>>;

    /// Whether a committed snapshot named `key` exists in `snapshotter`.
    async fn snapshot_exists(&self, snapshotter: &str, key: &str) -> Result<bool>;

    /// A lease that expires by itself should the agent die; delete it after use.
    async fn create_lease(&self) -> Result<Lease>;

    async fn delete_lease(&self, lease: &Lease) -> Result<()>;

    /// A read-only view `key` on top of committed snapshot `parent`, under `lease`.
    async fn view(
        &self,
        snapshotter: &str,
        key: &str,
        parent: &str,
        lease: &Lease,
    ) -> Result<Vec<Mount>>;

    /// Removes a view made by [`ImageStore::view`].
    async fn remove_snapshot(&self, snapshotter: &str, key: &str, lease: &Lease) -> Result<()>;

    /// A small blob (index, manifest, config) whole, at most [`MAX_METADATA_BLOB`] bytes.
    async fn read_small_blob(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let Some(mut stream) = self.read_blob(digest).await? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| Error::Image {
                image: digest.to_string(),
                message: format!("reading the blob: {source}"),
            })?;
            if (data.len() + chunk.len()) as u64 > MAX_METADATA_BLOB {
                return Err(Error::Image {
                    image: digest.to_string(),
                    message: format!("blob is larger than {MAX_METADATA_BLOB} bytes"),
                });
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Some(data))
    }
}

#[async_trait]
impl ImageStore for Containerd {
    fn namespace(&self) -> &str {
        Containerd::namespace(self)
    }

    async fn list_images(&self) -> Result<Vec<Image>> {
        Containerd::list_images(self).await
    }

    async fn blob_labels(&self, digest: &str) -> Result<Option<HashMap<String, String>>> {
        Containerd::blob_labels(self, digest).await
    }

    async fn read_blob(&self, digest: &str) -> Result<Option<BlobStream>> {
        let Some(stream) = Containerd::read_blob(self, digest).await? else {
            return Ok(None);
        };
        let stream = tokio_stream::StreamExt::timeout(stream, STREAM_IDLE_DEADLINE);
        Ok(Some(Box::pin(stream.map(|chunk| match chunk {
            Ok(Ok(chunk)) => Ok(chunk.data),
            Ok(Err(status)) => Err(std::io::Error::other(format!(
                "containerd content read: {}",
                status.message()
            ))),
            Err(_elapsed) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "containerd sent nothing for {} s while streaming the blob",
                    STREAM_IDLE_DEADLINE.as_secs()
                ),
            )),
        }))))
    }

    async fn snapshot_exists(&self, snapshotter: &str, key: &str) -> Result<bool> {
        Containerd::snapshot_exists(self, snapshotter, key).await
    }

    async fn create_lease(&self) -> Result<Lease> {
        Containerd::create_lease(self).await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<()> {
        Containerd::delete_lease(self, lease).await
    }

    async fn view(
        &self,
        snapshotter: &str,
        key: &str,
        parent: &str,
        lease: &Lease,
    ) -> Result<Vec<Mount>> {
        Containerd::view(self, snapshotter, key, parent, lease).await
    }

    async fn remove_snapshot(&self, snapshotter: &str, key: &str, lease: &Lease) -> Result<()> {
        Containerd::remove_snapshot(self, snapshotter, key, lease).await
    }
}

/// An image store in memory: records and blobs, no snapshots. For unit tests and the
/// image fuzz target.
#[cfg(any(test, fuzzing))]
pub mod memory {
    use super::*;

    use crate::containerd::api::types::Descriptor;
    use nodebom_proto::digest::Digest;

    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    #[derive(Default)]
    pub struct MemoryImageStore {
        pub images: Vec<Image>,
        pub blobs: HashMap<String, Vec<u8>>,
    }

    impl MemoryImageStore {
        /// Stores `bytes` as a blob; returns its digest.
        pub fn put_blob(&mut self, bytes: impl Into<Vec<u8>>) -> String {
            let bytes = bytes.into();
            let digest = Digest::sha256_of(&bytes).to_string();
            self.blobs.insert(digest.clone(), bytes);
            digest
        }

        /// Stores an image of gzip layers made from `layer_tars` (bottom first) for
        /// `platform` (`os/arch`): its layer blobs, config and manifest. Returns the
        /// manifest's digest; no record names it yet (see [`Self::tag`]).
        pub fn put_image(&mut self, layer_tars: &[Vec<u8>], platform: &str) -> String {
            let (os, architecture) = platform.split_once('/').unwrap_or(("linux", platform));
            let diff_ids: Vec<String> = layer_tars
                .iter()
                .map(|tar| Digest::sha256_of(tar).to_string())
                .collect();
            let layers: Vec<serde_json::Value> = layer_tars
                .iter()
                .map(|tar| {
                    let blob = crate::layers::testutil::gzip(tar);
                    let size = blob.len();
                    serde_json::json!({
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": self.put_blob(blob),
                        "size": size,
                    })
                })
                .collect();
            let config = serde_json::to_vec(&serde_json::json!({
                "os": os,
                "architecture": architecture,
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }))
            .unwrap();
            let config_size = config.len();
            let config_digest = self.put_blob(config);
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": config_size,
                },
                "layers": layers,
            }))
            .unwrap();
            self.put_blob(manifest)
        }

        /// Stores an index of `manifests` (`(platform, digest)`; the digest need not be
        /// stored, as after a pull of one platform). Returns its digest.
        pub fn put_index(&mut self, manifests: &[(&str, &str)]) -> String {
            let entries: Vec<serde_json::Value> = manifests
                .iter()
                .map(|(platform, digest)| {
                    let (os, architecture) =
                        platform.split_once('/').unwrap_or(("linux", platform));
                    serde_json::json!({
                        "mediaType": MANIFEST,
                        "digest": digest,
                        "size": 1,
                        "platform": {"os": os, "architecture": architecture},
                    })
                })
                .collect();
            self.put_blob(
                serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": INDEX,
                    "manifests": entries,
                }))
                .unwrap(),
            )
        }

        /// Adds an image record `name` pointing at the blob `digest`.
        pub fn tag(&mut self, name: &str, media_type: &str, digest: &str) {
            self.images.push(Image {
                name: name.into(),
                target: Some(Descriptor {
                    media_type: media_type.into(),
                    digest: digest.into(),
                    size: self.blobs.get(digest).map_or(0, |b| b.len() as i64),
                    annotations: HashMap::new(),
                }),
                ..Image::default()
            });
        }
    }

    #[async_trait]
    impl ImageStore for MemoryImageStore {
        fn namespace(&self) -> &str {
            "memory"
        }

        async fn list_images(&self) -> Result<Vec<Image>> {
            Ok(self.images.clone())
        }

        async fn blob_labels(&self, digest: &str) -> Result<Option<HashMap<String, String>>> {
            Ok(self.blobs.get(digest).map(|_| HashMap::new()))
        }

        async fn read_blob(&self, digest: &str) -> Result<Option<BlobStream>> {
            Ok(self.blobs.get(digest).map(|bytes| {
                // Small chunks, as a stream from containerd arrives.
                let chunks: Vec<std::io::Result<Vec<u8>>> =
                    bytes.chunks(4096).map(|c| Ok(c.to_vec())).collect();
                Box::pin(futures_util::stream::iter(chunks)) as BlobStream
            }))
        }

        async fn snapshot_exists(&self, _snapshotter: &str, _key: &str) -> Result<bool> {
            Ok(false)
        }

        async fn create_lease(&self) -> Result<Lease> {
            Ok(Lease {
                id: "memory".into(),
            })
        }

        async fn delete_lease(&self, _lease: &Lease) -> Result<()> {
            Ok(())
        }

        async fn view(
            &self,
            _snapshotter: &str,
            key: &str,
            _parent: &str,
            _lease: &Lease,
        ) -> Result<Vec<Mount>> {
            Err(Error::Containerd {
                socket: "memory".into(),
                message: format!("no snapshots in memory (view {key})"),
            })
        }

        async fn remove_snapshot(&self, _: &str, _: &str, _: &Lease) -> Result<()> {
            Ok(())
        }
    }
}
