//! CycloneDX JSON for one image, through the `cyclonedx-bom` model and its validation.
//!
//! Shape:
//! - `metadata.component`: the image (`container`, name = repository, version = platform
//!   manifest digest) with its names, digests, platform and diffIDs as properties;
//! - one `operating-system` component when the OS is known;
//! - one `library` component per package (`application` for a classified binary), with
//!   purl, licences, where it was found and, for OS packages, the `aquasecurity:trivy:*`
//!   properties Dependency-Track's Trivy analyzer reads; no guessed CPEs (Dependency-Track
//!   would prefer a guessed CPE's version to the purl's), only those a cataloger states
//!   (the binary classifiers', with the version found);
//! - `dependencies`: image → operating system → OS packages, and image → language packages;
//! - when the scan is incomplete (a limit hit, entries or records skipped): `compositions`
//!   with one `incomplete` aggregate whose assembly is the image, and one
//!   `nodebom:incomplete` property per reason in `metadata.properties`. A complete scan
//!   has neither.
//!
//! Everything but `serialNumber` and `metadata.timestamp` is a function of the input, so two
//! scans of one image give byte-identical documents otherwise.

use std::collections::{BTreeMap, BTreeSet};

use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::spdx::SpdxExpression;
use cyclonedx_bom::external_models::uri::{Purl, Uri};
use cyclonedx_bom::models::bom::BomReference;
use cyclonedx_bom::models::bom::{Bom, SpecVersion as CdxSpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components, Cpe};
use cyclonedx_bom::models::composition::{AggregateType, Composition, Compositions};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::license::{License, LicenseChoice, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::validation::Validate;
use sha2::{Digest, Sha256};

use super::purl::{self, Distro};
use super::{property, SpecVersion};
use crate::host::NodeFacts;
use crate::image::ResolvedImage;
use crate::license::{normalize, Normalized};
use crate::package::{FoundPackage, ImageContents, OsRelease, PackageKind, PROP_OS_PACKAGE};
use crate::{Error, Result};

/// What an SBOM describes: an image, or a node's own software.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Image(&'a ResolvedImage),
    /// The node, with the digest of its contents (see [`crate::host`]).
    Node {
        node: &'a NodeFacts,
        digest: &'a str,
    },
}

impl Subject<'_> {
    /// How errors name it.
    fn label(&self) -> String {
        match self {
            Subject::Image(image) => format!("image {}", image.manifest_digest),
            Subject::Node { digest, .. } => format!("node software {digest}"),
        }
    }
}

/// Builds the CycloneDX JSON document of an image.
///
/// The model is checked with `cyclonedx-bom`'s validation before it is written; an invalid
/// model (which would be a bug here, or data no CycloneDX document can hold) is an error.
pub fn build(
    image: &ResolvedImage,
    contents: &ImageContents,
    spec: SpecVersion,
) -> Result<Vec<u8>> {
    build_for(Subject::Image(image), contents, spec)
}

/// Builds the CycloneDX JSON document of an image or of a node's own software.
pub fn build_for(
    subject: Subject<'_>,
    contents: &ImageContents,
    spec: SpecVersion,
) -> Result<Vec<u8>> {
    let bom = assemble(subject, contents)?;

    let validation = bom.validate_version(CdxSpecVersion::V1_5);
    if validation.has_errors() {
        let errors: Vec<String> = validation
            .errors()
            .map(|(field, error)| format!("{field}: {error:?}"))
            .collect();
        return Err(Error::Sbom(format!(
            "{}: invalid CycloneDX model: {}",
            subject.label(),
            errors.join("; ")
        )));
    }

    let mut json = Vec::new();
    bom.output_as_json_v1_5(&mut json)
        .map_err(|e| Error::Sbom(format!("{}: writing CycloneDX JSON: {e}", subject.label())))?;

    match spec {
        SpecVersion::V1_5 => Ok(json),
        SpecVersion::V1_6 => relabel_as_1_6(&json).map_err(|e| {
            Error::Sbom(format!(
                "{}: relabelling as CycloneDX 1.6: {e}",
                subject.label()
            ))
        }),
    }
}

/// `cyclonedx-bom` 0.8 writes up to 1.5. CycloneDX 1.6 only adds optional fields and enum
/// values to 1.5 (its schema accepts every 1.5 construct used here, the deprecated ones
/// included), so a valid 1.5 document becomes a valid 1.6 document by changing its
/// `specVersion`, and `$schema` when present. The tests check the result against the
/// official 1.6 JSON schema.
fn relabel_as_1_6(json: &[u8]) -> serde_json::Result<Vec<u8>> {
    let mut document: serde_json::Value = serde_json::from_slice(json)?;
    if let Some(object) = document.as_object_mut() {
        object.insert("specVersion".into(), "1.6".into());
        if object.contains_key("$schema") {
            object.insert(
                "$schema".into(),
                "http://cyclonedx.org/schema/bom-1.6.schema.json".into(),
            );
        }
    }
    serde_json::to_vec_pretty(&document)
}

