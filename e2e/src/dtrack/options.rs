//! How a test configures the server, and the permissions an API key can hold.

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
    /// How long a BOM token reports `processing: true` before the BOM is applied to its
    /// project (components replaced, `lastBomImport` set). Default 100 ms.
    pub processing_delay: Duration,
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
            processing_delay: Duration::from_millis(100),
            permissions: Permission::ALL.into_iter().collect(),
            validate_bom_schema: true,
        }
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
