//! What the server holds, as tests see it: projects, uploads, policies, vulnerabilities
//! and findings, counters, and the builders that seed them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A Dependency-Track project as the server holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub uuid: Uuid,
    pub name: String,
    pub version: Option<String>,
    pub classifier: Option<String>,
    pub description: Option<String>,
    pub group: Option<String>,
    pub purl: Option<String>,
    /// Tag names, trimmed and lower-cased.
    pub tags: BTreeSet<String>,
    pub active: bool,
    pub is_latest: bool,
    pub parent: Option<Uuid>,
    /// How its metrics come from its children (4.13+); a collection project takes no BOM.
    pub collection_logic: CollectionLogic,
    /// When the last BOM finished processing, in milliseconds since the epoch.
    pub last_bom_import: Option<i64>,
    /// E.g. `CycloneDX 1.5`.
    pub last_bom_import_format: Option<String>,
    /// The components of the last processed BOM; every upload replaces them all.
    pub components: Vec<Component>,
    /// The last processed BOM document.
    pub bom: Option<Arc<Value>>,
}

/// Whether a project is a collection of its children (4.13+), and which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CollectionLogic {
    /// An ordinary project, with components of its own.
    #[default]
    None,
    AggregateDirectChildren,
    AggregateDirectChildrenWithTag,
    AggregateLatestVersionChildren,
}

/// A component of a project's current BOM.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    /// Kept by a later BOM that has the same component (same group, name, version and
    /// purl), with its findings and analyses; a new one otherwise.
    pub uuid: Uuid,
    pub name: String,
    pub version: Option<String>,
    pub group: Option<String>,
    pub purl: Option<String>,
}

/// How a BOM arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadVia {
    /// `PUT /api/v1/bom`, base64 in JSON.
    Json,
    /// `POST /api/v1/bom`, multipart form.
    Multipart,
}

/// One accepted BOM upload (answered 200 with a token).
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub token: Uuid,
    pub project: Uuid,
    pub via: UploadVia,
    /// sha256 of the BOM bytes (after base64 decoding), lower-case hex.
    pub bom_sha256: String,
    pub spec_version: String,
    pub bom: Arc<Value>,
    pub received_at: SystemTime,
    /// When processing finished; `None` while the token is processing (or if lost).
    pub processed_at: Option<SystemTime>,
    /// Another upload to the same project was still processing when this one arrived:
    /// the client did not wait for the previous token.
    pub overlapped: bool,
    /// When the vulnerability analysis that follows processing finished, which is when
    /// the token stops reading `processing: true`; `None` before, and for good if a
    /// restart lost it.
    pub analyzed_at: Option<SystemTime>,
    /// Dropped unprocessed by [`DtServer::restart`](super::DtServer::restart).
    pub lost: bool,
}

/// A policy with its conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub uuid: Uuid,
    pub name: String,
    pub operator: PolicyOperator,
    pub violation_state: ViolationState,
    pub include_children: bool,
    pub only_latest_project_version: bool,
    pub conditions: Vec<PolicyCondition>,
    /// Tags the policy is limited to; none (and no projects) means every project.
    pub tags: BTreeSet<String>,
}

/// One condition of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyCondition {
    pub uuid: Uuid,
    pub subject: ConditionSubject,
    pub operator: ConditionOperator,
    pub value: String,
}

/// How a policy combines its conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PolicyOperator {
    All,
    Any,
}

/// What a violated policy reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViolationState {
    Info,
    Warn,
    Fail,
}

/// What a policy condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionSubject {
    Age,
    Coordinates,
    Cpe,
    License,
    LicenseGroup,
    PackageUrl,
    Severity,
    SwidTagid,
    Version,
    IsInternal,
    ComponentHash,
    Cwe,
    VulnerabilityId,
    VersionDistance,
    Epss,
}

/// How a policy condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionOperator {
    Is,
    IsNot,
    Matches,
    NoMatch,
    NumericGreaterThan,
    NumericLessThan,
    NumericEqual,
    NumericNotEqual,
    NumericGreaterThanOrEqual,
    NumericLesserThanOrEqual,
    ContainsAll,
    ContainsAny,
}

