//! SBOM documents and their component index: the fleet copy of each digest, and what
//! other clusters found when they built it.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::{
    CheckStatus, ClaimPolicy, EventKind, PutOutcome, SbomCheck, SbomRecord, StoredSbom,
    UploadPermit,
};
use super::events::{self, NewEvent};
use crate::clock::Timestamp;
use crate::dedup::{self, Claim};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::NodeKey;
use crate::sbom::purl::PurlKey;
use crate::sbom::{Component, ValidatedSbom};

const RECORD_COLUMNS: &str = "digest, size, sha256, spec_version, component_count, stored_at, \
     cluster, node, agent_version, content_hash, incomplete, incomplete_reasons";

/// The same columns of a cluster's own copy.
const COPY_COLUMNS: &str = "digest, size, sha256, spec_version, component_count, checked_at, \
     cluster, node, agent_version, content_hash, incomplete, incomplete_reasons";

fn reasons_from_json(json: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(json).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(err))
    })
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<SbomRecord> {
    Ok(SbomRecord {
        manifest_digest: row.get(0)?,
        size: row.get::<_, i64>(1)?.max(0) as u64,
        sha256: row.get(2)?,
        spec_version: row.get(3)?,
        component_count: row.get::<_, i64>(4)?.max(0) as u64,
        stored_at: Timestamp::from_unix_millis(row.get(5)?),
        cluster: row.get(6)?,
        node: row.get(7)?,
        agent_version: row.get(8)?,
        content_hash: row.get(9)?,
        incomplete: row.get(10)?,
        incomplete_reasons: reasons_from_json(&row.get::<_, String>(11)?)?,
        checks: Vec::new(),
    })
}

/// The other clusters' checks of the fleet copy of `digest`, by cluster.
fn checks(conn: &Connection, digest: &str) -> Result<Vec<SbomCheck>> {
    let context = "reading SBOM checks";
    let mut select = conn
        .prepare_cached(
            "SELECT cluster, node, agent_version, status, content_hash, checked_at, note
             FROM sbom_checks WHERE digest = ?1 ORDER BY cluster",
        )
        .map_err(Error::database(context))?;
    let rows = select
        .query_map([digest], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, String>(6)?,
            ))
        })
        .map_err(Error::database(context))?;
    let mut found = Vec::new();
    for row in rows {
        let (cluster, node, agent_version, status, content_hash, checked_at, note) =
            row.map_err(Error::database(context))?;
        let status = CheckStatus::from_code(status)
            .ok_or_else(|| Error::Corrupt(format!("SBOM check status {status}")))?;
        found.push(SbomCheck {
            cluster,
            node,
            agent_version,
            status,
            content_hash,
            note,
            checked_at: Timestamp::from_unix_millis(checked_at),
        });
    }
    Ok(found)
}

/// The fleet copy of `digest`, with the other clusters' checks.
pub(super) fn record(conn: &Connection, digest: &str) -> Result<Option<SbomRecord>> {
    let record = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM sboms WHERE digest = ?1"
        ))
        .and_then(|mut select| select.query_row([digest], record_from_row).optional())
        .map_err(Error::database("reading an SBOM record"))?;
    record
        .map(|mut record| {
            record.checks = checks(conn, digest)?;
            Ok(record)
        })
        .transpose()
}

/// The SBOM `cluster` uses for `digest`: its own copy when its build differs from the
/// fleet copy, else the fleet copy (`None` without cluster).
pub(super) fn record_for(
    conn: &Connection,
    digest: &str,
    cluster: Option<&str>,
) -> Result<Option<SbomRecord>> {
    let Some(mut fleet) = record(conn, digest)? else {
        return Ok(None);
    };
    let Some(cluster) = cluster else {
        return Ok(Some(fleet));
    };
    let own = conn
        .prepare_cached(&format!(
            "SELECT {COPY_COLUMNS} FROM sbom_checks
             WHERE digest = ?1 AND cluster = ?2 AND document IS NOT NULL"
        ))
        .and_then(|mut select| {
            select
                .query_row(params![digest, cluster], record_from_row)
                .optional()
        })
        .map_err(Error::database("reading a cluster's SBOM record"))?;
    Ok(Some(match own {
        Some(mut own) => {
            own.checks = std::mem::take(&mut fleet.checks);
            own
        }
        None => fleet,
    }))
}

