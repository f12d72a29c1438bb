//! The Dependency-Track forwarder's state and outbox. Any replica works the outbox:
//! it leases the head action of each project it takes, and a project whose head is
//! leased is skipped by the others until the lease ends.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Tx;
use crate::clock::Timestamp;
use crate::error::{without_nul, Error, Result};
use crate::inventory::NodeSoftware;
use crate::store::outbox::{Failure, OutboxItem, Plan, ProjectState, Usage};

/// SBOMs that a running workload uses (or, with `every_image`, that a node has), with
/// their users: a cluster whose own build differs from the fleet copy uses its own copy,
/// under a project key of its own.
pub(super) async fn usage(tx: &Tx<'_>, every_image: bool) -> Result<Vec<Usage>> {
    const OWN_COPY: &str = "LEFT JOIN sbom_checks k ON k.digest = s.digest \
         AND k.cluster = n.cluster AND k.document IS NOT NULL";
    // `outbox::project_key` in SQL.
    const KEY: &str = "CASE WHEN k.digest IS NULL THEN s.digest \
         ELSE s.digest || '#' || n.cluster END AS project_key";
    let users = if every_image {
        format!(
            "SELECT {KEY}, COALESCE(k.sha256, s.sha256), i.names, n.cluster, '', i.node, \
             CASE WHEN i.node IS NULL THEN '' ELSE n.node_pool END FROM sboms s \
             JOIN images i ON i.digest = s.digest \
             JOIN node_images u ON u.digest = s.digest JOIN nodes n ON n.id = u.node_id \
             {OWN_COPY} ORDER BY project_key"
        )
    } else {
        format!(
            "SELECT {KEY}, COALESCE(k.sha256, s.sha256), i.names, n.cluster, w.namespace, \
             NULL, '' FROM sboms s \
             JOIN images i ON i.digest = s.digest \
             JOIN workloads w ON w.digest = s.digest AND w.running \
             JOIN nodes n ON n.id = w.node_id \
             {OWN_COPY} \
             UNION ALL \
             SELECT {KEY}, COALESCE(k.sha256, s.sha256), i.names, n.cluster, '', i.node, \
             n.node_pool FROM sboms s \
             JOIN images i ON i.digest = s.digest AND i.node IS NOT NULL \
             JOIN node_images u ON u.digest = s.digest JOIN nodes n ON n.id = u.node_id \
             {OWN_COPY} ORDER BY project_key"
        )
    };
    let context = "reading the images to forward";
    let mut found: Vec<Usage> = Vec::new();
    for row in tx.query(context, &users, &[]).await? {
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        let digest = text(0)?;
        let cluster = text(3)?;
        let namespace = text(4)?;
        if found.last().is_none_or(|last| last.digest != digest) {
            let node: Option<String> = row.try_get(5).map_err(Error::postgres(context))?;
            found.push(Usage {
                digest,
                sbom_sha256: text(1)?,
                names: serde_json::from_str(&text(2)?)
                    .map_err(|err| Error::Corrupt(format!("image names: {err}")))?,
                clusters: BTreeMap::new(),
                node: NodeSoftware::from_json(node.as_deref())?,
                node_pools: BTreeSet::new(),
            });
        }
        if let Some(last) = found.last_mut() {
            let pool = text(6)?;
            if !pool.is_empty() {
                last.node_pools.insert(pool);
            }
            let namespaces = last.clusters.entry(cluster).or_default();
            if !namespace.is_empty() {
                namespaces.insert(namespace);
            }
        }
    }
    Ok(found)
}

