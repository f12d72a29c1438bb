//! A collector in the test process: answers `Ingest` the way the real one does for one
//! node (welcome, ack with the digests it wants, uploads checked and kept), so that the
//! shipper is tested without containerd or a collector binary.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use nodebom_proto::chunks::Reassembly;
use nodebom_proto::digest::Digest;
use nodebom_proto::v1::ingest_server::{Ingest, IngestServer};
use nodebom_proto::v1::{
    sync_request, sync_response, upload_sbom_request, Hello, InventoryAck, SbomBuildFailed,
    SbomHeader, SyncRequest, SyncResponse, UploadSbomRequest, UploadSbomResponse, Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Response, Status, Streaming};

/// What the fake collector was told.
#[derive(Debug, Default)]
pub struct Received {
    pub hello: Option<Hello>,
    /// Upload attempts, refused ones included.
    pub upload_attempts: usize,
    /// Stored uploads: header, document, and the size of each chunk.
    pub uploads: Vec<(SbomHeader, Vec<u8>, Vec<usize>)>,
    pub build_failures: Vec<SbomBuildFailed>,
    /// Manifest digests of the node's images, as its last full report and the deltas
    /// since tell.
    pub inventory: Vec<String>,
}

#[derive(Clone)]
pub struct FakeCollector {
    pub received: Arc<Mutex<Received>>,
    /// The limits its `Welcome` states.
    max_message_bytes: u64,
    max_sbom_bytes: u64,
    /// Answers for the first upload attempts, in order; later ones are stored.
    refusals: Arc<Mutex<Vec<Code>>>,
}

impl FakeCollector {
    /// Serves on a loopback port; returns its `http://` address.
    pub async fn start(
        max_message_bytes: u64,
        max_sbom_bytes: u64,
        refusals: Vec<Code>,
    ) -> (Self, String) {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(address, max_message_bytes, max_sbom_bytes, refusals).await
    }

    /// Serves on `address`.
    pub async fn start_on(
        address: SocketAddr,
        max_message_bytes: u64,
        max_sbom_bytes: u64,
        refusals: Vec<Code>,
    ) -> (Self, String) {
        let fake = FakeCollector {
            received: Arc::default(),
            max_message_bytes,
            max_sbom_bytes,
            refusals: Arc::new(Mutex::new(refusals)),
        };
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = IngestServer::new(fake.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (fake, url)
    }

    pub fn received(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap()
    }
}

#[tonic::async_trait]
impl Ingest for FakeCollector {
    type SyncStream = ReceiverStream<Result<SyncResponse, Status>>;

    async fn sync(
        &self,
        request: Request<Streaming<SyncRequest>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let mut inbound = request.into_inner();
        let (outbound, stream) = mpsc::channel(16);
        let received = self.received.clone();
        let (max_message_bytes, max_sbom_bytes) = (self.max_message_bytes, self.max_sbom_bytes);
        tokio::spawn(async move {
            let mut images = Vec::new();
            while let Ok(Some(request)) = inbound.message().await {
                let answer = match request.message {
                    Some(sync_request::Message::Hello(hello)) => {
                        received.lock().unwrap().hello = Some(hello);
                        Some(sync_response::Message::Welcome(Welcome {
                            session: 1,
                            max_sbom_bytes,
                            max_message_bytes,
                            ..Welcome::default()
                        }))
                    }
                    Some(sync_request::Message::Inventory(part)) => {
                        images.extend(part.images.into_iter().map(|i| i.manifest_digest));
                        part.last.then(|| {
                            let reported = std::mem::take(&mut images);
                            received.lock().unwrap().inventory = reported.clone();
                            sync_response::Message::InventoryAck(InventoryAck {
                                sequence: request.sequence,
                                sbom_wanted: reported,
                            })
                        })
                    }
                    Some(sync_request::Message::Delta(delta)) => {
                        let mut received = received.lock().unwrap();
                        for image in delta.images_added {
                            received.inventory.retain(|d| *d != image.manifest_digest);
                            received.inventory.push(image.manifest_digest);
                        }
                        received
                            .inventory
                            .retain(|d| !delta.images_removed.contains(d));
                        None
                    }
                    Some(sync_request::Message::BuildFailed(failed)) => {
                        received.lock().unwrap().build_failures.push(failed);
                        None
                    }
                    _ => None,
                };
                if let Some(message) = answer {
                    let response = SyncResponse {
                        message: Some(message),
                    };
                    if outbound.send(Ok(response)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn upload_sbom(
        &self,
        request: Request<Streaming<UploadSbomRequest>>,
    ) -> Result<Response<UploadSbomResponse>, Status> {
        self.received().upload_attempts += 1;
        let refusal = {
            let mut refusals = self.refusals.lock().unwrap();
            (!refusals.is_empty()).then(|| refusals.remove(0))
        };
        if let Some(code) = refusal {
            return Err(Status::new(code, "refused by the test"));
        }
        let mut inbound = request.into_inner();
        let Some(UploadSbomRequest {
            part: Some(upload_sbom_request::Part::Header(header)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument("no header first"));
        };
        let mut reassembly = Reassembly::new(header.size);
        let (mut document, mut chunk_sizes) = (Vec::new(), Vec::new());
        while let Some(message) = inbound.message().await? {
            let Some(upload_sbom_request::Part::Chunk(chunk)) = message.part else {
                return Err(Status::invalid_argument("a second header"));
            };
            reassembly
                .accept(chunk.offset, chunk.data.len())
                .map_err(|err| Status::invalid_argument(err.to_string()))?;
            chunk_sizes.push(chunk.data.len());
            document.extend_from_slice(&chunk.data);
        }
        if !reassembly.is_complete() || Digest::sha256_of(&document).as_str() != header.sha256 {
            return Err(Status::invalid_argument("size or sha256 differ"));
        }
        let manifest_digest = header.manifest_digest.clone();
        self.received()
            .uploads
            .push((header, document, chunk_sizes));
        Ok(Response::new(UploadSbomResponse {
            manifest_digest,
            already_stored: false,
            component_count: 0,
        }))
    }
}
