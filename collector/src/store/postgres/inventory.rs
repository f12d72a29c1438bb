//! Nodes, their images and workloads, and SBOM build claims.
//!
//! Every write to a node's state first updates (and so locks) the node's row and checks
//! its session: two replicas serving two sessions of one node take turns, and the older
//! session's writes fail.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio_postgres::Row;

use super::super::{ClaimPolicy, Claims, EventKind, Session};
use super::events::NewEvent;
use super::Tx;
use crate::clock::Timestamp;
use crate::dedup::{self, Candidate, Claim};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::{
    Agent, FullInventory, Image, InventoryDelta, Limits, NodeKey, Workload, WorkloadKey,
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
    agent: &Agent,
    now: Timestamp,
) -> Result<Session> {
    let context = "opening a node session";
    let row = tx
        .query_one(
            context,
            "INSERT INTO nodes (cluster, name, agent_version, node_pool, session, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, 1, $5, $5)
             ON CONFLICT (cluster, name) DO UPDATE SET
                 agent_version = excluded.agent_version,
                 node_pool = excluded.node_pool,
                 session = nodes.session + 1,
                 last_seen = excluded.last_seen
             RETURNING id, session",
            &[
                &node.cluster,
                &node.node,
                &agent.version,
                &agent.node_pool,
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

/// Puts `images` on the node (and in the fleet's images the first time any node reports
/// them), each with the JSON list of its names. A digest listed twice is recorded as the
/// one-at-a-time writes would leave it: the fleet keeps the first, the node the last.
/// Rows are written in digest order, so that two transactions that add the same new
/// images lock them in the same order.
async fn upsert_node_images(
    tx: &Tx<'_>,
    node_id: i64,
    images: &[(&Image, String)],
    now: Timestamp,
) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let context = "recording images on a node";
    let mut by_digest: BTreeMap<&str, (&Image, &(&Image, String))> = BTreeMap::new();
    for entry in images {
        by_digest
            .entry(entry.0.manifest_digest.as_str())
            .and_modify(|(_, last)| *last = entry)
            .or_insert((entry.0, entry));
    }
    let digests: Vec<&str> = by_digest.keys().copied().collect();
    // Most reports name images the fleet already has: look before encoding the layers.
    let known: HashSet<String> = tx
        .query(
            context,
            "SELECT digest FROM images WHERE digest = ANY($1)",
            &[&digests],
        )
        .await?
        .iter()
        .map(|row| get(row, 0, context))
        .collect::<Result<_>>()?;
    let mut new = ImageColumns::default();
    for (digest, (first, _)) in &by_digest {
        if !known.contains(*digest) {
            new.digests.push(digest);
            new.configs.push(first.config_digest.as_str());
            new.platforms.push(&first.platform);
            new.diff_ids.push(digest_list(&first.diff_ids)?);
            new.names.push(json_list(&first.names)?);
            new.nodes.push(first.node_json()?);
        }
    }
    if !new.digests.is_empty() {
        tx.execute(
            context,
            "INSERT INTO images (digest, config_digest, platform, diff_ids, names, first_seen, last_seen, node)
             SELECT digest, config_digest, platform, diff_ids, names, $6, $6, node
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::text[])
                  AS new (digest, config_digest, platform, diff_ids, names, node)
             ON CONFLICT (digest) DO NOTHING",
            &[
                &new.digests,
                &new.configs,
                &new.platforms,
                &new.diff_ids,
                &new.names,
                &now.unix_millis(),
                &new.nodes,
            ],
        )
        .await?;
    }
    let indexes: Vec<&str> = by_digest
        .values()
        .map(|(_, (last, _))| index_digest(last))
        .collect();
    let names: Vec<&str> = by_digest
        .values()
        .map(|(_, (_, names))| names.as_str())
        .collect();
    tx.execute(
        context,
        "INSERT INTO node_images (node_id, digest, index_digest, names, first_seen)
         SELECT $1, digest, index_digest, names, $5
         FROM unnest($2::text[], $3::text[], $4::text[]) AS new (digest, index_digest, names)
         ON CONFLICT (node_id, digest) DO UPDATE SET
             index_digest = excluded.index_digest, names = excluded.names
         WHERE node_images.index_digest <> excluded.index_digest
            OR node_images.names <> excluded.names",
        &[&node_id, &digests, &indexes, &names, &now.unix_millis()],
    )
    .await?;
    Ok(())
}

/// Columns of the fleet-wide image rows to insert.
#[derive(Default)]
struct ImageColumns<'a> {
    digests: Vec<&'a str>,
    configs: Vec<&'a str>,
    platforms: Vec<&'a str>,
    diff_ids: Vec<String>,
    names: Vec<String>,
    nodes: Vec<Option<String>>,
}

