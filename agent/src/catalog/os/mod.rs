//! os-release cataloger (not implemented yet).

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

pub struct OsReleaseCataloger;

impl Cataloger for OsReleaseCataloger {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn wants(&self, _file: &FileMeta<'_>) -> bool {
        false
    }

    fn catalog(&self, _file: &FileMeta<'_>, _content: Content<'_>) -> Result<Findings, CatalogError> {
        Ok(Findings::default())
    }
}
