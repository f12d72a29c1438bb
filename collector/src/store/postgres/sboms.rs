//! SBOM documents and their component index: the fleet copy of each digest, and what
//! other clusters found when they built it. Operations on one digest's SBOM take an
//! advisory lock on the digest first, so that two replicas storing the same image one
//! after the other see each other's copy.

use sha2::{Digest as _, Sha256};
use tokio_postgres::Row;

use super::super::{
    CheckStatus, ClaimPolicy, EventKind, PutOutcome, SbomCheck, SbomRecord, StoredSbom,
    UploadPermit,
};
use super::events::NewEvent;
use super::Tx;
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

fn record_from_row(row: &Row) -> Result<SbomRecord> {
    let context = "reading an SBOM record";
    let get = |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
    let number = |index| -> Result<i64> { row.try_get(index).map_err(Error::postgres(context)) };
    let reasons: Vec<String> = serde_json::from_str(&get(11)?)
        .map_err(|err| Error::Corrupt(format!("incompleteness reasons: {err}")))?;
    Ok(SbomRecord {
        manifest_digest: get(0)?,
        size: number(1)?.max(0) as u64,
        sha256: get(2)?,
        spec_version: get(3)?,
        component_count: number(4)?.max(0) as u64,
        stored_at: Timestamp::from_unix_millis(number(5)?),
        cluster: get(6)?,
        node: get(7)?,
        agent_version: get(8)?,
        content_hash: get(9)?,
        incomplete: row.try_get(10).map_err(Error::postgres(context))?,
        incomplete_reasons: reasons,
        checks: Vec::new(),
    })
}

/// Serialises the transactions about `digest`'s SBOM until this one ends.
async fn lock_digest(tx: &Tx<'_>, digest: &str) -> Result<()> {
    tx.execute(
        "locking an image's SBOM",
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&digest],
    )
    .await?;
    Ok(())
}

/// The other clusters' checks of the fleet copy of `digest`, by cluster.
async fn checks(tx: &Tx<'_>, digest: &str) -> Result<Vec<SbomCheck>> {
    let context = "reading SBOM checks";
    let rows = tx
        .query(
            context,
            "SELECT cluster, node, agent_version, status, content_hash, checked_at, note
             FROM sbom_checks WHERE digest = $1 ORDER BY cluster",
            &[&digest],
        )
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let status: i32 = row.try_get(3).map_err(Error::postgres(context))?;
        let status = CheckStatus::from_code(i64::from(status))
            .ok_or_else(|| Error::Corrupt(format!("SBOM check status {status}")))?;
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        found.push(SbomCheck {
            cluster: text(0)?,
            node: text(1)?,
            agent_version: text(2)?,
            status,
            content_hash: text(4)?,
            note: text(6)?,
            checked_at: Timestamp::from_unix_millis(
                row.try_get(5).map_err(Error::postgres(context))?,
            ),
        });
    }
    Ok(found)
}

