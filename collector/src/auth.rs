//! Bearer tokens: one or more per cluster for agents, optional ones for queries.
//!
//! Tokens are kept only as SHA-256 hashes and looked up by hash, so a lookup takes the
//! same time whatever prefix of a valid token a caller guesses.

use std::collections::{HashMap, HashSet};

use sha2::{Digest as _, Sha256};
use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};
use crate::inventory;

type TokenHash = [u8; 32];

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of the `authorization: Bearer <token>` metadata.
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("the authorization metadata is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Error::Unauthenticated(
            "the authorization metadata must be `Bearer <token>`".into(),
        )),
    }
}

/// Who an agent's token says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A holder of a token of this cluster.
    Cluster(String),
    /// Anyone: the collector runs without cluster tokens (loopback only).
    Anyone,
}

impl Caller {
    /// Fails unless the caller may speak for `cluster`.
    pub fn authorize(&self, cluster: &str) -> Result<()> {
        match self {
            Caller::Anyone => Ok(()),
            Caller::Cluster(own) if own == cluster => Ok(()),
            Caller::Cluster(own) => Err(Error::PermissionDenied(format!(
                "the token is for cluster {own:?} and cannot report for cluster {cluster:?}"
            ))),
        }
    }
}

/// The accepted agent tokens.
#[derive(Debug, Clone, Default)]
pub struct ClusterTokens {
    clusters: HashMap<TokenHash, String>,
}

