//! CISA's Known Exploited Vulnerabilities (KEV) catalog: read from a file or a URL,
//! kept in Dependency-Track as a policy ([`crate::dtrack::policy`]) and used to rank
//! exposures ([`crate::exposure`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::dtrack::client::http_client;
use crate::error::{Error, Result};

/// Largest catalog read (the 2025 catalog is about 1.5 MB).
const MAX_CATALOG_BYTES: u64 = 32 * 1024 * 1024;
/// Most entries taken from a catalog.
const MAX_ENTRIES: usize = 100_000;
/// Longest id kept: DT's limit on a policy condition value.
const MAX_ID_CHARS: usize = 255;
/// How long a catalog download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KevSource {
    /// A local file.
    File(PathBuf),
    /// An http(s) URL.
    Url(Url),
}

impl KevSource {
    /// An http(s) URL, or else a file path.
    pub fn parse(text: &str) -> Result<Self> {
        if text.starts_with("http://") || text.starts_with("https://") {
            let url = Url::parse(text)
                .map_err(|err| Error::Config(format!("--kev-catalog {text:?}: {err}")))?;
            return Ok(Self::Url(url));
        }
        Ok(Self::File(PathBuf::from(text)))
    }
}

/// The entries of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KevCatalog {
    /// Catalog version, e.g. `2025.08.25`.
    pub version: String,
    /// Entries by CVE id, as DT compares them (case-sensitive); shared by the
    /// exposures they rank.
    pub entries: BTreeMap<String, Arc<KevEntry>>,
}

/// What the catalog says of one CVE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KevEntry {
    /// When CISA added it, `YYYY-MM-DD`.
    pub date_added: String,
    /// When US federal agencies must have fixed it, `YYYY-MM-DD`.
    pub due_date: String,
    /// Known to be used in ransomware campaigns.
    pub ransomware: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    #[serde(default)]
    catalog_version: String,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    date_added: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: String,
}

impl KevCatalog {
    /// Parses catalog JSON; entries whose id DT could not store are skipped.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let raw: RawCatalog = serde_json::from_slice(json)
            .map_err(|err| Error::Config(format!("KEV catalog: {err}")))?;
        let entries = raw
            .vulnerabilities
            .into_iter()
            .take(MAX_ENTRIES)
            .map(|entry| {
                let kev = KevEntry {
                    date_added: short(&entry.date_added),
                    due_date: short(&entry.due_date),
                    ransomware: entry
                        .known_ransomware_campaign_use
                        .trim()
                        .eq_ignore_ascii_case("known"),
                };
                (entry.cve_id.trim().to_owned(), Arc::new(kev))
            })
            .filter(|(id, _)| valid_id(id))
            .collect();
        Ok(Self {
            version: short(&raw.catalog_version),
            entries,
        })
    }

    /// Reads and parses the catalog at `source`.
    pub async fn load(source: &KevSource) -> Result<Self> {
        let bytes = match source {
            KevSource::File(path) => read_file(path).await?,
            KevSource::Url(url) => download(url).await?,
        };
        Self::parse(&bytes)
    }
}

/// 1–255 printable characters, as DT requires of the policy conditions made of them.
fn valid_id(value: &str) -> bool {
    !value.is_empty()
        && value.chars().count() <= MAX_ID_CHARS
        && value.chars().all(|c| !c.is_control())
}

/// A date or version from the catalog, at most [`MAX_ID_CHARS`] printable characters.
fn short(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ID_CHARS)
        .collect()
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let context = || format!("reading the KEV catalog {}", path.display());
    let size = tokio::fs::metadata(path)
        .await
        .map_err(Error::io(context()))?
        .len();
    if size > MAX_CATALOG_BYTES {
        return Err(Error::Config(format!(
            "{}: larger than {MAX_CATALOG_BYTES} bytes",
            context()
        )));
    }
    tokio::fs::read(path).await.map_err(Error::io(context()))
}

async fn download(url: &Url) -> Result<Vec<u8>> {
    let failed =
        |err: reqwest::Error| Error::Config(format!("downloading the KEV catalog {url}: {err}"));
    let mut response = http_client(DOWNLOAD_TIMEOUT)?
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if (body.len() + chunk.len()) as u64 > MAX_CATALOG_BYTES {
            return Err(Error::Config(format!(
                "the KEV catalog {url} is larger than {MAX_CATALOG_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The newest catalog read on this replica, shared by whoever reads it and whoever
/// ranks exposures with it.
#[derive(Debug, Clone, Default)]
pub struct LatestKev(Arc<RwLock<Option<Arc<KevCatalog>>>>);

impl LatestKev {
    /// The newest catalog, if one was read.
    pub fn get(&self) -> Option<Arc<KevCatalog>> {
        match self.0.read() {
            Ok(latest) => latest.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `catalog` the newest.
    pub fn set(&self, catalog: Arc<KevCatalog>) {
        match self.0.write() {
            Ok(mut latest) => *latest = Some(catalog),
            Err(poisoned) => *poisoned.into_inner() = Some(catalog),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &[u8] = include_bytes!("../../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json");

    #[test]
    fn catalog_gives_every_cve_once_with_its_dates() {
        let catalog = KevCatalog::parse(CATALOG).unwrap();
        assert_eq!(catalog.version, "2025.08.25");
        assert_eq!(catalog.entries.len(), 1404);
        let entry = &catalog.entries["CVE-2025-48384"];
        assert_eq!(entry.date_added, "2025-08-25");
        assert!(
            entry.due_date.as_str() > entry.date_added.as_str(),
            "{entry:?}"
        );
        assert!(catalog.entries.values().any(|entry| entry.ransomware));
        assert!(catalog.entries.values().any(|entry| !entry.ransomware));
    }

    #[test]
    fn urls_are_downloaded_and_anything_else_is_a_file() {
        assert!(matches!(
            KevSource::parse("https://www.cisa.gov/kev.json").unwrap(),
            KevSource::Url(_)
        ));
        assert_eq!(
            KevSource::parse("/etc/kev.json").unwrap(),
            KevSource::File(PathBuf::from("/etc/kev.json"))
        );
    }

    #[test]
    fn a_catalog_that_is_not_json_is_a_clear_error() {
        let err = KevCatalog::parse(b"<html>").unwrap_err();
        assert!(err.to_string().contains("KEV catalog"), "{err}");
    }
}
