//! The harness itself: a private containerd imports, unpacks and forgets blobs like a node.

use nodebom_e2e::{oci, ContainerdDaemon, Entry, ImageSpec, Layer};

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
