//! Dependency-Track's own OpenAPI document (4.14.2) as the judge of every request: the
//! operation is found by method and path template, and path parameters, query
//! parameters and the body are checked against it. The server's own JSON answers are
//! checked too, so its shapes stay Dependency-Track's.
//!
//! OpenAPI 3.0 schemas are turned into JSON Schema 2020-12 (`nullable` becomes a type
//! union, boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers) and checked
//! with `jsonschema`. Where the generated document and Dependency-Track's behaviour
//! differ, the behaviour wins; each adjustment:
//!
//! - `required` of an entity schema lists the columns Dependency-Track keeps NOT NULL,
//!   server-assigned ones included (`uuid`, `lastBomImport`). A request body must have
//!   the top-level object's required fields less those two; a PATCH body (a partial
//!   update) needs none; nested objects need none, as they are references
//!   (`"parent": {"uuid": …}`). An answer must have the top-level required fields less
//!   `lastBomImport`, which is absent until a project's first BOM is processed.
//! - `BomSubmitRequest` lists `project`, `projectName` and `projectVersion` all as
//!   required; they are alternatives: `bom` plus `project`, or `bom` plus
//!   `projectName` and `projectVersion`.
//! - `BomSubmitRequest` also accepts `isLatestProjectVersion`, the 4.12–4.13 name of
//!   `isLatest` that 4.14 keeps as an alias.
//! - Objects are closed (`additionalProperties: false`): Dependency-Track ignores a
//!   field it does not know, so a misspelt field would silently do nothing there; here
//!   it is a violation. Objects used as `allOf` parts stay open.
//! - List operations (those with `pageNumber`) accept `searchText`, which Alpine,
//!   Dependency-Track's framework, reads on every list; the document does not list it.
//! - `sortOrder`'s enum is generated as the single value `"asc, desc"`; it is split.
//! - `Finding`'s `component`, `vulnerability`, `analysis` and `attribution` are Java maps,
//!   generated as empty objects; they are described here from Finding.java of 4.11–4.14
//!   (keys, types, which keys are always there), so answers are checked all the same.
//! - `AnalysisRequest` lists `suppressed` next to `isSuppressed`; Dependency-Track reads
//!   only `isSuppressed` and ignores `suppressed`, so sending it is a violation.
//! - `Analysis` requires `analysisDetails`, which Dependency-Track leaves out of an
//!   answer until details are recorded.
//! - Operations without `security` (`/version`) need no API key.
//! - Java's `\p{Alnum}` (in two patterns, inside brackets) becomes `A-Za-z0-9`, which
//!   every regex dialect reads alike.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::anyhow;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::bom::truncate;
use super::form::FormField;
use super::journal::lock;
use super::options::Permission;

const DOCUMENT: &str = include_str!("../../fixtures/dtrack/dependency-track-4.14.2-openapi.json");

/// The document's `servers[0].url`: every operation path is below it.
const API_PREFIX: &str = "/api";

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
const BOM_SUBMIT_REQUEST: &str = "BomSubmitRequest";
const FINDING: &str = "Finding";
const ANALYSIS_REQUEST: &str = "AnalysisRequest";
/// Fields Dependency-Track assigns, never sent by a client.
const SERVER_ASSIGNED: [&str; 2] = ["uuid", "lastBomImport"];
/// Fields Dependency-Track leaves out of an answer while unset.
const ABSENT_UNTIL_SET: [&str; 2] = ["lastBomImport", "analysisDetails"];
/// Alpine's list filter, accepted on every list operation.
const SEARCH_TEXT: &str = "searchText";
const PERMISSION_MARKER: &str = "Requires permission <strong>";

static SHARED: OnceLock<Result<OpenApi, String>> = OnceLock::new();

