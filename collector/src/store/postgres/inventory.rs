//! Nodes, their images and workloads, and SBOM build claims.
//!
//! Every write to a node's state first updates (and so locks) the node's row and checks
//! its session: two replicas serving two sessions of one node take turns, and the older
//! session's writes fail.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::super::{ClaimPolicy, Claims, EventKind, Session};
use super::events::NewEvent;
use super::Tx;
use crate::clock::Timestamp;
use crate::dedup::{self, Candidate, Claim};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::{
    FullInventory, Image, InventoryDelta, Limits, NodeKey, Workload, WorkloadKey,
};

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
    context: &str,
) -> Result<T> {
    row.try_get(index).map_err(Error::postgres(context))
}

pub(super) async fn begin_session(
    tx: &mut Tx<'_>,
    node: &NodeKey,
    agent_version: &str,
    now: Timestamp,
) -> Result<Session> {
    let context = "opening a node session";
    let row = tx
        .query_one(
            context,
            "INSERT INTO nodes (cluster, name, agent_version, session, first_seen, last_seen)
             VALUES ($1, $2, $3, 1, $4, $4)
             ON CONFLICT (cluster, name) DO UPDATE SET
                 agent_version = excluded.agent_version,
                 session = nodes.session + 1,
                 last_seen = excluded.last_seen
             RETURNING id, session",
            &[
                &node.cluster,
                &node.node,
                &agent_version,
                &now.unix_millis(),
            ],
        )
        .await?;
    let node_id: i64 = get(&row, 0, context)?;
    let generation: i64 = get(&row, 1, context)?;
    // The agent restarted or reconnected: whatever it was building is forgotten.
    tx.execute(
        context,
        "DELETE FROM sbom_claims WHERE node_id = $1 AND failed_reason IS NULL",
        &[&node_id],
    )
    .await?;
    Ok(Session {
        node: node.clone(),
        node_id,
        generation: generation.max(0) as u64,
    })
}

fn superseded(session: &Session) -> Error {
    Error::Superseded {
        node: session.node.to_string(),
        session: session.generation,
    }
}

/// Locks the node's row; fails with `Error::Superseded` unless `session` is its newest.
pub(super) async fn lock_session(tx: &Tx<'_>, session: &Session) -> Result<()> {
    let context = "checking a node session";
    let row = tx
        .query_opt(
            context,
            "SELECT session FROM nodes WHERE id = $1 FOR NO KEY UPDATE",
            &[&session.node_id],
        )
        .await?;
    match row {
        Some(row) if get::<i64>(&row, 0, context)?.max(0) as u64 == session.generation => Ok(()),
        _ => Err(superseded(session)),
    }
}

