//! The rules by which Dependency-Track's API changes what it keeps (see `model`):
//! projects with tags, activity, latest flag and parent; BOM uploads processed after a
//! delay, then analysed for vulnerabilities; tags; policies with conditions; findings
//! and analyses (see `vulns`). No HTTP here: the routes translate requests into these
//! calls, and the rules follow what Dependency-Track 4.12–4.14 does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::bom::{self, BomComponent, ParsedBom};
use super::error::ApiError;
use super::model::{
    Analysis, CollectionLogic, Component, ConditionOperator, ConditionSubject, Counters, Finding,
    NewPolicy, NewProject, NewVulnerability, Policy, PolicyCondition, PolicyOperator, Project,
    Upload, UploadVia, ViolationState, VulnSource,
};
use super::options::{Permission, Release};
use super::vulns::{AnalysisDecision, Vulnerability, Vulns};

/// Which project a BOM upload is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UploadTarget {
    /// `project`: an existing project's UUID (wins over the name).
    Uuid(Uuid),
    /// `projectName` + `projectVersion`, optionally created.
    Name {
        name: String,
        version: String,
        auto_create: bool,
        parent: Option<ParentSelector>,
        is_latest: bool,
    },
}

/// The parent of an auto-created project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParentSelector {
    Uuid(Uuid),
    Name {
        name: String,
        version: Option<String>,
    },
}

/// Fields of a project PATCH or POST body; `None` means absent from the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProjectChanges {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) classifier: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) purl: Option<String>,
    pub(crate) active: Option<bool>,
    pub(crate) is_latest: Option<bool>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) parent: Option<Uuid>,
    pub(crate) collection_logic: Option<CollectionLogic>,
}

/// Filters of the project lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProjectFilter {
    /// Exact name.
    pub(crate) name: Option<String>,
    pub(crate) tag: Option<String>,
    /// Case-insensitive substring of the name (`searchText`).
    pub(crate) search: Option<String>,
    pub(crate) exclude_inactive: bool,
    pub(crate) only_root: bool,
}

/// The fields `PUT` and `POST /api/v1/policy` set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicyFields {
    pub(crate) name: String,
    pub(crate) operator: PolicyOperator,
    pub(crate) violation_state: ViolationState,
    pub(crate) include_children: bool,
    pub(crate) only_latest_project_version: bool,
}

/// The fields of a policy condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConditionFields {
    pub(crate) subject: ConditionSubject,
    pub(crate) operator: ConditionOperator,
    pub(crate) value: String,
}

/// An upload whose token still reads `processing: true`: its BOM waits for the
/// processing delay, then the vulnerability analysis that Dependency-Track chains to it
/// (under the same token) waits for the analysis delay.
struct Pending {
    upload: usize,
    /// `None` once the BOM is applied.
    bom: Option<Step>,
    analysis: Step,
}

/// When a step of an upload is due, on both clocks.
#[derive(Clone, Copy, Debug)]
struct Step {
    at: Instant,
    wall: SystemTime,
}

impl Pending {
    fn next_step(&self) -> Step {
        self.bom.unwrap_or(self.analysis)
    }
}

/// What makes two components the same one across BOMs of a project: group, name,
/// version and purl (Dependency-Track also compares CPE and SWID tag, which this server
/// does not keep).
type Identity = (Option<String>, String, Option<String>, Option<String>);

fn identity(
    group: &Option<String>,
    name: &str,
    version: &Option<String>,
    purl: &Option<String>,
) -> Identity {
    (
        group.clone(),
        name.to_string(),
        version.clone(),
        purl.clone(),
    )
}

/// Longest policy condition value Dependency-Track stores.
const MAX_CONDITION_VALUE_CHARS: usize = 255;

/// Everything the server holds.
pub(crate) struct State {
    projects: BTreeMap<Uuid, Project>,
    tags: BTreeSet<String>,
    policies: BTreeMap<Uuid, Policy>,
    /// Licence groups: UUID → name.
    license_groups: BTreeMap<Uuid, String>,
    uploads: Vec<Upload>,
    pending: Vec<Pending>,
    counters: Counters,
    processing_delay: Duration,
    analysis_delay: Duration,
    vulns: Vulns,
}

impl State {
    pub(crate) fn new(processing_delay: Duration, analysis_delay: Duration) -> State {
        State {
            projects: BTreeMap::new(),
            tags: BTreeSet::new(),
            policies: BTreeMap::new(),
            license_groups: BTreeMap::new(),
            uploads: Vec::new(),
            pending: Vec::new(),
            counters: Counters::default(),
            processing_delay,
            analysis_delay,
            vulns: Vulns::default(),
        }
    }

    pub(crate) fn set_processing_delay(&mut self, delay: Duration) {
        self.processing_delay = delay;
    }

    pub(crate) fn set_analysis_delay(&mut self, delay: Duration) {
        self.analysis_delay = delay;
    }

