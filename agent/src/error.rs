//! The agent library's error type.

use std::path::PathBuf;

/// Errors of the agent library. Each variant says what was being done and to what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("containerd at {socket}: {message}")]
    Containerd { socket: String, message: String },
    #[error("collector {url}: {message}")]
    Collector { url: String, message: String },
    #[error("image {image}: not found in containerd namespace {namespace}")]
    ImageNotFound { image: String, namespace: String },
    #[error("image {image}: {message}")]
    Image { image: String, message: String },
    #[error(
        "image {image}: content {digest} is not on this node ({message}); nodebom never pulls"
    )]
    ContentMissing {
        image: String,
        digest: String,
        message: String,
    },
    #[error("layer {diff_id}: {message}")]
    Layer { diff_id: String, message: String },
    #[error("layer {diff_id}: limit exceeded: {limit}")]
    LimitExceeded { diff_id: String, limit: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("SBOM: {0}")]
    Sbom(String),
    #[error("metrics and health server on {addr}: {source}")]
    Observe {
        addr: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
