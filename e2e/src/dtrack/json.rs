//! Wire shapes: request bodies as Dependency-Track reads them, and answers with the field
//! names of its OpenAPI schemas (Project, Tag, Policy, PolicyCondition,
//! BomUploadResponse, IsTokenBeingProcessedResponse, Finding, Analysis, About). All
//! conversions between the wire and [`State`] live here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::form::FormField;
use super::model::{
    enum_name, Analysis, AnalysisJustification, AnalysisResponse, AnalysisState, CollectionLogic,
    ConditionOperator, ConditionSubject, Finding, Policy, PolicyCondition, PolicyOperator, Project,
    ViolationState, VulnSource,
};
use super::options::Release;
use super::state::{
    ConditionFields, ParentSelector, PolicyFields, ProjectChanges, State, UploadTarget,
};
use super::vulns::{AnalysisDecision, Vulnerability};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagJson {
    pub(crate) name: String,
}

/// `PUT /api/v1/bom` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BomSubmitRequest {
    project: Option<String>,
    project_name: Option<String>,
    project_version: Option<String>,
    auto_create: Option<bool>,
    #[serde(rename = "parentUUID")]
    parent_uuid: Option<String>,
    parent_name: Option<String>,
    parent_version: Option<String>,
    project_tags: Option<Vec<TagJson>>,
    is_latest: Option<bool>,
    /// The 4.12–4.13 name of `isLatest`.
    is_latest_project_version: Option<bool>,
    pub(crate) bom: Option<String>,
}

/// The project-related fields of a BOM upload, from JSON or from a form.
#[derive(Debug, Default)]
pub(crate) struct UploadFields {
    project: Option<String>,
    project_name: Option<String>,
    project_version: Option<String>,
    auto_create: bool,
    parent_uuid: Option<String>,
    parent_name: Option<String>,
    parent_version: Option<String>,
    project_tags: Option<Vec<String>>,
    is_latest: bool,
    /// The 4.12–4.13 name of `isLatest` (4.14 reads both).
    is_latest_project_version: bool,
}

impl BomSubmitRequest {
    pub(crate) fn upload_fields(&self) -> UploadFields {
        UploadFields {
            project: self.project.clone(),
            project_name: self.project_name.clone(),
            project_version: self.project_version.clone(),
            auto_create: self.auto_create.unwrap_or(false),
            parent_uuid: self.parent_uuid.clone(),
            parent_name: self.parent_name.clone(),
            parent_version: self.parent_version.clone(),
            project_tags: self
                .project_tags
                .as_ref()
                .map(|tags| tags.iter().map(|t| t.name.clone()).collect()),
            is_latest: self.is_latest.unwrap_or(false),
            is_latest_project_version: self.is_latest_project_version.unwrap_or(false),
        }
    }
}

