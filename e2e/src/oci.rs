//! OCI image archives built by the tests from fixture trees, ready for `ctr images import`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

/// One entry of a layer, in the order it is written to the tar.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A regular file with the given content and permission bits.
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// OCI whiteout `.wh.<name>`: deletes `path` from lower layers.
    Whiteout {
        path: String,
    },
    /// OCI opaque marker `.wh..wh..opq`: hides lower layers' children of `dir`.
    Opaque {
        dir: String,
    },
    /// An entry written as given, without the checks the tar crate makes on names: the
    /// hostile entries of a hostile layer (`..` or absolute names, non-UTF-8 names, links
    /// out of the root, FIFOs, devices). Name and link target fit a plain ustar header
    /// (100 bytes each); `device` is the (major, minor) of a character or block device.
    Raw {
        name: Vec<u8>,
        kind: tar::EntryType,
        link: Vec<u8>,
        data: Vec<u8>,
        device: (u32, u32),
    },
    /// Every file, directory and symlink below a host directory, placed under `dest`.
    Tree {
        source: PathBuf,
        dest: String,
    },
}

impl Entry {
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        Entry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o644,
        }
    }

    pub fn executable(path: &str, data: impl Into<Vec<u8>>) -> Self {
        Entry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o755,
        }
    }

    pub fn tree(source: impl Into<PathBuf>, dest: &str) -> Self {
        Entry::Tree {
            source: source.into(),
            dest: dest.into(),
        }
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// One layer: its entries and its compression.
#[derive(Debug, Clone)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub compression: Compression,
}

impl Layer {
    pub fn gzip(entries: Vec<Entry>) -> Self {
        Layer {
            entries,
            compression: Compression::Gzip,
        }
    }

    pub fn zstd(entries: Vec<Entry>) -> Self {
        Layer {
            entries,
            compression: Compression::Zstd,
        }
    }

    pub fn plain(entries: Vec<Entry>) -> Self {
        Layer {
            entries,
            compression: Compression::None,
        }
    }
}

/// An image to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Fully qualified name with tag: `docker.io/nodebom/test-debian:1.0`.
    pub name: String,
    pub layers: Vec<Layer>,
    /// Wrap the manifest in an index that also lists an arm64 manifest whose content is
    /// absent, as a CRI pull of a multi-platform image leaves it.
    pub multi_platform: bool,
}

/// What was built: the archive and the digests the scan should report.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub name: String,
    pub archive: PathBuf,
    pub manifest_digest: String,
    pub index_digest: Option<String>,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
}

/// Builds `spec` as an OCI archive in `out_dir`.
pub fn build(spec: &ImageSpec, out_dir: &Path) -> Result<BuiltImage> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for (index, layer) in spec.layers.iter().enumerate() {
        let tar = layer_tar(layer).with_context(|| format!("layer {index} of {}", spec.name))?;
        diff_ids.push(digest(&tar));
        let (blob, media_type) = match layer.compression {
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(&tar)?;
                (
                    encoder.finish()?,
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            Compression::Zstd => (
                zstd::encode_all(tar.as_slice(), 3)?,
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
        };
        let blob_digest = digest(&blob);
        layer_descriptors
            .push(json!({"mediaType": media_type, "digest": blob_digest, "size": blob.len()}));
        layer_digests.push(blob_digest.clone());
        blobs.push((blob_digest, blob));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": spec.layers.iter().map(|_| json!({"created_by": "nodebom test"})).collect::<Vec<_>>(),
    }))?;
    let config_digest = digest(&config);
    blobs.push((config_digest.clone(), config.clone()));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layer_descriptors,
    }))?;
    let manifest_digest = digest(&manifest);
    blobs.push((manifest_digest.clone(), manifest.clone()));

    let tag = spec
        .name
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let annotations =
        json!({"io.containerd.image.name": spec.name, "org.opencontainers.image.ref.name": tag});
    let mut index_digest = None;
    let top = if spec.multi_platform {
        let absent_arm64 = digest(b"arm64 manifest that is not on this node");
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": absent_arm64, "size": 1234,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(),
                 "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        }))?;
        let digest_of_index = digest(&index);
        index_digest = Some(digest_of_index.clone());
        blobs.push((digest_of_index.clone(), index.clone()));
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest_of_index, "size": index.len(), "annotations": annotations})
    } else {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(), "annotations": annotations})
    };
    let index_json = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]}))?;

    std::fs::create_dir_all(out_dir)?;
    let file_name = format!("{}.oci.tar", spec.name.replace(['/', ':', '@'], "_"));
    let archive = out_dir.join(file_name);
    let mut builder = tar::Builder::new(std::fs::File::create(&archive)?);
    append_bytes(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        0o644,
    )?;
    append_bytes(&mut builder, "index.json", &index_json, 0o644)?;
    for (blob_digest, data) in &blobs {
        let hex = blob_digest.trim_start_matches("sha256:");
        append_bytes(&mut builder, &format!("blobs/sha256/{hex}"), data, 0o644)?;
    }
    builder.into_inner()?.sync_all()?;
    Ok(BuiltImage {
        name: spec.name.clone(),
        archive,
        manifest_digest,
        index_digest,
        config_digest,
        layer_digests,
        diff_ids,
    })
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn layer_tar(layer: &Layer) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in &layer.entries {
        match entry {
            Entry::File { path, data, mode } => append_bytes(&mut builder, path, data, *mode)?,
            Entry::Dir { path } => append_dir(&mut builder, path)?,
            Entry::Symlink { path, target } => {
                append_link(&mut builder, path, target, tar::EntryType::Symlink)?
            }
            Entry::Hardlink { path, target } => {
                append_link(&mut builder, path, target, tar::EntryType::Link)?
            }
            Entry::Whiteout { path } => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                append_bytes(&mut builder, &format!("{dir}/.wh.{name}"), b"", 0o644)?;
            }
            Entry::Opaque { dir } => {
                append_bytes(&mut builder, &format!("{dir}/.wh..wh..opq"), b"", 0o644)?
            }
            Entry::Raw {
                name,
                kind,
                link,
                data,
                device,
            } => append_raw(&mut builder, name, *kind, link, data, *device)?,
            Entry::Tree { source, dest } => append_tree(&mut builder, source, dest)?,
        }
    }
    Ok(builder.into_inner()?)
}

