//! Wire shapes: request bodies as Dependency-Track reads them, and answers with the field
//! names of its OpenAPI schemas (Project, Tag, Policy, PolicyCondition,
//! BomUploadResponse, IsTokenBeingProcessedResponse). All conversions between the wire
//! and [`State`] live here.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::form::FormField;
use super::model::{
    ConditionOperator, ConditionSubject, Policy, PolicyCondition, PolicyOperator, Project,
    ViolationState,
};
use super::state::{
    ConditionFields, ParentSelector, PolicyFields, ProjectChanges, State, UploadTarget,
};

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
            is_latest: self
                .is_latest
                .or(self.is_latest_project_version)
                .unwrap_or(false),
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
        }
    }

    /// Which project the upload is for (names trimmed, as Dependency-Track does), and the
    /// tags to apply.
    pub(crate) fn target(&self) -> Result<(UploadTarget, Option<Vec<String>>), ApiError> {
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
                is_latest: self.is_latest,
            }
        };
        Ok((target, self.project_tags.clone()))
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

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::bad_request(format!("{field}: Invalid UUID")))
}
