//! A read-only client for the containerd API: images, containers, content, events,
//! leases and snapshot views.
//!
//! Nothing here pulls or writes images. The only writes are short-lived leases and
//! read-only snapshot views, both removed after use and set to expire on their own
//! (label `containerd.io/gc.expire`) should the agent die in between.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status, Streaming};

use api::containers::{
    containers_client::ContainersClient, Container, GetContainerRequest, ListContainersRequest,
};
use api::content::{content_client::ContentClient, InfoRequest, ReadContentRequest};
use api::events_service::{events_client::EventsClient, SubscribeRequest};
use api::images::{images_client::ImagesClient, GetImageRequest, Image, ListImagesRequest};
use api::leases::{
    leases_client::LeasesClient, CreateRequest as CreateLeaseRequest, DeleteRequest,
};
use api::snapshots::{
    snapshots_client::SnapshotsClient, RemoveSnapshotRequest, StatSnapshotRequest,
    ViewSnapshotRequest,
};
use api::types::{Envelope, Mount};
use api::version::version_client::VersionClient;

pub use api::content::ReadContentResponse;

use crate::{Error, Result};

pub mod api;

/// Largest index, manifest or config blob read into memory.
pub const MAX_METADATA_BLOB: u64 = 8 << 20;

/// Decode limit for containerd responses; tonic's 4 MiB default is too small for
/// namespaces with many images or containers (containerd's Go client uses 16 MiB).
const MAX_DECODE: usize = 64 << 20;

/// Longest a unary containerd call may take (listing thousands of images takes well
/// under a second on a healthy node).
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// Longest silence inside a blob stream before the read is given up.
pub const STREAM_IDLE_DEADLINE: Duration = Duration::from_secs(60);

/// How long a lease outlives a crashed agent before containerd's GC removes it.
const LEASE_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// A connection to one containerd namespace.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    socket: String,
    namespace: MetadataValue<tonic::metadata::Ascii>,
    namespace_name: String,
}

/// A lease under which snapshot views are created; delete it with [`Containerd::delete_lease`].
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: String,
}

impl Containerd {
    /// Connects to the containerd socket at `socket` and uses `namespace` for every call.
    pub async fn connect(socket: &str, namespace: &str) -> Result<Self> {
        let namespace_value = namespace.parse().map_err(|_| Error::Containerd {
            socket: socket.to_string(),
            message: format!("namespace {namespace:?} is not a valid header value"),
        })?;
        if !std::path::Path::new(socket).exists() {
            return Err(Error::Containerd {
                socket: socket.to_string(),
                message: "no such socket (is containerd running? see --socket)".into(),
            });
        }
        let channel = api::connect(socket).await.map_err(|e| Error::Containerd {
            socket: socket.to_string(),
            message: format!("cannot connect: {}", error_chain(&e)),
        })?;
        let client = Containerd {
            channel,
            socket: socket.to_string(),
            namespace: namespace_value,
            namespace_name: namespace.to_string(),
        };
        // A connect on a unix socket is lazy about the protocol: ask something cheap now so
        // that "not containerd" or "permission denied" shows up here, not mid-scan.
        client
            .images()
            .list(client.request(ListImagesRequest {
                filters: vec!["name==nodebom.invalid/probe".into()],
            }))
            .await
            .map_err(|s| client.status_error("listing images", s))?;
        Ok(client)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace_name
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// A unary call, bounded by [`CALL_DEADLINE`]: a containerd that hangs fails the call
    /// instead of holding a builder or the watch forever.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = self.stream_request(message);
        request.set_timeout(CALL_DEADLINE);
        request
    }

