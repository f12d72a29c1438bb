//! Exposure end to end: agents report images and upload SBOMs over gRPC, the collector
//! forwards them to the Dependency-Track test server, whose analysis attaches findings
//! from its vulnerability fixture; the collector reads them back and answers
//! `ListExposures`, `FindVulnerability`, `query exposures` and `report`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    image, workload, Agent, Target, TestCollector, PATIENCE, PYTHON_SBOM, TOKEN_A, TOKEN_B,
};
use nodebom_e2e::dtrack::{
    AnalysisState, DtOptions, DtServer, Fault, NewVulnerability, Severity, VulnSource,
};
use nodebom_proto::v1 as pb;

/// CISA's KEV catalog of 2025-08-25.
const KEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json"
);
/// Log4Shell, in the KEV catalog as used in ransomware campaigns. The fixture attaches
/// it to the package of the SBOM the agents upload (certifi, from syft's Python
/// fixture), as DT's analyzers attach an advisory to the package it names.
const KEV_CVE: &str = "CVE-2021-44228";
const KEV_GHSA: &str = "GHSA-jfh8-c2jp-5v3q";
const CERTIFI: &str = "pkg:pypi/certifi@2026.5.20";

/// The DT test server with three vulnerabilities of the uploaded SBOM's packages: the
/// KEV one on certifi (no EPSS), a likely one on click (EPSS 0.5) and an unlikely
/// critical one on click (EPSS 0.01).
fn dependency_track() -> DtServer {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    dt.add_vulnerability(
        NewVulnerability::new(KEV_CVE, VulnSource::Nvd, Severity::Low)
            .alias(KEV_GHSA)
            .patched("2026.7.4")
            .affects("pkg:pypi/certifi", ["2026.5.20"]),
    )
    .unwrap();
    dt.add_vulnerability(
        NewVulnerability::new("GHSA-1111-2222-3333", VulnSource::Github, Severity::Medium)
            .epss(0.5, 0.97)
            .affects("pkg:pypi/click", ["8.4.0"]),
    )
    .unwrap();
    dt.add_vulnerability(
        NewVulnerability::new("CVE-2099-0001", VulnSource::Nvd, Severity::Critical)
            .cvss_v3(9.8)
            .epss(0.01, 0.2)
            .affects("pkg:pypi/click", ["8.4.0"]),
    )
    .unwrap();
    dt
}

async fn start(dt: &DtServer, key_dir: &std::path::Path) -> TestCollector {
    start_with(dt, key_dir, &[]).await
}

async fn start_with(dt: &DtServer, key_dir: &std::path::Path, extra: &[&str]) -> TestCollector {
    let mut args = vec![
        "--dtrack-all-images",
        "--dtrack-tag-grace",
        "1s",
        "--dtrack-findings-refresh",
        "1s",
        "--kev-catalog",
        KEV,
        "--dtrack-retry-first",
        "100ms",
        "--dtrack-retry-max",
        "500ms",
    ];
    args.extend_from_slice(extra);
    TestCollector::forwarding_to(&dt.url(), dt.api_key(), key_dir, &args).await
}

/// Reports `images` and `workloads` for the agent's node and uploads the SBOMs the
/// collector asks it for.
async fn report(
    collector: &TestCollector,
    agent: &mut Agent,
    token: &str,
    images: &[pb::Image],
    workloads: &[pb::Workload],
) {
    let ack = agent.full(images, workloads).await.unwrap();
    for digest in ack.sbom_wanted {
        agent
            .upload(collector, Some(token), &digest, PYTHON_SBOM, 4096)
            .await
            .unwrap();
    }
}

async fn exposures(
    collector: &TestCollector,
    request: pb::ListExposuresRequest,
) -> Vec<pb::Exposure> {
    collector
        .query()
        .await
        .list_exposures(request)
        .await
        .unwrap()
        .into_inner()
        .exposures
}