/// The BOM model of an image or a node.
fn assemble(subject: Subject<'_>, contents: &ImageContents) -> Result<Bom> {
    let distro = contents.os.as_ref().and_then(Distro::from_os_release);

    let (image_ref, image_component, kernel) = match subject {
        Subject::Image(image) => {
            let (bom_ref, component) = image_component(image);
            (bom_ref, component, None)
        }
        Subject::Node { node, digest } => {
            let (bom_ref, component) = node_component(node, digest);
            (bom_ref, component, kernel_component(node))
        }
    };
    let os = match (&distro, &contents.os) {
        (Some(distro), Some(os)) => Some(os_component(distro, os)),
        _ => None,
    };

    // The purls of the OS packages, for the programs they installed (`osPackage`).
    let os_purls: BTreeMap<&str, String> = contents
        .packages
        .iter()
        .filter(|found| found.package.identity.kind == PackageKind::Os)
        .filter_map(|found| {
            let purl = purl::build(&found.package, distro.as_ref()).ok()?;
            Some((found.package.name.as_str(), purl.to_string()))
        })
        .collect();
    // Keyed by bom-ref: sorts the packages and drops exact duplicates (the same package
    // reported twice from the same file of the same layer).
    let mut packages: BTreeMap<String, (bool, Component)> = BTreeMap::new();
    for found in &contents.packages {
        let (bom_ref, component) = package_component(found, distro.as_ref(), &os_purls);
        packages
            .entry(bom_ref)
            .or_insert((found.package.identity.kind == PackageKind::Os, component));
    }

    // image → operating system → OS packages; image → everything else (and the OS
    // packages too when the OS is unknown).
    let mut image_depends_on: Vec<String> = os
        .iter()
        .chain(&kernel)
        .map(|(bom_ref, _)| bom_ref.clone())
        .collect();
    let mut os_depends_on = Vec::new();
    for (bom_ref, (is_os, _)) in &packages {
        if *is_os && os.is_some() {
            os_depends_on.push(bom_ref.clone());
        } else {
            image_depends_on.push(bom_ref.clone());
        }
    }
    image_depends_on.sort();
    let mut dependencies = vec![Dependency {
        dependency_ref: image_ref.clone(),
        dependencies: image_depends_on,
    }];

    let mut components = Vec::with_capacity(packages.len() + 2);
    if let Some((_, kernel)) = kernel {
        components.push(kernel);
    }
    if let Some((os_ref, os_component)) = os {
        dependencies.push(Dependency {
            dependency_ref: os_ref,
            dependencies: os_depends_on,
        });
        components.push(os_component);
    }
    components.extend(packages.into_values().map(|(_, component)| component));
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));

    let mut metadata = Metadata::new().map_err(|e| Error::Sbom(format!("BOM timestamp: {e}")))?;
    metadata.tools = Some(Tools::Object {
        services: None,
        components: Some(Components(vec![Component::new(
            Classification::Application,
            "nodebom-agent",
            env!("CARGO_PKG_VERSION"),
            None,
        )])),
    });
    metadata.component = Some(image_component);
    let compositions = incompleteness(&contents.incomplete, &image_ref, &mut metadata);

    Ok(Bom {
        spec_version: CdxSpecVersion::V1_5,
        metadata: Some(metadata),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        compositions,
        ..Bom::default()
    })
}

/// How an incomplete scan is stated: the image's assembly is `incomplete`, and each
/// reason is one `nodebom:incomplete` property of the metadata. A complete scan states
/// nothing (no `compositions`, no such property), so its document is as it always was.
fn incompleteness(
    reasons: &[String],
    image_ref: &str,
    metadata: &mut Metadata,
) -> Option<Compositions> {
    if reasons.is_empty() {
        return None;
    }
    metadata.properties = Some(Properties(
        reasons
            .iter()
            .map(|reason| Property::new(property::INCOMPLETE, reason))
            .collect(),
    ));
    Some(Compositions(vec![Composition {
        bom_ref: None,
        aggregate: AggregateType::Incomplete,
        assemblies: Some(vec![BomReference::new(image_ref)]),
        dependencies: None,
        vulnerabilities: None,
        signature: None,
    }]))
}

