//! The search box: what its text asks for, and the images whose packages match.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
}

/// What a search box text asks for.
#[derive(Debug, PartialEq)]
enum Search {
    /// An image by manifest digest.
    Digest(String),
    /// A vulnerability by id or alias.
    Vulnerability(String),
    /// Images known by a name containing this text.
    Image(String),
    /// Images in a namespace, on a cluster, run by a pod of this name.
    Namespace(String),
    Cluster(String),
    Pod(String),
    /// Packages by purl or name, with a version condition.
    Package {
        query: ComponentQuery,
        version: Option<VersionCondition>,
    },
}

impl Search {
    /// The page that answers a search for something other than a package.
    fn location(&self) -> String {
        let query = |key: &str, value: &str| {
            serde_urlencoded::to_string([(key, value)]).unwrap_or_default()
        };
        match self {
            Search::Digest(digest) => image_href(digest),
            Search::Vulnerability(id) => format!("/exposures?{}", query("vulnerability", id)),
            Search::Namespace(name) => format!("/images?{}", query("namespace", name)),
            Search::Cluster(name) => format!("/images?{}", query("cluster", name)),
            Search::Pod(name) => format!("/images?{}", query("pod", name)),
            Search::Image(name) => format!("/images?{}", query("name", name)),
            Search::Package { .. } => "/search".to_owned(),
        }
    }
}

/// `< 3.0.13`, `>= 2`, `= 1.2.3`.
#[derive(Debug, PartialEq)]
struct VersionCondition {
    operator: &'static str,
    version: String,
}

impl VersionCondition {
    fn holds(&self, version: &str) -> bool {
        use version_compare::Cmp;
        let Some(order) = version_compare::compare(version, &self.version).ok() else {
            return false;
        };
        match self.operator {
            "<" => order == Cmp::Lt,
            "<=" => matches!(order, Cmp::Lt | Cmp::Eq),
            ">" => order == Cmp::Gt,
            ">=" => matches!(order, Cmp::Gt | Cmp::Eq),
            _ => order == Cmp::Eq,
        }
    }
}

/// Vulnerability id prefixes of the databases DT reads.
const VULNERABILITY_PREFIXES: &[&str] = &[
    "CVE-", "GHSA-", "OSV-", "PYSEC-", "GO-", "RUSTSEC-", "DSA-", "DLA-", "USN-", "ALAS", "RHSA-",
    "SNYK-",
];

fn parse_search(text: &str) -> Result<Search, String> {
    let text = text.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("longer than {MAX_QUERY_CHARS} characters"));
    }
    if let Some(rest) = text.strip_prefix("sha256:") {
        if rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Search::Digest(text.to_lowercase()));
        }
        return Err(format!("{text:?} is not a sha256 digest"));
    }
    let upper = text.to_uppercase();
    if VULNERABILITY_PREFIXES.iter().any(|p| upper.starts_with(p)) && !text.contains(' ') {
        return Ok(Search::Vulnerability(upper));
    }
    for (prefix, make) in [
        ("namespace:", Search::Namespace as fn(String) -> Search),
        ("ns:", Search::Namespace),
        ("cluster:", Search::Cluster),
        ("pod:", Search::Pod),
        ("image:", Search::Image),
    ] {
        if let Some(name) = text.strip_prefix(prefix) {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("{prefix} needs a name"));
            }
            return Ok(make(name.to_owned()));
        }
    }
    // An operator needs a name before it; text that starts with one is all name.
    // An image reference (`registry/repository:tag`) rather than a package name.
    if !text.starts_with("pkg:")
        && !text.contains([' ', '<', '>', '='])
        && text.contains(['/', ':'])
    {
        return Ok(Search::Image(text.to_owned()));
    }
    let (subject, version) = match text.find(['<', '>', '=']).filter(|at| *at > 0) {
        Some(at) => {
            let (subject, condition) = text.split_at(at);
            let operator = ["<=", ">=", "<", ">", "="]
                .into_iter()
                .find(|op| condition.starts_with(op))
                .unwrap_or("=");
            let version = condition[operator.len()..].trim();
            if version.is_empty() {
                return Err(format!("{operator} needs a version"));
            }
            (
                subject.trim(),
                Some(VersionCondition {
                    operator,
                    version: version.to_owned(),
                }),
            )
        }
        None => (text, None),
    };
    if subject.is_empty() {
        return Err("give a package name, a purl, an image digest or a vulnerability id".into());
    }
    let query = if subject.starts_with("pkg:") {
        let key = crate::sbom::purl::PurlKey::parse(subject)
            .ok_or_else(|| format!("{subject:?} is not a package URL"))?;
        ComponentQuery::Purl {
            base: key.base,
            version: key.version,
        }
    } else {
        let (name, exact) = match subject.split_once('@') {
            Some((name, version)) => (name, Some(version.to_owned())),
            None => (subject, None),
        };
        ComponentQuery::Name {
            name: name.to_owned(),
            version: exact,
            contains: false,
        }
    };
    Ok(Search::Package { query, version })
}

