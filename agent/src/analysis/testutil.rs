//! Test-only catalogers, so the analysis and merge tests do not depend on the real ones.

use std::sync::Arc;

use super::{analyze_layer, LayerAnalysis};
use crate::catalog::{CatalogError, Cataloger, Content, FileMeta};
use crate::layers::blob::BlobLayer;
use crate::layers::testutil::{digest, LayerTar};
use crate::layers::Limits;
use crate::package::{Ecosystem, Findings, OsRelease, Package, StatedLicenses};

/// Wants files ending in `.pkg`; each line `name version` is one package.
pub struct PkgCataloger;

/// The same as [`PkgCataloger`] under another name: two catalogers wanting one file.
pub struct TwinCataloger;

/// Wants files ending in `os-release`; reads its `ID=` line.
pub struct OsCataloger;

fn parse_packages(content: Content<'_>) -> Result<Findings, CatalogError> {
    let data = content.read_bounded(1 << 20)?;
    let text = String::from_utf8_lossy(&data);
    let mut packages = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (name, version) = line
            .split_once(' ')
            .ok_or_else(|| CatalogError::Malformed(format!("no version in {line:?}")))?;
        packages.push(Package::new(Ecosystem::Deb, name, version));
    }
    Ok(Findings::packages(packages))
}

impl Cataloger for PkgCataloger {
    fn name(&self) -> &'static str {
        "test-pkg"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".pkg")
    }

    fn catalog(&self, _: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        parse_packages(content)
    }
}

impl Cataloger for TwinCataloger {
    fn name(&self) -> &'static str {
        "test-twin"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".pkg")
    }

    fn catalog(&self, _: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        parse_packages(content)
    }
}

impl Cataloger for OsCataloger {
    fn name(&self) -> &'static str {
        "test-os"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with("os-release")
    }

    fn catalog(&self, _: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(1 << 16)?;
        let id = String::from_utf8_lossy(&data)
            .lines()
            .find_map(|line| line.strip_prefix("ID=").map(str::to_owned));
        Ok(Findings {
            os: id.map(|id| OsRelease {
                id: Some(id),
                ..OsRelease::default()
            }),
            ..Findings::default()
        })
    }
}

/// Wants files ending in `.lic`; each line `name licence` states a licence of the Deb
/// package `name` (as dpkg's copyright files do).
pub struct LicenseCataloger;

impl Cataloger for LicenseCataloger {
    fn name(&self) -> &'static str {
        "test-license"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.path.ends_with(".lic")
    }

    fn catalog(&self, _: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        let data = content.read_bounded(1 << 16)?;
        let stated_licenses = String::from_utf8_lossy(&data)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(package, license)| StatedLicenses {
                ecosystem: Ecosystem::Deb,
                package: package.to_owned(),
                licenses: vec![license.to_owned()],
            })
            .collect();
        Ok(Findings {
            stated_licenses,
            ..Findings::default()
        })
    }
}

/// [`PkgCataloger`], [`OsCataloger`] and [`LicenseCataloger`].
pub fn catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(PkgCataloger),
        Box::new(OsCataloger),
        Box::new(LicenseCataloger),
    ]
}

/// `name version` of what [`PkgCataloger`] found at `path` in one layer.
pub fn pkg(analysis: &LayerAnalysis, path: &str) -> Vec<String> {
    analysis
        .files
        .get(path)
        .into_iter()
        .flatten()
        .filter(|found| found.cataloger == "test-pkg")
        .flat_map(|found| &found.findings.packages)
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

/// Analyses one uncompressed layer tar with `catalogers`: its diffID and its analysis,
/// as [`crate::analysis::merge`] takes them.
pub fn analysed(tar: LayerTar, catalogers: &[Box<dyn Cataloger>]) -> (String, Arc<LayerAnalysis>) {
    let tar = tar.finish();
    let diff_id = digest(&tar);
    let mut source = BlobLayer::new(
        diff_id.clone(),
        diff_id.clone(),
        tar.as_slice(),
        Limits::default(),
    );
    let analysis = analyze_layer(&mut source, catalogers).unwrap();
    (diff_id, Arc::new(analysis))
}