/// The parsed document and the validators compiled from it so far.
pub(crate) struct OpenApi {
    paths: Vec<PathItem>,
    /// The converted `components` object, embedded in every compiled schema so that
    /// `#/components/schemas/…` references resolve.
    components: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

struct PathItem {
    segments: Vec<Segment>,
    operations: Vec<Operation>,
}

enum Segment {
    Literal(String),
    Parameter(String),
}

/// One operation of the document.
pub(crate) struct Operation {
    pub(crate) id: String,
    /// Upper-case HTTP method.
    pub(crate) method: String,
    /// The permission its description says it requires.
    pub(crate) permission: Option<Permission>,
    /// Whether it needs an API key (it lists `security` requirements).
    pub(crate) authenticated: bool,
    parameters: Vec<Parameter>,
    body: Option<RequestBody>,
    /// Status → JSON media types with their schemas.
    responses: Vec<(String, Vec<(String, Schema)>)>,
    lists_pages: bool,
}

struct Parameter {
    name: String,
    location: String,
    required: bool,
    schema: Option<Value>,
}

struct RequestBody {
    required: bool,
    content: Vec<(String, Schema)>,
}

/// A converted schema and the `required` list of its top-level object.
struct Schema {
    schema: Value,
    required: Vec<String>,
    /// The component it refers to, when it is a bare `$ref`.
    component: Option<String>,
}

/// The outcome of looking a request up in the document.
pub(crate) enum Lookup<'a> {
    Found {
        operation: &'a Operation,
        /// Percent-decoded path parameters, by name.
        path_params: Vec<(String, String)>,
    },
    MethodNotAllowed,
    NotFound,
}

/// The parts of a request the document constrains.
pub(crate) struct RequestParts<'a> {
    pub(crate) path_params: &'a [(String, String)],
    pub(crate) query: &'a [(String, String)],
    pub(crate) content_type: Option<&'a str>,
    pub(crate) body: &'a [u8],
    /// The parsed parts, when the body is a multipart form.
    pub(crate) form: Option<&'a [FormField]>,
}

/// The document bundled with the tests, parsed once per process.
pub(crate) fn shared() -> anyhow::Result<&'static OpenApi> {
    SHARED
        .get_or_init(|| OpenApi::parse(DOCUMENT))
        .as_ref()
        .map_err(|e| anyhow!("Dependency-Track OpenAPI document: {e}"))
}

