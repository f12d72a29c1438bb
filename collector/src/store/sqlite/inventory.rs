//! Nodes, their images and workloads, and SBOM build claims.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::{ClaimPolicy, Claims, EventKind, Session};
use super::events::{self, NewEvent, WorkloadFields};
use crate::clock::Timestamp;
use crate::dedup::{self, Candidate, Claim};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::{
    Agent, FullInventory, Image, InventoryDelta, Limits, NodeKey, Workload, WorkloadKey,
};

pub(super) fn begin_session(
    conn: &Connection,
    node: &NodeKey,
    agent: &Agent,
    now: Timestamp,
) -> Result<Session> {
    let context = "opening a node session";
    let (node_id, generation): (i64, i64) = conn
        .query_row(
            "INSERT INTO nodes (cluster, name, agent_version, node_pool, session, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)
             ON CONFLICT (cluster, name) DO UPDATE SET
                 agent_version = excluded.agent_version,
                 node_pool = excluded.node_pool,
                 session = nodes.session + 1,
                 last_seen = excluded.last_seen
             RETURNING id, session",
            params![
                node.cluster,
                node.node,
                agent.version,
                agent.node_pool,
                now.unix_millis()
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(Error::database(context))?;
    // The agent restarted or reconnected: whatever it was building is forgotten.
    conn.execute(
        "DELETE FROM sbom_claims WHERE node_id = ?1 AND failed_reason IS NULL",
        [node_id],
    )
    .map_err(Error::database(context))?;
    Ok(Session {
        node: node.clone(),
        node_id,
        generation: generation.max(0) as u64,
    })
}

/// Fails with `Error::Superseded` unless `session` is the node's newest.
pub(super) fn check_session(conn: &Connection, session: &Session) -> Result<()> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT session FROM nodes WHERE id = ?1")
        .and_then(|mut select| {
            select
                .query_row([session.node_id], |row| row.get(0))
                .optional()
        })
        .map_err(Error::database("checking a node session"))?;
    match current {
        Some(generation) if generation.max(0) as u64 == session.generation => Ok(()),
        _ => Err(superseded(session)),
    }
}

fn superseded(session: &Session) -> Error {
    Error::Superseded {
        node: session.node.to_string(),
        session: session.generation,
    }
}

pub(super) fn touch(conn: &Connection, session: &Session, now: Timestamp) -> Result<()> {
    let updated = conn
        .prepare_cached("UPDATE nodes SET last_seen = ?3 WHERE id = ?1 AND session = ?2")
        .and_then(|mut update| {
            update.execute(params![
                session.node_id,
                session.generation as i64,
                now.unix_millis()
            ])
        })
        .map_err(Error::database("recording a node heartbeat"))?;
    if updated == 0 {
        return Err(superseded(session));
    }
    Ok(())
}

pub(super) fn end_session(conn: &Connection, session: &Session, now: Timestamp) -> Result<()> {
    match touch(conn, session, now) {
        Ok(()) => {
            conn.execute(
                "DELETE FROM sbom_claims WHERE node_id = ?1 AND failed_reason IS NULL",
                [session.node_id],
            )
            .map_err(Error::database("releasing build claims"))?;
            Ok(())
        }
        // A newer session owns the node now.
        Err(Error::Superseded { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

fn json_list(values: &[String]) -> Result<String> {
    serde_json::to_string(values).map_err(|err| Error::Corrupt(format!("encoding a list: {err}")))
}

fn digest_list(values: &[Digest]) -> Result<String> {
    let values: Vec<&str> = values.iter().map(Digest::as_str).collect();
    serde_json::to_string(&values).map_err(|err| Error::Corrupt(format!("encoding a list: {err}")))
}

/// Records the fleet-wide row of an image the first time any node reports it.
fn insert_image(conn: &Connection, image: &Image, names: &str, now: Timestamp) -> Result<()> {
    // Most reports name images the fleet already has: look before encoding the layers.
    let known = conn
        .prepare_cached("SELECT 1 FROM images WHERE digest = ?1")
        .and_then(|mut select| {
            select
                .query_row([image.manifest_digest.as_str()], |_| Ok(()))
                .optional()
        })
        .map_err(Error::database("recording an image"))?
        .is_some();
    if known {
        return Ok(());
    }
    let diff_ids = digest_list(&image.diff_ids)?;
    let node = image.node_json()?;
    conn.prepare_cached(
        "INSERT INTO images (digest, config_digest, platform, diff_ids, names, first_seen, last_seen, node)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
         ON CONFLICT (digest) DO NOTHING",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            image.manifest_digest.as_str(),
            image.config_digest.as_str(),
            image.platform,
            diff_ids,
            names,
            now.unix_millis(),
            node,
        ])
    })
    .map_err(Error::database("recording an image"))?;
    Ok(())
}

fn index_digest(image: &Image) -> &str {
    image.index_digest.as_ref().map_or("", Digest::as_str)
}

/// Puts `image` on the node: inserted, or its names and index updated. `names` is the
/// JSON list of its names.
fn upsert_node_image(
    conn: &Connection,
    node_id: i64,
    image: &Image,
    names: &str,
    now: Timestamp,
) -> Result<()> {
    insert_image(conn, image, names, now)?;
    conn.prepare_cached(
        "INSERT INTO node_images (node_id, digest, index_digest, names, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (node_id, digest) DO UPDATE SET
             index_digest = excluded.index_digest, names = excluded.names
         WHERE index_digest <> excluded.index_digest OR names <> excluded.names",
    )
    .and_then(|mut upsert| {
        upsert.execute(params![
            node_id,
            image.manifest_digest.as_str(),
            index_digest(image),
            names,
            now.unix_millis(),
        ])
    })
    .map_err(Error::database("recording an image on a node"))?;
    Ok(())
}

/// Takes the image off the node; the fleet-wide row keeps its names and when it was
/// last seen, and the node's claim on building its SBOM is released.
fn remove_node_image(conn: &Connection, node_id: i64, digest: &str, now: Timestamp) -> Result<()> {
    let context = "removing an image from a node";
    let names: Option<String> = conn
        .prepare_cached(
            "DELETE FROM node_images WHERE node_id = ?1 AND digest = ?2 RETURNING names",
        )
        .and_then(|mut delete| {
            delete
                .query_row(params![node_id, digest], |row| row.get(0))
                .optional()
        })
        .map_err(Error::database(context))?;
    if let Some(names) = names {
        conn.prepare_cached(
            "UPDATE images SET last_seen = MAX(last_seen, ?2), names = ?3 WHERE digest = ?1",
        )
        .and_then(|mut update| update.execute(params![digest, now.unix_millis(), names]))
        .map_err(Error::database(context))?;
        conn.prepare_cached(
            "DELETE FROM sbom_claims WHERE digest = ?1 AND node_id = ?2 AND failed_reason IS NULL",
        )
        .and_then(|mut delete| delete.execute(params![digest, node_id]))
        .map_err(Error::database(context))?;
    }
    Ok(())
}

/// A stored workload row.
struct WorkloadRow {
    id: i64,
    key: WorkloadKey,
    namespace: String,
    pod: String,
    digest: String,
    image: String,
    container_id: String,
    running: bool,
}

const WORKLOAD_COLUMNS: &str =
    "id, pod_uid, container, namespace, pod, digest, image, container_id, running";

fn workload_row(row: &Row<'_>) -> rusqlite::Result<WorkloadRow> {
    Ok(WorkloadRow {
        id: row.get(0)?,
        key: WorkloadKey {
            pod_uid: row.get(1)?,
            container: row.get(2)?,
        },
        namespace: row.get(3)?,
        pod: row.get(4)?,
        digest: row.get(5)?,
        image: row.get(6)?,
        container_id: row.get(7)?,
        running: row.get(8)?,
    })
}

fn load_workload(
    conn: &Connection,
    node_id: i64,
    key: &WorkloadKey,
) -> Result<Option<WorkloadRow>> {
    conn.prepare_cached(&format!(
        "SELECT {WORKLOAD_COLUMNS} FROM workloads WHERE node_id = ?1 AND pod_uid = ?2 AND container = ?3"
    ))
    .and_then(|mut select| {
        select
            .query_row(params![node_id, key.pod_uid, key.container], workload_row)
            .optional()
    })
    .map_err(Error::database("reading a workload"))
}

fn workload_event(
    conn: &Connection,
    session: &Session,
    kind: EventKind,
    digest: &str,
    fields: WorkloadFields<'_>,
    now: Timestamp,
) -> Result<()> {
    events::insert(
        conn,
        &NewEvent {
            kind,
            digest,
            cluster: &session.node.cluster,
            node: &session.node.node,
            workload: Some(fields),
            component_count: 0,
            exposure: None,
        },
        now,
    )
}

fn row_fields(row: &WorkloadRow) -> WorkloadFields<'_> {
    WorkloadFields {
        namespace: &row.namespace,
        pod: &row.pod,
        pod_uid: &row.key.pod_uid,
        container: &row.key.container,
        image: &row.image,
        container_id: &row.container_id,
    }
}

fn workload_fields(workload: &Workload) -> WorkloadFields<'_> {
    WorkloadFields {
        namespace: &workload.namespace,
        pod: &workload.pod,
        pod_uid: &workload.key.pod_uid,
        container: &workload.key.container,
        image: &workload.image,
        container_id: &workload.container_id,
    }
}