/// Every forwarded digest's state.
pub(super) async fn projects(tx: &Tx<'_>) -> Result<Vec<ProjectState>> {
    let context = "reading the forwarded projects";
    let rows = tx
        .query(
            context,
            "SELECT digest, name, version, sbom_sha256, tags, active, findings_asked \
             FROM dtrack_projects ORDER BY digest",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let text =
                |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
            let tags: BTreeMap<String, Option<i64>> = serde_json::from_str(&text(4)?)
                .map_err(|err| Error::Corrupt(format!("forwarded project: {err}")))?;
            Ok(ProjectState {
                digest: text(0)?,
                name: text(1)?,
                version: text(2)?,
                sbom_sha256: text(3)?,
                tags: tags
                    .into_iter()
                    .map(|(tag, since)| (tag, since.map(Timestamp::from_unix_millis)))
                    .collect(),
                active: row.try_get(5).map_err(Error::postgres(context))?,
                findings_asked: row
                    .try_get::<_, Option<i64>>(6)
                    .map_err(Error::postgres(context))?
                    .map(Timestamp::from_unix_millis),
            })
        })
        .collect()
}

/// Stores each plan's state and queues its actions.
pub(super) async fn plan(tx: &Tx<'_>, plans: &[Plan]) -> Result<()> {
    let context = "queueing Dependency-Track actions";
    let encode =
        |err: serde_json::Error| Error::Corrupt(format!("encoding forwarder state: {err}"));
    for plan in plans {
        let state = &plan.state;
        let tags: BTreeMap<&str, Option<i64>> = state
            .tags
            .iter()
            .map(|(tag, since)| (tag.as_str(), since.map(Timestamp::unix_millis)))
            .collect();
        let tags = serde_json::to_string(&tags).map_err(encode)?;
        tx.execute(
            context,
            "INSERT INTO dtrack_projects (digest, name, version, sbom_sha256, tags, active,
                                          findings_asked)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (digest) DO UPDATE SET
                 sbom_sha256 = excluded.sbom_sha256, tags = excluded.tags, active = excluded.active,
                 findings_asked = excluded.findings_asked",
            &[
                &state.digest,
                &state.name,
                &state.version,
                &state.sbom_sha256,
                &tags,
                &state.active,
                &state.findings_asked.map(Timestamp::unix_millis),
            ],
        )
        .await?;
        for action in &plan.actions {
            let action = serde_json::to_string(action).map_err(encode)?;
            tx.execute(
                context,
                "INSERT INTO dtrack_outbox (digest, action, attempts, next_at) VALUES ($1, $2, 0, $3)",
                &[&state.digest, &action, &plan.queued_at.unix_millis()],
            )
            .await?;
        }
    }
    Ok(())
}

/// Leases the head action of each project, when it is due and not leased, oldest first.
pub(super) async fn take(
    tx: &Tx<'_>,
    replica: &str,
    now: Timestamp,
    limit: usize,
    lease: Duration,
) -> Result<Vec<OutboxItem>> {
    let context = "taking due Dependency-Track actions";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            context,
            "WITH heads AS (
                 SELECT o.id FROM dtrack_outbox o
                 WHERE o.id = (SELECT min(id) FROM dtrack_outbox h WHERE h.digest = o.digest)
                   AND o.next_at <= $1 AND o.leased_until <= $1
                 ORDER BY o.id LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE dtrack_outbox o SET leased_until = $3, leased_by = $4
             FROM heads, dtrack_projects p
             WHERE o.id = heads.id AND p.digest = o.digest
             RETURNING o.id, o.digest, p.name, p.version, p.token, o.action, o.attempts",
            &[
                &now.unix_millis(),
                &limit,
                &now.saturating_add(lease).unix_millis(),
                &replica,
            ],
        )
        .await?;
    let mut items: Vec<OutboxItem> = rows
        .iter()
        .map(|row| {
            let text =
                |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
            let id: i64 = row.try_get(0).map_err(Error::postgres(context))?;
            let attempts: i32 = row.try_get(6).map_err(Error::postgres(context))?;
            Ok(OutboxItem {
                id,
                digest: text(1)?,
                name: text(2)?,
                version: text(3)?,
                token: row.try_get(4).map_err(Error::postgres(context))?,
                action: serde_json::from_str(&text(5)?)
                    .map_err(|err| Error::Corrupt(format!("queued action {id}: {err}")))?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            })
        })
        .collect::<Result<_>>()?;
    items.sort_by_key(|item| item.id);
    Ok(items)
}

