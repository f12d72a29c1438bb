//! Totals for the collector's metrics.

use super::Tx;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::StoreStats;

/// Every total in one statement (one snapshot). `count(*)` of whole tables walks them;
/// the collector's tables are small next to what PostgreSQL counts quickly, and the
/// totals are read at most every few seconds (see the metrics' refresh).
const TOTALS: &str = "SELECT
    (SELECT count(*) FROM nodes),
    (SELECT count(*) FROM images),
    (SELECT count(*) FROM workloads WHERE running),
    (SELECT count(*) FROM sboms),
    (SELECT coalesce(sum(size), 0)::bigint FROM sboms),
    (SELECT count(*) FROM sbom_checks WHERE document IS NOT NULL),
    (SELECT coalesce(sum(size), 0)::bigint FROM sbom_checks WHERE document IS NOT NULL),
    (SELECT count(*) FROM sbom_claims WHERE failed_reason IS NULL AND expires_at > $1),
    (SELECT count(*) FROM sbom_claims WHERE expires_at <= $1),
    (SELECT count(*) FROM sbom_claims WHERE failed_reason IS NOT NULL AND expires_at > $1),
    (SELECT count(*) FROM dtrack_outbox),
    (SELECT count(*) FROM dtrack_failures),
    (SELECT count(*) FROM dtrack_outbox
         WHERE next_at <= $1 AND id IN (SELECT min(id) FROM dtrack_outbox GROUP BY digest)),
    (SELECT min(CASE WHEN next_at > 0 THEN next_at END) FROM dtrack_outbox
         WHERE next_at <= $1 AND id IN (SELECT min(id) FROM dtrack_outbox GROUP BY digest))";

pub(super) async fn read(tx: &Tx<'_>, now: Timestamp) -> Result<StoreStats> {
    let context = "reading store statistics";
    let row = tx.query_one(context, TOTALS, &[&now.unix_millis()]).await?;
    let count = |column: usize| -> Result<u64> {
        let value: i64 = row.try_get(column).map_err(Error::postgres(context))?;
        Ok(value.max(0) as u64)
    };
    let oldest: Option<i64> = row.try_get(13).map_err(Error::postgres(context))?;
    Ok(StoreStats {
        nodes: count(0)?,
        images: count(1)?,
        workloads_running: count(2)?,
        sboms: count(3)?,
        sbom_bytes: count(4)?,
        own_copies: count(5)?,
        own_copy_bytes: count(6)?,
        claims_building: count(7)?,
        claims_expired: count(8)?,
        claims_failed: count(9)?,
        dtrack_queued: count(10)?,
        dtrack_failures: count(11)?,
        dtrack_due: count(12)?,
        dtrack_oldest_due_since: oldest.map(Timestamp::from_unix_millis),
    })
}
