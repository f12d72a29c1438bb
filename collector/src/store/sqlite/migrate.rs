//! Schema migrations, numbered by SQLite's `user_version`.
//!
//! Hand-written because `rusqlite_migration` (like `r2d2_sqlite`) pins rusqlite 0.40,
//! while the workspace links SQLite once through rusqlite 0.41.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_dtrack.sql"),
    include_str!("migrations/0003_trust.sql"),
    include_str!("migrations/0004_findings.sql"),
    include_str!("migrations/0005_alerts.sql"),
    include_str!("migrations/0006_node_software.sql"),
];

/// Brings the database to the newest schema, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(Error::database("reading the schema version"))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::Config(format!(
            "the database has schema version {current}, newer than this collector's {known}; \
             run a newer collector"
        )));
    }
    for (version, sql) in (current..).zip(&MIGRATIONS[current as usize..]) {
        let next = version + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(Error::database("starting a migration"))?;
        tx.execute_batch(sql).map_err(Error::database(format!(
            "migrating the schema to version {next}"
        )))?;
        tx.pragma_update(None, "user_version", next)
            .map_err(Error::database("recording the schema version"))?;
        tx.commit()
            .map_err(Error::database(format!("committing schema version {next}")))?;
        tracing::info!(version = next, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_leaves_the_newest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn database_from_a_newer_collector_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn a_version_2_database_keeps_its_sboms_and_claims() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO nodes (id, cluster, name, agent_version, session, first_seen, last_seen)
                 VALUES (7, 'prod-a', 'a1', '0.1.0', 1, 0, 0);
             INSERT INTO sboms (digest, spec_version, size, sha256, component_count, stored_at,
                 cluster, node, document)
                 VALUES ('sha256:aa', '1.5', 3, 'sha256:bb', 1, 0, 'prod-a', 'a1', x'00');
             INSERT INTO sbom_claims (digest, node_id, expires_at, failed_reason)
                 VALUES ('sha256:cc', 7, 99, 'no space');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let sbom: (String, String, bool, String) = conn
            .query_row(
                "SELECT agent_version, content_hash, incomplete, incomplete_reasons FROM sboms",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(sbom, (String::new(), String::new(), false, "[]".into()));
        let claim: (String, String, i64, i64, Option<String>) = conn
            .query_row(
                "SELECT digest, cluster, node_id, expires_at, failed_reason FROM sbom_claims",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            claim,
            (
                "sha256:cc".into(),
                "prod-a".into(),
                7,
                99,
                Some("no space".into())
            )
        );
    }
}
