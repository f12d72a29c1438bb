//! The Query API over real gRPC: images, component search, the event feed, health,
//! reflection, query tokens, TLS, and node expiry.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nodebom_proto::v1 as pb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;

/// Two clusters: `debian` runs in prod-a (shop) and sits unused on a prod-b node under
/// another name; `python` sits unused in prod-b; `dns` runs in prod-a's kube-system.
struct Fleet {
    collector: TestCollector,
    debian: pb::Image,
    python: pb::Image,
    dns: pb::Image,
    _agents: Vec<Agent>,
}

async fn fleet() -> Fleet {
    let collector = TestCollector::start(&[]).await;
    let debian = image("debian", &["docker.io/library/debian:12"]);
    let python = image("python", &["docker.io/library/python:3.11"]);
    let dns = image("coredns", &["registry.k8s.io/coredns/coredns:v1.11.1"]);
    let mut a1 = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    a1.full(
        &[debian.clone(), dns.clone()],
        &[
            workload("shop", "web-0", "web", &debian),
            workload("kube-system", "coredns-0", "coredns", &dns),
        ],
    )
    .await
    .unwrap();
    let mut mirror = debian.clone();
    mirror.names = vec!["mirror.example.com/debian:12".into()];
    let mut b2 = Agent::connect(&collector, Some(TOKEN_B), "prod-b", "worker-2")
        .await
        .unwrap();
    b2.full(&[mirror, python.clone()], &[]).await.unwrap();
    a1.upload(
        &collector,
        Some(TOKEN_A),
        &debian.manifest_digest,
        DEBIAN_SBOM,
        256 * 1024,
    )
    .await
    .unwrap();
    b2.upload(
        &collector,
        Some(TOKEN_B),
        &python.manifest_digest,
        PYTHON_SBOM,
        1024,
    )
    .await
    .unwrap();
    Fleet {
        collector,
        debian,
        python,
        dns,
        _agents: vec![a1, b2],
    }
}

async fn find(
    collector: &TestCollector,
    request: pb::FindComponentsRequest,
) -> pb::FindComponentsResponse {
    collector
        .query()
        .await
        .find_components(request)
        .await
        .unwrap()
        .into_inner()
}

fn digests(matches: &pb::FindComponentsResponse) -> Vec<String> {
    matches
        .matches
        .iter()
        .map(|found| found.image.as_ref().unwrap().manifest_digest.clone())
        .collect()
}

fn sorted(mut digests: Vec<String>) -> Vec<String> {
    digests.sort();
    digests
}

#[tokio::test]
async fn find_components_by_purl_answers_where_a_package_runs() {
    let fleet = fleet().await;
    let exact = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            purl: "pkg:deb/debian/libc6@2.36-9+deb12u14".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(digests(&exact), vec![fleet.debian.manifest_digest.clone()]);
    let found = &exact.matches[0];
    assert_eq!(found.components.len(), 1);
    assert_eq!(found.components[0].version, "2.36-9+deb12u14");
    let image = found.image.as_ref().unwrap();
    let running: Vec<_> = image
        .workloads
        .iter()
        .map(|w| {
            (
                w.cluster.as_str(),
                w.node.as_str(),
                w.workload.as_ref().unwrap().pod.as_str(),
                w.running,
            )
        })
        .collect();
    assert_eq!(running, [("prod-a", "worker-1", "web-0", true)]);
    assert_eq!(
        image.names,
        [
            "docker.io/library/debian:12",
            "mirror.example.com/debian:12"
        ]
    );

    let any_version = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            purl: "pkg:deb/debian/libc6".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        digests(&any_version),
        vec![fleet.debian.manifest_digest.clone()]
    );
    let other_version = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            purl: "pkg:deb/debian/libc6@2.36-9+deb12u1".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(other_version.matches.is_empty());
    fleet.collector.stop().await;
}

