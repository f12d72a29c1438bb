//! Read models: image summaries and component search.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::super::{
    ComponentMatch, ComponentMatches, ComponentQuery, ComponentSearch, ImageFilter, ImagePage,
    ImagePlacements, ImageSummary, NamespaceSummary, NodePresence, NodeSummary, WorkloadPlacement,
};
use super::sboms;
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::NodeSoftware;
use crate::sbom::Component;
use crate::store::query_model::{
    like_literal, ImageNames, PlacementFilter, PlacementRows, MAX_MATCHING_COMPONENTS,
};

/// The image `digest` with the nodes and workloads that pass `filter`.
fn summary(
    conn: &Connection,
    digest: &str,
    filter: &PlacementFilter<'_>,
) -> Result<Option<ImageSummary>> {
    let context = "reading an image";
    type Row = (String, String, String, i64, i64, Option<String>);
    let image: Option<Row> = conn
        .prepare_cached("SELECT config_digest, platform, names, first_seen, last_seen, node FROM images WHERE digest = ?1")
        .and_then(|mut select| {
            select
                .query_row([digest], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })
                .optional()
        })
        .map_err(Error::database(context))?;
    let Some((config_digest, platform, names, first_seen, last_seen, node)) = image else {
        return Ok(None);
    };
    let node = NodeSoftware::from_json(node.as_deref())?;
    let mut image_names = ImageNames::default();
    image_names.add_json(&names)?;
    let mut index_digests = BTreeSet::new();
    let mut last_seen = Timestamp::from_unix_millis(last_seen);
    let mut nodes = Vec::new();
    {
        let mut select = conn
            .prepare_cached(
                "SELECT n.cluster, n.name, ni.first_seen, n.last_seen, ni.index_digest, ni.names
                 FROM node_images ni JOIN nodes n ON n.id = ni.node_id
                 WHERE ni.digest = ?1 ORDER BY n.cluster, n.name",
            )
            .map_err(Error::database(context))?;
        let mut rows = select.query([digest]).map_err(Error::database(context))?;
        // Every node's row counts for the names and last contact; only those the filter
        // selects are copied out.
        while let Some(row) = rows.next().map_err(Error::database(context))? {
            let text = |index| {
                row.get_ref(index)
                    .and_then(|value| value.as_str().map_err(Into::into))
                    .map_err(Error::database(context))
            };
            image_names.add_json(text(5)?)?;
            let index = text(4)?;
            if !index.is_empty() && !index_digests.contains(index) {
                index_digests.insert(index.to_owned());
            }
            let node_last_seen =
                Timestamp::from_unix_millis(row.get(3).map_err(Error::database(context))?);
            last_seen = last_seen.max(node_last_seen);
            let (cluster, node) = (text(0)?, text(1)?);
            if filter.node_matches(cluster, node) {
                nodes.push(NodePresence {
                    cluster: cluster.to_owned(),
                    node: node.to_owned(),
                    first_seen: Timestamp::from_unix_millis(
                        row.get(2).map_err(Error::database(context))?,
                    ),
                    last_seen: node_last_seen,
                });
            }
        }
    }
    let mut workloads = Vec::new();
    {
        let mut select = conn
            .prepare_cached(
                "SELECT n.cluster, n.name, w.namespace, w.pod, w.pod_uid, w.container, w.image,
                        w.container_id, w.running, w.first_seen,
                        CASE WHEN w.running THEN n.last_seen ELSE w.last_seen END
                 FROM workloads w JOIN nodes n ON n.id = w.node_id
                 WHERE w.digest = ?1
                 ORDER BY n.cluster, w.namespace, w.pod, w.container, n.name",
            )
            .map_err(Error::database(context))?;
        let mut rows = select.query([digest]).map_err(Error::database(context))?;
        while let Some(row) = rows.next().map_err(Error::database(context))? {
            let text = |index| {
                row.get_ref(index)
                    .and_then(|value| value.as_str().map_err(Into::into))
                    .map_err(Error::database(context))
            };
            let running: bool = row.get(8).map_err(Error::database(context))?;
            if !filter.workload_at(text(0)?, text(1)?, text(2)?, running) {
                continue;
            }
            let read = || -> rusqlite::Result<WorkloadPlacement> {
                Ok(WorkloadPlacement {
                    cluster: row.get(0)?,
                    node: row.get(1)?,
                    namespace: row.get(2)?,
                    pod: row.get(3)?,
                    pod_uid: row.get(4)?,
                    container: row.get(5)?,
                    manifest_digest: digest.to_owned(),
                    image: row.get(6)?,
                    container_id: row.get(7)?,
                    running,
                    first_seen: Timestamp::from_unix_millis(row.get(9)?),
                    last_seen: Timestamp::from_unix_millis(row.get(10)?),
                })
            };
            workloads.push(read().map_err(Error::database(context))?);
        }
    }
    Ok(Some(ImageSummary {
        manifest_digest: digest.to_owned(),
        index_digests: index_digests.into_iter().collect(),
        config_digest,
        platform,
        names: image_names.into_sorted(),
        sbom: sboms::record_for(conn, digest, filter.cluster)?,
        first_seen: Some(Timestamp::from_unix_millis(first_seen)),
        last_seen: Some(last_seen),
        nodes,
        workloads,
        node,
    }))
}

