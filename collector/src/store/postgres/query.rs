//! Read models: image summaries and component search.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::types::ToSql;

use super::super::{
    ComponentMatch, ComponentMatches, ComponentQuery, ComponentSearch, ImageFilter, ImagePage,
    ImagePlacements, ImageSummary, NamespaceSummary, NodePresence, NodeSummary, WorkloadPlacement,
};
use super::{sboms, Tx};
use crate::clock::Timestamp;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::inventory::NodeSoftware;
use crate::sbom::Component;
use crate::store::query_model::{
    like_literal, ImageNames, PlacementFilter, PlacementRows, MAX_MATCHING_COMPONENTS,
};

/// The image `digest` with the nodes and workloads that pass `filter`.
async fn summary(
    tx: &Tx<'_>,
    digest: &str,
    filter: &PlacementFilter<'_>,
) -> Result<Option<ImageSummary>> {
    let context = "reading an image";
    let Some(image) = tx
        .query_opt(
            context,
            "SELECT config_digest, platform, names, first_seen, last_seen, node FROM images WHERE digest = $1",
            &[&digest],
        )
        .await?
    else {
        return Ok(None);
    };
    let config_digest: String = image.try_get(0).map_err(Error::postgres(context))?;
    let platform: String = image.try_get(1).map_err(Error::postgres(context))?;
    let names: String = image.try_get(2).map_err(Error::postgres(context))?;
    let first_seen: i64 = image.try_get(3).map_err(Error::postgres(context))?;
    let last_seen: i64 = image.try_get(4).map_err(Error::postgres(context))?;
    let node: Option<String> = image.try_get(5).map_err(Error::postgres(context))?;
    let node = NodeSoftware::from_json(node.as_deref())?;
    let mut image_names = ImageNames::default();
    image_names.add_json(&names)?;
    let mut index_digests = BTreeSet::new();
    let mut last_seen = Timestamp::from_unix_millis(last_seen);
    let mut nodes = Vec::new();
    for row in tx
        .query(
            context,
            "SELECT n.cluster, n.name, ni.first_seen, n.last_seen, ni.index_digest, ni.names
             FROM node_images ni JOIN nodes n ON n.id = ni.node_id
             WHERE ni.digest = $1 ORDER BY n.cluster, n.name",
            &[&digest],
        )
        .await?
    {
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        let number =
            |index| -> Result<i64> { row.try_get(index).map_err(Error::postgres(context)) };
        let (cluster, node) = (text(0)?, text(1)?);
        image_names.add_json(&text(5)?)?;
        let index = text(4)?;
        if !index.is_empty() {
            index_digests.insert(index);
        }
        let node_last_seen = Timestamp::from_unix_millis(number(3)?);
        last_seen = last_seen.max(node_last_seen);
        if filter.node_matches(&cluster, &node) {
            nodes.push(NodePresence {
                cluster,
                node,
                first_seen: Timestamp::from_unix_millis(number(2)?),
                last_seen: node_last_seen,
            });
        }
    }
    let mut workloads = Vec::new();
    for row in tx
        .query(
            context,
            "SELECT n.cluster, n.name, w.namespace, w.pod, w.pod_uid, w.container, w.image,
                    w.container_id, w.running, w.first_seen,
                    CASE WHEN w.running THEN n.last_seen ELSE w.last_seen END
             FROM workloads w JOIN nodes n ON n.id = w.node_id
             WHERE w.digest = $1
             ORDER BY n.cluster, w.namespace, w.pod, w.container, n.name",
            &[&digest],
        )
        .await?
    {
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        let number =
            |index| -> Result<i64> { row.try_get(index).map_err(Error::postgres(context)) };
        let workload = WorkloadPlacement {
            cluster: text(0)?,
            node: text(1)?,
            namespace: text(2)?,
            pod: text(3)?,
            pod_uid: text(4)?,
            container: text(5)?,
            manifest_digest: digest.to_owned(),
            image: text(6)?,
            container_id: text(7)?,
            running: row.try_get(8).map_err(Error::postgres(context))?,
            first_seen: Timestamp::from_unix_millis(number(9)?),
            last_seen: Timestamp::from_unix_millis(number(10)?),
        };
        if filter.workload_matches(&workload) {
            workloads.push(workload);
        }
    }
    Ok(Some(ImageSummary {
        manifest_digest: digest.to_owned(),
        index_digests: index_digests.into_iter().collect(),
        config_digest,
        platform,
        names: image_names.into_sorted(),
        sbom: sboms::record_for(tx, digest, filter.cluster).await?,
        first_seen: Some(Timestamp::from_unix_millis(first_seen)),
        last_seen: Some(last_seen),
        nodes,
        workloads,
        node,
    }))
}

