//! dpkg cataloger (not implemented yet).

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

pub struct DpkgCataloger;

impl Cataloger for DpkgCataloger {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, _file: &FileMeta<'_>) -> bool {
        false
    }

    fn catalog(&self, _file: &FileMeta<'_>, _content: Content<'_>) -> Result<Findings, CatalogError> {
        Ok(Findings::default())
    }
}
