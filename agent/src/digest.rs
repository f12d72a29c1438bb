//! sha256 digests in OCI form (`sha256:<hex>`).

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks that `bytes` hash to `expected`; only sha256 is supported.
pub fn verify(bytes: &[u8], expected: &str) -> Result<(), String> {
    if !expected.starts_with("sha256:") {
        return Err(format!("unsupported digest algorithm in {expected:?}"));
    }
    let actual = sha256_of(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "content does not match its digest {expected} (got {actual})"
        ))
    }
}