impl UploadFields {
    /// The fields of a multipart upload; `projectTags` is a comma-separated list there.
    pub(crate) fn from_form(form: &[FormField]) -> UploadFields {
        let text = |name: &str| {
            form.iter()
                .find(|f| f.name == name && f.file_name.is_none())
                .and_then(FormField::text)
                .map(String::from)
        };
        // Java's Boolean.parseBoolean: only "true", in any case, is true.
        let flag = |name: &str| text(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        UploadFields {
            project: text("project"),
            project_name: text("projectName"),
            project_version: text("projectVersion"),
            auto_create: flag("autoCreate"),
            parent_uuid: text("parentUUID"),
            parent_name: text("parentName"),
            parent_version: text("parentVersion"),
            project_tags: text("projectTags")
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    t.split(',')
                        .map(|name| name.trim().to_string())
                        .filter(|name| !name.is_empty())
                        .collect()
                }),
            is_latest: flag("isLatest"),
            is_latest_project_version: flag("isLatestProjectVersion"),
        }
    }

    /// Which project the upload is for (names trimmed, as Dependency-Track does), and the
    /// tags to apply.
    ///
    /// What `release` does not know is ignored: `projectTags` and the latest flag came
    /// with 4.12, which called the flag `isLatestProjectVersion`; 4.14 renamed it
    /// `isLatest` and still reads the old name.
    pub(crate) fn target(
        &self,
        release: Release,
    ) -> Result<(UploadTarget, Option<Vec<String>>), ApiError> {
        let is_latest = match release.minor {
            ..=11 => false,
            12 | 13 => self.is_latest_project_version,
            _ => self.is_latest || self.is_latest_project_version,
        };
        let project_tags = self.project_tags.clone().filter(|_| release.minor >= 12);
        let trimmed = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        let target = if let Some(project) = trimmed(&self.project) {
            UploadTarget::Uuid(parse_uuid("project", &project)?)
        } else {
            let (Some(name), Some(version)) =
                (trimmed(&self.project_name), trimmed(&self.project_version))
            else {
                return Err(ApiError::bad_request(
                    "Either a project UUID, or a project name and version, must be specified",
                ));
            };
            let parent = if let Some(uuid) = trimmed(&self.parent_uuid) {
                Some(ParentSelector::Uuid(parse_uuid("parentUUID", &uuid)?))
            } else {
                trimmed(&self.parent_name).map(|name| ParentSelector::Name {
                    name,
                    version: trimmed(&self.parent_version),
                })
            };
            UploadTarget::Name {
                name,
                version,
                auto_create: self.auto_create,
                parent,
                is_latest,
            }
        };
        Ok((target, project_tags))
    }
}

/// Body of `PATCH /api/v1/project/{uuid}` and `POST /api/v1/project`. Fields the
/// collector does not use are accepted (the OpenAPI check vets them) and ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectBody {
    uuid: Option<Uuid>,
    name: Option<String>,
    version: Option<String>,
    classifier: Option<String>,
    description: Option<String>,
    group: Option<String>,
    purl: Option<String>,
    active: Option<bool>,
    is_latest: Option<bool>,
    tags: Option<Vec<TagJson>>,
    parent: Option<ProjectRef>,
    collection_logic: Option<CollectionLogic>,
}

#[derive(Debug, Deserialize)]
struct ProjectRef {
    uuid: Option<Uuid>,
}

impl ProjectBody {
    pub(crate) fn uuid(&self) -> Option<Uuid> {
        self.uuid
    }

    pub(crate) fn into_changes(self) -> ProjectChanges {
        ProjectChanges {
            name: self.name,
            version: self.version,
            classifier: self.classifier,
            description: self.description,
            group: self.group,
            purl: self.purl,
            active: self.active,
            is_latest: self.is_latest,
            tags: self
                .tags
                .map(|tags| tags.into_iter().map(|t| t.name).collect()),
            parent: self.parent.and_then(|p| p.uuid),
            collection_logic: self.collection_logic,
        }
    }
}

/// Body of `PUT` and `POST /api/v1/policy`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyBody {
    uuid: Option<Uuid>,
    name: Option<String>,
    operator: Option<PolicyOperator>,
    violation_state: Option<ViolationState>,
    include_children: Option<bool>,
    only_latest_project_version: Option<bool>,
}

impl PolicyBody {
    pub(crate) fn uuid(&self) -> Option<Uuid> {
        self.uuid
    }

    pub(crate) fn fields(&self) -> Result<PolicyFields, ApiError> {
        Ok(PolicyFields {
            name: self
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| ApiError::bad_request("name: must not be blank"))?,
            operator: self
                .operator
                .ok_or_else(|| ApiError::bad_request("operator: must not be null"))?,
            violation_state: self
                .violation_state
                .ok_or_else(|| ApiError::bad_request("violationState: must not be null"))?,
            include_children: self.include_children.unwrap_or(false),
            only_latest_project_version: self.only_latest_project_version.unwrap_or(false),
        })
    }
}

