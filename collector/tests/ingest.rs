//! Agents over real gRPC: sessions, inventories, dedup of SBOM builds, uploads, auth.

mod common;

use std::time::Duration;

use common::*;
use nodebom_proto::v1 as pb;
use tonic::Code;

#[tokio::test]
async fn a_digest_is_built_once_per_cluster_and_another_cluster_only_checks_it() {
    let collector = TestCollector::start(&[]).await;
    let nginx = image("nginx", &["docker.io/library/nginx:1.27"]);

    let mut first = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    let ack = first.full(std::slice::from_ref(&nginx), &[]).await.unwrap();
    assert_eq!(ack.sbom_wanted, vec![nginx.manifest_digest.clone()]);

    // Same digest on another node of the cluster while the first node builds it.
    let mut second = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-2")
        .await
        .unwrap();
    assert!(second
        .full(std::slice::from_ref(&nginx), &[])
        .await
        .unwrap()
        .sbom_wanted
        .is_empty());
    let err = second
        .upload(
            &collector,
            Some(TOKEN_A),
            &nginx.manifest_digest,
            DEBIAN_SBOM,
            256 * 1024,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("another node of cluster prod-a is building"),
        "{}",
        err.message()
    );

    let stored = first
        .upload(
            &collector,
            Some(TOKEN_A),
            &nginx.manifest_digest,
            DEBIAN_SBOM,
            256 * 1024,
        )
        .await
        .unwrap();
    assert!(!stored.already_stored);
    assert_eq!(stored.component_count, 744);

    // Another cluster does not take prod-a's word for it: one of its nodes is asked
    // once, and its identical build only records that it verified the stored copy.
    let mut other = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "worker-9")
        .await
        .unwrap();
    let wanted = other
        .full(std::slice::from_ref(&nginx), &[])
        .await
        .unwrap()
        .sbom_wanted;
    assert_eq!(wanted, vec![nginx.manifest_digest.clone()]);
    let checked = other
        .upload(
            &collector,
            Some(TOKEN_B),
            &nginx.manifest_digest,
            DEBIAN_SBOM,
            256 * 1024,
        )
        .await
        .unwrap();
    assert!(checked.already_stored);
    let (info, _) = get_sbom(&collector, &nginx.manifest_digest).await.unwrap();
    assert_eq!(info.cluster, "prod-a");
    assert_eq!(info.checks.len(), 1);
    assert_eq!(info.checks[0].cluster, "prod-b");
    assert_eq!(info.checks[0].status(), pb::SbomCheckStatus::Verified);
    assert_eq!(info.checks[0].content_hash, info.content_hash);

    // A further node of either cluster is not asked.
    let mut third = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "worker-10")
        .await
        .unwrap();
    assert!(third
        .full(std::slice::from_ref(&nginx), &[])
        .await
        .unwrap()
        .sbom_wanted
        .is_empty());
    let again = third
        .upload(
            &collector,
            Some(TOKEN_B),
            &nginx.manifest_digest,
            DEBIAN_SBOM,
            256 * 1024,
        )
        .await
        .unwrap();
    assert!(again.already_stored);

    let events = events_after(&collector, 0).await;
    let stored_events: Vec<_> = events
        .iter()
        .filter(|event| event.kind() == pb::EventKind::SbomStored)
        .collect();
    assert_eq!(stored_events.len(), 1);
    assert_eq!(stored_events[0].node, "worker-1");
    assert!(events
        .iter()
        .all(|event| event.kind() != pb::EventKind::SbomConflict));
    collector.stop().await;
}

