//! Which Dependency-Track release answers, so that features newer than 4.11 are used
//! only where they exist.

use std::fmt;

/// A DT release, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DtVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl DtVersion {
    /// The oldest release nodebom supports; what an unknown release is taken for.
    pub const OLDEST: DtVersion = DtVersion::new(4, 11, 0);

    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        DtVersion {
            major,
            minor,
            patch,
        }
    }

    /// Reads `4.14.2` (a suffix such as `-SNAPSHOT` is ignored); `None` when it is not
    /// a version.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text
            .trim()
            .split(['.', '-'])
            .map(|part| part.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(DtVersion::new(major, minor, patch))
    }

    /// EPSS policy conditions and EPSS in findings (4.12+).
    pub fn has_epss(self) -> bool {
        self >= DtVersion::new(4, 12, 0)
    }

    /// Tags sent with a BOM upload are given to the project it creates (4.12+).
    pub fn tags_on_upload(self) -> bool {
        self >= DtVersion::new(4, 12, 0)
    }

    /// The upload field that marks a new project as the latest version of its name:
    /// `isLatestProjectVersion` (4.12–4.13), renamed `isLatest` in 4.14.
    pub fn latest_field(self) -> Option<&'static str> {
        if self >= DtVersion::new(4, 14, 0) {
            Some("isLatest")
        } else if self >= DtVersion::new(4, 12, 0) {
            Some("isLatestProjectVersion")
        } else {
            None
        }
    }

    /// Policies limited to tags through `/v1/tag/{name}/policy` (4.12+).
    pub fn tags_policies(self) -> bool {
        self >= DtVersion::new(4, 12, 0)
    }

    /// Tags created on their own with `PUT /v1/tag` (4.13+).
    pub fn creates_tags(self) -> bool {
        self >= DtVersion::new(4, 13, 0)
    }

    /// Collection projects (4.13+).
    pub fn has_collections(self) -> bool {
        self >= DtVersion::new(4, 13, 0)
    }
}

impl fmt::Display for DtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_read_and_compared() {
        assert_eq!(DtVersion::parse("4.14.2"), Some(DtVersion::new(4, 14, 2)));
        assert_eq!(
            DtVersion::parse("4.13.0-SNAPSHOT"),
            Some(DtVersion::new(4, 13, 0))
        );
        assert_eq!(DtVersion::parse("5.6"), Some(DtVersion::new(5, 6, 0)));
        assert_eq!(DtVersion::parse("latest"), None);
        let old = DtVersion::OLDEST;
        assert!(!old.has_epss() && !old.tags_on_upload() && old.latest_field().is_none());
        assert_eq!(
            DtVersion::new(4, 12, 7).latest_field(),
            Some("isLatestProjectVersion")
        );
        assert!(!DtVersion::new(4, 12, 7).has_collections());
        assert_eq!(DtVersion::new(4, 14, 0).latest_field(), Some("isLatest"));
        assert!(DtVersion::new(4, 13, 1).has_collections());
    }
}