/// What `cluster` already built of `digest`: the SBOM it uses, when it built the fleet
/// copy or checked it.
fn built_by_cluster(conn: &Connection, digest: &str, cluster: &str) -> Result<Option<SbomRecord>> {
    let Some(fleet) = record(conn, digest)? else {
        return Ok(None);
    };
    if fleet.cluster == cluster || fleet.checks.iter().any(|check| check.cluster == cluster) {
        record_for(conn, digest, Some(cluster))
    } else {
        Ok(None)
    }
}

/// The node's id, whether it has the image, and its cluster's build claim of the digest.
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
        .prepare_cached(
            "SELECT node_id, expires_at, failed_reason IS NOT NULL FROM sbom_claims
             WHERE digest = ?1 AND cluster = ?2",
        )
        .and_then(|mut select| {
            select
                .query_row(params![digest.as_str(), node.cluster], |row| {
                    Ok(Claim {
                        node_id: row.get(0)?,
                        expires_at: Timestamp::from_unix_millis(row.get(1)?),
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
    if let Some(record) = built_by_cluster(conn, digest.as_str(), &node.cluster)? {
        return Ok(UploadPermit::AlreadyStored(Box::new(record)));
    }
    let (node_id, has_image, claim) = upload_context(conn, node, digest)?;
    dedup::check_upload(node, node_id, digest.as_str(), has_image, claim, now)?;
    conn.prepare_cached(
        "INSERT INTO sbom_claims (digest, cluster, node_id, expires_at, failed_reason)
         VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (digest, cluster) DO UPDATE SET
             node_id = excluded.node_id, expires_at = excluded.expires_at, failed_reason = NULL",
    )
    .and_then(|mut claim| {
        claim.execute(params![
            digest.as_str(),
            node.cluster,
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
    if let Some(record) = built_by_cluster(conn, digest.as_str(), &node.cluster)? {
        return Ok(PutOutcome::AlreadyStored(record));
    }
    let (node_id, has_image, claim) = upload_context(conn, node, digest)?;
    dedup::check_put(node, node_id, digest.as_str(), has_image, claim)?;
    let context = "storing an SBOM";
    conn.prepare_cached("DELETE FROM sbom_claims WHERE digest = ?1 AND cluster = ?2")
        .and_then(|mut delete| delete.execute(params![digest.as_str(), node.cluster]))
        .map_err(Error::database(context))?;
    let reasons = serde_json::to_string(&sbom.completeness.reasons)
        .map_err(|err| Error::Internal(format!("encoding incompleteness reasons: {err}")))?;
    if let Some(fleet) = record(conn, digest.as_str())? {
        let check = dedup::check_against(fleet.fleet_copy(), node, sbom, now);
        let own_copy = check.status != CheckStatus::Verified;
        conn.execute(
            "INSERT INTO sbom_checks (digest, cluster, node, agent_version, status, content_hash,
                 checked_at, spec_version, size, sha256, component_count, incomplete,
                 incomplete_reasons, document, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                digest.as_str(),
                check.cluster,
                check.node,
                check.agent_version,
                check.status.code(),
                check.content_hash,
                now.unix_millis(),
                own_copy.then_some(&sbom.spec_version),
                own_copy.then_some(sbom.size as i64),
                own_copy.then(|| sbom.sha256.to_string()),
                own_copy.then_some(sbom.components.len() as i64),
                own_copy.then_some(sbom.completeness.incomplete),
                own_copy.then_some(&reasons),
                own_copy.then_some(&sbom.document_zstd),
                check.note,
            ],
        )
        .map_err(Error::database(context))?;
        if own_copy {
            let mut link = conn
                .prepare_cached(
                    "INSERT INTO sbom_check_components (component_id, digest, cluster) VALUES (?1, ?2, ?3)",
                )
                .map_err(Error::database(context))?;
            index_components(conn, &sbom.components, |id| {
                link.execute(params![id, digest.as_str(), node.cluster])
            })?;
        }
        if check.status == CheckStatus::Conflict {
            events::insert(
                conn,
                &NewEvent {
                    kind: EventKind::SbomConflict,
                    digest: digest.as_str(),
                    cluster: &node.cluster,
                    node: &node.node,
                    workload: None,
                    component_count: sbom.components.len() as u64,
                    exposure: None,
                },
                now,
            )?;
        }
        let mut fleet = fleet;
        fleet.checks.push(check.clone());
        fleet.checks.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        return Ok(PutOutcome::Checked { fleet, check });
    }
    let record = SbomRecord {
        manifest_digest: digest.to_string(),
        size: sbom.size,
        sha256: sbom.sha256.to_string(),
        spec_version: sbom.spec_version.clone(),
        component_count: sbom.components.len() as u64,
        stored_at: now,
        cluster: node.cluster.clone(),
        node: node.node.clone(),
        agent_version: sbom.agent_version.clone(),
        content_hash: sbom.content_hash.to_string(),
        incomplete: sbom.completeness.incomplete,
        incomplete_reasons: sbom.completeness.reasons.clone(),
        checks: Vec::new(),
    };
    conn.execute(
        "INSERT INTO sboms (digest, spec_version, size, sha256, component_count, stored_at, cluster,
             node, document, agent_version, content_hash, incomplete, incomplete_reasons)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
            record.agent_version,
            record.content_hash,
            record.incomplete,
            reasons,
        ],
    )
    .map_err(Error::database(context))?;
    {
        let mut link = conn
            .prepare_cached("INSERT INTO sbom_components (component_id, digest) VALUES (?1, ?2)")
            .map_err(Error::database(context))?;
        index_components(conn, &sbom.components, |id| {
            link.execute(params![id, digest.as_str()])
        })?;
    }
    events::insert(
        conn,
        &NewEvent {
            kind: EventKind::SbomStored,
            digest: digest.as_str(),
            cluster: &node.cluster,
            node: &node.node,
            workload: None,
            component_count: record.component_count,
            exposure: None,
        },
        now,
    )?;
    Ok(PutOutcome::Stored(record))
}

/// Adds `components` to the distinct components and hands each one's id to `link`.
fn index_components(
    conn: &Connection,
    components: &[Component],
    mut link: impl FnMut(i64) -> rusqlite::Result<usize>,
) -> Result<()> {
    let context = "indexing SBOM components";
    let mut find = conn
        .prepare_cached("SELECT id FROM components WHERE purl = ?1 AND name = ?2 AND version = ?3 AND kind = ?4")
        .map_err(Error::database(context))?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO components (name, version, purl, kind, purl_base) VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING id",
        )
        .map_err(Error::database(context))?;
    for component in components {
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
        link(id).map_err(Error::database(context))?;
    }
    Ok(())
}

/// The document `cluster` uses for `digest` (see [`record_for`]).
pub(super) fn get(
    conn: &Connection,
    digest: &Digest,
    cluster: Option<&str>,
) -> Result<Option<StoredSbom>> {
    let Some(record) = record_for(conn, digest.as_str(), cluster)? else {
        return Ok(None);
    };
    let context = "reading an SBOM";
    let own = cluster.is_some_and(|cluster| record.cluster == cluster)
        && record.checks.iter().any(|check| {
            Some(check.cluster.as_str()) == cluster && check.status != CheckStatus::Verified
        });
    let document_zstd: Vec<u8> = if own {
        conn.prepare_cached("SELECT document FROM sbom_checks WHERE digest = ?1 AND cluster = ?2")
            .and_then(|mut select| {
                select.query_row(params![digest.as_str(), record.cluster], |row| row.get(0))
            })
    } else {
        conn.prepare_cached("SELECT document FROM sboms WHERE digest = ?1")
            .and_then(|mut select| select.query_row([digest.as_str()], |row| row.get(0)))
    }
    .map_err(Error::database(context))?;
    Ok(Some(StoredSbom {
        record,
        document_zstd,
    }))
}