/// Records that `workload` runs, given what was stored for its key. A new container, a
/// stopped one that runs again, or one that now runs another image is a start (and the
/// image change also a stop of the old one); a restart with the same image is not.
fn start_workload(
    conn: &Connection,
    session: &Session,
    stored: Option<&WorkloadRow>,
    workload: &Workload,
    now: Timestamp,
) -> Result<()> {
    let context = "recording a workload";
    let digest = workload.manifest_digest.as_str();
    let Some(stored) = stored else {
        conn.prepare_cached(
            "INSERT INTO workloads (node_id, pod_uid, container, namespace, pod, digest, image,
                                    container_id, running, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                session.node_id,
                workload.key.pod_uid,
                workload.key.container,
                workload.namespace,
                workload.pod,
                digest,
                workload.image,
                workload.container_id,
                now.unix_millis(),
            ])
        })
        .map_err(Error::database(context))?;
        return workload_event(
            conn,
            session,
            EventKind::WorkloadStarted,
            digest,
            workload_fields(workload),
            now,
        );
    };
    let restarted_elsewhere = !stored.running || stored.digest != digest;
    let unchanged = !restarted_elsewhere
        && stored.namespace == workload.namespace
        && stored.pod == workload.pod
        && stored.image == workload.image
        && stored.container_id == workload.container_id;
    if unchanged {
        return Ok(());
    }
    if stored.running && stored.digest != digest {
        workload_event(
            conn,
            session,
            EventKind::WorkloadStopped,
            &stored.digest,
            row_fields(stored),
            now,
        )?;
    }
    conn.prepare_cached(
        "UPDATE workloads SET namespace = ?2, pod = ?3, digest = ?4, image = ?5, container_id = ?6,
             running = 1,
             first_seen = CASE WHEN ?7 THEN ?8 ELSE first_seen END,
             last_seen = ?8
         WHERE id = ?1",
    )
    .and_then(|mut update| {
        update.execute(params![
            stored.id,
            workload.namespace,
            workload.pod,
            digest,
            workload.image,
            workload.container_id,
            restarted_elsewhere,
            now.unix_millis(),
        ])
    })
    .map_err(Error::database(context))?;
    if restarted_elsewhere {
        workload_event(
            conn,
            session,
            EventKind::WorkloadStarted,
            digest,
            workload_fields(workload),
            now,
        )?;
    }
    Ok(())
}