    /// Runs every step of the pending uploads that is due by `now`, in time order: a
    /// later upload's BOM may land before an earlier upload's analysis.
    pub(crate) fn settle(&mut self, now: Instant) {
        while let Some(index) = self.next_due(now) {
            let Some(pending) = self.pending.get_mut(index) else {
                break;
            };
            let upload = pending.upload;
            match pending.bom.take() {
                Some(step) => self.apply_bom(upload, step.wall),
                None => {
                    let pending = self.pending.remove(index);
                    self.finish_analysis(upload, pending.analysis.wall);
                }
            }
        }
    }

    /// The pending upload whose next step is the earliest one due by `now`.
    fn next_due(&self, now: Instant) -> Option<usize> {
        self.pending
            .iter()
            .enumerate()
            .map(|(index, pending)| (pending.next_step().at, index))
            .filter(|(at, _)| *at <= now)
            .min()
            .map(|(_, index)| index)
    }

    /// Processing done: the BOM's components replace the project's. A component that
    /// was already there (same identity) keeps its UUID, findings and analyses; the
    /// others are deleted with theirs. Duplicates within the BOM count once.
    fn apply_bom(&mut self, upload: usize, wall: SystemTime) {
        let Some(upload) = self.uploads.get_mut(upload) else {
            return;
        };
        upload.processed_at = Some(wall);
        let document = Arc::clone(&upload.bom);
        let format = format!("CycloneDX {}", upload.spec_version);
        let Some(project) = self.projects.get_mut(&upload.project) else {
            return;
        };
        let (components, removed) = reconcile(&project.components, bom::components(&document));
        project.components = components;
        project.bom = Some(document);
        project.last_bom_import = Some(epoch_millis(wall));
        project.last_bom_import_format = Some(format);
        self.vulns.forget_components(project.uuid, &removed);
    }

    /// The analysis chained to an upload ran: findings attached, token done.
    fn finish_analysis(&mut self, upload: usize, wall: SystemTime) {
        let Some(upload) = self.uploads.get_mut(upload) else {
            return;
        };
        upload.analyzed_at = Some(wall);
        if let Some(project) = self.projects.get(&upload.project) {
            self.vulns
                .analyze(project.uuid, &project.components, epoch_millis(wall));
        }
    }

    /// Forgets every pending step, as a Dependency-Track restart does with its
    /// in-memory queue: unprocessed BOMs are lost, and so are the analyses of processed
    /// ones; their tokens become unknown.
    pub(crate) fn lose_pending(&mut self) {
        for pending in self.pending.drain(..) {
            if let Some(upload) = self.uploads.get_mut(pending.upload) {
                upload.lost = pending.bom.is_some();
            }
        }
    }

