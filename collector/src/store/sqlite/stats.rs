//! Totals for the collector's metrics.

use rusqlite::Connection;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::StoreStats;

/// The totals but the outbox's due actions. Counts of whole tables scan their smallest
/// index where they have one; the sums read the SBOM rows' sizes, not their documents
/// (SQLite reads a row up to the last column asked for, and `document` comes after
/// `size`). On a database of 2,000 nodes, 10,000 images, 5,000 SBOMs and 20,000 queued
/// actions this statement and [`DUE`] take about 25 ms together, pages cached.
const TOTALS: &str = "SELECT
    (SELECT count(*) FROM nodes),
    (SELECT count(*) FROM images),
    (SELECT count(*) FROM workloads WHERE running = 1),
    (SELECT count(*) FROM sboms),
    (SELECT coalesce(sum(size), 0) FROM sboms),
    (SELECT count(*) FROM sbom_checks WHERE document IS NOT NULL),
    (SELECT coalesce(sum(size), 0) FROM sbom_checks WHERE document IS NOT NULL),
    (SELECT count(*) FROM sbom_claims WHERE failed_reason IS NULL AND expires_at > ?1),
    (SELECT count(*) FROM sbom_claims WHERE expires_at <= ?1),
    (SELECT count(*) FROM sbom_claims WHERE failed_reason IS NOT NULL AND expires_at > ?1),
    (SELECT count(*) FROM dtrack_outbox),
    (SELECT count(*) FROM dtrack_failures)";

/// The due actions as `dtrack::due` takes them (the head of each project's queue, once
/// its time has come), and the earliest time one that was tried before became due.
/// The heads come from one walk of the (digest, id) index.
const DUE: &str = "SELECT count(*), min(CASE WHEN next_at > 0 THEN next_at END)
    FROM dtrack_outbox
    WHERE next_at <= ?1 AND id IN (SELECT min(id) FROM dtrack_outbox GROUP BY digest)";

