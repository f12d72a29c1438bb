//! A small Dependency-Track (DT) REST client: only the calls nodebom makes, with DT's
//! pitfalls handled here: a PATCH resets the booleans it omits (so `active` and the
//! current `isLatest` are sent), DT lower-cases tag names, and it answers 304 to a PATCH
//! that changes nothing.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::version::DtVersion;
use crate::metrics::Metrics;

/// How long one DT call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// BOMs larger than this go as a multipart form: DT caps the base64 JSON string at
/// 20,000,000 characters.
const MULTIPART_ABOVE: usize = 10 * 1024 * 1024;
/// Largest DT answer read (policy pages with thousands of conditions are the biggest).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Characters of an error answer kept in reports.
const MAX_ERROR_TEXT: usize = 500;
/// Longest `Retry-After` honoured, in seconds.
const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// How long a release read from DT is trusted (DT may be upgraded meanwhile).
const VERSION_TTL: Duration = Duration::from_secs(600);
/// How soon the release is asked again when DT did not tell it.
const VERSION_RETRY: Duration = Duration::from_secs(60);
/// Policies (and licence groups) read per page.
const POLICY_PAGE: usize = 100;
/// Most licence groups read.
const MAX_LICENSE_GROUPS: usize = 10_000;

/// Why a DT call failed.
#[derive(Debug, thiserror::Error)]
pub enum DtError {
    /// DT could not be reached or answered 5xx/429/408: worth retrying.
    #[error("Dependency-Track unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// How long DT asked to wait (`Retry-After` in seconds).
        retry_after: Option<Duration>,
    },
    /// DT refused the request (400, 401, 403, 404, 409…): retrying does not help.
    #[error("Dependency-Track answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// DT's message, shortened.
        message: String,
    },
    /// The request could not be made or its answer not understood; retrying does not
    /// help.
    #[error("{0}")]
    Invalid(String),
}

impl DtError {
    /// How the outbox worker treats it, for the metrics: `retry` (DT unavailable),
    /// `refused` (for good) or `error` (an answer the collector cannot use).
    pub fn outcome(&self) -> &'static str {
        match self {
            DtError::Unavailable { .. } => "retry",
            DtError::Refused { .. } => "refused",
            DtError::Invalid(_) => "error",
        }
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, DtError::Unavailable { .. })
    }

    /// How long DT asked to wait before the next try.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DtError::Unavailable { retry_after, .. } => *retry_after,
            DtError::Refused { .. } | DtError::Invalid(_) => None,
        }
    }

    fn unreachable(err: &reqwest::Error) -> Self {
        DtError::Unavailable {
            message: error_chain(err),
            retry_after: None,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            DtError::Refused { status, .. } => Some(*status),
            DtError::Unavailable { .. } | DtError::Invalid(_) => None,
        }
    }
}

type DtResult<T> = Result<T, DtError>;

/// A BOM to upload.
#[derive(Debug, Clone)]
pub struct BomUpload<'a> {
    /// Project name.
    pub name: &'a str,
    /// Project version.
    pub version: &'a str,
    /// Parent `(name, version)` for a project created by this upload.
    pub parent: Option<(&'a str, &'a str)>,
    /// What a project created by this upload gets besides (DT 4.12+).
    pub created: Option<NewProjectFields<'a>>,
    /// CycloneDX JSON.
    pub document: &'a [u8],
}

/// The fields a BOM upload gives the project it creates (DT 4.12+; on an existing
/// project DT 4.12.7+ would replace all its tags, other people's too).
#[derive(Debug, Clone)]
pub struct NewProjectFields<'a> {
    /// Its tags.
    pub tags: &'a [String],
    /// The name of DT's field that marks it the latest version of its name
    /// ([`DtVersion::latest_field`]); `None` to leave the flag alone.
    pub latest_field: Option<&'static str>,
}

