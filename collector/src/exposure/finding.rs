//! What Dependency-Track (DT) found in one image's SBOM: a vulnerability in a package,
//! with the scores that rank it and whether a fixed version exists.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::without_nul;

/// Most findings kept per project (DT lists every finding in one answer).
pub const MAX_FINDINGS: usize = 100_000;
/// Longest text kept from a finding's field.
const MAX_TEXT_CHARS: usize = 1024;
/// Most aliases kept per vulnerability.
const MAX_ALIASES: usize = 32;

/// CVSS-style severity, most severe first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
    #[default]
    Unassigned,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
        Severity::Unassigned,
    ];

    /// DT's name, e.g. `CRITICAL`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
            Severity::Unassigned => "UNASSIGNED",
        }
    }

    /// The severity DT calls `name` (any case); unknown names are unassigned.
    pub fn from_name(name: &str) -> Severity {
        Severity::parse(name).unwrap_or(Severity::Unassigned)
    }

    /// The severity DT calls `name` (any case), if it is one.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether it is at least as severe as `floor`.
    pub fn at_least(self, floor: Severity) -> bool {
        self <= floor
    }
}

/// A vulnerability as DT describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Vulnerability {
    /// Primary id, e.g. `CVE-2024-5535` or `GHSA-…`.
    pub id: String,
    /// Where DT has it from (`NVD`, `GITHUB`, `OSV`…).
    pub source: String,
    /// Other ids of the same vulnerability.
    pub aliases: Vec<String>,
    pub severity: Severity,
    /// CVSS v3 base score.
    pub cvss: Option<f64>,
    /// EPSS probability of exploitation in the next 30 days (DT 4.12+).
    pub epss: Option<f64>,
    /// EPSS percentile (DT 4.12+).
    pub epss_percentile: Option<f64>,
}

impl Vulnerability {
    /// Whether `id` is its id or one of its aliases (ids compare case-insensitively).
    pub fn is_known_as(&self, id: &str) -> bool {
        let id = id.trim();
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }

    /// Its CVE ids: the primary id and aliases that are CVEs.
    pub fn cve_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .filter(|id| id.starts_with("CVE-"))
    }
}

/// The package a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub purl: String,
}

/// One vulnerability in one package of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Finding {
    pub vulnerability: Vulnerability,
    pub package: Package,
    /// Versions that fix it, as DT words them; empty when none is known.
    pub fixed_versions: String,
}

impl Finding {
    /// What identifies it within one image: the vulnerability and the package, hashed
    /// (either may be long).
    pub fn key(&self) -> String {
        let package = if self.package.purl.is_empty() {
            format!("{}@{}", self.package.name, self.package.version)
        } else {
            self.package.purl.clone()
        };
        let hash = Sha256::new_with_prefix(format!("{}\0{package}", self.vulnerability.id));
        Digest::from_sha256(hash).as_str().to_owned()
    }

    /// Every id it is known by, for [`search_id`] to find it: upper case, each between
    /// spaces.
    pub fn search_ids(&self) -> String {
        let mut ids = String::from(" ");
        for id in std::iter::once(&self.vulnerability.id).chain(&self.vulnerability.aliases) {
            ids.push_str(&id.to_uppercase());
            ids.push(' ');
        }
        ids
    }
}

/// What to look for in [`Finding::search_ids`] to find the findings known as `id`.
pub fn search_id(id: &str) -> String {
    format!(" {} ", id.trim().to_uppercase())
}

/// How a DT user assessed a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// Not assessed, exploitable, in triage or resolved: still counts.
    Open,
    /// `NOT_AFFECTED` or `FALSE_POSITIVE`: does not count as exposure.
    Dismissed,
}

impl Analysis {
    /// From DT's `analysis.state`.
    pub fn from_state(state: &str) -> Analysis {
        match state.trim() {
            "NOT_AFFECTED" | "FALSE_POSITIVE" => Analysis::Dismissed,
            _ => Analysis::Open,
        }
    }
}

/// At most [`MAX_TEXT_CHARS`] characters of DT's `text`, as every store can keep it
/// ([`without_nul`]).
pub fn clipped(text: &str) -> String {
    without_nul(text).chars().take(MAX_TEXT_CHARS).collect()
}

/// At most [`MAX_ALIASES`] distinct aliases other than `id`, sorted.
pub fn bounded_aliases(id: &str, aliases: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut kept: Vec<String> = aliases
        .into_iter()
        .map(|alias| clipped(alias.trim()))
        .filter(|alias| !alias.is_empty() && !alias.eq_ignore_ascii_case(id))
        .collect();
    kept.sort();
    kept.dedup();
    kept.truncate(MAX_ALIASES);
    kept
}

/// A score from DT when it is a finite number in `0..=max`.
pub fn score(value: Option<f64>, max: f64) -> Option<f64> {
    value.filter(|v| v.is_finite() && (0.0..=max).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_from_most_severe_and_parse_any_case() {
        assert!(Severity::Critical < Severity::High);
        assert!(Severity::High.at_least(Severity::Medium));
        assert!(!Severity::Low.at_least(Severity::Medium));
        assert_eq!(Severity::from_name("high"), Severity::High);
        assert_eq!(Severity::from_name("bogus"), Severity::Unassigned);
    }

    #[test]
    fn dismissed_analyses_are_the_two_that_deny_the_finding() {
        assert_eq!(Analysis::from_state("NOT_AFFECTED"), Analysis::Dismissed);
        assert_eq!(Analysis::from_state("FALSE_POSITIVE"), Analysis::Dismissed);
        for open in ["NOT_SET", "EXPLOITABLE", "IN_TRIAGE", "RESOLVED", ""] {
            assert_eq!(Analysis::from_state(open), Analysis::Open, "{open}");
        }
    }

    #[test]
    fn aliases_are_bounded_deduplicated_and_exclude_the_id() {
        let aliases = bounded_aliases(
            "CVE-1",
            [
                "GHSA-b".into(),
                "cve-1".into(),
                "GHSA-b".into(),
                " ".into(),
                "GHSA-a".into(),
            ],
        );
        assert_eq!(aliases, ["GHSA-a", "GHSA-b"]);
        let many = bounded_aliases("X", (0..100).map(|i| format!("A-{i:03}")));
        assert_eq!(many.len(), MAX_ALIASES);
    }

    #[test]
    fn scores_outside_their_range_are_dropped() {
        assert_eq!(score(Some(0.5), 1.0), Some(0.5));
        assert_eq!(score(Some(1.5), 1.0), None);
        assert_eq!(score(Some(f64::NAN), 10.0), None);
        assert_eq!(score(None, 10.0), None);
    }
}