fn stop_workload(
    conn: &Connection,
    session: &Session,
    stored: &WorkloadRow,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached("UPDATE workloads SET running = 0, last_seen = ?2 WHERE id = ?1")
        .and_then(|mut update| update.execute(params![stored.id, now.unix_millis()]))
        .map_err(Error::database("recording a stopped workload"))?;
    workload_event(
        conn,
        session,
        EventKind::WorkloadStopped,
        &stored.digest,
        row_fields(stored),
        now,
    )
}

/// Replaces the node's images and workloads with `full`, writing only the differences.
pub(super) fn replace(
    conn: &Connection,
    session: &Session,
    full: &FullInventory,
    limits: Limits,
    now: Timestamp,
) -> Result<()> {
    touch(conn, session, now)?;
    dedup::check_limits(full.images.len(), full.workloads.len(), limits)?;
    let context = "replacing a node's inventory";

    let mut stored_images: HashMap<String, (String, String)> = HashMap::new();
    {
        let mut select = conn
            .prepare_cached(
                "SELECT digest, index_digest, names FROM node_images WHERE node_id = ?1",
            )
            .map_err(Error::database(context))?;
        let rows = select
            .query_map([session.node_id], |row| {
                Ok((row.get(0)?, (row.get(1)?, row.get(2)?)))
            })
            .map_err(Error::database(context))?;
        for row in rows {
            let (digest, value) = row.map_err(Error::database(context))?;
            stored_images.insert(digest, value);
        }
    }
    for image in &full.images {
        let names = json_list(&image.names)?;
        let unchanged = stored_images
            .remove(image.manifest_digest.as_str())
            .is_some_and(|(stored_index, stored_names)| {
                stored_index == index_digest(image) && stored_names == names
            });
        if !unchanged {
            upsert_node_image(conn, session.node_id, image, &names, now)?;
        }
    }
    for digest in stored_images.keys() {
        remove_node_image(conn, session.node_id, digest, now)?;
    }

    let mut stored_workloads: HashMap<WorkloadKey, WorkloadRow> = HashMap::new();
    {
        let mut select = conn
            .prepare_cached(&format!(
                "SELECT {WORKLOAD_COLUMNS} FROM workloads WHERE node_id = ?1"
            ))
            .map_err(Error::database(context))?;
        let rows = select
            .query_map([session.node_id], workload_row)
            .map_err(Error::database(context))?;
        for row in rows {
            let row = row.map_err(Error::database(context))?;
            stored_workloads.insert(row.key.clone(), row);
        }
    }
    for workload in &full.workloads {
        let stored = stored_workloads.remove(&workload.key);
        start_workload(conn, session, stored.as_ref(), workload, now)?;
    }
    for stored in stored_workloads.values().filter(|row| row.running) {
        stop_workload(conn, session, stored, now)?;
    }
    Ok(())
}

