//! `nodebom.v1.Ingest`: agent sessions and SBOM uploads.

use std::time::Duration;

use nodebom_proto::v1 as pb;
use nodebom_proto::v1::ingest_server::Ingest;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{convert, SharedState};
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::{AgentSession, Registration, STAGING_DEADLINE};
use crate::metrics::StoredCopy;
use crate::sbom::upload::Assembler;
use crate::store::{CheckStatus, PutOutcome, UploadPermit};

/// Responses buffered per `Sync` stream before the session waits for the agent to read.
const SYNC_BUFFER: usize = 16;

/// The `Ingest` service.
#[derive(Debug, Clone)]
pub struct IngestService {
    state: SharedState,
}

impl IngestService {
    /// Serves agents with `state`.
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

type Outbound = mpsc::Sender<std::result::Result<pb::SyncResponse, Status>>;

/// Completes at `deadline`; never without one.
async fn staging_expired(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends `message`; false when the agent is gone.
async fn send(outbound: &Outbound, message: pb::sync_response::Message) -> bool {
    outbound
        .send(Ok(pb::SyncResponse {
            message: Some(message),
        }))
        .await
        .is_ok()
}

/// A failure reading the agent's stream. tonic reports a message over the size limit as
/// OUT_OF_RANGE; gRPC's convention (and what agents are told to expect) is
/// RESOURCE_EXHAUSTED.
fn read_error(status: Status) -> Error {
    if status.code() == tonic::Code::OutOfRange {
        Error::ResourceExhausted(format!(
            "{} (the collector's --max-message-bytes)",
            status.message()
        ))
    } else {
        Error::Rpc(status)
    }
}

fn digests(wanted: Vec<Digest>) -> Vec<String> {
    wanted.into_iter().map(String::from).collect()
}

/// A start offset for a session's periodic work, spread by node name so that thousands
/// of sessions opened together do not tick together.
fn spread(node: &str, period: Duration) -> Duration {
    let hash = node.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    });
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    period + Duration::from_millis(hash % period_ms)
}

impl IngestService {
    async fn run_sync(
        &self,
        caller: Caller,
        mut inbound: Streaming<pb::SyncRequest>,
        outbound: &Outbound,
    ) -> Result<()> {
        let first = tokio::select! {
            () = self.state.shutdown.cancelled() => return Err(Error::ShuttingDown),
            first = inbound.message() => first.map_err(read_error)?,
        };
        let Some(first) = first else {
            return Ok(());
        };
        let Some(pb::sync_request::Message::Hello(hello)) = first.message else {
            return Err(Error::FailedPrecondition(
                "the first message of a Sync stream must be a Hello".into(),
            ));
        };
        let (node, agent) = convert::hello(&hello)?;
        caller.authorize(&node.cluster)?;
        let mut session = AgentSession::open(
            self.state.store.clone(),
            self.state.settings,
            self.state.staging.clone(),
            self.state.metrics.clone(),
            &node,
            &agent,
        )
        .await?;
        let registration = self.state.sessions.register(session.session());
        let generation = session.session().generation;
        tracing::info!(%node, agent_version = %agent.version, node_pool = %agent.node_pool, session = generation, "agent connected");
        let outcome = self
            .serve_session(&mut session, &registration, &mut inbound, outbound)
            .await;
        drop(registration);
        session.close().await;
        match &outcome {
            Ok(()) => tracing::info!(%node, session = generation, "agent disconnected"),
            Err(err) => {
                tracing::info!(%node, session = generation, error = %err, "agent session ended")
            }
        }
        outcome
    }

