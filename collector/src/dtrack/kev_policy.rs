//! The KEV policy: a Dependency-Track (DT) policy (operator ANY, state FAIL) with one
//! `VULNERABILITY_ID IS <cve>` condition per entry of CISA's Known Exploited
//! Vulnerabilities catalog. Kept in place: conditions are diffed on (subject, operator,
//! value) and only the changed ones are added or deleted; the policy itself is never
//! recreated, since that would clear its existing violations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{DtClient, DtError};
use crate::clock::Timestamp;
pub use crate::kev::{KevCatalog, KevSource, LatestKev};
use crate::metrics::Metrics;
use crate::store::{SingletonJob, Store};

const SUBJECT: &str = "VULNERABILITY_ID";
const OPERATOR: &str = "IS";
/// How long to wait before trying again after a failed sync.
const RETRY: Duration = Duration::from_secs(60);
/// How often a replica that does not keep the policy looks whether it should.
const STANDBY: Duration = Duration::from_secs(5);

/// KEV policy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevSettings {
    /// The catalog.
    pub source: KevSource,
    /// Policy name.
    pub policy: String,
    /// Tags the policy is limited to; empty: every project.
    pub scope_tags: Vec<String>,
    /// How often the catalog is read.
    pub interval: Duration,
}

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KevSync {
    /// The policy did not exist and was created.
    pub created: bool,
    /// Conditions added.
    pub added: usize,
    /// Conditions deleted.
    pub removed: usize,
}

/// Makes the policy `settings.policy` hold exactly one condition per CVE of `catalog`,
/// touching only what differs. Conditions that are not nodebom's kind
/// (`VULNERABILITY_ID IS …`) are deleted too: the policy belongs to nodebom.
pub async fn sync_kev_policy(
    client: &DtClient,
    settings: &KevSettings,
    catalog: &KevCatalog,
) -> Result<KevSync, DtError> {
    let mut sync = KevSync::default();
    let policy = match client.find_policy(&settings.policy).await? {
        Some(policy) => policy,
        None => {
            sync.created = true;
            client
                .create_policy(&settings.policy, "ANY", "FAIL")
                .await?
        }
    };
    let mut present: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut stray = Vec::new();
    for condition in &policy.policy_conditions {
        if condition.subject == SUBJECT && condition.operator == OPERATOR {
            present
                .entry(condition.value.as_str())
                .or_default()
                .push(condition.uuid.as_str());
        } else {
            stray.push(condition.uuid.as_str());
        }
    }
    for cve in catalog
        .entries
        .keys()
        .filter(|cve| !present.contains_key(cve.as_str()))
    {
        client
            .add_condition(&policy.uuid, SUBJECT, OPERATOR, cve)
            .await?;
        sync.added += 1;
    }
    let unwanted = present.iter().flat_map(|(value, uuids)| {
        // Keep one condition per wanted CVE; delete duplicates and CVEs that left.
        let keep = usize::from(catalog.entries.contains_key(*value));
        uuids.iter().skip(keep)
    });
    for uuid in unwanted.chain(stray.iter()) {
        client.delete_condition(uuid).await?;
        sync.removed += 1;
    }
    let bound: BTreeSet<&str> = policy.tags.iter().map(|tag| tag.name.as_str()).collect();
    for tag in settings
        .scope_tags
        .iter()
        .filter(|tag| !bound.contains(tag.as_str()))
    {
        client.tag_policy(tag, &policy.uuid).await?;
    }
    Ok(sync)
}

/// Reads the catalog now and then every `settings.interval` into `latest` (a failure is
/// retried sooner), and keeps the policy in sync with it, until `cancel`; each sync is
/// timed into `metrics`. Every replica reads the catalog, for exposure ranking; one
/// syncs the policy, and the others look every [`STANDBY`] whether it is gone and take
/// over.
pub fn spawn_kev_policy(
    client: DtClient,
    settings: KevSettings,
    store: Arc<dyn Store>,
    latest: LatestKev,
    metrics: Metrics,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut next_read = Instant::now();
        loop {
            if Instant::now() >= next_read {
                next_read = Instant::now() + settings.interval;
                match KevCatalog::load(&settings.source).await {
                    Ok(catalog) => latest.set(Arc::new(catalog)),
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the KEV catalog failed");
                        next_read = Instant::now() + RETRY.min(settings.interval);
                    }
                }
            }
            let wait = match store.hold_singleton(SingletonJob::KevPolicy).await {
                Ok(true) => keep_policy(&client, &settings, &latest, &metrics, &cancel).await,
                Ok(false) => STANDBY,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether this replica keeps the KEV policy");
                    STANDBY
                }
            };
            let wait = wait.min(next_read.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Syncs the policy with the newest catalog read;
/// returns how long to wait before looking again.
async fn keep_policy(
    client: &DtClient,
    settings: &KevSettings,
    latest: &LatestKev,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Duration {
    let Some(catalog) = latest.get() else {
        return RETRY.min(settings.interval);
    };
    let started = Instant::now();
    // A sync cut short by shutdown is safe: the next one diffs from what is there.
    let synced = tokio::select! {
        () = cancel.cancelled() => return Duration::ZERO,
        synced = sync_kev_policy(client, settings, &catalog) => synced,
    };
    metrics.kev_policy_synced(synced.is_ok(), started.elapsed(), Timestamp::now());
    match synced {
        Ok(sync) => {
            tracing::info!(
                policy = %settings.policy,
                catalog = %catalog.version,
                cves = catalog.entries.len(),
                created = sync.created,
                added = sync.added,
                removed = sync.removed,
                "KEV policy in sync"
            );
            settings.interval
        }
        Err(err) => {
            tracing::warn!(policy = %settings.policy, error = %err, "KEV policy sync failed");
            RETRY.min(settings.interval)
        }
    }
}