    pub(crate) fn is_processing(&self, token: Uuid) -> bool {
        self.pending.iter().any(|p| {
            self.uploads
                .get(p.upload)
                .is_some_and(|upload| upload.token == token)
        })
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    pub(crate) fn uploads(&self) -> &[Upload] {
        &self.uploads
    }

    pub(crate) fn tags(&self) -> &BTreeSet<String> {
        &self.tags
    }

    // ---- projects ----

    pub(crate) fn project(&self, uuid: Uuid) -> Option<&Project> {
        self.projects.get(&uuid)
    }

    /// The project called `name` with `version` (both compared exactly).
    pub(crate) fn project_named(&self, name: &str, version: Option<&str>) -> Option<&Project> {
        self.projects
            .values()
            .find(|p| p.name == name && p.version.as_deref() == version)
    }

    /// Projects matching `filter`, ordered by name then version.
    pub(crate) fn projects(&self, filter: &ProjectFilter) -> Vec<&Project> {
        let search = filter.search.as_ref().map(|s| s.to_lowercase());
        let tag = filter.tag.as_deref().and_then(normalize_tag);
        let mut projects: Vec<&Project> = self
            .projects
            .values()
            .filter(|p| filter.name.as_ref().is_none_or(|name| &p.name == name))
            .filter(|p| tag.as_ref().is_none_or(|tag| p.tags.contains(tag)))
            .filter(|p| {
                search
                    .as_ref()
                    .is_none_or(|s| p.name.to_lowercase().contains(s))
            })
            .filter(|p| !filter.exclude_inactive || p.active)
            .filter(|p| !filter.only_root || p.parent.is_none())
            .collect();
        projects.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        projects
    }

    /// The part of a BOM upload that happens before the BOM is read: find (or create)
    /// the project and apply `projectTags`. Like Dependency-Track, an auto-created
    /// project stays even if its BOM then turns out to be invalid.
    pub(crate) fn resolve_upload(
        &mut self,
        target: &UploadTarget,
        tags: Option<&[String]>,
        permissions: &BTreeSet<Permission>,
        release: Release,
    ) -> Result<Uuid, ApiError> {
        let manages_portfolio = permissions.contains(&Permission::PortfolioManagement);
        let uuid = match target {
            UploadTarget::Uuid(uuid) => self
                .projects
                .get(uuid)
                .map(|p| p.uuid)
                .ok_or_else(|| ApiError::not_found("The project could not be found."))?,
            UploadTarget::Name {
                name,
                version,
                auto_create,
                parent,
                is_latest,
            } => {
                if let Some(existing) = self.project_named(name, Some(version)) {
                    if existing.collection_logic != CollectionLogic::None {
                        return Err(ApiError::bad_request(
                            "BOM cannot be uploaded to a collection project.",
                        ));
                    }
                    existing.uuid
                } else if !auto_create {
                    return Err(ApiError::not_found("The project could not be found."));
                } else {
                    if !manages_portfolio
                        && !permissions.contains(&Permission::ProjectCreationUpload)
                    {
                        return Err(ApiError::unauthorized_because(
                            "The principal does not have permission to create project.",
                        ));
                    }
                    let parent = match parent {
                        None => None,
                        Some(selector) => Some(self.find_parent(selector).ok_or_else(|| {
                            ApiError::not_found("The parent component could not be found.")
                        })?),
                    };
                    // Tags given here are the new project's tags (every version since 4.12.0).
                    let uuid = self.insert_project(NewProject {
                        name: name.clone(),
                        version: Some(version.clone()),
                        tags: tags.map(<[String]>::to_vec).unwrap_or_default(),
                        active: true,
                        is_latest: *is_latest,
                        parent,
                        collection_logic: CollectionLogic::None,
                    });
                    self.counters.projects_created += 1;
                    return Ok(uuid);
                }
            }
        };
        // Since 4.12.7 `projectTags` replace an existing project's tags, silently skipped
        // without PORTFOLIO_MANAGEMENT; before, they only apply to a project created.
        if let Some(tags) = tags.filter(|_| {
            release
                >= Release {
                    minor: 12,
                    patch: 7,
                }
        }) {
            if manages_portfolio {
                let tags = self.intern_tags(tags);
                if let Some(project) = self.projects.get_mut(&uuid) {
                    project.tags = tags;
                }
            }
        }
        Ok(uuid)
    }

    /// Queues an accepted BOM for `project`; returns its token.
    pub(crate) fn enqueue_upload(
        &mut self,
        project: Uuid,
        bom: ParsedBom,
        via: UploadVia,
        now: Instant,
        wall: SystemTime,
    ) -> Uuid {
        let overlapped = self.pending.iter().any(|p| {
            self.uploads
                .get(p.upload)
                .is_some_and(|upload| upload.project == project)
        });
        let token = Uuid::new_v4();
        self.uploads.push(Upload {
            token,
            project,
            via,
            bom_sha256: bom.sha256,
            spec_version: bom.spec_version,
            bom: bom.document,
            received_at: wall,
            processed_at: None,
            analyzed_at: None,
            overlapped,
            lost: false,
        });
        let analysis_delay = self.processing_delay + self.analysis_delay;
        self.pending.push(Pending {
            upload: self.uploads.len() - 1,
            bom: Some(Step {
                at: now + self.processing_delay,
                wall: wall + self.processing_delay,
            }),
            analysis: Step {
                at: now + analysis_delay,
                wall: wall + analysis_delay,
            },
        });
        token
    }

    /// `PATCH /api/v1/project/{uuid}`: `Ok(None)` when nothing changed (304).
    ///
    /// Mirrors Dependency-Track's pitfall: `active` and `isLatest` are primitive booleans
    /// there, so an absent `active` means `true` and an absent `isLatest` means `false`.
    pub(crate) fn patch_project(
        &mut self,
        uuid: Uuid,
        changes: ProjectChanges,
    ) -> Result<Option<Project>, ApiError> {
        let current = self
            .projects
            .get(&uuid)
            .ok_or_else(|| ApiError::not_found("The project could not be found."))?;
        let mut next = current.clone();
        let mut modified = false;
        modified |= set_if_given(&mut next.name, changes.name);
        if let Some(version) = changes.version {
            modified |= set_if_different(&mut next.version, Some(version));
        }
        if modified {
            self.check_name_free(uuid, &next.name, next.version.as_deref())?;
        }
        modified |= set_if_some(&mut next.classifier, changes.classifier);
        modified |= set_if_some(&mut next.description, changes.description);
        modified |= set_if_some(&mut next.group, changes.group);
        modified |= set_if_some(&mut next.purl, changes.purl);
        modified |= set_if_different(&mut next.active, changes.active.unwrap_or(true));
        modified |= set_if_different(&mut next.is_latest, changes.is_latest.unwrap_or(false));
        if let Some(parent) = changes.parent {
            self.check_parent(uuid, parent)?;
            modified |= set_if_different(&mut next.parent, Some(parent));
        }
        if let Some(tags) = &changes.tags {
            let tags = normalize_tags(tags);
            modified |= set_if_different(&mut next.tags, tags);
        }
        if let Some(logic) = changes.collection_logic {
            modified |= set_if_different(&mut next.collection_logic, logic);
        }
        if !modified {
            return Ok(None);
        }
        self.store_update(next).map(Some)
    }

    /// `POST /api/v1/project`: replaces the whole project named by `uuid`; everything
    /// absent from the body is cleared (tags, parent) or defaulted (`active` true,
    /// `isLatest` false).
    pub(crate) fn replace_project(
        &mut self,
        uuid: Option<Uuid>,
        changes: ProjectChanges,
    ) -> Result<Project, ApiError> {
        let current = uuid
            .and_then(|uuid| self.projects.get(&uuid))
            .ok_or_else(|| ApiError::not_found("The UUID of the project could not be found."))?;
        let uuid = current.uuid;
        let name = changes
            .name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("name: must not be blank"))?;
        self.check_name_free(uuid, &name, changes.version.as_deref())?;
        if let Some(parent) = changes.parent {
            self.check_parent(uuid, parent)?;
        }
        let next = Project {
            name,
            version: changes.version,
            classifier: changes.classifier,
            description: changes.description,
            group: changes.group,
            purl: changes.purl,
            tags: normalize_tags(changes.tags.as_deref().unwrap_or_default()),
            active: changes.active.unwrap_or(true),
            is_latest: changes.is_latest.unwrap_or(false),
            parent: changes.parent,
            collection_logic: changes.collection_logic.unwrap_or_default(),
            ..current.clone()
        };
        self.store_update(next)
    }

