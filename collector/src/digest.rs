//! OCI digests ([`nodebom_proto::digest::Digest`]) as requests and the store carry them.

pub use nodebom_proto::digest::Digest;

use crate::error::{Error, Result};

/// Parses `value`, reporting a problem as [`Error::InvalidArgument`] on `field`.
pub fn parse(field: &str, value: &str) -> Result<Digest> {
    Digest::parse(value).map_err(|err| Error::invalid(field, err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_digest_names_its_field() {
        let err = parse("images[2].manifest_digest", "sha256:5f05").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("images[2].manifest_digest: invalid digest"),
            "{err}"
        );
    }
}
