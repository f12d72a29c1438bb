//! The KEV policy: a Dependency-Track (DT) policy (operator ANY, state FAIL) with one
//! `VULNERABILITY_ID IS <cve>` condition per entry of CISA's Known Exploited
//! Vulnerabilities catalog. Kept in place: conditions are diffed on (subject, operator,
//! value) and only the changed ones are added or deleted; the policy itself is never
//! recreated, since that would clear its existing violations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::http_client;
use super::{DtClient, DtError};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::{SingletonJob, Store};

/// Largest catalog read (the 2025 catalog is about 1.5 MB).
const MAX_CATALOG_BYTES: u64 = 32 * 1024 * 1024;
/// Most entries taken from a catalog.
const MAX_ENTRIES: usize = 100_000;
/// DT's limit on a condition value.
const MAX_VALUE_CHARS: usize = 255;
const SUBJECT: &str = "VULNERABILITY_ID";
const OPERATOR: &str = "IS";
/// How long a catalog download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait before trying again after a failed sync.
const RETRY: Duration = Duration::from_secs(60);
/// How often a replica that does not keep the policy looks whether it should.
const STANDBY: Duration = Duration::from_secs(5);

/// Where the catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KevSource {
    /// A local file.
    File(PathBuf),
    /// An http(s) URL.
    Url(Url),
}

impl KevSource {
    /// An http(s) URL, or else a file path.
    pub fn parse(text: &str) -> Result<Self> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let url = Url::parse(text)
                .map_err(|err| Error::Config(format!("--kev-catalog {text:?}: {err}")))?;
            return Ok(Self::Url(url));
        }
        Ok(Self::File(PathBuf::from(text)))
    }
}

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

/// The CVE ids of a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevCatalog {
    /// Catalog version, e.g. `2025.08.25`.
    pub version: String,
    /// CVE ids, as DT compares them (case-sensitive).
    pub cves: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    #[serde(default)]
    catalog_version: String,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
}

impl KevCatalog {
    /// Parses catalog JSON; entries whose id DT could not store are skipped.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let raw: RawCatalog = serde_json::from_slice(json)
            .map_err(|err| Error::Config(format!("KEV catalog: {err}")))?;
        let cves = raw
            .vulnerabilities
            .into_iter()
            .take(MAX_ENTRIES)
            .map(|entry| entry.cve_id.trim().to_owned())
            .filter(|id| valid_value(id))
            .collect();
        Ok(Self {
            version: raw.catalog_version,
            cves,
        })
    }

    /// Reads and parses the catalog at `source`.
    pub async fn load(source: &KevSource) -> Result<Self> {
        let bytes = match source {
            KevSource::File(path) => read_file(path).await?,
            KevSource::Url(url) => download(url).await?,
        };
        Self::parse(&bytes)
    }
}

/// 1–255 printable characters, as DT requires of condition values.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().count() <= MAX_VALUE_CHARS
        && value.chars().all(|c| !c.is_control())
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let context = || format!("reading the KEV catalog {}", path.display());
    let size = tokio::fs::metadata(path)
        .await
        .map_err(Error::io(context()))?
        .len();
    if size > MAX_CATALOG_BYTES {
        return Err(Error::Config(format!(
            "{}: larger than {MAX_CATALOG_BYTES} bytes",
            context()
        )));
    }
    tokio::fs::read(path).await.map_err(Error::io(context()))
}

async fn download(url: &Url) -> Result<Vec<u8>> {
    let failed =
        |err: reqwest::Error| Error::Config(format!("downloading the KEV catalog {url}: {err}"));
    let mut response = http_client(DOWNLOAD_TIMEOUT)?
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if (body.len() + chunk.len()) as u64 > MAX_CATALOG_BYTES {
            return Err(Error::Config(format!(
                "the KEV catalog {url} is larger than {MAX_CATALOG_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
        .cves
        .iter()
        .filter(|cve| !present.contains_key(cve.as_str()))
    {
        client
            .add_condition(&policy.uuid, SUBJECT, OPERATOR, cve)
            .await?;
        sync.added += 1;
    }
    let unwanted = present.iter().flat_map(|(value, uuids)| {
        // Keep one condition per wanted CVE; delete duplicates and CVEs that left.
        let keep = usize::from(catalog.cves.contains(*value));
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

/// Reads the catalog and syncs the policy now and then every `settings.interval` (a
/// failure is retried sooner), until `cancel`; each sync is timed into `metrics`. With
/// several replicas, one syncs; the others look every [`STANDBY`] whether it is gone
/// and take over.
pub fn spawn_kev_policy(
    client: DtClient,
    settings: KevSettings,
    store: Arc<dyn Store>,
    metrics: Metrics,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = match store.hold_singleton(SingletonJob::KevPolicy).await {
                Ok(true) => {
                    let started = Instant::now();
                    // A sync cut short by shutdown is safe: the next one diffs from what is
                    // there.
                    let synced = tokio::select! {
                        () = cancel.cancelled() => return,
                        synced = sync_once(&client, &settings) => synced,
                    };
                    metrics.kev_policy_synced(synced.is_ok(), started.elapsed(), Timestamp::now());
                    match synced {
                        Ok(()) => settings.interval,
                        Err(message) => {
                            tracing::warn!(policy = %settings.policy, error = %message, "KEV policy sync failed");
                            RETRY.min(settings.interval)
                        }
                    }
                }
                Ok(false) => STANDBY,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether this replica keeps the KEV policy");
                    STANDBY
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

async fn sync_once(client: &DtClient, settings: &KevSettings) -> Result<(), String> {
    let catalog = KevCatalog::load(&settings.source)
        .await
        .map_err(|err| err.to_string())?;
    let sync = sync_kev_policy(client, settings, &catalog)
        .await
        .map_err(|err| err.to_string())?;
    tracing::info!(
        policy = %settings.policy,
        catalog = %catalog.version,
        cves = catalog.cves.len(),
        created = sync.created,
        added = sync.added,
        removed = sync.removed,
        "KEV policy in sync"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &[u8] = include_bytes!("../../../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json");

    #[test]
    fn catalog_gives_every_cve_once() {
        let catalog = KevCatalog::parse(CATALOG).unwrap();
        assert_eq!(catalog.version, "2025.08.25");
        assert_eq!(catalog.cves.len(), 1404);
        assert!(catalog.cves.contains("CVE-2025-48384"));
    }

    #[test]
    fn urls_are_downloaded_and_anything_else_is_a_file() {
        assert!(matches!(
            KevSource::parse("https://www.cisa.gov/kev.json").unwrap(),
            KevSource::Url(_)
        ));
        assert_eq!(
            KevSource::parse("/etc/kev.json").unwrap(),
            KevSource::File(PathBuf::from("/etc/kev.json"))
        );
    }
}