pub(super) fn apply_delta(
    conn: &Connection,
    session: &Session,
    delta: &InventoryDelta,
    limits: Limits,
    now: Timestamp,
) -> Result<()> {
    dedup::check_delta(delta, limits)?;
    touch(conn, session, now)?;
    for image in &delta.images_added {
        upsert_node_image(conn, session.node_id, image, &json_list(&image.names)?, now)?;
    }
    for digest in &delta.images_removed {
        remove_node_image(conn, session.node_id, digest.as_str(), now)?;
    }
    for workload in &delta.workloads_started {
        let stored = load_workload(conn, session.node_id, &workload.key)?;
        start_workload(conn, session, stored.as_ref(), workload, now)?;
    }
    for key in &delta.workloads_stopped {
        if let Some(stored) = load_workload(conn, session.node_id, key)?.filter(|row| row.running) {
            stop_workload(conn, session, &stored, now)?;
        }
    }
    let (images, workloads): (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM node_images WHERE node_id = ?1),
                    (SELECT COUNT(*) FROM workloads WHERE node_id = ?1 AND +running = 1)",
        )
        .and_then(|mut count| {
            count.query_row([session.node_id], |row| Ok((row.get(0)?, row.get(1)?)))
        })
        .map_err(Error::database("counting a node's inventory"))?;
    dedup::check_limits(images.max(0) as usize, workloads.max(0) as usize, limits)
}

/// Gives the node up to `policy.max_per_node` builds of its images that its cluster has
/// not built (neither the fleet copy nor a check of it) and no node of its cluster is
/// building, images that a running container uses first.
pub(super) fn claim_builds(
    conn: &Connection,
    session: &Session,
    policy: ClaimPolicy,
    now: Timestamp,
) -> Result<Claims> {
    let context = "claiming SBOM builds";
    let active: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM sbom_claims
             WHERE node_id = ?1 AND failed_reason IS NULL AND expires_at > ?2",
        )
        .and_then(|mut count| {
            count.query_row(params![session.node_id, now.unix_millis()], |row| {
                row.get(0)
            })
        })
        .map_err(Error::database(context))?;
    let candidates: Vec<Candidate> = {
        let mut select = conn
            .prepare_cached(
                "SELECT ni.digest, c.node_id, c.expires_at, c.failed_reason IS NOT NULL
                 FROM node_images ni
                 LEFT JOIN sbom_claims c ON c.digest = ni.digest AND c.cluster = ?2
                 WHERE ni.node_id = ?1
                   AND NOT EXISTS (SELECT 1 FROM sboms s WHERE s.digest = ni.digest AND s.cluster = ?2)
                   AND NOT EXISTS (SELECT 1 FROM sbom_checks k WHERE k.digest = ni.digest AND k.cluster = ?2)",
            )
            .map_err(Error::database(context))?;
        let rows = select
            .query_map(params![session.node_id, session.node.cluster], |row| {
                let claimed_by: Option<i64> = row.get(1)?;
                Ok(Candidate {
                    digest: row.get(0)?,
                    claim: match claimed_by {
                        Some(node_id) => Some(Claim {
                            node_id,
                            expires_at: Timestamp::from_unix_millis(row.get(2)?),
                            failed: row.get(3)?,
                        }),
                        None => None,
                    },
                })
            })
            .map_err(Error::database(context))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(Error::database(context))?
    };
    if candidates.is_empty() {
        return Ok(Claims::default());
    }
    // Images that a running container of this node uses come first. Read from the
    // node's own workloads (a handful of rows), not per image across the fleet.
    let running: HashSet<String> = {
        let mut select = conn
            .prepare_cached("SELECT digest FROM workloads WHERE node_id = ?1 AND +running = 1")
            .map_err(Error::database(context))?;
        let rows = select
            .query_map([session.node_id], |row| row.get(0))
            .map_err(Error::database(context))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(Error::database(context))?
    };
    let plan = dedup::plan_claims(
        candidates,
        &running,
        session.node_id,
        active.max(0) as u64,
        policy,
        now,
    );
    let lease_end = now.saturating_add(policy.lease).unix_millis();
    let mut claims = Claims {
        wanted: Vec::with_capacity(plan.take.len()),
        pending: plan.pending,
    };
    for digest in plan.take {
        conn.prepare_cached(
            "INSERT INTO sbom_claims (digest, cluster, node_id, expires_at, failed_reason)
             VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (digest, cluster) DO UPDATE SET
                 node_id = excluded.node_id, expires_at = excluded.expires_at, failed_reason = NULL",
        )
        .and_then(|mut claim| {
            claim.execute(params![digest, session.node.cluster, session.node_id, lease_end])
        })
        .map_err(Error::database(context))?;
        claims.wanted.push(stored_digest(&digest)?);
    }
    Ok(claims)
}