/// The fleet copy of `digest`, with the other clusters' checks.
pub(super) async fn record(tx: &Tx<'_>, digest: &str) -> Result<Option<SbomRecord>> {
    let row = tx
        .query_opt(
            "reading an SBOM record",
            &format!("SELECT {RECORD_COLUMNS} FROM sboms WHERE digest = $1"),
            &[&digest],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut record = record_from_row(&row)?;
    record.checks = checks(tx, digest).await?;
    Ok(Some(record))
}

/// The SBOM `cluster` uses for `digest`: its own copy when its build differs from the
/// fleet copy, else the fleet copy (`None` without cluster).
pub(super) async fn record_for(
    tx: &Tx<'_>,
    digest: &str,
    cluster: Option<&str>,
) -> Result<Option<SbomRecord>> {
    let Some(mut fleet) = record(tx, digest).await? else {
        return Ok(None);
    };
    let Some(cluster) = cluster else {
        return Ok(Some(fleet));
    };
    let own = tx
        .query_opt(
            "reading a cluster's SBOM record",
            &format!(
                "SELECT {COPY_COLUMNS} FROM sbom_checks
                 WHERE digest = $1 AND cluster = $2 AND document IS NOT NULL"
            ),
            &[&digest, &cluster],
        )
        .await?;
    Ok(Some(match own {
        Some(own) => {
            let mut own = record_from_row(&own)?;
            own.checks = std::mem::take(&mut fleet.checks);
            own
        }
        None => fleet,
    }))
}

/// What `cluster` already built of `digest`: the SBOM it uses, when it built the fleet
/// copy or checked it.
async fn built_by_cluster(tx: &Tx<'_>, digest: &str, cluster: &str) -> Result<Option<SbomRecord>> {
    let Some(fleet) = record(tx, digest).await? else {
        return Ok(None);
    };
    if fleet.cluster == cluster || fleet.checks.iter().any(|check| check.cluster == cluster) {
        record_for(tx, digest, Some(cluster)).await
    } else {
        Ok(None)
    }
}

/// The node's id, whether it has the image, and its cluster's build claim of the digest.
async fn upload_context(
    tx: &Tx<'_>,
    node: &NodeKey,
    digest: &Digest,
) -> Result<(i64, bool, Option<Claim>)> {
    let context = "checking an SBOM upload";
    let node_id: i64 = tx
        .query_opt(
            context,
            "SELECT id FROM nodes WHERE cluster = $1 AND name = $2",
            &[&node.cluster, &node.node],
        )
        .await?
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "node {node} has not reported an inventory; open Sync and report it first"
            ))
        })?
        .try_get(0)
        .map_err(Error::postgres(context))?;
    let has_image = tx
        .query_opt(
            context,
            "SELECT 1 FROM node_images WHERE node_id = $1 AND digest = $2",
            &[&node_id, &digest.as_str()],
        )
        .await?
        .is_some();
    let claim = tx
        .query_opt(
            context,
            "SELECT node_id, expires_at, failed_reason IS NOT NULL FROM sbom_claims
             WHERE digest = $1 AND cluster = $2",
            &[&digest.as_str(), &node.cluster],
        )
        .await?
        .map(|row| -> Result<Claim> {
            Ok(Claim {
                node_id: row.try_get(0).map_err(Error::postgres(context))?,
                expires_at: Timestamp::from_unix_millis(
                    row.try_get(1).map_err(Error::postgres(context))?,
                ),
                failed: row.try_get(2).map_err(Error::postgres(context))?,
            })
        })
        .transpose()?;
    Ok((node_id, has_image, claim))
}

pub(super) async fn begin_upload(
    tx: &mut Tx<'_>,
    node: &NodeKey,
    digest: &Digest,
    policy: ClaimPolicy,
    now: Timestamp,
) -> Result<UploadPermit> {
    lock_digest(tx, digest.as_str()).await?;
    if let Some(record) = built_by_cluster(tx, digest.as_str(), &node.cluster).await? {
        return Ok(UploadPermit::AlreadyStored(Box::new(record)));
    }
    let (node_id, has_image, claim) = upload_context(tx, node, digest).await?;
    dedup::check_upload(node, node_id, digest.as_str(), has_image, claim, now)?;
    // The claim read above may be stale: another replica may be giving it to another
    // node right now. The upsert takes it only if that still holds when it is written.
    let taken = tx
        .query_opt(
            "claiming an SBOM build",
            "INSERT INTO sbom_claims (digest, cluster, node_id, expires_at, failed_reason)
             VALUES ($1, $2, $3, $4, NULL)
             ON CONFLICT (digest, cluster) DO UPDATE SET
                 node_id = excluded.node_id, expires_at = excluded.expires_at,
                 failed_reason = NULL
             WHERE sbom_claims.node_id = excluded.node_id
                OR sbom_claims.failed_reason IS NOT NULL
                OR sbom_claims.expires_at <= $5
             RETURNING 1",
            &[
                &digest.as_str(),
                &node.cluster,
                &node_id,
                &now.saturating_add(policy.lease).unix_millis(),
                &now.unix_millis(),
            ],
        )
        .await?;
    if taken.is_none() {
        return Err(dedup::built_elsewhere(node, digest.as_str()));
    }
    Ok(UploadPermit::Allowed)
}