impl OpenApi {
    fn parse(text: &str) -> Result<OpenApi, String> {
        let document: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut components = document.get("components").cloned().ok_or("no components")?;
        let schemas = components
            .get_mut("schemas")
            .and_then(Value::as_object_mut)
            .ok_or("no components.schemas")?;
        let required: HashMap<String, Vec<String>> = schemas
            .iter()
            .map(|(name, schema)| (name.clone(), required_of(schema)))
            .collect();
        let open = all_of_targets(schemas);
        for (name, schema) in schemas.iter_mut() {
            convert(schema, !open.contains(name));
        }
        if let Some(properties) = schemas
            .get_mut(BOM_SUBMIT_REQUEST)
            .and_then(|s| s.get_mut("properties"))
            .and_then(Value::as_object_mut)
        {
            properties.insert("isLatestProjectVersion".into(), json!({"type": "boolean"}));
        }
        if let Some(properties) = schemas
            .get_mut(ANALYSIS_REQUEST)
            .and_then(|s| s.get_mut("properties"))
            .and_then(Value::as_object_mut)
        {
            properties.remove("suppressed");
        }
        let finding = schemas
            .get_mut(FINDING)
            .and_then(Value::as_object_mut)
            .ok_or("no Finding schema")?;
        let mut parts = Map::new();
        let mut finding_required = vec![json!("matrix")];
        for (part, schema) in finding_parts() {
            parts.insert(part.into(), schema);
            finding_required.push(json!(part));
        }
        finding.insert("required".into(), Value::Array(finding_required));
        finding
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .ok_or("Finding without properties")?
            .extend(parts);

        let mut paths = Vec::new();
        let items = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("no paths")?;
        for (template, item) in items {
            let segments = template
                .split('/')
                .skip(1)
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Parameter(name.to_string()),
                        None => Segment::Literal(s.to_string()),
                    },
                )
                .collect();
            let mut operations = Vec::new();
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    operations.push(
                        Operation::parse(method, operation, &required)
                            .map_err(|e| format!("{method} {template}: {e}"))?,
                    );
                }
            }
            paths.push(PathItem {
                segments,
                operations,
            });
        }
        Ok(OpenApi {
            paths,
            components,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Finds the operation for `method` and `path` (as sent, with the `/api` prefix).
    /// Literal segments win over parameters, left to right, as in JAX-RS.
    pub(crate) fn find(&self, method: &str, path: &str) -> Lookup<'_> {
        let Some(rest) = path.strip_prefix(API_PREFIX) else {
            return Lookup::NotFound;
        };
        let Some(rest) = rest.strip_prefix('/') else {
            return Lookup::NotFound;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let best = self
            .paths
            .iter()
            .filter(|item| matches(&item.segments, &segments))
            .max_by_key(|item| {
                item.segments
                    .iter()
                    .map(|s| matches!(s, Segment::Literal(_)))
                    .collect::<Vec<_>>()
            });
        let Some(item) = best else {
            return Lookup::NotFound;
        };
        let Some(operation) = item
            .operations
            .iter()
            .find(|o| o.method.eq_ignore_ascii_case(method))
        else {
            return Lookup::MethodNotAllowed;
        };
        let path_params = item
            .segments
            .iter()
            .zip(&segments)
            .filter_map(|(template, actual)| match template {
                Segment::Parameter(name) => Some((
                    name.clone(),
                    percent_decode_str(actual).decode_utf8_lossy().into_owned(),
                )),
                Segment::Literal(_) => None,
            })
            .collect();
        Lookup::Found {
            operation,
            path_params,
        }
    }

    /// Everything about a request that the document does not allow.
    pub(crate) fn check_request(
        &self,
        operation: &Operation,
        request: &RequestParts,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in request.path_params {
            if let Some(parameter) = operation.parameter(name, "path") {
                self.check_parameter(operation, parameter, value, &mut problems);
            }
        }
        for (name, value) in request.query {
            match operation.parameter(name, "query") {
                Some(parameter) => self.check_parameter(operation, parameter, value, &mut problems),
                None if operation.lists_pages && name == SEARCH_TEXT => {}
                None => problems.push(format!(
                    "query parameter `{name}` is not a parameter of this operation"
                )),
            }
        }
        for parameter in &operation.parameters {
            if parameter.location == "query"
                && parameter.required
                && !request
                    .query
                    .iter()
                    .any(|(name, _)| name == &parameter.name)
            {
                problems.push(format!(
                    "required query parameter `{}` is missing",
                    parameter.name
                ));
            }
        }
        self.check_body(operation, request, &mut problems);
        problems
    }

    /// Ways a JSON answer of the test server differs from the documented one.
    pub(crate) fn check_response(
        &self,
        operation: &Operation,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let status = status.to_string();
        let Some(media_type) = content_type.map(media_type) else {
            return Vec::new();
        };
        let Some(schema) = operation
            .responses
            .iter()
            .find(|(s, _)| *s == status)
            .and_then(|(_, content)| content.iter().find(|(m, _)| *m == media_type))
            .map(|(_, schema)| schema)
        else {
            return Vec::new();
        };
        let document = match serde_json::from_slice::<Value>(body) {
            Ok(document) => document,
            Err(e) => return vec![format!("response {status} is not JSON: {e}")],
        };
        let required = without(&schema.required, &ABSENT_UNTIL_SET);
        let key = format!("{} response {status} {media_type}", operation.id);
        self.validate(
            &key,
            || self.wrap(&schema.schema, &required, None),
            &document,
        )
        .into_iter()
        .map(|p| format!("response {status}: {p}"))
        .collect()
    }

    fn check_parameter(
        &self,
        operation: &Operation,
        parameter: &Parameter,
        value: &str,
        problems: &mut Vec<String>,
    ) {
        let Some(schema) = &parameter.schema else {
            return;
        };
        let key = format!(
            "{} {} parameter {}",
            operation.id, parameter.location, parameter.name
        );
        let value = coerce(value, schema);
        for problem in self.validate(&key, || self.wrap(schema, &[], None), &value) {
            problems.push(format!(
                "{} parameter `{}`: {problem}",
                parameter.location, parameter.name
            ));
        }
    }

    fn check_body(
        &self,
        operation: &Operation,
        request: &RequestParts,
        problems: &mut Vec<String>,
    ) {
        let Some(body) = &operation.body else {
            if !request.body.is_empty() {
                problems.push("this operation takes no request body".into());
            }
            return;
        };
        if request.body.is_empty() {
            if body.required {
                problems.push("the request body is required".into());
            }
            return;
        }
        let Some(media_type) = request.content_type.map(media_type) else {
            problems.push("the request body has no Content-Type".into());
            return;
        };
        let Some((_, schema)) = body
            .content
            .iter()
            .find(|(m, _)| *m == media_type || m == "*/*")
        else {
            let accepted: Vec<&str> = body.content.iter().map(|(m, _)| m.as_str()).collect();
            problems.push(format!(
                "Content-Type {media_type} is not one of {accepted:?}"
            ));
            return;
        };
        let document = if media_type == "application/json" {
            match serde_json::from_slice::<Value>(request.body) {
                Ok(document) => document,
                Err(e) => {
                    problems.push(format!("the request body is not JSON: {e}"));
                    return;
                }
            }
        } else if let Some(form) = request.form {
            form_document(form, &schema.schema)
        } else {
            return;
        };
        let key = format!("{} request {media_type}", operation.id);
        let (required, alternatives) = if operation.method == "PATCH" {
            (Vec::new(), None)
        } else if schema.component.as_deref() == Some(BOM_SUBMIT_REQUEST) {
            (
                vec!["bom".to_string()],
                Some(json!({"anyOf": [
                    {"required": ["project"]},
                    {"required": ["projectName", "projectVersion"]}
                ]})),
            )
        } else {
            (without(&schema.required, &SERVER_ASSIGNED), None)
        };
        let wrap = || self.wrap(&schema.schema, &required, alternatives.clone());
        for problem in self.validate(&key, wrap, &document) {
            problems.push(format!("body: {problem}"));
        }
    }

    /// A standalone schema: `schema` and the extra top-level constraints, with the
    /// components alongside for its references.
    fn wrap(&self, schema: &Value, required: &[String], extra: Option<Value>) -> Value {
        let mut all_of = vec![schema.clone()];
        if !required.is_empty() {
            all_of.push(json!({ "required": required }));
        }
        all_of.extend(extra);
        json!({ "allOf": all_of, "components": self.components })
    }

    /// Validates `instance` with the validator cached under `key`, compiling it from
    /// `schema` on first use.
    fn validate(&self, key: &str, schema: impl FnOnce() -> Value, instance: &Value) -> Vec<String> {
        let validator = {
            let mut validators = lock(&self.validators);
            match validators.get(key) {
                Some(validator) => Arc::clone(validator),
                None => match compile(&schema()) {
                    Ok(validator) => {
                        let validator = Arc::new(validator);
                        validators.insert(key.to_string(), Arc::clone(&validator));
                        validator
                    }
                    Err(e) => return vec![format!("the document's schema does not compile: {e}")],
                },
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() { "/".into() } else { path };
                truncate(&format!("{path}: {e}"))
            })
            .collect()
    }
}

impl Operation {
    fn parse(
        method: &str,
        operation: &Value,
        required: &HashMap<String, Vec<String>>,
    ) -> Result<Operation, String> {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or("no operationId")?
            .to_string();
        let permission = match operation
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| d.split(PERMISSION_MARKER).nth(1))
            .and_then(|rest| rest.split('<').next())
        {
            Some(name) => Some(
                Permission::from_name(name).ok_or_else(|| format!("unknown permission {name}"))?,
            ),
            None => None,
        };
        let mut parameters = Vec::new();
        for parameter in operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |key: &str| parameter.get(key).and_then(Value::as_str).map(String::from);
            let mut schema = parameter.get("schema").cloned();
            if let Some(schema) = &mut schema {
                convert(schema, true);
                split_joined_enum(schema);
            }
            parameters.push(Parameter {
                name: text("name").ok_or("parameter without name")?,
                location: text("in").ok_or("parameter without `in`")?,
                required: parameter.get("required").and_then(Value::as_bool) == Some(true),
                schema,
            });
        }
        let body = operation.get("requestBody").map(|body| RequestBody {
            required: body.get("required").and_then(Value::as_bool) == Some(true),
            content: content_schemas(body, required),
        });
        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(status, response)| (status.clone(), content_schemas(response, required)))
            .collect();
        let lists_pages = parameters.iter().any(|p| p.name == "pageNumber");
        let authenticated = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|requirements| !requirements.is_empty());
        Ok(Operation {
            id,
            method: method.to_ascii_uppercase(),
            permission,
            authenticated,
            parameters,
            body,
            responses,
            lists_pages,
        })
    }

    fn parameter(&self, name: &str, location: &str) -> Option<&Parameter> {
        self.parameters
            .iter()
            .find(|p| p.name == name && p.location == location)
    }
}

