//! The Dependency-Track test server, driven over real HTTP the way the collector will
//! drive it: its Dependency-Track semantics, its faults, and its OpenAPI conformance
//! check. Findings, analyses and the version are in `findings.rs`; what differs between releases in `releases.rs`.

mod findings;
mod releases;

use std::time::{Duration, Instant};

use base64::Engine;
use nodebom_e2e::dtrack::{
    CollectionLogic, ConditionOperator, ConditionSubject, DtOptions, DtServer, Fault, NewPolicy,
    NewProject, Permission, PolicyOperator, UploadVia, ViolationState,
};
use reqwest::blocking::{multipart, Client, Response};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const PYTHON_1_5: &str = include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python.cdx-1.5.json");
const PYTHON_1_6: &str = include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python.cdx-1.6.json");
const YAML_1_5: &str =
    include_str!("../../fixtures/dtrack/boms/syft-1.18.1-python-yaml.cdx-1.5.json");

/// A client of one server with one key.
struct Api {
    http: Client,
    base: String,
    key: String,
}

/// reqwest is built with `rustls-no-provider` in this workspace (the collector picks
/// ring): a provider must be installed before a client is built.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client_builder() -> reqwest::blocking::ClientBuilder {
    install_crypto_provider();
    Client::builder()
}

impl Api {
    fn new(dt: &DtServer) -> Api {
        Api::with_key(dt, dt.api_key())
    }