pub(super) async fn put(
    tx: &mut Tx<'_>,
    node: &NodeKey,
    sbom: &ValidatedSbom,
    now: Timestamp,
) -> Result<PutOutcome> {
    let digest = &sbom.manifest_digest;
    lock_digest(tx, digest.as_str()).await?;
    if let Some(record) = built_by_cluster(tx, digest.as_str(), &node.cluster).await? {
        return Ok(PutOutcome::AlreadyStored(record));
    }
    let (node_id, has_image, claim) = upload_context(tx, node, digest).await?;
    dedup::check_put(node, node_id, digest.as_str(), has_image, claim)?;
    let context = "storing an SBOM";
    tx.execute(
        context,
        "DELETE FROM sbom_claims WHERE digest = $1 AND cluster = $2",
        &[&digest.as_str(), &node.cluster],
    )
    .await?;
    let reasons = serde_json::to_string(&sbom.completeness.reasons)
        .map_err(|err| Error::Internal(format!("encoding incompleteness reasons: {err}")))?;
    if let Some(mut fleet) = record(tx, digest.as_str()).await? {
        let check = dedup::check_against(fleet.fleet_copy(), node, sbom, now);
        let own_copy = check.status != CheckStatus::Verified;
        tx.execute(
            context,
            "INSERT INTO sbom_checks (digest, cluster, node, agent_version, status, content_hash,
                 checked_at, spec_version, size, sha256, component_count, incomplete,
                 incomplete_reasons, document, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &digest.as_str(),
                &check.cluster,
                &check.node,
                &check.agent_version,
                &(check.status.code() as i32),
                &check.content_hash,
                &now.unix_millis(),
                &own_copy.then_some(&sbom.spec_version),
                &own_copy.then_some(sbom.size as i64),
                &own_copy.then(|| sbom.sha256.to_string()),
                &own_copy.then_some(sbom.components.len() as i64),
                &own_copy.then_some(sbom.completeness.incomplete),
                &own_copy.then_some(&reasons),
                &own_copy.then_some(&sbom.document_zstd),
                &check.note,
            ],
        )
        .await?;
        if own_copy {
            let ids = index_components(tx, &sbom.components).await?;
            tx.execute(
                context,
                "INSERT INTO sbom_check_components (component_id, digest, cluster)
                 SELECT id, $2, $3 FROM unnest($1::bigint[]) AS ids (id)
                 ON CONFLICT DO NOTHING",
                &[&ids, &digest.as_str(), &node.cluster],
            )
            .await?;
        }
        if check.status == CheckStatus::Conflict {
            tx.event(NewEvent {
                component_count: sbom.components.len() as i64,
                ..NewEvent::new(
                    EventKind::SbomConflict,
                    digest.as_str(),
                    &node.cluster,
                    &node.node,
                    now,
                )
            });
        }
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
    tx.execute(
        context,
        "INSERT INTO sboms (digest, spec_version, size, sha256, component_count, stored_at, cluster,
             node, document, agent_version, content_hash, incomplete, incomplete_reasons)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &record.manifest_digest,
            &record.spec_version,
            &(record.size as i64),
            &record.sha256,
            &(record.component_count as i64),
            &now.unix_millis(),
            &record.cluster,
            &record.node,
            &sbom.document_zstd,
            &record.agent_version,
            &record.content_hash,
            &record.incomplete,
            &reasons,
        ],
    )
    .await?;
    let ids = index_components(tx, &sbom.components).await?;
    tx.execute(
        context,
        "INSERT INTO sbom_components (component_id, digest)
         SELECT id, $2 FROM unnest($1::bigint[]) AS ids (id)
         ON CONFLICT DO NOTHING",
        &[&ids, &digest.as_str()],
    )
    .await?;
    tx.event(NewEvent {
        component_count: record.component_count as i64,
        ..NewEvent::new(
            EventKind::SbomStored,
            digest.as_str(),
            &node.cluster,
            &node.node,
            now,
        )
    });
    Ok(PutOutcome::Stored(record))
}