    /// A streaming call, which may last as long as its stream: its consumer bounds the
    /// silence between messages instead.
    fn stream_request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("containerd-namespace", self.namespace.clone());
        request
    }

    fn leased_request<T>(&self, message: T, lease: &Lease) -> Result<Request<T>> {
        let mut request = self.request(message);
        let value = lease.id.parse().map_err(|_| Error::Containerd {
            socket: self.socket.clone(),
            message: format!("lease id {:?} is not a valid header value", lease.id),
        })?;
        request.metadata_mut().insert("containerd-lease", value);
        Ok(request)
    }

    fn status_error(&self, what: &str, status: Status) -> Error {
        Error::Containerd {
            socket: self.socket.clone(),
            message: format!("{what}: {} ({:?})", status.message(), status.code()),
        }
    }

    fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE)
    }

    fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE)
    }

    fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE)
    }

    fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }

    fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE)
    }

    fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE)
    }

    /// containerd's version, e.g. `1.6.20~ds1`; also a cheap check that it still answers.
    pub async fn version(&self) -> Result<String> {
        let response = VersionClient::new(self.channel.clone())
            .version(self.request(()))
            .await
            .map_err(|s| self.status_error("asking the version", s))?;
        Ok(response.into_inner().version)
    }

    /// Container records of the namespace that match any of `filters` (containerd's
    /// filter syntax, e.g. `labels."io.cri-containerd.kind"==container`); all when empty.
    pub async fn list_containers(&self, filters: Vec<String>) -> Result<Vec<Container>> {
        let response = self
            .containers()
            .list(self.request(ListContainersRequest { filters }))
            .await
            .map_err(|s| self.status_error("listing containers", s))?;
        Ok(response.into_inner().containers)
    }

    /// The container record with this id, if any.
    pub async fn get_container(&self, id: &str) -> Result<Option<Container>> {
        match self
            .containers()
            .get(self.request(GetContainerRequest { id: id.into() }))
            .await
        {
            Ok(response) => Ok(response.into_inner().container),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.status_error(&format!("getting container {id}"), status)),
        }
    }

    /// Subscribes to the events that match any of `filters`, e.g.
    /// `namespace=="k8s.io",topic=="/images/create"`. containerd sends events of every
    /// namespace to a subscriber without a namespace filter.
    ///
    /// Events are not durable: those published while nobody listens are lost, so list
    /// after subscribing, and again after every reconnect. The request is sent at once
    /// (containerd registers the subscriber when it arrives); a failed subscription shows
    /// as an error from the first [`EventStream::next`]. Needs a tokio runtime.
    pub fn subscribe(&self, filters: Vec<String>) -> EventStream {
        let mut events = self.events();
        let request = self.stream_request(SubscribeRequest { filters });
        // containerd sends the response headers only along with the first event, so the
        // call runs on its own: the request goes out now, while the caller lists.
        let call = tokio::spawn(async move {
            events
                .subscribe(request)
                .await
                .map(|response| response.into_inner())
        });
        EventStream {
            state: EventState::Subscribing(call),
            client: self.clone(),
        }
    }

    /// Every image record of the namespace.
    pub async fn list_images(&self) -> Result<Vec<Image>> {
        let response = self
            .images()
            .list(self.request(ListImagesRequest { filters: vec![] }))
            .await
            .map_err(|s| self.status_error("listing images", s))?;
        Ok(response.into_inner().images)
    }

    /// The image record with exactly this name, if any.
    pub async fn get_image(&self, name: &str) -> Result<Option<Image>> {
        match self
            .images()
            .get(self.request(GetImageRequest { name: name.into() }))
            .await
        {
            Ok(response) => Ok(response.into_inner().image),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.status_error(&format!("getting image {name}"), status)),
        }
    }

    /// The content store's labels of a blob, or `None` when the blob is not on this node.
    pub async fn blob_labels(&self, digest: &str) -> Result<Option<HashMap<String, String>>> {
        match self
            .content()
            .info(self.request(InfoRequest {
                digest: digest.into(),
            }))
            .await
        {
            Ok(response) => Ok(Some(
                response
                    .into_inner()
                    .info
                    .map(|info| info.labels)
                    .unwrap_or_default(),
            )),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.status_error(&format!("content info {digest}"), status)),
        }
    }

    /// Streams a blob from the content store, or `None` when it is not on this node.
    pub async fn read_blob(&self, digest: &str) -> Result<Option<Streaming<ReadContentResponse>>> {
        match self
            .content()
            .read(self.stream_request(ReadContentRequest {
                digest: digest.into(),
                offset: 0,
                size: 0,
            }))
            .await
        {
            Ok(response) => Ok(Some(response.into_inner())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.status_error(&format!("reading {digest}"), status)),
        }
    }

    /// Whether a committed snapshot named `key` exists in `snapshotter`.
    pub async fn snapshot_exists(&self, snapshotter: &str, key: &str) -> Result<bool> {
        match self
            .snapshots()
            .stat(self.request(StatSnapshotRequest {
                snapshotter: snapshotter.into(),
                key: key.into(),
            }))
            .await
        {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(self.status_error(&format!("stat snapshot {key}"), status)),
        }
    }

    /// Creates a lease that containerd expires by itself after [`LEASE_EXPIRY`].
    pub async fn create_lease(&self) -> Result<Lease> {
        let expire = time::OffsetDateTime::now_utc() + LEASE_EXPIRY;
        let expire = expire
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::Containerd {
                socket: self.socket.clone(),
                message: format!("formatting lease expiry: {e}"),
            })?;
        let id = format!("nodebom-{}", uuid::Uuid::new_v4());
        let labels = HashMap::from([("containerd.io/gc.expire".to_string(), expire)]);
        self.leases()
            .create(self.request(CreateLeaseRequest {
                id: id.clone(),
                labels,
            }))
            .await
            .map_err(|s| self.status_error("creating lease", s))?;
        Ok(Lease { id })
    }

    /// Deletes a lease; what it held becomes collectable again.
    pub async fn delete_lease(&self, lease: &Lease) -> Result<()> {
        self.leases()
            .delete(self.request(DeleteRequest {
                id: lease.id.clone(),
                sync: false,
            }))
            .await
            .map_err(|s| self.status_error(&format!("deleting lease {}", lease.id), s))?;
        Ok(())
    }

    /// Creates a read-only view `key` on top of committed snapshot `parent`, under `lease`.
    pub async fn view(
        &self,
        snapshotter: &str,
        key: &str,
        parent: &str,
        lease: &Lease,
    ) -> Result<Vec<Mount>> {
        let request = self.leased_request(
            ViewSnapshotRequest {
                snapshotter: snapshotter.into(),
                key: key.into(),
                parent: parent.into(),
                labels: HashMap::new(),
            },
            lease,
        )?;
        let response = self
            .snapshots()
            .view(request)
            .await
            .map_err(|s| self.status_error(&format!("view of snapshot {parent}"), s))?;
        Ok(response.into_inner().mounts)
    }

    /// Removes a view created by [`Self::view`].
    pub async fn remove_snapshot(&self, snapshotter: &str, key: &str, lease: &Lease) -> Result<()> {
        let request = self.leased_request(
            RemoveSnapshotRequest {
                snapshotter: snapshotter.into(),
                key: key.into(),
            },
            lease,
        )?;
        self.snapshots()
            .remove(request)
            .await
            .map_err(|s| self.status_error(&format!("removing view {key}"), s))?;
        Ok(())
    }
}