/// The store's totals as of `now`; `conn` is in a read transaction, so both statements
/// see the same snapshot.
pub(super) fn read(conn: &Connection, now: Timestamp) -> Result<StoreStats> {
    let context = "reading store statistics";
    let count = |row: &rusqlite::Row<'_>, column: usize| -> rusqlite::Result<u64> {
        Ok(row.get::<_, i64>(column)?.max(0) as u64)
    };
    let mut stats = conn
        .prepare_cached(TOTALS)
        .and_then(|mut select| {
            select.query_row([now.unix_millis()], |row| {
                Ok(StoreStats {
                    nodes: count(row, 0)?,
                    images: count(row, 1)?,
                    workloads_running: count(row, 2)?,
                    sboms: count(row, 3)?,
                    sbom_bytes: count(row, 4)?,
                    own_copies: count(row, 5)?,
                    own_copy_bytes: count(row, 6)?,
                    claims_building: count(row, 7)?,
                    claims_expired: count(row, 8)?,
                    claims_failed: count(row, 9)?,
                    dtrack_queued: count(row, 10)?,
                    dtrack_failures: count(row, 11)?,
                    ..StoreStats::default()
                })
            })
        })
        .map_err(Error::database(context))?;
    (stats.dtrack_due, stats.dtrack_oldest_due_since) = conn
        .prepare_cached(DUE)
        .and_then(|mut select| {
            select.query_row([now.unix_millis()], |row| {
                Ok((
                    count(row, 0)?,
                    row.get::<_, Option<i64>>(1)?
                        .map(Timestamp::from_unix_millis),
                ))
            })
        })
        .map_err(Error::database(context))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::clock::Timestamp;
    use crate::digest::Digest;
    use crate::inventory::{Agent, FullInventory, Image, Limits, NodeKey, Workload, WorkloadKey};
    use crate::sbom::cyclonedx::Completeness;
    use crate::sbom::ValidatedSbom;
    use crate::store::outbox::{Action, Failure, Plan, ProjectState};
    use crate::store::prelude::*;
    use crate::store::{ClaimPolicy, Session, SqliteStore, StoreStats};

    const START: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    fn digest(seed: char) -> Digest {
        crate::digest::parse("d", &format!("sha256:{}", seed.to_string().repeat(64))).unwrap()
    }

    fn image(seed: char) -> Image {
        Image {
            manifest_digest: digest(seed),
            index_digest: None,
            config_digest: digest('d'),
            names: vec![format!("registry.example/{seed}:1")],
            platform: "linux/amd64".into(),
            diff_ids: vec![digest('e')],
            node: None,
        }
    }

    fn workload(pod: &str, seed: char) -> Workload {
        Workload {
            key: WorkloadKey {
                pod_uid: format!("uid-{pod}"),
                container: "main".into(),
            },
            namespace: "shop".into(),
            pod: pod.into(),
            manifest_digest: digest(seed),
            image: String::new(),
            container_id: String::new(),
        }
    }

    fn sbom(seed: char, size: u64, content: char) -> ValidatedSbom {
        ValidatedSbom {
            manifest_digest: digest(seed),
            agent_version: "0.2.0".into(),
            spec_version: "1.5".into(),
            size,
            sha256: digest(content),
            document_zstd: vec![0; 8],
            components: Vec::new(),
            content_hash: digest(content),
            completeness: Completeness::default(),
        }
    }

    fn project(key: &str, name: &str) -> ProjectState {
        ProjectState {
            digest: key.into(),
            name: name.into(),
            version: "1".into(),
            sbom_sha256: String::new(),
            tags: Default::default(),
            active: true,
            findings_asked: None,
        }
    }

    fn update() -> Action {
        Action::Update {
            add: vec!["cluster:prod-a".into()],
            remove: Vec::new(),
            active: true,
        }
    }

    async fn report(store: &SqliteStore, node: &NodeKey, inventory: FullInventory) -> Session {
        let session = store
            .begin_session(
                node,
                &Agent {
                    version: "0.2.0".into(),
                    node_pool: String::new(),
                },
                START,
            )
            .await
            .unwrap();
        store
            .replace_inventory(
                &session,
                inventory,
                Limits::default(),
                ClaimPolicy::default(),
                START,
            )
            .await
            .unwrap();
        session
    }

    #[tokio::test]
    async fn totals_follow_inventory_sboms_claims_and_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("nodebom.db"))
            .await
            .unwrap();
        let a1 = NodeKey::new("prod-a", "a1").unwrap();
        let b1 = NodeKey::new("prod-b", "b1").unwrap();
        // prod-a has images a, b and c and runs a and b; prod-b has a and runs it. Each cluster is
        // asked to build what it has: 4 claims.
        let session = report(
            &store,
            &a1,
            FullInventory {
                images: vec![image('a'), image('b'), image('c')],
                workloads: vec![workload("web", 'a'), workload("db", 'b')],
            },
        )
        .await;
        report(
            &store,
            &b1,
            FullInventory {
                images: vec![image('a')],
                workloads: vec![workload("api", 'a')],
            },
        )
        .await;
        assert_eq!(
            store.stats(START).await.unwrap().claims_building,
            4,
            "claims before any build"
        );
        // c fails on a1; a is stored by prod-a, then prod-b builds other contents.
        let backoff_over = START.saturating_add(Duration::from_secs(3600));
        store
            .build_failed(&session, &digest('c'), "disk full", backoff_over)
            .await
            .unwrap();
        store
            .put_sbom(&a1, sbom('a', 1000, '1'), START)
            .await
            .unwrap();
        store
            .put_sbom(&b1, sbom('a', 400, '2'), START)
            .await
            .unwrap();

        // Two projects: the first with two actions queued, the second put off by 10 s.
        store
            .dtrack_plan(vec![
                Plan {
                    state: project("sha256:p1", "one"),
                    actions: vec![update(), update()],
                    queued_at: START,
                },
                Plan {
                    state: project("sha256:p2", "two"),
                    actions: vec![update()],
                    queued_at: START,
                },
            ])
            .await
            .unwrap();
        let due = store
            .dtrack_take(START, 10, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(due.len(), 2);
        let second = due.iter().find(|item| item.digest == "sha256:p2").unwrap();
        let put_off = START.saturating_add(Duration::from_secs(10));
        store
            .dtrack_retry(second.id, put_off, Some("503".into()))
            .await
            .unwrap();

        let now = store.stats(START).await.unwrap();
        assert_eq!(
            now,
            StoreStats {
                nodes: 2,
                images: 3,
                workloads_running: 3,
                sboms: 1,
                sbom_bytes: 1000,
                own_copies: 1,
                own_copy_bytes: 400,
                // b on a1; a's claims ended with its uploads, c failed.
                claims_building: 1,
                claims_expired: 0,
                claims_failed: 1,
                dtrack_queued: 3,
                // The head of "one", due since it was queued; "two" waits.
                dtrack_due: 1,
                dtrack_oldest_due_since: Some(START),
                dtrack_failures: 0,
            }
        );

        // 20 minutes on: b's 15-minute lease is over, "two" is due since it was put off,
        // "one"'s second action since it was queued.
        let first = due.iter().find(|item| item.digest == "sha256:p1").unwrap();
        store
            .dtrack_fail(
                first.id,
                Failure {
                    at: START,
                    digest: "sha256:p1".into(),
                    project: "one@1".into(),
                    action: "update".into(),
                    status: Some(403),
                    message: "forbidden".into(),
                },
            )
            .await
            .unwrap();
        let later = store
            .stats(START.saturating_add(Duration::from_secs(20 * 60)))
            .await
            .unwrap();
        assert_eq!(
            (
                later.claims_building,
                later.claims_expired,
                later.claims_failed
            ),
            (0, 1, 1)
        );
        assert_eq!(
            (
                later.dtrack_queued,
                later.dtrack_due,
                later.dtrack_oldest_due_since,
                later.dtrack_failures
            ),
            (2, 2, Some(START), 1)
        );
    }
}
