//! Findings read back from Dependency-Track.

use std::collections::HashMap;
use std::sync::Arc;

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
        .prepare_cached(
            "SELECT project, finding_key, finding, first_seen FROM findings WHERE digest = ?1",
        )
        .map_err(Error::database(context))?;
    let mut decoded = Decoded::default();
    for digest in digests {
        let mut rows = select.query([digest]).map_err(Error::database(context))?;
        while let Some(row) = rows.next().map_err(Error::database(context))? {
            decoded.row(row)?;
        }
    }
    Ok(decoded.found)
}

/// The findings known as `id`.
pub(super) fn known_as(conn: &Connection, id: &str) -> Result<Vec<StoredFinding>> {
    let context = "finding a vulnerability";
    let mut select = conn
        .prepare_cached(
            "SELECT project, finding_key, finding, first_seen FROM findings
             WHERE instr(ids, ?1) > 0 ORDER BY project",
        )
        .map_err(Error::database(context))?;
    let mut decoded = Decoded::default();
    let mut rows = select
        .query([search_id(id)])
        .map_err(Error::database(context))?;
    while let Some(row) = rows.next().map_err(Error::database(context))? {
        decoded.row(row)?;
    }
    Ok(decoded.found)
}

/// Stored findings read so far, each distinct finding decoded once.
#[derive(Default)]
struct Decoded {
    found: Vec<StoredFinding>,
    by_key: HashMap<String, Arc<Finding>>,
    projects: HashMap<String, Arc<str>>,
}

impl Decoded {
    fn row(&mut self, row: &Row<'_>) -> Result<()> {
        let context = "reading findings";
        let project = row
            .get_ref(0)
            .and_then(|value| value.as_str().map_err(Into::into))
            .map_err(Error::database(context))?;
        let project = match self.projects.get(project) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(project);
                self.projects
                    .insert(project.to_owned(), Arc::clone(&shared));
                shared
            }
        };
        let key = row
            .get_ref(1)
            .and_then(|value| value.as_str().map_err(Into::into))
            .map_err(Error::database(context))?;
        let finding = match self.by_key.get(key) {
            Some(finding) => Arc::clone(finding),
            None => {
                let json = row
                    .get_ref(2)
                    .and_then(|value| value.as_str().map_err(Into::into))
                    .map_err(Error::database(context))?;
                let finding: Arc<Finding> =
                    Arc::new(serde_json::from_str(json).map_err(|err| {
                        Error::Corrupt(format!("a stored finding of {project}: {err}"))
                    })?);
                self.by_key.insert(key.to_owned(), Arc::clone(&finding));
                finding
            }
        };
        let first_seen: i64 = row.get(3).map_err(Error::database(context))?;
        self.found.push(StoredFinding {
            project,
            finding,
            first_seen: Timestamp::from_unix_millis(first_seen),
        });
        Ok(())
    }
}
