//! The generated containerd client (`agent/proto/containerd/`: only what the agent
//! calls) and the Unix-socket channel it runs on.

use std::path::PathBuf;

use tonic::transport::{Channel, Endpoint};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/containerd_api.rs"));
}

pub use generated::containerd::services::containers::v1 as containers;
pub use generated::containerd::services::content::v1 as content;
pub use generated::containerd::services::events::v1 as events_service;
pub use generated::containerd::services::images::v1 as images;
pub use generated::containerd::services::leases::v1 as leases;
pub use generated::containerd::services::snapshots::v1 as snapshots;
pub use generated::containerd::services::version::v1 as version;
pub use generated::containerd::{events, types};

/// A channel to containerd's socket. tonic dials TCP by itself; the connector dials the
/// socket instead (the URI is a placeholder that is never resolved).
pub async fn connect(socket: &str) -> Result<Channel, tonic::transport::Error> {
    let socket = PathBuf::from(socket);
    Endpoint::from_static("http://containerd.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}
