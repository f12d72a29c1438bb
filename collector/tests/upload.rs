//! SBOM uploads over real gRPC: chunking, storage, and every way an upload can be wrong.

mod common;

use common::*;
use nodebom_proto::v1 as pb;
use pb::upload_sbom_request::Part;
use tonic::Code;

#[tokio::test]
async fn chunked_upload_is_stored_and_returned_in_canonical_form() {
    let collector = TestCollector::start(&[]).await;
    let debian = image("debian", &["docker.io/library/debian:12"]);
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(std::slice::from_ref(&debian), &[])
        .await
        .unwrap();
    let stored = agent
        .upload(
            &collector,
            Some(TOKEN_A),
            &debian.manifest_digest,
            DEBIAN_SBOM,
            100 * 1024,
        )
        .await
        .unwrap();
    assert_eq!(stored.manifest_digest, debian.manifest_digest);

    let (info, document) = get_sbom(&collector, &debian.manifest_digest).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&document).unwrap(),
        stored_form(DEBIAN_SBOM, &debian.manifest_digest)
    );
    assert_eq!(info.size, document.len() as u64);
    assert_eq!(info.sha256, sha256(&document));
    assert_eq!(info.agent_version, "0.1.0-test");
    assert!(info.content_hash.starts_with("sha256:"));
    assert!(!info.incomplete);
    assert_eq!(info.spec_version, "1.5");
    assert_eq!(info.component_count, 744);
    assert_eq!(
        (info.cluster.as_str(), info.node.as_str()),
        ("prod-a", "worker-1")
    );
    collector.stop().await;
}

#[tokio::test]
async fn bad_uploads_get_clear_statuses_and_store_nothing() {
    let collector = TestCollector::start(&[
        "--max-sbom-bytes",
        "2000000",
        "--max-message-bytes",
        "65536",
    ])
    .await;
    let target = image("target", &[]);
    let digest = target.manifest_digest.clone();
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(std::slice::from_ref(&target), &[])
        .await
        .unwrap();
    let messages = |document: &[u8], chunk: usize| {
        upload_messages("prod-a", "worker-1", &digest, document, chunk)
    };
    let debian = describing(DEBIAN_SBOM, &digest);
    let python = describing(PYTHON_SBOM, &digest);
    // 100,000 nested arrays in a field the collector does not read.
    let mut nested = python.clone();
    nested.truncate(nested.iter().rposition(|&b| b == b'}').unwrap());
    nested.extend(
        format!(
            r#","x-deep":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .bytes(),
    );

    let mut bad_digest = messages(&python, 1024);
    if let Some(Part::Header(header)) = &mut bad_digest[0].part {
        header.manifest_digest = "sha256:xyz".into();
    }
    let mut out_of_order = messages(&debian, 32 * 1024);
    out_of_order.swap(2, 3);
    let mut truncated = messages(&debian, 32 * 1024);
    truncated.pop();
    let mut wrong_hash = messages(&python, 1024);
    if let Some(Part::Header(header)) = &mut wrong_hash[0].part {
        header.sha256 = sha256(&debian);
    }
    let mut headless = messages(&python, 1024);
    headless.remove(0);
    let mut too_large = messages(&python, 1024);
    if let Some(Part::Header(header)) = &mut too_large[0].part {
        header.size = 3_000_000;
    }
    let cases: Vec<(&str, Vec<pb::UploadSbomRequest>, Code, &str)> = vec![
        (
            "invalid digest",
            bad_digest,
            Code::InvalidArgument,
            "header.manifest_digest: invalid digest",
        ),
        (
            "SPDX",
            messages(PYTHON_SPDX, 1024),
            Code::InvalidArgument,
            "not CycloneDX JSON: the document has no bomFormat",
        ),
        (
            "CycloneDX without metadata or components",
            messages(br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#, 1024),
            Code::InvalidArgument,
            "the document has no metadata.component",
        ),
        (
            "syft's SBOM of a directory",
            messages(PYTHON_SBOM, 1024),
            Code::InvalidArgument,
            "metadata.component \"small\" has no version",
        ),
        (
            "100,000 nested arrays in an unknown field",
            messages(&nested, 32 * 1024),
            Code::InvalidArgument,
            "JSON nested deeper than 48 levels",
        ),
        (
            "XML",
            messages(PYTHON_XML, 1024),
            Code::InvalidArgument,
            "not CycloneDX JSON: the document starts with '<'",
        ),
        (
            "chunk out of order",
            out_of_order,
            Code::InvalidArgument,
            "chunk out of order: it starts at byte 65536, but 32768",
        ),
        (
            "truncated",
            truncated,
            Code::InvalidArgument,
            "the upload ended after",
        ),
        (
            "wrong hash",
            wrong_hash,
            Code::InvalidArgument,
            "header.sha256: the document's digest is",
        ),
        (
            "no header",
            headless,
            Code::InvalidArgument,
            "must be an SbomHeader",
        ),
        (
            "SBOM over the limit",
            too_large,
            Code::ResourceExhausted,
            "larger than the collector's limit of 2000000",
        ),
        (
            "chunk over the message limit",
            messages(&debian, 128 * 1024),
            Code::ResourceExhausted,
            "--max-message-bytes",
        ),
    ];
    for (case, messages, code, message) in cases {
        let err = upload_raw(&collector, Some(TOKEN_A), messages)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{case}: {}", err.message());
        assert!(err.message().contains(message), "{case}: {}", err.message());
        let missing = get_sbom(&collector, &digest).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{case}");
    }
    assert!(events_after(&collector, 0)
        .await
        .iter()
        .all(|event| event.kind() != pb::EventKind::SbomStored));

    // None of the failures left anything behind that blocks a correct upload.
    agent
        .upload(&collector, Some(TOKEN_A), &digest, DEBIAN_SBOM, 32 * 1024)
        .await
        .unwrap();
    let stored = get_sbom(&collector, &digest).await.unwrap().1;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&stored).unwrap(),
        stored_form(DEBIAN_SBOM, &digest)
    );
    collector.stop().await;
}