/// An image whose packages matched, as a search result.
struct MatchRow {
    image: ImageRow,
    packages: Vec<PackageRow>,
    workloads: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/search.html")]
struct SearchPage {
    chrome: Chrome,
    searched: bool,
    images_named: String,
    matches: Vec<MatchRow>,
    truncated: bool,
}

/// `GET /search?q=`: a package (name or purl, with a version condition), an image
/// digest, a vulnerability id, `namespace:NAME`, `cluster:NAME` or `pod:NAME`.
pub async fn search(State(state): State<Arc<UiState>>, RawQuery(query): RawQuery) -> Page {
    let params: SearchParams = params(query)?;
    let Some(text) = given(params.q) else {
        let page = SearchPage {
            chrome: Chrome::default(),
            searched: false,
            images_named: String::new(),
            matches: Vec::new(),
            truncated: false,
        };
        return Ok(html(StatusCode::OK, &page));
    };
    let search = parse_search(&text).map_err(|why| PageError::bad_request(format!("q: {why}")))?;
    let (query, version) = match search {
        Search::Package { query, version } => (query, version),
        elsewhere => return Ok(Redirect::to(&elsewhere.location()).into_response()),
    };
    let found = state
        .api
        .store
        .find_components(ComponentSearch {
            query,
            running_only: false,
            cluster: None,
            limit: PAGE_SIZE,
        })
        .await?;
    let matches = found
        .matches
        .iter()
        .filter_map(|found| {
            let packages: Vec<PackageRow> = found
                .components
                .iter()
                .filter(|c| version.as_ref().is_none_or(|v| v.holds(&c.version)))
                .map(|c| PackageRow {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    purl: c.purl.clone(),
                    kind: c.kind.clone(),
                })
                .collect();
            (!packages.is_empty()).then(|| MatchRow {
                image: ImageRow::of(&found.image),
                packages,
                workloads: found
                    .image
                    .workloads
                    .iter()
                    .filter(|w| w.running)
                    .map(|w| format!("{}/{}/{} ({})", w.cluster, w.namespace, w.pod, w.container))
                    .collect(),
            })
        })
        .collect();
    let page = SearchPage {
        images_named: format!(
            "/images?{}",
            serde_urlencoded::to_string([("name", text.as_str())]).unwrap_or_default()
        ),
        chrome: Chrome::with_query(&text),
        searched: true,
        matches,
        truncated: found.truncated,
    };
    Ok(html(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(text: &str) -> (ComponentQuery, Option<VersionCondition>) {
        match parse_search(text).unwrap() {
            Search::Package { query, version } => (query, version),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn search_text_is_read_as_what_it_names() {
        let digest = format!("sha256:{}", "A".repeat(64));
        assert_eq!(
            parse_search(&digest),
            Ok(Search::Digest(digest.to_lowercase()))
        );
        assert_eq!(
            parse_search("cve-2024-3094"),
            Ok(Search::Vulnerability("CVE-2024-3094".into()))
        );
        assert_eq!(
            parse_search("ns: shop"),
            Ok(Search::Namespace("shop".into()))
        );
        assert_eq!(
            parse_search("cluster:prod-a"),
            Ok(Search::Cluster("prod-a".into()))
        );
        let (query, version) = package("openssl < 3.0.13");
        assert_eq!(
            query,
            ComponentQuery::Name {
                name: "openssl".into(),
                version: None,
                contains: false
            }
        );
        let version = version.unwrap();
        assert!(version.holds("3.0.11-1~deb12u2"));
        assert!(!version.holds("3.0.13"));
        assert!(!version.holds("3.1.0"));
        let (query, version) = package("pkg:deb/debian/openssl>=3.0.13");
        assert!(
            matches!(query, ComponentQuery::Purl { ref base, .. } if base == "pkg:deb/debian/openssl")
        );
        assert!(version.unwrap().holds("3.1.4"));
        let (query, _) = package("click@8.1.7");
        assert!(matches!(query, ComponentQuery::Name { version: Some(ref v), .. } if v == "8.1.7"));
        let (query, version) = package("<script>");
        assert!(matches!(query, ComponentQuery::Name { ref name, .. } if name == "<script>"));
        assert!(version.is_none());
        for bad in ["sha256:12", "openssl <", "namespace:", &"x".repeat(600)] {
            assert!(parse_search(bad).is_err(), "{bad}");
        }
    }
}