/// Waits until `ListExposures` answers `wanted` exposures.
async fn wait_for(collector: &TestCollector, wanted: usize) -> Vec<pb::Exposure> {
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let found = exposures(collector, pb::ListExposuresRequest::default()).await;
        if found.len() == wanted || tokio::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The DT project of the `web` image the tests run.
fn web_project(dt: &DtServer) -> nodebom_e2e::dtrack::Project {
    dt.projects()
        .into_iter()
        .find(|p| p.name == "registry.example/shop/web")
        .expect("web's project")
}

fn id(exposure: &pb::Exposure) -> &str {
    exposure
        .vulnerability
        .as_ref()
        .map_or("", |v| v.id.as_str())
}

#[tokio::test]
async fn kev_exposure_in_two_clusters_comes_first_and_goes_when_suppressed_in_dt() {
    let dt = dependency_track();
    let keys = tempfile::tempdir().unwrap();
    let collector = start(&dt, keys.path()).await;

    let web = image("web", &["registry.example/shop/web:1.0"]);
    let tool = image("tool", &["registry.example/ops/tool:2.1"]);
    let mut a = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "node-1")
        .await
        .unwrap();
    let mut b = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "node-7")
        .await
        .unwrap();
    let web_a = workload("shop", "web-0", "web", &web);
    report(
        &collector,
        &mut a,
        TOKEN_A,
        &[web.clone(), tool.clone()],
        std::slice::from_ref(&web_a),
    )
    .await;
    report(
        &collector,
        &mut b,
        TOKEN_B,
        std::slice::from_ref(&web),
        &[workload("shop", "web-0", "web", &web)],
    )
    .await;

    // Three vulnerabilities in each of two images.
    let found = wait_for(&collector, 6).await;
    let order: Vec<(&str, &str)> = found
        .iter()
        .map(|e| (id(e), e.manifest_digest.as_str()))
        .collect();
    let (web_digest, tool_digest) = (web.manifest_digest.as_str(), tool.manifest_digest.as_str());
    assert_eq!(
        order,
        [
            // KEV first, running before on disk; then EPSS before severity.
            (KEV_CVE, web_digest),
            (KEV_CVE, tool_digest),
            ("GHSA-1111-2222-3333", web_digest),
            ("GHSA-1111-2222-3333", tool_digest),
            ("CVE-2099-0001", web_digest),
            ("CVE-2099-0001", tool_digest),
        ],
        "{found:#?}"
    );
    let first = &found[0];
    assert_eq!(first.clusters, ["prod-a", "prod-b"]);
    assert_eq!((first.running, first.pods, first.rank), (true, 2, 1));
    let kev = first.kev.as_ref().expect("KEV entry");
    assert_eq!(kev.date_added, "2021-12-10");
    assert!(kev.ransomware);
    assert_eq!(first.package.as_ref().unwrap().purl, CERTIFI);
    // From DT's vulnerability record: its findings do not say.
    assert_eq!(first.fixed_versions, "2026.7.4");
    assert!(
        first.reasons.contains(&"fixed in 2026.7.4".to_owned()),
        "{:?}",
        first.reasons
    );
    assert_eq!(
        found[2].fixed_versions,
        "",
        "no fix known for {}",
        id(&found[2])
    );
    assert!(
        first.reasons[0].starts_with("in CISA KEV since 2021-12-10"),
        "{:?}",
        first.reasons
    );
    assert!(!found[1].running);
    assert_eq!(found[1].nodes.len(), 1);
    assert!(found[1]
        .reasons
        .iter()
        .any(|r| r.starts_with("not running")));

    // Filters: one cluster, running only, KEV only, a minimum EPSS.
    let prod_b = exposures(
        &collector,
        pb::ListExposuresRequest {
            cluster: "prod-b".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(prod_b
        .iter()
        .all(|e| e.manifest_digest == web_digest && e.clusters == ["prod-b"]));
    assert_eq!(prod_b.len(), 3);
    // A namespace holds what its workloads run: not the image only on disk.
    let shop = exposures(
        &collector,
        pb::ListExposuresRequest {
            namespace: "shop".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(shop.len(), 3, "{shop:#?}");
    assert!(shop
        .iter()
        .all(|e| e.manifest_digest == web_digest && e.running));
    let kev_running = exposures(
        &collector,
        pb::ListExposuresRequest {
            kev_only: true,
            running_only: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(kev_running.len(), 1);
    let likely = exposures(
        &collector,
        pb::ListExposuresRequest {
            min_epss: 0.1,
            ..Default::default()
        },
    )
    .await;
    assert!(
        likely.iter().all(|e| id(e) == "GHSA-1111-2222-3333"),
        "{likely:#?}"
    );
    assert_eq!(likely.len(), 2);

    // By any alias, any case.
    let by_alias = collector
        .query()
        .await
        .find_vulnerability(pb::FindVulnerabilityRequest {
            id: KEV_GHSA.to_lowercase(),
            cluster: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .exposures;
    assert_eq!(by_alias.len(), 2);
    assert!(by_alias.iter().all(|e| id(e) == KEV_CVE));

    // The report: per cluster and namespace, KEV first.
    let report = common::run_cli("report", &collector.url(), &[]).await;
    let shop = report.find("### Namespace ` shop `").expect(&report);
    let kev_row = report[shop..].find(KEV_CVE).expect(&report);
    let other_row = report[shop..].find("GHSA-1111-2222-3333").expect(&report);
    assert!(kev_row < other_row, "{report}");
    assert!(report.contains("## Cluster ` prod-b `"), "{report}");
    assert!(report.contains("### On nodes, not running"), "{report}");

    // A DT user suppresses the finding in prod-a's and prod-b's project of `web`: at
    // the next refresh it is no exposure any more.
    let project = web_project(&dt);
    dt.set_analysis(
        project.uuid,
        CERTIFI,
        KEV_CVE,
        AnalysisState::NotAffected,
        false,
    )
    .unwrap();
    let after = wait_for(&collector, 5).await;
    assert_eq!(
        (id(&after[0]), after[0].manifest_digest.as_str()),
        (KEV_CVE, tool_digest)
    );
    dt.assert_conformant();
    collector.stop().await;
}

#[tokio::test]
async fn malformed_findings_are_retried_and_what_was_read_stays() {
    let dt = dependency_track();
    let keys = tempfile::tempdir().unwrap();
    let collector = start(&dt, keys.path()).await;
    let web = image("web", &["registry.example/shop/web:1.0"]);
    let mut a = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "node-1")
        .await
        .unwrap();
    report(
        &collector,
        &mut a,
        TOKEN_A,
        std::slice::from_ref(&web),
        &[workload("shop", "web-0", "web", &web)],
    )
    .await;
    assert_eq!(wait_for(&collector, 3).await.len(), 3);

    // DT answers garbage for a while: the exposures read before stay, nothing is
    // recorded as refused, and the reads go on until DT answers properly again.
    dt.inject(
        Fault::body(200, "[{\"component\":")
            .times(3)
            .on_path("/api/v1/finding/project/"),
    );
    dt.inject(
        Fault::body(200, "{\"not\": \"a list\"}")
            .times(2)
            .on_path("/api/v1/finding/project/"),
    );
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    while dt.faults_remaining() > 0 && tokio::time::Instant::now() < deadline {
        assert_eq!(
            exposures(&collector, pb::ListExposuresRequest::default())
                .await
                .len(),
            3
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dt.faults_remaining(),
        0,
        "the collector stopped reading findings"
    );
    let project = web_project(&dt);
    let reads = dt.findings_requests(project.uuid).len();
    let failures = collector
        .query()
        .await
        .list_dtrack_failures(pb::ListDtrackFailuresRequest { limit: 10 })
        .await
        .unwrap()
        .into_inner()
        .failures;
    assert!(failures.is_empty(), "{failures:#?}");
    // And a good answer after them is read.
    dt.set_analysis(
        project.uuid,
        CERTIFI,
        KEV_CVE,
        AnalysisState::FalsePositive,
        false,
    )
    .unwrap();
    assert_eq!(wait_for(&collector, 2).await.len(), 2);
    assert!(dt.findings_requests(project.uuid).len() > reads);
    collector.stop().await;
}

/// A webhook receiver: records every call's path and body, and answers 503 to the
/// first `failures` calls on `/json`.
struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<(String, serde_json::Value, u16)>>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let calls: Arc<Mutex<Vec<(String, serde_json::Value, u16)>>> = Arc::default();
        let recorded = Arc::clone(&calls);
        let app = axum::Router::new().route(
            "/{hook}",
            axum::routing::post(
                move |axum::extract::Path(hook): axum::extract::Path<String>, body: String| {
                    let recorded = Arc::clone(&recorded);
                    async move {
                        let mut calls = recorded.lock().unwrap();
                        let failed = calls.iter().filter(|c| c.0 == "json").count() < failures
                            && hook == "json";
                        let status = if failed { 503 } else { 200 };
                        let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                        calls.push((hook, body, status));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, calls }
    }

    /// The bodies `hook` accepted.
    fn accepted(&self, hook: &str) -> Vec<serde_json::Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == hook && c.2 == 200)
            .map(|c| c.1.clone())
            .collect()
    }

    /// Waits until `hook` accepted `count` calls; returns them.
    async fn wait_for(&self, hook: &str, count: usize) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE * 3;
        while self.accepted(hook).len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.accepted(hook)
    }
}

#[tokio::test]
async fn a_kev_exposure_is_announced_once_and_so_is_its_resolution() {
    let dt = dependency_track();
    let keys = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(2).await;
    let json_hook = format!("json={}/json", receiver.url);
    let slack_hook = format!("slack={}/slack", receiver.url);
    // Only KEV is worth a call here: the other vulnerabilities' EPSS is below 0.9.
    let collector = start_with(
        &dt,
        keys.path(),
        &[
            "--webhook",
            &json_hook,
            "--webhook",
            &slack_hook,
            "--notify-interval",
            "200ms",
            "--notify-min-epss",
            "0.9",
            "--ui-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let web = image("web", &["registry.example/shop/web:1.0"]);
    let mut a = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "node-1")
        .await
        .unwrap();
    let mut b = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "node-7")
        .await
        .unwrap();
    let images = std::slice::from_ref(&web);
    report(
        &collector,
        &mut a,
        TOKEN_A,
        images,
        &[workload("shop", "web-0", "web", &web)],
    )
    .await;
    report(
        &collector,
        &mut b,
        TOKEN_B,
        images,
        &[workload("shop", "web-0", "web", &web)],
    )
    .await;

    // Announced after the receiver's two failures, once, to each webhook.
    let appeared = receiver.wait_for("json", 1).await;
    assert_eq!(appeared.len(), 1, "{appeared:#?}");
    let call = &appeared[0];
    assert_eq!(call["event"], "exposure-appeared");
    assert_eq!(call["exposure"]["vulnerability"], KEV_CVE);
    assert_eq!(
        call["exposure"]["clusters"],
        serde_json::json!(["prod-a", "prod-b"])
    );
    assert_eq!(call["exposure"]["kev_due_date"], "2021-12-24");
    assert_eq!(
        call["exposure"]["manifest_digest"],
        web.manifest_digest.as_str()
    );
    let slack = receiver.wait_for("slack", 1).await;
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.contains(KEV_CVE) && text.contains("prod-a/shop/web-0"),
        "{text}"
    );
    // The web UI's fleet page counts it among what to act on now.
    let (status, fleet) = common::http_get(&collector.ui_endpoint("/")).await;
    assert_eq!(status, 200);
    assert!(
        fleet.contains("1 running exposure in CISA's KEV catalog"),
        "{fleet}"
    );
    // Seen again and again, said once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.accepted("json").len(), 1);
    assert_eq!(receiver.accepted("slack").len(), 1);

    // The pods are deleted; the image stays on the nodes.
    a.full(images, &[]).await.unwrap();
    b.full(images, &[]).await.unwrap();
    let calls = receiver.wait_for("json", 2).await;
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1]["event"], "exposure-resolved");
    assert_eq!(calls[1]["exposure"]["vulnerability"], KEV_CVE);
    let slack = receiver.wait_for("slack", 2).await;
    assert!(slack[1]["text"]
        .as_str()
        .unwrap()
        .starts_with(":white_check_mark:"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.accepted("json").len(), 2);

    // Watch told the same story.
    let told: Vec<(i32, String, String)> = common::events_after(&collector, 0)
        .await
        .into_iter()
        .filter(|e| {
            e.kind == pb::EventKind::ExposureAppeared as i32
                || e.kind == pb::EventKind::ExposureResolved as i32
        })
        .map(|e| (e.kind, e.vulnerability, e.package))
        .collect();
    assert_eq!(
        told,
        [
            (
                pb::EventKind::ExposureAppeared as i32,
                KEV_CVE.to_owned(),
                CERTIFI.to_owned()
            ),
            (
                pb::EventKind::ExposureResolved as i32,
                KEV_CVE.to_owned(),
                CERTIFI.to_owned()
            ),
        ]
    );
    collector.stop().await;
}
