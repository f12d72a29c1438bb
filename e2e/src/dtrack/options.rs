//! How a test configures the server, the Dependency-Track release it plays, and the
//! permissions an API key can hold.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Settings of a [`DtServer`](super::DtServer).
///
/// ```no_run
/// use std::time::Duration;
/// use nodebom_e2e::dtrack::{DtOptions, DtServer, Permission};
///
/// let dt = DtServer::start(DtOptions {
///     processing_delay: Duration::from_millis(500),
///     permissions: [Permission::BomUpload, Permission::ViewPortfolio].into(),
///     ..DtOptions::default()
/// })
/// .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct DtOptions {
    /// The Dependency-Track release the server plays, `4.11.x` to `4.14.x`: what
    /// `/api/version` reports and where findings differ between releases. Requests are
    /// checked against the 4.14.2 OpenAPI document whatever the release. Default
    /// `4.14.2`.
    pub version: String,
    /// How long a BOM token reports `processing: true` before the BOM is applied to its
    /// project (components replaced, `lastBomImport` set). Default 100 ms.
    pub processing_delay: Duration,
    /// How long the vulnerability analysis that follows processing takes. The token
    /// keeps reading `processing: true` until it is done, as Dependency-Track chains the
    /// analysis to the upload's token; `lastBomImport` is already set meanwhile, and no
    /// findings of the new components exist yet. Default zero.
    pub analysis_delay: Duration,
    /// Permissions of the key returned by [`DtServer::api_key`](super::DtServer::api_key).
    /// Default: every permission.
    pub permissions: BTreeSet<Permission>,
    /// Validate uploaded BOMs against the official CycloneDX JSON schema of their
    /// `specVersion`, as Dependency-Track 4.11+ does by default. Default `true`.
    pub validate_bom_schema: bool,
}

impl Default for DtOptions {
    fn default() -> Self {
        DtOptions {
            version: "4.14.2".into(),
            processing_delay: Duration::from_millis(100),
            analysis_delay: Duration::ZERO,
            permissions: Permission::ALL.into_iter().collect(),
            validate_bom_schema: true,
        }
    }
}

/// A Dependency-Track release, `4.<minor>.<patch>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Release {
    pub(crate) minor: u32,
    pub(crate) patch: u32,
}

impl Release {
    /// The oldest and newest minor releases whose behaviour the server knows.
    const MINORS: std::ops::RangeInclusive<u32> = 11..=14;

    pub(crate) fn parse(version: &str) -> Result<Release, String> {
        let parts: Vec<&str> = version.trim().split('.').collect();
        let number = |part: &str| part.parse::<u32>().ok();
        match parts.as_slice() {
            ["4", minor, patch] => match (number(minor), number(patch)) {
                (Some(minor), Some(patch)) if Self::MINORS.contains(&minor) => {
                    Ok(Release { minor, patch })
                }
                _ => Err(format!(
                    "Dependency-Track {version}: the test server plays 4.11.x to 4.14.x"
                )),
            },
            _ => Err(format!("Dependency-Track version {version:?} is not 4.x.y")),
        }
    }

    /// Findings carry an unset description and recommendation as `null` before 4.12,
    /// and leave them out from 4.12 on.
    pub(crate) fn nulls_in_findings(self) -> bool {
        self.minor < 12
    }

    /// EPSS scores and the `EPSS` policy condition came with 4.12.
    pub(crate) fn has_epss(self) -> bool {
        self.minor >= 12
    }

    /// The Alpine framework version of the release line.
    pub(crate) fn framework_version(self) -> &'static str {
        match self.minor {
            11 => "2.2.5",
            12 => "3.1.2",
            13 => "3.4.0",
            _ => "3.7.0",
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "4.{}.{}", self.minor, self.patch)
    }
}

/// Dependency-Track's permissions, as named in its API documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    AccessManagement,
    BomUpload,
    PolicyManagement,
    PolicyViolationAnalysis,
    PortfolioManagement,
    ProjectCreationUpload,
    SystemConfiguration,
    TagManagement,
    ViewBadges,
    ViewPolicyViolation,
    ViewPortfolio,
    ViewVulnerability,
    VulnerabilityAnalysis,
    VulnerabilityManagement,
}

impl Permission {
    /// Every permission; what an administrator's key holds.
    pub const ALL: [Permission; 14] = [
        Permission::AccessManagement,
        Permission::BomUpload,
        Permission::PolicyManagement,
        Permission::PolicyViolationAnalysis,
        Permission::PortfolioManagement,
        Permission::ProjectCreationUpload,
        Permission::SystemConfiguration,
        Permission::TagManagement,
        Permission::ViewBadges,
        Permission::ViewPolicyViolation,
        Permission::ViewPortfolio,
        Permission::ViewVulnerability,
        Permission::VulnerabilityAnalysis,
        Permission::VulnerabilityManagement,
    ];

    /// The name Dependency-Track uses, e.g. `BOM_UPLOAD`.
    pub fn name(self) -> &'static str {
        match self {
            Permission::AccessManagement => "ACCESS_MANAGEMENT",
            Permission::BomUpload => "BOM_UPLOAD",
            Permission::PolicyManagement => "POLICY_MANAGEMENT",
            Permission::PolicyViolationAnalysis => "POLICY_VIOLATION_ANALYSIS",
            Permission::PortfolioManagement => "PORTFOLIO_MANAGEMENT",
            Permission::ProjectCreationUpload => "PROJECT_CREATION_UPLOAD",
            Permission::SystemConfiguration => "SYSTEM_CONFIGURATION",
            Permission::TagManagement => "TAG_MANAGEMENT",
            Permission::ViewBadges => "VIEW_BADGES",
            Permission::ViewPolicyViolation => "VIEW_POLICY_VIOLATION",
            Permission::ViewPortfolio => "VIEW_PORTFOLIO",
            Permission::ViewVulnerability => "VIEW_VULNERABILITY",
            Permission::VulnerabilityAnalysis => "VULNERABILITY_ANALYSIS",
            Permission::VulnerabilityManagement => "VULNERABILITY_MANAGEMENT",
        }
    }

    /// The permission called `name` by Dependency-Track, if there is one.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_4_11_to_4_14_are_played() {
        let release = Release::parse("4.11.7").unwrap();
        assert!(release.nulls_in_findings());
        assert_eq!(release.to_string(), "4.11.7");
        assert!(!Release::parse("4.14.2").unwrap().nulls_in_findings());
        for unknown in ["4.10.1", "4.15.0", "5.0.0", "4.14", "4.14.x", ""] {
            assert!(Release::parse(unknown).is_err(), "{unknown}");
        }
    }
}
