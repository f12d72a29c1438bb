//! The event log behind `Query.Watch`.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::super::{Event, EventKind, ExposureChange, Pruned, StoredEvent};
use crate::clock::Timestamp;
use crate::error::{Error, Result};

const PRUNED_THROUGH: &str = "events_pruned_through";

/// What an event is about, besides its kind and time.
pub(super) struct NewEvent<'a> {
    pub kind: EventKind,
    pub digest: &'a str,
    pub cluster: &'a str,
    pub node: &'a str,
    pub workload: Option<WorkloadFields<'a>>,
    pub component_count: u64,
    pub exposure: Option<&'a ExposureChange>,
}

/// The workload columns of an event.
pub(super) struct WorkloadFields<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub pod_uid: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    pub container_id: &'a str,
}

pub(super) fn insert(conn: &Connection, event: &NewEvent<'_>, now: Timestamp) -> Result<()> {
    let empty = WorkloadFields {
        namespace: "",
        pod: "",
        pod_uid: "",
        container: "",
        image: "",
        container_id: "",
    };
    let workload = event.workload.as_ref().unwrap_or(&empty);
    let image = event
        .exposure
        .map_or(workload.image, |exposure| exposure.image.as_str());
    conn.prepare_cached(
        "INSERT INTO events (at, kind, digest, cluster, node, namespace, pod, pod_uid, container,
                             image, container_id, component_count, vulnerability, package)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            now.unix_millis(),
            event.kind.code(),
            event.digest,
            event.cluster,
            event.node,
            workload.namespace,
            workload.pod,
            workload.pod_uid,
            workload.container,
            image,
            workload.container_id,
            event.component_count as i64,
            event.exposure.map_or("", |e| e.vulnerability.as_str()),
            event.exposure.map_or("", |e| e.package.as_str()),
        ])
    })
    .map_err(Error::database("recording an event"))?;
    Ok(())
}

/// The newest sequence number ever handed out (0 before the first event).
pub(super) fn last_sequence(conn: &Connection) -> Result<u64> {
    let sequence: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(Error::database("reading the newest event"))?;
    Ok(sequence.unwrap_or(0).max(0) as u64)
}

fn pruned_through(conn: &Connection) -> Result<u64> {
    let value: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [PRUNED_THROUGH],
            |row| row.get(0),
        )
        .optional()
        .map_err(Error::database("reading the event retention"))?;
    Ok(value.unwrap_or(0).max(0) as u64)
}

pub(super) fn after(conn: &Connection, after: u64, limit: usize) -> Result<Vec<Event>> {
    let pruned = pruned_through(conn)?;
    if after < pruned {
        return Err(Error::OutOfRange(format!(
            "events up to sequence {pruned} were pruned (history retention); cannot resume after {after}: \
             re-read the state with ListImages and watch from_now"
        )));
    }
    let mut select = conn
        .prepare_cached(
            "SELECT seq, at, kind, digest, cluster, node, namespace, pod, pod_uid, container, image,
                    container_id, component_count, vulnerability, package
             FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(Error::database("reading events"))?;
    let rows = select
        .query_map(params![after as i64, limit as i64], event_from_row)
        .map_err(Error::database("reading events"))?;
    let mut events = Vec::new();
    for row in rows {
        events.push(
            row.map_err(Error::database("reading events"))?
                .into_event()?,
        );
    }
    Ok(events)
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        sequence: row.get(0)?,
        at: row.get(1)?,
        kind: row.get(2)?,
        digest: row.get(3)?,
        cluster: row.get(4)?,
        node: row.get(5)?,
        namespace: row.get(6)?,
        pod: row.get(7)?,
        pod_uid: row.get(8)?,
        container: row.get(9)?,
        image: row.get(10)?,
        container_id: row.get(11)?,
        component_count: row.get(12)?,
        vulnerability: row.get(13)?,
        package: row.get(14)?,
    })
}

/// Deletes the events before `cutoff` (always a prefix of the sequence) and stopped
/// workloads that stopped before it.
pub(super) fn prune(conn: &Connection, cutoff: Timestamp) -> Result<Pruned> {
    let context = "pruning history";
    let through: Option<i64> = conn
        .query_row(
            "SELECT MAX(seq) FROM events WHERE at < ?1",
            [cutoff.unix_millis()],
            |row| row.get(0),
        )
        .map_err(Error::database(context))?;
    let mut pruned = Pruned::default();
    if let Some(through) = through {
        pruned.events = conn
            .execute("DELETE FROM events WHERE seq <= ?1", [through])
            .map_err(Error::database(context))? as u64;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
            params![PRUNED_THROUGH, through],
        )
        .map_err(Error::database(context))?;
    }
    pruned.workloads = conn
        .execute(
            "DELETE FROM workloads WHERE running = 0 AND last_seen < ?1",
            [cutoff.unix_millis()],
        )
        .map_err(Error::database(context))? as u64;
    Ok(pruned)
}