fn tar_path(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header
}

fn append_bytes(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<()> {
    let mut header = header(tar::EntryType::Regular, mode, data.len() as u64);
    builder
        .append_data(&mut header, tar_path(path), data)
        .with_context(|| format!("adding {path}"))
}

fn append_dir(builder: &mut tar::Builder<impl Write>, path: &str) -> Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0);
    builder
        .append_data(
            &mut header,
            format!("{}/", tar_path(path)),
            std::io::empty(),
        )
        .with_context(|| format!("adding {path}/"))
}

fn append_link(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    target: &str,
    kind: tar::EntryType,
) -> Result<()> {
    let mut header = header(kind, 0o777, 0);
    builder
        .append_link(&mut header, tar_path(path), target)
        .with_context(|| format!("adding link {path}"))
}

fn append_raw(
    builder: &mut tar::Builder<impl Write>,
    name: &[u8],
    kind: tar::EntryType,
    link: &[u8],
    data: &[u8],
    (major, minor): (u32, u32),
) -> Result<()> {
    let shown = String::from_utf8_lossy(name);
    let mut header = header(kind, 0o644, data.len() as u64);
    let old = header.as_old_mut();
    if name.len() > old.name.len() || link.len() > old.linkname.len() {
        bail!("raw entry {shown}: name or link target over 100 bytes");
    }
    old.name[..name.len()].copy_from_slice(name);
    old.linkname[..link.len()].copy_from_slice(link);
    header.set_device_major(major)?;
    header.set_device_minor(minor)?;
    header.set_cksum();
    builder
        .append(&header, data)
        .with_context(|| format!("adding raw entry {shown}"))
}

fn append_tree(builder: &mut tar::Builder<impl Write>, source: &Path, dest: &str) -> Result<()> {
    if !source.is_dir() {
        bail!("fixture tree {} does not exist", source.display());
    }
    let mut stack = vec![(source.to_path_buf(), dest.trim_end_matches('/').to_string())];
    while let Some((dir, into)) = stack.pop() {
        if !into.is_empty() {
            append_dir(builder, &into)?;
        }
        let mut children: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<_>>()?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let path = format!("{into}/{name}");
            let kind = child.file_type()?;
            if kind.is_dir() {
                stack.push((child.path(), path));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(child.path())?;
                append_link(
                    builder,
                    &path,
                    &target.to_string_lossy(),
                    tar::EntryType::Symlink,
                )?;
            } else if kind.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = child.metadata()?.permissions().mode() & 0o7777;
                append_bytes(builder, &path, &std::fs::read(child.path())?, mode)?;
            }
        }
    }
    Ok(())
}
