//! The `serve` flags of Dependency-Track forwarding and the KEV policy.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nodebom_proto::retry::Backoff;
use reqwest::Url;

use super::policy::{file as policy_file, KevSource, PolicySettings, PolicySpec};
use super::reconcile::Rules;
use crate::error::{Error, Result};

/// Environment variable with the DT API key (preferred to a flag: flags are visible in
/// the process list).
pub const API_KEY_ENV: &str = "NODEBOM_DTRACK_API_KEY";

/// Flags of `serve` for Dependency-Track.
#[derive(Debug, Clone, Args)]
pub struct DtrackArgs {
    /// Dependency-Track base URL (e.g. `https://dtrack.example.com`); without it nothing
    /// is forwarded.
    #[arg(long, env = "NODEBOM_DTRACK_URL")]
    pub dtrack_url: Option<String>,
    /// Where people open Dependency-Track in a browser, for the web UI's links to
    /// projects (its frontend, when it is not served with the API). Default:
    /// --dtrack-url.
    #[arg(long, env = "NODEBOM_DTRACK_FRONTEND_URL")]
    pub dtrack_frontend_url: Option<String>,
    /// File holding the Dependency-Track API key (or set NODEBOM_DTRACK_API_KEY).
    #[arg(long, env = "NODEBOM_DTRACK_API_KEY_FILE")]
    pub dtrack_api_key_file: Option<PathBuf>,
    /// Project name template; variables: ${repository} (registry/path), ${registry},
    /// ${path}, ${tag} (the digest when untagged), ${digest}, ${digest_short}, ${cluster}.
    #[arg(
        long,
        env = "NODEBOM_DTRACK_PROJECT_NAME",
        default_value = "${repository}"
    )]
    pub dtrack_project_name: String,
    /// Project version template (same variables).
    #[arg(long, env = "NODEBOM_DTRACK_PROJECT_VERSION", default_value = "${tag}")]
    pub dtrack_project_version: String,
    /// Project name template of a node's own software (nodes whose agent reads the
    /// host): `${os}` (`debian-12`), `${os_name}`, `${kernel}`, `${arch}`,
    /// `${node_pool}`, `${cluster}`, `${digest}`, `${digest_short}`. Identical nodes
    /// share one project; it is tagged `cluster:<name>` and `node-pool:<pool>`.
    #[arg(
        long,
        env = "NODEBOM_DTRACK_NODE_PROJECT_NAME",
        default_value = "node/${os}"
    )]
    pub dtrack_node_project_name: String,
    /// Project version template of a node's own software (same variables).
    #[arg(
        long,
        env = "NODEBOM_DTRACK_NODE_PROJECT_VERSION",
        default_value = "${kernel}-${digest_short}"
    )]
    pub dtrack_node_project_version: String,
    /// Parent of auto-created projects, as NAME@VERSION. Dependency-Track 4.13+ gets it
    /// created as a collection project aggregating them (the fleet's risk on one
    /// dashboard) when it does not exist; on older releases it must exist.
    #[arg(long, env = "NODEBOM_DTRACK_PARENT", value_name = "NAME@VERSION")]
    pub dtrack_parent: Option<String>,
    /// How long a `cluster:` (or `namespace:`) tag stays after the last workload there
    /// stopped using the image.
    #[arg(long, env = "NODEBOM_DTRACK_TAG_GRACE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub dtrack_tag_grace: Duration,
    /// Also tag projects `namespace:<ns>` for the namespaces using them.
    #[arg(long, env = "NODEBOM_DTRACK_NAMESPACE_TAGS")]
    pub dtrack_namespace_tags: bool,
    /// How often the findings (vulnerabilities) of every active project are read back
    /// from Dependency-Track; they are also read after each upload. DT re-analyses its
    /// projects daily by default.
    #[arg(long, env = "NODEBOM_DTRACK_FINDINGS_REFRESH", default_value = "1h", value_parser = humantime::parse_duration)]
    pub dtrack_findings_refresh: Duration,
    /// Forward every image on any node, not only images used by workloads.
    #[arg(long, env = "NODEBOM_DTRACK_ALL_IMAGES")]
    pub dtrack_all_images: bool,
    /// Wait after a first failed Dependency-Track call; doubles up to --dtrack-retry-max.
    #[arg(long, env = "NODEBOM_DTRACK_RETRY_FIRST", default_value = "2s", value_parser = humantime::parse_duration)]
    pub dtrack_retry_first: Duration,
    /// Longest wait between tries of one action.
    #[arg(long, env = "NODEBOM_DTRACK_RETRY_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub dtrack_retry_max: Duration,
    /// How long a collector replica may work on one Dependency-Track action before
    /// another replica takes it over (the first one died).
    #[arg(long, env = "NODEBOM_DTRACK_LEASE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub dtrack_lease: Duration,
    /// CISA KEV catalog (JSON) as a file or an http(s) URL: ranks exposures and feeds
    /// `kev: true` policies; without --dtrack-policies, a KEV policy (--kev-policy) is
    /// kept in Dependency-Track.
    #[arg(long, env = "NODEBOM_KEV_CATALOG", value_name = "FILE|URL")]
    pub kev_catalog: Option<String>,
    /// Name of the KEV policy kept without --dtrack-policies.
    #[arg(long, env = "NODEBOM_KEV_POLICY", default_value = "nodebom-kev")]
    pub kev_policy: String,
    /// Limit the KEV policy to projects with this tag; repeatable. Without, it applies
    /// to every project.
    #[arg(
        long = "kev-policy-tag",
        env = "NODEBOM_KEV_POLICY_TAGS",
        value_delimiter = ','
    )]
    pub kev_policy_tags: Vec<String>,
    /// How often the KEV catalog is read again.
    #[arg(long, env = "NODEBOM_KEV_INTERVAL", default_value = "6h", value_parser = humantime::parse_duration)]
    pub kev_interval: Duration,
    /// YAML file declaring the Dependency-Track policies nodebom keeps (KEV, EPSS,
    /// severity, licence groups; see docs/configuration.md); read again before every
    /// sync. It replaces the KEV policy of --kev-policy.
    #[arg(long, env = "NODEBOM_DTRACK_POLICIES", value_name = "FILE")]
    pub dtrack_policies: Option<PathBuf>,
    /// How often nodebom's policies are brought in line in Dependency-Track.
    #[arg(long, env = "NODEBOM_DTRACK_POLICY_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub dtrack_policy_interval: Duration,
}

