//! Clusters as separate trust domains, over real gRPC: a cluster that claims another
//! cluster's image and uploads a forged SBOM changes nothing the other cluster is told.

mod common;

use common::*;
use nodebom_proto::v1 as pb;
use pb::upload_sbom_request::Part;

/// A one-component SBOM of `digest`, as a forging cluster would send it.
fn forged(digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "metadata": {"component": {"type": "container", "bom-ref": format!("image:{digest}"),
            "name": "registry.example/app", "version": digest}},
        "components": [{"type": "library", "name": "harmless", "version": "1.0",
            "purl": "pkg:generic/harmless@1.0"}],
    }))
    .unwrap()
}

async fn find_by_name(
    collector: &TestCollector,
    name: &str,
    cluster: &str,
) -> Vec<pb::ComponentMatch> {
    collector
        .query()
        .await
        .find_components(pb::FindComponentsRequest {
            name: name.into(),
            cluster: cluster.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .matches
}

#[tokio::test]
async fn a_forged_sbom_stored_first_changes_nothing_another_cluster_is_told() {
    let collector = TestCollector::start(&["--metrics-listen", "127.0.0.1:0"]).await;
    let app = image("app", &["registry.example/app:1"]);
    let mut a1 = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    let wanted_a = a1
        .full(
            std::slice::from_ref(&app),
            &[workload("shop", "web-0", "web", &app)],
        )
        .await
        .unwrap()
        .sbom_wanted;
    assert_eq!(wanted_a, vec![app.manifest_digest.clone()]);

    // prod-b claims the image and is first to upload: its forgery is the fleet copy.
    let mut b1 = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "b1")
        .await
        .unwrap();
    b1.full(
        std::slice::from_ref(&app),
        &[workload("decoy", "x-0", "x", &app)],
    )
    .await
    .unwrap();
    let forgery = forged(&app.manifest_digest);
    let messages = upload_messages("prod-b", "b1", &app.manifest_digest, &forgery, 1024);
    let stored = upload_raw(&collector, Some(TOKEN_B), messages)
        .await
        .unwrap();
    assert!(!stored.already_stored);

    // prod-a's real build is not answered "already stored": it is kept for prod-a.
    let real = a1
        .upload(
            &collector,
            Some(TOKEN_A),
            &app.manifest_digest,
            DEBIAN_SBOM,
            256 * 1024,
        )
        .await
        .unwrap();
    assert!(!real.already_stored);
    assert_eq!(real.component_count, 744);

    // What prod-a is told: its own build.
    let (info, document) = get_sbom_of(&collector, &app.manifest_digest, "prod-a")
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&document).unwrap(),
        stored_form(DEBIAN_SBOM, &app.manifest_digest)
    );
    assert_eq!(
        (info.cluster.as_str(), info.component_count),
        ("prod-a", 744)
    );
    let images = list_images(
        &collector,
        pb::ListImagesRequest {
            cluster: "prod-a".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(images[0].sbom.as_ref().unwrap().component_count, 744);
    let found = find_by_name(&collector, "libc6", "prod-a").await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].image.as_ref().unwrap().manifest_digest,
        app.manifest_digest
    );
    assert!(find_by_name(&collector, "harmless", "prod-a")
        .await
        .is_empty());

    // prod-b keeps seeing what it sent.
    let (forged_info, _) = get_sbom_of(&collector, &app.manifest_digest, "prod-b")
        .await
        .unwrap();
    assert_eq!(
        (forged_info.cluster.as_str(), forged_info.component_count),
        ("prod-b", 1)
    );
    assert!(find_by_name(&collector, "libc6", "prod-b").await.is_empty());

    // Unscoped: the fleet copy, with the conflict named: which clusters, which hashes.
    let (fleet, _) = get_sbom(&collector, &app.manifest_digest).await.unwrap();
    assert_eq!(fleet.cluster, "prod-b");
    assert_eq!(fleet.checks.len(), 1);
    let check = &fleet.checks[0];
    assert_eq!(check.cluster, "prod-a");
    assert_eq!(check.status(), pb::SbomCheckStatus::Conflict);
    assert_eq!(check.content_hash, info.content_hash);
    assert_ne!(check.content_hash, fleet.content_hash);
    let conflicts: Vec<_> = events_after(&collector, 0)
        .await
        .into_iter()
        .filter(|event| event.kind() == pb::EventKind::SbomConflict)
        .collect();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].cluster.as_str(), conflicts[0].node.as_str()),
        ("prod-a", "a1")
    );
    let metrics = scrape(&collector).await;
    assert_eq!(
        sample(
            &metrics,
            "nodebom_collector_sbom_checks_total{status=\"conflict\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    collector.stop().await;
}

#[tokio::test]
async fn a_different_build_from_another_agent_version_is_kept_but_not_called_a_conflict() {
    let collector = TestCollector::start(&[]).await;
    let app = image("app", &["registry.example/app:1"]);
    let mut a1 = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    a1.full(std::slice::from_ref(&app), &[]).await.unwrap();
    a1.upload(
        &collector,
        Some(TOKEN_A),
        &app.manifest_digest,
        DEBIAN_SBOM,
        256 * 1024,
    )
    .await
    .unwrap();

    let mut b1 = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "b1")
        .await
        .unwrap();
    let wanted = b1
        .full(std::slice::from_ref(&app), &[])
        .await
        .unwrap()
        .sbom_wanted;
    assert_eq!(
        wanted,
        vec![app.manifest_digest.clone()],
        "prod-b checks once"
    );
    let document = describing(PYTHON_SBOM, &app.manifest_digest);
    let mut messages = upload_messages("prod-b", "b1", &app.manifest_digest, &document, 1024);
    if let Some(Part::Header(header)) = &mut messages[0].part {
        header.agent_version = "0.0.9".into();
    }
    let response = upload_raw(&collector, Some(TOKEN_B), messages)
        .await
        .unwrap();
    assert!(!response.already_stored);
    assert_eq!(response.component_count, 2);

    let (fleet, _) = get_sbom(&collector, &app.manifest_digest).await.unwrap();
    assert_eq!(
        (fleet.cluster.as_str(), fleet.component_count),
        ("prod-a", 744)
    );
    assert_eq!(fleet.agent_version, "0.1.0-test");
    assert_eq!(fleet.checks[0].status(), pb::SbomCheckStatus::Unverified);
    assert_eq!(fleet.checks[0].agent_version, "0.0.9");
    assert_eq!(
        fleet.checks[0].note,
        "agent versions differ (\"0.1.0-test\" stored, \"0.0.9\" here)"
    );
    let (own, _) = get_sbom_of(&collector, &app.manifest_digest, "prod-b")
        .await
        .unwrap();
    assert_eq!((own.cluster.as_str(), own.component_count), ("prod-b", 2));
    assert!(events_after(&collector, 0)
        .await
        .iter()
        .all(|event| event.kind() != pb::EventKind::SbomConflict));
    // Checked once: prod-b is not asked again.
    let mut b2 = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "b2")
        .await
        .unwrap();
    assert!(b2
        .full(std::slice::from_ref(&app), &[])
        .await
        .unwrap()
        .sbom_wanted
        .is_empty());
    collector.stop().await;
}