/// The image, root of the dependency graph, and its bom-ref.
fn image_component(image: &ResolvedImage) -> (String, Component) {
    let bom_ref = format!("image:{}", image.manifest_digest);
    let mut component = Component::new(
        Classification::Container,
        &image.repository,
        &image.manifest_digest,
        Some(bom_ref.clone()),
    );
    let names: BTreeSet<&str> = image.names.iter().map(String::as_str).collect();
    let mut properties: Vec<Property> = names
        .into_iter()
        .map(|name| Property::new(property::IMAGE_NAME, name))
        .collect();
    properties.push(Property::new(property::CONFIG_DIGEST, &image.config_digest));
    if let Some(index) = &image.index_digest {
        properties.push(Property::new(property::INDEX_DIGEST, index));
    }
    properties.push(Property::new(property::PLATFORM, &image.platform));
    // Layer order is meaningful, so the diffIDs keep it instead of being sorted.
    properties.extend(
        image
            .diff_ids
            .iter()
            .map(|diff_id| Property::new(property::DIFF_ID, diff_id)),
    );
    component.properties = Some(Properties(properties));
    (bom_ref, component)
}

/// The node, root of the dependency graph of its own software, and its bom-ref: a
/// `platform` named by its OS, versioned by the digest of its contents.
fn node_component(node: &NodeFacts, digest: &str) -> (String, Component) {
    let bom_ref = format!("node:{digest}");
    let name = if node.os_name.is_empty() {
        "node"
    } else {
        node.os_name.as_str()
    };
    let mut component = Component::new(
        Classification::Platform,
        name,
        digest,
        Some(bom_ref.clone()),
    );
    let mut properties = vec![Property::new(property::NODE_ARCH, &node.arch)];
    if !node.kernel.is_empty() {
        properties.push(Property::new(property::NODE_KERNEL, &node.kernel));
    }
    component.properties = Some(Properties(properties));
    (bom_ref, component)
}

/// The running kernel as an `operating-system` component named `linux`, versioned by its
/// release (`6.1.0-18-amd64`). No purl nor CPE: a distribution kernel's release is not
/// the upstream version a CPE would be matched on; its OS package (`linux-image-…`) is
/// what vulnerability data covers.
fn kernel_component(node: &NodeFacts) -> Option<(String, Component)> {
    if node.kernel.is_empty() {
        return None;
    }
    let bom_ref = format!("kernel:{}", node.kernel);
    let mut component = Component::new(
        Classification::OperatingSystem,
        "linux",
        &node.kernel,
        Some(bom_ref.clone()),
    );
    component.description = Some(NormalizedString::new("Linux kernel"));
    component.properties = Some(Properties(vec![Property::new(
        property::NODE_ARCH,
        &node.arch,
    )]));
    Some((bom_ref, component))
}

/// The `operating-system` component, named so that Dependency-Track's Trivy analyzer pairs
/// it with the OS packages' `distro` qualifier (`<name>-<version>`), and its bom-ref.
fn os_component(distro: &Distro, os: &OsRelease) -> (String, Component) {
    let bom_ref = match &distro.version {
        Some(version) => format!("os:{}-{version}", distro.family),
        None => format!("os:{}", distro.family),
    };
    let mut component = Component::new(
        Classification::OperatingSystem,
        &distro.family,
        "",
        Some(bom_ref.clone()),
    );
    component.version = distro.version.as_deref().map(NormalizedString::new);
    component.description = os
        .pretty_name
        .as_deref()
        .filter(|name| !name.trim().is_empty())
        .map(NormalizedString::new);
    if let Some(id) = os.id.as_deref() {
        component.properties = Some(Properties(vec![Property::new(property::OS_ID, id)]));
    }
    (bom_ref, component)
}

/// One package's component and its bom-ref. A package whose purl cannot be built (no
/// name) is kept, without a purl, rather than failing the whole image.
fn package_component(
    found: &FoundPackage,
    distro: Option<&Distro>,
    os_purls: &BTreeMap<&str, String>,
) -> (String, Component) {
    let package = &found.package;
    let purl = purl::build(package, distro).ok();
    let identity = purl.as_ref().map(ToString::to_string).unwrap_or_else(|| {
        format!(
            "{:?}/{}@{}",
            package.ecosystem,
            package.name,
            package.full_version()
        )
    });
    let id = package_id(&identity, found);
    // Like syft: the purl plus a `package-id` qualifier, unique per location and stable
    // across runs.
    let bom_ref = match purl.clone() {
        Some(mut with_id) => match with_id.add_qualifier("package-id", id.clone()) {
            Ok(with_id) => with_id.to_string(),
            Err(_) => format!("nodebom-package-{id}"),
        },
        None => format!("nodebom-package-{id}"),
    };

    let classification = match package.identity.kind {
        PackageKind::Application => Classification::Application,
        PackageKind::Os | PackageKind::Library => Classification::Library,
    };
    let mut component = Component::new(classification, &package.name, "", Some(bom_ref.clone()));
    let version = package.full_version();
    component.version = (!version.is_empty()).then(|| NormalizedString::new(&version));
    component.purl = purl.and_then(|p| p.to_string().parse::<Purl>().ok());
    component.cpe = package.cpe.as_deref().map(Cpe::new);
    component.licenses = licenses(&package.licenses);
    component.properties = Some(Properties(package_properties(found, distro, os_purls)));
    (bom_ref, component)
}