    async fn serve_session(
        &self,
        session: &mut AgentSession,
        registration: &Registration,
        inbound: &mut Streaming<pb::SyncRequest>,
        outbound: &Outbound,
    ) -> Result<()> {
        let limits = self.state.settings.limits;
        let welcome = pb::Welcome {
            session: session.session().generation,
            collector_version: env!("CARGO_PKG_VERSION").into(),
            max_sbom_bytes: self.state.max_sbom_bytes,
            max_message_bytes: self.state.max_message_bytes as u64,
            max_images_per_node: u32::try_from(limits.max_images_per_node).unwrap_or(u32::MAX),
            max_workloads_per_node: u32::try_from(limits.max_workloads_per_node)
                .unwrap_or(u32::MAX),
        };
        if !send(outbound, pb::sync_response::Message::Welcome(welcome)).await {
            return Ok(());
        }
        let period = self.state.settings.reoffer_interval;
        let mut reoffer = tokio::time::interval_at(
            tokio::time::Instant::now() + spread(&session.session().node.node, period),
            period,
        );
        loop {
            let wanted = tokio::select! {
                () = self.state.shutdown.cancelled() => return Err(Error::ShuttingDown),
                message = inbound.message() => {
                    let Some(request) = message.map_err(read_error)? else {
                        return Ok(());
                    };
                    let sequence = request.sequence;
                    let wanted = session.handle(convert::agent_message(request)?).await?;
                    let ack = pb::InventoryAck {
                        sequence,
                        sbom_wanted: digests(wanted),
                    };
                    if !send(outbound, pb::sync_response::Message::InventoryAck(ack)).await {
                        return Ok(());
                    }
                    continue;
                }
                () = staging_expired(session.staging_deadline()) => {
                    return Err(Error::Rpc(Status::deadline_exceeded(format!(
                        "the full inventory was not complete {} s after its first part",
                        STAGING_DEADLINE.as_secs()
                    ))));
                }
                _ = reoffer.tick(), if session.pending() => session.claim_more().await?,
                () = registration.wake().notified() => session.claim_more().await?,
            };
            if !wanted.is_empty() {
                let request = pb::SbomRequest {
                    manifest_digests: digests(wanted),
                };
                if !send(outbound, pb::sync_response::Message::SbomRequest(request)).await {
                    return Ok(());
                }
            }
        }
    }