/// How many times the API changed things; seeding does not count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Projects created by a BOM upload with `autoCreate`.
    pub projects_created: usize,
    /// PATCH or POST of a project that changed it.
    pub projects_updated: usize,
    pub policies_created: usize,
    pub policies_updated: usize,
    pub policies_deleted: usize,
    pub conditions_created: usize,
    pub conditions_updated: usize,
    pub conditions_deleted: usize,
    /// `PUT /api/v1/analysis` answered 200.
    pub analyses_recorded: usize,
}

/// A project to put on the server before the test starts ([`DtServer::seed_project`]).
///
/// [`DtServer::seed_project`]: super::DtServer::seed_project
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProject {
    pub name: String,
    pub version: Option<String>,
    pub tags: Vec<String>,
    pub active: bool,
    pub is_latest: bool,
    pub parent: Option<Uuid>,
    pub collection_logic: CollectionLogic,
}

impl NewProject {
    /// An active project that is not the latest version, without tags or parent.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> NewProject {
        NewProject {
            name: name.into(),
            version: Some(version.into()),
            tags: Vec::new(),
            active: true,
            is_latest: false,
            parent: None,
            collection_logic: CollectionLogic::None,
        }
    }

    pub fn tags<I, S>(mut self, tags: I) -> NewProject
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    pub fn inactive(mut self) -> NewProject {
        self.active = false;
        self
    }

    pub fn latest(mut self) -> NewProject {
        self.is_latest = true;
        self
    }

    pub fn parent(mut self, parent: Uuid) -> NewProject {
        self.parent = Some(parent);
        self
    }

    pub fn collection(mut self, logic: CollectionLogic) -> NewProject {
        self.collection_logic = logic;
        self
    }
}

/// A policy to put on the server before the test starts ([`DtServer::seed_policy`]).
///
/// [`DtServer::seed_policy`]: super::DtServer::seed_policy
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPolicy {
    pub name: String,
    pub operator: PolicyOperator,
    pub violation_state: ViolationState,
    pub conditions: Vec<(ConditionSubject, ConditionOperator, String)>,
    pub tags: Vec<String>,
}

impl NewPolicy {
    pub fn new(
        name: impl Into<String>,
        operator: PolicyOperator,
        violation_state: ViolationState,
    ) -> NewPolicy {
        NewPolicy {
            name: name.into(),
            operator,
            violation_state,
            conditions: Vec::new(),
            tags: Vec::new(),
        }
    }

    pub fn condition(
        mut self,
        subject: ConditionSubject,
        operator: ConditionOperator,
        value: impl Into<String>,
    ) -> NewPolicy {
        self.conditions.push((subject, operator, value.into()));
        self
    }

    pub fn tags<I, S>(mut self, tags: I) -> NewPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// Severity of a vulnerability, in Dependency-Track's order: a finding's `severityRank`
/// is the position in this list (CRITICAL 0 … UNASSIGNED 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
    Unassigned,
}

impl Severity {
    /// `severityRank`: 0 for CRITICAL up to 5 for UNASSIGNED.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// Where a vulnerability comes from (`vulnerability.source`, and the `source` filter of
/// the findings list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VulnSource {
    Nvd,
    Npm,
    Github,
    Vulndb,
    Ossindex,
    Retirejs,
    Internal,
    Osv,
    Snyk,
    Trivy,
    Unknown,
}

/// What a user concluded about a finding (`analysis.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnalysisState {
    Exploitable,
    InTriage,
    FalsePositive,
    NotAffected,
    Resolved,
    NotSet,
}

/// Why a finding is not exploitable (`analysisJustification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnalysisJustification {
    CodeNotPresent,
    CodeNotReachable,
    RequiresConfiguration,
    RequiresDependency,
    RequiresEnvironment,
    ProtectedByCompiler,
    ProtectedAtRuntime,
    ProtectedAtPerimeter,
    ProtectedByMitigatingControl,
    NotSet,
}

/// What the vendor says to do (`analysisResponse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnalysisResponse {
    CanNotFix,
    WillNotFix,
    Update,
    Rollback,
    WorkaroundAvailable,
    NotSet,
}