/// Body of `PUT /api/v1/policy/{uuid}/condition` and `POST /api/v1/policy/condition`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConditionBody {
    uuid: Option<Uuid>,
    subject: Option<ConditionSubject>,
    operator: Option<ConditionOperator>,
    value: Option<String>,
}

impl ConditionBody {
    pub(crate) fn uuid(&self) -> Option<Uuid> {
        self.uuid
    }

    pub(crate) fn fields(&self) -> Result<ConditionFields, ApiError> {
        Ok(ConditionFields {
            subject: self
                .subject
                .ok_or_else(|| ApiError::bad_request("subject: must not be null"))?,
            operator: self
                .operator
                .ok_or_else(|| ApiError::bad_request("operator: must not be null"))?,
            value: self
                .value
                .clone()
                .ok_or_else(|| ApiError::bad_request("value: must not be null"))?,
        })
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct BomUploadResponse {
    pub(crate) token: Uuid,
}

#[derive(Debug, Serialize)]
pub(crate) struct IsTokenBeingProcessedResponse {
    pub(crate) processing: bool,
}

/// A project as Dependency-Track 4.12+ returns it (only the fields this server keeps).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectJson {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    classifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    uuid: Uuid,
    /// Dependency-Track sends only the parent's name, version and UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<ParentJson>,
    tags: Vec<TagJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_bom_import: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_bom_import_format: Option<String>,
    active: bool,
    is_latest: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    collection_logic: Option<CollectionLogic>,
}

#[derive(Debug, Serialize)]
struct ParentJson {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    uuid: Uuid,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyJson {
    name: String,
    operator: PolicyOperator,
    violation_state: ViolationState,
    policy_conditions: Vec<ConditionJson>,
    /// Project assignments are not modelled: always empty.
    projects: Vec<ProjectJson>,
    tags: Vec<TagJson>,
    uuid: Uuid,
    include_children: bool,
    only_latest_project_version: bool,
    /// Applies to every project: no projects and no tags.
    global: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct ConditionJson {
    uuid: Uuid,
    subject: ConditionSubject,
    operator: ConditionOperator,
    value: String,
}

pub(crate) fn project(project: &Project, state: &State) -> ProjectJson {
    ProjectJson {
        name: project.name.clone(),
        version: project.version.clone(),
        classifier: project.classifier.clone(),
        description: project.description.clone(),
        group: project.group.clone(),
        purl: project.purl.clone(),
        uuid: project.uuid,
        parent: project
            .parent
            .and_then(|uuid| state.project(uuid))
            .map(|parent| ParentJson {
                name: parent.name.clone(),
                version: parent.version.clone(),
                uuid: parent.uuid,
            }),
        tags: tags(&project.tags),
        last_bom_import: project.last_bom_import,
        last_bom_import_format: project.last_bom_import_format.clone(),
        active: project.active,
        is_latest: project.is_latest,
        collection_logic: Some(project.collection_logic)
            .filter(|logic| *logic != CollectionLogic::None),
    }
}

pub(crate) fn policy(policy: &Policy) -> PolicyJson {
    PolicyJson {
        name: policy.name.clone(),
        operator: policy.operator,
        violation_state: policy.violation_state,
        policy_conditions: policy.conditions.iter().map(condition).collect(),
        projects: Vec::new(),
        tags: tags(&policy.tags),
        uuid: policy.uuid,
        include_children: policy.include_children,
        only_latest_project_version: policy.only_latest_project_version,
        global: policy.tags.is_empty(),
    }
}

/// A licence group as Dependency-Track returns it in a list (its licences left out).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LicenseGroupJson {
    uuid: Uuid,
    name: String,
    risk_weight: i32,
}

pub(crate) fn license_group(uuid: Uuid, name: &str) -> LicenseGroupJson {
    LicenseGroupJson {
        uuid,
        name: name.to_string(),
        risk_weight: 0,
    }
}

pub(crate) fn condition(condition: &PolicyCondition) -> ConditionJson {
    ConditionJson {
        uuid: condition.uuid,
        subject: condition.subject,
        operator: condition.operator,
        value: condition.value.clone(),
    }
}

fn tags<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<TagJson> {
    names
        .into_iter()
        .map(|name| TagJson { name: name.clone() })
        .collect()
}

/// Body of `PUT /api/v1/analysis`. The suppression flag is read from `isSuppressed`
/// only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalysisRequest {
    project: Option<String>,
    component: Option<String>,
    vulnerability: Option<String>,
    analysis_state: Option<AnalysisState>,
    analysis_justification: Option<AnalysisJustification>,
    analysis_response: Option<AnalysisResponse>,
    analysis_details: Option<String>,
    comment: Option<String>,
    is_suppressed: Option<bool>,
}

impl AnalysisRequest {
    /// Project, component and vulnerability UUIDs (the project is optional here; the
    /// lookup that follows wants it), written in lower case as Dependency-Track's bean
    /// validation demands.
    pub(crate) fn target(&self) -> Result<(Option<Uuid>, Uuid, Uuid), ApiError> {
        let required = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .ok_or_else(|| ApiError::bad_request(format!("{field}: must not be null")))
                .and_then(|v| lower_case_uuid(field, v))
        };
        let project = self
            .project
            .as_deref()
            .map(|p| lower_case_uuid("project", p))
            .transpose()?;
        Ok((
            project,
            required("component", &self.component)?,
            required("vulnerability", &self.vulnerability)?,
        ))
    }