    /// `PUT /api/v1/project`: 409 when the name and version are taken.
    pub(crate) fn create_project(&mut self, changes: ProjectChanges) -> Result<Uuid, ApiError> {
        let name = changes
            .name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ApiError::bad_request("name: must not be null"))?
            .to_string();
        let version = changes
            .version
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from);
        if self.project_named(&name, version.as_deref()).is_some() {
            return Err(ApiError::conflict(
                "A project with the specified name and version already exists.",
            ));
        }
        if let Some(parent) = changes.parent {
            if !self.projects.contains_key(&parent) {
                return Err(ApiError::not_found(
                    "The parent project could not be found.",
                ));
            }
        }
        let uuid = self.insert_project(NewProject {
            name,
            version,
            tags: changes.tags.unwrap_or_default(),
            active: changes.active.unwrap_or(true),
            is_latest: changes.is_latest.unwrap_or(false),
            parent: changes.parent,
            collection_logic: changes.collection_logic.unwrap_or_default(),
        });
        self.counters.projects_created += 1;
        Ok(uuid)
    }

    /// Puts site data in without going through the API (not counted).
    pub(crate) fn seed_project(&mut self, seed: NewProject) -> Result<Uuid, ApiError> {
        if let Some(parent) = seed.parent {
            if !self.projects.contains_key(&parent) {
                return Err(ApiError::not_found(format!("no parent project {parent}")));
            }
        }
        if self
            .project_named(&seed.name, seed.version.as_deref())
            .is_some()
        {
            return Err(ApiError::conflict(
                "A project with the specified name already exists.",
            ));
        }
        Ok(self.insert_project(seed))
    }

    fn insert_project(&mut self, seed: NewProject) -> Uuid {
        let uuid = Uuid::new_v4();
        let tags = self.intern_tags(&seed.tags);
        if seed.is_latest {
            self.clear_latest(&seed.name);
        }
        self.projects.insert(
            uuid,
            Project {
                uuid,
                name: seed.name,
                version: seed.version,
                classifier: None,
                description: None,
                group: None,
                purl: None,
                tags,
                active: seed.active,
                is_latest: seed.is_latest,
                parent: seed.parent,
                collection_logic: seed.collection_logic,
                last_bom_import: None,
                last_bom_import_format: None,
                components: Vec::new(),
                bom: None,
            },
        );
        uuid
    }

    /// Validates and stores a changed project (shared by PATCH and POST).
    fn store_update(&mut self, next: Project) -> Result<Project, ApiError> {
        if !next.active && self.has_active_children(next.uuid) {
            return Err(ApiError::conflict(
                "Project cannot be set to inactive if active children are present.",
            ));
        }
        for tag in &next.tags {
            self.tags.insert(tag.clone());
        }
        if next.is_latest {
            self.clear_latest(&next.name);
        }
        self.projects.insert(next.uuid, next.clone());
        self.counters.projects_updated += 1;
        Ok(next)
    }

    fn check_name_free(
        &self,
        uuid: Uuid,
        name: &str,
        version: Option<&str>,
    ) -> Result<(), ApiError> {
        match self.project_named(name, version) {
            Some(other) if other.uuid != uuid => Err(ApiError::conflict(
                "A project with the specified name already exists.",
            )),
            _ => Ok(()),
        }
    }

    fn check_parent(&self, uuid: Uuid, parent: Uuid) -> Result<(), ApiError> {
        let candidate = self.projects.get(&parent).ok_or_else(|| {
            ApiError::not_found("The UUID of the parent project could not be found.")
        })?;
        if parent == uuid {
            return Err(ApiError::conflict(
                "A project cannot select itself as a parent",
            ));
        }
        if !candidate.active {
            return Err(ApiError::conflict(
                "An inactive Parent cannot be selected as parent",
            ));
        }
        // Walking up from the candidate must not reach the project (no cycles); the walk
        // is bounded by the number of projects.
        let mut ancestor = candidate.parent;
        for _ in 0..self.projects.len() {
            match ancestor {
                Some(a) if a == uuid => {
                    return Err(ApiError::conflict(
                        "The new parent project cannot be a child of the current project.",
                    ))
                }
                Some(a) => ancestor = self.projects.get(&a).and_then(|p| p.parent),
                None => break,
            }
        }
        Ok(())
    }

    fn find_parent(&self, selector: &ParentSelector) -> Option<Uuid> {
        match selector {
            ParentSelector::Uuid(uuid) => self.projects.get(uuid).map(|p| p.uuid),
            ParentSelector::Name { name, version } => {
                self.project_named(name, version.as_deref()).map(|p| p.uuid)
            }
        }
    }

    fn has_active_children(&self, uuid: Uuid) -> bool {
        self.projects
            .values()
            .any(|p| p.parent == Some(uuid) && p.active)
    }

    /// Only one version of a project name is the latest.
    fn clear_latest(&mut self, name: &str) {
        for project in self.projects.values_mut() {
            if project.name == name {
                project.is_latest = false;
            }
        }
    }

    // ---- tags ----

    /// Normalizes `names` and makes sure each exists; returns the normalized set.
    fn intern_tags(&mut self, names: &[String]) -> BTreeSet<String> {
        let tags = normalize_tags(names);
        self.tags.extend(tags.iter().cloned());
        tags
    }

    /// `PUT /api/v1/tag`: creating an existing tag is not an error.
    pub(crate) fn create_tags(&mut self, names: &[String]) {
        self.intern_tags(names);
    }

    /// `POST /api/v1/tag/{name}/project`: adds the tag, keeping the others; unknown
    /// project UUIDs are skipped.
    pub(crate) fn tag_projects(&mut self, tag: &str, projects: &[Uuid]) -> Result<(), ApiError> {
        let tag = self.existing_tag(tag)?;
        for uuid in projects {
            if let Some(project) = self.projects.get_mut(uuid) {
                project.tags.insert(tag.clone());
            }
        }
        Ok(())
    }

    /// `DELETE /api/v1/tag/{name}/project`.
    pub(crate) fn untag_projects(&mut self, tag: &str, projects: &[Uuid]) -> Result<(), ApiError> {
        let tag = self.existing_tag(tag)?;
        for uuid in projects {
            if let Some(project) = self.projects.get_mut(uuid) {
                project.tags.remove(&tag);
            }
        }
        Ok(())
    }

    /// `POST /api/v1/tag/{name}/policy`.
    pub(crate) fn tag_policies(&mut self, tag: &str, policies: &[Uuid]) -> Result<(), ApiError> {
        let tag = self.existing_tag(tag)?;
        for uuid in policies {
            if let Some(policy) = self.policies.get_mut(uuid) {
                policy.tags.insert(tag.clone());
            }
        }
        Ok(())
    }

    fn existing_tag(&self, name: &str) -> Result<String, ApiError> {
        normalize_tag(name)
            .filter(|tag| self.tags.contains(tag))
            .ok_or_else(|| ApiError::tag_not_found(name))
    }

    // ---- policies ----

    pub(crate) fn policy(&self, uuid: Uuid) -> Option<&Policy> {
        self.policies.get(&uuid)
    }

    /// Policies whose name contains `search` (case-insensitive), ordered by name.
    pub(crate) fn policies(&self, search: Option<&str>) -> Vec<&Policy> {
        let search = search.map(str::to_lowercase);
        let mut policies: Vec<&Policy> = self
            .policies
            .values()
            .filter(|p| {
                search
                    .as_ref()
                    .is_none_or(|s| p.name.to_lowercase().contains(s))
            })
            .collect();
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        policies
    }

    /// Adds a licence group (as an administrator would in DT's UI); returns its UUID.
    pub(crate) fn seed_license_group(&mut self, name: &str) -> Uuid {
        let uuid = Uuid::new_v4();
        self.license_groups.insert(uuid, name.to_string());
        uuid
    }

    /// `GET /api/v1/licenseGroup`: every group, ordered by name.
    pub(crate) fn license_groups(&self) -> Vec<(Uuid, &str)> {
        let mut groups: Vec<(Uuid, &str)> = self
            .license_groups
            .iter()
            .map(|(uuid, name)| (*uuid, name.as_str()))
            .collect();
        groups.sort_by(|a, b| a.1.cmp(b.1));
        groups
    }

    /// `PUT /api/v1/policy`. Conditions, projects and tags in the body are ignored, as
    /// by Dependency-Track: they have their own endpoints.
    pub(crate) fn create_policy(&mut self, fields: PolicyFields) -> Result<Policy, ApiError> {
        let policy = self.insert_policy(fields)?;
        self.counters.policies_created += 1;
        Ok(policy)
    }

    fn insert_policy(&mut self, fields: PolicyFields) -> Result<Policy, ApiError> {
        let name = fields.name.trim().to_string();
        if self.policies.values().any(|p| p.name == name) {
            return Err(ApiError::conflict(
                "A policy with the specified name already exists.",
            ));
        }
        let uuid = Uuid::new_v4();
        let policy = Policy {
            uuid,
            name,
            operator: fields.operator,
            violation_state: fields.violation_state,
            include_children: false,
            only_latest_project_version: fields.only_latest_project_version,
            conditions: Vec::new(),
            tags: BTreeSet::new(),
        };
        self.policies.insert(uuid, policy.clone());
        Ok(policy)
    }

    /// `POST /api/v1/policy`: sets the scalar fields from the body.
    pub(crate) fn update_policy(
        &mut self,
        uuid: Option<Uuid>,
        fields: PolicyFields,
    ) -> Result<Policy, ApiError> {
        let policy = uuid
            .and_then(|uuid| self.policies.get_mut(&uuid))
            .ok_or_else(|| ApiError::not_found("The policy could not be found."))?;
        policy.name = fields.name.trim().to_string();
        policy.operator = fields.operator;
        policy.violation_state = fields.violation_state;
        policy.include_children = fields.include_children;
        policy.only_latest_project_version = fields.only_latest_project_version;
        let policy = policy.clone();
        self.counters.policies_updated += 1;
        Ok(policy)
    }

    /// `DELETE /api/v1/policy/{uuid}`.
    pub(crate) fn delete_policy(&mut self, uuid: Uuid) -> Result<(), ApiError> {
        self.policies
            .remove(&uuid)
            .ok_or_else(|| ApiError::not_found("The UUID of the policy could not be found."))?;
        self.counters.policies_deleted += 1;
        Ok(())
    }

    /// `PUT /api/v1/policy/{uuid}/condition`.
    pub(crate) fn create_condition(
        &mut self,
        policy: Uuid,
        fields: ConditionFields,
    ) -> Result<PolicyCondition, ApiError> {
        let condition = self.insert_condition(policy, fields)?;
        self.counters.conditions_created += 1;
        Ok(condition)
    }

    fn insert_condition(
        &mut self,
        policy: Uuid,
        fields: ConditionFields,
    ) -> Result<PolicyCondition, ApiError> {
        check_condition_value(&fields.value)?;
        let policy = self
            .policies
            .get_mut(&policy)
            .ok_or_else(|| ApiError::not_found("The UUID of the policy could not be found."))?;
        let condition = PolicyCondition {
            uuid: Uuid::new_v4(),
            subject: fields.subject,
            operator: fields.operator,
            value: fields.value,
        };
        policy.conditions.push(condition.clone());
        Ok(condition)
    }

    /// `POST /api/v1/policy/condition`.
    pub(crate) fn update_condition(
        &mut self,
        uuid: Option<Uuid>,
        fields: ConditionFields,
    ) -> Result<PolicyCondition, ApiError> {
        check_condition_value(&fields.value)?;
        let condition = uuid
            .and_then(|uuid| self.condition_mut(uuid))
            .ok_or_else(|| {
                ApiError::not_found("The UUID of the policy condition could not be found.")
            })?;
        condition.subject = fields.subject;
        condition.operator = fields.operator;
        condition.value = fields.value;
        let condition = condition.clone();
        self.counters.conditions_updated += 1;
        Ok(condition)
    }

    /// `DELETE /api/v1/policy/condition/{uuid}`.
    pub(crate) fn delete_condition(&mut self, uuid: Uuid) -> Result<(), ApiError> {
        for policy in self.policies.values_mut() {
            if let Some(index) = policy.conditions.iter().position(|c| c.uuid == uuid) {
                policy.conditions.remove(index);
                self.counters.conditions_deleted += 1;
                return Ok(());
            }
        }
        Err(ApiError::not_found(
            "The UUID of the policy condition could not be found.",
        ))
    }

    fn condition_mut(&mut self, uuid: Uuid) -> Option<&mut PolicyCondition> {
        self.policies
            .values_mut()
            .flat_map(|p| p.conditions.iter_mut())
            .find(|c| c.uuid == uuid)
    }

    /// Puts a policy in without going through the API (not counted).
    pub(crate) fn seed_policy(&mut self, seed: NewPolicy) -> Result<Uuid, ApiError> {
        let uuid = self
            .insert_policy(PolicyFields {
                name: seed.name,
                operator: seed.operator,
                violation_state: seed.violation_state,
                include_children: false,
                only_latest_project_version: false,
            })?
            .uuid;
        for (subject, operator, value) in seed.conditions {
            self.insert_condition(
                uuid,
                ConditionFields {
                    subject,
                    operator,
                    value,
                },
            )?;
        }
        let tags = self.intern_tags(&seed.tags);
        if let Some(policy) = self.policies.get_mut(&uuid) {
            policy.tags = tags;
        }
        Ok(uuid)
    }

    // ---- vulnerabilities, findings, analyses ----

    /// Adds a vulnerability to the database; projects get it at their next analysis.
    pub(crate) fn add_vulnerability(&mut self, spec: NewVulnerability) -> Result<Uuid, String> {
        self.vulns.add(spec)
    }

    pub(crate) fn vulnerability(&self, uuid: Uuid) -> Option<&Vulnerability> {
        self.vulns.vulnerability(uuid)
    }

    /// The vulnerability `vuln_id` of `source`.
    pub(crate) fn vulnerability_by_id(
        &self,
        source: VulnSource,
        vuln_id: &str,
    ) -> Option<&Vulnerability> {
        self.vulns
            .with_id(vuln_id)
            .into_iter()
            .find(|v| v.spec.source == source)
    }

    /// The scheduled portfolio analysis: every active project's components, at `wall`.
    pub(crate) fn reanalyze(&mut self, wall: SystemTime) {
        for project in self.projects.values().filter(|p| p.active) {
            self.vulns
                .analyze(project.uuid, &project.components, epoch_millis(wall));
        }
    }

    /// Every finding of `project`, suppressed ones included, in attribution order.
    pub(crate) fn findings(&self, project: Uuid) -> Result<Vec<Finding>, ApiError> {
        let project = self
            .projects
            .get(&project)
            .ok_or_else(|| ApiError::not_found("The project could not be found."))?;
        Ok(self.vulns.findings(project.uuid, &project.components))
    }

    /// What a user does in the UI: sets the state and suppression of the finding of
    /// `vuln_id` in the component of `project` named by `component` (its UUID, its
    /// purl or its name; it must name exactly one).
    pub(crate) fn set_analysis(
        &mut self,
        project: Uuid,
        component: &str,
        vuln_id: &str,
        decision: AnalysisDecision,
        commenter: &str,
        wall: SystemTime,
    ) -> Result<Analysis, String> {
        let project = self
            .projects
            .get(&project)
            .ok_or_else(|| format!("no project {project}"))?;
        let matching: Vec<&Component> = project
            .components
            .iter()
            .filter(|c| {
                c.uuid.to_string() == component
                    || c.purl.as_deref() == Some(component)
                    || c.name == component
            })
            .collect();
        let [found] = matching.as_slice() else {
            return Err(format!(
                "{} components of project {} are {component}; name exactly one",
                matching.len(),
                project.uuid
            ));
        };
        let vulnerabilities = self.vulns.with_id(vuln_id);
        let [vulnerability] = vulnerabilities.as_slice() else {
            return Err(format!(
                "{} vulnerabilities have the id {vuln_id}",
                vulnerabilities.len()
            ));
        };
        let (component, vulnerability) = (found.uuid, vulnerability.uuid);
        Ok(self.vulns.record_analysis(
            component,
            vulnerability,
            decision,
            Some(commenter),
            epoch_millis(wall),
        ))
    }

    /// `PUT /api/v1/analysis`: the project, the component (of any project) and the
    /// vulnerability must exist; no finding is needed.
    pub(crate) fn record_analysis(
        &mut self,
        project: Option<Uuid>,
        component: Uuid,
        vulnerability: Uuid,
        decision: AnalysisDecision,
        wall: SystemTime,
    ) -> Result<Analysis, ApiError> {
        if !project.is_some_and(|p| self.projects.contains_key(&p)) {
            return Err(ApiError::not_found("The project could not be found."));
        }
        self.check_analysis_target(component, vulnerability)?;
        let analysis = self.vulns.record_analysis(
            component,
            vulnerability,
            decision,
            None,
            epoch_millis(wall),
        );
        self.counters.analyses_recorded += 1;
        Ok(analysis)
    }

    /// `GET /api/v1/analysis`.
    pub(crate) fn analysis(
        &self,
        project: Option<Uuid>,
        component: Uuid,
        vulnerability: Uuid,
    ) -> Result<&Analysis, ApiError> {
        if project.is_some_and(|p| !self.projects.contains_key(&p)) {
            return Err(ApiError::not_found("The project could not be found."));
        }
        self.check_analysis_target(component, vulnerability)?;
        self.vulns
            .analysis(component, vulnerability)
            .ok_or_else(|| ApiError::not_found("No analysis exists."))
    }

    fn check_analysis_target(&self, component: Uuid, vulnerability: Uuid) -> Result<(), ApiError> {
        if !self
            .projects
            .values()
            .any(|p| p.components.iter().any(|c| c.uuid == component))
        {
            return Err(ApiError::not_found("The component could not be found."));
        }
        if self.vulns.vulnerability(vulnerability).is_none() {
            return Err(ApiError::not_found("The vulnerability could not be found."));
        }
        Ok(())
    }
}

