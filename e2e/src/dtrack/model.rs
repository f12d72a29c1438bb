//! What the server holds, as tests see it: projects, uploads, policies, counters, and the
//! builders that seed them.

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
    /// When the last BOM finished processing, in milliseconds since the epoch.
    pub last_bom_import: Option<i64>,
    /// E.g. `CycloneDX 1.5`.
    pub last_bom_import_format: Option<String>,
    /// The components of the last processed BOM; every upload replaces them all.
    pub components: Vec<Component>,
    /// The last processed BOM document.
    pub bom: Option<Arc<Value>>,
}

/// A component of a project's current BOM.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
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