    /// Absent state, justification and response mean NOT_SET, as in Dependency-Track.
    pub(crate) fn decision(&self) -> AnalysisDecision {
        let trimmed = |value: &Option<String>| value.as_deref().map(|v| v.trim().to_string());
        AnalysisDecision {
            state: self.analysis_state.unwrap_or(AnalysisState::NotSet),
            justification: self
                .analysis_justification
                .unwrap_or(AnalysisJustification::NotSet),
            response: self.analysis_response.unwrap_or(AnalysisResponse::NotSet),
            details: trimmed(&self.analysis_details),
            comment: trimmed(&self.comment),
            suppressed: self.is_suppressed,
        }
    }
}

/// Query of `GET /api/v1/analysis`.
#[derive(Debug, Deserialize)]
pub(crate) struct AnalysisQuery {
    project: Option<String>,
    component: Option<String>,
    vulnerability: Option<String>,
}

impl AnalysisQuery {
    pub(crate) fn target(&self) -> Result<(Option<Uuid>, Uuid, Uuid), ApiError> {
        AnalysisRequest {
            project: self.project.clone().filter(|p| !p.trim().is_empty()),
            component: self.component.clone(),
            vulnerability: self.vulnerability.clone(),
            analysis_state: None,
            analysis_justification: None,
            analysis_response: None,
            analysis_details: None,
            comment: None,
            is_suppressed: None,
        }
        .target()
    }
}

/// An analysis as Dependency-Track returns it; `analysisDetails` only once recorded.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalysisJson {
    analysis_state: AnalysisState,
    analysis_justification: AnalysisJustification,
    analysis_response: AnalysisResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis_details: Option<String>,
    analysis_comments: Vec<AnalysisCommentJson>,
    is_suppressed: bool,
}

#[derive(Debug, Serialize)]
struct AnalysisCommentJson {
    timestamp: i64,
    comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    commenter: Option<String>,
}

pub(crate) fn analysis(analysis: &Analysis) -> AnalysisJson {
    AnalysisJson {
        analysis_state: analysis.state,
        analysis_justification: analysis.justification,
        analysis_response: analysis.response,
        analysis_details: analysis.details.clone(),
        analysis_comments: analysis
            .comments
            .iter()
            .map(|c| AnalysisCommentJson {
                timestamp: c.timestamp,
                comment: c.comment.clone(),
                commenter: c.commenter.clone(),
            })
            .collect(),
        is_suppressed: analysis.suppressed,
    }
}

