//! Open exposure alerts and queued webhook calls.

use std::time::Duration;

use rusqlite::{params, Connection};

use super::events::{self, NewEvent};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{AlertChanges, Delivery, OpenAlert};

pub(super) fn open(conn: &Connection) -> Result<Vec<OpenAlert>> {
    let context = "reading open alerts";
    let mut select = conn
        .prepare_cached("SELECT alert_key, payload FROM exposure_alerts ORDER BY alert_key")
        .map_err(Error::database(context))?;
    let rows = select
        .query_map([], |row| {
            Ok(OpenAlert {
                key: row.get(0)?,
                payload: row.get(1)?,
            })
        })
        .map_err(Error::database(context))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(Error::database(context))
}

pub(super) fn apply(conn: &Connection, changes: &AlertChanges, now: Timestamp) -> Result<()> {
    let context = "recording alerts";
    for alert in &changes.opened {
        conn.prepare_cached(
            "INSERT INTO exposure_alerts (alert_key, payload, opened_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (alert_key) DO UPDATE SET payload = excluded.payload",
        )
        .and_then(|mut insert| insert.execute(params![alert.key, alert.payload, now.unix_millis()]))
        .map_err(Error::database(context))?;
    }
    for key in &changes.resolved {
        conn.prepare_cached("DELETE FROM exposure_alerts WHERE alert_key = ?1")
            .and_then(|mut delete| delete.execute([key]))
            .map_err(Error::database(context))?;
    }
    for delivery in &changes.deliveries {
        conn.prepare_cached(
            "INSERT INTO webhook_deliveries (target, body, next_at) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut insert| {
            insert.execute(params![delivery.target, delivery.body, now.unix_millis()])
        })
        .map_err(Error::database(context))?;
    }
    for (kind, digest, exposure) in &changes.events {
        let event = NewEvent {
            kind: *kind,
            digest,
            cluster: "",
            node: "",
            workload: None,
            component_count: 0,
            exposure: Some(exposure),
        };
        events::insert(conn, &event, now)?;
    }
    Ok(())
}

pub(super) fn take(
    conn: &Connection,
    now: Timestamp,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Delivery>> {
    let context = "taking due webhook calls";
    let mut select = conn
        .prepare_cached(
            "SELECT d.id, d.target, d.body, d.attempts FROM webhook_deliveries d
             WHERE d.id = (SELECT min(id) FROM webhook_deliveries h WHERE h.target = d.target)
               AND d.next_at <= ?1 AND d.leased_until <= ?1
             ORDER BY d.id LIMIT ?2",
        )
        .map_err(Error::database(context))?;
    let due = select
        .query_map(params![now.unix_millis(), limit as i64], |row| {
            Ok(Delivery {
                id: row.get(0)?,
                target: row.get(1)?,
                body: row.get(2)?,
                attempts: row.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::database(context))?;
    for delivery in &due {
        conn.prepare_cached("UPDATE webhook_deliveries SET leased_until = ?2 WHERE id = ?1")
            .and_then(|mut lease_it| {
                lease_it.execute(params![
                    delivery.id,
                    now.saturating_add(lease).unix_millis()
                ])
            })
            .map_err(Error::database(context))?;
    }
    Ok(due)
}

pub(super) fn done(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM webhook_deliveries WHERE id = ?1", [id])
        .map_err(Error::database("completing a webhook call"))?;
    Ok(())
}

pub(super) fn retry(conn: &Connection, id: i64, next_at: Timestamp, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, next_at = ?2, leased_until = 0, last_error = ?3
         WHERE id = ?1",
        params![id, next_at.unix_millis(), error],
    )
    .map_err(Error::database("postponing a webhook call"))?;
    Ok(())
}
