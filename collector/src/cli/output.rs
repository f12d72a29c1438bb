//! Rendering query answers as tables or JSON.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, SystemTime};

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use nodebom_proto::v1 as pb;
use serde_json::{json, Value};

use super::Format;
use crate::error::{Error, Result};

/// Workloads listed in one table cell before the rest are counted.
const CELL_ITEMS: usize = 3;

pub(super) fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|ts| u64::try_from(ts.seconds).ok())
        .map(|seconds| {
            humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
                .to_string()
        })
        .unwrap_or_default()
}

/// `sha256:` and the first 12 hex digits, as `docker images` shows ids.
pub(super) fn short(digest: &str) -> &str {
    match digest.find(':') {
        Some(colon) => digest.get(..colon + 13).unwrap_or(digest),
        None => digest,
    }
}

fn first_and_count(items: &[String]) -> String {
    match items {
        [] => "-".into(),
        [only] => only.clone(),
        [first, rest @ ..] => format!("{first} (+{})", rest.len()),
    }
}

fn workload_label(placement: &pb::WorkloadPlacement) -> String {
    let workload = placement.workload.clone().unwrap_or_default();
    format!(
        "{}/{}/{}/{}",
        placement.cluster, workload.namespace, workload.pod, workload.container
    )
}

fn listed(labels: Vec<String>) -> String {
    if labels.is_empty() {
        return "-".into();
    }
    let shown = labels
        .iter()
        .take(CELL_ITEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match labels.len().saturating_sub(CELL_ITEMS) {
        0 => shown,
        more => format!("{shown} (+{more})"),
    }
}

pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    table
}

/// Writes `table` like `kubectl get`: columns two spaces apart, no trailing blanks.
pub(super) fn write_table(out: &mut (dyn Write + Send), mut table: Table) -> Result<()> {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        write_line(out, line.trim_end())?;
    }
    Ok(())
}

pub(super) fn write_line(out: &mut (dyn Write + Send), text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(Error::io("writing output"))
}

pub(super) fn write_json(out: &mut (dyn Write + Send), value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| Error::Corrupt(format!("encoding JSON: {err}")))?;
    write_line(out, &text)
}