fn matches(template: &[Segment], segments: &[&str]) -> bool {
    template.len() == segments.len()
        && template.iter().zip(segments).all(|(t, s)| match t {
            Segment::Literal(literal) => literal == s,
            Segment::Parameter(_) => !s.is_empty(),
        })
}

/// The media types of a request body or response with their converted schemas.
fn content_schemas(
    holder: &Value,
    required: &HashMap<String, Vec<String>>,
) -> Vec<(String, Schema)> {
    holder
        .get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(media_type, content)| {
            let original = content.get("schema")?;
            let component = original
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(String::from);
            let top_required = match &component {
                Some(name) => required.get(name).cloned().unwrap_or_default(),
                None => required_of(original),
            };
            let mut schema = original.clone();
            convert(&mut schema, true);
            Some((
                media_type.to_ascii_lowercase(),
                Schema {
                    schema,
                    required: top_required,
                    component,
                },
            ))
        })
        .collect()
}

/// Turns an OpenAPI 3.0 schema into JSON Schema 2020-12 in place; `close` adds
/// `additionalProperties: false` to an object with properties.
fn convert(schema: &mut Value, close: bool) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if map.contains_key("$ref") {
        return;
    }
    map.remove("required");
    if let Some(Value::String(pattern)) = map.get_mut("pattern") {
        // Java's POSIX class (ASCII letters and digits), always inside brackets here.
        *pattern = pattern.replace("\\p{Alnum}", "A-Za-z0-9");
    }
    if map.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(kind) = map.get("type").cloned() {
            map.insert("type".into(), json!([kind, "null"]));
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(exclusive)) = map.get(flag).cloned() {
            map.remove(flag);
            if exclusive {
                if let Some(limit) = map.remove(bound) {
                    map.insert(flag.into(), limit);
                }
            }
        }
    }
    if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
        for property in properties.values_mut() {
            convert(property, true);
        }
    }
    for key in ["items", "not", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            convert(child, true);
        }
    }
    for key in ["anyOf", "oneOf"] {
        for child in map
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            convert(child, true);
        }
    }
    // Parts of an allOf see each other's properties only as "additional": keep them open.
    for child in map
        .get_mut("allOf")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        convert(child, false);
    }
    if close && map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
}

