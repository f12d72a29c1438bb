//! go-binary cataloger (not implemented yet).

use super::{CatalogError, Cataloger, Content, FileMeta};
use crate::package::Findings;

pub struct GoBinaryCataloger;

impl Cataloger for GoBinaryCataloger {
    fn name(&self) -> &'static str {
        "go-binary"
    }

    fn wants(&self, _file: &FileMeta<'_>) -> bool {
        false
    }

    fn catalog(&self, _file: &FileMeta<'_>, _content: Content<'_>) -> Result<Findings, CatalogError> {
        Ok(Findings::default())
    }
}