    fn with_key(dt: &DtServer, key: &str) -> Api {
        Api {
            http: client_builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: dt.url(),
            key: key.to_string(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", &self.key)
    }

    fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().unwrap()
    }

    fn send(&self, method: Method, path: &str, body: Value) -> Response {
        self.request(method, path).json(&body).send().unwrap()
    }

    fn upload(&self, body: Value) -> Response {
        self.send(Method::PUT, "/api/v1/bom", body)
    }

    /// Uploads `bom` to `name`/`version` with autoCreate; returns the token.
    fn upload_new(&self, name: &str, version: &str, bom: &str) -> String {
        let response = self.upload(json!({
            "projectName": name, "projectVersion": version, "autoCreate": true, "bom": b64(bom)
        }));
        assert_eq!(response.status(), StatusCode::OK);
        token_of(response)
    }

    fn processing(&self, token: &str) -> bool {
        let body: Value = self
            .get(&format!("/api/v1/event/token/{token}"))
            .json()
            .unwrap();
        body["processing"].as_bool().unwrap()
    }

    /// Polls the token like the collector does, until it is no longer processing.
    fn wait(&self, token: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.processing(token) {
            assert!(Instant::now() < deadline, "token {token} still processing");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lookup(&self, name: &str, version: &str) -> Response {
        self.request(Method::GET, "/api/v1/project/lookup")
            .query(&[("name", name), ("version", version)])
            .send()
            .unwrap()
    }

    fn lookup_err(&self, name: &str, version: &str) -> reqwest::Error {
        self.request(Method::GET, "/api/v1/project/lookup")
            .query(&[("name", name), ("version", version)])
            .send()
            .unwrap_err()
    }

    fn project(&self, uuid: Uuid) -> Value {
        let response = self.get(&format!("/api/v1/project/{uuid}"));
        assert_eq!(response.status(), StatusCode::OK);
        response.json().unwrap()
    }

    fn patch(&self, uuid: Uuid, body: Value) -> Response {
        self.send(Method::PATCH, &format!("/api/v1/project/{uuid}"), body)
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn token_of(response: Response) -> String {
    let body: Value = response.json().unwrap();
    body["token"].as_str().unwrap().to_string()
}

fn start() -> (DtServer, Api) {
    start_processing_for(DtOptions::default().processing_delay)
}

/// A server whose uploads stay processing for `delay`.
fn start_processing_for(delay: Duration) -> (DtServer, Api) {
    let dt = DtServer::start(DtOptions {
        processing_delay: delay,
        ..DtOptions::default()
    })
    .unwrap();
    let api = Api::new(&dt);
    (dt, api)
}

fn tag_names(project: &Value) -> Vec<String> {
    let mut names: Vec<String> = project["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn component_names(dt: &DtServer, uuid: Uuid) -> Vec<String> {
    dt.project_by_uuid(uuid)
        .unwrap()
        .components
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn auto_create_makes_the_project_and_processing_sets_last_bom_import() {
    // Long enough that the look-up below comes before processing ends on a busy machine.
    let (dt, api) = start_processing_for(Duration::from_secs(2));
    let token = api.upload_new("docker.io/library/python", "3.11", PYTHON_1_5);
    assert!(api.processing(&token), "a fresh token is processing");

    let created: Value = api
        .lookup("docker.io/library/python", "3.11")
        .json()
        .unwrap();
    assert_eq!(created["active"], true);
    assert!(
        created.get("lastBomImport").is_none(),
        "no BOM processed yet: {created}"
    );

    api.wait(&token);
    let project: Value = api
        .lookup("docker.io/library/python", "3.11")
        .json()
        .unwrap();
    assert!(project["lastBomImport"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(project["lastBomImportFormat"], "CycloneDX 1.5");
    let uuid: Uuid = project["uuid"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        component_names(&dt, uuid),
        ["blinker", "distro", "pyparsing"]
    );

    let uploads = dt.uploads_to(uuid);
    assert_eq!(uploads.len(), 1, "arrived once");
    assert_eq!(uploads[0].token.to_string(), token);
    assert_eq!(uploads[0].via, UploadVia::Json);
    assert_eq!(
        uploads[0].bom_sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(PYTHON_1_5))
    );
    assert_eq!(dt.counters().projects_created, 1);
    dt.assert_conformant();
}

#[test]
fn unknown_project_without_auto_create_and_unknown_parent_are_404() {
    let (dt, api) = start();
    let response = api.upload(json!({
        "projectName": "nginx", "projectVersion": "1.27", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = api.upload(json!({
        "projectName": "nginx", "projectVersion": "1.27", "autoCreate": true,
        "parentName": "platform", "parentVersion": "prod", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(dt.projects().is_empty());

    let parent = dt
        .seed_project(NewProject::new("platform", "prod"))
        .unwrap();
    let response = api.upload(json!({
        "projectName": "nginx", "projectVersion": "1.27", "autoCreate": true,
        "parentName": "platform", "parentVersion": "prod", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(dt.project("nginx", "1.27").unwrap().parent, Some(parent));
    dt.assert_conformant();
}

#[test]
fn upload_by_uuid_wins_over_the_name() {
    let (dt, api) = start();
    let uuid = dt.seed_project(NewProject::new("a", "1")).unwrap();
    let response = api.upload(json!({
        "project": uuid, "projectName": "b", "projectVersion": "2", "autoCreate": true,
        "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(dt.projects().len(), 1);
    assert_eq!(dt.uploads_to(uuid).len(), 1);

    let unknown = api.upload(json!({"project": Uuid::new_v4(), "bom": b64(PYTHON_1_5)}));
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    dt.assert_conformant();
}

#[test]
fn keys_and_permissions_give_401_and_403_like_dependency_track() {
    let (dt, _) = start();
    let upload = json!({
        "projectName": "nginx", "projectVersion": "1", "autoCreate": true, "bom": b64(PYTHON_1_5)
    });

    let wrong = Api::with_key(&dt, "odt_not-a-key");
    assert_eq!(
        wrong.upload(upload.clone()).status(),
        StatusCode::UNAUTHORIZED
    );
    let anonymous = client_builder()
        .build()
        .unwrap()
        .put(format!("{}/api/v1/bom", dt.url()))
        .json(&upload)
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let viewer = Api::with_key(&dt, &dt.add_api_key([Permission::ViewPortfolio]));
    let response = viewer.upload(upload.clone());
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().unwrap(), "", "403 has an empty body");

    let uploader = Api::with_key(&dt, &dt.add_api_key([Permission::BomUpload]));
    let response = uploader.upload(upload.clone());
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.text().unwrap(),
        "The principal does not have permission to create project."
    );
    assert!(dt.projects().is_empty());

    let creator = Api::with_key(
        &dt,
        &dt.add_api_key([Permission::BomUpload, Permission::ProjectCreationUpload]),
    );
    assert_eq!(creator.upload(upload).status(), StatusCode::OK);
    assert_eq!(dt.projects().len(), 1);
    dt.assert_conformant();
}

#[test]
fn project_tags_replace_an_existing_projects_tags_only_with_portfolio_management() {
    let (dt, api) = start();
    let uuid = dt
        .seed_project(NewProject::new("nginx", "1.27").tags(["team:web", "cluster:a"]))
        .unwrap();
    let upload = |api: &Api| {
        api.upload(json!({
            "projectName": "nginx", "projectVersion": "1.27",
            "projectTags": [{"name": " Cluster:B "}], "bom": b64(PYTHON_1_5)
        }))
    };

    let uploader = Api::with_key(&dt, &dt.add_api_key([Permission::BomUpload]));
    assert_eq!(upload(&uploader).status(), StatusCode::OK);
    assert_eq!(tag_names(&api.project(uuid)), ["cluster:a", "team:web"]);

    assert_eq!(upload(&api).status(), StatusCode::OK);
    assert_eq!(tag_names(&api.project(uuid)), ["cluster:b"]);
    dt.assert_conformant();
}

#[test]
fn every_upload_replaces_all_components_and_overlap_is_recorded() {
    let (dt, api) = start();
    dt.set_processing_delay(Duration::from_millis(300));
    let first = api.upload_new("app", "1", PYTHON_1_5);
    let second = api.upload(json!({
        "projectName": "app", "projectVersion": "1", "bom": b64(YAML_1_5)
    }));
    assert_eq!(second.status(), StatusCode::OK);
    let second = token_of(second);
    api.wait(&first);
    api.wait(&second);

    let uuid = dt.project("app", "1").unwrap().uuid;
    assert_eq!(component_names(&dt, uuid), ["httplib2", "pyyaml"]);
    let uploads = dt.uploads_to(uuid);
    assert_eq!(uploads.len(), 2);
    assert!(!uploads[0].overlapped);
    assert!(
        uploads[1].overlapped,
        "sent before the first token finished"
    );
    dt.assert_conformant();
}

#[test]
fn token_stays_processing_for_the_configured_delay() {
    let (dt, api) = start_processing_for(Duration::from_millis(400));
    let started = Instant::now();
    let token = api.upload_new("app", "1", PYTHON_1_5);
    assert!(api.processing(&token));
    assert_eq!(dt.pending_uploads(), 1);
    api.wait(&token);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(dt.project("app", "1").unwrap().last_bom_import.is_some());
    assert!(
        !api.processing(&Uuid::new_v4().to_string()),
        "unknown tokens read false"
    );
    dt.assert_conformant();
}

#[test]
fn invalid_boms_get_problem_details_and_1_7_is_rejected() {
    let (dt, api) = start();
    let cases = [
        (
            PYTHON_1_5.replace("\"specVersion\":\"1.5\"", "\"specVersion\":\"1.7\""),
            "Unrecognized specVersion 1.7",
        ),
        (
            PYTHON_1_5.replace("\"type\":\"library\"", "\"type\":\"no-such-type\""),
            "Schema validation failed",
        ),
        ("not a bom".to_string(), "BOM is neither valid JSON nor XML"),
    ];
    for (bom, detail) in cases {
        let response = api.upload(json!({
            "projectName": "app", "projectVersion": "1", "autoCreate": true, "bom": b64(&bom)
        }));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().unwrap();
        assert_eq!(problem["title"], "The uploaded BOM is invalid");
        assert_eq!(problem["detail"], detail, "{problem}");
    }
    assert!(dt.uploads().is_empty());
    // As in Dependency-Track, the project is created before its BOM is read.
    assert!(dt.project("app", "1").is_some());

    let accepted = api.upload(json!({
        "projectName": "app", "projectVersion": "1", "bom": b64(PYTHON_1_6)
    }));
    assert_eq!(accepted.status(), StatusCode::OK);
    dt.assert_conformant();
}

#[test]
fn json_bom_longer_than_20_million_characters_is_400() {
    let (dt, api) = start();
    dt.seed_project(NewProject::new("big", "1")).unwrap();
    let response = api.upload(json!({
        "projectName": "big", "projectVersion": "1", "bom": "A".repeat(20_000_004)
    }));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(dt.uploads().is_empty());
    dt.assert_conformant();
}

#[test]
fn multipart_upload_takes_the_same_fields_with_the_bom_as_a_file() {
    let (dt, api) = start();
    let form = multipart::Form::new()
        .text("projectName", "registry.example.com/shop/cart")
        .text("projectVersion", "2.0")
        .text("autoCreate", "true")
        .text("isLatest", "true")
        .text("projectTags", "Cluster:A, namespace:shop")
        .part(
            "bom",
            multipart::Part::bytes(PYTHON_1_6.as_bytes().to_vec())
                .file_name("bom.json")
                .mime_str("application/json")
                .unwrap(),
        );
    let response = api
        .request(Method::POST, "/api/v1/bom")
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = token_of(response);
    api.wait(&token);

    let project = dt.project("registry.example.com/shop/cart", "2.0").unwrap();
    assert!(project.is_latest);
    assert_eq!(
        project.tags.into_iter().collect::<Vec<_>>(),
        ["cluster:a", "namespace:shop"]
    );
    assert_eq!(
        project.last_bom_import_format.as_deref(),
        Some("CycloneDX 1.6")
    );
    assert_eq!(dt.uploads()[0].via, UploadVia::Multipart);
    dt.assert_conformant();
}

#[test]
fn tag_add_and_remove_keep_the_other_tags() {
    let (dt, api) = start();
    let web = dt
        .seed_project(NewProject::new("web", "1").tags(["team:web"]))
        .unwrap();
    let db = dt
        .seed_project(NewProject::new("db", "1").tags(["team:db"]))
        .unwrap();

    let unknown = api.send(
        Method::POST,
        "/api/v1/tag/cluster:prod/project",
        json!([web]),
    );
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );

    let created = api.send(Method::PUT, "/api/v1/tag", json!([" Cluster:Prod "]));
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(dt.tags().contains("cluster:prod"));
    let again = api.send(Method::PUT, "/api/v1/tag", json!(["cluster:prod"]));
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "creating is idempotent"
    );

    let tagged = api.send(
        Method::POST,
        "/api/v1/tag/cluster:prod/project",
        json!([web, db, Uuid::new_v4()]),
    );
    assert_eq!(tagged.status(), StatusCode::NO_CONTENT);
    assert_eq!(tag_names(&api.project(web)), ["cluster:prod", "team:web"]);
    assert_eq!(tag_names(&api.project(db)), ["cluster:prod", "team:db"]);

    let untagged = api.send(
        Method::DELETE,
        "/api/v1/tag/cluster:prod/project",
        json!([web]),
    );
    assert_eq!(untagged.status(), StatusCode::NO_CONTENT);
    assert_eq!(tag_names(&api.project(web)), ["team:web"]);
    assert_eq!(tag_names(&api.project(db)), ["cluster:prod", "team:db"]);

    let listed = api
        .request(Method::GET, "/api/v1/project/tag/cluster:prod")
        .send()
        .unwrap();
    assert_eq!(listed.headers()["X-Total-Count"], "1");
    let listed: Value = listed.json().unwrap();
    assert_eq!(listed[0]["name"], "db");
    dt.assert_conformant();
}

#[test]
fn tag_project_list_outside_1_to_100_is_400_and_a_violation() {
    let (dt, api) = start();
    api.send(Method::PUT, "/api/v1/tag", json!(["cluster:a"]));
    let empty = api.send(Method::POST, "/api/v1/tag/cluster:a/project", json!([]));
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::new_v4()).collect();
    let response = api.send(
        Method::POST,
        "/api/v1/tag/cluster:a/project",
        json!(too_many),
    );
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let violations = dt.violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert_eq!(violations[0].operation.as_deref(), Some("tagProjects"));
}

#[test]
fn patch_without_active_reactivates_and_without_is_latest_drops_latest() {
    let (dt, api) = start();
    let uuid = dt
        .seed_project(NewProject::new("nginx", "1.27").inactive().latest())
        .unwrap();

    let response = api.patch(uuid, json!({"description": "web server"}));
    assert_eq!(response.status(), StatusCode::OK);
    let project: Value = response.json().unwrap();
    assert_eq!(project["active"], true, "omitted active became true");
    assert_eq!(project["isLatest"], false, "omitted isLatest became false");
    assert_eq!(project["description"], "web server");

    let unchanged = api.patch(uuid, json!({"description": "web server"}));
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(dt.counters().projects_updated, 1);
    dt.assert_conformant();
}

#[test]
fn patch_tags_replace_the_set_create_unknown_tags_and_empty_clears() {
    let (dt, api) = start();
    let uuid = dt
        .seed_project(NewProject::new("nginx", "1.27").tags(["team:web"]))
        .unwrap();
    let response = api.patch(
        uuid,
        json!({"active": true, "isLatest": false, "tags": [{"name": "Cluster:A"}, {"name": "team:web"}]}),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        tag_names(&response.json().unwrap()),
        ["cluster:a", "team:web"]
    );
    assert!(dt.tags().contains("cluster:a"), "unknown tag created");

    let cleared = api.patch(uuid, json!({"active": true, "isLatest": false, "tags": []}));
    assert_eq!(cleared.status(), StatusCode::OK);
    assert!(dt.project_by_uuid(uuid).unwrap().tags.is_empty());
    dt.assert_conformant();
}

#[test]
fn deactivation_with_active_children_is_409_and_upload_does_not_reactivate() {
    let (dt, api) = start();
    let parent = dt
        .seed_project(NewProject::new("platform", "prod"))
        .unwrap();
    let child = dt
        .seed_project(NewProject::new("nginx", "1.27").parent(parent))
        .unwrap();
    let deactivate = json!({"active": false, "isLatest": false});

    assert_eq!(
        api.patch(parent, deactivate.clone()).status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        api.patch(child, deactivate.clone()).status(),
        StatusCode::OK
    );
    assert_eq!(api.patch(parent, deactivate).status(), StatusCode::OK);
    assert_eq!(api.project(child)["parent"]["name"], "platform");

    let token = token_of(api.upload(json!({"project": child, "bom": b64(PYTHON_1_5)})));
    api.wait(&token);
    let after_upload = dt.project_by_uuid(child).unwrap();
    assert!(!after_upload.active, "an upload does not reactivate");
    assert!(after_upload.last_bom_import.is_some());

    let active: Value = api
        .request(Method::GET, "/api/v1/project")
        .query(&[("excludeInactive", "true")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(active, json!([]));

    let reactivated = api.patch(child, json!({"active": true, "isLatest": false}));
    assert_eq!(reactivated.status(), StatusCode::OK);
    assert!(dt.project_by_uuid(child).unwrap().active);
    dt.assert_conformant();
}

#[test]
fn post_project_replaces_the_whole_object() {
    let (dt, api) = start();
    let uuid = dt
        .seed_project(NewProject::new("nginx", "1.27").tags(["team:web"]).latest())
        .unwrap();
    let mut body = api.project(uuid);
    body["description"] = json!("replaced");
    body.as_object_mut().unwrap().remove("tags");
    body.as_object_mut().unwrap().remove("isLatest");
    let response = api.send(Method::POST, "/api/v1/project", body);
    assert_eq!(response.status(), StatusCode::OK);
    let project = dt.project_by_uuid(uuid).unwrap();
    assert_eq!(project.description.as_deref(), Some("replaced"));
    assert!(project.tags.is_empty(), "omitted tags are cleared");
    assert!(!project.is_latest);

    let unknown = api.send(
        Method::POST,
        "/api/v1/project",
        json!({"uuid": Uuid::new_v4(), "name": "x"}),
    );
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    dt.assert_conformant();
}

#[test]
fn project_list_is_paged_with_a_total_count() {
    let (dt, api) = start();
    for version in ["1", "2", "3"] {
        dt.seed_project(NewProject::new("app", version)).unwrap();
    }
    let response = api
        .request(Method::GET, "/api/v1/project")
        .query(&[("pageNumber", "2"), ("pageSize", "2"), ("searchText", "AP")])
        .send()
        .unwrap();
    assert_eq!(response.headers()["X-Total-Count"], "3");
    let page: Value = response.json().unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["version"], "3");
    assert_eq!(api.lookup("app", "4").status(), StatusCode::NOT_FOUND);
    dt.assert_conformant();
}

#[test]
fn policy_lifecycle_and_condition_diffing_are_counted() {
    let (dt, api) = start();
    let found: Value = api
        .request(Method::GET, "/api/v1/policy")
        .query(&[("searchText", "kev")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found, json!([]));

    let created = api.send(
        Method::PUT,
        "/api/v1/policy",
        json!({"name": "CISA KEV", "operator": "ANY", "violationState": "FAIL"}),
    );
    assert_eq!(created.status(), StatusCode::CREATED);
    let policy: Value = created.json().unwrap();
    let uuid = policy["uuid"].as_str().unwrap().to_string();
    assert_eq!(policy["global"], true);
    let duplicate = api.send(
        Method::PUT,
        "/api/v1/policy",
        json!({"name": "CISA KEV", "operator": "ANY", "violationState": "WARN"}),
    );
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);

    let mut conditions = Vec::new();
    for cve in ["CVE-2024-3094", "CVE-2021-44228"] {
        let response = api.send(
            Method::PUT,
            &format!("/api/v1/policy/{uuid}/condition"),
            json!({"subject": "VULNERABILITY_ID", "operator": "IS", "value": cve}),
        );
        assert_eq!(response.status(), StatusCode::CREATED);
        let condition: Value = response.json().unwrap();
        conditions.push(condition["uuid"].as_str().unwrap().to_string());
    }
    let deleted = api
        .request(
            Method::DELETE,
            &format!("/api/v1/policy/condition/{}", conditions[0]),
        )
        .send()
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let updated = api.send(
        Method::POST,
        "/api/v1/policy/condition",
        json!({"uuid": conditions[1], "subject": "VULNERABILITY_ID", "operator": "IS_NOT", "value": "CVE-2021-44228"}),
    );
    assert_eq!(updated.status(), StatusCode::OK);

    let found: Value = api
        .request(Method::GET, "/api/v1/policy")
        .query(&[("searchText", "kev")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found[0]["name"], "CISA KEV");
    assert_eq!(
        found[0]["policyConditions"],
        json!([{"uuid": conditions[1], "subject": "VULNERABILITY_ID", "operator": "IS_NOT", "value": "CVE-2021-44228"}])
    );

    let counters = dt.counters();
    assert_eq!(counters.policies_created, 1);
    assert_eq!(counters.conditions_created, 2);
    assert_eq!(counters.conditions_deleted, 1);
    assert_eq!(counters.conditions_updated, 1);
    dt.assert_conformant();
}

#[test]
fn policy_update_sets_the_scalar_fields_and_tags_bind_it() {
    let (dt, api) = start();
    let uuid = dt
        .seed_policy(
            NewPolicy::new("CISA KEV", PolicyOperator::Any, ViolationState::Warn).condition(
                ConditionSubject::VulnerabilityId,
                ConditionOperator::Is,
                "CVE-2024-3094",
            ),
        )
        .unwrap();
    let mut body: Value = api.get(&format!("/api/v1/policy/{uuid}")).json().unwrap();
    body["violationState"] = json!("FAIL");
    body["onlyLatestProjectVersion"] = json!(true);
    let response = api.send(Method::POST, "/api/v1/policy", body);
    assert_eq!(response.status(), StatusCode::OK);

    api.send(Method::PUT, "/api/v1/tag", json!(["cluster:prod"]));
    let bound = api.send(
        Method::POST,
        "/api/v1/tag/cluster:prod/policy",
        json!([uuid]),
    );
    assert_eq!(bound.status(), StatusCode::NO_CONTENT);

    let policy = dt.policy("CISA KEV").unwrap();
    assert_eq!(policy.violation_state, ViolationState::Fail);
    assert!(policy.only_latest_project_version);
    assert_eq!(policy.conditions.len(), 1, "conditions kept");
    assert!(policy.tags.contains("cluster:prod"));
    let counters = dt.counters();
    assert_eq!(
        (counters.policies_created, counters.policies_updated),
        (0, 1)
    );
    let fetched: Value = api.get(&format!("/api/v1/policy/{uuid}")).json().unwrap();
    assert_eq!(fetched["global"], false);
    dt.assert_conformant();
}

#[test]
fn status_faults_hit_only_matching_requests_and_change_nothing() {
    let (dt, api) = start();
    dt.inject(Fault::server_error().times(2).on_path("/api/v1/bom"));
    dt.inject(Fault::too_many_requests().on_path("/api/v1/project/lookup"));
    let upload = json!({
        "projectName": "app", "projectVersion": "1", "autoCreate": true, "bom": b64(PYTHON_1_5)
    });

    let throttled = api.lookup("app", "1");
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["Retry-After"], "1");
    assert_eq!(
        api.upload(upload.clone()).status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        api.upload(upload.clone()).status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(dt.projects().is_empty(), "failed requests changed nothing");
    assert_eq!(api.upload(upload).status(), StatusCode::OK);
    assert_eq!(dt.faults_remaining(), 0);

    dt.inject(Fault::unauthorized());
    assert_eq!(api.lookup("app", "1").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.lookup("app", "1").status(), StatusCode::OK);

    let requests = dt.requests();
    let faulted: Vec<u16> = requests
        .iter()
        .filter(|r| r.faulted)
        .map(|r| r.status)
        .collect();
    assert_eq!(faulted, [429, 500, 500, 401]);
    assert_eq!(dt.uploads().len(), 1, "arrived once");
    dt.assert_conformant();
}

/// PATCHes `uuid` inactive with a client that gives up after 300 ms.
fn impatient_deactivate(dt: &DtServer, uuid: Uuid) {
    let impatient = client_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = impatient
        .patch(format!("{}/api/v1/project/{uuid}", dt.url()))
        .header("X-Api-Key", dt.api_key())
        .json(&json!({"active": false, "isLatest": false}))
        .send();
    assert!(result.unwrap_err().is_timeout());
}

#[test]
fn delayed_response_applies_even_when_the_client_gives_up() {
    let (dt, _) = start();
    let uuid = dt.seed_project(NewProject::new("app", "1")).unwrap();
    dt.inject(Fault::delay_response(Duration::from_secs(2)));
    impatient_deactivate(&dt, uuid);
    assert!(
        !dt.project_by_uuid(uuid).unwrap().active,
        "the PATCH took effect"
    );
    dt.assert_conformant();
}

#[test]
fn delayed_request_is_dropped_when_the_client_gives_up() {
    let (dt, api) = start();
    let uuid = dt.seed_project(NewProject::new("app", "1")).unwrap();
    dt.inject(Fault::delay(Duration::from_millis(800)));
    impatient_deactivate(&dt, uuid);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        dt.project_by_uuid(uuid).unwrap().active,
        "the PATCH never ran"
    );

    dt.inject(Fault::delay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(api.lookup("app", "1").status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    dt.assert_conformant();
}

#[test]
fn down_refuses_connections_and_up_serves_the_same_port_with_state_kept() {
    let (dt, api) = start();
    api.upload_new("app", "1", PYTHON_1_5);
    let addr = dt.addr();

    dt.down().unwrap();
    let error = api.lookup_err("app", "1");
    assert!(error.is_connect(), "{error:?}");
    assert!(std::net::TcpStream::connect(addr).is_err());

    dt.up().unwrap();
    assert_eq!(dt.addr(), addr);
    assert_eq!(api.lookup("app", "1").status(), StatusCode::OK);
    dt.assert_conformant();
}

#[test]
fn restart_loses_unprocessed_boms_and_their_tokens() {
    let (dt, api) = start();
    dt.set_processing_delay(Duration::from_secs(60));
    let token = api.upload_new("app", "1", PYTHON_1_5);
    assert!(api.processing(&token));

    dt.restart().unwrap();
    assert!(!api.processing(&token), "tokens do not survive a restart");
    let project = dt.project("app", "1").unwrap();
    assert_eq!(project.last_bom_import, None);
    assert!(project.components.is_empty());
    assert!(dt.uploads()[0].lost);
    dt.assert_conformant();
}

#[test]
fn requests_outside_the_openapi_document_are_recorded_as_violations() {
    let (dt, api) = start();
    let uuid = dt.seed_project(NewProject::new("app", "1")).unwrap();

    let made_up = api.get("/api/v1/project/lookup/extra");
    assert_eq!(made_up.status(), StatusCode::NOT_FOUND);
    let wrong_method = api.send(Method::PATCH, "/api/v1/bom", json!({}));
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let wrong_type = api.patch(uuid, json!({"active": "no", "isLatest": false}));
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    let unknown_field = api.patch(
        uuid,
        json!({"active": true, "isLatest": false, "latest": true}),
    );
    assert_eq!(unknown_field.status(), StatusCode::NOT_MODIFIED);
    let unknown_query = api
        .request(Method::GET, "/api/v1/project/lookup")
        .query(&[("name", "app"), ("version", "1"), ("exact", "true")])
        .send()
        .unwrap();
    assert_eq!(unknown_query.status(), StatusCode::OK);
    let bad_name = api.upload(json!({
        "projectName": "app\u{1}", "projectVersion": "1", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(bad_name.status(), StatusCode::NOT_FOUND);

    let violations = dt.violations();
    let messages: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(violations.len(), 6, "{messages:#?}");
    assert!(messages[0].starts_with("GET /api/v1/project/lookup/extra: no operation"));
    assert!(messages[1].starts_with("PATCH /api/v1/bom: this method"));
    assert!(
        messages[2].contains("(patchProject): body: /active"),
        "{messages:#?}"
    );
    assert!(messages[3].contains("latest"), "{messages:#?}");
    assert!(messages[4].contains("`exact`"), "{messages:#?}");
    assert!(messages[5].contains("/projectName"), "{messages:#?}");
}

#[test]
fn operations_in_the_api_but_not_implemented_are_501_and_a_violation() {
    let (dt, api) = start();
    let uuid = dt.seed_project(NewProject::new("app", "1")).unwrap();
    let response = api
        .request(Method::DELETE, &format!("/api/v1/project/{uuid}"))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    let violations = dt.violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].operation.as_deref(), Some("deleteProject"));
}

#[tokio::test]
async fn works_from_an_async_test_and_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let dt = std::sync::Arc::new(DtServer::start(DtOptions::default()).unwrap());
    shareable(&*dt);
    install_crypto_provider();
    let client = reqwest::Client::new();
    let mut lookups = Vec::new();
    for _ in 0..4 {
        let (dt, client) = (std::sync::Arc::clone(&dt), client.clone());
        lookups.push(tokio::spawn(async move {
            client
                .get(format!("{}/api/v1/project/lookup", dt.url()))
                .query(&[("name", "app"), ("version", "1")])
                .header("X-Api-Key", dt.api_key())
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap(), StatusCode::NOT_FOUND);
    }
    dt.assert_conformant();
}
