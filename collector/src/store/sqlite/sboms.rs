//! SBOM documents and their component index.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::{ClaimPolicy, EventKind, PutOutcome, SbomRecord, StoredSbom, UploadPermit};
use super::events::{self, NewEvent};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::NodeKey;
use crate::sbom::purl::PurlKey;
use crate::sbom::ValidatedSbom;

pub(super) const RECORD_COLUMNS: &str =
    "digest, size, sha256, spec_version, component_count, stored_at, cluster, node";

pub(super) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<SbomRecord> {
    Ok(SbomRecord {
        manifest_digest: row.get(0)?,
        size: row.get::<_, i64>(1)?.max(0) as u64,
        sha256: row.get(2)?,
        spec_version: row.get(3)?,
        component_count: row.get::<_, i64>(4)?.max(0) as u64,
        stored_at: Timestamp::from_unix_millis(row.get(5)?),
        cluster: row.get(6)?,
        node: row.get(7)?,
    })
}

pub(super) fn record(conn: &Connection, digest: &str) -> Result<Option<SbomRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM sboms WHERE digest = ?1"
    ))
    .and_then(|mut select| select.query_row([digest], record_from_row).optional())
    .map_err(Error::database("reading an SBOM record"))
}

struct Claim {
    node_id: i64,
    expires_at: i64,
    failed: bool,
}

/// The node's id, whether it has the image, and the current build claim of the digest.
fn upload_context(
    conn: &Connection,
    node: &NodeKey,
    digest: &Digest,
) -> Result<(i64, bool, Option<Claim>)> {
    let context = "checking an SBOM upload";
    let node_id: i64 = conn
        .prepare_cached("SELECT id FROM nodes WHERE cluster = ?1 AND name = ?2")
        .and_then(|mut select| {
            select
                .query_row(params![node.cluster, node.node], |row| row.get(0))
                .optional()
        })
        .map_err(Error::database(context))?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "node {node} has not reported an inventory; open Sync and report it first"
            ))
        })?;
    let has_image = conn
        .prepare_cached("SELECT 1 FROM node_images WHERE node_id = ?1 AND digest = ?2")
        .and_then(|mut select| {
            select
                .query_row(params![node_id, digest.as_str()], |_| Ok(()))
                .optional()
        })
        .map_err(Error::database(context))?
        .is_some();
    let claim = conn
        .prepare_cached("SELECT node_id, expires_at, failed_reason IS NOT NULL FROM sbom_claims WHERE digest = ?1")
        .and_then(|mut select| {
            select
                .query_row([digest.as_str()], |row| {
                    Ok(Claim {
                        node_id: row.get(0)?,
                        expires_at: row.get(1)?,
                        failed: row.get(2)?,
                    })
                })
                .optional()
        })
        .map_err(Error::database(context))?;
    Ok((node_id, has_image, claim))
}

pub(super) fn begin_upload(
    conn: &Connection,
    node: &NodeKey,
    digest: &Digest,
    policy: ClaimPolicy,
    now: Timestamp,
) -> Result<UploadPermit> {
    if let Some(record) = record(conn, digest.as_str())? {
        return Ok(UploadPermit::AlreadyStored(record));
    }
    let (node_id, has_image, claim) = upload_context(conn, node, digest)?;
    if !has_image {
        return Err(Error::FailedPrecondition(format!(
            "image {digest} is not in the inventory of node {node}; report it before uploading its SBOM"
        )));
    }
    if let Some(claim) = claim {
        if claim.node_id != node_id && !claim.failed && claim.expires_at > now.unix_millis() {
            return Err(Error::FailedPrecondition(format!(
                "another node is building the SBOM of {digest}; upload only the SBOMs the collector asks for"
            )));
        }
    }
    conn.prepare_cached(
        "INSERT INTO sbom_claims (digest, node_id, expires_at, failed_reason) VALUES (?1, ?2, ?3, NULL)
         ON CONFLICT (digest) DO UPDATE SET
             node_id = excluded.node_id, expires_at = excluded.expires_at, failed_reason = NULL",
    )
    .and_then(|mut claim| {
        claim.execute(params![
            digest.as_str(),
            node_id,
            now.saturating_add(policy.lease).unix_millis()
        ])
    })
    .map_err(Error::database("claiming an SBOM build"))?;
    Ok(UploadPermit::Allowed)
}

