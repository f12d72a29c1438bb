//! The Dependency-Track forwarder's state and outbox.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::NodeSoftware;
use crate::store::outbox::{Failure, OutboxItem, Plan, ProjectState, Usage};

/// SBOMs that a running workload uses (or, with `every_image`, that a node has), with
/// their users: a cluster whose own build differs from the fleet copy uses its own copy,
/// under a project key of its own.
pub(super) fn usage(conn: &Connection, every_image: bool) -> Result<Vec<Usage>> {
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
             JOIN workloads w ON w.digest = s.digest AND w.running = 1 \
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
    let mut select = conn.prepare(&users).map_err(Error::database(context))?;
    let mut rows = select.query([]).map_err(Error::database(context))?;
    let mut found: Vec<Usage> = Vec::new();
    while let Some(row) = rows.next().map_err(Error::database(context))? {
        let digest: String = row.get(0).map_err(Error::database(context))?;
        let cluster: String = row.get(3).map_err(Error::database(context))?;
        let namespace: String = row.get(4).map_err(Error::database(context))?;
        if found.last().is_none_or(|last| last.digest != digest) {
            let names: String = row.get(2).map_err(Error::database(context))?;
            let node: Option<String> = row.get(5).map_err(Error::database(context))?;
            found.push(Usage {
                digest,
                sbom_sha256: row.get(1).map_err(Error::database(context))?,
                names: serde_json::from_str(&names)
                    .map_err(|err| Error::Corrupt(format!("image names: {err}")))?,
                clusters: BTreeMap::new(),
                node: NodeSoftware::from_json(node.as_deref())?,
                node_pools: BTreeSet::new(),
            });
        }
        if let Some(last) = found.last_mut() {
            let pool: String = row.get(6).map_err(Error::database(context))?;
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
pub(super) fn projects(conn: &Connection) -> Result<Vec<ProjectState>> {
    let context = "reading the forwarded projects";
    let mut select = conn
        .prepare(
            "SELECT digest, name, version, sbom_sha256, tags, active, findings_asked \
             FROM dtrack_projects ORDER BY digest",
        )
        .map_err(Error::database(context))?;
    let raw = select
        .query_map([], raw_project)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::database(context))?;
    raw.into_iter().map(RawProject::decode).collect()
}

struct RawProject {
    digest: String,
    name: String,
    version: String,
    sbom_sha256: String,
    tags: String,
    active: bool,
    findings_asked: Option<i64>,
}

fn raw_project(row: &Row<'_>) -> rusqlite::Result<RawProject> {
    Ok(RawProject {
        digest: row.get(0)?,
        name: row.get(1)?,
        version: row.get(2)?,
        sbom_sha256: row.get(3)?,
        tags: row.get(4)?,
        active: row.get(5)?,
        findings_asked: row.get(6)?,
    })
}

impl RawProject {
    fn decode(self) -> Result<ProjectState> {
        let corrupt = |err: serde_json::Error| Error::Corrupt(format!("forwarded project: {err}"));
        let tags: BTreeMap<String, Option<i64>> =
            serde_json::from_str(&self.tags).map_err(corrupt)?;
        Ok(ProjectState {
            digest: self.digest,
            name: self.name,
            version: self.version,
            sbom_sha256: self.sbom_sha256,
            tags: tags
                .into_iter()
                .map(|(tag, since)| (tag, since.map(Timestamp::from_unix_millis)))
                .collect(),
            active: self.active,
            findings_asked: self.findings_asked.map(Timestamp::from_unix_millis),
        })
    }
}

/// Stores each plan's state and queues its actions.
pub(super) fn plan(conn: &Connection, plans: &[Plan]) -> Result<()> {
    let context = "queueing Dependency-Track actions";
    for plan in plans {
        let state = &plan.state;
        let tags: BTreeMap<&str, Option<i64>> = state
            .tags
            .iter()
            .map(|(tag, since)| (tag.as_str(), since.map(Timestamp::unix_millis)))
            .collect();
        let tags = serde_json::to_string(&tags).map_err(encode_error)?;
        conn.prepare_cached(
            "INSERT INTO dtrack_projects \
             (digest, name, version, sbom_sha256, tags, active, findings_asked) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (digest) DO UPDATE SET \
                 sbom_sha256 = ?4, tags = ?5, active = ?6, findings_asked = ?7",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                state.digest,
                state.name,
                state.version,
                state.sbom_sha256,
                tags,
                state.active,
                state.findings_asked.map(Timestamp::unix_millis)
            ])
        })
        .map_err(Error::database(context))?;
        for action in &plan.actions {
            let action = serde_json::to_string(action).map_err(encode_error)?;
            conn.prepare_cached(
                "INSERT INTO dtrack_outbox (digest, action, attempts, next_at) \
                 VALUES (?1, ?2, 0, ?3)",
            )
            .and_then(|mut insert| {
                insert.execute(params![state.digest, action, plan.queued_at.unix_millis()])
            })
            .map_err(Error::database(context))?;
        }
    }
    Ok(())
}

