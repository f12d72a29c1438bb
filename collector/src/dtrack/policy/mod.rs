//! Dependency-Track (DT) policies kept by nodebom: declared in a policy file
//! ([`file`]), or, without one, the KEV policy of `--kev-catalog`. Each policy is
//! violated when any of its conditions holds: `VULNERABILITY_ID IS <cve>` per entry of
//! CISA's Known Exploited Vulnerabilities catalog, `EPSS >= x`, `SEVERITY IS` each
//! severity from the given one up, `LICENSE_GROUP IS <group>`. One replica keeps them
//! in place ([`sync`]); every replica reads the KEV catalog, which also ranks exposures.

pub mod file;
pub mod sync;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::version::DtVersion;
use super::{DtClient, DtError};
use crate::clock::Timestamp;
use crate::exposure::finding::Severity;
pub use crate::kev::{KevCatalog, KevSource, LatestKev};
use crate::metrics::Metrics;
use crate::store::{SingletonJob, Store};
pub use file::{PolicySpec, ViolationState};
pub use sync::{sync_policy, Condition, PolicySync, WantedPolicy};

/// How long to wait before trying again after a failed read or sync.
const RETRY: Duration = Duration::from_secs(60);
/// How often a replica that does not keep the policies looks whether it should.
const STANDBY: Duration = Duration::from_secs(5);

/// The policies nodebom keeps in DT and where their inputs come from.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySettings {
    /// The KEV catalog and how often it is read.
    pub kev: Option<(KevSource, Duration)>,
    /// The policy file, read again before every sync; without one, `policies` come
    /// from the flags.
    pub file: Option<PathBuf>,
    /// The policies, as read at startup.
    pub policies: Vec<PolicySpec>,
    /// How often the policies are brought in line.
    pub interval: Duration,
}

/// The conditions that make `spec` in DT: KEV from `catalog`, licence groups by their
/// UUID in `groups` (`(name, uuid)`); EPSS only where `version` has it. `None` for KEV
/// means no catalog has been read yet.
pub fn conditions(
    spec: &PolicySpec,
    catalog: Option<&KevCatalog>,
    groups: &[(String, String)],
    version: DtVersion,
) -> Result<BTreeSet<Condition>, String> {
    let mut wanted = BTreeSet::new();
    if spec.kev {
        let catalog = catalog.ok_or("the KEV catalog has not been read yet")?;
        wanted.extend(catalog.entries.keys().map(|cve| Condition {
            subject: "VULNERABILITY_ID",
            operator: "IS",
            value: cve.clone(),
        }));
    }
    match spec.min_epss {
        Some(epss) if version.has_epss() => {
            wanted.insert(Condition {
                subject: "EPSS",
                operator: "NUMERIC_GREATER_THAN_OR_EQUAL",
                value: epss.to_string(),
            });
        }
        Some(_) => {
            tracing::warn!(policy = %spec.name, %version, "Dependency-Track before 4.12 has no EPSS conditions; the policy's epss is left out")
        }
        None => {}
    }
    if let Some(min) = spec.min_severity {
        let at_least_min = Severity::ALL.into_iter().filter(|s| s.at_least(min));
        wanted.extend(at_least_min.map(|severity| Condition {
            subject: "SEVERITY",
            operator: "IS",
            value: severity.name().to_owned(),
        }));
    }
    for name in &spec.license_groups {
        let uuid = groups
            .iter()
            .find(|(group, _)| group == name)
            .or_else(|| {
                groups
                    .iter()
                    .find(|(group, _)| group.eq_ignore_ascii_case(name))
            })
            .map(|(_, uuid)| uuid.clone())
            .ok_or_else(|| format!("Dependency-Track has no licence group named {name:?}"))?;
        wanted.insert(Condition {
            subject: "LICENSE_GROUP",
            operator: "IS",
            value: uuid,
        });
    }
    Ok(wanted)
}

/// Brings the DT policy of `spec` in line (see [`conditions`] for its inputs), for the
/// DT release the client talks to.
pub async fn sync_spec(
    client: &DtClient,
    spec: &PolicySpec,
    catalog: Option<&KevCatalog>,
    groups: &[(String, String)],
) -> Result<PolicySync, DtError> {
    let version = client.version().await;
    if !spec.scope_tags.is_empty() && !version.tags_policies() {
        // Left unscoped, the policy would judge every project.
        return Err(DtError::Invalid(format!(
            "limiting a policy to tags needs Dependency-Track 4.12 or later (this one is {version})"
        )));
    }
    let conditions = conditions(spec, catalog, groups, version).map_err(DtError::Invalid)?;
    let wanted = WantedPolicy {
        name: &spec.name,
        state: spec.state.name(),
        conditions,
        scope_tags: &spec.scope_tags,
        create_tags: version.creates_tags(),
    };
    sync_policy(client, &wanted).await
}

