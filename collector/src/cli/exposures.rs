//! `query exposures`, `query vulnerability` and `report`: exposures as tables, JSON and
//! Markdown. Everything shown comes from images (package names, versions) or from
//! Dependency-Track, so Markdown output escapes it.

use std::collections::BTreeMap;
use std::io::Write;

use nodebom_proto::v1 as pb;
use serde_json::{json, Value};

use super::output::{short, table, time, write_json, write_line, write_table};
use super::{Client, ExposureArgs, Format, GroupBy, ReportArgs, ReportFormat, SeverityArg};
use crate::error::Result;

/// Exposures asked per call.
const PAGE: u32 = 1000;
/// Workloads named in one cell before the rest are counted.
const CELL_WORKLOADS: usize = 3;

/// The exposures `filter` selects, most urgent first: at most `limit` (0: all), and how
/// many there are in all.
pub(super) async fn fetch(
    client: &mut Client,
    filter: &ExposureArgs,
    limit: u64,
) -> Result<(Vec<pb::Exposure>, u64)> {
    let min_severity = filter.min_severity.map(|severity| match severity {
        SeverityArg::Critical => pb::Severity::Critical,
        SeverityArg::High => pb::Severity::High,
        SeverityArg::Medium => pb::Severity::Medium,
        SeverityArg::Low => pb::Severity::Low,
        SeverityArg::Info => pb::Severity::Info,
    });
    let mut found = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_exposures(pb::ListExposuresRequest {
                cluster: filter.cluster.clone().unwrap_or_default(),
                namespace: filter.namespace.clone().unwrap_or_default(),
                image: filter.image.clone().unwrap_or_default(),
                kev_only: filter.kev,
                min_epss: filter.min_epss.unwrap_or_default(),
                min_severity: min_severity.unwrap_or(pb::Severity::Unspecified).into(),
                running_only: filter.running,
                page_size: if limit > 0 {
                    PAGE.min(u32::try_from(limit).unwrap_or(PAGE))
                } else {
                    PAGE
                },
                page_token,
            })
            .await?
            .into_inner();
        found.extend(page.exposures);
        if limit > 0 && found.len() as u64 >= limit {
            found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok((found, page.total));
        }
        if page.next_page_token.is_empty() {
            return Ok((found, page.total));
        }
        page_token = page.next_page_token;
    }
}