pub(super) fn list_images(
    conn: &Connection,
    filter: &ImageFilter,
    after: Option<&Digest>,
    page_size: usize,
) -> Result<ImagePage> {
    let mut sql = String::from("SELECT i.digest FROM images i WHERE i.digest > ?1");
    if filter.digest.is_none() {
        // Nodes' own software is listed with the nodes (`nodes`), not as images.
        sql.push_str(" AND i.node IS NULL");
    }
    let mut args = vec![Value::Text(
        after.map(|d| d.to_string()).unwrap_or_default(),
    )];
    let condition =
        |sql: &mut String, args: &mut Vec<Value>, column: &str, value: &Option<String>| {
            if let Some(value) = value {
                args.push(Value::Text(value.clone()));
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        };
    condition(&mut sql, &mut args, "i.digest", &filter.digest);
    if let Some(name) = &filter.name {
        args.push(Value::Text(format!("%{}%", like_literal(name))));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM node_images ni WHERE ni.digest = i.digest AND ni.names LIKE ?{} ESCAPE '\\')",
            args.len()
        ));
    }
    if filter.cluster.is_some() || filter.node.is_some() {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM node_images ni JOIN nodes n ON n.id = ni.node_id WHERE ni.digest = i.digest",
        );
        condition(&mut sql, &mut args, "n.cluster", &filter.cluster);
        condition(&mut sql, &mut args, "n.name", &filter.node);
        sql.push(')');
    }
    if filter.namespace.is_some() || filter.pod.is_some() || filter.running_only {
        sql.push_str(" AND EXISTS (SELECT 1 FROM workloads w JOIN nodes n ON n.id = w.node_id WHERE w.digest = i.digest");
        condition(&mut sql, &mut args, "n.cluster", &filter.cluster);
        condition(&mut sql, &mut args, "n.name", &filter.node);
        condition(&mut sql, &mut args, "w.namespace", &filter.namespace);
        condition(&mut sql, &mut args, "w.pod", &filter.pod);
        if filter.running_only {
            sql.push_str(" AND w.running = 1");
        }
        sql.push(')');
    }
    args.push(Value::Integer(page_size as i64 + 1));
    sql.push_str(&format!(" ORDER BY i.digest LIMIT ?{}", args.len()));

    let context = "listing images";
    let mut digests: Vec<String> = {
        let mut select = conn
            .prepare_cached(&sql)
            .map_err(Error::database(context))?;
        let rows = select
            .query_map(params_from_iter(args), |row| row.get(0))
            .map_err(Error::database(context))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(Error::database(context))?
    };
    let more = digests.len() > page_size;
    digests.truncate(page_size);
    let placement = PlacementFilter {
        cluster: filter.cluster.as_deref(),
        node: filter.node.as_deref(),
        namespace: filter.namespace.as_deref(),
        running_only: filter.running_only,
    };
    let mut images = Vec::with_capacity(digests.len());
    for digest in &digests {
        if let Some(image) = summary(conn, digest, &placement)? {
            images.push(image);
        }
    }
    Ok(ImagePage {
        next_after: if more { digests.last().cloned() } else { None },
        images,
    })
}

