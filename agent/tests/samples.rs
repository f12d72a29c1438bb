//! Accuracy on the per-ecosystem sample images (`nodebom_e2e::samples`): each is built,
//! imported into a real containerd and scanned by `nodebom-agent scan`, first from its
//! layer blobs, then from its snapshots. For every purl type a sample is about, the scan
//! must report exactly the packages that are installed: none missing, none invented.

use std::collections::BTreeSet;
use std::str::FromStr;

mod common;

use common::scan_ok;
use nodebom_e2e::samples::{self, Installed, Sample};
use nodebom_e2e::{oci, ContainerdDaemon};
use packageurl::PackageUrl;
use serde_json::Value;

/// A component as the samples name packages: purl type, the ecosystem's own spelling of
/// the name (`group:artifact` for Maven, `vendor/name` for Composer), the version with
/// its epoch.
fn installed(component: &Value) -> Option<Installed> {
    let purl = PackageUrl::from_str(component["purl"].as_str()?).ok()?;
    let name = match (purl.ty(), purl.namespace()) {
        ("maven", Some(group)) => format!("{group}:{}", purl.name()),
        ("composer", Some(vendor)) => format!("{vendor}/{}", purl.name()),
        _ => purl.name().to_owned(),
    };
    let version = component["version"].as_str()?.to_owned();
    Some(Installed::new(purl.ty(), name, version))
}

fn reported(bom: &Value, sample: &Sample) -> BTreeSet<Installed> {
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(installed)
        .filter(|p| sample.purl_types.contains(&p.purl_type.as_str()))
        .collect()
}

fn assert_matches(bom: &Value, sample: &Sample, how: &str) {
    // Real images hit no limit: their SBOMs do not say they are incomplete.
    assert!(
        bom.get("compositions").is_none(),
        "{} ({how}): {}",
        sample.spec.name,
        bom["metadata"]["properties"]
    );
    let found = reported(bom, sample);
    let missing: Vec<_> = sample.installed.difference(&found).collect();
    let invented: Vec<_> = found.difference(&sample.installed).collect();
    assert!(
        missing.is_empty() && invented.is_empty(),
        "{} ({how}): {} installed, {} reported\nmissing: {missing:#?}\nnot installed: {invented:#?}",
        sample.spec.name,
        sample.installed.len(),
        found.len(),
    );
}

#[test]
fn every_sample_reports_exactly_what_is_installed() {
    let daemon = ContainerdDaemon::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let samples = samples::all(&work.path().join("tools")).unwrap();
    assert!(samples.iter().all(|s| !s.installed.is_empty()));
    for sample in &samples {
        let built = oci::build(&sample.spec, &work.path().join("images")).unwrap();
        daemon.import_packed(&built).unwrap();
        assert_matches(&scan_ok(&daemon, &[&built.name]), sample, "layer blobs");
        daemon.import(&built).unwrap();
        assert_matches(&scan_ok(&daemon, &[&built.name]), sample, "snapshots");
    }
}
