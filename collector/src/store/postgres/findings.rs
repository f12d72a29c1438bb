//! Findings read back from Dependency-Track.

use tokio_postgres::Row;

use super::Tx;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::exposure::finding::{search_id, Finding};
use crate::store::outbox::split_project_key;
use crate::store::StoredFinding;

/// Replaces the project's findings, keeping `first_seen` of those it had.
pub(super) async fn put(
    tx: &Tx<'_>,
    project: &str,
    findings: &[Finding],
    now: Timestamp,
) -> Result<()> {
    let context = "storing findings";
    let (digest, _) = split_project_key(project);
    let mut keys = Vec::with_capacity(findings.len());
    let mut ids = Vec::with_capacity(findings.len());
    let mut json = Vec::with_capacity(findings.len());
    for finding in findings {
        keys.push(finding.key());
        ids.push(finding.search_ids());
        json.push(
            serde_json::to_string(finding)
                .map_err(|err| Error::Corrupt(format!("encoding a finding: {err}")))?,
        );
    }
    tx.execute(
        context,
        "INSERT INTO findings (project, digest, finding_key, ids, finding, first_seen, fetched_at)
         SELECT DISTINCT ON (key) $1, $2, key, ids, finding, $6, $6
         FROM unnest($3::text[], $4::text[], $5::text[]) AS f (key, ids, finding)
         ORDER BY key
         ON CONFLICT (project, finding_key) DO UPDATE SET
             ids = excluded.ids, finding = excluded.finding, fetched_at = excluded.fetched_at",
        &[&project, &digest, &keys, &ids, &json, &now.unix_millis()],
    )
    .await?;
    tx.execute(
        context,
        "DELETE FROM findings WHERE project = $1 AND fetched_at <> $2",
        &[&project, &now.unix_millis()],
    )
    .await?;
    Ok(())
}

/// The findings of every project of each digest.
pub(super) async fn of_digests(tx: &Tx<'_>, digests: &[String]) -> Result<Vec<StoredFinding>> {
    let rows = tx
        .query(
            "reading findings",
            "SELECT project, finding, first_seen FROM findings WHERE digest = ANY($1)",
            &[&digests],
        )
        .await?;
    rows.iter().map(decode).collect()
}

/// The findings known as `id`.
pub(super) async fn known_as(tx: &Tx<'_>, id: &str) -> Result<Vec<StoredFinding>> {
    let rows = tx
        .query(
            "finding a vulnerability",
            "SELECT project, finding, first_seen FROM findings WHERE strpos(ids, $1) > 0
             ORDER BY project",
            &[&search_id(id)],
        )
        .await?;
    rows.iter().map(decode).collect()
}

fn decode(row: &Row) -> Result<StoredFinding> {
    let context = "reading findings";
    let project: String = row.try_get(0).map_err(Error::postgres(context))?;
    let json: String = row.try_get(1).map_err(Error::postgres(context))?;
    let first_seen: i64 = row.try_get(2).map_err(Error::postgres(context))?;
    let finding = serde_json::from_str(&json)
        .map_err(|err| Error::Corrupt(format!("a stored finding of {project}: {err}")))?;
    Ok(StoredFinding {
        project,
        finding,
        first_seen: Timestamp::from_unix_millis(first_seen),
    })
}