/// Appends `AND column = $n` for a set filter.
fn condition<'a>(
    sql: &mut String,
    args: &mut Vec<&'a (dyn ToSql + Sync)>,
    column: &str,
    value: &'a Option<String>,
) {
    if let Some(value) = value {
        args.push(value);
        sql.push_str(&format!(" AND {column} = ${}", args.len()));
    }
}

pub(super) async fn list_images(
    tx: &Tx<'_>,
    filter: &ImageFilter,
    after: Option<&Digest>,
    page_size: usize,
) -> Result<ImagePage> {
    let after = after.map(|d| d.to_string()).unwrap_or_default();
    let limit = page_size as i64 + 1;
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![&after];
    let mut sql = String::from("SELECT i.digest FROM images i WHERE i.digest > $1");
    if filter.digest.is_none() {
        // Nodes' own software is listed with the nodes (`nodes`), not as images.
        sql.push_str(" AND i.node IS NULL");
    }
    condition(&mut sql, &mut args, "i.digest", &filter.digest);
    let name_pattern = filter
        .name
        .as_ref()
        .map(|name| format!("%{}%", like_literal(name)));
    if let Some(pattern) = &name_pattern {
        args.push(pattern);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM node_images ni WHERE ni.digest = i.digest AND ni.names ILIKE ${} ESCAPE '\\')",
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
            sql.push_str(" AND w.running");
        }
        sql.push(')');
    }
    args.push(&limit);
    sql.push_str(&format!(" ORDER BY i.digest LIMIT ${}", args.len()));

    let context = "listing images";
    let mut digests: Vec<String> = tx
        .query(context, &sql, &args)
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(Error::postgres(context)))
        .collect::<Result<_>>()?;
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
        if let Some(image) = summary(tx, digest, &placement).await? {
            images.push(image);
        }
    }
    Ok(ImagePage {
        next_after: if more { digests.last().cloned() } else { None },
        images,
    })
}

async fn matching_components(tx: &Tx<'_>, query: &ComponentQuery) -> Result<Vec<(i64, Component)>> {
    let mut key: Option<Vec<u8>> = None;
    let mut owned: Vec<String> = Vec::new();
    let mut sql = String::from("SELECT id, name, version, purl, kind FROM components WHERE ");
    let version = match query {
        ComponentQuery::Purl { base, version } => {
            sql.push_str("purl_base_key = $1");
            key = Some(sboms::text_key(&[base]));
            version
        }
        ComponentQuery::Name {
            name,
            version,
            contains,
        } => {
            if *contains {
                sql.push_str("name ILIKE $1 ESCAPE '\\'");
                owned.push(format!("%{}%", like_literal(name)));
            } else {
                sql.push_str("name_key = $1");
                key = Some(sboms::name_key(name));
            }
            version
        }
    };
    // Purl searches match versions exactly; name searches also by prefix up to a `.`
    // or `-`.
    if let Some(version) = version {
        let exact = matches!(query, ComponentQuery::Purl { .. });
        sql.push_str(if exact {
            " AND version = $2"
        } else {
            " AND (version = $2 OR version LIKE $3 ESCAPE '\\' OR version LIKE $4 ESCAPE '\\')"
        });
        owned.push(version.clone());
        if !exact {
            owned.push(format!("{}.%", like_literal(version)));
            owned.push(format!("{}-%", like_literal(version)));
        }
    }
    sql.push_str(&format!(
        " ORDER BY name, version, purl LIMIT {}",
        MAX_MATCHING_COMPONENTS + 1
    ));
    let mut args: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(owned.len() + 1);
    if let Some(key) = &key {
        args.push(key);
    }
    args.extend(owned.iter().map(|value| value as &(dyn ToSql + Sync)));
    let context = "finding components";
    let found: Vec<(i64, Component)> = tx
        .query(context, &sql, &args)
        .await?
        .iter()
        .map(|row| -> Result<(i64, Component)> {
            let text =
                |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
            Ok((
                row.try_get(0).map_err(Error::postgres(context))?,
                Component {
                    name: text(1)?,
                    version: text(2)?,
                    purl: text(3)?,
                    kind: text(4)?,
                },
            ))
        })
        .collect::<Result<_>>()?;
    if found.len() > MAX_MATCHING_COMPONENTS {
        return Err(Error::ResourceExhausted(format!(
            "more than {MAX_MATCHING_COMPONENTS} distinct components match; narrow the search"
        )));
    }
    Ok(found)
}

