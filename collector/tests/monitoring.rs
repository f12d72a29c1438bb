//! What operators watch, over real gRPC and HTTP: `/metrics` following ingest, uploads
//! and the store, `/healthz` and `/readyz`, and the Dependency-Track actions DT refused,
//! through the Query API, the CLI and the metrics.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use nodebom_e2e::dtrack::{DtOptions, DtServer, Permission};
use nodebom_proto::v1 as pb;
use tonic::Code;

const QUERY_TOKEN: &str = "reader-secret";

/// Polls `/metrics` until `series` is `value` (the store gauges are read at most every
/// 5 s); returns that scrape.
async fn scrape_until(collector: &TestCollector, series: &str, value: f64) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = scrape(collector).await;
        if sample(&text, series) == Some(value) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is not {value} after {PATIENCE:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts the value of each `(series, value)` in `text`.
fn assert_samples(text: &str, expected: &[(&str, f64)]) {
    for (series, value) in expected {
        assert_eq!(sample(text, series), Some(*value), "{series} in:\n{text}");
    }
}

#[tokio::test]
async fn metrics_follow_ingest_uploads_and_the_store_and_the_probes_answer() {
    let collector = TestCollector::start(&["--metrics-listen", "127.0.0.1:0"]).await;
    assert_eq!(
        http_get(&collector.metrics_endpoint("/healthz")).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        http_get(&collector.metrics_endpoint("/readyz")).await,
        (200, "ready\n".into())
    );
    assert_samples(
        &scrape(&collector).await,
        &[
            (
                "nodebom_collector_agents_connected{cluster=\"prod-a\"}",
                0.0,
            ),
            (
                "nodebom_collector_agents_connected{cluster=\"prod-b\"}",
                0.0,
            ),
            (
                "nodebom_collector_inventory_reports_total{kind=\"full\"}",
                0.0,
            ),
            ("nodebom_collector_sboms_stored_total{copy=\"fleet\"}", 0.0),
            ("nodebom_collector_store_nodes", 0.0),
        ],
    );

    // prod-a/a1 has debian (running) and python; prod-b/b1 has debian. a1 then starts a
    // python container and uploads debian's SBOM.
    let debian = image("debian", &["docker.io/library/debian:12"]);
    let python = image("python", &["docker.io/library/python:3.11"]);
    let mut a1 = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    a1.full(
        &[debian.clone(), python.clone()],
        &[workload("shop", "web-0", "web", &debian)],
    )
    .await
    .unwrap();
    let mut b1 = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "b1")
        .await
        .unwrap();
    b1.full(std::slice::from_ref(&debian), &[]).await.unwrap();
    a1.delta(pb::InventoryDelta {
        workloads_started: vec![workload("shop", "api-0", "api", &python)],
        ..Default::default()
    })
    .await
    .unwrap();
    a1.upload(
        &collector,
        Some(TOKEN_A),
        &debian.manifest_digest,
        DEBIAN_SBOM,
        256 * 1024,
    )
    .await
    .unwrap();
    let (info, _) = get_sbom(&collector, &debian.manifest_digest).await.unwrap();
    // Two rejected uploads: a wrong token, and an image the node never reported.
    let unknown = a1
        .upload(
            &collector,
            Some("not-a-token"),
            &python.manifest_digest,
            PYTHON_SBOM,
            1 << 20,
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let elsewhere = image("elsewhere", &["registry.example/elsewhere:1"]);
    let not_assigned = a1
        .upload(
            &collector,
            Some(TOKEN_A),
            &elsewhere.manifest_digest,
            PYTHON_SBOM,
            1 << 20,
        )
        .await
        .unwrap_err();
    assert_eq!(not_assigned.code(), Code::FailedPrecondition);

    let text = scrape_until(
        &collector,
        "nodebom_collector_store_sboms{copy=\"fleet\"}",
        1.0,
    )
    .await;
    assert_samples(
        &text,
        &[
            ("nodebom_collector_agents_connected{cluster=\"prod-a\"}", 1.0),
            ("nodebom_collector_agents_connected{cluster=\"prod-b\"}", 1.0),
            ("nodebom_collector_inventory_reports_total{kind=\"full\"}", 2.0),
            ("nodebom_collector_inventory_reports_total{kind=\"delta\"}", 1.0),
            // a1: 2 images and 1 workload; b1: 1 image.
            ("nodebom_collector_inventory_records_total{kind=\"full\"}", 4.0),
            ("nodebom_collector_inventory_records_total{kind=\"delta\"}", 1.0),
            ("nodebom_collector_sboms_stored_total{copy=\"fleet\"}", 1.0),
            (
                "nodebom_collector_sboms_stored_bytes_total{copy=\"fleet\"}",
                info.size as f64,
            ),
            ("nodebom_collector_sboms_stored_total{copy=\"own\"}", 0.0),
            (
                "nodebom_collector_sbom_uploads_rejected_total{reason=\"unauthenticated\"}",
                1.0,
            ),
            (
                "nodebom_collector_sbom_uploads_rejected_total{reason=\"not_assigned\"}",
                1.0,
            ),
            ("nodebom_collector_store_nodes", 2.0),
            ("nodebom_collector_store_images", 2.0),
            ("nodebom_collector_store_workloads_running", 2.0),
            (
                "nodebom_collector_store_sbom_bytes{copy=\"fleet\"}",
                info.size as f64,
            ),
            // python for prod-a on a1, debian for prod-b on b1.
            ("nodebom_collector_store_build_claims{state=\"building\"}", 2.0),
            ("nodebom_collector_store_build_claims{state=\"expired\"}", 0.0),
            (
                "nodebom_collector_store_operation_duration_seconds_count{operation=\"put_sbom\"}",
                1.0,
            ),
            (
                "nodebom_collector_store_operation_duration_seconds_count{operation=\"replace_inventory\"}",
                2.0,
            ),
            (
                "nodebom_collector_store_operation_duration_seconds_count{operation=\"apply_delta\"}",
                1.0,
            ),
        ],
    );

    drop(a1);
    let text = scrape_until(
        &collector,
        "nodebom_collector_agents_connected{cluster=\"prod-a\"}",
        0.0,
    )
    .await;
    assert_samples(
        &text,
        &[(
            "nodebom_collector_agents_connected{cluster=\"prod-b\"}",
            1.0,
        )],
    );
    drop(b1);
    collector.stop().await;
}

/// Writes the DT API key where a collector can read it.
fn api_key_file(dir: &tempfile::TempDir, dt: &DtServer) -> String {
    let path = dir.path().join("dtrack-api-key");
    std::fs::write(&path, dt.api_key()).unwrap();
    path.display().to_string()
}

/// A node of prod-a that runs nginx 1.27.0 and has uploaded its SBOM.
async fn nginx_uploaded(collector: &TestCollector) -> (Agent, pb::Image) {
    let nginx = image("nginx", &["docker.io/library/nginx:1.27.0"]);
    let mut a1 = Agent::connect(collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    a1.full(
        std::slice::from_ref(&nginx),
        &[workload("web", "nginx-0", "nginx", &nginx)],
    )
    .await
    .unwrap();
    a1.upload(
        collector,
        Some(TOKEN_A),
        &nginx.manifest_digest,
        PYTHON_SBOM,
        1 << 20,
    )
    .await
    .unwrap();
    (a1, nginx)
}

#[tokio::test]
async fn refused_dependency_track_actions_are_listed_by_the_query_api_the_cli_and_the_metrics() {
    // The key may upload but not create projects: the upload is refused (401), then the
    // tag update finds no project (404).
    let dt = DtServer::start(DtOptions {
        permissions: [Permission::BomUpload, Permission::ViewPortfolio].into(),
        ..DtOptions::default()
    })
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (url, key) = (dt.url(), api_key_file(&keys, &dt));
    let collector = TestCollector::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--query-token",
        QUERY_TOKEN,
        "--dtrack-url",
        &url,
        "--dtrack-api-key-file",
        &key,
    ])
    .await;
    let (_a1, nginx) = nginx_uploaded(&collector).await;

    let mut query = collector.query().await;
    let list = |limit| with_token(pb::ListDtrackFailuresRequest { limit }, Some(QUERY_TOKEN));
    let deadline = Instant::now() + Duration::from_secs(20);
    let failures = loop {
        let failures = query
            .list_dtrack_failures(list(0))
            .await
            .unwrap()
            .into_inner()
            .failures;
        if failures.len() == 2 {
            break failures;
        }
        assert!(
            Instant::now() < deadline,
            "refusals not listed: {failures:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen: Vec<_> = failures
        .iter()
        .map(|f| (f.action.as_str(), f.http_status))
        .collect();
    assert_eq!(seen, [("update", 404), ("upload", 401)], "newest first");
    for failure in &failures {
        assert_eq!(failure.manifest_digest, nginx.manifest_digest);
        assert_eq!(failure.cluster, "");
        assert_eq!(failure.project, "docker.io/library/nginx@1.27.0");
        assert!(failure.time.is_some());
    }
    assert!(
        failures[1].message.contains("401"),
        "{}",
        failures[1].message
    );
    let newest = query
        .list_dtrack_failures(list(1))
        .await
        .unwrap()
        .into_inner()
        .failures;
    assert_eq!(newest, failures[..1]);
    let anonymous = query
        .list_dtrack_failures(pb::ListDtrackFailuresRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let server = collector.url();
    let json: serde_json::Value = serde_json::from_str(
        &cli(
            &server,
            &["--token", QUERY_TOKEN, "-o", "json", "dtrack-failures"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2, "{json}");
    assert_eq!(json[1]["action"], "upload");
    assert_eq!(json[1]["http_status"], 401);
    assert_eq!(json[1]["manifest_digest"], nginx.manifest_digest.as_str());
    assert_eq!(json[1]["project"], "docker.io/library/nginx@1.27.0");
    let table = cli(&server, &["--token", QUERY_TOKEN, "dtrack-failures"]).await;
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("TIME") && header.contains("ACTION") && header.contains("MESSAGE"),
        "{table}"
    );
    let upload = lines.find(|line| line.contains("upload")).unwrap();
    assert!(
        upload.contains(" 401 ")
            && upload.contains("docker.io/library/nginx@1.27.0")
            && upload.contains(&nginx.manifest_digest[..19]),
        "{table}"
    );

    let text = scrape_until(&collector, "nodebom_collector_store_dtrack_failures", 2.0).await;
    assert_samples(
        &text,
        &[
            ("nodebom_collector_dtrack_actions_refused_total{action=\"upload\"}", 1.0),
            ("nodebom_collector_dtrack_actions_refused_total{action=\"update\"}", 1.0),
            (
                "nodebom_collector_dtrack_request_duration_seconds_count{operation=\"upload_bom\",outcome=\"refused\"}",
                1.0,
            ),
            // DT's 404 to the lookups (before the upload, which then creates the
            // project with its tags; of the tag update; of the findings read that
            // follows every upload) is an answer ("no such project"), not a refusal.
            (
                "nodebom_collector_dtrack_request_duration_seconds_count{operation=\"lookup_project\",outcome=\"ok\"}",
                3.0,
            ),
            ("nodebom_collector_store_dtrack_outbox_actions", 0.0),
        ],
    );
    collector.stop().await;
}

/// The metric names of a scrape: counters with `_total`, histograms without their
/// `_bucket`, `_sum` and `_count` series.
fn exported_names(text: &str) -> BTreeSet<String> {
    let histograms: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
        .collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| histograms.contains(base))
                })
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// The `nodebom_collector_*` names `docs/operations.md` mentions (a histogram may be
/// named by one of its series).
fn documented_names(exported: &BTreeSet<String>) -> BTreeSet<String> {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ))
    .unwrap();
    docs.match_indices("nodebom_collector_")
        .map(|(start, _)| {
            let rest = &docs[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.ends_with('_'))
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| exported.contains(*base))
                })
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// A collector with every family in use (ingest, an upload, DT forwarding, a KEV
/// policy sync), scraped: the body is what Prometheus reads, and every metric in it is
/// documented in docs/operations.md (and nothing else is).
#[tokio::test]
async fn scraped_metrics_pass_promtool() {
    let dt = DtServer::start(DtOptions::default()).unwrap();
    let files = tempfile::tempdir().unwrap();
    let catalog = files.path().join("kev.json");
    std::fs::write(
        &catalog,
        r#"{"catalogVersion": "2025.08.25", "vulnerabilities": [
            {"cveID": "CVE-2021-44228"}, {"cveID": "CVE-2023-4863"}]}"#,
    )
    .unwrap();
    let (url, key, catalog) = (
        dt.url(),
        api_key_file(&files, &dt),
        catalog.display().to_string(),
    );
    let collector = TestCollector::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--dtrack-url",
        &url,
        "--dtrack-api-key-file",
        &key,
        "--kev-catalog",
        &catalog,
    ])
    .await;
    let (_a1, _) = nginx_uploaded(&collector).await;
    scrape_until(
        &collector,
        "nodebom_collector_dtrack_request_duration_seconds_count{operation=\"upload_bom\",outcome=\"ok\"}",
        1.0,
    )
    .await;
    let text = scrape_until(
        &collector,
        "nodebom_collector_dtrack_policy_sync_duration_seconds_count{outcome=\"ok\"}",
        1.0,
    )
    .await;
    let synced_at = sample(
        &text,
        "nodebom_collector_dtrack_policy_last_success_timestamp_seconds",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(now - 60.0 < synced_at && synced_at <= now, "{synced_at}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    // Prometheus' own linter reads the Prometheus text format, which the endpoint serves
    // to clients that ask for it.
    let plain = scrape_prometheus_text(&collector).await;
    nodebom_e2e::promtool_check_metrics(&plain).unwrap();
    assert_eq!(exported_names(&plain), exported_names(&text));

    let exported = exported_names(&text);
    assert!(exported.len() > 20, "{exported:?}");
    assert_eq!(documented_names(&exported), exported);
    collector.stop().await;
}