impl ClusterTokens {
    /// From `(cluster, token)` pairs; a cluster may have several tokens (rotation), a
    /// token only one cluster.
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut clusters = HashMap::new();
        for (cluster, token) in entries {
            inventory::name("cluster", &cluster)
                .map_err(|err| Error::Config(format!("cluster token: {err}")))?;
            if token.trim().is_empty() || token.trim() != token {
                return Err(Error::Config(format!(
                    "the token of cluster {cluster:?} is empty or has surrounding spaces"
                )));
            }
            if let Some(other) = clusters.insert(hash(&token), cluster.clone()) {
                if other != cluster {
                    return Err(Error::Config(format!(
                        "clusters {other:?} and {cluster:?} have the same token; each cluster needs its own"
                    )));
                }
            }
        }
        Ok(Self { clusters })
    }

    /// Parses `CLUSTER=TOKEN`.
    pub fn parse_entry(entry: &str) -> Result<(String, String)> {
        match entry.split_once('=') {
            Some((cluster, token)) if !cluster.trim().is_empty() => {
                Ok((cluster.trim().to_owned(), token.trim().to_owned()))
            }
            _ => Err(Error::Config(
                "a cluster token must be written CLUSTER=TOKEN".into(),
            )),
        }
    }

    /// Parses a tokens file: one `CLUSTER=TOKEN` a line; blank lines and lines starting
    /// with `#` are ignored.
    pub fn parse_file(text: &str) -> Result<Vec<(String, String)>> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|(number, line)| {
                Self::parse_entry(line)
                    .map_err(|err| Error::Config(format!("line {}: {err}", number + 1)))
            })
            .collect()
    }

    /// True when no token is configured: any agent may report for any cluster.
    pub fn is_open(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Names of the clusters that have tokens, sorted.
    pub fn clusters(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.clusters.values().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Identifies the caller from its request metadata.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller> {
        if self.is_open() {
            return Ok(Caller::Anyone);
        }
        let token = bearer(metadata)?.ok_or_else(|| {
            Error::Unauthenticated(
                "missing `authorization: Bearer <cluster token>` metadata".into(),
            )
        })?;
        self.clusters
            .get(&hash(token))
            .map(|cluster| Caller::Cluster(cluster.clone()))
            .ok_or_else(|| Error::Unauthenticated("the cluster token is not valid".into()))
    }
}

/// Tokens that `Query` calls must present; none configured means `Query` is open.
#[derive(Debug, Clone, Default)]
pub struct QueryTokens {
    hashes: HashSet<TokenHash>,
}

impl QueryTokens {
    /// From the accepted tokens.
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut hashes = HashSet::new();
        for token in tokens {
            if token.trim().is_empty() || token.trim() != token {
                return Err(Error::Config(
                    "a query token is empty or has surrounding spaces".into(),
                ));
            }
            hashes.insert(hash(&token));
        }
        Ok(Self { hashes })
    }

    /// True when `Query` needs no token.
    pub fn is_open(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The web UI's session credential for `token` when it is accepted: the hex of its
    /// hash, so that the browser never keeps the token itself.
    pub fn session_for(&self, token: &str) -> Option<String> {
        let hashed = hash(token.trim());
        self.hashes.contains(&hashed).then(|| hex::encode(hashed))
    }

    /// Whether a web UI session credential (see [`QueryTokens::session_for`]) is of an
    /// accepted token.
    pub fn accepts_session(&self, session: &str) -> bool {
        let mut hashed = TokenHash::default();
        hex::decode_to_slice(session, &mut hashed).is_ok() && self.hashes.contains(&hashed)
    }

    /// Fails unless the metadata carries an accepted token (or none is needed).
    pub fn check(&self, metadata: &MetadataMap) -> Result<()> {
        if self.is_open() {
            return Ok(());
        }
        match bearer(metadata)? {
            Some(token) if self.hashes.contains(&hash(token)) => Ok(()),
            Some(_) => Err(Error::Unauthenticated(
                "the query token is not valid".into(),
            )),
            None => Err(Error::Unauthenticated(
                "missing `authorization: Bearer <query token>` metadata".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(authorization: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", authorization.parse().unwrap());
        metadata
    }

    fn tokens() -> ClusterTokens {
        ClusterTokens::new([
            ("prod-a".to_owned(), "a-secret".to_owned()),
            ("prod-a".to_owned(), "a-rotated".to_owned()),
            ("prod-b".to_owned(), "b-secret".to_owned()),
        ])
        .unwrap()
    }

    #[test]
    fn token_identifies_its_cluster_and_only_that_one() {
        let caller = tokens()
            .authenticate(&metadata("Bearer a-rotated"))
            .unwrap();
        assert_eq!(caller, Caller::Cluster("prod-a".into()));
        assert!(caller.authorize("prod-a").is_ok());
        let err = caller.authorize("prod-b").unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
        let tokens = tokens();
        for metadata in [
            MetadataMap::new(),
            metadata("a-secret"),
            metadata("Bearer nope"),
            metadata("Basic a-secret"),
        ] {
            let err = tokens.authenticate(&metadata).unwrap_err();
            assert!(matches!(err, Error::Unauthenticated(_)), "{err}");
        }
    }

    #[test]
    fn one_token_for_two_clusters_is_a_configuration_error() {
        let err = ClusterTokens::new([
            ("a".to_owned(), "same".to_owned()),
            ("b".to_owned(), "same".to_owned()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("have the same token"), "{err}");
    }

    #[test]
    fn tokens_file_skips_comments_and_names_the_bad_line() {
        let entries = ClusterTokens::parse_file("# prod\nprod-a=s1\n\nprod-b = s2\n").unwrap();
        assert_eq!(
            entries,
            [
                ("prod-a".to_owned(), "s1".to_owned()),
                ("prod-b".to_owned(), "s2".to_owned())
            ]
        );
        let err = ClusterTokens::parse_file("prod-a=s1\njust-a-token\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn query_tokens_are_only_required_when_configured() {
        assert!(QueryTokens::default().check(&MetadataMap::new()).is_ok());
        let tokens = QueryTokens::new(["reader".to_owned()]).unwrap();
        assert!(tokens.check(&metadata("Bearer reader")).is_ok());
        assert!(tokens.check(&metadata("Bearer writer")).is_err());
        assert!(tokens.check(&MetadataMap::new()).is_err());
    }
}