/// `GET /api/version`: Alpine's `About`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AboutJson {
    version: String,
    timestamp: String,
    uuid: Uuid,
    system_uuid: Uuid,
    application: &'static str,
    framework: FrameworkJson,
}

#[derive(Clone, Debug, Serialize)]
struct FrameworkJson {
    name: &'static str,
    version: &'static str,
    timestamp: String,
    uuid: Uuid,
}

/// What a server playing `release` built at `built` (RFC 3339) says about itself; the
/// build and system UUIDs are new for every server.
pub(crate) fn about(release: Release, built: &str) -> AboutJson {
    AboutJson {
        version: release.to_string(),
        timestamp: built.to_string(),
        uuid: Uuid::new_v4(),
        system_uuid: Uuid::new_v4(),
        application: "Dependency-Track",
        framework: FrameworkJson {
            name: "Alpine",
            version: release.framework_version(),
            timestamp: built.to_string(),
            uuid: Uuid::new_v4(),
        },
    }
}

/// A finding of `project` as `GET /api/v1/finding/project/{uuid}` lists it: only keys
/// with a value (Finding.java skips nulls), except the description and recommendation
/// that 4.11 sends as `null`; the internal analyzer leaves no alternate identifier or
/// reference URL.
pub(crate) fn finding(
    finding: &Finding,
    vulnerability: &Vulnerability,
    project: Uuid,
    release: Release,
) -> Value {
    let put = |map: &mut Map<String, Value>, key: &str, value: Option<Value>| {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    };
    let text = |value: &Option<String>| value.clone().map(Value::String);

    let c = &finding.component;
    let mut component = Map::new();
    put(&mut component, "uuid", Some(c.uuid.to_string().into()));
    put(&mut component, "name", Some(c.name.clone().into()));
    put(&mut component, "group", text(&c.group));
    put(&mut component, "version", text(&c.version));
    put(&mut component, "purl", text(&c.purl));
    put(&mut component, "project", Some(project.to_string().into()));

    let spec = &vulnerability.spec;
    let mut vuln = Map::new();
    put(
        &mut vuln,
        "uuid",
        Some(vulnerability.uuid.to_string().into()),
    );
    put(&mut vuln, "source", Some(enum_name(spec.source).into()));
    put(&mut vuln, "vulnId", Some(spec.vuln_id.clone().into()));
    put(&mut vuln, "title", text(&spec.title));
    put(&mut vuln, "recommendation", text(&spec.recommendation));
    if release.nulls_in_findings() {
        for key in ["description", "recommendation"] {
            vuln.entry(key).or_insert(Value::Null);
        }
    }
    put(
        &mut vuln,
        "cvssV3BaseScore",
        spec.cvss_v3_base_score.map(Value::from),
    );
    put(&mut vuln, "severity", Some(enum_name(spec.severity).into()));
    put(&mut vuln, "severityRank", Some(spec.severity.rank().into()));
    put(
        &mut vuln,
        "epssScore",
        spec.epss.map(|(score, _)| score.into()),
    );
    put(
        &mut vuln,
        "epssPercentile",
        spec.epss.map(|(_, percentile)| percentile.into()),
    );
    if let Some((id, name)) = spec.cwes.first() {
        // Kept by Dependency-Track for clients older than its `cwes` list.
        put(&mut vuln, "cweId", Some((*id).into()));
        put(&mut vuln, "cweName", Some(name.clone().into()));
        let cwes = spec
            .cwes
            .iter()
            .map(|(id, name)| serde_json::json!({"cweId": id, "name": name}))
            .collect();
        put(&mut vuln, "cwes", Some(Value::Array(cwes)));
    }
    put(
        &mut vuln,
        "aliases",
        Some(aliases(spec.source, &spec.vuln_id, &spec.aliases)),
    );

    let mut analysis = Map::new();
    put(
        &mut analysis,
        "state",
        finding.analysis.as_ref().map(|a| enum_name(a.state).into()),
    );
    put(
        &mut analysis,
        "isSuppressed",
        Some(finding.suppressed().into()),
    );

    let mut attribution = Map::new();
    put(
        &mut attribution,
        "analyzerIdentity",
        Some("INTERNAL_ANALYZER".into()),
    );
    put(
        &mut attribution,
        "attributedOn",
        Some(finding.attributed_on.into()),
    );

    serde_json::json!({
        "component": component,
        "vulnerability": vuln,
        "analysis": analysis,
        "attribution": attribution,
        "matrix": format!("{project}:{}:{}", c.uuid, vulnerability.uuid),
    })
}