#[tokio::test]
async fn builds_are_handed_out_a_few_per_node_running_images_first() {
    let collector = TestCollector::start(&["--max-builds-per-node", "2"]).await;
    let images: Vec<_> = (1..=5).map(|i| image(&format!("app-{i}"), &[])).collect();
    let running = workload("shop", "cart-0", "cart", &images[4]);

    let mut first = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    let wanted_first = first.full(&images, &[running]).await.unwrap().sbom_wanted;
    assert_eq!(wanted_first.len(), 2);
    assert_eq!(
        wanted_first[0], images[4].manifest_digest,
        "the running image comes first"
    );

    let mut second = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-2")
        .await
        .unwrap();
    let wanted_second = second.full(&images, &[]).await.unwrap().sbom_wanted;
    assert_eq!(wanted_second.len(), 2);
    assert!(wanted_second
        .iter()
        .all(|digest| !wanted_first.contains(digest)));

    // Finishing one build frees a slot: the collector offers the last unclaimed image.
    first
        .upload(
            &collector,
            Some(TOKEN_A),
            &wanted_first[0],
            PYTHON_SBOM,
            1024,
        )
        .await
        .unwrap();
    let offered = first.sbom_request().await;
    let unclaimed: Vec<_> = images
        .iter()
        .map(|image| image.manifest_digest.clone())
        .filter(|digest| !wanted_first.contains(digest) && !wanted_second.contains(digest))
        .collect();
    assert_eq!(offered, unclaimed);
    collector.stop().await;
}

#[tokio::test]
async fn build_of_a_node_that_disconnects_goes_to_another_node_that_has_the_image() {
    let collector = TestCollector::start(&["--reoffer-interval", "200ms"]).await;
    let redis = image("redis", &["redis:7"]);
    let mut first = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    assert_eq!(
        first
            .full(std::slice::from_ref(&redis), &[])
            .await
            .unwrap()
            .sbom_wanted
            .len(),
        1
    );
    let mut second = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-2")
        .await
        .unwrap();
    assert!(second
        .full(std::slice::from_ref(&redis), &[])
        .await
        .unwrap()
        .sbom_wanted
        .is_empty());

    drop(first);
    assert_eq!(
        second.sbom_request().await,
        vec![redis.manifest_digest.clone()]
    );
    collector.stop().await;
}

#[tokio::test]
async fn image_an_agent_cannot_build_is_not_offered_to_others_until_the_backoff_ends() {
    let collector = TestCollector::start(&[
        "--reoffer-interval",
        "100ms",
        "--build-failure-backoff",
        "1s",
    ])
    .await;
    let broken = image("broken", &[]);
    let mut first = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    assert_eq!(
        first
            .full(std::slice::from_ref(&broken), &[])
            .await
            .unwrap()
            .sbom_wanted
            .len(),
        1
    );
    let mut second = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-2")
        .await
        .unwrap();
    assert!(second
        .full(std::slice::from_ref(&broken), &[])
        .await
        .unwrap()
        .sbom_wanted
        .is_empty());

    let sequence = first
        .send(pb::sync_request::Message::BuildFailed(
            pb::SbomBuildFailed {
                manifest_digest: broken.manifest_digest.clone(),
                reason: "layer blobs were garbage-collected".into(),
            },
        ))
        .await;
    let started = std::time::Instant::now();
    assert!(first.ack(sequence).await.unwrap().sbom_wanted.is_empty());
    // Asked again only after the backoff, by whichever node re-offers first.
    let offered = tokio::select! {
        digests = first.sbom_request() => digests,
        digests = second.sbom_request() => digests,
    };
    assert_eq!(offered, vec![broken.manifest_digest.clone()]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    collector.stop().await;
}

#[tokio::test]
async fn reconnecting_node_replaces_its_state_with_its_new_full_inventory() {
    let collector = TestCollector::start(&[]).await;
    let (web, worker) = (image("web", &["web:1"]), image("worker", &["worker:1"]));
    let web_pod = workload("shop", "web-0", "web", &web);
    let worker_pod = workload("shop", "worker-0", "worker", &worker);

    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(
            &[web.clone(), worker.clone()],
            &[web_pod.clone(), worker_pod.clone()],
        )
        .await
        .unwrap();
    drop(agent);
    let before = events_after(&collector, 0).await;
    let last = before.last().unwrap().sequence;

    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(std::slice::from_ref(&web), std::slice::from_ref(&web_pod))
        .await
        .unwrap();

    let on_node = list_images(
        &collector,
        pb::ListImagesRequest {
            node: "worker-1".into(),
            ..Default::default()
        },
    )
    .await;
    let digests: Vec<_> = on_node
        .iter()
        .map(|image| image.manifest_digest.as_str())
        .collect();
    assert_eq!(digests, [web.manifest_digest.as_str()]);
    // Only the workload that is gone produced an event; the one still running did not.
    let after = events_after(&collector, last).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].kind(), pb::EventKind::WorkloadStopped);
    assert_eq!(after[0].workload.as_ref().unwrap().pod, "worker-0");
    collector.stop().await;
}

