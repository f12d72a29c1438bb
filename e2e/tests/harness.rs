//! The harness itself: a private containerd imports, unpacks and forgets blobs like a
//! node; promtool accepts well-formed metrics and names what is wrong with others.
//! (The PostgreSQL cluster has its own file, postgres_harness.rs.)

use nodebom_e2e::{oci, promtool_check_metrics, ContainerdDaemon, Entry, ImageSpec, Layer};

#[test]
fn imported_image_is_unpacked_and_survives_blob_deletion() {
    let daemon = ContainerdDaemon::start().unwrap();
    let out = tempfile::tempdir().unwrap();
    let built = oci::build(
        &ImageSpec {
            name: "docker.io/nodebom/harness:1.0".into(),
            layers: vec![
                Layer::gzip(vec![Entry::file(
                    "/etc/os-release",
                    "ID=debian\nVERSION_ID=\"12\"\n",
                )]),
                Layer::zstd(vec![Entry::Whiteout {
                    path: "/etc/os-release".into(),
                }]),
            ],
            multi_platform: true,
        },
        out.path(),
    )
    .unwrap();
    daemon.import(&built).unwrap();
    let names = daemon.image_names().unwrap();
    assert!(names.contains(&built.name), "{names:?}");
    let index = built.index_digest.clone().unwrap();
    assert!(
        names.contains(&format!("docker.io/nodebom/harness@{index}")),
        "{names:?}"
    );

    let snapshots = String::from_utf8(
        daemon
            .ctr(&["snapshots", "--snapshotter", "overlayfs", "ls"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        snapshots.contains(&built.diff_ids[0]),
        "bottom layer not unpacked: {snapshots}"
    );

    daemon.delete_blobs(&built.layer_digests).unwrap();
    let content = String::from_utf8(daemon.ctr(&["content", "ls", "-q"]).unwrap().stdout).unwrap();
    assert!(content.contains(&built.manifest_digest));
    assert!(content.contains(&built.config_digest));
}

#[test]
fn promtool_accepts_well_formed_metrics() {
    promtool_check_metrics(
        "# HELP nodebom_test_requests_total Requests handled, by outcome.\n\
         # TYPE nodebom_test_requests_total counter\n\
         nodebom_test_requests_total{outcome=\"ok\"} 3\n\
         nodebom_test_requests_total{outcome=\"refused\"} 0\n\
         # HELP nodebom_test_queue_depth Items waiting.\n\
         # TYPE nodebom_test_queue_depth gauge\n\
         nodebom_test_queue_depth 0\n",
    )
    .unwrap();
}

#[test]
fn promtool_rejects_unparsable_and_badly_named_metrics_and_says_why() {
    let unparsable = promtool_check_metrics("nodebom_test_depth{queue=\"a} 1\n").unwrap_err();
    assert!(
        unparsable.to_string().contains("parsing error"),
        "{unparsable:#}"
    );
    let badly_named =
        promtool_check_metrics("# TYPE nodebom_test_requests counter\nnodebom_test_requests 3\n")
            .unwrap_err()
            .to_string();
    for finding in [
        "nodebom_test_requests counter metrics should have \"_total\" suffix",
        "nodebom_test_requests no help text",
    ] {
        assert!(badly_named.contains(finding), "{badly_named}");
    }
}