/// The fields of a DT project nodebom reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// Project UUID.
    pub uuid: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagName>,
    /// Active flag (absent means active on old versions).
    #[serde(default = "yes")]
    pub active: bool,
    /// Latest-version flag (4.12+).
    #[serde(default)]
    pub is_latest: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A tag as DT sends and receives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TagName {
    /// The name.
    pub name: String,
}

/// A DT policy with what nodebom reads of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Policy UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// `ANY` or `ALL`.
    #[serde(default)]
    pub operator: String,
    /// `FAIL`, `WARN` or `INFO`.
    #[serde(default)]
    pub violation_state: String,
    /// Whether child projects inherit it (sent back unchanged on update).
    #[serde(default)]
    pub include_children: bool,
    /// Whether only the latest version of projects is evaluated (sent back unchanged).
    #[serde(default)]
    pub only_latest_project_version: bool,
    /// Conditions.
    #[serde(default)]
    pub policy_conditions: Vec<ConditionView>,
    /// Tags it is limited to.
    #[serde(default)]
    pub tags: Vec<TagName>,
}

/// A policy condition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConditionView {
    /// Condition UUID.
    pub uuid: String,
    /// E.g. `VULNERABILITY_ID`.
    pub subject: String,
    /// E.g. `IS`.
    pub operator: String,
    /// Compared value.
    pub value: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
}

#[derive(Deserialize)]
struct ProcessingAnswer {
    processing: bool,
}

/// A DT API client; each call is timed into its [`Metrics`] by operation and outcome.
#[derive(Clone)]
pub struct DtClient {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    metrics: Metrics,
    /// The release last read, and until when it is trusted.
    version: Arc<Mutex<Option<(DtVersion, Instant)>>>,
}

impl std::fmt::Debug for DtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl DtClient {
    /// A client for the DT at `base` (e.g. `https://dtrack.example.com`).
    pub fn new(base: Url, api_key: String) -> Result<Self, crate::Error> {
        let http = http_client(REQUEST_TIMEOUT)?;
        Ok(Self {
            http,
            base,
            api_key,
            metrics: Metrics::new(),
            version: Arc::default(),
        })
    }

