//! The `nodebom.v1` gRPC contract between nodebom agents, the collector and other tools,
//! generated from `proto/nodebom/v1/*.proto`.
//!
//! - [`v1::ingest_client`] / [`v1::ingest_server`]: agents report inventories and upload
//!   SBOMs (`Ingest.Sync`, `Ingest.UploadSbom`).
//! - [`v1::query_client`] / [`v1::query_server`]: SBOMs, inventory, component search and
//!   a resumable event stream (`Query`).
//! - [`chunks`]: documents sent in chunks; [`digest`]: OCI digests; [`retry`]: how clients space their retries and which
//!   answers are final.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use nodebom_proto::v1::{query_client::QueryClient, ListImagesRequest};
//!
//! let mut client = QueryClient::connect("http://127.0.0.1:7443").await?;
//! let page = client
//!     .list_images(ListImagesRequest { running_only: true, ..Default::default() })
//!     .await?
//!     .into_inner();
//! for image in page.images {
//!     println!("{} {:?}", image.manifest_digest, image.names);
//! }
//! # Ok(())
//! # }
//! ```

pub mod chunks;
pub mod digest;
pub mod retry;

/// Package `nodebom.v1`.
pub mod v1 {
    #![allow(missing_docs)]
    // Generated oneofs hold messages by value; `GetSbomResponse.part` is one info message
    // per call, so boxing it would only complicate every caller.
    #![allow(clippy::large_enum_variant)]
    tonic::include_proto!("nodebom.v1");
}

/// Encoded `FileDescriptorSet` of package `nodebom.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("nodebom_v1_descriptor");