/// `query exposures` and `query vulnerability`.
pub(super) fn render(
    exposures: &[pb::Exposure],
    by: Option<GroupBy>,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let groups = group(exposures, by);
    match format {
        Format::Json => {
            if by.is_none() {
                return write_json(
                    out,
                    &Value::Array(exposures.iter().map(exposure_json).collect()),
                );
            }
            let groups: Vec<Value> = groups
                .iter()
                .map(|(key, rows)| {
                    json!({
                        "cluster": key.cluster,
                        "namespace": key.namespace,
                        "exposures": rows.iter().map(exposure_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            write_json(out, &Value::Array(groups))
        }
        Format::Table => {
            for (index, (key, rows)) in groups.iter().enumerate() {
                if by.is_some() {
                    if index > 0 {
                        write_line(out, "")?;
                    }
                    write_line(out, &format!("{}:", key.title()))?;
                }
                let mut table = table(&[
                    "RANK",
                    "VULNERABILITY",
                    "SEVERITY",
                    "EPSS",
                    "KEV",
                    "PACKAGE",
                    "IMAGE",
                    "WHERE",
                    "FIX",
                ]);
                for row in rows {
                    table.add_row(table_row(row));
                }
                write_table(out, table)?;
            }
            Ok(())
        }
        Format::Markdown => {
            for (key, rows) in &groups {
                if by.is_some() {
                    write_line(out, &format!("## {}\n", key.title_markdown()))?;
                }
                markdown_table(rows, out)?;
                write_line(out, "")?;
            }
            Ok(())
        }
    }
}

/// `report`: per cluster and namespace (their owners), what is exposed, since when,
/// the KEV due date and the fix.
pub(super) fn report(
    exposures: &[pb::Exposure],
    total: u64,
    args: &ReportArgs,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let groups = group(exposures, Some(GroupBy::Namespace));
    match args.format {
        ReportFormat::Json => {
            let mut clusters: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for (key, rows) in &groups {
                clusters.entry(&key.cluster).or_default().push(json!({
                    "namespace": key.namespace,
                    "running": key.running,
                    "exposures": rows.iter().map(exposure_json).collect::<Vec<_>>(),
                }));
            }
            let clusters: Vec<Value> = clusters
                .into_iter()
                .map(|(cluster, namespaces)| json!({"cluster": cluster, "namespaces": namespaces}))
                .collect();
            write_json(
                out,
                &json!({
                    "generated_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                    "server": args.connection.server,
                    "exposures": total,
                    "listed": exposures.len(),
                    "kev_listed": exposures.iter().filter(|e| e.kev.is_some()).count(),
                    "clusters": clusters,
                }),
            )
        }
        ReportFormat::Markdown => {
            let kev = exposures.iter().filter(|e| e.kev.is_some()).count();
            let clusters: std::collections::BTreeSet<&str> =
                groups.iter().map(|(key, _)| key.cluster.as_str()).collect();
            write_line(out, "# Vulnerability exposure report\n")?;
            let shown = if total > exposures.len() as u64 {
                format!(
                    "the {} most urgent of {total} exposures (`--limit`)",
                    exposures.len()
                )
            } else {
                format!("{total} exposure{}", if total == 1 { "" } else { "s" })
            };
            write_line(
                out,
                &format!(
                    "Generated {} by nodebom from {}: {shown} in {} cluster{}, {kev} of them in CISA KEV. \
                     Most urgent first: KEV, then EPSS, severity, running before on disk, spread.\n",
                    humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
                    markdown(&args.connection.server),
                    clusters.len(),
                    if clusters.len() == 1 { "" } else { "s" },
                ),
            )?;
            if exposures.is_empty() {
                return write_line(out, "Nothing is exposed.");
            }
            let mut current = None;
            for (key, rows) in &groups {
                if current != Some(key.cluster.as_str()) {
                    write_line(out, &format!("## Cluster {}\n", code(&key.cluster)))?;
                    current = Some(key.cluster.as_str());
                }
                let title = if key.running {
                    format!("### Namespace {}\n", code(&key.namespace))
                } else {
                    "### On nodes, not running\n".to_owned()
                };
                write_line(out, &title)?;
                markdown_table(rows, out)?;
                write_line(out, "")?;
            }
            Ok(())
        }
    }
}

/// A section of the output: a cluster, and a namespace (or the images only on disk).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    cluster: String,
    /// Running workloads' sections first.
    running: bool,
    namespace: String,
}

impl GroupKey {
    fn title(&self) -> String {
        match (self.cluster.as_str(), self.running, self.namespace.as_str()) {
            ("", _, _) => "all clusters".to_owned(),
            (cluster, true, "") => format!("cluster {cluster}"),
            (cluster, true, namespace) => format!("cluster {cluster}, namespace {namespace}"),
            (cluster, false, _) => format!("cluster {cluster}, on nodes, not running"),
        }
    }

    fn title_markdown(&self) -> String {
        match (self.cluster.as_str(), self.running, self.namespace.as_str()) {
            ("", _, _) => "All clusters".to_owned(),
            (cluster, true, "") => format!("Cluster {}", code(cluster)),
            (cluster, true, namespace) => {
                format!("Cluster {}, namespace {}", code(cluster), code(namespace))
            }
            (cluster, false, _) => format!("Cluster {}, on nodes, not running", code(cluster)),
        }
    }
}

/// The exposures of each section, in rank order. An exposure that runs in several
/// places is in each of their sections, with only that section's workloads.
fn group(exposures: &[pb::Exposure], by: Option<GroupBy>) -> Vec<(GroupKey, Vec<pb::Exposure>)> {
    let Some(by) = by else {
        let key = GroupKey {
            cluster: String::new(),
            running: true,
            namespace: String::new(),
        };
        return vec![(key, exposures.to_vec())];
    };
    let mut groups: BTreeMap<GroupKey, Vec<pb::Exposure>> = BTreeMap::new();
    for exposure in exposures {
        let mut sections: BTreeMap<GroupKey, pb::Exposure> = BTreeMap::new();
        // The exposure as one section shows it, before its own placements are added.
        let section = || pb::Exposure {
            workloads: Vec::new(),
            nodes: Vec::new(),
            ..exposure.clone()
        };
        for workload in &exposure.workloads {
            let namespace = match by {
                GroupBy::Cluster => String::new(),
                GroupBy::Namespace => workload
                    .workload
                    .as_ref()
                    .map(|w| w.namespace.clone())
                    .unwrap_or_default(),
            };
            let key = GroupKey {
                cluster: workload.cluster.clone(),
                running: true,
                namespace,
            };
            sections
                .entry(key)
                .or_insert_with(section)
                .workloads
                .push(workload.clone());
        }
        if exposure.workloads.is_empty() {
            for node in &exposure.nodes {
                let key = GroupKey {
                    cluster: node.cluster.clone(),
                    running: false,
                    namespace: String::new(),
                };
                sections
                    .entry(key)
                    .or_insert_with(section)
                    .nodes
                    .push(node.clone());
            }
        }
        for (key, section) in sections {
            groups.entry(key).or_default().push(section);
        }
    }
    groups.into_iter().collect()
}

fn severity(exposure: &pb::Exposure) -> &'static str {
    let severity = exposure
        .vulnerability
        .as_ref()
        .map_or(pb::Severity::Unspecified, |v| v.severity());
    match severity {
        pb::Severity::Critical => "CRITICAL",
        pb::Severity::High => "HIGH",
        pb::Severity::Medium => "MEDIUM",
        pb::Severity::Low => "LOW",
        pb::Severity::Info => "INFO",
        pb::Severity::Unspecified => "UNASSIGNED",
    }
}

fn vulnerability_id(exposure: &pb::Exposure) -> &str {
    exposure
        .vulnerability
        .as_ref()
        .map_or("", |v| v.id.as_str())
}

fn epss(exposure: &pb::Exposure) -> String {
    exposure
        .vulnerability
        .as_ref()
        .and_then(|v| v.epss)
        .map_or_else(|| "-".to_owned(), |epss| format!("{epss:.3}"))
}

fn kev(exposure: &pb::Exposure) -> String {
    match &exposure.kev {
        Some(kev) if kev.ransomware => format!("due {} (ransomware)", kev.due_date),
        Some(kev) => format!("due {}", kev.due_date),
        None => "-".to_owned(),
    }
}

fn package(exposure: &pb::Exposure) -> String {
    let package = exposure.package.clone().unwrap_or_default();
    format!("{} {}", package.name, package.version)
}

fn image(exposure: &pb::Exposure) -> String {
    exposure
        .image_names
        .first()
        .cloned()
        .unwrap_or_else(|| short(&exposure.manifest_digest).to_owned())
}

/// Where it is: the workloads running the image, or the nodes holding it.
fn place(exposure: &pb::Exposure) -> String {
    if exposure.workloads.is_empty() {
        let nodes = (exposure.node_count as usize).max(exposure.nodes.len());
        return format!("on disk: {nodes} node{}", if nodes == 1 { "" } else { "s" });
    }
    let mut labels: Vec<String> = exposure
        .workloads
        .iter()
        .map(|placement| {
            let workload = placement.workload.clone().unwrap_or_default();
            format!(
                "{}/{}/{}",
                placement.cluster, workload.namespace, workload.pod
            )
        })
        .collect();
    labels.dedup();
    let total = (exposure.workload_count as usize).max(exposure.workloads.len());
    labels.truncate(CELL_WORKLOADS);
    let more = total.saturating_sub(labels.len());
    let mut cell = labels.join(", ");
    if more > 0 {
        cell.push_str(&format!(" (+{more})"));
    }
    cell
}

fn fix(exposure: &pb::Exposure) -> String {
    if exposure.fixed_versions.is_empty() {
        "-".to_owned()
    } else {
        exposure.fixed_versions.clone()
    }
}

fn table_row(exposure: &pb::Exposure) -> Vec<String> {
    // One row a line, whatever an image's package names hold.
    let line = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    vec![
        exposure.rank.to_string(),
        line(vulnerability_id(exposure).to_owned()),
        severity(exposure).to_owned(),
        epss(exposure),
        kev(exposure),
        line(package(exposure)),
        line(image(exposure)),
        line(place(exposure)),
        line(fix(exposure)),
    ]
}

fn markdown_table(rows: &[pb::Exposure], out: &mut (dyn Write + Send)) -> Result<()> {
    write_line(
        out,
        "| # | Vulnerability | Severity | EPSS | KEV | Package | Image | Where | Since | Fix |\n\
         |---:|---|---|---:|---|---|---|---|---|---|",
    )?;
    for exposure in rows {
        let since = time(exposure.first_seen.as_ref());
        let since = since.get(..10).unwrap_or(&since).to_owned();
        let cells = [
            exposure.rank.to_string(),
            code(vulnerability_id(exposure)),
            severity(exposure).to_owned(),
            epss(exposure),
            markdown(&kev(exposure)),
            code(&package(exposure)),
            code(&image(exposure)),
            markdown(&place(exposure)),
            since,
            markdown(&fix(exposure)),
        ];
        write_line(out, &format!("| {} |", cells.join(" | ")))?;
    }
    Ok(())
}

/// `text` as Markdown text that renders as itself: no markup, links or HTML from it,
/// one table cell.
fn markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|'
            | '~' | '>' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '<' => escaped.push_str("&lt;"),
            '&' => escaped.push_str("&amp;"),
            c if c.is_control() => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` as inline code: backticks cannot close it, and `|` cannot end a table cell.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    format!("{fence} {text} {fence}")
}

fn exposure_json(exposure: &pb::Exposure) -> Value {
    let vulnerability = exposure.vulnerability.clone().unwrap_or_default();
    let package = exposure.package.clone().unwrap_or_default();
    json!({
        "rank": exposure.rank,
        "vulnerability": {
            "id": vulnerability.id,
            "source": vulnerability.source,
            "aliases": vulnerability.aliases,
            "severity": severity(exposure),
            "cvss": vulnerability.cvss,
            "epss": vulnerability.epss,
            "epss_percentile": vulnerability.epss_percentile,
        },
        "kev": exposure.kev.as_ref().map(|kev| json!({
            "date_added": kev.date_added,
            "due_date": kev.due_date,
            "ransomware": kev.ransomware,
        })),
        "package": {"name": package.name, "version": package.version, "purl": package.purl},
        "fixed_versions": exposure.fixed_versions,
        "manifest_digest": exposure.manifest_digest,
        "image_names": exposure.image_names,
        "running": exposure.running,
        "clusters": exposure.clusters,
        "pods": exposure.pods,
        "first_seen": time(exposure.first_seen.as_ref()),
        "reasons": exposure.reasons,
        "workloads": exposure.workloads.iter().map(super::output::placement_json).collect::<Vec<_>>(),
        "nodes": exposure.nodes.iter().map(|node| json!({
            "cluster": node.cluster,
            "node": node.node,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_from_an_image_renders_as_text() {
        let hostile = "<script>alert(1)</script> [x](javascript:1) | *b* `c`";
        let escaped = markdown(hostile);
        assert!(!escaped.contains('<'), "{escaped}");
        assert!(!escaped.contains("[x]("), "{escaped}");
        assert!(!escaped.contains(" | "), "{escaped}");
        let code = code("a`b``c|d\ne");
        assert!(code.starts_with("``` ") && code.ends_with(" ```"), "{code}");
        assert!(code.contains("c\\|d e"), "{code}");
    }
}