/// Dependency-Track trims and lower-cases tag names; empty names are dropped.
pub(crate) fn normalize_tag(name: &str) -> Option<String> {
    let name = name.trim().to_lowercase();
    (!name.is_empty()).then_some(name)
}

fn normalize_tags(names: &[String]) -> BTreeSet<String> {
    names.iter().filter_map(|n| normalize_tag(n)).collect()
}

fn check_condition_value(value: &str) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_CONDITION_VALUE_CHARS {
        return Err(ApiError::bad_request(format!(
            "value: size must be between 1 and {MAX_CONDITION_VALUE_CHARS}"
        )));
    }
    Ok(())
}

/// The components of a new BOM for a project that has `current`, and the UUIDs of the
/// current ones it no longer has.
fn reconcile(current: &[Component], bom: Vec<BomComponent>) -> (Vec<Component>, BTreeSet<Uuid>) {
    let mut unclaimed: HashMap<Identity, Uuid> = current
        .iter()
        .map(|c| (identity(&c.group, &c.name, &c.version, &c.purl), c.uuid))
        .collect();
    let mut seen = HashSet::new();
    let mut components = Vec::new();
    for c in bom {
        let key = identity(&c.group, &c.name, &c.version, &c.purl);
        if !seen.insert(key.clone()) {
            continue;
        }
        let uuid = unclaimed.remove(&key).unwrap_or_else(Uuid::new_v4);
        components.push(Component {
            uuid,
            name: c.name,
            version: c.version,
            group: c.group,
            purl: c.purl,
        });
    }
    (components, unclaimed.into_values().collect())
}