/// A vulnerability as `GET /api/v1/vulnerability/source/{source}/vuln/{vuln}` shows
/// it: only keys with a value, `patchedVersions` among them.
pub(crate) fn vulnerability(vulnerability: &Vulnerability) -> Value {
    let spec = &vulnerability.spec;
    let mut vuln = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            vuln.insert(key.into(), value);
        }
    };
    put("uuid", Some(vulnerability.uuid.to_string().into()));
    put("vulnId", Some(spec.vuln_id.clone().into()));
    put("friendlyVulnId", Some(spec.vuln_id.clone().into()));
    put("source", Some(enum_name(spec.source).into()));
    put("title", spec.title.clone().map(Value::String));
    put(
        "recommendation",
        spec.recommendation.clone().map(Value::String),
    );
    put("severity", Some(enum_name(spec.severity).into()));
    put("cvssV3BaseScore", spec.cvss_v3_base_score.map(Value::from));
    put("epssScore", spec.epss.map(|(score, _)| score.into()));
    put(
        "epssPercentile",
        spec.epss.map(|(_, percentile)| percentile.into()),
    );
    put(
        "patchedVersions",
        spec.patched_versions.clone().map(Value::String),
    );
    put(
        "aliases",
        Some(aliases(spec.source, &spec.vuln_id, &spec.aliases)),
    );
    Value::Object(vuln)
}

/// Dependency-Track's alias records pair the vulnerability's own id (under its
/// source's key) with each alias (under the key its form implies).
fn aliases(source: VulnSource, vuln_id: &str, aliases: &[String]) -> Value {
    let own_key = match source {
        VulnSource::Nvd => Some("cveId"),
        VulnSource::Github => Some("ghsaId"),
        VulnSource::Osv => Some("osvId"),
        VulnSource::Snyk => Some("snykId"),
        VulnSource::Ossindex => Some("sonatypeId"),
        VulnSource::Vulndb => Some("vulnDbId"),
        VulnSource::Npm
        | VulnSource::Retirejs
        | VulnSource::Internal
        | VulnSource::Trivy
        | VulnSource::Unknown => None,
    };
    let records = aliases
        .iter()
        .map(|alias| {
            let mut record = Map::new();
            if let Some(key) = own_key {
                record.insert(key.into(), vuln_id.into());
            }
            record.insert(alias_key(alias).into(), alias.clone().into());
            Value::Object(record)
        })
        .collect();
    Value::Array(records)
}

fn alias_key(alias: &str) -> &'static str {
    if alias.starts_with("CVE-") {
        "cveId"
    } else if alias.starts_with("GHSA-") {
        "ghsaId"
    } else if alias.starts_with("SNYK-") {
        "snykId"
    } else if alias.starts_with("sonatype-") {
        "sonatypeId"
    } else if !alias.is_empty() && alias.bytes().all(|b| b.is_ascii_digit()) {
        "vulnDbId"
    } else {
        "osvId"
    }
}

/// Dependency-Track's `@Pattern` for UUIDs in bodies: lower-case, with hyphens.
fn lower_case_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value)
        .ok()
        .filter(|uuid| uuid.hyphenated().to_string() == value)
        .ok_or_else(|| ApiError::bad_request(format!("{field}: must be a valid 36 character UUID")))
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::bad_request(format!("{field}: Invalid UUID")))
}