/// Logs that `replica` lost its lease on action `id` (it took longer than the lease,
/// and another replica took the action over): what it did stays to that replica.
fn lease_lost(replica: &str, id: i64) {
    tracing::warn!(
        replica,
        action = id,
        "a Dependency-Track action outlived its lease (--dtrack-lease); another replica has it now"
    );
}

/// Removes a done action, if `replica` still holds its lease; an upload's processing
/// token is kept for the next upload.
pub(super) async fn done(tx: &Tx<'_>, replica: &str, id: i64, token: Option<&str>) -> Result<()> {
    let context = "completing a Dependency-Track action";
    let removed = tx
        .query_opt(
            context,
            "DELETE FROM dtrack_outbox WHERE id = $1 AND leased_by = $2 RETURNING digest",
            &[&id, &replica],
        )
        .await?;
    let Some(removed) = removed else {
        lease_lost(replica, id);
        return Ok(());
    };
    if let Some(token) = token {
        let digest: String = removed.try_get(0).map_err(Error::postgres(context))?;
        tx.execute(
            context,
            "UPDATE dtrack_projects SET token = $2 WHERE digest = $1",
            &[&digest, &token],
        )
        .await?;
    }
    Ok(())
}

/// Puts an action off until `next_at` and ends `replica`'s lease; with `error`, counts
/// a failed try.
pub(super) async fn retry(
    tx: &Tx<'_>,
    replica: &str,
    id: i64,
    next_at: Timestamp,
    error: Option<&str>,
) -> Result<()> {
    let error = error.map(without_nul);
    let updated = tx
        .execute(
            "postponing a Dependency-Track action",
            "UPDATE dtrack_outbox SET next_at = $2, leased_until = 0, leased_by = '',
                 attempts = attempts + CASE WHEN $3::text IS NULL THEN 0 ELSE 1 END,
                 last_error = coalesce($3, last_error)
             WHERE id = $1 AND leased_by = $4",
            &[&id, &next_at.unix_millis(), &error, &replica],
        )
        .await?;
    if updated == 0 {
        lease_lost(replica, id);
    }
    Ok(())
}

/// Removes an action DT refused for good, if `replica` still holds its lease, and
/// records why.
pub(super) async fn fail(tx: &Tx<'_>, replica: &str, id: i64, failure: &Failure) -> Result<()> {
    let context = "recording a refused Dependency-Track action";
    let removed = tx
        .execute(
            context,
            "DELETE FROM dtrack_outbox WHERE id = $1 AND leased_by = $2",
            &[&id, &replica],
        )
        .await?;
    if removed == 0 {
        lease_lost(replica, id);
        return Ok(());
    }
    tx.execute(
        context,
        "INSERT INTO dtrack_failures (at, digest, project, action, status, message)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &failure.at.unix_millis(),
            &failure.digest,
            &failure.project,
            &failure.action,
            &failure.status.map(i32::from),
            &without_nul(&failure.message),
        ],
    )
    .await?;
    Ok(())
}

/// The newest `limit` refused actions, newest first.
pub(super) async fn failures(tx: &Tx<'_>, limit: usize) -> Result<Vec<Failure>> {
    let context = "reading refused Dependency-Track actions";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            context,
            "SELECT at, digest, project, action, status, message FROM dtrack_failures
             ORDER BY id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let text =
                |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
            let status: Option<i32> = row.try_get(4).map_err(Error::postgres(context))?;
            Ok(Failure {
                at: Timestamp::from_unix_millis(row.try_get(0).map_err(Error::postgres(context))?),
                digest: text(1)?,
                project: text(2)?,
                action: text(3)?,
                status: status.and_then(|status| u16::try_from(status).ok()),
                message: text(5)?,
            })
        })
        .collect()
}

/// Actions still queued.
pub(super) async fn pending(tx: &Tx<'_>) -> Result<u64> {
    let context = "counting queued Dependency-Track actions";
    let count: i64 = tx
        .query_one(context, "SELECT count(*) FROM dtrack_outbox", &[])
        .await?
        .try_get(0)
        .map_err(Error::postgres(context))?;
    Ok(count.max(0) as u64)
}
