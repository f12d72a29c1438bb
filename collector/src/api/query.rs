//! `nodebom.v1.Query`: SBOMs, images, component search, the event feed and the
//! Dependency-Track actions DT refused.

use nodebom_proto::chunks::Offsets;
use nodebom_proto::v1 as pb;
use nodebom_proto::v1::query_server::Query;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{convert, SharedState};
use crate::error::Error;
use crate::feed;

/// Size of the chunks `GetSbom` sends.
const CHUNK_BYTES: usize = 1024 * 1024;

type Reply<T> = std::result::Result<Response<T>, Status>;

/// The `Query` service.
#[derive(Debug, Clone)]
pub struct QueryService {
    state: SharedState,
}

impl QueryService {
    /// Answers queries with `state`.
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Query for QueryService {
    type GetSbomStream = ReceiverStream<std::result::Result<pb::GetSbomResponse, Status>>;

    async fn get_sbom(&self, request: Request<pb::GetSbomRequest>) -> Reply<Self::GetSbomStream> {
        let request = request.into_inner();
        let digest = crate::digest::parse("manifest_digest", &request.manifest_digest)?;
        let cluster = match request.cluster.as_str() {
            "" => None,
            cluster => Some(crate::inventory::name("cluster", cluster)?),
        };
        let stored = self
            .state
            .store
            .get_sbom(&digest, cluster.as_deref())
            .await?
            .ok_or_else(|| Error::NotFound(format!("no SBOM is stored for {digest}")))?;
        let (sink, chunks) = mpsc::channel(4);
        // Decompression is CPU work; it runs on a blocking thread that waits for the
        // client through the bounded channel.
        tokio::task::spawn_blocking(move || {
            use pb::get_sbom_response::Part;
            let info = pb::GetSbomResponse {
                part: Some(Part::Info(convert::sbom_info(&stored.record))),
            };
            if sink.blocking_send(Ok(info)).is_err() {
                return;
            }
            let mut offsets = Offsets::default();
            let sent = crate::sbom::decompress_chunks(&stored.document_zstd, CHUNK_BYTES, |data| {
                let chunk = pb::GetSbomResponse {
                    part: Some(Part::Chunk(offsets.chunk(data))),
                };
                sink.blocking_send(Ok(chunk)).is_ok()
            });
            if let Err(err) = sent {
                let _ = sink.blocking_send(Err(err.into()));
            }
        });
        Ok(Response::new(ReceiverStream::new(chunks)))
    }

    async fn list_images(
        &self,
        request: Request<pb::ListImagesRequest>,
    ) -> Reply<pb::ListImagesResponse> {
        let (filter, after, page_size) = convert::list_images(request.into_inner())?;
        let page = self
            .state
            .store
            .list_images(filter, after, page_size)
            .await?;
        Ok(Response::new(convert::image_page(page)))
    }

    async fn find_components(
        &self,
        request: Request<pb::FindComponentsRequest>,
    ) -> Reply<pb::FindComponentsResponse> {
        let search = convert::component_search(request.into_inner())?;
        let found = self.state.store.find_components(search).await?;
        Ok(Response::new(convert::component_matches(found)))
    }

    async fn list_nodes(
        &self,
        request: Request<pb::ListNodesRequest>,
    ) -> Reply<pb::ListNodesResponse> {
        let request = convert::ListNodes::new(request.into_inner())?;
        let nodes = self.state.store.nodes(request.cluster.clone()).await?;
        Ok(Response::new(request.page(nodes)))
    }

    async fn list_dtrack_failures(
        &self,
        request: Request<pb::ListDtrackFailuresRequest>,
    ) -> Reply<pb::ListDtrackFailuresResponse> {
        let limit = convert::dtrack_failures_limit(request.get_ref());
        let failures = self.state.store.dtrack_failures(limit).await?;
        Ok(Response::new(pb::ListDtrackFailuresResponse {
            failures: failures.into_iter().map(convert::dtrack_failure).collect(),
        }))
    }

    async fn list_exposures(
        &self,
        request: Request<pb::ListExposuresRequest>,
    ) -> Reply<pb::ListExposuresResponse> {
        let (filter, start, size) = convert::list_exposures(request.into_inner())?;
        let kev = self.state.kev.get();
        let exposures = self
            .state
            .exposures
            .list(
                self.state.store.as_ref(),
                kev.as_deref(),
                &filter,
                start == 0,
            )
            .await?;
        Ok(Response::new(convert::exposure_page(
            &exposures, start, size,
        )))
    }

    async fn find_vulnerability(
        &self,
        request: Request<pb::FindVulnerabilityRequest>,
    ) -> Reply<pb::FindVulnerabilityResponse> {
        let filter = convert::find_vulnerability(request.into_inner())?;
        let kev = self.state.kev.get();
        let exposures =
            crate::exposure::query::list(self.state.store.as_ref(), kev.as_deref(), &filter)
                .await?;
        Ok(Response::new(pb::FindVulnerabilityResponse {
            exposures: exposures
                .iter()
                .take(convert::MAX_PAGE * 10)
                .enumerate()
                .map(|(i, e)| convert::exposure(e, i + 1))
                .collect(),
        }))
    }

    type WatchStream = ReceiverStream<std::result::Result<pb::WatchResponse, Status>>;

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Reply<Self::WatchStream> {
        let request = request.into_inner();
        let after = if request.from_now {
            self.state.store.last_event().await?
        } else {
            request.after_sequence
        };
        let (sink, stream) = mpsc::channel(4);
        let wrap = |batch: crate::error::Result<Vec<crate::store::Event>>| {
            batch.map_err(Status::from).map(|events| pb::WatchResponse {
                events: events.into_iter().map(convert::event).collect(),
            })
        };
        tokio::spawn(feed::follow(
            self.state.store.clone(),
            after,
            sink,
            wrap,
            self.state.shutdown.clone(),
        ));
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}
