//! Package URLs reduced to what `FindComponents` matches on.

use std::str::FromStr;

use packageurl::PackageUrl;

/// A purl without version, qualifiers and subpath, lower-cased:
/// `pkg:maven/org.apache.logging.log4j/log4j-core`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurlKey {
    /// `pkg:<type>/[<namespace>/]<name>`, lower-cased, components percent-decoded.
    pub base: String,
    /// The version, if the purl has one.
    pub version: Option<String>,
}

impl PurlKey {
    /// Parses `purl`; `None` when it is not a valid package URL.
    pub fn parse(purl: &str) -> Option<Self> {
        let parsed = PackageUrl::from_str(purl).ok()?;
        let mut base = format!("pkg:{}/", parsed.ty());
        if let Some(namespace) = parsed.namespace() {
            base.push_str(namespace);
            base.push('/');
        }
        base.push_str(parsed.name());
        Some(Self {
            base: base.to_lowercase(),
            version: parsed.version().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_and_version_are_split_off() {
        let key =
            PurlKey::parse("pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64&distro=debian-12")
                .unwrap();
        assert_eq!(key.base, "pkg:deb/debian/libc6");
        assert_eq!(key.version.as_deref(), Some("2.36-9+deb12u10"));
    }

    #[test]
    fn encoded_and_plain_npm_scopes_give_the_same_key() {
        let encoded = PurlKey::parse("pkg:npm/%40babel/core@7.24.0").unwrap();
        let plain = PurlKey::parse("pkg:npm/@babel/core").unwrap();
        assert_eq!(encoded.base, plain.base);
        assert_eq!(plain.version, None);
    }

    #[test]
    fn case_is_ignored_in_the_key() {
        let key = PurlKey::parse("pkg:maven/org.apache.logging.log4j/Log4j-Core@2.14.1").unwrap();
        assert_eq!(key.base, "pkg:maven/org.apache.logging.log4j/log4j-core");
    }

    #[test]
    fn text_that_is_not_a_purl_has_no_key() {
        assert_eq!(PurlKey::parse("log4j-core"), None);
    }
}
