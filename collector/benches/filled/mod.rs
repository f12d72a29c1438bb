//! The fleet's inventory written straight into a store, for the benchmarks that measure
//! reading it (exposures, the web UI) rather than ingesting it.

use std::collections::BTreeMap;
use std::time::Instant;

use nodebom_collector::api::convert;
use nodebom_collector::clock::Timestamp;
use nodebom_collector::inventory::{Agent, FullInventory, Limits, NodeKey};
use nodebom_collector::store::{ClaimPolicy, Store};
use nodebom_proto::v1 as pb;

use crate::fleet::{fleet_image, node_images, workload, CLUSTERS};

/// The fleet's shape.
pub struct Shape {
    pub nodes: usize,
    pub images_per_node: usize,
    pub distinct_images: usize,
    pub workloads_per_node: usize,
}

/// Writes every node's inventory (nodes spread over [`CLUSTERS`] clusters) into `store`;
/// returns the fleet's images, each with a node that holds it.
pub async fn fill_inventory(store: &dyn Store, shape: &Shape) -> Vec<(pb::Image, NodeKey)> {
    let started = Instant::now();
    let fleet: Vec<pb::Image> = (0..shape.distinct_images).map(fleet_image).collect();
    let mut holders: BTreeMap<String, NodeKey> = BTreeMap::new();
    let now = Timestamp::now();
    for n in 0..shape.nodes {
        let images = node_images(&fleet, shape.images_per_node, n);
        let workloads: Vec<pb::Workload> = (0..shape.workloads_per_node)
            .map(|w| workload(n, w, &images[w % images.len()]))
            .collect();
        let node =
            NodeKey::new(&format!("cluster-{}", n % CLUSTERS), &format!("node-{n}")).expect("node");
        for image in &images {
            holders
                .entry(image.manifest_digest.clone())
                .or_insert_with(|| node.clone());
        }
        let inventory = FullInventory {
            images: images
                .into_iter()
                .map(|image| convert::image("image", image).expect("image"))
                .collect(),
            workloads: workloads
                .into_iter()
                .map(|w| convert::workload("workload", w).expect("workload"))
                .collect(),
        };
        let session = store
            .begin_session(
                &node,
                &Agent {
                    version: "bench".into(),
                    node_pool: String::new(),
                },
                now,
            )
            .await
            .expect("session");
        store
            .replace_inventory(
                &session,
                inventory,
                Limits::default(),
                ClaimPolicy::default(),
                now,
            )
            .await
            .expect("inventory");
    }
    eprintln!(
        "filled {} nodes with {} of {} images each in {:.1} s",
        shape.nodes,
        shape.images_per_node,
        shape.distinct_images,
        started.elapsed().as_secs_f64()
    );
    fleet
        .into_iter()
        .filter_map(|image| {
            let holder = holders.get(&image.manifest_digest)?.clone();
            Some((image, holder))
        })
        .collect()
}