/// A vulnerability for the server's vulnerability database
/// ([`DtServer::add_vulnerability`]), with the packages it affects.
///
/// ```
/// use nodebom_e2e::dtrack::{NewVulnerability, Severity, VulnSource};
///
/// let openssl = NewVulnerability::new("CVE-2024-5535", VulnSource::Nvd, Severity::Critical)
///     .cvss_v3(9.1)
///     .epss(0.0042, 0.71)
///     .affects("pkg:deb/debian/openssl", ["3.0.11-1~deb12u2"]);
/// # let _ = openssl;
/// ```
///
/// [`DtServer::add_vulnerability`]: super::DtServer::add_vulnerability
#[derive(Clone, Debug, PartialEq)]
pub struct NewVulnerability {
    pub vuln_id: String,
    pub source: VulnSource,
    pub severity: Severity,
    pub title: Option<String>,
    pub recommendation: Option<String>,
    /// Ids of the same vulnerability elsewhere (`CVE-…`, `GHSA-…`, `SNYK-…`,
    /// `sonatype-…`, a VulnDB number, anything else an OSV id).
    pub aliases: Vec<String>,
    pub cvss_v3_base_score: Option<f64>,
    /// EPSS score and percentile; `None` when the EPSS feed has no entry.
    pub epss: Option<(f64, f64)>,
    /// CWE id and name.
    pub cwes: Vec<(u32, String)>,
    pub affects: Vec<Affected>,
    /// Versions that fix it, as the source words them (`patchedVersions`: shown with
    /// the vulnerability, never in findings).
    pub patched_versions: Option<String>,
}

/// Versions of one package a vulnerability affects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    /// `pkg:type/namespace/name`: no version, qualifiers or subpath. Matched like
    /// Dependency-Track's internal analyzer does: type, namespace and name of the
    /// component's purl, after the purl specification's normalization.
    pub purl: String,
    /// Exact versions, compared with the version in the component's purl.
    pub versions: Vec<String>,
}

impl NewVulnerability {
    /// A vulnerability without scores, aliases or affected packages.
    pub fn new(vuln_id: impl Into<String>, source: VulnSource, severity: Severity) -> Self {
        NewVulnerability {
            vuln_id: vuln_id.into(),
            source,
            severity,
            title: None,
            recommendation: None,
            aliases: Vec::new(),
            cvss_v3_base_score: None,
            epss: None,
            cwes: Vec::new(),
            affects: Vec::new(),
            patched_versions: None,
        }
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn recommendation(mut self, text: impl Into<String>) -> Self {
        self.recommendation = Some(text.into());
        self
    }

    pub fn alias(mut self, id: impl Into<String>) -> Self {
        self.aliases.push(id.into());
        self
    }

    pub fn cvss_v3(mut self, base_score: f64) -> Self {
        self.cvss_v3_base_score = Some(base_score);
        self
    }

    pub fn epss(mut self, score: f64, percentile: f64) -> Self {
        self.epss = Some((score, percentile));
        self
    }

    /// Versions that fix it, e.g. `3.0.14-1~deb12u1`.
    pub fn patched(mut self, versions: impl Into<String>) -> Self {
        self.patched_versions = Some(versions.into());
        self
    }

    pub fn cwe(mut self, id: u32, name: impl Into<String>) -> Self {
        self.cwes.push((id, name.into()));
        self
    }

    /// Affects these exact `versions` of the package `purl` (`pkg:type/namespace/name`).
    pub fn affects<I, S>(mut self, purl: impl Into<String>, versions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.affects.push(Affected {
            purl: purl.into(),
            versions: versions.into_iter().map(Into::into).collect(),
        });
        self
    }
}

/// A finding: a vulnerability attached to a component of a project by an analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub component: Component,
    /// The vulnerability's UUID on this server.
    pub vulnerability: Uuid,
    pub vuln_id: String,
    pub source: VulnSource,
    /// When the analysis attached it, in milliseconds since the epoch.
    pub attributed_on: i64,
    /// The analysis a user recorded; `None` before any.
    pub analysis: Option<Analysis>,
}

impl Finding {
    /// Whether a user suppressed it; suppressed findings are left out of the findings
    /// list unless it is asked for them.
    pub fn suppressed(&self) -> bool {
        self.analysis.as_ref().is_some_and(|a| a.suppressed)
    }
}

/// A user's analysis of a vulnerability in a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    pub state: AnalysisState,
    pub justification: AnalysisJustification,
    pub response: AnalysisResponse,
    pub details: Option<String>,
    pub suppressed: bool,
    /// The audit trail, oldest first.
    pub comments: Vec<AnalysisComment>,
}

/// One entry of an analysis' audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisComment {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub comment: String,
    pub commenter: Option<String>,
}

/// An enum value as Dependency-Track writes it (`NOT_SET`).
pub(crate) fn enum_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}