#[tokio::test]
async fn find_components_by_name_with_version_prefix_running_and_cluster_filters() {
    let fleet = fleet().await;
    let both = sorted(vec![
        fleet.debian.manifest_digest.clone(),
        fleet.python.manifest_digest.clone(),
    ]);
    let by_name = |name: &str, version: &str| pb::FindComponentsRequest {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    };
    assert_eq!(
        digests(&find(&fleet.collector, by_name("certifi", "")).await),
        both
    );
    assert_eq!(
        digests(&find(&fleet.collector, by_name("CLICK", "8.4")).await),
        both
    );
    assert_eq!(
        digests(&find(&fleet.collector, by_name("libc6", "2.36")).await),
        vec![fleet.debian.manifest_digest.clone()]
    );
    assert!(find(&fleet.collector, by_name("libc6", "2.3"))
        .await
        .matches
        .is_empty());

    let running = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            running_only: true,
            ..by_name("certifi", "")
        },
    )
    .await;
    assert_eq!(
        digests(&running),
        vec![fleet.debian.manifest_digest.clone()]
    );
    let in_prod_b = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            cluster: "prod-b".into(),
            ..by_name("click", "")
        },
    )
    .await;
    assert_eq!(
        sorted(digests(&in_prod_b)),
        both,
        "debian is also on a prod-b node"
    );
    let limited = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            limit: 1,
            ..by_name("certifi", "")
        },
    )
    .await;
    assert_eq!(limited.matches.len(), 1);
    assert!(limited.truncated);

    // Every component whose name contains "libc", as syft wrote them.
    let document: serde_json::Value = serde_json::from_slice(DEBIAN_SBOM).unwrap();
    let mut expected: Vec<String> = document["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .filter(|name| name.contains("libc"))
        .collect();
    expected.sort();
    let contains = find(
        &fleet.collector,
        pb::FindComponentsRequest {
            name_contains: true,
            ..by_name("libc", "")
        },
    )
    .await;
    assert_eq!(
        digests(&contains),
        vec![fleet.debian.manifest_digest.clone()]
    );
    let mut names: Vec<String> = contains.matches[0]
        .components
        .iter()
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    assert!(expected.len() > 3);
    assert_eq!(names, expected);
    fleet.collector.stop().await;
}