    async fn receive_upload(
        &self,
        caller: Caller,
        inbound: &mut Streaming<pb::UploadSbomRequest>,
    ) -> Result<pb::UploadSbomResponse> {
        use pb::upload_sbom_request::Part;
        let header = match inbound.message().await.map_err(read_error)? {
            Some(pb::UploadSbomRequest {
                part: Some(Part::Header(header)),
            }) => convert::upload_header(header)?,
            Some(_) => {
                return Err(Error::invalid(
                    "header",
                    "the first message of an upload must be an SbomHeader",
                ))
            }
            None => {
                return Err(Error::invalid(
                    "header",
                    "the upload is empty; send an SbomHeader first",
                ))
            }
        };
        caller.authorize(&header.node.cluster)?;
        let node = header.node.clone();
        let digest = header.manifest_digest.clone();
        let permit = self
            .state
            .store
            .begin_upload(&node, &digest, self.state.settings.claims, Timestamp::now())
            .await?;
        if let UploadPermit::AlreadyStored(record) = permit {
            tracing::debug!(%node, %digest, "upload skipped: SBOM already stored");
            return Ok(pb::UploadSbomResponse {
                manifest_digest: digest.into(),
                already_stored: true,
                component_count: record.component_count,
            });
        }
        let _slot = self
            .state
            .uploads
            .acquire()
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let mut assembler = Assembler::new(header, self.state.max_sbom_bytes)?;
        loop {
            let message = tokio::select! {
                () = self.state.shutdown.cancelled() => return Err(Error::ShuttingDown),
                message = inbound.message() => message.map_err(read_error)?,
            };
            let Some(message) = message else { break };
            match message.part {
                Some(Part::Chunk(chunk)) => {
                    assembler = tokio::task::spawn_blocking(move || {
                        assembler.push(chunk.offset, &chunk.data)?;
                        Ok::<_, Error>(assembler)
                    })
                    .await??;
                }
                Some(Part::Header(_)) => {
                    return Err(Error::invalid(
                        "header",
                        "only the first message of an upload may be a header",
                    ))
                }
                None => {
                    return Err(Error::invalid(
                        "part",
                        "an UploadSbomRequest carries no part",
                    ))
                }
            }
        }
        let sbom = tokio::task::spawn_blocking(move || assembler.finish()).await??;
        let (size, compressed) = (sbom.size, sbom.document_zstd.len());
        let metrics = &self.state.metrics;
        let own_component_count = sbom.components.len() as u64;
        let outcome = self
            .state
            .store
            .put_sbom(&node, sbom, Timestamp::now())
            .await?;
        self.state.sessions.wake(&node);
        let (already_stored, record) = match outcome {
            PutOutcome::Stored(record) => {
                metrics.sbom_stored(StoredCopy::Fleet, size);
                tracing::info!(%node, %digest, size, compressed, components = record.component_count, "SBOM stored");
                (false, record)
            }
            PutOutcome::AlreadyStored(record) => (true, record),
            PutOutcome::Checked { fleet, check } => {
                metrics.sbom_checked(check.status);
                if check.status != CheckStatus::Verified {
                    metrics.sbom_stored(StoredCopy::Own, size);
                }
                match check.status {
                    CheckStatus::Verified => {
                        tracing::info!(%node, %digest, stored_by = %fleet.cluster, "SBOM verified: same contents as the stored copy")
                    }
                    CheckStatus::Conflict => tracing::warn!(
                        %node, %digest, stored_by = %fleet.cluster, stored_node = %fleet.node,
                        stored_hash = %fleet.content_hash, hash = %check.content_hash,
                        agent_version = %check.agent_version,
                        "SBOM conflict: this cluster's build of the image differs from the stored copy built by the same agent version; the cluster now uses its own copy"
                    ),
                    CheckStatus::Unverified => tracing::info!(
                        %node, %digest, stored_by = %fleet.cluster,
                        stored_agent_version = %fleet.agent_version, agent_version = %check.agent_version,
                        "SBOM unverified: this cluster's build differs from the stored copy, which another agent version built or which is incomplete; the cluster uses its own copy"
                    ),
                }
                let verified = check.status == CheckStatus::Verified;
                let component_count = if verified {
                    fleet.component_count
                } else {
                    own_component_count
                };
                return Ok(pb::UploadSbomResponse {
                    manifest_digest: digest.into(),
                    already_stored: verified,
                    component_count,
                });
            }
        };
        Ok(pb::UploadSbomResponse {
            manifest_digest: digest.into(),
            already_stored,
            component_count: record.component_count,
        })
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    type SyncStream = ReceiverStream<std::result::Result<pb::SyncResponse, Status>>;

    async fn sync(
        &self,
        request: Request<Streaming<pb::SyncRequest>>,
    ) -> std::result::Result<Response<Self::SyncStream>, Status> {
        let caller = self.state.cluster_tokens.authenticate(request.metadata())?;
        let inbound = request.into_inner();
        let (outbound, responses) = mpsc::channel(SYNC_BUFFER);
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(err) = service.run_sync(caller, inbound, &outbound).await {
                let _ = outbound.send(Err(Status::from(err))).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(responses)))
    }

    async fn upload_sbom(
        &self,
        request: Request<Streaming<pb::UploadSbomRequest>>,
    ) -> std::result::Result<Response<pb::UploadSbomResponse>, Status> {
        let received = match self.state.cluster_tokens.authenticate(request.metadata()) {
            Ok(caller) => self.receive_upload(caller, &mut request.into_inner()).await,
            Err(err) => Err(err),
        };
        match received {
            Ok(response) => Ok(Response::new(response)),
            Err(err) => {
                tracing::info!(error = %err, "SBOM upload rejected");
                self.state.metrics.sbom_upload_rejected(&err);
                Err(err.into())
            }
        }
    }
}