pub(super) fn put(
    conn: &Connection,
    node: &NodeKey,
    sbom: &ValidatedSbom,
    now: Timestamp,
) -> Result<PutOutcome> {
    let digest = &sbom.manifest_digest;
    if let Some(record) = record(conn, digest.as_str())? {
        return Ok(PutOutcome::AlreadyStored(record));
    }
    // The node may have dropped the image while uploading; the claim it got from
    // begin_upload still entitles it.
    let (node_id, has_image, claim) = upload_context(conn, node, digest)?;
    if !has_image && claim.is_none_or(|claim| claim.node_id != node_id) {
        return Err(Error::FailedPrecondition(format!(
            "image {digest} is not in the inventory of node {node}"
        )));
    }
    let context = "storing an SBOM";
    let record = SbomRecord {
        manifest_digest: digest.to_string(),
        size: sbom.size,
        sha256: sbom.sha256.to_string(),
        spec_version: sbom.spec_version.clone(),
        component_count: sbom.components.len() as u64,
        stored_at: now,
        cluster: node.cluster.clone(),
        node: node.node.clone(),
    };
    conn.execute(
        "INSERT INTO sboms (digest, spec_version, size, sha256, component_count, stored_at, cluster, node, document)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            record.manifest_digest,
            record.spec_version,
            record.size as i64,
            record.sha256,
            record.component_count as i64,
            now.unix_millis(),
            record.cluster,
            record.node,
            sbom.document_zstd,
        ],
    )
    .map_err(Error::database(context))?;
    {
        let mut find = conn
            .prepare_cached("SELECT id FROM components WHERE purl = ?1 AND name = ?2 AND version = ?3 AND kind = ?4")
            .map_err(Error::database(context))?;
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO components (name, version, purl, kind, purl_base) VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING id",
            )
            .map_err(Error::database(context))?;
        let mut link = conn
            .prepare_cached("INSERT INTO sbom_components (component_id, digest) VALUES (?1, ?2)")
            .map_err(Error::database(context))?;
        for component in &sbom.components {
            let found: Option<i64> = find
                .query_row(
                    params![
                        component.purl,
                        component.name,
                        component.version,
                        component.kind
                    ],
                    |row| row.get(0),
                )
                .optional()
                .map_err(Error::database(context))?;
            let id = match found {
                Some(id) => id,
                None => {
                    let base = PurlKey::parse(&component.purl)
                        .map(|key| key.base)
                        .unwrap_or_default();
                    insert
                        .query_row(
                            params![
                                component.name,
                                component.version,
                                component.purl,
                                component.kind,
                                base
                            ],
                            |row| row.get(0),
                        )
                        .map_err(Error::database(context))?
                }
            };
            link.execute(params![id, digest.as_str()])
                .map_err(Error::database(context))?;
        }
    }
    conn.execute(
        "DELETE FROM sbom_claims WHERE digest = ?1",
        [digest.as_str()],
    )
    .map_err(Error::database(context))?;
    events::insert(
        conn,
        &NewEvent {
            kind: EventKind::SbomStored,
            digest: digest.as_str(),
            cluster: &node.cluster,
            node: &node.node,
            workload: None,
            component_count: record.component_count,
        },
        now,
    )?;
    Ok(PutOutcome::Stored(record))
}

pub(super) fn get(conn: &Connection, digest: &Digest) -> Result<Option<StoredSbom>> {
    conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS}, document FROM sboms WHERE digest = ?1"
    ))
    .and_then(|mut select| {
        select
            .query_row([digest.as_str()], |row| {
                Ok(StoredSbom {
                    record: record_from_row(row)?,
                    document_zstd: row.get(8)?,
                })
            })
            .optional()
    })
    .map_err(Error::database("reading an SBOM"))
}
