//! The `nodebom-collector` binary as a separate process: a kill in the middle of an
//! upload, restart on the same database, the defaults of `serve`, and the query CLI.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use nodebom_proto::v1 as pb;
use tonic::Code;

/// `serve` on the tests' store (see `common::test_store`) in `dir`.
async fn serve_args(dir: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--store".into(),
        test_store(dir).await,
        "--cluster-token".into(),
        format!("prod-a={TOKEN_A}"),
    ]
}

/// Opens a Sync session against a process.
async fn agent(process: &Process, node: &str) -> Agent {
    Agent::connect_to(process, Some(TOKEN_A), "prod-a", node)
        .await
        .unwrap()
}

#[tokio::test]
async fn killing_the_collector_mid_upload_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let args = serve_args(dir.path()).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (debian, python) = (
        image("debian", &["debian:12"]),
        image("python", &["python:3.11"]),
    );

    let first = Process::spawn(dir.path(), &args, &[]);
    let mut node = agent(&first, "worker-1").await;
    let wanted = node
        .full(
            &[debian.clone(), python.clone()],
            &[workload("shop", "web-0", "web", &debian)],
        )
        .await
        .unwrap()
        .sbom_wanted;
    assert_eq!(wanted.len(), 2);
    let acknowledged = node
        .upload(
            &first,
            Some(TOKEN_A),
            &debian.manifest_digest,
            DEBIAN_SBOM,
            64 * 1024,
        )
        .await
        .unwrap();
    assert!(!acknowledged.already_stored);

    // Half of the second SBOM is on the wire when the collector dies.
    let messages = upload_messages(
        "prod-a",
        "worker-1",
        &python.manifest_digest,
        &describing(PYTHON_SBOM, &python.manifest_digest),
        256,
    );
    let half = messages.len() / 2;
    let (sender, pending) = tokio::sync::mpsc::channel(messages.len());
    for message in messages.into_iter().take(half) {
        sender.send(message).await.unwrap();
    }
    let mut client = ingest_client(&first).await;
    let upload = tokio::spawn(async move {
        client
            .upload_sbom(with_token(
                tokio_stream::wrappers::ReceiverStream::new(pending),
                Some(TOKEN_A),
            ))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let interrupted = upload.await.unwrap();
    assert!(
        interrupted.is_err(),
        "an interrupted upload must not be acknowledged"
    );
    drop(sender);
    drop(node);

    let second = Process::spawn(dir.path(), &args, &[]);
    let (info, document) = get_sbom(&second, &debian.manifest_digest).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&document).unwrap(),
        stored_form(DEBIAN_SBOM, &debian.manifest_digest)
    );
    assert_eq!(info.component_count, 744);
    let missing = get_sbom(&second, &python.manifest_digest)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let images = list_images(&second, pb::ListImagesRequest::default()).await;
    assert_eq!(images.len(), 2, "the acknowledged inventory survived");
    assert!(images.iter().all(|image| image.nodes.len() == 1));

    // The reconnecting agent is asked again for exactly what was not stored.
    let mut node = agent(&second, "worker-1").await;
    let wanted = node
        .full(
            &[debian.clone(), python.clone()],
            &[workload("shop", "web-0", "web", &debian)],
        )
        .await
        .unwrap()
        .sbom_wanted;
    assert_eq!(wanted, vec![python.manifest_digest.clone()]);
    node.upload(
        &second,
        Some(TOKEN_A),
        &python.manifest_digest,
        PYTHON_SBOM,
        256,
    )
    .await
    .unwrap();
    let document = get_sbom(&second, &python.manifest_digest).await.unwrap().1;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&document).unwrap(),
        stored_form(PYTHON_SBOM, &python.manifest_digest)
    );
    let stored: Vec<_> = events_after(&second, 0)
        .await
        .into_iter()
        .filter(|event| event.kind() == pb::EventKind::SbomStored)
        .map(|event| event.manifest_digest)
        .collect();
    assert_eq!(
        stored,
        [
            debian.manifest_digest.clone(),
            python.manifest_digest.clone()
        ]
    );
}

#[tokio::test]
async fn serve_defaults_to_local_sqlite_and_loopback_plaintext_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Port 0 instead of 7443 so that the test never collides with a running collector.
    let process = Process::spawn(dir.path(), &[], &[("NODEBOM_LISTEN", "127.0.0.1:0")]);
    let fields = &process.start_line["fields"];
    assert_eq!(fields["transport"], "plaintext, loopback only");
    assert_eq!(fields["store"], "sqlite://nodebom-data/nodebom.db");
    assert!(
        fields["clusters"].as_str().unwrap().starts_with("any"),
        "{fields}"
    );
    assert!(process.url().starts_with("http://127.0.0.1:"));
    assert!(dir.path().join("nodebom-data/nodebom.db").is_file());
    // Without tokens any cluster may report.
    Agent::connect_to(&process, None, "dev", "laptop")
        .await
        .unwrap();
}

#[tokio::test]
async fn serve_refuses_plaintext_on_a_public_address() {
    let output = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--cluster-token",
            "prod=secret",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve plaintext on 0.0.0.0:0"),
        "{stderr}"
    );
}

#[tokio::test]
async fn query_cli_lists_images_finds_components_and_writes_sboms() {
    let collector = TestCollector::start(&[]).await;
    let debian = image("debian", &["docker.io/library/debian:12"]);
    let mut node = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    node.full(
        std::slice::from_ref(&debian),
        &[workload("shop", "web-0", "web", &debian)],
    )
    .await
    .unwrap();
    node.upload(
        &collector,
        Some(TOKEN_A),
        &debian.manifest_digest,
        DEBIAN_SBOM,
        256 * 1024,
    )
    .await
    .unwrap();
    let url = collector.url();

    let images: serde_json::Value =
        serde_json::from_str(&cli(&url, &["-o", "json", "images", "--running"]).await).unwrap();
    assert_eq!(
        images[0]["manifest_digest"],
        debian.manifest_digest.as_str()
    );
    assert_eq!(images[0]["sbom"]["component_count"], 744);
    assert_eq!(images[0]["workloads"][0]["pod"], "web-0");

    let table = cli(&url, &["images"]).await;
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("DIGEST") && header.contains("LAST SEEN"),
        "{table}"
    );
    let short = &debian.manifest_digest[..19];
    assert!(
        table.contains(short) && table.contains("744 components"),
        "{table}"
    );

    let found = cli(&url, &["find", "libc6", "--version", "2.36"]).await;
    let row = found.lines().find(|line| line.contains("libc6")).unwrap();
    assert!(
        row.contains("2.36-9+deb12u14") && row.contains("prod-a/shop/web-0/web"),
        "{found}"
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    cli(
        &url,
        &[
            "sbom",
            &debian.manifest_digest,
            "--file",
            file.path().to_str().unwrap(),
        ],
    )
    .await;
    let written = std::fs::read(file.path()).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
        stored_form(DEBIAN_SBOM, &debian.manifest_digest)
    );

    let events = cli(&url, &["-o", "json", "watch", "--count", "2"]).await;
    let kinds: Vec<String> = events
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["workload-started", "sbom-stored"]);
    collector.stop().await;
}