fn matching_components(conn: &Connection, query: &ComponentQuery) -> Result<Vec<(i64, Component)>> {
    let (sql, args): (String, Vec<Value>) = match query {
        ComponentQuery::Purl { base, version } => {
            let mut sql = String::from(
                "SELECT id, name, version, purl, kind FROM components WHERE purl_base = ?1",
            );
            let mut args = vec![Value::Text(base.clone())];
            if let Some(version) = version {
                sql.push_str(" AND version = ?2");
                args.push(Value::Text(version.clone()));
            }
            (sql, args)
        }
        ComponentQuery::Name {
            name,
            version,
            contains,
        } => {
            let mut sql =
                String::from("SELECT id, name, version, purl, kind FROM components WHERE ");
            let mut args = Vec::new();
            if *contains {
                sql.push_str("name LIKE ?1 ESCAPE '\\'");
                args.push(Value::Text(format!("%{}%", like_literal(name))));
            } else {
                sql.push_str("name = ?1 COLLATE NOCASE");
                args.push(Value::Text(name.clone()));
            }
            if let Some(version) = version {
                sql.push_str(" AND (version = ?2 OR version LIKE ?3 ESCAPE '\\' OR version LIKE ?4 ESCAPE '\\')");
                args.push(Value::Text(version.clone()));
                args.push(Value::Text(format!("{}.%", like_literal(version))));
                args.push(Value::Text(format!("{}-%", like_literal(version))));
            }
            (sql, args)
        }
    };
    let sql = format!(
        "{sql} ORDER BY name, version, purl LIMIT {}",
        MAX_MATCHING_COMPONENTS + 1
    );
    let context = "finding components";
    let mut select = conn
        .prepare_cached(&sql)
        .map_err(Error::database(context))?;
    let rows = select
        .query_map(params_from_iter(args), |row| {
            Ok((
                row.get(0)?,
                Component {
                    name: row.get(1)?,
                    version: row.get(2)?,
                    purl: row.get(3)?,
                    kind: row.get(4)?,
                },
            ))
        })
        .map_err(Error::database(context))?;
    let found: Vec<(i64, Component)> = rows
        .collect::<rusqlite::Result<_>>()
        .map_err(Error::database(context))?;
    if found.len() > MAX_MATCHING_COMPONENTS {
        return Err(Error::ResourceExhausted(format!(
            "more than {MAX_MATCHING_COMPONENTS} distinct components match; narrow the search"
        )));
    }
    Ok(found)
}

