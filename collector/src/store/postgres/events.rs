//! The event log behind `Query.Watch`.

use super::super::{Event, EventKind, Pruned, StoredEvent};
use super::{lock_keys, Tx, EVENTS_CHANNEL};
use crate::clock::Timestamp;
use crate::error::{Error, Result};

const PRUNED_THROUGH: &str = "events_pruned_through";

/// An event to write at commit.
#[derive(Debug, Clone, Default)]
pub(super) struct NewEvent {
    pub at: i64,
    pub kind: i32,
    pub digest: String,
    pub cluster: String,
    pub node: String,
    pub namespace: String,
    pub pod: String,
    pub pod_uid: String,
    pub container: String,
    pub image: String,
    pub container_id: String,
    pub component_count: i64,
    pub vulnerability: String,
    pub package: String,
}

impl NewEvent {
    /// An event without workload fields.
    pub fn new(kind: EventKind, digest: &str, cluster: &str, node: &str, now: Timestamp) -> Self {
        Self {
            at: now.unix_millis(),
            kind: kind.code() as i32,
            digest: digest.to_owned(),
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            ..Self::default()
        }
    }
}

/// Inserts `events` under the events lock (held until the transaction ends) and
/// notifies the other replicas at commit. Returns the newest sequence number.
///
/// Every transaction that writes events waits for the lock, so what it does while
/// holding it is one prepared statement: taking the lock, inserting and notifying.
pub(super) async fn insert_all(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
) -> Result<Option<u64>> {
    if events.is_empty() {
        return Ok(None);
    }
    let context = "recording events";
    let column = |field: fn(&NewEvent) -> &str| -> Vec<&str> { events.iter().map(field).collect() };
    let at: Vec<i64> = events.iter().map(|e| e.at).collect();
    let kind: Vec<i32> = events.iter().map(|e| e.kind).collect();
    let count: Vec<i64> = events.iter().map(|e| e.component_count).collect();
    // The lock is taken before the first row is produced, so before the first
    // sequence number is drawn: sequence order stays commit order.
    let statement = tx
        .prepare_cached(
            "WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock($13)),
             inserted AS (
                 INSERT INTO events (at, kind, digest, cluster, node, namespace, pod, pod_uid,
                                     container, image, container_id, component_count,
                                     vulnerability, package)
                 SELECT e.* FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[],
                                        $5::text[], $6::text[], $7::text[], $8::text[],
                                        $9::text[], $10::text[], $11::text[], $12::bigint[],
                                        $15::text[], $16::text[])
                                 AS e (at, kind, digest, cluster, node, namespace, pod, pod_uid,
                                       container, image, container_id, component_count,
                                       vulnerability, package)
                      CROSS JOIN locked
                 RETURNING seq),
             newest AS (SELECT max(seq) AS seq FROM inserted)
             SELECT newest.seq FROM newest CROSS JOIN LATERAL pg_notify($14, newest.seq::text)",
        )
        .await
        .map_err(Error::postgres(context))?;
    let row = tx
        .query_one(
            &statement,
            &[
                &at,
                &kind,
                &column(|e| &e.digest),
                &column(|e| &e.cluster),
                &column(|e| &e.node),
                &column(|e| &e.namespace),
                &column(|e| &e.pod),
                &column(|e| &e.pod_uid),
                &column(|e| &e.container),
                &column(|e| &e.image),
                &column(|e| &e.container_id),
                &count,
                &lock_keys::EVENTS,
                &EVENTS_CHANNEL,
                &column(|e| &e.vulnerability),
                &column(|e| &e.package),
            ],
        )
        .await
        .map_err(Error::postgres(context))?;
    let newest: i64 = row.try_get(0).map_err(Error::postgres(context))?;
    Ok(Some(newest.max(0) as u64))
}

/// The newest committed sequence number (0 before the first event). Not the
/// sequence's `last_value`: that counts events of transactions still open.
pub(super) async fn last_sequence(client: &tokio_postgres::Client) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT greatest(
                 (SELECT max(seq) FROM events),
                 (SELECT value FROM meta WHERE key = $1),
                 0)",
            &[&PRUNED_THROUGH],
        )
        .await
        .map_err(Error::postgres("reading the newest event"))?;
    let newest: i64 = row
        .try_get(0)
        .map_err(Error::postgres("reading the newest event"))?;
    Ok(newest.max(0) as u64)
}

async fn pruned_through(tx: &Tx<'_>) -> Result<u64> {
    let row = tx
        .query_opt(
            "reading the event retention",
            "SELECT value FROM meta WHERE key = $1",
            &[&PRUNED_THROUGH],
        )
        .await?;
    let value: i64 = match row {
        Some(row) => row
            .try_get(0)
            .map_err(Error::postgres("reading the event retention"))?,
        None => 0,
    };
    Ok(value.max(0) as u64)
}

pub(super) async fn after(tx: &Tx<'_>, after: u64, limit: usize) -> Result<Vec<Event>> {
    let pruned = pruned_through(tx).await?;
    if after < pruned {
        return Err(Error::OutOfRange(format!(
            "events up to sequence {pruned} were pruned (history retention); cannot resume after {after}: \
             re-read the state with ListImages and watch from_now"
        )));
    }
    let context = "reading events";
    let rows = tx
        .query(
            context,
            "SELECT seq, at, kind, digest, cluster, node, namespace, pod, pod_uid, container, image,
                    container_id, component_count, vulnerability, package
             FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &(limit as i64)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            event_from_row(row)
                .map_err(Error::postgres(context))?
                .into_event()
        })
        .collect()
}

fn event_from_row(row: &tokio_postgres::Row) -> Result<StoredEvent, tokio_postgres::Error> {
    Ok(StoredEvent {
        sequence: row.try_get(0)?,
        at: row.try_get(1)?,
        kind: i64::from(row.try_get::<_, i32>(2)?),
        digest: row.try_get(3)?,
        cluster: row.try_get(4)?,
        node: row.try_get(5)?,
        namespace: row.try_get(6)?,
        pod: row.try_get(7)?,
        pod_uid: row.try_get(8)?,
        container: row.try_get(9)?,
        image: row.try_get(10)?,
        container_id: row.try_get(11)?,
        component_count: row.try_get(12)?,
        vulnerability: row.try_get(13)?,
        package: row.try_get(14)?,
    })
}

/// Deletes the events before `cutoff` (always a prefix of the sequence) and stopped
/// workloads that stopped before it.
pub(super) async fn prune(tx: &mut Tx<'_>, cutoff: Timestamp) -> Result<Pruned> {
    let context = "pruning history";
    let through: Option<i64> = tx
        .query_one(
            context,
            "SELECT max(seq) FROM events WHERE at < $1",
            &[&cutoff.unix_millis()],
        )
        .await?
        .try_get(0)
        .map_err(Error::postgres(context))?;
    let mut pruned = Pruned::default();
    if let Some(through) = through {
        pruned.events = tx
            .execute(context, "DELETE FROM events WHERE seq <= $1", &[&through])
            .await?;
        tx.execute(
            context,
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value, excluded.value)",
            &[&PRUNED_THROUGH, &through],
        )
        .await?;
    }
    pruned.workloads = tx
        .execute(
            context,
            "DELETE FROM workloads WHERE NOT running AND last_seen < $1",
            &[&cutoff.unix_millis()],
        )
        .await?;
    Ok(pruned)
}