/// The parts of a `Finding` as Dependency-Track's Finding.java fills them (4.11–4.14;
/// `scope`, the vectors, `references` and `published` since 4.14, `latestVersion` when
/// repository metadata is known; `projectName`/`projectVersion` only in the
/// portfolio-wide list). In 4.11 an unset `description` or `recommendation` is `null`.
fn finding_parts() -> [(&'static str, Value); 4] {
    let text = json!({"type": "string"});
    let score = json!({"type": "number"});
    let component = json!({
        "type": "object",
        "required": ["uuid", "name", "project"],
        "additionalProperties": false,
        "properties": {
            "uuid": {"type": "string", "format": "uuid"},
            "name": text, "group": text, "version": text, "scope": text, "purl": text,
            "cpe": text, "project": {"type": "string", "format": "uuid"},
            "latestVersion": text, "projectName": text, "projectVersion": text
        }
    });
    let id = json!({"type": "string", "minLength": 1});
    let mut properties = json!({
        "uuid": {"type": "string", "format": "uuid"},
        "source": {"enum": ["NVD", "NPM", "GITHUB", "VULNDB", "OSSINDEX", "RETIREJS",
                            "INTERNAL", "OSV", "SNYK", "TRIVY", "UNKNOWN"]},
        "vulnId": text, "title": text, "subtitle": text,
        "description": {"type": ["string", "null"]},
        "recommendation": {"type": ["string", "null"]},
        "severity": {"enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNASSIGNED"]},
        "severityRank": {"type": "integer", "minimum": 0, "maximum": 5},
        "references": text,
        "published": {"type": "integer"}
    });
    let scores = json!({
        "cvssV2BaseScore": score, "cvssV2Vector": text,
        "cvssV3BaseScore": score, "cvssV3Vector": text,
        "cvssV4Score": score, "cvssV4Vector": text,
        "owaspLikelihoodScore": score, "owaspTechnicalImpactScore": score,
        "owaspBusinessImpactScore": score, "owaspRRVector": text,
        "epssScore": score, "epssPercentile": score
    });
    let lists = json!({
        "cweId": {"type": "integer"}, "cweName": text,
        "cwes": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["cweId", "name"], "additionalProperties": false,
            "properties": {"cweId": {"type": "integer"}, "name": text}
        }},
        "aliases": {"type": "array", "items": {
            "type": "object", "additionalProperties": false, "minProperties": 1,
            "properties": {"cveId": id, "ghsaId": id, "sonatypeId": id, "osvId": id,
                           "snykId": id, "vulnDbId": id}
        }}
    });
    if let Some(all) = properties.as_object_mut() {
        for part in [scores, lists] {
            if let Value::Object(part) = part {
                all.extend(part);
            }
        }
    }
    let vulnerability = json!({
        "type": "object",
        "required": ["uuid", "source", "vulnId", "severity", "severityRank", "aliases"],
        "additionalProperties": false,
        "properties": properties
    });
    let analysis = json!({
        "type": "object",
        "required": ["isSuppressed"],
        "additionalProperties": false,
        "properties": {
            "state": {"enum": ["EXPLOITABLE", "IN_TRIAGE", "FALSE_POSITIVE", "NOT_AFFECTED",
                               "RESOLVED", "NOT_SET"]},
            "isSuppressed": {"type": "boolean"}
        }
    });
    let attribution = json!({
        "type": "object",
        "required": ["analyzerIdentity", "attributedOn"],
        "additionalProperties": false,
        "properties": {
            "analyzerIdentity": {"enum": ["INTERNAL_ANALYZER", "OSSINDEX_ANALYZER",
                                          "NPM_AUDIT_ANALYZER", "VULNDB_ANALYZER",
                                          "SNYK_ANALYZER", "TRIVY_ANALYZER", "NONE"]},
            "attributedOn": {"type": "integer"},
            "alternateIdentifier": text,
            "referenceUrl": text
        }
    });
    [
        ("component", component),
        ("vulnerability", vulnerability),
        ("analysis", analysis),
        ("attribution", attribution),
    ]
}