pub(super) async fn find_components(
    tx: &Tx<'_>,
    search: &ComponentSearch,
) -> Result<ComponentMatches> {
    let context = "finding components";
    let mut by_image: BTreeMap<String, Vec<Component>> = BTreeMap::new();
    for (id, component) in matching_components(tx, &search.query).await? {
        // With a cluster, the SBOMs that cluster uses: its own copy where its build
        // differed from the fleet copy, the fleet copy elsewhere.
        for row in tx
            .query(
                context,
                "SELECT digest FROM sbom_components sc WHERE component_id = $1
                   AND ($2::text IS NULL OR NOT EXISTS (
                       SELECT 1 FROM sbom_checks k
                       WHERE k.digest = sc.digest AND k.cluster = $2 AND k.document IS NOT NULL))
                 UNION
                 SELECT digest FROM sbom_check_components WHERE component_id = $1 AND cluster = $2",
                &[&id, &search.cluster],
            )
            .await?
        {
            let digest: String = row.try_get(0).map_err(Error::postgres(context))?;
            by_image.entry(digest).or_default().push(component.clone());
        }
    }
    let placement = PlacementFilter {
        cluster: search.cluster.as_deref(),
        running_only: true,
        ..PlacementFilter::default()
    };
    let mut found = ComponentMatches::default();
    for (digest, components) in by_image {
        let Some(image) = summary(tx, &digest, &placement).await? else {
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
pub(super) async fn placements(
    tx: &Tx<'_>,
    filter: &ImageFilter,
    limit: usize,
) -> Result<Vec<ImagePlacements>> {
    let context = "reading placements";
    let mut rows = PlacementRows::default();
    let cluster = filter.cluster.as_deref();
    for row in tx
        .query(
            context,
            "SELECT ni.digest, n.cluster, n.name, ni.first_seen, n.last_seen, ni.names
             FROM node_images ni JOIN nodes n ON n.id = ni.node_id
             WHERE $1::text IS NULL OR n.cluster = $1
             ORDER BY ni.digest, n.cluster, n.name",
            &[&cluster],
        )
        .await?
    {
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        let number =
            |index| -> Result<i64> { row.try_get(index).map_err(Error::postgres(context)) };
        let node = NodePresence {
            cluster: text(1)?,
            node: text(2)?,
            first_seen: Timestamp::from_unix_millis(number(3)?),
            last_seen: Timestamp::from_unix_millis(number(4)?),
        };
        rows.node(&text(0)?, node, &text(5)?)?;
    }
    for row in tx
        .query(
            context,
            "SELECT w.digest, n.cluster, n.name, w.namespace, w.pod, w.pod_uid, w.container,
                    w.image, w.container_id, w.first_seen, n.last_seen
             FROM workloads w JOIN nodes n ON n.id = w.node_id
             WHERE w.running AND ($1::text IS NULL OR n.cluster = $1)
               AND ($2::text IS NULL OR w.namespace = $2)
             ORDER BY w.digest, n.cluster, w.namespace, w.pod, w.container",
            &[&cluster, &filter.namespace.as_deref()],
        )
        .await?
    {
        let text =
            |index| -> Result<String> { row.try_get(index).map_err(Error::postgres(context)) };
        let number =
            |index| -> Result<i64> { row.try_get(index).map_err(Error::postgres(context)) };
        rows.workload(WorkloadPlacement {
            manifest_digest: text(0)?,
            cluster: text(1)?,
            node: text(2)?,
            namespace: text(3)?,
            pod: text(4)?,
            pod_uid: text(5)?,
            container: text(6)?,
            image: text(7)?,
            container_id: text(8)?,
            running: true,
            first_seen: Timestamp::from_unix_millis(number(9)?),
            last_seen: Timestamp::from_unix_millis(number(10)?),
        });
    }
    let digests = rows.digests();
    for row in tx
        .query(
            context,
            "SELECT digest, names FROM images WHERE digest = ANY($1)",
            &[&digests],
        )
        .await?
    {
        let digest: String = row.try_get(0).map_err(Error::postgres(context))?;
        let names: String = row.try_get(1).map_err(Error::postgres(context))?;
        rows.image_names(&digest, &names)?;
    }
    Ok(rows.finish(filter, limit))
}

/// The nodes, of `cluster` when given, with their image and running container counts.
pub(super) async fn nodes(tx: &Tx<'_>, cluster: Option<&str>) -> Result<Vec<NodeSummary>> {
    let context = "listing nodes";
    let rows = tx
        .query(
            context,
            "SELECT n.cluster, n.name, n.agent_version, n.first_seen, n.last_seen,
                    (SELECT COUNT(*) FROM node_images ni JOIN images i ON i.digest = ni.digest
                     WHERE ni.node_id = n.id AND i.node IS NULL),
                    (SELECT COUNT(*) FROM workloads w WHERE w.node_id = n.id AND w.running),
                    n.node_pool, sw.digest, sw.node,
                    EXISTS (SELECT 1 FROM sboms s WHERE s.digest = sw.digest)
             FROM nodes n
             LEFT JOIN images sw ON sw.digest = (
                 SELECT ni.digest FROM node_images ni JOIN images i ON i.digest = ni.digest
                 WHERE ni.node_id = n.id AND i.node IS NOT NULL
                 ORDER BY ni.first_seen DESC LIMIT 1)
             WHERE $1::text IS NULL OR n.cluster = $1
             ORDER BY n.cluster, n.name",
            &[&cluster],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let get = |e| Error::postgres(context)(e);
            let software: Option<String> = row.try_get(9).map_err(get)?;
            Ok(NodeSummary {
                cluster: row.try_get(0).map_err(get)?,
                node: row.try_get(1).map_err(get)?,
                node_pool: row.try_get(7).map_err(get)?,
                agent_version: row.try_get(2).map_err(get)?,
                first_seen: Timestamp::from_unix_millis(row.try_get(3).map_err(get)?),
                last_seen: Timestamp::from_unix_millis(row.try_get(4).map_err(get)?),
                images: row.try_get::<_, i64>(5).map_err(get)? as u64,
                running: row.try_get::<_, i64>(6).map_err(get)? as u64,
                software_digest: row.try_get(8).map_err(get)?,
                software: NodeSoftware::from_json(software.as_deref())?,
                has_software_sbom: row.try_get(10).map_err(get)?,
            })
        })
        .collect()
}

/// The namespaces where containers of `cluster` run now.
pub(super) async fn namespaces(tx: &Tx<'_>, cluster: &str) -> Result<Vec<NamespaceSummary>> {
    let context = "listing namespaces";
    tx.query(
        context,
        "SELECT w.namespace, COUNT(DISTINCT w.pod_uid), COUNT(*), COUNT(DISTINCT w.digest)
         FROM workloads w JOIN nodes n ON n.id = w.node_id
         WHERE n.cluster = $1 AND w.running
         GROUP BY w.namespace ORDER BY w.namespace",
        &[&cluster],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(NamespaceSummary {
            namespace: row.try_get(0)?,
            pods: row.try_get::<_, i64>(1)? as u64,
            containers: row.try_get::<_, i64>(2)? as u64,
            images: row.try_get::<_, i64>(3)? as u64,
        })
    })
    .collect::<std::result::Result<_, tokio_postgres::Error>>()
    .map_err(Error::postgres(context))
}