/// SHA-256 of `parts`, each followed by a NUL (no part contains one: see
/// [`crate::sbom::cyclonedx`]): the key of texts too long for a btree index.
pub(super) fn text_key(parts: &[&str]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().to_vec()
}

/// The lookup key of a component name: ASCII letters lower-cased, as SQLite's NOCASE.
pub(super) fn name_key(name: &str) -> Vec<u8> {
    text_key(&[&name.to_ascii_lowercase()])
}

/// Adds `components` to the distinct components (in one statement each way, whatever
/// their number) and returns their ids.
async fn index_components(tx: &Tx<'_>, components: &[Component]) -> Result<Vec<i64>> {
    let context = "indexing SBOM components";
    let column =
        |field: fn(&Component) -> &str| -> Vec<&str> { components.iter().map(field).collect() };
    let identities: Vec<Vec<u8>> = components
        .iter()
        .map(|c| text_key(&[&c.purl, &c.name, &c.version, &c.kind]))
        .collect();
    let bases: Vec<String> = components
        .iter()
        .map(|component| {
            PurlKey::parse(&component.purl)
                .map(|key| key.base)
                .unwrap_or_default()
        })
        .collect();
    let base_keys: Vec<Vec<u8>> = bases.iter().map(|base| text_key(&[base])).collect();
    let name_keys: Vec<Vec<u8>> = components.iter().map(|c| name_key(&c.name)).collect();
    // Sorted, so that two replicas indexing overlapping SBOMs lock rows in one order.
    tx.execute(
        context,
        "INSERT INTO components (identity, name, version, purl, kind, purl_base, purl_base_key,
                                 name_key)
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::bytea[], $8::bytea[])
             AS c (identity, name, version, purl, kind, purl_base, purl_base_key, name_key)
         ORDER BY identity
         ON CONFLICT (identity) DO NOTHING",
        &[
            &identities,
            &column(|c| &c.name),
            &column(|c| &c.version),
            &column(|c| &c.purl),
            &column(|c| &c.kind),
            &bases,
            &base_keys,
            &name_keys,
        ],
    )
    .await?;
    let rows = tx
        .query(
            context,
            "SELECT id FROM components WHERE identity = ANY($1::bytea[])",
            &[&identities],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(Error::postgres(context)))
        .collect()
}

/// The document `cluster` uses for `digest` (see [`record_for`]).
pub(super) async fn get(
    tx: &Tx<'_>,
    digest: &Digest,
    cluster: Option<&str>,
) -> Result<Option<StoredSbom>> {
    let Some(record) = record_for(tx, digest.as_str(), cluster).await? else {
        return Ok(None);
    };
    let context = "reading an SBOM";
    let own = cluster.is_some_and(|cluster| record.cluster == cluster)
        && record.checks.iter().any(|check| {
            Some(check.cluster.as_str()) == cluster && check.status != CheckStatus::Verified
        });
    let row = if own {
        tx.query_one(
            context,
            "SELECT document FROM sbom_checks WHERE digest = $1 AND cluster = $2",
            &[&digest.as_str(), &record.cluster],
        )
        .await?
    } else {
        tx.query_one(
            context,
            "SELECT document FROM sboms WHERE digest = $1",
            &[&digest.as_str()],
        )
        .await?
    };
    let document_zstd: Vec<u8> = row.try_get(0).map_err(Error::postgres(context))?;
    Ok(Some(StoredSbom {
        record,
        document_zstd,
    }))
}