#[tokio::test]
async fn nodes_software_is_listed_with_the_nodes_and_found_as_a_node_record() {
    let collector = TestCollector::start(&[]).await;
    let debian = image("debian", &["docker.io/library/debian:12"]);
    let software = node_software("pool-a image");
    let digest = software.manifest_digest.clone();
    let mut agents = Vec::new();
    for (cluster, token, node, pool) in [
        ("prod-a", TOKEN_A, "worker-1", "pool-a"),
        ("prod-a", TOKEN_A, "worker-2", "pool-a"),
        ("prod-b", TOKEN_B, "worker-3", "pool-b"),
    ] {
        let mut agent = Agent::connect_in_pool(&collector, Some(token), cluster, node, pool)
            .await
            .unwrap();
        agent
            .full(&[debian.clone(), software.clone()], &[])
            .await
            .unwrap();
        agents.push(agent);
    }
    // Its SBOM is built once, like an image's.
    agents[0]
        .upload(&collector, Some(TOKEN_A), &digest, DEBIAN_SBOM, 256 * 1024)
        .await
        .unwrap();

    let mut query = collector.query().await;
    let nodes = query
        .list_nodes(pb::ListNodesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<(&str, &str, &str)> = nodes
        .nodes
        .iter()
        .map(|n| (n.cluster.as_str(), n.node.as_str(), n.node_pool.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("prod-a", "worker-1", "pool-a"),
            ("prod-a", "worker-2", "pool-a"),
            ("prod-b", "worker-3", "pool-b")
        ]
    );
    for node in &nodes.nodes {
        assert_eq!(node.sbom_digest, digest);
        assert!(node.has_sbom);
        assert_eq!(node.software, software.node);
        assert_eq!(node.agent_version, "0.1.0-test");
    }
    assert!(nodes.next_page_token.is_empty());

    // Filters and pages.
    let page = |request: pb::ListNodesRequest| {
        let mut query = query.clone();
        async move { query.list_nodes(request).await.map(|r| r.into_inner()) }
    };
    let first = page(pb::ListNodesRequest {
        page_size: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(first.nodes.len(), 2);
    let rest = page(pb::ListNodesRequest {
        page_size: 2,
        page_token: first.next_page_token.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(rest.nodes.len(), 1);
    assert_eq!(rest.nodes[0].node, "worker-3");
    assert!(rest.next_page_token.is_empty());
    let pool_b = page(pb::ListNodesRequest {
        node_pool: "pool-b".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(pool_b.nodes.len(), 1);
    let other = page(pb::ListNodesRequest {
        sbom_digest: debian.manifest_digest.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(other.nodes.is_empty());
    let bad = page(pb::ListNodesRequest {
        page_token: "garbage".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().starts_with("page_token"), "{}", bad.message());

    // The CLI lists them too.
    let server = collector.url();
    let json: serde_json::Value =
        serde_json::from_str(&cli(&server, &["-o", "json", "nodes", "--pool", "pool-a"]).await)
            .unwrap();
    let listed = json.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["kernel"], "6.1.0-18-amd64");
    assert_eq!(listed[0]["sbom_digest"], digest.as_str());
    assert_eq!(listed[0]["has_sbom"], true);
    let table = cli(&server, &["nodes"]).await;
    assert!(
        table.contains("worker-3") && table.contains("pool-b") && table.contains("stored"),
        "{table}"
    );

    // Not an image: ListImages leaves it out, by digest it is there as a node record.
    let images = list_images(&collector, pb::ListImagesRequest::default()).await;
    let digests: Vec<&str> = images.iter().map(|i| i.manifest_digest.as_str()).collect();
    assert_eq!(digests, [debian.manifest_digest.as_str()]);

    // Component search answers with the nodes that carry it.
    let found = find(
        &collector,
        pb::FindComponentsRequest {
            name: "bash".into(),
            ..Default::default()
        },
    )
    .await;
    let record = found
        .matches
        .iter()
        .filter_map(|m| m.image.as_ref())
        .find(|i| i.manifest_digest == digest)
        .expect("the node software holds bash");
    assert_eq!(record.kind(), pb::ArtifactKind::Node);
    assert_eq!(record.node, software.node);
    assert!(record.config_digest.is_empty());
    assert_eq!(record.nodes.len(), 3);
    assert!(record.workloads.is_empty());

    // A record of a kind this collector does not know is refused, naming the field.
    let mut unknown = node_software("future");
    unknown.kind = 7;
    let refused = agents[0].full(&[unknown], &[]).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains(".kind"), "{}", refused.message());
}

#[tokio::test]
async fn list_images_filters_by_cluster_namespace_node_and_running() {
    let fleet = fleet().await;
    let collector = &fleet.collector;
    let list = |request: pb::ListImagesRequest| async move {
        sorted(
            list_images(collector, request)
                .await
                .into_iter()
                .map(|image| image.manifest_digest)
                .collect(),
        )
    };
    let (debian, python, dns) = (
        fleet.debian.manifest_digest.clone(),
        fleet.python.manifest_digest.clone(),
        fleet.dns.manifest_digest.clone(),
    );
    assert_eq!(
        list(pb::ListImagesRequest::default()).await,
        sorted(vec![debian.clone(), python.clone(), dns.clone()])
    );
    assert_eq!(
        list(pb::ListImagesRequest {
            cluster: "prod-a".into(),
            ..Default::default()
        })
        .await,
        sorted(vec![debian.clone(), dns.clone()])
    );
    assert_eq!(
        list(pb::ListImagesRequest {
            namespace: "shop".into(),
            ..Default::default()
        })
        .await,
        vec![debian.clone()]
    );
    assert_eq!(
        list(pb::ListImagesRequest {
            node: "worker-2".into(),
            ..Default::default()
        })
        .await,
        sorted(vec![debian.clone(), python.clone()])
    );
    assert_eq!(
        list(pb::ListImagesRequest {
            running_only: true,
            ..Default::default()
        })
        .await,
        sorted(vec![debian.clone(), dns.clone()])
    );
    assert!(list(pb::ListImagesRequest {
        cluster: "prod-b".into(),
        running_only: true,
        ..Default::default()
    })
    .await
    .is_empty());

    // One image per page still lists everything once, in digest order.
    let paged: Vec<_> = list_images(
        collector,
        pb::ListImagesRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .map(|image| image.manifest_digest)
    .collect();
    assert_eq!(paged, sorted(vec![debian.clone(), python, dns]));

    // The summary restricted to prod-b shows only prod-b's node, and the SBOM.
    let in_prod_b = list_images(
        collector,
        pb::ListImagesRequest {
            cluster: "prod-b".into(),
            ..Default::default()
        },
    )
    .await;
    let debian_in_b = in_prod_b
        .iter()
        .find(|image| image.manifest_digest == debian)
        .unwrap();
    let nodes: Vec<_> = debian_in_b
        .nodes
        .iter()
        .map(|n| (n.cluster.as_str(), n.node.as_str()))
        .collect();
    assert_eq!(nodes, [("prod-b", "worker-2")]);
    assert!(debian_in_b.workloads.is_empty());
    assert_eq!(debian_in_b.sbom.as_ref().unwrap().component_count, 744);
    assert_eq!(
        debian_in_b.index_digests,
        vec![fleet.debian.index_digest.clone()]
    );
    fleet.collector.stop().await;
}

#[tokio::test]
async fn watch_resumes_after_a_disconnect_without_missing_or_repeating_events() {
    let collector = TestCollector::start(&[]).await;
    let web = image("web", &["web:1"]);
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();

    let mut watch = collector
        .query()
        .await
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    agent
        .full(
            std::slice::from_ref(&web),
            &[
                workload("shop", "web-0", "web", &web),
                workload("shop", "web-1", "web", &web),
            ],
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let batch = tokio::time::timeout(PATIENCE, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.extend(batch.events);
    }
    let resume_after = seen.last().unwrap().sequence;
    drop(watch);

    // While nobody watches: one container stops and the SBOM is stored.
    agent
        .delta(pb::InventoryDelta {
            workloads_stopped: vec![pb::WorkloadKey {
                pod_uid: "uid-shop-web-1".into(),
                container: "web".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    agent
        .upload(
            &collector,
            Some(TOKEN_A),
            &web.manifest_digest,
            PYTHON_SBOM,
            1024,
        )
        .await
        .unwrap();

    let mut watch = collector
        .query()
        .await
        .watch(pb::WatchRequest {
            after_sequence: resume_after,
            from_now: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut resumed = Vec::new();
    while resumed.len() < 2 {
        let batch = tokio::time::timeout(PATIENCE, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        resumed.extend(batch.events);
    }
    let kinds: Vec<_> = resumed.iter().map(|e| (e.sequence, e.kind())).collect();
    assert_eq!(
        kinds,
        [
            (resume_after + 1, pb::EventKind::WorkloadStopped),
            (resume_after + 2, pb::EventKind::SbomStored)
        ]
    );
    assert_eq!(resumed[0].workload.as_ref().unwrap().pod, "web-1");
    assert_eq!(resumed[1].component_count, 2);

    // A watcher from now on gets only what happens next, as it happens.
    let mut live = collector
        .query()
        .await
        .watch(pb::WatchRequest {
            after_sequence: 0,
            from_now: true,
        })
        .await
        .unwrap()
        .into_inner();
    agent
        .delta(pb::InventoryDelta {
            workloads_started: vec![workload("shop", "web-2", "web", &web)],
            ..Default::default()
        })
        .await
        .unwrap();
    let next = tokio::time::timeout(PATIENCE, live.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.events.len(), 1);
    assert_eq!(next.events[0].sequence, resume_after + 3);
    assert_eq!(next.events[0].workload.as_ref().unwrap().pod, "web-2");
    collector.stop().await;
}

#[tokio::test]
async fn watch_from_pruned_history_is_out_of_range() {
    let collector = TestCollector::start(&["--history-retention", "200ms"]).await;
    let web = image("web", &[]);
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(
            std::slice::from_ref(&web),
            &[workload("shop", "web-0", "web", &web)],
        )
        .await
        .unwrap();

    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut stream = collector
            .query()
            .await
            .watch(pb::WatchRequest::default())
            .await
            .unwrap()
            .into_inner();
        match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
            Ok(Err(status)) => {
                assert_eq!(status.code(), Code::OutOfRange);
                assert!(
                    status.message().contains("were pruned"),
                    "{}",
                    status.message()
                );
                break;
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("history was not pruned: {other:?}"),
        }
    }
    collector.stop().await;
}

#[tokio::test]
async fn disconnected_node_keeps_its_state_until_it_expires() {
    let collector = TestCollector::start(&["--node-expiry", "1s"]).await;
    let web = image("web", &[]);
    let on_node = || pb::ListImagesRequest {
        node: "worker-1".into(),
        ..Default::default()
    };

    // A connected node does not expire, however long it stays.
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(
            std::slice::from_ref(&web),
            &[workload("shop", "web-0", "web", &web)],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(list_images(&collector, on_node()).await.len(), 1);

    drop(agent);
    let disconnected = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        list_images(&collector, on_node()).await.len(),
        1,
        "state is kept right after a disconnect"
    );
    while !list_images(&collector, on_node()).await.is_empty() {
        assert!(disconnected.elapsed() < PATIENCE, "node did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(disconnected.elapsed() >= Duration::from_millis(900));
    let events = events_after(&collector, 0).await;
    let last = events.last().unwrap();
    assert_eq!(last.kind(), pb::EventKind::WorkloadStopped);
    assert_eq!(last.node, "worker-1");
    // The image itself is remembered, on no node.
    let all = list_images(&collector, pb::ListImagesRequest::default()).await;
    assert_eq!(all.len(), 1);
    assert!(all[0].nodes.is_empty());
    collector.stop().await;
}

#[tokio::test]
async fn health_and_reflection_describe_the_services() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{health_check_response::ServingStatus, HealthCheckRequest};
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let collector = TestCollector::start(&[]).await;
    let channel = Channel::from_shared(collector.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["nodebom.v1.Ingest", "nodebom.v1.Query", ""] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("reflection did not list services");
    };
    let mut services: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    services.sort();
    assert_eq!(
        services,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "nodebom.v1.Ingest",
            "nodebom.v1.Query"
        ]
    );
    collector.stop().await;
}

#[tokio::test]
async fn query_tokens_protect_the_query_service() {
    let collector = TestCollector::start(&["--query-token", "reader-secret"]).await;
    let mut query = collector.query().await;
    let err = query
        .list_images(pb::ListImagesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let page = query
        .list_images(with_token(
            pb::ListImagesRequest::default(),
            Some("reader-secret"),
        ))
        .await
        .unwrap();
    assert!(page.into_inner().images.is_empty());
    collector.stop().await;
}

#[tokio::test]
async fn tls_collector_serves_clients_that_trust_its_certificate_only() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = localhost_tls(dir.path());
    let collector = TestCollector::start(&["--tls-cert", &cert, "--tls-key", &key]).await;

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", collector.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut query = pb::query_client::QueryClient::new(channel);
    assert!(query
        .list_images(pb::ListImagesRequest::default())
        .await
        .is_ok());

    // A plaintext client gets no answer from a TLS port.
    if let Ok(mut plaintext) = pb::query_client::QueryClient::connect(collector.url()).await {
        assert!(plaintext
            .list_images(pb::ListImagesRequest::default())
            .await
            .is_err());
    }
    collector.stop().await;
}