/// Takes the images off the node; each fleet-wide row keeps the names this node knew
/// and when it was last seen, and the node's claims on building their SBOMs are
/// released. Digests not on the node are ignored.
async fn remove_node_images(
    tx: &Tx<'_>,
    node_id: i64,
    digests: &[&str],
    now: Timestamp,
) -> Result<()> {
    if digests.is_empty() {
        return Ok(());
    }
    let context = "removing images from a node";
    let mut removed: Vec<(String, String)> = Vec::new();
    for row in tx
        .query(
            context,
            "DELETE FROM node_images WHERE node_id = $1 AND digest = ANY($2)
             RETURNING digest, names",
            &[&node_id, &digests],
        )
        .await?
    {
        removed.push((get(&row, 0, context)?, get(&row, 1, context)?));
    }
    if removed.is_empty() {
        return Ok(());
    }
    // In digest order, so that two replicas' removals lock the images in the same order.
    removed.sort();
    let (removed, names): (Vec<String>, Vec<String>) = removed.into_iter().unzip();
    tx.execute(
        context,
        "UPDATE images SET last_seen = greatest(images.last_seen, $3), names = gone.names
         FROM (SELECT * FROM unnest($1::text[], $2::text[]) AS gone (digest, names)
               ORDER BY digest) gone
         WHERE images.digest = gone.digest",
        &[&removed, &names, &now.unix_millis()],
    )
    .await?;
    tx.execute(
        context,
        "DELETE FROM sbom_claims
         WHERE node_id = $1 AND digest = ANY($2) AND failed_reason IS NULL",
        &[&node_id, &removed],
    )
    .await?;
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

/// An event about a stored workload.
fn row_event(session: &Session, kind: EventKind, row: &WorkloadRow, now: Timestamp) -> NewEvent {
    NewEvent {
        namespace: row.namespace.clone(),
        pod: row.pod.clone(),
        pod_uid: row.key.pod_uid.clone(),
        container: row.key.container.clone(),
        image: row.image.clone(),
        container_id: row.container_id.clone(),
        ..NewEvent::new(
            kind,
            &row.digest,
            &session.node.cluster,
            &session.node.node,
            now,
        )
    }
}

/// The start of a reported workload.
fn started_event(session: &Session, workload: &Workload, now: Timestamp) -> NewEvent {
    NewEvent {
        namespace: workload.namespace.clone(),
        pod: workload.pod.clone(),
        pod_uid: workload.key.pod_uid.clone(),
        container: workload.key.container.clone(),
        image: workload.image.clone(),
        container_id: workload.container_id.clone(),
        ..NewEvent::new(
            EventKind::WorkloadStarted,
            workload.manifest_digest.as_str(),
            &session.node.cluster,
            &session.node.node,
            now,
        )
    }
}

/// Workload rows to write for one change, in three statements at most; the events are
/// recorded as they are planned, in the order one write per workload would make them.
#[derive(Default)]
struct WorkloadWrites<'a> {
    inserted: Vec<&'a Workload>,
    /// Stored rows that now run `workload`; true when that is a new start (a stopped
    /// container running again, or another image), which resets `first_seen`.
    updated: Vec<(i64, &'a Workload, bool)>,
    stopped: Vec<i64>,
}

impl<'a> WorkloadWrites<'a> {
    /// Plans that `workload` runs, given what was stored for its key. A new container, a
    /// stopped one that runs again, or one that now runs another image is a start (and
    /// the image change also a stop of the old one); a restart with the same image is
    /// not.
    fn start(
        &mut self,
        tx: &mut Tx<'_>,
        session: &Session,
        stored: Option<&WorkloadRow>,
        workload: &'a Workload,
        now: Timestamp,
    ) {
        let digest = workload.manifest_digest.as_str();
        let Some(stored) = stored else {
            self.inserted.push(workload);
            tx.event(started_event(session, workload, now));
            return;
        };
        let restarted_elsewhere = !stored.running || stored.digest != digest;
        let unchanged = !restarted_elsewhere
            && stored.namespace == workload.namespace
            && stored.pod == workload.pod
            && stored.image == workload.image
            && stored.container_id == workload.container_id;
        if unchanged {
            return;
        }
        if stored.running && stored.digest != digest {
            tx.event(row_event(session, EventKind::WorkloadStopped, stored, now));
        }
        self.updated
            .push((stored.id, workload, restarted_elsewhere));
        if restarted_elsewhere {
            tx.event(started_event(session, workload, now));
        }
    }

    /// Plans that a running stored workload stopped.
    fn stop(&mut self, tx: &mut Tx<'_>, session: &Session, stored: &WorkloadRow, now: Timestamp) {
        self.stopped.push(stored.id);
        tx.event(row_event(session, EventKind::WorkloadStopped, stored, now));
    }

    /// Writes what was planned.
    async fn write(self, tx: &Tx<'_>, session: &Session, now: Timestamp) -> Result<()> {
        let context = "recording workloads";
        let now = now.unix_millis();
        if !self.inserted.is_empty() {
            let column = |field: fn(&Workload) -> &str| -> Vec<&str> {
                self.inserted.iter().map(|w| field(w)).collect()
            };
            tx.execute(
                context,
                "INSERT INTO workloads (node_id, pod_uid, container, namespace, pod, digest, image,
                                        container_id, running, first_seen, last_seen)
                 SELECT $1, pod_uid, container, namespace, pod, digest, image, container_id,
                        true, $9, $9
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::text[])
                      AS new (pod_uid, container, namespace, pod, digest, image, container_id)",
                &[
                    &session.node_id,
                    &column(|w| &w.key.pod_uid),
                    &column(|w| &w.key.container),
                    &column(|w| &w.namespace),
                    &column(|w| &w.pod),
                    &column(|w| w.manifest_digest.as_str()),
                    &column(|w| &w.image),
                    &column(|w| &w.container_id),
                    &now,
                ],
            )
            .await?;
        }
        if !self.updated.is_empty() {
            let ids: Vec<i64> = self.updated.iter().map(|(id, _, _)| *id).collect();
            let column = |field: fn(&Workload) -> &str| -> Vec<&str> {
                self.updated.iter().map(|(_, w, _)| field(w)).collect()
            };
            let restarted: Vec<bool> = self.updated.iter().map(|(_, _, new)| *new).collect();
            tx.execute(
                context,
                "UPDATE workloads SET namespace = run.namespace, pod = run.pod,
                     digest = run.digest, image = run.image, container_id = run.container_id,
                     running = true,
                     first_seen = CASE WHEN run.restarted THEN $8 ELSE workloads.first_seen END,
                     last_seen = $8
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::bool[])
                      AS run (id, namespace, pod, digest, image, container_id, restarted)
                 WHERE workloads.id = run.id",
                &[
                    &ids,
                    &column(|w| &w.namespace),
                    &column(|w| &w.pod),
                    &column(|w| w.manifest_digest.as_str()),
                    &column(|w| &w.image),
                    &column(|w| &w.container_id),
                    &restarted,
                    &now,
                ],
            )
            .await?;
        }
        if !self.stopped.is_empty() {
            tx.execute(
                context,
                "UPDATE workloads SET running = false, last_seen = $2 WHERE id = ANY($1)",
                &[&self.stopped, &now],
            )
            .await?;
        }
        Ok(())
    }
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
    let mut changed = Vec::new();
    for image in &full.images {
        let names = json_list(&image.names)?;
        let unchanged = stored_images
            .remove(image.manifest_digest.as_str())
            .is_some_and(|(stored_index, stored_names)| {
                stored_index == index_digest(image) && stored_names == names
            });
        if !unchanged {
            changed.push((image, names));
        }
    }
    upsert_node_images(tx, session.node_id, &changed, now).await?;
    let gone: Vec<&str> = stored_images.keys().map(String::as_str).collect();
    remove_node_images(tx, session.node_id, &gone, now).await?;

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
    let mut writes = WorkloadWrites::default();
    for workload in &full.workloads {
        let stored = stored_workloads.remove(&workload.key);
        writes.start(tx, session, stored.as_ref(), workload, now);
    }
    for stored in stored_workloads.values().filter(|row| row.running) {
        writes.stop(tx, session, stored, now);
    }
    writes.write(tx, session, now).await
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
    let added = delta
        .images_added
        .iter()
        .map(|image| Ok((image, json_list(&image.names)?)))
        .collect::<Result<Vec<_>>>()?;
    upsert_node_images(tx, session.node_id, &added, now).await?;
    let removed: Vec<&str> = delta.images_removed.iter().map(Digest::as_str).collect();
    remove_node_images(tx, session.node_id, &removed, now).await?;
    // One workload at a time: a delta may name a container twice, and each change
    // must see the one before it.
    for workload in &delta.workloads_started {
        let stored = load_workload(tx, session.node_id, &workload.key).await?;
        let mut writes = WorkloadWrites::default();
        writes.start(tx, session, stored.as_ref(), workload, now);
        writes.write(tx, session, now).await?;
    }
    for key in &delta.workloads_stopped {
        if let Some(stored) = load_workload(tx, session.node_id, key)
            .await?
            .filter(|row| row.running)
        {
            let mut writes = WorkloadWrites::default();
            writes.stop(tx, session, &stored, now);
            writes.write(tx, session, now).await?;
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
    if plan.take.is_empty() {
        return Ok(claims);
    }
    // In digest order, so that two replicas' claims lock the rows in the same order.
    let mut digests: Vec<&str> = plan.take.iter().map(String::as_str).collect();
    digests.sort_unstable();
    let taken: HashSet<String> = tx
        .query(
            context,
            "INSERT INTO sbom_claims (digest, cluster, node_id, expires_at, failed_reason)
             SELECT digest, $2, $3, $4, NULL FROM unnest($1::text[]) AS wanted (digest)
             ON CONFLICT (digest, cluster) DO UPDATE SET
                 node_id = excluded.node_id, expires_at = excluded.expires_at,
                 failed_reason = NULL
             WHERE sbom_claims.expires_at <= $5
             RETURNING digest",
            &[
                &digests,
                &session.node.cluster,
                &session.node_id,
                &lease_end,
                &now.unix_millis(),
            ],
        )
        .await?
        .iter()
        .map(|row| get(row, 0, context))
        .collect::<Result<_>>()?;
    // In the order the plan gives them.
    for digest in plan.take {
        if taken.contains(&digest) {
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
