//! Findings read back from Dependency-Track.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
            "SELECT project, finding_key, first_seen FROM findings WHERE digest = ANY($1)",
            &[&digests],
        )
        .await?;
    decode(tx, &rows).await
}

/// The findings known as `id`.
pub(super) async fn known_as(tx: &Tx<'_>, id: &str) -> Result<Vec<StoredFinding>> {
    let rows = tx
        .query(
            "finding a vulnerability",
            "SELECT project, finding_key, first_seen FROM findings WHERE strpos(ids, $1) > 0
             ORDER BY project",
            &[&search_id(id)],
        )
        .await?;
    decode(tx, &rows).await
}

/// The findings of `rows` (project, finding key, first seen), each distinct finding read
/// and decoded once: many images share a vulnerable package version.
async fn decode(tx: &Tx<'_>, rows: &[Row]) -> Result<Vec<StoredFinding>> {
    let context = "reading findings";
    let keys: HashSet<&str> = rows
        .iter()
        .map(|row| row.try_get(1).map_err(Error::postgres(context)))
        .collect::<Result<_>>()?;
    let keys: Vec<&str> = keys.into_iter().collect();
    let mut by_key: HashMap<String, Arc<Finding>> = HashMap::with_capacity(keys.len());
    for row in tx
        .query(
            context,
            "SELECT DISTINCT ON (finding_key) finding_key, finding FROM findings
             WHERE finding_key = ANY($1)",
            &[&keys],
        )
        .await?
    {
        let key: String = row.try_get(0).map_err(Error::postgres(context))?;
        let json: &str = row.try_get(1).map_err(Error::postgres(context))?;
        let finding: Finding = serde_json::from_str(json)
            .map_err(|err| Error::Corrupt(format!("a stored finding: {err}")))?;
        by_key.insert(key, Arc::new(finding));
    }
    let mut projects: HashMap<&str, Arc<str>> = HashMap::new();
    rows.iter()
        .map(|row| {
            let project: &str = row.try_get(0).map_err(Error::postgres(context))?;
            let project = Arc::clone(
                projects
                    .entry(project)
                    .or_insert_with(|| Arc::from(project)),
            );
            let key: &str = row.try_get(1).map_err(Error::postgres(context))?;
            let first_seen: i64 = row.try_get(2).map_err(Error::postgres(context))?;
            let finding = by_key
                .get(key)
                .cloned()
                .ok_or_else(|| Error::Corrupt(format!("finding {key} of {project} is gone")))?;
            Ok(StoredFinding {
                project,
                finding,
                first_seen: Timestamp::from_unix_millis(first_seen),
            })
        })
        .collect()
}
