//! A Dependency-Track test server: an in-process HTTP server with Dependency-Track
//! 4.11–4.14 semantics for the operations nodebom's collector uses (BOM upload and
//! processing tokens, projects, tags, policies, the version, findings and their
//! analyses), which checks every request against Dependency-Track's own OpenAPI
//! document.
//!
//! ```no_run
//! use std::time::Duration;
//! use nodebom_e2e::dtrack::{DtOptions, DtServer, Fault, NewVulnerability, Severity, VulnSource};
//!
//! let dt = DtServer::start(DtOptions::default()).unwrap();
//! dt.add_vulnerability(
//!     NewVulnerability::new("CVE-2024-5535", VulnSource::Nvd, Severity::Critical)
//!         .affects("pkg:deb/debian/openssl", ["3.0.11-1~deb12u2"]),
//! )
//! .unwrap();
//! // Point the code under test at dt.url() with the key dt.api_key(), then:
//! dt.inject(Fault::status(503).times(2).on_path("/api/v1/bom"));
//! dt.inject(Fault::body(200, "not json").on_path("/api/v1/finding/project/"));
//! dt.down().unwrap(); // connections refused
//! dt.up().unwrap(); // same port again
//! let project = dt.project("docker.io/library/nginx", "1.27.0");
//! assert!(dt.violations().is_empty(), "{:#?}", dt.violations());
//! # let _ = project;
//! ```
//!
//! Semantics follow what Dependency-Track does, not only what its OpenAPI document says
//! (omitted PATCH booleans reset, tags lower-cased, BOMs processed after a delay, then
//! analysed for vulnerabilities under the same token; findings attached by purl like
//! its internal analyzer and kept across uploads for unchanged components). Project,
//! tag, policy and upload rules are those of 4.12–4.14 whatever
//! [`DtOptions::version`] says; the version changes `/api/version` and the findings'
//! shape. What the server does not implement (SARIF findings, the portfolio-wide
//! finding lists, on-demand analysis, CPE matching, metrics, ACLs, XML BOMs,
//! project–policy assignments) is either a 501 answer or a recorded [`Violation`],
//! never a silent success.

mod bom;
mod error;
mod faults;
mod form;
mod journal;
mod json;
mod model;
mod openapi;
mod options;
mod routes;
mod server;
mod state;
mod vulns;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Result};
use uuid::Uuid;

pub use faults::{Fault, FaultKind};
pub use journal::{RecordedRequest, Violation};
pub use model::{
    Affected, Analysis, AnalysisComment, AnalysisJustification, AnalysisResponse, AnalysisState,
    CollectionLogic, Component, ConditionOperator, ConditionSubject, Counters, Finding, NewPolicy,
    NewProject, NewVulnerability, Policy, PolicyCondition, PolicyOperator, Project, Severity,
    Upload, UploadVia, ViolationState, VulnSource,
};
pub use options::{DtOptions, Permission};

use journal::lock;
use options::Release;
use routes::{AppState, Setup};
use server::Listener;
use state::State;
use vulns::AnalysisDecision;

/// Who [`DtServer::set_analysis`] acts as: Dependency-Track's default administrator.
const UI_USER: &str = "admin";

/// A running Dependency-Track test server; stopped on drop.
pub struct DtServer {
    app: Arc<AppState>,
    listener: Listener,
    api_key: String,
}