pub(super) fn find_components(
    conn: &Connection,
    search: &ComponentSearch,
) -> Result<ComponentMatches> {
    let context = "finding components";
    let mut by_image: BTreeMap<String, Vec<Component>> = BTreeMap::new();
    {
        // With a cluster, the SBOMs that cluster uses: its own copy where its build
        // differed from the fleet copy, the fleet copy elsewhere.
        let mut images = conn
            .prepare_cached(
                "SELECT digest FROM sbom_components sc WHERE component_id = ?1
                   AND (?2 IS NULL OR NOT EXISTS (
                       SELECT 1 FROM sbom_checks k
                       WHERE k.digest = sc.digest AND k.cluster = ?2 AND k.document IS NOT NULL))
                 UNION
                 SELECT digest FROM sbom_check_components WHERE component_id = ?1 AND cluster = ?2",
            )
            .map_err(Error::database(context))?;
        for (id, component) in matching_components(conn, &search.query)? {
            let digests = images
                .query_map(params![id, search.cluster], |row| row.get::<_, String>(0))
                .map_err(Error::database(context))?;
            for digest in digests {
                let digest = digest.map_err(Error::database(context))?;
                by_image.entry(digest).or_default().push(component.clone());
            }
        }
    }
    let placement = PlacementFilter {
        cluster: search.cluster.as_deref(),
        running_only: true,
        ..PlacementFilter::default()
    };
    let mut found = ComponentMatches::default();
    for (digest, components) in by_image {
        let Some(image) = summary(conn, &digest, &placement)? else {
            continue;
        };
        if search.running_only && image.workloads.is_empty() {
            continue;
        }
        if search.cluster.is_some() && image.nodes.is_empty() && image.workloads.is_empty() {
            continue;
        }
        if found.matches.len() == search.limit {
            found.truncated = true;
            break;
        }
        found.matches.push(ComponentMatch { image, components });
    }
    Ok(found)
}

/// The images within `filter` with their nodes and running workloads, in three
/// statements however many images there are.
pub(super) fn placements(
    conn: &Connection,
    filter: &ImageFilter,
    limit: usize,
) -> Result<Vec<ImagePlacements>> {
    let context = "reading placements";
    let mut rows = PlacementRows::default();
    let cluster = filter.cluster.as_deref();
    {
        let mut select = conn
            .prepare_cached(
                "SELECT ni.digest, n.cluster, n.name, ni.first_seen, n.last_seen, ni.names
                 FROM node_images ni JOIN nodes n ON n.id = ni.node_id
                 WHERE ?1 IS NULL OR n.cluster = ?1
                 ORDER BY ni.digest, n.cluster, n.name",
            )
            .map_err(Error::database(context))?;
        let mut found = select.query([cluster]).map_err(Error::database(context))?;
        while let Some(row) = found.next().map_err(Error::database(context))? {
            let read = || -> rusqlite::Result<(String, NodePresence, String)> {
                Ok((
                    row.get(0)?,
                    NodePresence {
                        cluster: row.get(1)?,
                        node: row.get(2)?,
                        first_seen: Timestamp::from_unix_millis(row.get(3)?),
                        last_seen: Timestamp::from_unix_millis(row.get(4)?),
                    },
                    row.get(5)?,
                ))
            };
            let (digest, node, names) = read().map_err(Error::database(context))?;
            rows.node(&digest, node, &names)?;
        }
    }
    {
        let mut select = conn
            .prepare_cached(
                "SELECT w.digest, n.cluster, n.name, w.namespace, w.pod, w.pod_uid, w.container,
                        w.image, w.container_id, w.first_seen, n.last_seen
                 FROM workloads w JOIN nodes n ON n.id = w.node_id
                 WHERE w.running AND (?1 IS NULL OR n.cluster = ?1)
                   AND (?2 IS NULL OR w.namespace = ?2)
                 ORDER BY w.digest, n.cluster, w.namespace, w.pod, w.container",
            )
            .map_err(Error::database(context))?;
        let found = select
            .query_map(params![cluster, filter.namespace.as_deref()], |row| {
                Ok(WorkloadPlacement {
                    manifest_digest: row.get(0)?,
                    cluster: row.get(1)?,
                    node: row.get(2)?,
                    namespace: row.get(3)?,
                    pod: row.get(4)?,
                    pod_uid: row.get(5)?,
                    container: row.get(6)?,
                    image: row.get(7)?,
                    container_id: row.get(8)?,
                    running: true,
                    first_seen: Timestamp::from_unix_millis(row.get(9)?),
                    last_seen: Timestamp::from_unix_millis(row.get(10)?),
                })
            })
            .map_err(Error::database(context))?;
        for workload in found {
            rows.workload(workload.map_err(Error::database(context))?);
        }
    }
    let mut select = conn
        .prepare_cached("SELECT names FROM images WHERE digest = ?1")
        .map_err(Error::database(context))?;
    for digest in rows.digests() {
        let names: Option<String> = select
            .query_row([&digest], |row| row.get(0))
            .optional()
            .map_err(Error::database(context))?;
        if let Some(names) = names {
            rows.image_names(&digest, &names)?;
        }
    }
    Ok(rows.finish(filter, limit))
}