    /// The same client, timing its calls into `metrics` (by default, into metrics of
    /// its own that nothing exports).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs the call `operation` and records how it ended and how long it took.
    async fn observed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = DtResult<T>>,
    ) -> DtResult<T> {
        let started = Instant::now();
        let result = call.await;
        let outcome = result.as_ref().map_or_else(DtError::outcome, |_| "ok");
        self.metrics
            .dtrack_call(operation, outcome, started.elapsed());
        result
    }

    /// The DT release (`/api/version`), read again every [`VERSION_TTL`]; when DT does
    /// not tell, the oldest supported release, so that only 4.11's API is used.
    pub async fn version(&self) -> DtVersion {
        let now = Instant::now();
        let known = *self.version.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((version, until)) = known {
            if now < until {
                return version;
            }
        }
        let (version, trusted) = match self.read_version().await {
            Ok(version) => {
                if known.is_none_or(|(before, _)| before != version) {
                    tracing::info!(%version, "Dependency-Track release");
                }
                (version, VERSION_TTL)
            }
            Err(err) => {
                tracing::warn!(error = %err, oldest = %DtVersion::OLDEST, "cannot tell the Dependency-Track release; using only what the oldest supported one offers");
                (DtVersion::OLDEST, VERSION_RETRY)
            }
        };
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, now + trusted));
        version
    }

    async fn read_version(&self) -> DtResult<DtVersion> {
        #[derive(Deserialize)]
        struct VersionAnswer {
            version: String,
        }
        self.observed("version", async {
            let url = self.url(&["api", "version"])?;
            let answer: VersionAnswer = read_json(send(self.http.get(url)).await?).await?;
            DtVersion::parse(&answer.version).ok_or_else(|| {
                DtError::Invalid(format!(
                    "Dependency-Track release {:?} is not a version",
                    answer.version
                ))
            })
        })
        .await
    }

    /// Uploads a BOM with `autoCreate`; returns the processing token.
    pub async fn upload_bom(&self, upload: &BomUpload<'_>) -> DtResult<String> {
        self.observed("upload_bom", async {
            let request = if upload.document.len() > MULTIPART_ABOVE {
                self.request(Method::POST, &["bom"])?
                    .multipart(multipart_form(upload))
            } else {
                self.request(Method::PUT, &["bom"])?
                    .json(&json_upload(upload))
            };
            let answer: TokenAnswer = read_json(send(request).await?).await?;
            Ok(answer.token)
        })
        .await
    }

    /// Whether the upload with `token` is still being processed (false for unknown
    /// tokens, e.g. after a DT restart).
    pub async fn processing(&self, token: &str) -> DtResult<bool> {
        self.observed("processing", async {
            let request = self.request(Method::GET, &["event", "token", token])?;
            let answer: ProcessingAnswer = read_json(send(request).await?).await?;
            Ok(answer.processing)
        })
        .await
    }

    /// The project `name` / `version`, if it exists.
    pub async fn lookup_project(&self, name: &str, version: &str) -> DtResult<Option<ProjectView>> {
        self.observed("lookup_project", async {
            let request = self
                .request(Method::GET, &["project", "lookup"])?
                .query(&[("name", name), ("version", version)]);
            match send(request).await {
                Ok(response) => read_json(response).await.map(Some),
                Err(DtError::Refused { status: 404, .. }) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// Creates the project `name` / `version` as a collection of its direct children
    /// (DT 4.13+); an existing one (409) is fine.
    pub async fn create_collection_project(&self, name: &str, version: &str) -> DtResult<()> {
        self.observed("create_project", async {
            let body = json!({
                "name": name,
                "version": version,
                "active": true,
                "collectionLogic": "AGGREGATE_DIRECT_CHILDREN",
            });
            let request = self.request(Method::PUT, &["project"])?.json(&body);
            match send(request).await {
                Ok(_) | Err(DtError::Refused { status: 409, .. }) => Ok(()),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// Sets the project's tags and active flag, keeping `isLatest` as it is (an omitted
    /// boolean would be reset by DT).
    pub async fn update_project(
        &self,
        project: &ProjectView,
        tags: &[String],
        active: bool,
    ) -> DtResult<()> {
        self.observed("update_project", async {
            let tags: Vec<TagName> = tags
                .iter()
                .map(|name| TagName { name: name.clone() })
                .collect();
            let mut body = json!({ "tags": tags, "active": active });
            if let (Some(latest), Some(object)) = (project.is_latest, body.as_object_mut()) {
                object.insert("isLatest".into(), Value::Bool(latest));
            }
            let request = self
                .request(Method::PATCH, &["project", &project.uuid])?
                .json(&body);
            send(request).await.map(drop)
        })
        .await
    }

    /// The findings DT has for the project `uuid` that count as exposure (see
    /// [`super::findings`]).
    pub async fn findings(&self, project: &str) -> DtResult<super::findings::ReadFindings> {
        self.observed("findings", async {
            let request = self.request(Method::GET, &["finding", "project", project])?;
            let bytes = read_bounded(send(request).await?, MAX_RESPONSE_BYTES).await?;
            super::findings::read(&bytes).map_err(|err| {
                DtError::Invalid(format!("unexpected Dependency-Track answer: {err}"))
            })
        })
        .await
    }

    /// The versions that fix the vulnerability `vuln_id` of `source`, as DT words them
    /// (its findings do not say); empty when DT knows none, `None` when DT does not
    /// know the vulnerability.
    pub async fn patched_versions(&self, source: &str, vuln_id: &str) -> DtResult<Option<String>> {
        self.observed("vulnerability", async {
            let request = self.request(
                Method::GET,
                &["vulnerability", "source", source, "vuln", vuln_id],
            )?;
            match send(request).await {
                Ok(response) => {
                    let answer: VulnerabilityAnswer = read_json(response).await?;
                    Ok(Some(answer.patched_versions.unwrap_or_default()))
                }
                Err(DtError::Refused { status: 404, .. }) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
    }

    /// The policy named exactly `name`.
    pub async fn find_policy(&self, name: &str) -> DtResult<Option<PolicyView>> {
        self.observed("find_policy", async {
            for page in 1.. {
                let request = self.request(Method::GET, &["policy"])?.query(&[
                    ("searchText", name.to_owned()),
                    ("pageNumber", page.to_string()),
                    ("pageSize", POLICY_PAGE.to_string()),
                ]);
                let policies: Vec<PolicyView> = read_json(send(request).await?).await?;
                let last = policies.len() < POLICY_PAGE;
                if let Some(found) = policies.into_iter().find(|policy| policy.name == name) {
                    return Ok(Some(found));
                }
                if last {
                    break;
                }
            }
            Ok(None)
        })
        .await
    }

    /// Creates a policy with `operator` and `state` and no conditions.
    pub async fn create_policy(
        &self,
        name: &str,
        operator: &str,
        state: &str,
    ) -> DtResult<PolicyView> {
        self.observed("create_policy", async {
            let body = json!({ "name": name, "operator": operator, "violationState": state });
            let request = self.request(Method::PUT, &["policy"])?.json(&body);
            read_json(send(request).await?).await
        })
        .await
    }

    /// Sets a policy's operator and violation state (DT sets every scalar field from
    /// the body, so the others are sent back as they are).
    pub async fn update_policy(
        &self,
        policy: &PolicyView,
        operator: &str,
        state: &str,
    ) -> DtResult<()> {
        self.observed("update_policy", async {
            let body = json!({
                "uuid": policy.uuid,
                "name": policy.name,
                "operator": operator,
                "violationState": state,
                "includeChildren": policy.include_children,
                "onlyLatestProjectVersion": policy.only_latest_project_version,
            });
            let request = self.request(Method::POST, &["policy"])?.json(&body);
            send(request).await.map(drop)
        })
        .await
    }

    /// Every licence group, as `(name, uuid)`.
    pub async fn license_groups(&self) -> DtResult<Vec<(String, String)>> {
        self.observed("license_groups", async {
            let mut groups = Vec::new();
            for page in 1.. {
                let request = self.request(Method::GET, &["licenseGroup"])?.query(&[
                    ("pageNumber", page.to_string()),
                    ("pageSize", POLICY_PAGE.to_string()),
                ]);
                let answer: Vec<LicenseGroupView> = read_json(send(request).await?).await?;
                let last = answer.len() < POLICY_PAGE;
                groups.extend(answer.into_iter().map(|group| (group.name, group.uuid)));
                if last || groups.len() >= MAX_LICENSE_GROUPS {
                    break;
                }
            }
            Ok(groups)
        })
        .await
    }

    /// Adds a condition to a policy.
    pub async fn add_condition(
        &self,
        policy: &str,
        subject: &str,
        operator: &str,
        value: &str,
    ) -> DtResult<()> {
        self.observed("add_condition", async {
            let body = json!({ "subject": subject, "operator": operator, "value": value });
            let request = self
                .request(Method::PUT, &["policy", policy, "condition"])?
                .json(&body);
            send(request).await.map(drop)
        })
        .await
    }

    /// Deletes a policy condition.
    pub async fn delete_condition(&self, condition: &str) -> DtResult<()> {
        self.observed("delete_condition", async {
            let request = self.request(Method::DELETE, &["policy", "condition", condition])?;
            send(request).await.map(drop)
        })
        .await
    }

    /// Limits a policy to projects with `tag` (DT 4.12+), creating the tag first when
    /// `create` (DT 4.13+).
    pub async fn tag_policy(&self, tag: &str, policy: &str, create: bool) -> DtResult<()> {
        self.observed("tag_policy", async {
            if create {
                let create = self.request(Method::PUT, &["tag"])?.json(&[tag]);
                match send(create).await {
                    // 409: the tag exists already.
                    Ok(_) | Err(DtError::Refused { status: 409, .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            let request = self
                .request(Method::POST, &["tag", tag, "policy"])?
                .json(&[policy]);
            send(request).await.map(drop)
        })
        .await
    }

    /// A request to `/api/v1/<segments…>`, each segment percent-encoded.
    fn request(&self, method: Method, segments: &[&str]) -> DtResult<RequestBuilder> {
        let path: Vec<&str> = ["api", "v1"].iter().chain(segments).copied().collect();
        let url = self.url(&path)?;
        Ok(self
            .http
            .request(method, url)
            .header("X-Api-Key", &self.api_key))
    }

    /// The URL of `<base>/<segments…>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> DtResult<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| DtError::Invalid(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

#[derive(Deserialize)]
struct LicenseGroupView {
    uuid: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VulnerabilityAnswer {
    #[serde(default)]
    patched_versions: Option<String>,
}

/// An HTTP client with rustls and a `timeout` per request.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, crate::Error> {
    // reqwest is built without a TLS crypto provider of its own; use ring, which tonic
    // already links. Installing fails harmlessly when one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("nodebom-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| crate::Error::Config(format!("HTTP client: {err}")))
}

fn json_upload(upload: &BomUpload<'_>) -> Value {
    let mut body = json!({
        "projectName": upload.name,
        "projectVersion": upload.version,
        "autoCreate": true,
        "bom": base64::engine::general_purpose::STANDARD.encode(upload.document),
    });
    if let Some(object) = body.as_object_mut() {
        if let Some((name, version)) = upload.parent {
            object.insert("parentName".into(), Value::String(name.to_owned()));
            object.insert("parentVersion".into(), Value::String(version.to_owned()));
        }
        if let Some(created) = &upload.created {
            let tags: Vec<TagName> = created
                .tags
                .iter()
                .map(|name| TagName { name: name.clone() })
                .collect();
            object.insert("projectTags".into(), json!(tags));
            if let Some(field) = created.latest_field {
                object.insert(field.into(), Value::Bool(true));
            }
        }
    }
    body
}

fn multipart_form(upload: &BomUpload<'_>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("projectName", upload.name.to_owned())
        .text("projectVersion", upload.version.to_owned())
        .text("autoCreate", "true")
        .part(
            "bom",
            reqwest::multipart::Part::bytes(upload.document.to_vec()).file_name("bom.json"),
        );
    if let Some((name, version)) = upload.parent {
        form = form
            .text("parentName", name.to_owned())
            .text("parentVersion", version.to_owned());
    }
    if let Some(created) = &upload.created {
        // A comma-separated list in a form.
        form = form.text("projectTags", created.tags.join(","));
        if let Some(field) = created.latest_field {
            form = form.text(field, "true");
        }
    }
    form
}

/// Sends a request; a non-success status becomes the matching [`DtError`] (304 counts
/// as success: DT sends it for a PATCH that changes nothing).
async fn send(request: RequestBuilder) -> DtResult<Response> {
    let response = request
        .send()
        .await
        .map_err(|err| DtError::unreachable(&err))?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds.min(MAX_RETRY_AFTER_SECS)));
    let text = read_bounded(response, MAX_ERROR_TEXT * 4)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let message = shorten(text.trim(), MAX_ERROR_TEXT);
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(DtError::Unavailable {
            message: format!("{status}: {message}"),
            retry_after,
        });
    }
    Err(DtError::Refused {
        status: status.as_u16(),
        message,
    })
}

async fn read_json<T: serde::de::DeserializeOwned>(response: Response) -> DtResult<T> {
    let bytes = read_bounded(response, MAX_RESPONSE_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|err| DtError::Invalid(format!("unexpected Dependency-Track answer: {err}")))
}

/// Reads at most `max` bytes of the body; a longer body is an error.
async fn read_bounded(mut response: Response, max: usize) -> DtResult<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| DtError::unreachable(&err))?
    {
        if body.len() + chunk.len() > max {
            return Err(DtError::Invalid(format!(
                "Dependency-Track answer larger than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error and its causes on one line (reqwest's own message hides the cause).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// At most `max` characters of `text`.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}
