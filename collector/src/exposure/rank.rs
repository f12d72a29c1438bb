//! What to fix first: vulnerabilities known to be exploited (CISA KEV, ransomware use
//! first) before the rest; then the likelier to be exploited (EPSS), the more severe
//! (severity, then CVSS); running before only on disk; and the wider spread (clusters,
//! then pods). Every exposure carries the reasons for its place in words.

use std::cmp::Ordering;

use super::finding::{Finding, Severity};
use super::Placements;
use crate::kev::KevEntry;

/// The facts that place an exposure in the order; orders most urgent first.
#[derive(Debug, Clone, PartialEq)]
pub struct Rank {
    pub kev: bool,
    pub ransomware: bool,
    pub epss: Option<f64>,
    pub severity: Severity,
    pub cvss: Option<f64>,
    pub running: bool,
    pub clusters: usize,
    pub pods: usize,
    /// Whether a fixed version is known.
    pub fixable: bool,
}

impl Rank {
    /// The rank of `finding` in an image placed at `placements`.
    pub fn of(finding: &Finding, kev: Option<&KevEntry>, placements: &Placements) -> Rank {
        let vulnerability = &finding.vulnerability;
        Rank {
            kev: kev.is_some(),
            ransomware: kev.is_some_and(|kev| kev.ransomware),
            epss: vulnerability.epss,
            severity: vulnerability.severity,
            cvss: vulnerability.cvss,
            running: placements.running(),
            clusters: placements.clusters.len(),
            pods: placements.pods,
            fixable: !finding.fixed_versions.trim().is_empty(),
        }
    }
}

