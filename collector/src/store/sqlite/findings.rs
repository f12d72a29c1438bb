//! Findings read back from Dependency-Track.

use rusqlite::{params, Connection, Row};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::exposure::finding::{search_id, Finding};
use crate::store::outbox::split_project_key;
use crate::store::StoredFinding;

/// Replaces the project's findings, keeping `first_seen` of those it had.
pub(super) fn put(
    conn: &Connection,
    project: &str,
    findings: &[Finding],
    now: Timestamp,
) -> Result<()> {
    let context = "storing findings";
    let (digest, _) = split_project_key(project);
    let now = now.unix_millis();
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO findings (project, digest, finding_key, ids, finding, first_seen, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (project, finding_key) DO UPDATE SET
                 ids = excluded.ids, finding = excluded.finding, fetched_at = excluded.fetched_at",
        )
        .map_err(Error::database(context))?;
    for finding in findings {
        let json = serde_json::to_string(finding)
            .map_err(|err| Error::Corrupt(format!("encoding a finding: {err}")))?;
        upsert
            .execute(params![
                project,
                digest,
                finding.key(),
                finding.search_ids(),
                json,
                now
            ])
            .map_err(Error::database(context))?;
    }
    conn.execute(
        "DELETE FROM findings WHERE project = ?1 AND fetched_at <> ?2",
        params![project, now],
    )
    .map_err(Error::database(context))?;
    Ok(())
}

/// The findings of every project of each digest.
pub(super) fn of_digests(conn: &Connection, digests: &[String]) -> Result<Vec<StoredFinding>> {
    let context = "reading findings";
    let mut select = conn
        .prepare_cached("SELECT project, finding, first_seen FROM findings WHERE digest = ?1")
        .map_err(Error::database(context))?;
    let mut found = Vec::new();
    for digest in digests {
        let rows = select
            .query_map([digest], raw)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(Error::database(context))?;
        for row in rows {
            found.push(decode(row)?);
        }
    }
    Ok(found)
}

/// The findings known as `id`.
pub(super) fn known_as(conn: &Connection, id: &str) -> Result<Vec<StoredFinding>> {
    let context = "finding a vulnerability";
    let mut select = conn
        .prepare_cached(
            "SELECT project, finding, first_seen FROM findings WHERE instr(ids, ?1) > 0
             ORDER BY project",
        )
        .map_err(Error::database(context))?;
    let rows = select
        .query_map([search_id(id)], raw)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::database(context))?;
    rows.into_iter().map(decode).collect()
}

type RawFinding = (String, String, i64);

fn raw(row: &Row<'_>) -> rusqlite::Result<RawFinding> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode((project, json, first_seen): RawFinding) -> Result<StoredFinding> {
    let finding = serde_json::from_str(&json)
        .map_err(|err| Error::Corrupt(format!("a stored finding of {project}: {err}")))?;
    Ok(StoredFinding {
        project,
        finding,
        first_seen: Timestamp::from_unix_millis(first_seen),
    })
}