/// Events from [`Containerd::subscribe`], in the order containerd published them.
pub struct EventStream {
    state: EventState,
    client: Containerd,
}

enum EventState {
    /// The call is out; containerd answers it with the first event.
    Subscribing(JoinHandle<std::result::Result<Streaming<Envelope>, Status>>),
    Receiving(Box<Streaming<Envelope>>),
}

impl EventStream {
    /// The next event; `None` when containerd closed the stream (it is shutting down).
    /// Cancel-safe: dropping the future loses no event.
    pub async fn next(&mut self) -> Result<Option<Envelope>> {
        loop {
            match &mut self.state {
                EventState::Receiving(stream) => {
                    return stream
                        .message()
                        .await
                        .map_err(|s| self.client.status_error("receiving events", s));
                }
                EventState::Subscribing(call) => {
                    let stream = call
                        .await
                        .map_err(|e| Error::Containerd {
                            socket: self.client.socket.clone(),
                            message: format!("subscribing to events: {e}"),
                        })?
                        .map_err(|s| self.client.status_error("subscribing to events", s))?;
                    self.state = EventState::Receiving(Box::new(stream));
                }
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let EventState::Subscribing(call) = &self.state {
            call.abort();
        }
    }
}

/// Renders an error with its sources, which tonic's transport errors hide otherwise.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