fn set_if_different<T: PartialEq>(field: &mut T, value: T) -> bool {
    if *field == value {
        return false;
    }
    *field = value;
    true
}

fn set_if_given(field: &mut String, value: Option<String>) -> bool {
    value.is_some_and(|value| set_if_different(field, value))
}

fn set_if_some(field: &mut Option<String>, value: Option<String>) -> bool {
    value.is_some_and(|value| set_if_different(field, Some(value)))
}

fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(names: &[(&str, &str)]) -> (State, Vec<Uuid>) {
        let mut state = State::new(Duration::ZERO, Duration::ZERO);
        let uuids = names
            .iter()
            .map(|(name, version)| {
                state
                    .seed_project(NewProject::new(*name, *version))
                    .unwrap()
            })
            .collect();
        (state, uuids)
    }

    fn parsed(components: &[(&str, &str)]) -> ParsedBom {
        let components: Vec<serde_json::Value> = components
            .iter()
            .map(|(name, purl)| serde_json::json!({"type": "library", "name": name, "purl": purl}))
            .collect();
        let document = serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                                          "components": components});
        bom::parse(document.to_string().as_bytes(), false).unwrap()
    }

    #[test]
    fn steps_of_overlapping_uploads_run_in_time_order() {
        let mut state = State::new(Duration::from_millis(10), Duration::from_millis(100));
        state
            .add_vulnerability(
                NewVulnerability::new(
                    "GHSA-1",
                    crate::dtrack::model::VulnSource::Github,
                    crate::dtrack::model::Severity::High,
                )
                .affects("pkg:npm/a", ["1"])
                .affects("pkg:npm/b", ["1"]),
            )
            .unwrap();
        let project = state.seed_project(NewProject::new("app", "1")).unwrap();
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let first = state.enqueue_upload(
            project,
            parsed(&[("a", "pkg:npm/a@1")]),
            UploadVia::Json,
            t0,
            wall,
        );
        // The second BOM lands at +30 ms, before the first upload's analysis at +110 ms,
        // which therefore sees its components; its own analysis comes at +200 ms.
        state.set_processing_delay(Duration::from_millis(10));
        state.set_analysis_delay(Duration::from_millis(170));
        let second = state.enqueue_upload(
            project,
            parsed(&[("a", "pkg:npm/a@1"), ("b", "pkg:npm/b@1")]),
            UploadVia::Json,
            t0 + Duration::from_millis(20),
            wall + Duration::from_millis(20),
        );
        state.settle(t0 + Duration::from_millis(150));
        let names: Vec<String> = state
            .findings(project)
            .unwrap()
            .into_iter()
            .map(|f| f.component.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(!state.is_processing(first));
        assert!(
            state.is_processing(second),
            "its own analysis is still to come"
        );
    }

    #[test]
    fn patch_without_active_reactivates_and_without_is_latest_clears_latest() {
        let mut state = State::new(Duration::ZERO, Duration::ZERO);
        let uuid = state
            .seed_project(NewProject::new("nginx", "1.27").inactive().latest())
            .unwrap();
        let changed = state
            .patch_project(
                uuid,
                ProjectChanges {
                    description: Some("web".into()),
                    ..ProjectChanges::default()
                },
            )
            .unwrap()
            .unwrap();
        assert!(changed.active);
        assert!(!changed.is_latest);
    }

    #[test]
    fn setting_latest_clears_it_on_other_versions_of_the_name() {
        let (mut state, uuids) = state_with(&[("nginx", "1.26"), ("nginx", "1.27")]);
        for uuid in &uuids {
            state
                .patch_project(
                    *uuid,
                    ProjectChanges {
                        is_latest: Some(true),
                        ..ProjectChanges::default()
                    },
                )
                .unwrap();
        }
        let latest: Vec<_> = uuids
            .iter()
            .map(|u| state.project(*u).unwrap().is_latest)
            .collect();
        assert_eq!(latest, [false, true]);
    }

    #[test]
    fn a_project_cannot_become_its_own_grandparent() {
        let (mut state, uuids) = state_with(&[("a", "1"), ("b", "1")]);
        let changes = |parent| ProjectChanges {
            parent: Some(parent),
            ..ProjectChanges::default()
        };
        state.patch_project(uuids[1], changes(uuids[0])).unwrap();
        let err = state
            .patch_project(uuids[0], changes(uuids[1]))
            .unwrap_err();
        assert_eq!(err.status, 409);
    }

    #[test]
    fn condition_values_are_limited_to_255_characters() {
        let mut state = State::new(Duration::ZERO, Duration::ZERO);
        let policy = state
            .seed_policy(NewPolicy::new(
                "kev",
                PolicyOperator::Any,
                ViolationState::Fail,
            ))
            .unwrap();
        let condition = |value: String| ConditionFields {
            subject: ConditionSubject::VulnerabilityId,
            operator: ConditionOperator::Is,
            value,
        };
        assert!(state
            .create_condition(policy, condition("é".repeat(255)))
            .is_ok());
        for value in [String::new(), "x".repeat(256)] {
            let err = state
                .create_condition(policy, condition(value))
                .unwrap_err();
            assert_eq!(err.status, 400);
        }
    }
}