/// A digest read back from the database.
pub(super) fn stored_digest(value: &str) -> Result<Digest> {
    crate::digest::parse("stored digest", value).map_err(|err| Error::Corrupt(err.to_string()))
}

pub(super) fn build_failed(
    conn: &Connection,
    session: &Session,
    digest: &Digest,
    reason: &str,
    retry_at: Timestamp,
) -> Result<()> {
    check_session(conn, session)?;
    conn.execute(
        "UPDATE sbom_claims SET failed_reason = ?3, expires_at = ?4 WHERE digest = ?1 AND node_id = ?2",
        params![digest.as_str(), session.node_id, reason, retry_at.unix_millis()],
    )
    .map_err(Error::database("recording a failed SBOM build"))?;
    Ok(())
}

/// Deletes up to `batch` nodes not seen since `cutoff`, with stop events for their running
/// workloads. Returns how many were deleted.
pub(super) fn expire_nodes(
    conn: &Connection,
    cutoff: Timestamp,
    now: Timestamp,
    batch: usize,
) -> Result<usize> {
    let context = "expiring nodes";
    let expired: Vec<(i64, String, String, i64)> = {
        let mut select = conn
            .prepare_cached(
                "SELECT id, cluster, name, last_seen FROM nodes WHERE last_seen < ?1 LIMIT ?2",
            )
            .map_err(Error::database(context))?;
        let rows = select
            .query_map(params![cutoff.unix_millis(), batch as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(Error::database(context))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(Error::database(context))?
    };
    for (node_id, cluster, name, last_seen) in &expired {
        let session = Session {
            node: NodeKey {
                cluster: cluster.clone(),
                node: name.clone(),
            },
            node_id: *node_id,
            generation: 0,
        };
        let running: Vec<WorkloadRow> = {
            let mut select = conn
                .prepare_cached(&format!(
                    "SELECT {WORKLOAD_COLUMNS} FROM workloads WHERE node_id = ?1 AND +running = 1"
                ))
                .map_err(Error::database(context))?;
            let rows = select
                .query_map([node_id], workload_row)
                .map_err(Error::database(context))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(Error::database(context))?
        };
        for stored in &running {
            workload_event(
                conn,
                &session,
                EventKind::WorkloadStopped,
                &stored.digest,
                row_fields(stored),
                now,
            )?;
        }
        conn.execute(
            "UPDATE images SET last_seen = MAX(images.last_seen, ?2), names = ni.names
             FROM node_images ni WHERE ni.digest = images.digest AND ni.node_id = ?1",
            params![node_id, last_seen],
        )
        .map_err(Error::database(context))?;
        conn.execute("DELETE FROM nodes WHERE id = ?1", [node_id])
            .map_err(Error::database(context))?;
        tracing::info!(node = %session.node, running = running.len(), "node expired");
    }
    Ok(expired.len())
}