/// The facts that rank `finding` in words, most important first (only asked of the
/// exposures shown, not of every one sorted).
pub fn reasons(finding: &Finding, kev: Option<&KevEntry>, placements: &Placements) -> Vec<String> {
    let vulnerability = &finding.vulnerability;
    let mut reasons = Vec::new();
    if let Some(kev) = kev {
        let mut reason = format!("in CISA KEV since {}", kev.date_added);
        if !kev.due_date.is_empty() {
            reason.push_str(&format!(", fix due {}", kev.due_date));
        }
        if kev.ransomware {
            reason.push_str(", used in ransomware campaigns");
        }
        reasons.push(reason);
    }
    if let Some(epss) = vulnerability.epss {
        let mut reason = format!("EPSS {epss:.3}");
        if let Some(percentile) = vulnerability.epss_percentile {
            reason.push_str(&format!(" ({:.0}th percentile)", percentile * 100.0));
        }
        reasons.push(reason);
    }
    reasons.push(match vulnerability.cvss {
        Some(cvss) => format!(
            "severity {} (CVSS {cvss:.1})",
            vulnerability.severity.name()
        ),
        None => format!("severity {}", vulnerability.severity.name()),
    });
    let clusters = placements.clusters.len();
    reasons.push(if !placements.running() {
        let nodes = placements.image.nodes.len();
        format!(
            "not running; on disk on {nodes} node{} in {clusters} cluster{}",
            plural(nodes),
            plural(clusters)
        )
    } else {
        let pods = placements.pods;
        format!(
            "running in {pods} pod{} in {clusters} cluster{}",
            plural(pods),
            plural(clusters)
        )
    });
    let fixed = finding.fixed_versions.trim();
    reasons.push(if fixed.is_empty() {
        "no fixed version known".to_owned()
    } else {
        format!("fixed in {fixed}")
    });
    reasons
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Higher first; a missing score below any score.
fn score_first(a: Option<f64>, b: Option<f64>) -> Ordering {
    let value = |v: Option<f64>| v.unwrap_or(-1.0);
    value(b).total_cmp(&value(a))
}

impl Eq for Rank {}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .kev
            .cmp(&self.kev)
            .then(other.ransomware.cmp(&self.ransomware))
            .then(score_first(self.epss, other.epss))
            .then(self.severity.cmp(&other.severity))
            .then(score_first(self.cvss, other.cvss))
            .then(other.running.cmp(&self.running))
            .then(other.clusters.cmp(&self.clusters))
            .then(other.pods.cmp(&self.pods))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::exposure::finding::Vulnerability;
    use crate::store::{ImagePlacements, NodePresence, WorkloadPlacement};

    fn finding(id: &str, severity: Severity, epss: Option<f64>, fixed: &str) -> Finding {
        Finding {
            vulnerability: Vulnerability {
                id: id.into(),
                severity,
                epss,
                ..Vulnerability::default()
            },
            fixed_versions: fixed.into(),
            ..Finding::default()
        }
    }

    fn pod(cluster: &str, uid: &str) -> WorkloadPlacement {
        WorkloadPlacement {
            cluster: cluster.into(),
            node: "n".into(),
            namespace: "ns".into(),
            pod: uid.into(),
            pod_uid: uid.into(),
            container: "c".into(),
            manifest_digest: "d".into(),
            image: "i".into(),
            container_id: uid.into(),
            running: true,
            first_seen: Timestamp::from_unix_millis(0),
            last_seen: Timestamp::from_unix_millis(0),
        }
    }

    fn running(pods: &[(&str, &str)]) -> Placements {
        Placements::new(ImagePlacements {
            workloads: pods.iter().map(|(c, u)| pod(c, u)).collect(),
            ..ImagePlacements::default()
        })
    }

    fn on_disk(nodes: usize) -> Placements {
        let nodes = (0..nodes)
            .map(|i| NodePresence {
                cluster: "c1".into(),
                node: format!("n{i}"),
                first_seen: Timestamp::from_unix_millis(0),
                last_seen: Timestamp::from_unix_millis(0),
            })
            .collect();
        Placements::new(ImagePlacements {
            nodes,
            ..ImagePlacements::default()
        })
    }

    #[test]
    fn kev_outranks_epss_which_outranks_severity() {
        let kev = KevEntry {
            date_added: "2024-01-02".into(),
            due_date: "2024-01-23".into(),
            ransomware: false,
        };
        let here = running(&[("c1", "p1")]);
        let known = Rank::of(
            &finding("CVE-1", Severity::Low, None, ""),
            Some(&kev),
            &here,
        );
        let likely = Rank::of(
            &finding("CVE-2", Severity::Medium, Some(0.9), ""),
            None,
            &here,
        );
        let severe = Rank::of(
            &finding("CVE-3", Severity::Critical, Some(0.1), ""),
            None,
            &here,
        );
        let unscored = Rank::of(&finding("CVE-4", Severity::Critical, None, ""), None, &here);
        let mut ranks = vec![
            unscored.clone(),
            severe.clone(),
            likely.clone(),
            known.clone(),
        ];
        ranks.sort();
        assert_eq!(ranks, [known.clone(), likely, severe, unscored]);
        let known_reasons = reasons(
            &finding("CVE-1", Severity::Low, None, ""),
            Some(&kev),
            &here,
        );
        assert_eq!(
            known_reasons[0],
            "in CISA KEV since 2024-01-02, fix due 2024-01-23"
        );
    }

    #[test]
    fn running_outranks_on_disk_and_spread_breaks_ties() {
        let f = finding("CVE-1", Severity::High, Some(0.5), "1.2.3");
        let wide = Rank::of(&f, None, &running(&[("a", "1"), ("b", "2")]));
        let narrow = Rank::of(&f, None, &running(&[("a", "1"), ("a", "2"), ("a", "3")]));
        let disk = Rank::of(&f, None, &on_disk(40));
        let mut ranks = vec![disk.clone(), narrow.clone(), wide.clone()];
        ranks.sort();
        assert_eq!(ranks, [wide.clone(), narrow, disk]);
        let wide_reasons = reasons(&f, None, &running(&[("a", "1"), ("b", "2")]));
        assert!(wide_reasons.contains(&"running in 2 pods in 2 clusters".to_owned()));
        assert!(reasons(&f, None, &on_disk(40))
            .contains(&"not running; on disk on 40 nodes in 1 cluster".to_owned()));
        assert!(wide.fixable && wide_reasons.contains(&"fixed in 1.2.3".to_owned()));
    }
}