#[tokio::test]
async fn deltas_start_and_stop_workloads_and_move_images() {
    let collector = TestCollector::start(&[]).await;
    let (v1, v2) = (image("api-v1", &["api:1"]), image("api-v2", &["api:2"]));
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(
            std::slice::from_ref(&v1),
            &[workload("shop", "api-0", "api", &v1)],
        )
        .await
        .unwrap();
    let ack = agent
        .delta(pb::InventoryDelta {
            images_added: vec![v2.clone()],
            images_removed: vec![v1.manifest_digest.clone()],
            workloads_started: vec![workload("shop", "api-1", "api", &v2)],
            workloads_stopped: vec![pb::WorkloadKey {
                pod_uid: "uid-shop-api-0".into(),
                container: "api".into(),
            }],
        })
        .await
        .unwrap();
    assert_eq!(ack.sbom_wanted, vec![v2.manifest_digest.clone()]);

    let running = list_images(
        &collector,
        pb::ListImagesRequest {
            running_only: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].manifest_digest, v2.manifest_digest);
    let kinds: Vec<_> = events_after(&collector, 0)
        .await
        .iter()
        .map(|e| (e.kind(), e.workload.clone().unwrap().pod))
        .collect();
    assert_eq!(
        kinds,
        [
            (pb::EventKind::WorkloadStarted, "api-0".to_owned()),
            (pb::EventKind::WorkloadStarted, "api-1".to_owned()),
            (pb::EventKind::WorkloadStopped, "api-0".to_owned()),
        ]
    );
    collector.stop().await;
}

#[tokio::test]
async fn newer_session_of_a_node_aborts_the_older_one() {
    let collector = TestCollector::start(&[]).await;
    let mut old = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    old.full(&[image("a", &[])], &[]).await.unwrap();
    let mut new = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    assert!(new.welcome.session > old.welcome.session);
    new.full(&[image("b", &[])], &[]).await.unwrap();

    let sequence = old
        .send(pb::sync_request::Message::Delta(pb::InventoryDelta {
            images_added: vec![image("c", &[])],
            ..Default::default()
        }))
        .await;
    let err = old.ack(sequence).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let on_node = list_images(&collector, pb::ListImagesRequest::default()).await;
    assert_eq!(on_node.len(), 2, "the old session's delta was not applied");
    assert_eq!(
        on_node
            .iter()
            .filter(|image| !image.nodes.is_empty())
            .count(),
        1
    );
    collector.stop().await;
}

