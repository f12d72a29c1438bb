//! Three collector processes on one PostgreSQL database (a private cluster the tests
//! start), simulated agents spread over them, Dependency-Track test server behind them:
//! each image is built once per cluster, a replica killed during uploads loses nothing
//! it acknowledged, a replica killed during forwarding hands its action over so that
//! each SBOM reaches DT exactly once, the KEV policy job moves, and cluster tags end
//! right.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nodebom_e2e::dtrack::{DtOptions, DtServer, Fault};
use nodebom_e2e::postgres::TestPostgres;
use nodebom_proto::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;

/// CISA's KEV catalog of 2025-08-25.
const KEV: &[u8] = include_bytes!("../../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json");
/// How long a replica may hold a DT action before another takes it over.
const LEASE: Duration = Duration::from_secs(3);
/// Longest wait for the fleet to settle after a change.
const SETTLE: Duration = Duration::from_secs(60);

fn replica_args(dir: &Path, database: &str, dt: &DtServer) -> Vec<String> {
    std::fs::write(dir.join("dtrack-key"), dt.api_key()).unwrap();
    std::fs::write(dir.join("kev.json"), KEV).unwrap();
    [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--store",
        database,
        "--cluster-token",
        &format!("prod-a={TOKEN_A}"),
        "--cluster-token",
        &format!("prod-b={TOKEN_B}"),
        "--dtrack-url",
        &dt.url(),
        "--dtrack-api-key-file",
        &dir.join("dtrack-key").display().to_string(),
        "--dtrack-tag-grace",
        "1s",
        "--dtrack-lease",
        &format!("{}s", LEASE.as_secs()),
        "--kev-catalog",
        &dir.join("kev.json").display().to_string(),
        "--kev-interval",
        "2s",
        "--dtrack-retry-first",
        "200ms",
        "--dtrack-retry-max",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Waits until `check` holds, polling; panics with `what` after [`SETTLE`].
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {SETTLE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `process` logged that it took `job` over (the JSON log's `job` field).
fn runs_job(process: &Process, job: &str) -> bool {
    process.log().iter().any(|entry| {
        entry["fields"]["message"] == "this replica runs the job now"
            && entry["fields"]["job"] == job
    })
}

/// Which replica runs `job`: the one that logged taking it last (earlier holders may
/// have died).
fn holder(replicas: &[Option<Process>], job: &str) -> Option<usize> {
    replicas
        .iter()
        .enumerate()
        .filter_map(|(i, process)| process.as_ref().map(|p| (i, p)))
        .filter(|(_, process)| runs_job(process, job))
        .map(|(i, _)| i)
        .next_back()
}

/// Sends the header and the first chunk of an upload of `digest` and keeps the stream
/// open (while the returned sender lives); the task ends with the collector's answer.
async fn upload_in_progress(
    replica: &Process,
    node: &Agent,
    digest: &str,
    document: &[u8],
) -> (
    tokio::task::JoinHandle<Result<pb::UploadSbomResponse, tonic::Status>>,
    tokio::sync::mpsc::Sender<pb::UploadSbomRequest>,
) {
    let document = describing(document, digest);
    let messages = upload_messages(&node.cluster, &node.node, digest, &document, 16 * 1024);
    let (sender, pending) = tokio::sync::mpsc::channel(messages.len());
    for message in messages.into_iter().take(2) {
        sender.send(message).await.unwrap();
    }
    let mut client = ingest_client(replica).await;
    let call = tokio::spawn(async move {
        client
            .upload_sbom(with_token(ReceiverStream::new(pending), Some(TOKEN_A)))
            .await
            .map(tonic::Response::into_inner)
    });
    // The collector has the header and the chunk before the kill.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (call, sender)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_the_fleet_and_survive_a_kill_during_uploads_and_forwarding() {
    let postgres = TestPostgres::shared().await.unwrap();
    let database = postgres.create_database().await.unwrap();
    let dt = DtServer::start(DtOptions::default()).unwrap();
    // DT is away until every SBOM is stored, so that forwarding starts with the fleet
    // complete and a replica can be killed in the middle of it.
    dt.down().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = replica_args(dir.path(), &database, &dt);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut replicas: Vec<Option<Process>> = (0..3)
        .map(|_| Some(Process::spawn(dir.path(), &args, &[])))
        .collect();

    // One replica keeps the KEV policy; the nodes that build first talk to it.
    let mut kev_holder = None;
    eventually("a replica keeps the KEV policy", async || {
        kev_holder = holder(&replicas, "Policies");
        kev_holder.is_some()
    })
    .await;
    let first = kev_holder.unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    let replica =
        |replicas: &[Option<Process>], i: usize| -> String { replicas[i].as_ref().unwrap().url() };

    let (debian, python) = (
        image("debian", &["docker.io/library/debian:12"]),
        image("python", &["docker.io/library/python:3.12"]),
    );
    let images = [debian.clone(), python.clone()];
    let runs = |node: &str, with_python: bool| {
        let mut runs = vec![workload("shop", &format!("web-{node}"), "web", &debian)];
        if with_python {
            runs.push(workload("shop", &format!("job-{node}"), "job", &python));
        }
        runs
    };

    // a1 reports first, through the KEV holder, and is asked for both images.
    let mut a1 = Agent::connect_to(&replica(&replicas, first), Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    let mut wanted: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let ack = a1.full(&images, &runs("a1", true)).await.unwrap();
    assert_eq!(ack.sbom_wanted.len(), 2, "{ack:?}");
    for digest in ack.sbom_wanted {
        wanted
            .entry(("prod-a".into(), digest))
            .or_default()
            .push("a1".into());
    }
    // The other nodes report at the same time, spread over all three replicas: prod-b's
    // two nodes race for the same two images through different replicas.
    let spread = [
        ("prod-a", "a2", others[0], TOKEN_A),
        ("prod-a", "a3", others[1], TOKEN_A),
        ("prod-b", "b1", first, TOKEN_B),
        ("prod-b", "b2", others[0], TOKEN_B),
    ];
    let reports = spread.map(|(cluster, node, at, token)| {
        let url = replica(&replicas, at);
        let images = images.clone();
        let runs = runs(node, cluster == "prod-a");
        async move {
            let mut agent = Agent::connect_to(&url, Some(token), cluster, node)
                .await
                .unwrap();
            let ack = agent.full(&images, &runs).await.unwrap();
            (agent, ack.sbom_wanted)
        }
    });
    let mut agents = BTreeMap::new();
    for (agent, asked) in futures_util::future::join_all(reports).await {
        for digest in asked {
            wanted
                .entry((agent.cluster.clone(), digest))
                .or_default()
                .push(agent.node.clone());
        }
        agents.insert(agent.node.clone(), agent);
    }
    // Each image is built once per cluster, whichever replicas the nodes talk to.
    for cluster in ["prod-a", "prod-b"] {
        for image in &images {
            let builders = &wanted[&(cluster.to_owned(), image.manifest_digest.clone())];
            assert_eq!(builders.len(), 1, "{cluster} {image:?}: {builders:?}");
        }
    }

    // a1 stores debian through the KEV holder, which acknowledges it, and is killed in the
    // middle of python's upload.
    let holder_url = replica(&replicas, first);
    let stored = a1
        .upload(
            &holder_url,
            Some(TOKEN_A),
            &debian.manifest_digest,
            DEBIAN_SBOM,
            64 * 1024,
        )
        .await
        .unwrap();
    assert!(!stored.already_stored);
    let (cut_short, _open) = upload_in_progress(
        replicas[first].as_ref().unwrap(),
        &a1,
        &python.manifest_digest,
        PYTHON_SBOM,
    )
    .await;
    replicas[first].take().unwrap().kill();
    assert!(
        cut_short.await.unwrap().is_err(),
        "the upload outlived its replica"
    );

    // What it acknowledged is there for every replica; what it did not is not.
    let survivor = replica(&replicas, others[1]);
    let mut query = query_client(&survivor).await;
    let debian_sbom = query
        .get_sbom(pb::GetSbomRequest {
            manifest_digest: debian.manifest_digest.clone(),
            ..Default::default()
        })
        .await;
    assert!(debian_sbom.is_ok(), "{debian_sbom:?}");
    let python_sbom = query
        .get_sbom(pb::GetSbomRequest {
            manifest_digest: python.manifest_digest.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        python_sbom.map(|_| ()).unwrap_err().code(),
        tonic::Code::NotFound
    );

    // The KEV policy moves to a replica still alive.
    eventually("another replica takes the KEV policy over", async || {
        others
            .iter()
            .any(|i| runs_job(replicas[*i].as_ref().unwrap(), "Policies"))
    })
    .await;

    // The agents of the dead replica reconnect to another one, as an agent does; every
    // builder uploads what it is asked for.
    let mut a1 = Agent::connect_to(&survivor, Some(TOKEN_A), "prod-a", "a1")
        .await
        .unwrap();
    let ack = a1.full(&images, &runs("a1", true)).await.unwrap();
    assert_eq!(
        ack.sbom_wanted,
        std::slice::from_ref(&python.manifest_digest)
    );
    a1.upload(
        &survivor,
        Some(TOKEN_A),
        &python.manifest_digest,
        PYTHON_SBOM,
        64 * 1024,
    )
    .await
    .unwrap();
    let mut b1 = Agent::connect_to(&survivor, Some(TOKEN_B), "prod-b", "b1")
        .await
        .unwrap();
    b1.full(&images, &runs("b1", false)).await.unwrap();
    agents.insert("b1".into(), b1);
    let at_replica = |node: &str| match node {
        "b1" => survivor.clone(),
        "a2" | "b2" => replica(&replicas, others[0]),
        _ => replica(&replicas, others[1]),
    };
    for ((cluster, digest), nodes) in &wanted {
        let node = &nodes[0];
        if node == "a1" {
            continue;
        }
        let document = if *digest == debian.manifest_digest {
            DEBIAN_SBOM
        } else {
            PYTHON_SBOM
        };
        // prod-b's builds check prod-a's copies ("already stored" when they agree).
        agents[node]
            .upload(
                &at_replica(node),
                Some(token_of(cluster)),
                digest,
                document,
                64 * 1024,
            )
            .await
            .unwrap();
    }

    // DT comes back slow: each of the first two uploads is answered after 2 s (less than
    // the lease). The replica working on one dies meanwhile; its request never
    // completes, and another replica takes the action over once the lease ends.
    dt.inject(
        Fault::delay(Duration::from_secs(2))
            .on_path("/api/v1/bom")
            .times(2),
    );
    dt.up().unwrap();
    let leased_by = leased_upload(&database).await;
    let sender = others
        .iter()
        .copied()
        .find(|i| {
            replicas[*i]
                .as_ref()
                .is_some_and(|p| leased_by.ends_with(&format!(":{}", p.pid())))
        })
        .unwrap_or_else(|| panic!("no live replica is {leased_by}"));
    replicas[sender].take().unwrap().kill();
    let last = others.into_iter().find(|i| *i != sender).unwrap();

    // Each SBOM reaches DT exactly once; tags follow where the images run.
    let project_of = |name: &str| {
        dt.projects()
            .into_iter()
            .find(|project| project.name == name)
    };
    eventually(
        "both images are in DT with their clusters' tags",
        async || {
            let debian_tags = project_of("docker.io/library/debian").map(|p| p.tags);
            let python_tags = project_of("docker.io/library/python").map(|p| p.tags);
            debian_tags.is_some_and(|tags| {
                tags.contains("cluster:prod-a") && tags.contains("cluster:prod-b")
            }) && python_tags.is_some_and(|tags| tags.contains("cluster:prod-a"))
                && dt.pending_uploads() == 0
        },
    )
    .await;
    for name in ["docker.io/library/debian", "docker.io/library/python"] {
        let project = project_of(name).unwrap();
        assert_eq!(dt.uploads_to(project.uuid).len(), 1, "{name}");
        assert!(!project.tags.contains("cluster:prod-b") || name.ends_with("debian"));
    }
    // The KEV policy is synced by whichever replica keeps it now, once DT is back.
    eventually("the KEV policy is in DT", async || {
        !dt.policies().is_empty()
    })
    .await;

    // prod-b stops running debian: its tag goes, on the one replica left.
    let last_url = replica(&replicas, last);
    for node in ["b1", "b2"] {
        let mut agent = Agent::connect_to(&last_url, Some(TOKEN_B), "prod-b", node)
            .await
            .unwrap();
        agent.full(&images, &[]).await.unwrap();
    }
    eventually("prod-b's tag leaves debian's project", async || {
        project_of("docker.io/library/debian").is_some_and(|p| {
            p.tags.contains("cluster:prod-a") && !p.tags.contains("cluster:prod-b")
        })
    })
    .await;
    for name in ["docker.io/library/debian", "docker.io/library/python"] {
        assert_eq!(
            dt.uploads_to(project_of(name).unwrap().uuid).len(),
            1,
            "{name}"
        );
    }
    assert_eq!(dt.policies().len(), 1, "the KEV policy is kept once");
    dt.assert_conformant();
}

fn token_of(cluster: &str) -> &'static str {
    if cluster == "prod-a" {
        TOKEN_A
    } else {
        TOKEN_B
    }
}

/// The replica (`host:pid`) that holds the lease of an upload, once one is leased.
async fn leased_upload(database: &str) -> String {
    let (client, connection) = tokio_postgres::connect(database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let deadline = Instant::now() + SETTLE;
    loop {
        let row = client
            .query_opt(
                "SELECT leased_by FROM dtrack_outbox WHERE leased_by <> '' AND action LIKE '%upload%' LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no upload was leased");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events of a `Watch` until `count` arrived.
async fn watched(watch: &mut tonic::Streaming<pb::WatchResponse>, count: usize) -> Vec<pb::Event> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let batch = tokio::time::timeout(PATIENCE, watch.message())
            .await
            .expect("events written by the other replica did not arrive")
            .unwrap()
            .unwrap();
        seen.extend(batch.events);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_on_one_replica_sees_every_event_of_every_replica_once_in_one_order() {
    let postgres = TestPostgres::shared().await.unwrap();
    let database = postgres.create_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &database,
        "--cluster-token",
        &format!("prod-a={TOKEN_A}"),
    ];
    let replicas = [
        Process::spawn(dir.path(), &args, &[]),
        Process::spawn(dir.path(), &args, &[]),
    ];
    let mut watches = Vec::new();
    for replica in &replicas {
        let watch = query_client(replica)
            .await
            .watch(pb::WatchRequest::default())
            .await
            .unwrap()
            .into_inner();
        watches.push(watch);
    }

    // Six nodes, each on one of the two replicas, start three containers each, all at
    // once: their transactions commit in some order on the shared database.
    let web = image("web", &["registry.example/web:1"]);
    let reports = (0..6).map(|i| {
        let url = replicas[i % 2].url();
        let web = web.clone();
        async move {
            let node = format!("node-{i}");
            let mut agent = Agent::connect_to(&url, Some(TOKEN_A), "prod-a", &node)
                .await
                .unwrap();
            let runs: Vec<pb::Workload> = (0..3)
                .map(|pod| workload("shop", &format!("{node}-pod-{pod}"), "web", &web))
                .collect();
            agent.full(std::slice::from_ref(&web), &runs).await.unwrap();
        }
    });
    futures_util::future::join_all(reports).await;

    let mut orders = Vec::new();
    for watch in &mut watches {
        let events = watched(watch, 18).await;
        let sequences: Vec<u64> = events.iter().map(|event| event.sequence).collect();
        assert!(
            sequences.windows(2).all(|pair| pair[0] < pair[1]),
            "{sequences:?}"
        );
        let pods: std::collections::BTreeSet<String> = events
            .iter()
            .map(|event| event.workload.as_ref().unwrap().pod.clone())
            .collect();
        assert_eq!(pods.len(), 18, "{pods:?}");
        orders.push(sequences);
    }
    // Both replicas tell the same history in the same order.
    assert_eq!(orders[0], orders[1]);
}