fn sbom_json(info: &pb::SbomInfo) -> Value {
    json!({
        "manifest_digest": info.manifest_digest,
        "size": info.size,
        "sha256": info.sha256,
        "spec_version": info.spec_version,
        "component_count": info.component_count,
        "stored_at": time(info.stored_at.as_ref()),
        "cluster": info.cluster,
        "node": info.node,
        "agent_version": info.agent_version,
        "content_hash": info.content_hash,
        "incomplete": info.incomplete,
        "incomplete_reasons": info.incomplete_reasons,
        "checks": info.checks.iter().map(|check| json!({
            "cluster": check.cluster,
            "node": check.node,
            "agent_version": check.agent_version,
            "status": check_status(check),
            "content_hash": check.content_hash,
            "checked_at": time(check.checked_at.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

/// What a cluster's check of an SBOM found, in words.
fn check_status(check: &pb::SbomCheck) -> String {
    match check.status() {
        pb::SbomCheckStatus::Verified => "verified".into(),
        pb::SbomCheckStatus::Conflict => "conflict".into(),
        pb::SbomCheckStatus::Unverified if check.note.is_empty() => "unverified".into(),
        pb::SbomCheckStatus::Unverified => format!("unverified ({})", check.note),
        pb::SbomCheckStatus::Unspecified => "unknown".into(),
    }
}

/// The SBOM column of `query images`: components, completeness, and the other
/// clusters' checks.
fn sbom_cell(info: &pb::SbomInfo) -> String {
    let mut cell = format!("{} components", info.component_count);
    if info.incomplete {
        cell.push_str(", incomplete");
    }
    for check in &info.checks {
        let status = check_status(check);
        cell.push_str(&format!(", {}: {status}", check.cluster));
        if check.status() == pb::SbomCheckStatus::Conflict && check.cluster == info.cluster {
            // A cluster-scoped view shows the cluster's own build.
            cell.push_str(" (its own build shown; list without --cluster for the stored copy)");
        } else if check.status() == pb::SbomCheckStatus::Conflict {
            cell.push_str(&format!(
                " ({} {} vs {} {})",
                info.cluster,
                short(&info.content_hash),
                check.cluster,
                short(&check.content_hash)
            ));
        }
    }
    cell
}

pub(super) fn placement_json(placement: &pb::WorkloadPlacement) -> Value {
    let workload = placement.workload.clone().unwrap_or_default();
    json!({
        "cluster": placement.cluster,
        "node": placement.node,
        "namespace": workload.namespace,
        "pod": workload.pod,
        "pod_uid": workload.pod_uid,
        "container": workload.container,
        "container_id": workload.container_id,
        "image": workload.image,
        "running": placement.running,
        "first_seen": time(placement.first_seen.as_ref()),
        "last_seen": time(placement.last_seen.as_ref()),
    })
}

fn image_json(image: &pb::ImageSummary) -> Value {
    json!({
        "manifest_digest": image.manifest_digest,
        "names": image.names,
        "index_digests": image.index_digests,
        "config_digest": image.config_digest,
        "platform": image.platform,
        "sbom": image.sbom.as_ref().map(sbom_json),
        "first_seen": time(image.first_seen.as_ref()),
        "last_seen": time(image.last_seen.as_ref()),
        "nodes": image.nodes.iter().map(|node| json!({
            "cluster": node.cluster,
            "node": node.node,
            "first_seen": time(node.first_seen.as_ref()),
            "last_seen": time(node.last_seen.as_ref()),
        })).collect::<Vec<_>>(),
        "workloads": image.workloads.iter().map(placement_json).collect::<Vec<_>>(),
    })
}

/// `query images`.
pub fn images(
    images: &[pb::ImageSummary],
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    if format == Format::Json {
        return write_json(out, &Value::Array(images.iter().map(image_json).collect()));
    }
    let mut rows = table(&[
        "DIGEST",
        "NAME",
        "PLATFORM",
        "SBOM",
        "CLUSTERS",
        "NODES",
        "RUNNING",
        "LAST SEEN",
    ]);
    for image in images {
        let clusters: BTreeSet<&str> = image
            .nodes
            .iter()
            .map(|node| node.cluster.as_str())
            .collect();
        let running = image.workloads.iter().filter(|w| w.running).count();
        rows.add_row(vec![
            short(&image.manifest_digest).to_owned(),
            first_and_count(&image.names),
            image.platform.clone(),
            image
                .sbom
                .as_ref()
                .map_or_else(|| "-".to_owned(), sbom_cell),
            clusters.into_iter().collect::<Vec<_>>().join(","),
            image.nodes.len().to_string(),
            running.to_string(),
            time(image.last_seen.as_ref()),
        ]);
    }
    write_table(out, rows)
}

/// `query find`.
pub fn matches(
    found: &pb::FindComponentsResponse,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    if format == Format::Json {
        let matches: Vec<Value> = found
            .matches
            .iter()
            .map(|found| {
                json!({
                    "image": found.image.as_ref().map(image_json),
                    "components": found.components.iter().map(|c| json!({
                        "name": c.name, "version": c.version, "purl": c.purl, "type": c.r#type,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return write_json(
            out,
            &json!({ "matches": matches, "truncated": found.truncated }),
        );
    }
    let mut rows = table(&["COMPONENT", "VERSION", "IMAGE", "DIGEST", "RUNNING IN"]);
    for found in &found.matches {
        let image = found.image.clone().unwrap_or_default();
        let running = listed(
            image
                .workloads
                .iter()
                .filter(|w| w.running)
                .map(workload_label)
                .collect(),
        );
        for component in &found.components {
            rows.add_row(vec![
                component.name.clone(),
                component.version.clone(),
                first_and_count(&image.names),
                short(&image.manifest_digest).to_owned(),
                running.clone(),
            ]);
        }
    }
    write_table(out, rows)?;
    if found.truncated {
        write_line(out, "(more images match; raise --limit)")?;
    }
    Ok(())
}

/// `query dtrack-failures`.
/// Nodes as a table or JSON.
pub fn nodes(
    nodes: &[pb::NodeSummary],
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    if format == Format::Json {
        let nodes: Vec<Value> = nodes
            .iter()
            .map(|node| {
                let software = node.software.clone().unwrap_or_default();
                json!({
                    "cluster": node.cluster,
                    "node": node.node,
                    "node_pool": node.node_pool,
                    "agent_version": node.agent_version,
                    "first_seen": time(node.first_seen.as_ref()),
                    "last_seen": time(node.last_seen.as_ref()),
                    "sbom_digest": node.sbom_digest,
                    "has_sbom": node.has_sbom,
                    "os": software.os,
                    "os_name": software.os_name,
                    "kernel": software.kernel,
                    "arch": software.arch,
                })
            })
            .collect();
        return write_json(out, &Value::Array(nodes));
    }
    let mut rows = table(&[
        "CLUSTER",
        "NODE",
        "POOL",
        "AGENT",
        "SOFTWARE",
        "SBOM",
        "OS",
        "KERNEL",
        "LAST SEEN",
    ]);
    for node in nodes {
        let software = node.software.clone().unwrap_or_default();
        let dash = |text: &str| {
            if text.is_empty() {
                "-".to_owned()
            } else {
                text.to_owned()
            }
        };
        rows.add_row(vec![
            node.cluster.clone(),
            node.node.clone(),
            dash(&node.node_pool),
            node.agent_version.clone(),
            dash(short(&node.sbom_digest)),
            if node.sbom_digest.is_empty() {
                "-".to_owned()
            } else if node.has_sbom {
                "stored".to_owned()
            } else {
                "waiting".to_owned()
            },
            dash(&software.os),
            dash(&software.kernel),
            time(node.last_seen.as_ref()),
        ]);
    }
    write_table(out, rows)
}

pub fn dtrack_failures(
    failures: &[pb::DtrackFailure],
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    if format == Format::Json {
        let failures: Vec<Value> = failures
            .iter()
            .map(|failure| {
                json!({
                    "time": time(failure.time.as_ref()),
                    "manifest_digest": failure.manifest_digest,
                    "cluster": failure.cluster,
                    "project": failure.project,
                    "action": failure.action,
                    "http_status": failure.http_status,
                    "message": failure.message,
                })
            })
            .collect();
        return write_json(out, &Value::Array(failures));
    }
    let mut rows = table(&["TIME", "ACTION", "STATUS", "PROJECT", "DIGEST", "MESSAGE"]);
    for failure in failures {
        let status = match failure.http_status {
            0 => "-".to_owned(),
            status => status.to_string(),
        };
        let digest = match failure.cluster.as_str() {
            "" => short(&failure.manifest_digest).to_owned(),
            cluster => format!("{} ({cluster}'s copy)", short(&failure.manifest_digest)),
        };
        rows.add_row(vec![
            time(failure.time.as_ref()),
            failure.action.clone(),
            status,
            failure.project.clone(),
            digest,
            // DT's message may span lines; a row stays one line.
            failure
                .message
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    write_table(out, rows)
}

fn kind(event: &pb::Event) -> &'static str {
    match pb::EventKind::try_from(event.kind) {
        Ok(pb::EventKind::SbomStored) => "sbom-stored",
        Ok(pb::EventKind::WorkloadStarted) => "workload-started",
        Ok(pb::EventKind::WorkloadStopped) => "workload-stopped",
        Ok(pb::EventKind::SbomConflict) => "sbom-conflict",
        Ok(pb::EventKind::ExposureAppeared) => "exposure-appeared",
        Ok(pb::EventKind::ExposureResolved) => "exposure-resolved",
        Ok(pb::EventKind::Unspecified) | Err(_) => "unknown",
    }
}

/// Column names of `query watch` in table form.
pub fn event_header(out: &mut (dyn Write + Send)) -> Result<()> {
    write_line(
        out,
        "SEQUENCE  TIME                  EVENT             DIGEST               WHERE",
    )
}

/// One event of `query watch`.
pub fn event(event: &pb::Event, format: Format, out: &mut (dyn Write + Send)) -> Result<()> {
    let workload = event.workload.clone().unwrap_or_default();
    if format == Format::Json {
        let value = json!({
            "sequence": event.sequence,
            "time": time(event.time.as_ref()),
            "kind": kind(event),
            "manifest_digest": event.manifest_digest,
            "cluster": event.cluster,
            "node": event.node,
            "workload": event.workload.as_ref().map(|w| json!({
                "namespace": w.namespace, "pod": w.pod, "pod_uid": w.pod_uid,
                "container": w.container, "container_id": w.container_id, "image": w.image,
            })),
            "component_count": event.component_count,
            "vulnerability": event.vulnerability,
            "package": event.package,
            "image": event.image,
        });
        return write_line(out, &value.to_string());
    }
    let exposure = matches!(
        pb::EventKind::try_from(event.kind),
        Ok(pb::EventKind::ExposureAppeared | pb::EventKind::ExposureResolved)
    );
    let place = if exposure {
        // From an image and from Dependency-Track: one line whatever they hold.
        let line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        format!(
            "{} in {} of {}",
            line(&event.vulnerability),
            line(&event.package),
            line(&event.image)
        )
    } else if event.workload.is_some() {
        format!(
            "{}/{}/{}/{} on {}",
            event.cluster, workload.namespace, workload.pod, workload.container, event.node
        )
    } else {
        format!(
            "{} components, built on {}/{}",
            event.component_count, event.cluster, event.node
        )
    };
    write_line(
        out,
        &format!(
            "{:<9} {:<21} {:<17} {:<20} {}",
            event.sequence,
            time(event.time.as_ref()),
            kind(event),
            short(&event.manifest_digest),
            place
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_shortened_like_image_ids() {
        assert_eq!(
            short("sha256:5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f"),
            "sha256:5f0574409b3a"
        );
        assert_eq!(short("odd"), "odd");
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let labels = (1..=5).map(|i| format!("w{i}")).collect();
        assert_eq!(listed(labels), "w1, w2, w3 (+2)");
        assert_eq!(
            first_and_count(&["a".into(), "b".into(), "c".into()]),
            "a (+2)"
        );
    }

    #[test]
    fn sbom_cell_names_incompleteness_and_each_check() {
        let check = |cluster: &str, note: &str, status: pb::SbomCheckStatus, hash: &str| {
            let mut check = pb::SbomCheck {
                cluster: cluster.into(),
                note: note.into(),
                content_hash: hash.into(),
                ..Default::default()
            };
            check.set_status(status);
            check
        };
        let info = pb::SbomInfo {
            component_count: 12,
            cluster: "prod-a".into(),
            agent_version: "0.2.0".into(),
            content_hash: "sha256:aaaaaaaaaaaaaaaa".into(),
            incomplete: true,
            checks: vec![
                check(
                    "prod-b",
                    "",
                    pb::SbomCheckStatus::Verified,
                    "sha256:aaaaaaaaaaaaaaaa",
                ),
                check(
                    "prod-c",
                    "",
                    pb::SbomCheckStatus::Conflict,
                    "sha256:cccccccccccccccc",
                ),
                check(
                    "prod-d",
                    "agent versions differ (\"0.2.0\" stored, \"0.1.0\" here)",
                    pb::SbomCheckStatus::Unverified,
                    "sha256:dddddddddddddddd",
                ),
            ],
            ..Default::default()
        };
        assert_eq!(
            sbom_cell(&info),
            "12 components, incomplete, prod-b: verified, \
             prod-c: conflict (prod-a sha256:aaaaaaaaaaaa vs prod-c sha256:cccccccccccc), \
             prod-d: unverified (agent versions differ (\"0.2.0\" stored, \"0.1.0\" here))"
        );
    }
}