#[tokio::test]
async fn delta_before_a_full_inventory_is_refused() {
    let collector = TestCollector::start(&[]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    let err = agent
        .delta(pb::InventoryDelta {
            images_added: vec![image("a", &[])],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("full inventory"),
        "{}",
        err.message()
    );
    collector.stop().await;
}

#[tokio::test]
async fn inventory_split_over_parts_is_applied_only_when_complete() {
    let collector = TestCollector::start(&[]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    let first = agent
        .send(pb::sync_request::Message::Inventory(pb::InventoryPart {
            images: vec![image("a", &[])],
            workloads: vec![],
            last: false,
        }))
        .await;
    assert!(agent.ack(first).await.unwrap().sbom_wanted.is_empty());
    assert!(list_images(&collector, pb::ListImagesRequest::default())
        .await
        .is_empty());
    let last = agent
        .send(pb::sync_request::Message::Inventory(pb::InventoryPart {
            images: vec![image("b", &[])],
            workloads: vec![],
            last: true,
        }))
        .await;
    assert_eq!(agent.ack(last).await.unwrap().sbom_wanted.len(), 2);
    assert_eq!(
        list_images(&collector, pb::ListImagesRequest::default())
            .await
            .len(),
        2
    );
    collector.stop().await;
}

#[tokio::test]
async fn full_inventories_in_progress_are_bounded_and_the_next_waits_for_a_finished_one() {
    let collector = TestCollector::start(&[]).await;
    let part = |seed: &str, last: bool| {
        pb::sync_request::Message::Inventory(pb::InventoryPart {
            images: vec![image(seed, &[])],
            workloads: vec![],
            last,
        })
    };
    let bound = nodebom_collector::server::STAGED_INVENTORIES;
    let mut holding = Vec::new();
    for n in 0..bound {
        let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", &format!("node-{n}"))
            .await
            .unwrap();
        let first = agent.send(part(&format!("held {n}"), false)).await;
        agent.ack(first).await.unwrap();
        holding.push(agent);
    }
    let mut waiting = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "node-waiting")
        .await
        .unwrap();
    let first = waiting.send(part("waiting", false)).await;
    // Not taken while every slot holds an unfinished inventory.
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.ack(first)).await;
    assert!(early.is_err(), "acknowledged beyond the bound: {early:?}");
    let finisher = holding.first_mut().unwrap();
    let last = finisher.send(part("held 0 last", true)).await;
    assert_eq!(finisher.ack(last).await.unwrap().sbom_wanted.len(), 2);
    waiting.ack(first).await.unwrap();
    collector.stop().await;
}

#[tokio::test]
async fn invalid_digest_in_an_inventory_is_rejected_and_nothing_is_stored() {
    let collector = TestCollector::start(&[]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    let mut bad = image("bad", &[]);
    bad.config_digest = "sha256:ABC".into();
    let err = agent
        .full(&[image("good", &[]), bad], &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("inventory.images[1].config_digest: invalid digest \"sha256:ABC\""),
        "{}",
        err.message()
    );
    assert!(list_images(&collector, pb::ListImagesRequest::default())
        .await
        .is_empty());
    collector.stop().await;
}

#[tokio::test]
async fn oversized_message_is_resource_exhausted() {
    let collector = TestCollector::start(&["--max-message-bytes", "65536"]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    assert_eq!(agent.welcome.max_message_bytes, 65536);
    let images: Vec<_> = (0..400)
        .map(|i| {
            image(
                &format!("img-{i}"),
                &["registry.example.com/team/app:1.0.0"],
            )
        })
        .collect();
    let err = agent.full(&images, &[]).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    collector.stop().await;
}

#[tokio::test]
async fn more_images_than_the_node_limit_is_resource_exhausted() {
    let collector = TestCollector::start(&["--max-images-per-node", "3"]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(&[image("1", &[]), image("2", &[]), image("3", &[])], &[])
        .await
        .unwrap();
    let err = agent
        .delta(pb::InventoryDelta {
            images_added: vec![image("4", &[])],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.message().contains("would have 4 images"),
        "{}",
        err.message()
    );
    collector.stop().await;
}

#[tokio::test]
async fn agent_without_a_valid_token_is_rejected() {
    let collector = TestCollector::start(&[]).await;
    for token in [None, Some("not-a-token")] {
        let err = Agent::connect(&collector, token, "prod-a", "worker-1")
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}");
    }
    let err = upload_raw(
        &collector,
        None,
        upload_messages(
            "prod-a",
            "worker-1",
            &image("a", &[]).manifest_digest,
            PYTHON_SBOM,
            1024,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    collector.stop().await;
}

#[tokio::test]
async fn token_of_one_cluster_cannot_report_for_another() {
    let collector = TestCollector::start(&[]).await;
    let err = Agent::connect(&collector, Some(TOKEN_A), "prod-b", "worker-1")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("\"prod-a\""), "{}", err.message());

    let nginx = image("nginx", &[]);
    let mut agent = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "worker-1")
        .await
        .unwrap();
    agent.full(std::slice::from_ref(&nginx), &[]).await.unwrap();
    let err = upload_raw(
        &collector,
        Some(TOKEN_A),
        upload_messages(
            "prod-b",
            "worker-1",
            &nginx.manifest_digest,
            PYTHON_SBOM,
            1024,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    collector.stop().await;
}