#[tokio::test]
async fn an_incomplete_sbom_is_stored_with_its_reasons() {
    let collector = TestCollector::start(&[]).await;
    let app = image("app", &["registry.example/app:1"]);
    let mut a1 = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    a1.full(std::slice::from_ref(&app), &[]).await.unwrap();
    let mut document: serde_json::Value =
        serde_json::from_slice(&describing(PYTHON_SBOM, &app.manifest_digest)).unwrap();
    document["metadata"]["properties"] = serde_json::json!([
        {"name": "nodebom:incomplete", "value": "layer sha256:ab… could not be read"},
    ]);
    document["compositions"] = serde_json::json!([
        {"aggregate": "incomplete", "assemblies": [format!("image:{}", app.manifest_digest)]},
    ]);
    let document = serde_json::to_vec(&document).unwrap();
    let messages = upload_messages("prod-a", "a1", &app.manifest_digest, &document, 1024);
    upload_raw(&collector, Some(TOKEN_A), messages)
        .await
        .unwrap();

    let images = list_images(&collector, pb::ListImagesRequest::default()).await;
    let sbom = images[0].sbom.as_ref().unwrap();
    assert!(sbom.incomplete);
    assert_eq!(
        sbom.incomplete_reasons,
        vec!["layer sha256:ab… could not be read".to_string()]
    );
    let (_, stored) = get_sbom(&collector, &app.manifest_digest).await.unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        stored["compositions"],
        document_field(&document, "compositions")
    );
    collector.stop().await;
}

fn document_field(document: &[u8], field: &str) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(document).unwrap()[field].clone()
}