/// Component names used as `allOf` parts somewhere, which must stay open.
fn all_of_targets(schemas: &Map<String, Value>) -> BTreeSet<String> {
    fn walk(value: &Value, in_all_of: bool, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if in_all_of {
                    if let Some(name) = map
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        found.insert(name.to_string());
                    }
                }
                for (key, child) in map {
                    walk(child, key == "allOf", found);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, in_all_of, found);
                }
            }
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    for schema in schemas.values() {
        walk(schema, false, &mut found);
    }
    found
}

/// `["asc, desc"]` → `["asc", "desc"]`.
fn split_joined_enum(schema: &mut Value) {
    let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) else {
        return;
    };
    if let [Value::String(joined)] = values.as_slice() {
        if joined.contains(", ") {
            let split = joined
                .split(", ")
                .map(|s| Value::String(s.into()))
                .collect();
            *values = split;
        }
    }
}

fn required_of(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

fn without(names: &[String], dropped: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !dropped.contains(&n.as_str()))
        .cloned()
        .collect()
}

/// `type/subtype` of a Content-Type, lower-cased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A query or path parameter's text as the JSON value its schema describes.
fn coerce(value: &str, schema: &Value) -> Value {
    let text = || Value::String(value.to_string());
    match schema.get("type").and_then(Value::as_str) {
        Some("boolean") => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => text(),
        },
        Some("integer") => value.parse::<i64>().map_or_else(|_| text(), Value::from),
        Some("number") => value
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(text, Value::Number),
        _ => text(),
    }
}