fn encode_error(err: serde_json::Error) -> Error {
    Error::Corrupt(format!("encoding forwarder state: {err}"))
}

/// The oldest action of each project, when it is due, oldest first.
pub(super) fn due(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<OutboxItem>> {
    let context = "reading due Dependency-Track actions";
    let mut select = conn
        .prepare_cached(
            "SELECT o.id, o.digest, p.name, p.version, p.token, o.action, o.attempts \
             FROM dtrack_outbox o JOIN dtrack_projects p ON p.digest = o.digest \
             WHERE o.id = (SELECT min(id) FROM dtrack_outbox h WHERE h.digest = o.digest) \
             AND o.next_at <= ?1 ORDER BY o.id LIMIT ?2",
        )
        .map_err(Error::database(context))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = select
        .query_map(params![now.unix_millis(), limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::database(context))?;
    rows.into_iter()
        .map(|(id, digest, name, version, token, action, attempts)| {
            Ok(OutboxItem {
                id,
                digest,
                name,
                version,
                token,
                action: serde_json::from_str(&action)
                    .map_err(|err| Error::Corrupt(format!("queued action {id}: {err}")))?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// Removes a done action; an upload's processing token is kept for the next upload.
pub(super) fn done(conn: &Connection, id: i64, token: Option<&str>) -> Result<()> {
    let context = "completing a Dependency-Track action";
    if let Some(token) = token {
        conn.execute(
            "UPDATE dtrack_projects SET token = ?2 \
             WHERE digest = (SELECT digest FROM dtrack_outbox WHERE id = ?1)",
            params![id, token],
        )
        .map_err(Error::database(context))?;
    }
    conn.execute("DELETE FROM dtrack_outbox WHERE id = ?1", [id])
        .map_err(Error::database(context))?;
    Ok(())
}

/// Puts an action off until `next_at`; `failed` counts it as a failed try.
pub(super) fn retry(
    conn: &Connection,
    id: i64,
    next_at: Timestamp,
    error: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE dtrack_outbox SET next_at = ?2, \
         attempts = attempts + (?3 IS NOT NULL), last_error = coalesce(?3, last_error) \
         WHERE id = ?1",
        params![id, next_at.unix_millis(), error],
    )
    .map_err(Error::database("postponing a Dependency-Track action"))?;
    Ok(())
}

/// Removes an action DT refused for good and records why.
pub(super) fn fail(conn: &Connection, id: i64, failure: &Failure) -> Result<()> {
    let context = "recording a refused Dependency-Track action";
    conn.execute(
        "INSERT INTO dtrack_failures (at, digest, project, action, status, message) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            failure.at.unix_millis(),
            failure.digest,
            failure.project,
            failure.action,
            failure.status,
            failure.message
        ],
    )
    .map_err(Error::database(context))?;
    conn.execute("DELETE FROM dtrack_outbox WHERE id = ?1", [id])
        .map_err(Error::database(context))?;
    Ok(())
}

/// The newest `limit` refused actions, newest first.
pub(super) fn failures(conn: &Connection, limit: usize) -> Result<Vec<Failure>> {
    let context = "reading refused Dependency-Track actions";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "SELECT at, digest, project, action, status, message FROM dtrack_failures \
         ORDER BY id DESC LIMIT ?1",
    )
    .and_then(|mut select| {
        select
            .query_map([limit], |row| {
                Ok(Failure {
                    at: Timestamp::from_unix_millis(row.get(0)?),
                    digest: row.get(1)?,
                    project: row.get(2)?,
                    action: row.get(3)?,
                    status: row.get(4)?,
                    message: row.get(5)?,
                })
            })?
            .collect()
    })
    .map_err(Error::database(context))
}

/// Actions still queued.
pub(super) fn pending(conn: &Connection) -> Result<u64> {
    conn.query_row("SELECT count(*) FROM dtrack_outbox", [], |row| {
        row.get::<_, i64>(0)
    })
    .optional()
    .map(|count| count.unwrap_or(0).max(0) as u64)
    .map_err(Error::database("counting queued Dependency-Track actions"))
}
