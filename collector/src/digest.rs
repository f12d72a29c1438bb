//! OCI digests as the protocol carries them: `sha256:<64 lower-case hex>`.

use std::fmt;

use oci_spec::image::DigestAlgorithm;
use sha2::{Digest as _, Sha256};

use crate::error::{excerpt, Error, Result};

/// A validated OCI digest (`sha256`, `sha384` or `sha512`, lower-case hex of the right
/// length).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// Longest valid digest: `sha512:` and 128 hex digits.
    const MAX_LEN: usize = 7 + 128;

    /// Parses `value`, reporting problems as [`Error::InvalidArgument`] on `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        if value.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("invalid digest {:?}: too long", excerpt(value)),
            ));
        }
        if is_plain_sha256(value) {
            return Ok(Self(value.to_owned()));
        }
        let parsed = oci_spec::image::Digest::try_from(value).map_err(|err| {
            Error::invalid(
                field,
                format!("invalid digest {value:?}: {err} (want sha256:<64 hex digits>)"),
            )
        })?;
        // Only the SHA-2 family is used for images; `Other` would accept anything.
        match parsed.algorithm() {
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512 => {
                Ok(Self(value.to_owned()))
            }
            other => Err(Error::invalid(
                field,
                format!("invalid digest {value:?}: unsupported algorithm {other}"),
            )),
        }
    }

    /// The SHA-256 digest of `hasher`'s input.
    pub fn from_sha256(hasher: Sha256) -> Self {
        Self(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// The digest string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `sha256:` and 64 lower-case hex digits: nearly every digest an agent sends. Checked
/// here byte by byte because an inventory carries thousands of digests and the general
/// OCI grammar (left to `oci-spec`) costs an allocation and a char walk each.
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

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "sha256:5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f";

    #[test]
    fn sha256_digest_is_accepted() {
        assert_eq!(Digest::parse("d", NGINX).unwrap().as_str(), NGINX);
    }

    #[test]
    fn upper_case_short_and_foreign_digests_are_rejected_with_the_field() {
        for bad in [
            &NGINX.to_uppercase(),
            "sha256:5f05",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "5f0574409b3add89581b96c68afe9e9c7b284651c3a974b6e8bac46bf95e6b7f",
            "",
        ] {
            let err = Digest::parse("images[2].manifest_digest", bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("images[2].manifest_digest: invalid digest"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn document_digest_is_sha256_of_its_bytes() {
        let mut hasher = Sha256::new();
        hasher.update(b"");
        assert_eq!(
            Digest::from_sha256(hasher).as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