/// The nodes, of `cluster` when given, with their image and running container counts.
pub(super) fn nodes(conn: &Connection, cluster: Option<&str>) -> Result<Vec<NodeSummary>> {
    let context = "listing nodes";
    let mut select = conn
        .prepare_cached(
            "SELECT n.cluster, n.name, n.agent_version, n.first_seen, n.last_seen,
                    (SELECT COUNT(*) FROM node_images ni JOIN images i ON i.digest = ni.digest
                     WHERE ni.node_id = n.id AND i.node IS NULL),
                    (SELECT COUNT(*) FROM workloads w WHERE w.node_id = n.id AND w.running = 1),
                    n.node_pool, sw.digest, sw.node,
                    EXISTS (SELECT 1 FROM sboms s WHERE s.digest = sw.digest)
             FROM nodes n
             LEFT JOIN images sw ON sw.digest = (
                 SELECT ni.digest FROM node_images ni JOIN images i ON i.digest = ni.digest
                 WHERE ni.node_id = n.id AND i.node IS NOT NULL
                 ORDER BY ni.first_seen DESC LIMIT 1)
             WHERE ?1 IS NULL OR n.cluster = ?1
             ORDER BY n.cluster, n.name",
        )
        .map_err(Error::database(context))?;
    let rows = select
        .query_map([cluster], |row| {
            let software: Option<String> = row.get(9)?;
            Ok((
                NodeSummary {
                    cluster: row.get(0)?,
                    node: row.get(1)?,
                    node_pool: row.get(7)?,
                    agent_version: row.get(2)?,
                    first_seen: Timestamp::from_unix_millis(row.get(3)?),
                    last_seen: Timestamp::from_unix_millis(row.get(4)?),
                    images: row.get::<_, i64>(5)? as u64,
                    running: row.get::<_, i64>(6)? as u64,
                    software_digest: row.get(8)?,
                    software: None,
                    has_software_sbom: row.get(10)?,
                },
                software,
            ))
        })
        .map_err(Error::database(context))?;
    let rows: Vec<(NodeSummary, Option<String>)> = rows
        .collect::<rusqlite::Result<_>>()
        .map_err(Error::database(context))?;
    rows.into_iter()
        .map(|(mut summary, software)| {
            summary.software = NodeSoftware::from_json(software.as_deref())?;
            Ok(summary)
        })
        .collect()
}

/// The namespaces where containers of `cluster` run now.
pub(super) fn namespaces(conn: &Connection, cluster: &str) -> Result<Vec<NamespaceSummary>> {
    let context = "listing namespaces";
    let mut select = conn
        .prepare_cached(
            "SELECT w.namespace, COUNT(DISTINCT w.pod_uid), COUNT(*), COUNT(DISTINCT w.digest)
             FROM workloads w JOIN nodes n ON n.id = w.node_id
             WHERE n.cluster = ?1 AND w.running = 1
             GROUP BY w.namespace ORDER BY w.namespace",
        )
        .map_err(Error::database(context))?;
    let rows = select
        .query_map([cluster], |row| {
            Ok(NamespaceSummary {
                namespace: row.get(0)?,
                pods: row.get::<_, i64>(1)? as u64,
                containers: row.get::<_, i64>(2)? as u64,
                images: row.get::<_, i64>(3)? as u64,
            })
        })
        .map_err(Error::database(context))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(Error::database(context))
}