#[tokio::test]
async fn upload_for_an_image_the_node_does_not_have_is_refused() {
    let collector = TestCollector::start(&[]).await;
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent.full(&[image("present", &[])], &[]).await.unwrap();
    let err = agent
        .upload(
            &collector,
            Some(TOKEN_A),
            &image("absent", &[]).manifest_digest,
            PYTHON_SBOM,
            1024,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("is not in the inventory of node prod-a/worker-1"),
        "{}",
        err.message()
    );
    collector.stop().await;
}

#[tokio::test]
async fn sbom_that_describes_another_image_is_rejected() {
    let collector = TestCollector::start(&[]).await;
    let (mine, other) = (image("mine", &[]), image("other", &[]));
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent.full(std::slice::from_ref(&mine), &[]).await.unwrap();
    let document = describing(PYTHON_SBOM, &other.manifest_digest);
    let messages = upload_messages("prod-a", "worker-1", &mine.manifest_digest, &document, 1024);
    let err = upload_raw(&collector, Some(TOKEN_A), messages)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains(&format!(
            "the document describes \"{}\"",
            other.manifest_digest
        )),
        "{}",
        err.message()
    );
    collector.stop().await;
}

/// An SBOM whose only component has `name`, `version` and `purl`, as an agent uploads it.
fn one_component(name: &str, version: &str, purl: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "container", "name": "x"}},
        "components": [{"type": "library", "name": name, "version": version, "purl": purl}],
    }))
    .unwrap()
}

#[tokio::test]
async fn components_with_the_longest_names_and_nul_characters_are_stored_and_found() {
    // Names as long as the collector indexes (4 KiB) and a NUL: more than a database
    // index entry holds, and a character PostgreSQL's text cannot hold.
    let collector = TestCollector::start(&[]).await;
    let long = format!("lib{}", "x".repeat(4000));
    let odd = image("odd", &["registry.example/odd:1"]);
    let mut agent = Agent::connect(&collector, Some(TOKEN_A), "prod-a", "worker-1")
        .await
        .unwrap();
    agent
        .full(
            std::slice::from_ref(&odd),
            &[workload("shop", "odd-0", "odd", &odd)],
        )
        .await
        .unwrap();
    let purl = format!("pkg:generic/{long}@1.0");
    let document = one_component(&long, "1.0\u{0}beta", &purl);
    agent
        .upload(
            &collector,
            Some(TOKEN_A),
            &odd.manifest_digest,
            &document,
            64 * 1024,
        )
        .await
        .unwrap();

    let mut query = collector.query().await;
    for request in [
        pb::FindComponentsRequest {
            name: long[..100].to_uppercase(),
            name_contains: true,
            ..Default::default()
        },
        pb::FindComponentsRequest {
            purl: format!("pkg:generic/{long}"),
            ..Default::default()
        },
    ] {
        let found = query.find_components(request).await.unwrap().into_inner();
        assert_eq!(found.matches.len(), 1);
        let component = &found.matches[0].components[0];
        assert_eq!(component.name, long);
        assert_eq!(component.version, "1.0\u{FFFD}beta");
    }
    // The stored document keeps what the image said.
    let (_, stored) = get_sbom(&collector, &odd.manifest_digest).await.unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored["components"][0]["version"], "1.0\u{0}beta");
    collector.stop().await;
}
