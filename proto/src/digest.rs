//! OCI content digests as images and the protocol carry them (`sha256:<hex>`): one type
//! for the agent, the collector and its CLI.

use std::fmt;

use oci_spec::image::DigestAlgorithm;
use sha2::{Digest as _, Sha256};

/// A validated OCI digest: `sha256`, `sha384` or `sha512`, lower-case hex of the
/// algorithm's length.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

/// Why a text is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {value:?}: {reason}")]
pub struct InvalidDigest {
    /// The text, shortened when long.
    pub value: String,
    pub reason: String,
}

impl Digest {
    /// Longest valid digest: `sha512:` and 128 hex digits.
    const MAX_LEN: usize = 7 + 128;

    pub fn parse(value: &str) -> Result<Self, InvalidDigest> {
        let invalid = |reason: String| InvalidDigest {
            value: value.chars().take(80).collect(),
            reason,
        };
        if value.len() > Self::MAX_LEN {
            return Err(invalid("too long".into()));
        }
        if is_plain_sha256(value) {
            return Ok(Self(value.to_owned()));
        }
        let parsed = oci_spec::image::Digest::try_from(value)
            .map_err(|err| invalid(format!("{err} (want sha256:<64 hex digits>)")))?;
        // Only the SHA-2 family is used for images; `Other` would accept anything.
        match parsed.algorithm() {
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512 => {
                Ok(Self(value.to_owned()))
            }
            other => Err(invalid(format!("unsupported algorithm {other}"))),
        }
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::new_with_prefix(bytes))
    }

    /// The SHA-256 digest of `hasher`'s input.
    pub fn from_sha256(hasher: Sha256) -> Self {
        Self(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// Whether the algorithm is SHA-256 (layer diffIDs and chain IDs must be).
    pub fn is_sha256(&self) -> bool {
        self.0.starts_with("sha256:")
    }

    /// Checks that `bytes` hash to this digest (SHA-256 only: what images use).
    pub fn verify(&self, bytes: &[u8]) -> Result<(), String> {
        if !self.is_sha256() {
            return Err(format!("unsupported digest algorithm in {self}"));
        }
        let actual = Self::sha256_of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(format!(
                "content does not match its digest {self} (got {actual})"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `sha256:` and 64 lower-case hex digits: nearly every digest. Checked byte by byte
/// because an inventory carries thousands of digests and the general OCI grammar (left
/// to `oci-spec`) costs an allocation and a char walk each.
fn is_plain_sha256(value: &str) -> bool {
    value.len() == 71
        && value.starts_with("sha256:")
        && value
            .bytes()
            .skip(7)
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> Self {
        digest.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "sha256:5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f";

    #[test]
    fn sha256_digest_is_accepted() {
        assert_eq!(Digest::parse(NGINX).unwrap().as_str(), NGINX);
    }

    #[test]
    fn upper_case_short_and_foreign_digests_are_rejected() {
        for bad in [
            &NGINX.to_uppercase(),
            "sha256:5f05",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f",
            "",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid digest"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn sha256_of_bytes_and_its_check() {
        let empty = Digest::sha256_of(b"");
        assert_eq!(
            empty.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::from_sha256(Sha256::new()), empty);
        assert!(empty.verify(b"").is_ok());
        let mismatch = empty.verify(b"x").unwrap_err();
        assert!(mismatch.contains("does not match"), "{mismatch}");
    }
}