/// Marks the node seen (locking its row); `Error::Superseded` unless `session` is its
/// newest.
async fn touch(tx: &Tx<'_>, session: &Session, now: Timestamp) -> Result<()> {
    let updated = tx
        .execute(
            "recording a node heartbeat",
            "UPDATE nodes SET last_seen = $3 WHERE id = $1 AND session = $2",
            &[
                &session.node_id,
                &(session.generation as i64),
                &now.unix_millis(),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(superseded(session));
    }
    Ok(())
}

pub(super) async fn touch_all(tx: &Tx<'_>, sessions: &[Session], now: Timestamp) -> Result<()> {
    let ids: Vec<i64> = sessions.iter().map(|s| s.node_id).collect();
    let generations: Vec<i64> = sessions.iter().map(|s| s.generation as i64).collect();
    // In id order, so that two replicas' heartbeats lock rows in the same order.
    tx.execute(
        "recording node heartbeats",
        "UPDATE nodes SET last_seen = $3
         FROM (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS s (id, session) ORDER BY id) s
         WHERE nodes.id = s.id AND nodes.session = s.session",
        &[&ids, &generations, &now.unix_millis()],
    )
    .await?;
    Ok(())
}

pub(super) async fn end_session(tx: &Tx<'_>, session: &Session, now: Timestamp) -> Result<()> {
    match touch(tx, session, now).await {
        Ok(()) => {
            tx.execute(
                "releasing build claims",
                "DELETE FROM sbom_claims WHERE node_id = $1 AND failed_reason IS NULL",
                &[&session.node_id],
            )
            .await?;
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

fn index_digest(image: &Image) -> &str {
    image.index_digest.as_ref().map_or("", Digest::as_str)
}

/// Puts `image` on the node (and in the fleet's images the first time any node reports
/// it); `names` is the JSON list of its names.
async fn upsert_node_image(
    tx: &Tx<'_>,
    node_id: i64,
    image: &Image,
    names: &str,
    now: Timestamp,
) -> Result<()> {
    let context = "recording an image on a node";
    // Most reports name images the fleet already has: look before encoding the layers.
    let known = tx
        .query_opt(
            context,
            "SELECT 1 FROM images WHERE digest = $1",
            &[&image.manifest_digest.as_str()],
        )
        .await?
        .is_some();
    if !known {
        tx.execute(
            context,
            "INSERT INTO images (digest, config_digest, platform, diff_ids, names, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (digest) DO NOTHING",
            &[
                &image.manifest_digest.as_str(),
                &image.config_digest.as_str(),
                &image.platform,
                &digest_list(&image.diff_ids)?,
                &names,
                &now.unix_millis(),
            ],
        )
        .await?;
    }
    tx.execute(
        context,
        "INSERT INTO node_images (node_id, digest, index_digest, names, first_seen)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (node_id, digest) DO UPDATE SET
             index_digest = excluded.index_digest, names = excluded.names
         WHERE node_images.index_digest <> excluded.index_digest
            OR node_images.names <> excluded.names",
        &[
            &node_id,
            &image.manifest_digest.as_str(),
            &index_digest(image),
            &names,
            &now.unix_millis(),
        ],
    )
    .await?;
    Ok(())
}

/// Takes the image off the node; the fleet-wide row keeps its names and when it was
/// last seen, and the node's claim on building its SBOM is released.
async fn remove_node_image(tx: &Tx<'_>, node_id: i64, digest: &str, now: Timestamp) -> Result<()> {
    let context = "removing an image from a node";
    let removed = tx
        .query_opt(
            context,
            "DELETE FROM node_images WHERE node_id = $1 AND digest = $2 RETURNING names",
            &[&node_id, &digest],
        )
        .await?;
    if let Some(row) = removed {
        let names: String = get(&row, 0, context)?;
        tx.execute(
            context,
            "UPDATE images SET last_seen = greatest(last_seen, $2), names = $3 WHERE digest = $1",
            &[&digest, &now.unix_millis(), &names],
        )
        .await?;
        tx.execute(
            context,
            "DELETE FROM sbom_claims WHERE digest = $1 AND node_id = $2 AND failed_reason IS NULL",
            &[&digest, &node_id],
        )
        .await?;
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

fn workload_row(row: &Row) -> Result<WorkloadRow> {
    let context = "reading a workload";
    Ok(WorkloadRow {
        id: get(row, 0, context)?,
        key: WorkloadKey {
            pod_uid: get(row, 1, context)?,
            container: get(row, 2, context)?,
        },
        namespace: get(row, 3, context)?,
        pod: get(row, 4, context)?,
        digest: get(row, 5, context)?,
        image: get(row, 6, context)?,
        container_id: get(row, 7, context)?,
        running: get(row, 8, context)?,
    })
}

async fn load_workload(
    tx: &Tx<'_>,
    node_id: i64,
    key: &WorkloadKey,
) -> Result<Option<WorkloadRow>> {
    tx.query_opt(
        "reading a workload",
        &format!(
            "SELECT {WORKLOAD_COLUMNS} FROM workloads
             WHERE node_id = $1 AND pod_uid = $2 AND container = $3"
        ),
        &[&node_id, &key.pod_uid, &key.container],
    )
    .await?
    .map(|row| workload_row(&row))
    .transpose()
}

/// Where a workload event happened, besides the node.
struct Placement<'a> {
    digest: &'a str,
    namespace: &'a str,
    pod: &'a str,
    key: &'a WorkloadKey,
    image: &'a str,
    container_id: &'a str,
}

fn workload_event(
    session: &Session,
    kind: EventKind,
    placement: Placement<'_>,
    now: Timestamp,
) -> NewEvent {
    NewEvent {
        namespace: placement.namespace.to_owned(),
        pod: placement.pod.to_owned(),
        pod_uid: placement.key.pod_uid.clone(),
        container: placement.key.container.clone(),
        image: placement.image.to_owned(),
        container_id: placement.container_id.to_owned(),
        ..NewEvent::new(
            kind,
            placement.digest,
            &session.node.cluster,
            &session.node.node,
            now,
        )
    }
}

fn row_event(session: &Session, kind: EventKind, row: &WorkloadRow, now: Timestamp) -> NewEvent {
    let placement = Placement {
        digest: &row.digest,
        namespace: &row.namespace,
        pod: &row.pod,
        key: &row.key,
        image: &row.image,
        container_id: &row.container_id,
    };
    workload_event(session, kind, placement, now)
}

fn started_event(session: &Session, workload: &Workload, now: Timestamp) -> NewEvent {
    let placement = Placement {
        digest: workload.manifest_digest.as_str(),
        namespace: &workload.namespace,
        pod: &workload.pod,
        key: &workload.key,
        image: &workload.image,
        container_id: &workload.container_id,
    };
    workload_event(session, EventKind::WorkloadStarted, placement, now)
}

/// Records that `workload` runs, given what was stored for its key. A new container, a
/// stopped one that runs again, or one that now runs another image is a start (and the
/// image change also a stop of the old one); a restart with the same image is not.
async fn start_workload(
    tx: &mut Tx<'_>,
    session: &Session,
    stored: Option<&WorkloadRow>,
    workload: &Workload,
    now: Timestamp,
) -> Result<()> {
    let context = "recording a workload";
    let digest = workload.manifest_digest.as_str();
    let Some(stored) = stored else {
        tx.execute(
            context,
            "INSERT INTO workloads (node_id, pod_uid, container, namespace, pod, digest, image,
                                    container_id, running, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, $9)",
            &[
                &session.node_id,
                &workload.key.pod_uid,
                &workload.key.container,
                &workload.namespace,
                &workload.pod,
                &digest,
                &workload.image,
                &workload.container_id,
                &now.unix_millis(),
            ],
        )
        .await?;
        tx.event(started_event(session, workload, now));
        return Ok(());
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
        tx.event(row_event(session, EventKind::WorkloadStopped, stored, now));
    }
    tx.execute(
        context,
        "UPDATE workloads SET namespace = $2, pod = $3, digest = $4, image = $5, container_id = $6,
             running = true,
             first_seen = CASE WHEN $7 THEN $8 ELSE first_seen END,
             last_seen = $8
         WHERE id = $1",
        &[
            &stored.id,
            &workload.namespace,
            &workload.pod,
            &digest,
            &workload.image,
            &workload.container_id,
            &restarted_elsewhere,
            &now.unix_millis(),
        ],
    )
    .await?;
    if restarted_elsewhere {
        tx.event(started_event(session, workload, now));
    }
    Ok(())
}

async fn stop_workload(
    tx: &mut Tx<'_>,
    session: &Session,
    stored: &WorkloadRow,
    now: Timestamp,
) -> Result<()> {
    tx.execute(
        "recording a stopped workload",
        "UPDATE workloads SET running = false, last_seen = $2 WHERE id = $1",
        &[&stored.id, &now.unix_millis()],
    )
    .await?;
    tx.event(row_event(session, EventKind::WorkloadStopped, stored, now));
    Ok(())
}

/// `images` in digest order: two nodes reporting the same new images lock their rows in
/// one order, instead of deadlocking.
fn by_digest(images: &[Image]) -> Vec<&Image> {
    let mut sorted: Vec<&Image> = images.iter().collect();
    sorted.sort_by_key(|image| image.manifest_digest.as_str());
    sorted
}

/// Replaces the node's images and workloads with `full`, writing only the differences.
pub(super) async fn replace(
    tx: &mut Tx<'_>,
    session: &Session,
    full: &FullInventory,
    limits: Limits,
    now: Timestamp,
) -> Result<()> {
    touch(tx, session, now).await?;
    dedup::check_limits(full.images.len(), full.workloads.len(), limits)?;
    let context = "replacing a node's inventory";

    let mut stored_images: HashMap<String, (String, String)> = HashMap::new();
    for row in tx
        .query(
            context,
            "SELECT digest, index_digest, names FROM node_images WHERE node_id = $1",
            &[&session.node_id],
        )
        .await?
    {
        stored_images.insert(
            get(&row, 0, context)?,
            (get(&row, 1, context)?, get(&row, 2, context)?),
        );
    }
    for image in by_digest(&full.images) {
        let names = json_list(&image.names)?;
        let unchanged = stored_images
            .remove(image.manifest_digest.as_str())
            .is_some_and(|(stored_index, stored_names)| {
                stored_index == index_digest(image) && stored_names == names
            });
        if !unchanged {
            upsert_node_image(tx, session.node_id, image, &names, now).await?;
        }
    }
    let mut gone: Vec<&String> = stored_images.keys().collect();
    gone.sort();
    for digest in gone {
        remove_node_image(tx, session.node_id, digest, now).await?;
    }

    let mut stored_workloads: HashMap<WorkloadKey, WorkloadRow> = HashMap::new();
    for row in tx
        .query(
            context,
            &format!("SELECT {WORKLOAD_COLUMNS} FROM workloads WHERE node_id = $1"),
            &[&session.node_id],
        )
        .await?
    {
        let row = workload_row(&row)?;
        stored_workloads.insert(row.key.clone(), row);
    }
    for workload in &full.workloads {
        let stored = stored_workloads.remove(&workload.key);
        start_workload(tx, session, stored.as_ref(), workload, now).await?;
    }
    for stored in stored_workloads.values().filter(|row| row.running) {
        stop_workload(tx, session, stored, now).await?;
    }
    Ok(())
}

pub(super) async fn apply_delta(
    tx: &mut Tx<'_>,
    session: &Session,
    delta: &InventoryDelta,
    limits: Limits,
    now: Timestamp,
) -> Result<()> {
    dedup::check_delta(delta, limits)?;
    touch(tx, session, now).await?;
    for image in by_digest(&delta.images_added) {
        upsert_node_image(tx, session.node_id, image, &json_list(&image.names)?, now).await?;
    }
    let mut removed: Vec<&Digest> = delta.images_removed.iter().collect();
    removed.sort_by_key(|digest| digest.as_str());
    for digest in removed {
        remove_node_image(tx, session.node_id, digest.as_str(), now).await?;
    }
    for workload in &delta.workloads_started {
        let stored = load_workload(tx, session.node_id, &workload.key).await?;
        start_workload(tx, session, stored.as_ref(), workload, now).await?;
    }
    for key in &delta.workloads_stopped {
        if let Some(stored) = load_workload(tx, session.node_id, key)
            .await?
            .filter(|row| row.running)
        {
            stop_workload(tx, session, &stored, now).await?;
        }
    }
    let context = "counting a node's inventory";
    let row = tx
        .query_one(
            context,
            "SELECT (SELECT count(*) FROM node_images WHERE node_id = $1),
                    (SELECT count(*) FROM workloads WHERE node_id = $1 AND running)",
            &[&session.node_id],
        )
        .await?;
    let images: i64 = get(&row, 0, context)?;
    let workloads: i64 = get(&row, 1, context)?;
    dedup::check_limits(images.max(0) as usize, workloads.max(0) as usize, limits)
}

/// Claims builds for the node as [`dedup::plan_claims`] decides. A claim is taken only
/// where no live claim exists at the moment of writing: when another replica claimed the
/// same image for another node in between, this node does not get it.
pub(super) async fn claim_builds(
    tx: &mut Tx<'_>,
    session: &Session,
    policy: ClaimPolicy,
    now: Timestamp,
) -> Result<Claims> {
    let context = "claiming SBOM builds";
    let active: i64 = get(
        &tx.query_one(
            context,
            "SELECT count(*) FROM sbom_claims
             WHERE node_id = $1 AND failed_reason IS NULL AND expires_at > $2",
            &[&session.node_id, &now.unix_millis()],
        )
        .await?,
        0,
        context,
    )?;
    let mut candidates = Vec::new();
    for row in tx
        .query(
            context,
            "SELECT ni.digest, c.node_id, c.expires_at, c.failed_reason IS NOT NULL
             FROM node_images ni
             LEFT JOIN sbom_claims c ON c.digest = ni.digest AND c.cluster = $2
             WHERE ni.node_id = $1
               AND NOT EXISTS (SELECT 1 FROM sboms s WHERE s.digest = ni.digest AND s.cluster = $2)
               AND NOT EXISTS (SELECT 1 FROM sbom_checks k WHERE k.digest = ni.digest AND k.cluster = $2)",
            &[&session.node_id, &session.node.cluster],
        )
        .await?
    {
        let claimed_by: Option<i64> = get(&row, 1, context)?;
        candidates.push(Candidate {
            digest: get(&row, 0, context)?,
            claim: match claimed_by {
                Some(node_id) => Some(Claim {
                    node_id,
                    expires_at: Timestamp::from_unix_millis(get(&row, 2, context)?),
                    failed: get(&row, 3, context)?,
                }),
                None => None,
            },
        });
    }
    if candidates.is_empty() {
        return Ok(Claims::default());
    }
    let mut running = HashSet::new();
    for row in tx
        .query(
            context,
            "SELECT digest FROM workloads WHERE node_id = $1 AND running",
            &[&session.node_id],
        )
        .await?
    {
        running.insert(get::<String>(&row, 0, context)?);
    }
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
        let taken = tx
            .query_opt(
                context,
                "INSERT INTO sbom_claims (digest, cluster, node_id, expires_at, failed_reason)
                 VALUES ($1, $2, $3, $4, NULL)
                 ON CONFLICT (digest, cluster) DO UPDATE SET
                     node_id = excluded.node_id, expires_at = excluded.expires_at,
                     failed_reason = NULL
                 WHERE sbom_claims.expires_at <= $5
                 RETURNING 1",
                &[
                    &digest,
                    &session.node.cluster,
                    &session.node_id,
                    &lease_end,
                    &now.unix_millis(),
                ],
            )
            .await?;
        if taken.is_some() {
            claims.wanted.push(stored_digest(&digest)?);
        } else {
            claims.pending = true;
        }
    }
    Ok(claims)
}

/// A digest read back from the database.
pub(super) fn stored_digest(value: &str) -> Result<Digest> {
    crate::digest::parse("stored digest", value).map_err(|err| Error::Corrupt(err.to_string()))
}

pub(super) async fn build_failed(
    tx: &mut Tx<'_>,
    session: &Session,
    digest: &Digest,
    reason: &str,
    retry_at: Timestamp,
) -> Result<()> {
    lock_session(tx, session).await?;
    tx.execute(
        "recording a failed SBOM build",
        "UPDATE sbom_claims SET failed_reason = $3, expires_at = $4
         WHERE digest = $1 AND node_id = $2",
        &[
            &digest.as_str(),
            &session.node_id,
            &reason,
            &retry_at.unix_millis(),
        ],
    )
    .await?;
    Ok(())
}

/// Deletes up to `batch` nodes not seen since `cutoff`, with stop events for their running
/// workloads. Returns how many were deleted. Nodes another transaction holds (a session
/// that just came back) are skipped.
pub(super) async fn expire_nodes(
    tx: &mut Tx<'_>,
    cutoff: Timestamp,
    now: Timestamp,
    batch: usize,
) -> Result<usize> {
    let context = "expiring nodes";
    let expired = tx
        .query(
            context,
            "SELECT id, cluster, name, last_seen FROM nodes WHERE last_seen < $1
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&cutoff.unix_millis(), &(batch as i64)],
        )
        .await?;
    for row in &expired {
        let node_id: i64 = get(row, 0, context)?;
        let last_seen: i64 = get(row, 3, context)?;
        let session = Session {
            node: NodeKey {
                cluster: get(row, 1, context)?,
                node: get(row, 2, context)?,
            },
            node_id,
            generation: 0,
        };
        let running = tx
            .query(
                context,
                &format!("SELECT {WORKLOAD_COLUMNS} FROM workloads WHERE node_id = $1 AND running"),
                &[&node_id],
            )
            .await?;
        for stored in &running {
            let stored = workload_row(stored)?;
            tx.event(row_event(
                &session,
                EventKind::WorkloadStopped,
                &stored,
                now,
            ));
        }
        tx.execute(
            context,
            "UPDATE images SET last_seen = greatest(images.last_seen, $2), names = ni.names
             FROM node_images ni WHERE ni.digest = images.digest AND ni.node_id = $1",
            &[&node_id, &last_seen],
        )
        .await?;
        tx.execute(context, "DELETE FROM nodes WHERE id = $1", &[&node_id])
            .await?;
        tracing::info!(node = %session.node, running = running.len(), "node expired");
    }
    Ok(expired.len())
}