/// Reads the KEV catalog now and then at its interval into `latest` (a failure is
/// retried sooner), and keeps the policies in DT, until `cancel`; each pass is timed
/// into `metrics`. Every replica reads the catalog, for exposure ranking; one keeps the
/// policies, and the others look every [`STANDBY`] whether it is gone and take over.
pub fn spawn_policies(
    client: DtClient,
    settings: PolicySettings,
    store: Arc<dyn Store>,
    latest: LatestKev,
    metrics: Metrics,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut keeper = Keeper {
            client,
            policies: settings.policies.clone(),
            settings,
            latest,
            metrics,
        };
        let mut next_read = Instant::now();
        loop {
            if let Some((source, interval)) = &keeper.settings.kev {
                if Instant::now() >= next_read {
                    next_read = Instant::now() + *interval;
                    match KevCatalog::load(source).await {
                        Ok(catalog) => keeper.latest.set(Arc::new(catalog)),
                        Err(err) => {
                            tracing::warn!(error = %err, "reading the KEV catalog failed");
                            next_read = Instant::now() + RETRY.min(*interval);
                        }
                    }
                }
            } else {
                next_read = Instant::now() + keeper.settings.interval;
            }
            let wait = match store.hold_singleton(SingletonJob::Policies).await {
                Ok(true) => {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        // A pass cut short by shutdown is safe: the next one diffs from what is there.
                        wait = keeper.pass() => wait,
                    }
                }
                Ok(false) => STANDBY,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether this replica keeps the Dependency-Track policies");
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

/// The replica's policy keeping, with the newest good reading of the policy file.
struct Keeper {
    client: DtClient,
    settings: PolicySettings,
    policies: Vec<PolicySpec>,
    latest: LatestKev,
    metrics: Metrics,
}

impl Keeper {
    /// Brings every policy in line; returns how long to wait before the next pass.
    async fn pass(&mut self) -> Duration {
        if let Some(path) = &self.settings.file {
            match file::read(path) {
                Ok(policies) if policies != self.policies => {
                    tracing::info!(file = %path.display(), policies = policies.len(), "policy file changed");
                    self.policies = policies;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "the policy file cannot be used; keeping its last good reading")
                }
            }
        }
        let started = Instant::now();
        let failures = self.sync_all().await;
        self.metrics
            .policies_synced(failures == 0, started.elapsed(), Timestamp::now());
        if failures == 0 {
            self.settings.interval
        } else {
            RETRY.min(self.settings.interval)
        }
    }

    /// Syncs each policy; returns how many could not be.
    async fn sync_all(&self) -> usize {
        let catalog = self.latest.get();
        let groups = if self.policies.iter().any(|p| !p.license_groups.is_empty()) {
            match self.client.license_groups().await {
                Ok(groups) => groups,
                Err(err) => {
                    tracing::warn!(error = %err, "reading Dependency-Track's licence groups failed");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let mut failures = 0;
        for spec in &self.policies {
            match sync_spec(&self.client, spec, catalog.as_deref(), &groups).await {
                Ok(sync) => tracing::info!(
                    policy = %spec.name,
                    created = sync.created,
                    updated = sync.updated,
                    added = sync.added,
                    removed = sync.removed,
                    "policy in sync"
                ),
                Err(err) => {
                    failures += 1;
                    tracing::warn!(policy = %spec.name, error = %err, "policy sync failed");
                }
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(conditions: &BTreeSet<Condition>, subject: &str) -> Vec<String> {
        conditions
            .iter()
            .filter(|c| c.subject == subject)
            .map(|c| c.value.clone())
            .collect()
    }

    #[test]
    fn a_policy_becomes_its_conditions() {
        let spec = file::parse(
            "policies:\n- name: p\n  when: {kev: true, epss: 0.5, severity: HIGH, licenseGroups: [copyleft]}\n",
        )
        .unwrap()
        .remove(0);
        let mut catalog = KevCatalog::default();
        catalog
            .entries
            .insert("CVE-2021-44228".into(), Arc::default());
        let groups = [("Copyleft".to_owned(), "6b0f6c3e".to_owned())];
        let new = DtVersion::new(4, 14, 2);
        let wanted = conditions(&spec, Some(&catalog), &groups, new).unwrap();
        assert_eq!(values(&wanted, "VULNERABILITY_ID"), ["CVE-2021-44228"]);
        assert_eq!(values(&wanted, "EPSS"), ["0.5"]);
        assert_eq!(values(&wanted, "SEVERITY"), ["CRITICAL", "HIGH"]);
        assert_eq!(values(&wanted, "LICENSE_GROUP"), ["6b0f6c3e"]);

        let old = conditions(&spec, Some(&catalog), &groups, DtVersion::OLDEST).unwrap();
        assert!(values(&old, "EPSS").is_empty());
        assert_eq!(old.len(), wanted.len() - 1);
        assert!(conditions(&spec, None, &groups, new)
            .unwrap_err()
            .contains("KEV catalog"));
        assert!(conditions(&spec, Some(&catalog), &[], new)
            .unwrap_err()
            .contains("\"copyleft\""));
    }
}
