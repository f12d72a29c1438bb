//! Findings, analyses and `/api/version`, over real HTTP.

use std::time::{Duration, Instant, UNIX_EPOCH};

use nodebom_e2e::dtrack::{
    AnalysisState, DtOptions, DtServer, Fault, NewVulnerability, Permission, Severity, VulnSource,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{client_builder, Api};

const OPENSSL: &str = "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12";
const OPENSSL_PATCHED: &str = "pkg:deb/debian/openssl@3.0.14-1~deb12u1?arch=amd64";
const ZLIB: &str = "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&epoch=1";
const LODASH: &str = "pkg:npm/lodash@4.17.20";

/// A CycloneDX 1.5 BOM of library components, each `(name, version, purl)`.
fn bom(components: &[(&str, &str, &str)]) -> String {
    let components: Vec<Value> = components
        .iter()
        .map(|(name, version, purl)| {
            json!({"type": "library", "name": name, "version": version, "purl": purl})
        })
        .collect();
    json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": components})
        .to_string()
}

fn openssl_cve() -> NewVulnerability {
    NewVulnerability::new("CVE-2024-5535", VulnSource::Nvd, Severity::Critical)
        .title("SSL_select_next_proto buffer overread")
        .cvss_v3(9.1)
        .epss(0.0042, 0.71)
        .cwe(
            200,
            "Exposure of Sensitive Information to an Unauthorized Actor",
        )
        // A made-up advisory id: only its form matters here.
        .alias("GHSA-0000-0000-0001")
        .recommendation("Upgrade to 3.0.14-1~deb12u1")
        .affects(
            "pkg:deb/debian/openssl",
            ["3.0.11-1~deb12u2", "3.0.13-1~deb12u1"],
        )
}

fn lodash_ghsa() -> NewVulnerability {
    NewVulnerability::new("GHSA-35jh-r3h4-6jhm", VulnSource::Github, Severity::High)
        .alias("CVE-2021-23337")
        .affects("pkg:npm/lodash", ["4.17.20"])
}

fn start_with(options: DtOptions) -> (DtServer, Api) {
    let dt = DtServer::start(options).unwrap();
    let api = Api::new(&dt);
    (dt, api)
}

fn start() -> (DtServer, Api) {
    start_with(DtOptions::default())
}

impl Api {
    fn findings_response(
        &self,
        project: Uuid,
        query: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        self.request(Method::GET, &format!("/api/v1/finding/project/{project}"))
            .query(query)
            .send()
            .unwrap()
    }

    /// The findings list, checking that `X-Total-Count` counts it.
    fn findings(&self, project: Uuid, query: &[(&str, &str)]) -> Vec<Value> {
        let response = self.findings_response(project, query);
        assert_eq!(response.status(), StatusCode::OK);
        let total: usize = response.headers()["X-Total-Count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let findings: Vec<Value> = response.json().unwrap();
        assert_eq!(findings.len(), total);
        findings
    }

    fn project_uuid(&self, name: &str, version: &str) -> Uuid {
        let project: Value = self.lookup(name, version).json().unwrap();
        project["uuid"].as_str().unwrap().parse().unwrap()
    }
}

/// `(vulnId, component name)` of each finding, sorted.
fn pairs(findings: &[Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["vulnerability"]["vulnId"].as_str().unwrap().to_string(),
                f["component"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn pair(vuln_id: &str, component: &str) -> (String, String) {
    (vuln_id.to_string(), component.to_string())
}

fn millis_now() -> i64 {
    UNIX_EPOCH.elapsed().unwrap().as_millis() as i64
}

#[test]
fn version_needs_no_key_and_names_the_release_played() {
    let (dt, _) = start();
    let anonymous = client_builder().build().unwrap();
    let response = anonymous
        .get(format!("{}/api/version", dt.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let about: Value = response.json().unwrap();
    assert_eq!(about["version"], "4.14.2");
    assert_eq!(about["application"], "Dependency-Track");
    assert_eq!(about["framework"]["name"], "Alpine");
    assert!(about["uuid"].as_str().unwrap().parse::<Uuid>().is_ok());
    dt.assert_conformant();

    let (old, _) = start_with(DtOptions {
        version: "4.11.7".into(),
        ..DtOptions::default()
    });
    let about: Value = anonymous
        .get(format!("{}/api/version", old.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(about["version"], "4.11.7");
    old.assert_conformant();

    let unknown = DtServer::start(DtOptions {
        version: "4.15.0".into(),
        ..DtOptions::default()
    });
    assert!(unknown.is_err(), "only 4.11.x to 4.14.x are played");
}

#[test]
fn findings_follow_analysis_which_the_token_waits_for() {
    let (dt, api) = start_with(DtOptions {
        processing_delay: Duration::from_millis(100),
        analysis_delay: Duration::from_millis(1500),
        ..DtOptions::default()
    });
    dt.add_vulnerability(openssl_cve()).unwrap();
    let started = millis_now();
    let token = api.upload_new(
        "debian",
        "12",
        &bom(&[
            ("openssl", "3.0.11-1~deb12u2", OPENSSL),
            ("zlib1g", "1:1.2.13.dfsg-1", ZLIB),
        ]),
    );
    let project = api.project_uuid("debian", "12");

    // Processed (lastBomImport set) but not yet analysed: no findings, token busy.
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.project(project).get("lastBomImport").is_none() {
        assert!(Instant::now() < deadline, "BOM never processed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(api.findings(project, &[]).is_empty());
    assert!(
        api.processing(&token),
        "the analysis runs under the upload's token"
    );

    api.wait(&token);
    let findings = api.findings(project, &[]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    let component = dt
        .project_by_uuid(project)
        .unwrap()
        .components
        .into_iter()
        .find(|c| c.name == "openssl")
        .unwrap();
    let vulnerability = finding["vulnerability"]["uuid"].as_str().unwrap();
    assert_eq!(
        finding["component"],
        json!({"uuid": component.uuid, "name": "openssl", "version": "3.0.11-1~deb12u2",
               "purl": OPENSSL, "project": project})
    );
    assert_eq!(finding["vulnerability"]["vulnId"], "CVE-2024-5535");
    assert_eq!(finding["vulnerability"]["source"], "NVD");
    assert_eq!(finding["vulnerability"]["severity"], "CRITICAL");
    assert_eq!(finding["vulnerability"]["severityRank"], 0);
    assert_eq!(finding["vulnerability"]["cvssV3BaseScore"], 9.1);
    assert_eq!(finding["vulnerability"]["epssScore"], 0.0042);
    assert_eq!(finding["vulnerability"]["epssPercentile"], 0.71);
    assert_eq!(
        finding["vulnerability"]["aliases"],
        json!([{"cveId": "CVE-2024-5535", "ghsaId": "GHSA-0000-0000-0001"}])
    );
    assert_eq!(finding["vulnerability"]["cwes"][0]["cweId"], 200);
    assert_eq!(finding["vulnerability"]["cweId"], 200);
    assert_eq!(
        finding["analysis"],
        json!({"isSuppressed": false}),
        "no state before anyone analysed it"
    );
    assert_eq!(
        finding["attribution"]["analyzerIdentity"],
        "INTERNAL_ANALYZER"
    );
    let attributed_on = finding["attribution"]["attributedOn"].as_i64().unwrap();
    assert!(
        attributed_on >= started + 1600,
        "after processing and analysis"
    );
    assert_eq!(
        finding["matrix"],
        format!("{project}:{}:{vulnerability}", component.uuid)
    );
    assert!(finding["vulnerability"].get("description").is_none());
    assert!(finding["vulnerability"].get("patchedVersions").is_none());

    let held = dt.findings(project);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].vuln_id, "CVE-2024-5535");
    assert_eq!(held[0].attributed_on, attributed_on);
    let upload = &dt.uploads_to(project)[0];
    assert!(upload.analyzed_at.unwrap() > upload.processed_at.unwrap());
    assert_eq!(dt.findings_requests(project).len(), 2);
    dt.assert_conformant();
}

#[test]
fn purls_match_by_type_namespace_and_name_and_the_exact_version() {
    let (dt, api) = start();
    dt.add_vulnerability(openssl_cve()).unwrap();
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let token = api.upload_new(
        "mixed",
        "1",
        &bom(&[
            ("openssl", "3.0.11-1~deb12u2", OPENSSL),
            ("openssl", "3.0.14-1~deb12u1", OPENSSL_PATCHED),
            (
                "openssl",
                "3.0.11-1~deb12u2",
                "pkg:deb/ubuntu/openssl@3.0.11-1~deb12u2",
            ),
            (
                "openssl",
                "3.0.11-1~deb12u2",
                "pkg:rpm/debian/openssl@3.0.11-1~deb12u2",
            ),
            ("lodash", "4.17.20", LODASH),
            ("lodash", "4.17.21", "pkg:npm/lodash@4.17.21"),
        ]),
    );
    api.wait(&token);
    let project = api.project_uuid("mixed", "1");
    let findings = api.findings(project, &[]);
    let purls: Vec<&str> = findings
        .iter()
        .map(|f| f["component"]["purl"].as_str().unwrap())
        .collect();
    assert_eq!(purls, [OPENSSL, LODASH], "in attribution order");
    assert_eq!(
        findings[1]["vulnerability"]["aliases"],
        json!([{"ghsaId": "GHSA-35jh-r3h4-6jhm", "cveId": "CVE-2021-23337"}])
    );
    assert_eq!(findings[1]["vulnerability"]["severityRank"], 1);
    assert!(
        findings[1]["vulnerability"].get("epssScore").is_none(),
        "no EPSS data, no EPSS fields"
    );

    let github = api.findings(project, &[("source", "GITHUB")]);
    assert_eq!(pairs(&github), [pair("GHSA-35jh-r3h4-6jhm", "lodash")]);
    dt.assert_conformant();
}

#[test]
fn suppressed_findings_are_listed_only_when_asked_for() {
    let (dt, api) = start();
    dt.add_vulnerability(openssl_cve()).unwrap();
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let token = api.upload_new(
        "app",
        "1",
        &bom(&[
            ("openssl", "3.0.11-1~deb12u2", OPENSSL),
            ("lodash", "4.17.20", LODASH),
        ]),
    );
    api.wait(&token);
    let project = api.project_uuid("app", "1");

    let analysis = dt
        .set_analysis(
            project,
            LODASH,
            "GHSA-35jh-r3h4-6jhm",
            AnalysisState::FalsePositive,
            true,
        )
        .unwrap();
    assert!(analysis.suppressed);
    dt.set_analysis(
        project,
        "openssl",
        "CVE-2024-5535",
        AnalysisState::InTriage,
        false,
    )
    .unwrap();

    let listed = api.findings(project, &[]);
    assert_eq!(pairs(&listed), [pair("CVE-2024-5535", "openssl")]);
    assert_eq!(
        listed[0]["analysis"],
        json!({"state": "IN_TRIAGE", "isSuppressed": false})
    );
    let all = api.findings(project, &[("suppressed", "true")]);
    assert_eq!(all.len(), 2);
    let lodash = all
        .iter()
        .find(|f| f["component"]["name"] == "lodash")
        .unwrap();
    assert_eq!(
        lodash["analysis"],
        json!({"state": "FALSE_POSITIVE", "isSuppressed": true})
    );
    assert_eq!(api.findings(project, &[("suppressed", "false")]).len(), 1);

    assert!(dt
        .set_analysis(
            project,
            "no-such-component",
            "CVE-2024-5535",
            AnalysisState::Resolved,
            false
        )
        .is_err());
    assert!(dt
        .set_analysis(
            project,
            "openssl",
            "CVE-1999-0001",
            AnalysisState::Resolved,
            false
        )
        .is_err());
    dt.assert_conformant();
}

#[test]
fn findings_need_view_vulnerability_and_an_existing_project() {
    let (dt, api) = start();
    let viewer = Api::with_key(&dt, &dt.add_api_key([Permission::ViewPortfolio]));
    let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
    api.wait(&token);
    let project = api.project_uuid("app", "1");

    let response = viewer.findings_response(project, &[]);
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let unknown = api.findings_response(Uuid::new_v4(), &[]);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.text().unwrap(), "The project could not be found.");
    assert!(
        api.findings(project, &[]).is_empty(),
        "no vulnerability known"
    );
    dt.assert_conformant();
}

#[test]
fn a_new_bom_keeps_the_findings_and_analyses_of_unchanged_components_only() {
    let (dt, api) = start();
    dt.add_vulnerability(openssl_cve()).unwrap();
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let first = api.upload_new(
        "app",
        "1",
        &bom(&[
            ("openssl", "3.0.11-1~deb12u2", OPENSSL),
            ("lodash", "4.17.20", LODASH),
        ]),
    );
    api.wait(&first);
    let project = api.project_uuid("app", "1");
    dt.set_analysis(
        project,
        "openssl",
        "CVE-2024-5535",
        AnalysisState::NotAffected,
        true,
    )
    .unwrap();
    let before = dt.findings(project);
    let openssl_before = before
        .iter()
        .find(|f| f.component.name == "openssl")
        .unwrap()
        .clone();

    // openssl unchanged, lodash gone, a vulnerable openssl version arrives.
    let second = api.upload(json!({
        "project": project,
        "bom": super::b64(&bom(&[
            ("openssl", "3.0.11-1~deb12u2", OPENSSL),
            ("openssl", "3.0.13-1~deb12u1", "pkg:deb/debian/openssl@3.0.13-1~deb12u1?arch=arm64"),
        ])),
    }));
    assert_eq!(second.status(), StatusCode::OK);
    api.wait(&super::token_of(second));

    let after = dt.findings(project);
    assert_eq!(after.len(), 2, "{after:#?}");
    let kept = after
        .iter()
        .find(|f| f.component.uuid == openssl_before.component.uuid)
        .expect("the unchanged component keeps its UUID and finding");
    assert_eq!(kept.attributed_on, openssl_before.attributed_on);
    assert!(kept.suppressed(), "its analysis stays");
    assert!(after.iter().all(|f| f.component.name == "openssl"));
    let listed = api.findings(project, &[]);
    assert_eq!(
        listed
            .iter()
            .map(|f| f["component"]["version"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["3.0.13-1~deb12u1"]
    );
    dt.assert_conformant();
}

#[test]
fn vulnerabilities_added_later_come_with_the_scheduled_analysis_of_active_projects() {
    let (dt, api) = start();
    for name in ["active", "inactive"] {
        let token = api.upload_new(name, "1", &bom(&[("lodash", "4.17.20", LODASH)]));
        api.wait(&token);
    }
    let active = api.project_uuid("active", "1");
    let inactive = api.project_uuid("inactive", "1");
    let response = api.patch(inactive, json!({"active": false, "isLatest": false}));
    assert_eq!(response.status(), StatusCode::OK);

    dt.add_vulnerability(lodash_ghsa()).unwrap();
    assert!(
        api.findings(active, &[]).is_empty(),
        "not before an analysis"
    );
    dt.reanalyze();
    assert_eq!(
        pairs(&api.findings(active, &[])),
        [pair("GHSA-35jh-r3h4-6jhm", "lodash")]
    );
    assert!(api.findings(inactive, &[]).is_empty());
    assert!(
        dt.add_vulnerability(lodash_ghsa()).is_err(),
        "already known"
    );
    dt.assert_conformant();
}

#[test]
fn a_restart_during_analysis_loses_it_until_the_next_scheduled_one() {
    let (dt, api) = start_with(DtOptions {
        processing_delay: Duration::from_millis(50),
        analysis_delay: Duration::from_secs(60),
        ..DtOptions::default()
    });
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
    let project = api.project_uuid("app", "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while dt
        .project_by_uuid(project)
        .unwrap()
        .last_bom_import
        .is_none()
    {
        assert!(Instant::now() < deadline, "BOM never processed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(api.processing(&token));

    dt.restart().unwrap();
    assert!(!api.processing(&token), "token gone");
    assert!(api.findings(project, &[]).is_empty(), "analysis lost");
    let upload = &dt.uploads_to(project)[0];
    assert!(!upload.lost, "the BOM itself was processed");
    assert_eq!(upload.analyzed_at, None);

    dt.reanalyze();
    assert_eq!(api.findings(project, &[]).len(), 1);
    dt.assert_conformant();
}

#[test]
fn release_4_11_sends_an_unset_description_and_recommendation_as_null() {
    let shape = |version: &str| {
        let (dt, api) = start_with(DtOptions {
            version: version.into(),
            ..DtOptions::default()
        });
        dt.add_vulnerability(lodash_ghsa().epss(0.01, 0.5)).unwrap();
        let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
        api.wait(&token);
        let findings = api.findings(api.project_uuid("app", "1"), &[]);
        dt.assert_conformant();
        findings[0]["vulnerability"].clone()
    };
    let old = shape("4.11.7");
    assert_eq!(old["description"], Value::Null);
    assert!(old.get("description").is_some());
    assert_eq!(old["recommendation"], Value::Null);
    assert_eq!(old["epssScore"], 0.01);
    let new = shape("4.13.2");
    assert!(new.get("description").is_none());
    assert!(new.get("recommendation").is_none());
    assert_eq!(new["epssPercentile"], 0.5);
}

#[test]
fn a_body_fault_answers_malformed_json_without_handling_the_request() {
    let (dt, api) = start();
    let project = {
        let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
        api.wait(&token);
        api.project_uuid("app", "1")
    };
    dt.inject(Fault::body(200, "[{\"component\":").on_path("/api/v1/finding/project/"));
    let garbled = api.findings_response(project, &[]);
    assert_eq!(garbled.status(), StatusCode::OK);
    assert_eq!(garbled.headers()["content-type"], "application/json");
    assert_eq!(garbled.text().unwrap(), "[{\"component\":");

    dt.inject(Fault::body(502, "<html>bad gateway</html>"));
    assert_eq!(
        api.findings_response(project, &[]).status(),
        StatusCode::BAD_GATEWAY
    );
    assert!(
        api.findings(project, &[]).is_empty(),
        "then the real answer"
    );

    let statuses: Vec<(u16, bool)> = dt
        .findings_requests(project)
        .iter()
        .map(|r| (r.status, r.faulted))
        .collect();
    assert_eq!(statuses, [(200, true), (502, true), (200, false)]);
    dt.assert_conformant();
}

#[test]
fn put_analysis_records_a_decision_with_its_audit_trail() {
    let (dt, api) = start();
    dt.add_vulnerability(openssl_cve()).unwrap();
    let token = api.upload_new(
        "app",
        "1",
        &bom(&[("openssl", "3.0.11-1~deb12u2", OPENSSL)]),
    );
    api.wait(&token);
    let project = api.project_uuid("app", "1");
    let finding = &api.findings(project, &[])[0];
    let component = finding["component"]["uuid"].as_str().unwrap().to_string();
    let vulnerability = finding["vulnerability"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let response = api.send(
        Method::PUT,
        "/api/v1/analysis",
        json!({"project": project, "component": component, "vulnerability": vulnerability,
               "analysisState": "NOT_AFFECTED", "analysisJustification": "CODE_NOT_REACHABLE",
               "analysisDetails": " not loaded ", "comment": "checked", "isSuppressed": true}),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let analysis: Value = response.json().unwrap();
    assert_eq!(analysis["analysisState"], "NOT_AFFECTED");
    assert_eq!(analysis["analysisResponse"], "NOT_SET");
    assert_eq!(analysis["analysisDetails"], "not loaded");
    assert_eq!(analysis["isSuppressed"], true);
    let trail: Vec<&str> = analysis["analysisComments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    assert_eq!(
        trail,
        [
            "Analysis: NOT_SET → NOT_AFFECTED",
            "Justification: NOT_SET → CODE_NOT_REACHABLE",
            "Details: not loaded",
            "Suppressed",
            "checked"
        ]
    );
    assert!(api.findings(project, &[]).is_empty(), "suppressed now");

    let read: Value = api
        .request(Method::GET, "/api/v1/analysis")
        .query(&[
            ("project", project.to_string()),
            ("component", component.clone()),
            ("vulnerability", vulnerability.clone()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read, analysis);

    // Without a state, Dependency-Track resets it to NOT_SET; suppression stays.
    let reset: Value = api
        .send(
            Method::PUT,
            "/api/v1/analysis",
            json!({"project": project, "component": component, "vulnerability": vulnerability}),
        )
        .json()
        .unwrap();
    assert_eq!(reset["analysisState"], "NOT_SET");
    assert_eq!(reset["isSuppressed"], true);
    assert_eq!(dt.counters().analyses_recorded, 2);

    let without_project = api.send(
        Method::PUT,
        "/api/v1/analysis",
        json!({"component": component, "vulnerability": vulnerability}),
    );
    assert_eq!(without_project.status(), StatusCode::NOT_FOUND);
    dt.assert_conformant();
}

#[test]
fn suppressed_instead_of_is_suppressed_is_ignored_and_a_violation() {
    let (dt, api) = start();
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
    api.wait(&token);
    let project = api.project_uuid("app", "1");
    let held = &dt.findings(project)[0];
    let response = api.send(
        Method::PUT,
        "/api/v1/analysis",
        json!({"project": project, "component": held.component.uuid,
               "vulnerability": held.vulnerability, "suppressed": true}),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!dt.findings(project)[0].suppressed());
    let violations = dt.violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(
        violations[0].message.contains("suppressed"),
        "{violations:#?}"
    );
}

#[test]
fn sarif_findings_are_not_implemented() {
    let (dt, api) = start();
    let token = api.upload_new("app", "1", &bom(&[("lodash", "4.17.20", LODASH)]));
    api.wait(&token);
    let project = api.project_uuid("app", "1");
    let response = api
        .request(Method::GET, &format!("/api/v1/finding/project/{project}"))
        .header("Accept", "application/sarif+json")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(dt.violations().len(), 1);
}

#[test]
fn a_vulnerability_record_says_which_versions_fix_it_which_findings_do_not() {
    let (dt, api) = start();
    dt.add_vulnerability(openssl_cve().patched("3.0.14-1~deb12u1"))
        .unwrap();
    dt.add_vulnerability(lodash_ghsa()).unwrap();
    let get = |path: &str| api.request(Method::GET, path).send().unwrap();
    let record: Value = get("/api/v1/vulnerability/source/NVD/vuln/CVE-2024-5535")
        .json()
        .unwrap();
    assert_eq!(record["vulnId"], "CVE-2024-5535");
    assert_eq!(record["patchedVersions"], "3.0.14-1~deb12u1");
    assert_eq!(record["epssScore"], 0.0042);
    let unpatched: Value = get("/api/v1/vulnerability/source/GITHUB/vuln/GHSA-35jh-r3h4-6jhm")
        .json()
        .unwrap();
    assert!(unpatched.get("patchedVersions").is_none(), "{unpatched}");
    // The id under another source, an unknown id, an unknown source.
    for path in [
        "/api/v1/vulnerability/source/GITHUB/vuln/CVE-2024-5535",
        "/api/v1/vulnerability/source/NVD/vuln/CVE-1999-0001",
        "/api/v1/vulnerability/source/NOPE/vuln/CVE-2024-5535",
    ] {
        assert_eq!(get(path).status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Findings never carry it.
    let token = api.upload_new(
        "app",
        "1",
        &bom(&[("openssl", "3.0.11-1~deb12u2", OPENSSL)]),
    );
    api.wait(&token);
    let findings = api.findings(api.project_uuid("app", "1"), &[]);
    assert_eq!(findings.len(), 1);
    assert!(findings[0]["vulnerability"]
        .get("patchedVersions")
        .is_none());
    dt.assert_conformant();
}