/// Checked Dependency-Track settings (`Debug` leaves the API key out).
#[derive(Clone)]
pub struct DtrackSettings {
    /// Base URL.
    pub url: Url,
    /// Where browsers open it (see `--dtrack-frontend-url`).
    pub frontend: Url,
    /// API key.
    pub api_key: String,
    /// Project naming and tag rules.
    pub rules: Rules,
    /// Parent project `(name, version)`.
    pub parent: Option<(String, String)>,
    /// Forward every image on nodes, not only used ones.
    pub every_image: bool,
    /// Reconcile at least this often (grace periods end without any event).
    pub reconcile_interval: Duration,
    /// Spacing of retries.
    pub backoff: Backoff,
    /// See `--dtrack-lease`.
    pub lease: Duration,
    /// The policies kept in DT and the KEV catalog; `None` when there are neither.
    pub policies: Option<PolicySettings>,
}

impl std::fmt::Debug for DtrackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtrackSettings")
            .field("url", &self.url.as_str())
            .field("rules", &self.rules)
            .field("parent", &self.parent)
            .field("every_image", &self.every_image)
            .field("backoff", &self.backoff)
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

impl DtrackArgs {
    /// The settings, `None` without `--dtrack-url`.
    pub fn resolve(&self) -> Result<Option<DtrackSettings>> {
        let Some(url) = &self.dtrack_url else {
            if self.kev_catalog.is_some() || self.dtrack_policies.is_some() {
                return Err(Error::Config(
                    "--kev-catalog and --dtrack-policies need --dtrack-url".into(),
                ));
            }
            return Ok(None);
        };
        let url =
            Url::parse(url).map_err(|err| Error::Config(format!("--dtrack-url {url:?}: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config("--dtrack-url must be an http(s) URL".into()));
        }
        let frontend = match &self.dtrack_frontend_url {
            Some(frontend) => Url::parse(frontend)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "--dtrack-frontend-url {frontend:?} is not an http(s) URL"
                    ))
                })?,
            None => url.clone(),
        };
        let api_key = self.api_key()?;
        let parent = self
            .dtrack_parent
            .as_deref()
            .map(|parent| {
                parent
                    .rsplit_once('@')
                    .filter(|(name, version)| !name.is_empty() && !version.is_empty())
                    .map(|(name, version)| (name.to_owned(), version.to_owned()))
                    .ok_or_else(|| Error::Config("--dtrack-parent must be NAME@VERSION".into()))
            })
            .transpose()?;
        let grace = self.dtrack_tag_grace;
        Ok(Some(DtrackSettings {
            url,
            frontend,
            api_key,
            rules: Rules {
                name: self.dtrack_project_name.parse()?,
                version: self.dtrack_project_version.parse()?,
                node_name: self.dtrack_node_project_name.parse()?,
                node_version: self.dtrack_node_project_version.parse()?,
                tag_grace: grace,
                namespace_tags: self.dtrack_namespace_tags,
                findings_refresh: self.dtrack_findings_refresh.max(Duration::from_secs(1)),
            },
            parent,
            every_image: self.dtrack_all_images,
            reconcile_interval: (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
            backoff: Backoff {
                first: self.dtrack_retry_first.max(Duration::from_millis(10)),
                max: self.dtrack_retry_max.max(self.dtrack_retry_first),
            },
            lease: self.dtrack_lease.max(Duration::from_secs(1)),
            policies: self.policies()?,
        }))
    }

    fn api_key(&self) -> Result<String> {
        let key = match &self.dtrack_api_key_file {
            Some(file) => std::fs::read_to_string(file).map_err(Error::io(format!(
                "reading the Dependency-Track API key file {}",
                file.display()
            )))?,
            None => std::env::var(API_KEY_ENV).unwrap_or_default(),
        };
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err(Error::Config(format!(
                "--dtrack-url needs an API key: --dtrack-api-key-file or {API_KEY_ENV}"
            )));
        }
        Ok(key)
    }

    fn policies(&self) -> Result<Option<PolicySettings>> {
        let kev = self
            .kev_catalog
            .as_deref()
            .map(|catalog| {
                KevSource::parse(catalog)
                    .map(|source| (source, self.kev_interval.max(Duration::from_secs(1))))
            })
            .transpose()?;
        let policies = match (&self.dtrack_policies, &kev) {
            (Some(file), _) => policy_file::read(file)?,
            (None, Some(_)) => {
                if self.kev_policy.trim().is_empty() {
                    return Err(Error::Config("--kev-policy must not be empty".into()));
                }
                let scope_tags = self
                    .kev_policy_tags
                    .iter()
                    .map(|tag| tag.trim().to_lowercase())
                    .filter(|tag| !tag.is_empty())
                    .collect();
                vec![PolicySpec::kev_only(
                    self.kev_policy.trim().to_owned(),
                    scope_tags,
                )]
            }
            (None, None) => return Ok(None),
        };
        if kev.is_none() {
            if let Some(spec) = policies.iter().find(|spec| spec.kev) {
                return Err(Error::Config(format!(
                    "policy {:?} of --dtrack-policies uses kev: it needs --kev-catalog",
                    spec.name
                )));
            }
        }
        Ok(Some(PolicySettings {
            kev,
            file: self.dtrack_policies.clone(),
            policies,
            interval: self.dtrack_policy_interval.max(Duration::from_secs(1)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        dtrack: DtrackArgs,
    }

    fn resolve(args: &[&str]) -> Result<Option<DtrackSettings>> {
        Flags::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map_err(|err| Error::Config(err.to_string()))?
            .dtrack
            .resolve()
    }

    #[test]
    fn without_a_url_nothing_is_forwarded() {
        assert!(resolve(&[]).unwrap().is_none());
    }

    #[test]
    fn key_file_and_templates_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "odt_secret\n").unwrap();
        let key = key.to_str().unwrap();
        let settings = resolve(&[
            "--dtrack-url",
            "https://dt.example.com",
            "--dtrack-api-key-file",
            key,
            "--dtrack-tag-grace",
            "1s",
            "--dtrack-parent",
            "fleet@1",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.api_key, "odt_secret");
        assert_eq!(settings.rules.tag_grace, Duration::from_secs(1));
        assert_eq!(settings.parent, Some(("fleet".into(), "1".into())));
        let bad = resolve(&[
            "--dtrack-url",
            "https://dt.example.com",
            "--dtrack-api-key-file",
            key,
            "--dtrack-project-name",
            "{{ .Repository }}-${nope}",
        ]);
        assert!(bad.unwrap_err().to_string().contains("unknown variable"));
    }
}
