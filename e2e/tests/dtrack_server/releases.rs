//! What the server does differently for the Dependency-Track release it plays: upload
//! fields that came with 4.12 and were renamed in 4.14, EPSS policy conditions (4.12),
//! collection projects (4.13), and licence groups, which every release has.

use super::*;

fn start_release(version: &str) -> (DtServer, Api) {
    let dt = DtServer::start(DtOptions {
        version: version.into(),
        ..DtOptions::default()
    })
    .unwrap();
    let api = Api::new(&dt);
    (dt, api)
}

/// Uploads a new project with `fields` besides the usual ones; returns its tags and
/// latest flag as the server applied them.
fn created_with(dt: &DtServer, api: &Api, version: &str, fields: Value) -> (Vec<String>, bool) {
    let mut body = json!({
        "projectName": "app", "projectVersion": version, "autoCreate": true,
        "bom": b64(PYTHON_1_5)
    });
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let response = api.upload(body);
    assert_eq!(response.status(), StatusCode::OK);
    let project = dt.project("app", version).unwrap();
    (project.tags.into_iter().collect(), project.is_latest)
}

#[test]
fn upload_fields_are_read_as_each_release_reads_them() {
    let tagged = json!({"projectTags": [{"name": "Cluster:A"}]});
    let old_latest = json!({"isLatestProjectVersion": true});
    let new_latest = json!({"isLatest": true});
    let cases = [
        // (release, fields, tags applied, latest applied)
        ("4.11.7", &tagged, false, false),
        ("4.11.7", &old_latest, false, false),
        ("4.12.3", &tagged, true, false),
        ("4.12.3", &old_latest, false, true),
        ("4.13.2", &new_latest, false, false),
        ("4.14.2", &new_latest, false, true),
        ("4.14.2", &old_latest, false, true),
    ];
    for (i, (release, fields, tags, latest)) in cases.into_iter().enumerate() {
        let (dt, api) = start_release(release);
        let (got_tags, got_latest) = created_with(&dt, &api, &i.to_string(), fields.clone());
        let expected_tags = if tags {
            vec!["cluster:a".to_string()]
        } else {
            Vec::new()
        };
        assert_eq!(got_tags, expected_tags, "{release} {fields}");
        assert_eq!(got_latest, latest, "{release} {fields}");
        dt.assert_conformant();
    }
}

#[test]
fn project_tags_replace_an_existing_projects_tags_only_from_4_12_7() {
    for (release, replaced) in [("4.12.6", false), ("4.12.7", true)] {
        let (dt, api) = start_release(release);
        dt.seed_project(NewProject::new("app", "1").tags(["team:web"]))
            .unwrap();
        let response = api.upload(json!({
            "projectName": "app", "projectVersion": "1", "bom": b64(PYTHON_1_5),
            "projectTags": [{"name": "cluster:a"}]
        }));
        assert_eq!(response.status(), StatusCode::OK);
        let tags: Vec<String> = dt.project("app", "1").unwrap().tags.into_iter().collect();
        let expected = if replaced { "cluster:a" } else { "team:web" };
        assert_eq!(tags, [expected], "{release}");
    }
}

#[test]
fn epss_conditions_exist_from_4_12() {
    for (release, status) in [
        ("4.11.7", StatusCode::BAD_REQUEST),
        ("4.12.0", StatusCode::CREATED),
    ] {
        let (dt, api) = start_release(release);
        let policy = dt
            .seed_policy(NewPolicy::new(
                "p",
                PolicyOperator::Any,
                ViolationState::Fail,
            ))
            .unwrap();
        let response = api.send(
            Method::PUT,
            &format!("/api/v1/policy/{policy}/condition"),
            json!({"subject": "EPSS", "operator": "NUMERIC_GREATER_THAN_OR_EQUAL", "value": "0.5"}),
        );
        assert_eq!(response.status(), status, "{release}");
        let kept = dt.policy("p").unwrap().conditions.len();
        assert_eq!(
            kept,
            usize::from(status == StatusCode::CREATED),
            "{release}"
        );
    }
}

#[test]
fn a_collection_project_is_created_once_and_takes_no_bom() {
    let (dt, api) = start_release("4.14.2");
    let body = json!({"name": "fleet", "version": "1", "active": true,
                      "collectionLogic": "AGGREGATE_DIRECT_CHILDREN"});
    let response = api.send(Method::PUT, "/api/v1/project", body.clone());
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().unwrap();
    assert_eq!(created["collectionLogic"], "AGGREGATE_DIRECT_CHILDREN");
    assert_eq!(
        dt.project("fleet", "1").unwrap().collection_logic,
        CollectionLogic::AggregateDirectChildren
    );
    assert_eq!(
        api.send(Method::PUT, "/api/v1/project", body).status(),
        StatusCode::CONFLICT
    );
    let upload = api.upload(json!({
        "projectName": "fleet", "projectVersion": "1", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(upload.status(), StatusCode::BAD_REQUEST);
    // Its children are uploaded under it.
    let child = api.upload(json!({
        "projectName": "app", "projectVersion": "1", "autoCreate": true,
        "parentName": "fleet", "parentVersion": "1", "bom": b64(PYTHON_1_5)
    }));
    assert_eq!(child.status(), StatusCode::OK);
    let parent = dt.project("fleet", "1").unwrap().uuid;
    assert_eq!(dt.project("app", "1").unwrap().parent, Some(parent));
    assert_eq!(dt.counters().projects_created, 2);
    dt.assert_conformant();
}

#[test]
fn licence_groups_are_listed_by_name_and_paged() {
    let (dt, api) = start_release("4.11.7");
    let permissive = dt.seed_license_group("Permissive");
    let copyleft = dt.seed_license_group("Copyleft");
    let response = api.get("/api/v1/licenseGroup?pageNumber=1&pageSize=1");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["X-Total-Count"], "2");
    let page: Value = response.json().unwrap();
    assert_eq!(
        page,
        json!([{"uuid": copyleft, "name": "Copyleft", "riskWeight": 0}])
    );
    let second: Value = api
        .get("/api/v1/licenseGroup?pageNumber=2&pageSize=1")
        .json()
        .unwrap();
    assert_eq!(second[0]["uuid"], json!(permissive));
    dt.assert_conformant();
}