/// A short, stable id for one package found at one place.
fn package_id(identity: &str, found: &FoundPackage) -> String {
    let mut hasher = Sha256::new();
    for part in [
        identity,
        &found.layer_diff_id,
        &found.path,
        &found.cataloger,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// A package's properties, sorted by name then value.
fn package_properties(
    found: &FoundPackage,
    distro: Option<&Distro>,
    os_purls: &BTreeMap<&str, String>,
) -> Vec<Property> {
    let package = &found.package;
    let mut properties: BTreeSet<(String, String)> = BTreeSet::new();
    let mut add = |name: &str, value: String| {
        if !value.is_empty() {
            properties.insert((name.to_string(), value));
        }
    };
    add(property::CATALOGER, found.cataloger.clone());
    add(property::LAYER_DIFF_ID, found.layer_diff_id.clone());
    add(property::PATH, found.path.clone());
    for (key, value) in &package.properties {
        // The OS package that installed the program, by its purl when it is visible.
        let value = match os_purls.get(value.as_str()) {
            Some(purl) if key == PROP_OS_PACKAGE => purl.clone(),
            _ => value.clone(),
        };
        add(&format!("{}{key}", property::PACKAGE_PREFIX), value);
    }

    // Trivy's package types: the OS family for OS packages (only meaningful when the OS is
    // known), the cataloger's for the others.
    let identity = &package.identity;
    let pkg_type = match identity.kind {
        PackageKind::Os => distro.map(|d| d.family.clone()),
        PackageKind::Library | PackageKind::Application => identity.trivy_type.clone(),
    };
    if let Some(pkg_type) = pkg_type {
        add(property::TRIVY_PKG_TYPE, pkg_type);
    }
    if let Some(source) = &identity.source {
        add(property::TRIVY_SRC_NAME, source.name.clone());
        add(property::TRIVY_SRC_VERSION, source.version.clone());
        add(
            property::TRIVY_SRC_RELEASE,
            source.release.clone().unwrap_or_default(),
        );
        // Trivy leaves out a zero epoch.
        if let Some(epoch) = source.epoch.filter(|&epoch| epoch != 0) {
            add(property::TRIVY_SRC_EPOCH, epoch.to_string());
        }
    }

    properties
        .into_iter()
        .map(|(name, value)| Property::new(name, &value))
        .collect()
}

/// CycloneDX licences of a package. CycloneDX 1.5 takes either a list of licences (SPDX id
/// or name) or a single SPDX expression, so: SPDX ids as ids, other text as names (licence
/// URLs with their `url` too), and compound expressions as one expression when they are
/// all there is, else as names.
/// What counts as an id or an expression is [`crate::license::normalize`]'s call.
fn licenses(values: &[String]) -> Option<Licenses> {
    let mut normalized: Vec<Normalized> = values.iter().filter_map(|v| normalize(v)).collect();
    // By text, so that ids and names interleave alphabetically; `GPL-2` and `GPL-2.0` are
    // one licence once normalised.
    normalized.sort_by(|a, b| a.as_str().cmp(b.as_str()).then_with(|| a.cmp(b)));
    normalized.dedup();

    let mut listed = Vec::new();
    let mut expressions = Vec::new();
    for value in &normalized {
        match value {
            Normalized::Id(id) => listed.push(LicenseChoice::License(License::license_id(id))),
            Normalized::Name(name) => {
                listed.push(LicenseChoice::License(License::named_license(name)))
            }
            // The schema wants an id or a name; the URL is both the name and the `url`, the
            // latter when the model's URL check takes it (`http://a:b:c/` is only a name).
            Normalized::Url(url) => listed.push(LicenseChoice::License(License {
                url: Uri::try_from(url.clone()).ok(),
                ..License::named_license(url)
            })),
            Normalized::Expression(expression) => expressions.push(expression.as_str()),
        }
    }

    let choices = if expressions.is_empty() {
        listed
    } else if listed.is_empty() {
        // Several declared expressions all apply, as syft reads them.
        let combined = match expressions.as_slice() {
            [single] => single.to_string(),
            many => many
                .iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(" AND "),
        };
        match SpdxExpression::try_from(combined) {
            Ok(expression) => vec![LicenseChoice::Expression(expression)],
            Err(_) => named(expressions),
        }
    } else {
        listed.extend(named(expressions));
        listed
    };
    (!choices.is_empty()).then_some(Licenses(choices))
}

fn named(values: Vec<&str>) -> Vec<LicenseChoice> {
    values
        .into_iter()
        .map(|value| LicenseChoice::License(License::named_license(value)))
        .collect()
}