impl DtServer {
    /// Starts a server on 127.0.0.1 at a free port. Works from sync and async tests: it
    /// runs on its own thread and runtime. Fails for a [`DtOptions::version`] outside
    /// 4.11.x–4.14.x.
    pub fn start(options: DtOptions) -> Result<DtServer> {
        let release = Release::parse(&options.version).map_err(|e| anyhow!(e))?;
        let openapi = openapi::shared()?;
        let api_key = new_key();
        let keys = HashMap::from([(api_key.clone(), options.permissions.clone())]);
        let built = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let app = Arc::new(AppState::new(
            State::new(options.processing_delay, options.analysis_delay),
            keys,
            Setup {
                openapi,
                validate_bom_schema: options.validate_bom_schema,
                release,
                about: json::about(release, &built),
            },
        ));
        let listener = Listener::start(routes::router(Arc::clone(&app)))?;
        Ok(DtServer {
            app,
            listener,
            api_key,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`; the API is under `/api/v1/…`.
    pub fn url(&self) -> String {
        format!("http://{}", self.listener.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// The key with [`DtOptions::permissions`], for the `X-Api-Key` header.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// A new key holding exactly `permissions` (to reproduce 401/403 answers).
    pub fn add_api_key(&self, permissions: impl IntoIterator<Item = Permission>) -> String {
        let key = new_key();
        lock(&self.app.keys).insert(key.clone(), permissions.into_iter().collect());
        key
    }

    /// Makes a key unknown from now on, as when it is revoked.
    pub fn revoke_api_key(&self, key: &str) {
        lock(&self.app.keys).remove(key);
    }

    /// Changes how long uploads accepted from now on stay processing.
    pub fn set_processing_delay(&self, delay: Duration) {
        self.app.state().set_processing_delay(delay);
    }

    /// Changes how long the vulnerability analysis of uploads accepted from now on takes
    /// (see [`DtOptions::analysis_delay`]).
    pub fn set_analysis_delay(&self, delay: Duration) {
        self.app.state().set_analysis_delay(delay);
    }

    // ---- vulnerabilities and findings ----

    /// Adds a vulnerability to the server's database, as a mirror update would: the
    /// analysis after each later upload attaches it, and so does [`DtServer::reanalyze`]
    /// for projects already there. Returns its UUID. Fails for an id already known for
    /// that source, or an affected purl that is not `pkg:type/namespace/name`.
    pub fn add_vulnerability(&self, vulnerability: NewVulnerability) -> Result<Uuid> {
        self.app
            .state()
            .add_vulnerability(vulnerability)
            .map_err(|e| anyhow!("adding a vulnerability: {e}"))
    }

    /// Runs the scheduled portfolio analysis now: every active project's components
    /// get the findings the database has for them (existing ones are kept as they are).
    pub fn reanalyze(&self) {
        self.app.state().reanalyze(SystemTime::now());
    }

    /// The findings of `project` as the server holds them, suppressed ones included, in
    /// the order the list answers them; empty for an unknown project.
    pub fn findings(&self, project: Uuid) -> Vec<Finding> {
        self.app.state().findings(project).unwrap_or_default()
    }

    /// Every request for the findings of `project`, faulted ones included, in order.
    pub fn findings_requests(&self, project: Uuid) -> Vec<RecordedRequest> {
        let path = format!("/api/v1/finding/project/{project}");
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .collect()
    }

    /// Acts as a user in Dependency-Track's UI: records `state` and `suppressed` for
    /// the vulnerability `vuln_id` in the component of `project` that `component`
    /// names (its UUID, its exact purl or its name; it must name exactly one), leaving
    /// the justification and vendor response NOT_SET. Not counted. A finding is not
    /// needed, as in Dependency-Track.
    pub fn set_analysis(
        &self,
        project: Uuid,
        component: &str,
        vuln_id: &str,
        state: AnalysisState,
        suppressed: bool,
    ) -> Result<Analysis> {
        self.app
            .state()
            .set_analysis(
                project,
                component,
                vuln_id,
                AnalysisDecision::of(state, suppressed),
                UI_USER,
                SystemTime::now(),
            )
            .map_err(|e| anyhow!("recording an analysis: {e}"))
    }

    // ---- faults and availability ----

    /// Queues a fault; a request takes the first queued fault that matches it.
    pub fn inject(&self, fault: Fault) {
        lock(&self.app.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.app.faults).clear();
    }

    /// How many requests the queued faults will still hit.
    pub fn faults_remaining(&self) -> usize {
        lock(&self.app.faults).remaining()
    }

    /// Takes the server off the network: open connections are closed and new ones are
    /// refused. State is kept.
    pub fn down(&self) -> Result<()> {
        self.listener.down()
    }

    /// Listens again on the same port.
    pub fn up(&self) -> Result<()> {
        self.listener.up()
    }

    /// A Dependency-Track restart: down, pending work and its tokens lost, up again.
    /// Tokens then read `processing: false`; an unprocessed BOM is gone
    /// (`lastBomImport` does not change) and so is the analysis of a processed one (no
    /// findings for its new components until [`DtServer::reanalyze`]).
    pub fn restart(&self) -> Result<()> {
        self.down()?;
        self.app.state().lose_pending();
        self.up()
    }

    // ---- inspection ----

    /// The project `name` / `version`, as it is now (due uploads applied).
    pub fn project(&self, name: &str, version: &str) -> Option<Project> {
        self.app.state().project_named(name, Some(version)).cloned()
    }

    pub fn project_by_uuid(&self, uuid: Uuid) -> Option<Project> {
        self.app.state().project(uuid).cloned()
    }

    /// Every project, ordered by name then version.
    pub fn projects(&self) -> Vec<Project> {
        self.app
            .state()
            .projects(&state::ProjectFilter::default())
            .into_iter()
            .cloned()
            .collect()
    }

    /// Every tag name that exists.
    pub fn tags(&self) -> BTreeSet<String> {
        self.app.state().tags().clone()
    }

    /// Every accepted upload, in arrival order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.app.state().uploads().to_vec()
    }

    /// The accepted uploads to one project, in arrival order.
    pub fn uploads_to(&self, project: Uuid) -> Vec<Upload> {
        self.app
            .state()
            .uploads()
            .iter()
            .filter(|u| u.project == project)
            .cloned()
            .collect()
    }

    /// Uploads whose token still reads `processing: true`.
    pub fn pending_uploads(&self) -> usize {
        self.app.state().pending_count()
    }

    /// Every policy, ordered by name.
    pub fn policies(&self) -> Vec<Policy> {
        self.app
            .state()
            .policies(None)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The policy called exactly `name`.
    pub fn policy(&self, name: &str) -> Option<Policy> {
        self.app
            .state()
            .policies(Some(name))
            .into_iter()
            .find(|p| p.name == name)
            .cloned()
    }

    /// What the API has changed so far.
    pub fn counters(&self) -> Counters {
        self.app.state().counters()
    }

    /// Every answered request, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.journal.requests()
    }

    /// Every departure from Dependency-Track's API seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.app.journal.violations()
    }

    /// Panics with the list of violations, if there are any.
    pub fn assert_conformant(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "requests outside Dependency-Track's API:\n{}",
            violations
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // ---- seeding ----

    /// Creates a project directly (not counted, no request recorded).
    pub fn seed_project(&self, project: NewProject) -> Result<Uuid> {
        self.app
            .state()
            .seed_project(project)
            .map_err(|e| anyhow!("seeding a project: {e:?}"))
    }

    /// Adds a licence group, as an administrator would; returns its UUID.
    pub fn seed_license_group(&self, name: &str) -> Uuid {
        self.app.state().seed_license_group(name)
    }

    /// Creates a policy with its conditions and tags directly (not counted).
    pub fn seed_policy(&self, policy: NewPolicy) -> Result<Uuid> {
        self.app
            .state()
            .seed_policy(policy)
            .map_err(|e| anyhow!("seeding a policy: {e:?}"))
    }
}

/// A random key shaped like Dependency-Track's (`odt_` + 32 characters).
fn new_key() -> String {
    format!("odt_{}", Uuid::new_v4().simple())
}