/// A multipart form as the JSON object its schema describes: text fields coerced like
/// parameters, files as strings (their content is the BOM, checked separately).
fn form_document(form: &[FormField], schema: &Value) -> Value {
    let mut object = Map::new();
    for field in form {
        let property = schema
            .get("properties")
            .and_then(|p| p.get(&field.name))
            .unwrap_or(&Value::Null);
        let value = match (&field.file_name, field.text()) {
            (None, Some(text)) => coerce(text, property),
            _ => Value::String(String::new()),
        };
        object.insert(field.name.clone(), value);
    }
    Value::Object(object)
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> &'static OpenApi {
        shared().unwrap()
    }

    fn found(method: &str, path: &str) -> (&'static Operation, Vec<(String, String)>) {
        match api().find(method, path) {
            Lookup::Found {
                operation,
                path_params,
            } => (operation, path_params),
            _ => panic!("{method} {path} not found"),
        }
    }

    fn json_request<'a>(body: &'a [u8], params: &'a [(String, String)]) -> RequestParts<'a> {
        RequestParts {
            path_params: params,
            query: &[],
            content_type: Some("application/json"),
            body,
            form: None,
        }
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(
            found("GET", "/api/v1/project/lookup").0.id,
            "getProjectByNameAndVersion"
        );
        assert_eq!(
            found("POST", "/api/v1/policy/condition").0.id,
            "updatePolicyCondition"
        );
        let (operation, params) = found("GET", "/api/v1/project/tag/cluster%3Aprod");
        assert_eq!(operation.id, "getProjectsByTag");
        assert_eq!(params, [("tag".to_string(), "cluster:prod".to_string())]);
        assert!(matches!(
            api().find("GET", "/api/v1/nonsense"),
            Lookup::NotFound
        ));
        assert!(matches!(
            api().find("PATCH", "/api/v1/bom"),
            Lookup::MethodNotAllowed
        ));
    }

    #[test]
    fn permissions_come_from_the_descriptions() {
        assert_eq!(
            found("PUT", "/api/v1/bom").0.permission,
            Some(Permission::BomUpload)
        );
        assert_eq!(
            found("PUT", "/api/v1/tag").0.permission,
            Some(Permission::TagManagement)
        );
        assert_eq!(
            found(
                "PATCH",
                "/api/v1/project/0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11"
            )
            .0
            .permission,
            Some(Permission::PortfolioManagement)
        );
        assert_eq!(
            found(
                "GET",
                "/api/v1/event/token/0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11"
            )
            .0
            .permission,
            None
        );
    }

    #[test]
    fn bom_submit_request_needs_a_uuid_or_a_name_and_version() {
        let (operation, params) = found("PUT", "/api/v1/bom");
        let check = |body: Value| {
            let body = serde_json::to_vec(&body).unwrap();
            api().check_request(operation, &json_request(&body, &params))
        };
        assert_eq!(
            check(json!({"project": "0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11", "bom": "e30="})),
            Vec::<String>::new()
        );
        assert_eq!(
            check(
                json!({"projectName": "nginx", "projectVersion": "1", "bom": "e30=",
                         "autoCreate": true, "isLatestProjectVersion": false,
                         "projectTags": [{"name": "cluster:a"}]})
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            check(json!({"projectName": "nginx", "bom": "e30="})).len(),
            1
        );
        assert_eq!(check(json!({"project": "x", "bom": "e30="})).len(), 1);
        let problems = check(
            json!({"projectName": "n", "projectVersion": "1", "bom": "e30=", "latest": true}),
        );
        assert!(
            problems.iter().any(|p| p.contains("latest")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_partial_project_patch_needs_no_field_but_types_are_checked() {
        let uuid = "0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11";
        let (operation, params) = found("PATCH", &format!("/api/v1/project/{uuid}"));
        assert!(api()
            .check_request(operation, &json_request(br#"{"active":false,"isLatest":true,"parent":{"uuid":"0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11"}}"#, &params))
            .is_empty());
        let problems =
            api().check_request(operation, &json_request(br#"{"active":"no"}"#, &params));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("/active"), "{problems:?}");
    }

    #[test]
    fn query_parameters_must_exist_and_have_their_type() {
        let (operation, params) = found("GET", "/api/v1/project");
        let query = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            api().check_request(
                operation,
                &RequestParts {
                    path_params: &params,
                    query: &pairs,
                    content_type: None,
                    body: b"",
                    form: None,
                },
            )
        };
        assert!(query(&[
            ("pageNumber", "2"),
            ("searchText", "nginx"),
            ("excludeInactive", "true"),
            ("sortOrder", "asc")
        ])
        .is_empty());
        assert_eq!(query(&[("excludeInactive", "yes")]).len(), 1);
        assert_eq!(query(&[("tag", "x")]).len(), 1);
    }

    #[test]
    fn answers_are_checked_against_the_response_schema() {
        let uuid = "0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11";
        let (operation, _) = found("GET", &format!("/api/v1/project/{uuid}"));
        let check = |body: Value| {
            let body = serde_json::to_vec(&body).unwrap();
            api().check_response(operation, 200, Some("application/json"), &body)
        };
        assert!(
            check(json!({"name": "a", "uuid": uuid, "tags": [{"name": "x"}], "active": true}))
                .is_empty()
        );
        assert_eq!(check(json!({"uuid": uuid})).len(), 1, "name is required");
        assert_eq!(
            check(json!({"name": "a", "uuid": uuid, "latest": true})).len(),
            1
        );
        assert!(check(json!({"name": 1})).len() >= 2);
        // Undocumented statuses and bodies without a JSON schema are not checked.
        assert!(api().check_response(operation, 304, None, b"").is_empty());
    }

    #[test]
    fn finding_parts_are_checked_as_finding_java_fills_them() {
        let uuid = "0d2a3b1e-8f43-4f6c-9d3e-2b7f1c0e5a11";
        let (operation, _) = found("GET", &format!("/api/v1/finding/project/{uuid}"));
        assert_eq!(operation.permission, Some(Permission::ViewVulnerability));
        let finding = json!({
            "component": {"uuid": uuid, "name": "openssl", "project": uuid},
            "vulnerability": {"uuid": uuid, "source": "NVD", "vulnId": "CVE-2024-5535",
                              "severity": "HIGH", "severityRank": 1, "aliases": [],
                              "description": null},
            "analysis": {"isSuppressed": false},
            "attribution": {"analyzerIdentity": "INTERNAL_ANALYZER", "attributedOn": 1},
            "matrix": format!("{uuid}:{uuid}:{uuid}")
        });
        let check = |finding: &Value| {
            let body = serde_json::to_vec(&json!([finding])).unwrap();
            api().check_response(operation, 200, Some("application/json"), &body)
        };
        assert_eq!(check(&finding), Vec::<String>::new());

        let mut patched = finding.clone();
        patched["vulnerability"]["patchedVersions"] = json!("3.0.14");
        assert_eq!(check(&patched).len(), 1, "not a key of Finding.java");
        let mut no_matrix = finding.clone();
        no_matrix.as_object_mut().unwrap().remove("matrix");
        assert_eq!(check(&no_matrix).len(), 1);
        let mut bad_rank = finding;
        bad_rank["vulnerability"]["severityRank"] = json!(6);
        assert_eq!(check(&bad_rank).len(), 1);
    }

    #[test]
    fn the_version_needs_no_key_and_everything_else_does() {
        assert!(!found("GET", "/api/version").0.authenticated);
        assert!(found("GET", "/api/v1/project").0.authenticated);
    }

    #[test]
    fn path_parameter_uuids_are_checked() {
        let (operation, params) = found("GET", "/api/v1/project/not-a-uuid");
        let problems = api().check_request(operation, &json_request(b"", &params));
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
