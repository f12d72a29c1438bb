//! Project name and version templates: text with `${variable}` placeholders, filled from
//! an image. A syntax of its own (not Helm's `{{ }}`) so that the templates can be passed
//! through a Helm chart's values unchanged.

use std::str::FromStr;

use oci_spec::distribution::Reference;

use crate::error::{Error, Result};
use crate::inventory::NodeSoftware;

/// Placeholders a template may use.
const VARIABLES: &[&str] = &[
    "repository",
    "registry",
    "path",
    "tag",
    "digest",
    "digest_short",
    "cluster",
    "os",
    "os_name",
    "kernel",
    "arch",
    "node_pool",
];

/// Hex digits of the digest in `${digest_short}`.
const SHORT_DIGEST: usize = 12;

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(&'static str),
}

impl FromStr for Template {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            if !before.is_empty() {
                parts.push(Part::Text(before.to_owned()));
            }
            let after = after.get(2..).unwrap_or_default();
            let end = after.find('}').ok_or_else(|| {
                Error::Config(format!("template {text:?}: `${{` without a closing `}}`"))
            })?;
            let name = after.get(..end).unwrap_or_default();
            let variable = VARIABLES
                .iter()
                .find(|known| **known == name)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "template {text:?}: unknown variable ${{{name}}}; known: {}",
                        VARIABLES.join(", ")
                    ))
                })?;
            parts.push(Part::Variable(variable));
            rest = after.get(end + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err(Error::Config("a project template must not be empty".into()));
        }
        Ok(Self { parts })
    }
}

impl Template {
    /// The template filled from `image`.
    pub fn render(&self, image: &ImageFacts) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Variable(name) => image.variable(name),
            })
            .collect()
    }
}

/// What the templates know about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// Registry host, e.g. `docker.io`; empty without a name.
    pub registry: String,
    /// Repository path in the registry, e.g. `library/nginx`.
    pub path: String,
    /// Tag; `None` when the image is known only by digest.
    pub tag: Option<String>,
    /// Manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// A cluster using it (the first by name when the project is created).
    pub cluster: String,
    /// For a node's own software: what it is.
    pub node: Option<NodeSoftware>,
    /// For a node's own software: a pool of the nodes that carry it (the first by name).
    pub node_pool: String,
}

impl ImageFacts {
    /// Facts from the image's names (the first tagged name, by sort order, is chosen so
    /// that the choice does not depend on which node reported first).
    pub fn new(names: &[String], digest: &str, cluster: &str) -> Self {
        let mut parsed: Vec<Reference> = names
            .iter()
            .filter_map(|name| Reference::from_str(name).ok())
            .collect();
        parsed.sort_by_key(|reference| (reference.tag().is_none(), reference.whole()));
        let chosen = parsed.first();
        Self {
            registry: chosen.map(|r| r.registry().to_owned()).unwrap_or_default(),
            path: chosen
                .map(|r| r.repository().to_owned())
                .unwrap_or_default(),
            tag: chosen.and_then(|r| r.tag()).map(str::to_owned),
            digest: digest.to_owned(),
            cluster: cluster.to_owned(),
            node: None,
            node_pool: String::new(),
        }
    }

    /// Facts of a node's own software.
    pub fn of_node(node: &NodeSoftware, pool: &str, digest: &str, cluster: &str) -> Self {
        Self {
            node: Some(node.clone()),
            node_pool: pool.to_owned(),
            ..Self::new(&[], digest, cluster)
        }
    }

    fn variable(&self, name: &str) -> String {
        match name {
            "repository" if self.path.is_empty() => self.digest.clone(),
            "repository" => format!("{}/{}", self.registry, self.path),
            "registry" => self.registry.clone(),
            "path" => self.path.clone(),
            "tag" => self.tag.clone().unwrap_or_else(|| self.digest.clone()),
            "digest" => self.digest.clone(),
            "digest_short" => short_digest(&self.digest),
            "cluster" => self.cluster.clone(),
            "node_pool" => self.node_pool.clone(),
            "os" | "os_name" | "kernel" | "arch" => {
                let Some(node) = &self.node else {
                    return String::new();
                };
                match name {
                    "os" if node.os.is_empty() => "linux".to_owned(),
                    "os" => node.os.clone(),
                    "os_name" => node.os_name.clone(),
                    "kernel" => node.kernel.clone(),
                    _ => node.arch.clone(),
                }
            }
            _ => String::new(),
        }
    }
}

/// `sha256:` and the first hex digits of `digest`.
pub fn short_digest(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("", digest));
    let hex: String = hex.chars().take(SHORT_DIGEST).collect();
    if algorithm.is_empty() {
        hex
    } else {
        format!("{algorithm}:{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:5e8c8a1ffb7e4f3b0d6c2f4d1e9a7b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a";

    #[test]
    fn default_templates_give_repository_and_tag() {
        let image = ImageFacts::new(
            &[
                "docker.io/library/nginx:1.27.0".into(),
                "nginx@sha256:00".into(),
            ],
            DIGEST,
            "prod-a",
        );
        let name: Template = "${repository}".parse().unwrap();
        let version: Template = "${tag}".parse().unwrap();
        assert_eq!(name.render(&image), "docker.io/library/nginx");
        assert_eq!(version.render(&image), "1.27.0");
    }

    #[test]
    fn short_names_are_normalized_like_docker_does() {
        let image = ImageFacts::new(&["nginx:1.27".into()], DIGEST, "prod-a");
        let template: Template = "${registry}|${path}|${cluster}".parse().unwrap();
        assert_eq!(template.render(&image), "docker.io|library/nginx|prod-a");
    }

    #[test]
    fn untagged_image_uses_its_digest_as_version() {
        let image = ImageFacts::new(&[], DIGEST, "prod-a");
        let version: Template = "${tag}".parse().unwrap();
        assert_eq!(version.render(&image), DIGEST);
        let short: Template = "v-${digest_short}".parse().unwrap();
        assert_eq!(short.render(&image), "v-sha256:5e8c8a1ffb7e");
    }

    #[test]
    fn node_templates_read_the_node_facts() {
        let node = NodeSoftware {
            os: "debian-12".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "amd64".into(),
        };
        let facts = ImageFacts::of_node(&node, "pool-a", DIGEST, "prod-a");
        let name: Template = "node/${os}".parse().unwrap();
        let version: Template = "${kernel} ${arch} ${node_pool} ${digest_short}"
            .parse()
            .unwrap();
        assert_eq!(name.render(&facts), "node/debian-12");
        assert_eq!(
            version.render(&facts),
            "6.1.0-18-amd64 amd64 pool-a sha256:5e8c8a1ffb7e"
        );
        // An image has none of them.
        let image = ImageFacts::new(&["nginx:1.27".into()], DIGEST, "prod-a");
        assert_eq!(version.render(&image), "   sha256:5e8c8a1ffb7e");
    }

    #[test]
    fn unknown_variables_and_unclosed_placeholders_are_rejected() {
        let unknown = "${image}".parse::<Template>().unwrap_err();
        assert!(
            unknown.to_string().contains("unknown variable ${image}"),
            "{unknown}"
        );
        assert!("${tag".parse::<Template>().is_err());
        assert!("".parse::<Template>().is_err());
    }
}
