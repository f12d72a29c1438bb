//! Schema migrations, numbered in `nodebom_schema`, run by whichever replica holds the
//! migration lock; the others wait for it and find nothing left to do.

use deadpool_postgres::Object;

use super::lock_keys;
use crate::error::{Error, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_findings.sql"),
    include_str!("migrations/0003_alerts.sql"),
    include_str!("migrations/0004_node_software.sql"),
];

/// Brings the database to the newest schema, one transaction per migration.
pub(super) async fn migrate(client: &mut Object) -> Result<()> {
    let context = "migrating the schema";
    client
        .execute("SELECT pg_advisory_lock($1)", &[&lock_keys::MIGRATE])
        .await
        .map_err(Error::postgres("waiting for the schema migration lock"))?;
    let migrated = apply(client).await;
    // Released also when the connection closes; an error here changes nothing.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&lock_keys::MIGRATE])
        .await;
    migrated.map_err(|err| match err {
        Error::Postgres { source, .. } if source.code().is_some() => Error::Postgres {
            context: context.into(),
            source,
        },
        other => other,
    })
}

async fn apply(client: &mut Object) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS nodebom_schema (
                 version    INTEGER NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(Error::postgres("creating the schema version table"))?;
    let current: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM nodebom_schema", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(Error::postgres("reading the schema version"))?;
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(Error::Config(format!(
            "the database has schema version {current}, newer than this collector's {known}; \
             run a newer collector"
        )));
    }
    for (version, sql) in (current..).zip(&MIGRATIONS[current.max(0) as usize..]) {
        let next = version + 1;
        let tx = client
            .transaction()
            .await
            .map_err(Error::postgres("starting a migration"))?;
        tx.batch_execute(sql)
            .await
            .map_err(Error::postgres(format!(
                "migrating the schema to version {next}"
            )))?;
        tx.execute("INSERT INTO nodebom_schema (version) VALUES ($1)", &[&next])
            .await
            .map_err(Error::postgres("recording the schema version"))?;
        tx.commit()
            .await
            .map_err(Error::postgres(format!("committing schema version {next}")))?;
        tracing::info!(version = next, "database schema migrated");
    }
    Ok(())
}
