//! Open exposure alerts and queued webhook calls.

use std::time::Duration;

use super::events::NewEvent;
use super::Tx;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::{AlertChanges, Delivery, OpenAlert};

pub(super) async fn open(tx: &Tx<'_>) -> Result<Vec<OpenAlert>> {
    let context = "reading open alerts";
    let rows = tx
        .query(
            context,
            "SELECT alert_key, payload FROM exposure_alerts ORDER BY alert_key",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(OpenAlert {
                key: row.try_get(0).map_err(Error::postgres(context))?,
                payload: row.try_get(1).map_err(Error::postgres(context))?,
            })
        })
        .collect()
}

pub(super) async fn apply(tx: &mut Tx<'_>, changes: &AlertChanges, now: Timestamp) -> Result<()> {
    let context = "recording alerts";
    let keys: Vec<&str> = changes.opened.iter().map(|a| a.key.as_str()).collect();
    let payloads: Vec<&str> = changes.opened.iter().map(|a| a.payload.as_str()).collect();
    tx.execute(
        context,
        "INSERT INTO exposure_alerts (alert_key, payload, opened_at)
         SELECT key, payload, $3 FROM unnest($1::text[], $2::text[]) AS a (key, payload)
         ON CONFLICT (alert_key) DO UPDATE SET payload = excluded.payload",
        &[&keys, &payloads, &now.unix_millis()],
    )
    .await?;
    tx.execute(
        context,
        "DELETE FROM exposure_alerts WHERE alert_key = ANY($1)",
        &[&changes.resolved],
    )
    .await?;
    let targets: Vec<&str> = changes
        .deliveries
        .iter()
        .map(|d| d.target.as_str())
        .collect();
    let bodies: Vec<&str> = changes.deliveries.iter().map(|d| d.body.as_str()).collect();
    tx.execute(
        context,
        "INSERT INTO webhook_deliveries (target, body, next_at)
         SELECT target, body, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
              AS d (target, body, position)
         ORDER BY position",
        &[&targets, &bodies, &now.unix_millis()],
    )
    .await?;
    for (kind, digest, exposure) in &changes.events {
        tx.event(NewEvent {
            image: exposure.image.clone(),
            vulnerability: exposure.vulnerability.clone(),
            package: exposure.package.clone(),
            ..NewEvent::new(*kind, digest, "", "", now)
        });
    }
    Ok(())
}

pub(super) async fn take(
    tx: &Tx<'_>,
    replica: &str,
    now: Timestamp,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Delivery>> {
    let context = "taking due webhook calls";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            context,
            "WITH heads AS (
                 SELECT d.id FROM webhook_deliveries d
                 WHERE d.id = (SELECT min(id) FROM webhook_deliveries h WHERE h.target = d.target)
                   AND d.next_at <= $1 AND d.leased_until <= $1
                 ORDER BY d.id LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE webhook_deliveries d SET leased_until = $3, leased_by = $4
             FROM heads WHERE d.id = heads.id
             RETURNING d.id, d.target, d.body, d.attempts",
            &[
                &now.unix_millis(),
                &limit,
                &now.saturating_add(lease).unix_millis(),
                &replica,
            ],
        )
        .await?;
    let mut due: Vec<Delivery> = rows
        .iter()
        .map(|row| {
            let attempts: i32 = row.try_get(3).map_err(Error::postgres(context))?;
            Ok(Delivery {
                id: row.try_get(0).map_err(Error::postgres(context))?,
                target: row.try_get(1).map_err(Error::postgres(context))?,
                body: row.try_get(2).map_err(Error::postgres(context))?,
                attempts: u32::try_from(attempts).unwrap_or(0),
            })
        })
        .collect::<Result<_>>()?;
    due.sort_by_key(|delivery| delivery.id);
    Ok(due)
}

pub(super) async fn done(tx: &Tx<'_>, id: i64) -> Result<()> {
    tx.execute(
        "completing a webhook call",
        "DELETE FROM webhook_deliveries WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

pub(super) async fn retry(tx: &Tx<'_>, id: i64, next_at: Timestamp, error: &str) -> Result<()> {
    tx.execute(
        "postponing a webhook call",
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, next_at = $2, leased_until = 0, leased_by = NULL,
             last_error = $3
         WHERE id = $1",
        &[&id, &next_at.unix_millis(), &error],
    )
    .await?;
    Ok(())
}
