//! The whole BOM of a realistic image: structure, Dependency-Track fields, determinism and
//! conformance to the official CycloneDX 1.5 and 1.6 JSON schemas.

use std::collections::{BTreeMap, BTreeSet};

use nodebom_proto::digest::Digest;
use serde_json::Value;

use super::{build, SpecVersion};
use crate::catalog;
use crate::image::{LayerDescriptor, ResolvedImage};
use crate::package::{
    Ecosystem, FoundPackage, Identity, ImageContents, OsRelease, Package, SourcePackage,
};

const SPDX_SCHEMA: &str = include_str!("testdata/schema/spdx.SNAPSHOT.schema.json");
const JSF_SCHEMA: &str = include_str!("testdata/schema/jsf-0.82.SNAPSHOT.schema.json");
const BOM_1_5_SCHEMA: &str = include_str!("testdata/schema/bom-1.5.SNAPSHOT.schema.json");
const BOM_1_6_SCHEMA: &str = include_str!("testdata/schema/bom-1.6.SNAPSHOT.schema.json");

fn digest(seed: &str) -> String {
    Digest::sha256_of(seed.as_bytes()).into()
}

fn image() -> ResolvedImage {
    let diff_ids: Vec<String> = ["debian", "python", "app"]
        .iter()
        .map(|l| digest(l))
        .collect();
    ResolvedImage {
        repository: "registry.example.com/shop/checkout".into(),
        names: vec![
            // Unsorted on purpose: containerd lists images in no particular order.
            format!("registry.example.com/shop/checkout@{}", digest("index")),
            "registry.example.com/shop/checkout:1.4.2".into(),
        ],
        manifest_digest: digest("manifest"),
        index_digest: Some(digest("index")),
        config_digest: digest("config"),
        platform: "linux/amd64".into(),
        layers: diff_ids
            .iter()
            .enumerate()
            .map(|(i, diff_id)| LayerDescriptor {
                digest: digest(&format!("blob-{diff_id}")),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                size: 30_000_000 + i as u64,
            })
            .collect(),
        diff_ids,
        snapshotter: Some("overlayfs".into()),
    }
}

fn debian_12() -> OsRelease {
    // /etc/os-release of debian:12, VERSION_ID refined by /etc/debian_version.
    OsRelease {
        id: Some("debian".into()),
        id_like: Vec::new(),
        version_id: Some("12.5".into()),
        version_codename: Some("bookworm".into()),
        name: Some("Debian GNU/Linux".into()),
        pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
    }
}

fn found(package: Package, cataloger: &str, layer: &str, path: &str) -> FoundPackage {
    FoundPackage {
        package,
        cataloger: cataloger.into(),
        layer_diff_id: digest(layer),
        path: path.into(),
    }
}

fn deb(
    name: &str,
    version: &str,
    epoch: Option<u32>,
    source: Option<SourcePackage>,
    licenses: &[&str],
) -> FoundPackage {
    let mut package = Package::new(Ecosystem::Deb, name, version);
    package.epoch = epoch;
    package.arch = Some("amd64".into());
    package.source = source;
    package.licenses = licenses.iter().map(|l| l.to_string()).collect();
    found(
        package.with_identity(catalog::dpkg::identity),
        "dpkg",
        "debian",
        "/var/lib/dpkg/status",
    )
}

fn source(name: &str, version: Option<&str>) -> Option<SourcePackage> {
    Some(SourcePackage {
        name: name.into(),
        version: version.map(str::to_string),
        ..SourcePackage::default()
    })
}

/// An ecosystem and the `identity` of the cataloger that owns it.
type Cataloged = (Ecosystem, fn(&Package) -> Identity);
const PYTHON: Cataloged = (Ecosystem::Python, catalog::python::identity);
const NPM: Cataloged = (Ecosystem::Npm, catalog::npm::identity);
const GO: Cataloged = (Ecosystem::Go, catalog::golang::identity);
const CONDA: Cataloged = (Ecosystem::Conda, catalog::conda::identity);

fn language(
    (ecosystem, identity): Cataloged,
    name: &str,
    version: &str,
    licenses: &[&str],
    cataloger: &str,
    layer: &str,
    path: &str,
) -> FoundPackage {
    let mut package = Package::new(ecosystem, name, version);
    package.licenses = licenses.iter().map(|l| l.to_string()).collect();
    found(package.with_identity(identity), cataloger, layer, path)
}

/// Debian 12 with pip-installed Python packages, an npm app and a Go binary.
fn contents() -> ImageContents {
    let mut cobra = language(
        GO,
        "github.com/spf13/cobra",
        "v1.8.0",
        &[],
        "go-binary",
        "app",
        "/usr/local/bin/checkout",
    );
    cobra.package.properties.insert(
        "go_h1".into(),
        "h1:7aJaZx1B85qltLMc546zn58BxxfZdR/W22ej9CFoEf0=".into(),
    );
    ImageContents {
        os: Some(debian_12()),
        packages: vec![
            deb(
                "libc6",
                "2.36-9+deb12u4",
                None,
                source("glibc", None),
                &["GPL-2", "LGPL-2.1"],
            ),
            deb(
                "login",
                "4.13+dfsg1-1",
                Some(1),
                source("shadow", None),
                &["GPL-2.0-or-later"],
            ),
            deb(
                "bsdutils",
                "2.38.1-5+deb12u3",
                Some(1),
                source("util-linux", Some("2.38.1-5+deb12u3")),
                &[],
            ),
            language(
                PYTHON,
                "requests",
                "2.31.0",
                &["Apache-2.0"],
                "python",
                "python",
                "/usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
            ),
            language(
                PYTHON,
                "cryptography",
                "42.0.5",
                &["Apache-2.0 OR BSD-3-Clause"],
                "python",
                "python",
                "/usr/local/lib/python3.11/site-packages/cryptography-42.0.5.dist-info/METADATA",
            ),
            language(
                NPM,
                "@babel/core",
                "7.24.0",
                &["MIT"],
                "npm",
                "app",
                "/app/node_modules/@babel/core/package.json",
            ),
            cobra,
            language(
                GO,
                "stdlib",
                "go1.22.1",
                &["BSD-3-Clause"],
                "go-binary",
                "app",
                "/usr/local/bin/checkout",
            ),
        ],
        incomplete: Vec::new(),
    }
}

fn parse(json: &[u8]) -> Value {
    serde_json::from_slice(json).unwrap()
}

fn components(bom: &Value) -> &Vec<Value> {
    bom["components"].as_array().unwrap()
}

fn component<'a>(bom: &'a Value, name: &str) -> &'a Value {
    components(bom)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn properties(component: &Value) -> Vec<(String, String)> {
    component["properties"]
        .as_array()
        .map(|props| {
            props
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn property<'a>(props: &'a [(String, String)], name: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn dependencies(bom: &Value) -> BTreeMap<String, BTreeSet<String>> {
    bom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let depends_on = d["dependsOn"]
                .as_array()
                .map(|refs| {
                    refs.iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (d["ref"].as_str().unwrap().to_string(), depends_on)
        })
        .collect()
}

fn bom_ref(component: &Value) -> String {
    component["bom-ref"].as_str().unwrap().to_string()
}

/// Violations of an official schema, with its `$ref`s to the SPDX and JSF schemas resolved
/// from the local copies (no network).
fn schema_errors(schema: &str, document: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(schema).unwrap();
    let registry = jsonschema::Registry::new()
        .add(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            serde_json::from_str::<Value>(SPDX_SCHEMA).unwrap(),
        )
        .unwrap()
        .add(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            serde_json::from_str::<Value>(JSF_SCHEMA).unwrap(),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_schema_valid(schema: &str, document: &Value) {
    let errors = schema_errors(schema, document);
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

/// The document with its two per-run fields blanked, as bytes.
fn without_run_fields(json: &[u8]) -> String {
    let bom = parse(json);
    let text = String::from_utf8(json.to_vec()).unwrap();
    text.replace(bom["serialNumber"].as_str().unwrap(), "SERIAL")
        .replace(bom["metadata"]["timestamp"].as_str().unwrap(), "TIMESTAMP")
}

#[test]
fn bom_is_valid_cyclonedx_1_5() {
    let json = build(&image(), &contents(), SpecVersion::V1_5).unwrap();
    let bom = parse(&json);
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["version"], 1);
}

#[test]
fn bom_1_6_is_valid_against_the_1_6_schema_and_otherwise_identical() {
    let bom_1_6 = parse(&build(&image(), &contents(), SpecVersion::V1_6).unwrap());
    assert_schema_valid(BOM_1_6_SCHEMA, &bom_1_6);
    assert_eq!(bom_1_6["specVersion"], "1.6");

    let mut bom_1_5 = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    bom_1_5["specVersion"] = "1.6".into();
    bom_1_5["serialNumber"] = bom_1_6["serialNumber"].clone();
    bom_1_5["metadata"]["timestamp"] = bom_1_6["metadata"]["timestamp"].clone();
    assert_eq!(bom_1_5, bom_1_6);
}

#[test]
fn serial_number_is_a_lower_case_uuid_urn_and_timestamp_is_rfc3339() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let serial = bom["serialNumber"].as_str().unwrap();
    let uuid = serial.strip_prefix("urn:uuid:").unwrap();
    assert_eq!(uuid::Uuid::parse_str(uuid).unwrap().to_string(), uuid);
    let timestamp = bom["metadata"]["timestamp"].as_str().unwrap();
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).unwrap();
}

#[test]
fn tool_is_nodebom_agent_with_its_version() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let tool = &bom["metadata"]["tools"]["components"][0];
    assert_eq!(tool["type"], "application");
    assert_eq!(tool["name"], "nodebom-agent");
    assert_eq!(tool["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn image_is_the_container_component_with_names_digests_and_layers() {
    let image = image();
    let bom = parse(&build(&image, &contents(), SpecVersion::V1_5).unwrap());
    let root = &bom["metadata"]["component"];
    assert_eq!(root["type"], "container");
    assert_eq!(root["name"], "registry.example.com/shop/checkout");
    assert_eq!(root["version"], image.manifest_digest.as_str());

    let props = properties(root);
    let names: Vec<&str> = props
        .iter()
        .filter(|(n, _)| n == "nodebom:image_name")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "registry.example.com/shop/checkout:1.4.2".to_string(),
            format!("registry.example.com/shop/checkout@{}", digest("index")),
        ]
    );
    assert_eq!(
        property(&props, "nodebom:config_digest"),
        Some(digest("config").as_str())
    );
    assert_eq!(
        property(&props, "nodebom:index_digest"),
        Some(digest("index").as_str())
    );
    assert_eq!(property(&props, "nodebom:platform"), Some("linux/amd64"));
    let diff_ids: Vec<&str> = props
        .iter()
        .filter(|(n, _)| n == "nodebom:diff_id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(diff_ids, image.diff_ids, "diffIDs keep layer order");
}

#[test]
fn operating_system_component_is_named_for_the_trivy_analyzer() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let os: Vec<&Value> = components(&bom)
        .iter()
        .filter(|c| c["type"] == "operating-system")
        .collect();
    assert_eq!(os.len(), 1);
    assert_eq!(os[0]["name"], "debian");
    assert_eq!(os[0]["version"], "12.5");
    assert_eq!(os[0]["description"], "Debian GNU/Linux 12 (bookworm)");
    // Dependency-Track pairs `<name>-<version>` with the packages' `distro` qualifier.
    let libc6 = component(&bom, "libc6");
    assert!(libc6["purl"]
        .as_str()
        .unwrap()
        .contains("distro=debian-12.5"));
}

#[test]
fn packages_carry_exact_purls_and_full_versions() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let expected = [
        ("libc6", "2.36-9+deb12u4", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5&upstream=glibc"),
        ("login", "1:4.13+dfsg1-1", "pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1&upstream=shadow"),
        (
            "bsdutils",
            "1:2.38.1-5+deb12u3",
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12.5&epoch=1&upstream=util-linux%402.38.1-5%2Bdeb12u3",
        ),
        ("requests", "2.31.0", "pkg:pypi/requests@2.31.0"),
        ("cryptography", "42.0.5", "pkg:pypi/cryptography@42.0.5"),
        ("@babel/core", "7.24.0", "pkg:npm/%40babel/core@7.24.0"),
        ("github.com/spf13/cobra", "v1.8.0", "pkg:golang/github.com/spf13/cobra@v1.8.0"),
        ("stdlib", "go1.22.1", "pkg:golang/stdlib@1.22.1"),
    ];
    for (name, version, purl) in expected {
        let c = component(&bom, name);
        assert_eq!(c["type"], "library", "{name}");
        assert_eq!(c["version"], version, "{name}");
        assert_eq!(c["purl"], purl, "{name}");
        assert!(c.get("cpe").is_none(), "{name} must have no CPE");
    }
    assert_eq!(
        components(&bom).len(),
        expected.len() + 1,
        "the packages and the OS"
    );
}

#[test]
fn classified_binary_is_an_application_with_a_generic_purl_and_its_cpe() {
    let mut java = Package::new(Ecosystem::Binary, "java/jre", "17.0.15+6-Debian-1deb12u1");
    java.cpe = Some(r"cpe:2.3:a:oracle:openjdk:17.0.15\+6-Debian-1deb12u1:*:*:*:*:*:*:*".into());
    let contents = ImageContents {
        os: Some(debian_12()),
        packages: vec![found(
            java.with_identity(catalog::binary::identity),
            "binary-classifier",
            "jdk",
            "/opt/java/openjdk/bin/java",
        )],
        incomplete: Vec::new(),
    };
    for (spec, schema) in [
        (SpecVersion::V1_5, BOM_1_5_SCHEMA),
        (SpecVersion::V1_6, BOM_1_6_SCHEMA),
    ] {
        let bom = parse(&build(&image(), &contents, spec).unwrap());
        assert_schema_valid(schema, &bom);
        let c = component(&bom, "java/jre");
        assert_eq!(c["type"], "application");
        assert_eq!(
            c["purl"],
            "pkg:generic/java/jre@17.0.15%2B6-Debian-1deb12u1"
        );
        assert_eq!(
            c["cpe"],
            r"cpe:2.3:a:oracle:openjdk:17.0.15\+6-Debian-1deb12u1:*:*:*:*:*:*:*"
        );
        let props = properties(c);
        assert_eq!(property(&props, "aquasecurity:trivy:PkgType"), None);
    }
}

#[test]
fn os_packages_carry_source_properties_for_trivy() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());

    let login = properties(component(&bom, "login"));
    assert_eq!(
        property(&login, "aquasecurity:trivy:PkgType"),
        Some("debian")
    );
    assert_eq!(
        property(&login, "aquasecurity:trivy:SrcName"),
        Some("shadow")
    );
    assert_eq!(
        property(&login, "aquasecurity:trivy:SrcVersion"),
        Some("4.13+dfsg1")
    );
    assert_eq!(property(&login, "aquasecurity:trivy:SrcRelease"), Some("1"));
    assert_eq!(property(&login, "aquasecurity:trivy:SrcEpoch"), Some("1"));

    let bsdutils = properties(component(&bom, "bsdutils"));
    assert_eq!(
        property(&bsdutils, "aquasecurity:trivy:SrcName"),
        Some("util-linux")
    );
    assert_eq!(
        property(&bsdutils, "aquasecurity:trivy:SrcVersion"),
        Some("2.38.1")
    );
    assert_eq!(
        property(&bsdutils, "aquasecurity:trivy:SrcRelease"),
        Some("5+deb12u3")
    );
    assert_eq!(
        property(&bsdutils, "aquasecurity:trivy:SrcEpoch"),
        None,
        "the source version has no epoch"
    );

    let requests = properties(component(&bom, "requests"));
    assert_eq!(
        property(&requests, "aquasecurity:trivy:PkgType"),
        Some("python-pkg")
    );
    assert_eq!(property(&requests, "aquasecurity:trivy:SrcName"), None);
    assert_eq!(
        property(
            &properties(component(&bom, "@babel/core")),
            "aquasecurity:trivy:PkgType"
        ),
        Some("node-pkg")
    );
    assert_eq!(
        property(
            &properties(component(&bom, "stdlib")),
            "aquasecurity:trivy:PkgType"
        ),
        Some("gobinary")
    );
}

#[test]
fn packages_say_where_they_were_found_with_sorted_properties() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let cobra = properties(component(&bom, "github.com/spf13/cobra"));
    assert_eq!(property(&cobra, "nodebom:cataloger"), Some("go-binary"));
    assert_eq!(
        property(&cobra, "nodebom:layer_diff_id"),
        Some(digest("app").as_str())
    );
    assert_eq!(
        property(&cobra, "nodebom:path"),
        Some("/usr/local/bin/checkout")
    );
    assert_eq!(
        property(&cobra, "nodebom:go_h1"),
        Some("h1:7aJaZx1B85qltLMc546zn58BxxfZdR/W22ej9CFoEf0=")
    );
    for c in components(&bom) {
        let props = properties(c);
        let mut sorted = props.clone();
        sorted.sort();
        assert_eq!(props, sorted, "{}", c["name"]);
    }
}

#[test]
fn licenses_are_spdx_ids_names_or_one_expression() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    assert_eq!(
        component(&bom, "libc6")["licenses"],
        // Debian's `GPL-2` and the deprecated `LGPL-2.1`, as syft 1.18 names them.
        serde_json::json!([{"license": {"id": "GPL-2.0-only"}}, {"license": {"id": "LGPL-2.1-only"}}])
    );
    assert_eq!(
        component(&bom, "requests")["licenses"],
        serde_json::json!([{"license": {"id": "Apache-2.0"}}])
    );
    assert_eq!(
        component(&bom, "cryptography")["licenses"],
        serde_json::json!([{"expression": "Apache-2.0 OR BSD-3-Clause"}])
    );
    assert!(component(&bom, "bsdutils").get("licenses").is_none());
}

#[test]
fn stated_licences_are_normalised_and_the_bom_stays_valid() {
    let mut contents = contents();
    for (name, licenses) in [
        ("lower", &["mit", "GPLv2"][..]),
        (
            "urls",
            &[
                "http://www.apache.org/licenses/LICENSE-2.0.txt",
                "https://example.com/LICENSE?x=1&y=2",
                "http://a:b:c/LICENSE",
            ][..],
        ),
        (
            "debian-names",
            &["GPL-2+", "Expat", "GPL-2.0+", "public-domain"][..],
        ),
        (
            "compound",
            &[
                "mit or apache-2.0",
                "GPL-2.0-or-later WITH classpath-exception-2.0",
            ][..],
        ),
        ("not-in-schema", &["NOASSERTION"][..]),
    ] {
        contents.packages.push(language(
            NPM,
            name,
            "1.0.0",
            licenses,
            "npm",
            "app",
            &format!("/app/node_modules/{name}/package.json"),
        ));
    }
    let bom = parse(&build(&image(), &contents, SpecVersion::V1_5).unwrap());
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    assert_eq!(
        component(&bom, "lower")["licenses"],
        serde_json::json!([{"license": {"name": "GPLv2"}}, {"license": {"id": "MIT"}}])
    );
    // A known licence text's URL is its id; another URL is the name and the `url`.
    assert_eq!(
        component(&bom, "urls")["licenses"],
        serde_json::json!([
            {"license": {"id": "Apache-2.0"}},
            {"license": {"name": "http://a:b:c/LICENSE"}},
            {"license": {
                "name": "https://example.com/LICENSE?x=1&y=2",
                "url": "https://example.com/LICENSE?x=1&y=2"
            }}
        ])
    );
    // `GPL-2+` and `GPL-2.0+` are one licence.
    assert_eq!(
        component(&bom, "debian-names")["licenses"],
        serde_json::json!([
            {"license": {"name": "Expat"}},
            {"license": {"id": "GPL-2.0-or-later"}},
            {"license": {"name": "public-domain"}}
        ])
    );
    assert_eq!(
        component(&bom, "compound")["licenses"],
        serde_json::json!([{
            "expression": "(GPL-2.0-or-later WITH Classpath-exception-2.0) AND (MIT OR Apache-2.0)"
        }])
    );
    assert_eq!(
        component(&bom, "not-in-schema")["licenses"],
        serde_json::json!([{"license": {"name": "NOASSERTION"}}])
    );
}

#[test]
fn conda_package_has_a_conda_purl_and_trivy_type() {
    let mut contents = contents();
    let mut openssl = language(
        CONDA,
        "openssl",
        "3.0.14",
        &["Apache-2.0"],
        "conda-meta",
        "app",
        "/opt/conda/conda-meta/openssl-3.0.14-h5eee18b_0.json",
    );
    for (key, value) in [
        ("conda_build", "h5eee18b_0"),
        ("conda_channel", "main"),
        ("conda_subdir", "linux-64"),
        ("conda_type", "conda"),
    ] {
        openssl.package.properties.insert(key.into(), value.into());
    }
    openssl.package.identity = catalog::conda::identity(&openssl.package);
    contents.packages.push(openssl);
    let bom = parse(&build(&image(), &contents, SpecVersion::V1_5).unwrap());
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    let openssl = component(&bom, "openssl");
    assert_eq!(
        openssl["purl"],
        "pkg:conda/openssl@3.0.14?build=h5eee18b_0&channel=main&subdir=linux-64&type=conda"
    );
    assert_eq!(
        property(&properties(openssl), "aquasecurity:trivy:PkgType"),
        Some("conda-pkg")
    );
}

#[test]
fn licence_ids_written_as_ids_are_exactly_those_the_schema_lists() {
    // `crate::license` keeps a list of the spdx crate's ids that the CycloneDX schema lacks;
    // this fails when the crate or the schema snapshot changes without that list.
    let schema: Value = serde_json::from_str(SPDX_SCHEMA).unwrap();
    let listed: BTreeSet<&str> = schema["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for licence in spdx::identifiers::LICENSES {
        assert_eq!(
            crate::license::is_cyclonedx_id(licence.name),
            listed.contains(licence.name),
            "{}",
            licence.name
        );
    }
}

#[test]
fn dependency_graph_is_rooted_at_the_image() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    let graph = dependencies(&bom);
    let root = bom_ref(&bom["metadata"]["component"]);
    let os = bom_ref(component(&bom, "debian"));
    let refs_of = |names: &[&str]| -> BTreeSet<String> {
        names.iter().map(|n| bom_ref(component(&bom, n))).collect()
    };

    let mut image_children = refs_of(&[
        "requests",
        "cryptography",
        "@babel/core",
        "github.com/spf13/cobra",
        "stdlib",
    ]);
    image_children.insert(os.clone());
    assert_eq!(graph[&root], image_children);
    assert_eq!(graph[&os], refs_of(&["libc6", "login", "bsdutils"]));
    assert_eq!(graph.len(), 2);
}

#[test]
fn bom_refs_are_unique_and_stable_across_runs() {
    let first = build(&image(), &contents(), SpecVersion::V1_5).unwrap();
    let second = build(&image(), &contents(), SpecVersion::V1_5).unwrap();
    assert_ne!(
        parse(&first)["serialNumber"],
        parse(&second)["serialNumber"]
    );
    assert_eq!(without_run_fields(&first), without_run_fields(&second));

    let bom = parse(&first);
    let refs: Vec<String> = components(&bom).iter().map(bom_ref).collect();
    let unique: BTreeSet<&String> = refs.iter().collect();
    assert_eq!(unique.len(), refs.len());
    let mut sorted = refs.clone();
    sorted.sort();
    assert_eq!(refs, sorted, "components are sorted by bom-ref");
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut shuffled = contents();
    shuffled.packages.reverse();
    let mut image = image();
    image.names.reverse();
    let a = build(&self::image(), &contents(), SpecVersion::V1_5).unwrap();
    let b = build(&image, &shuffled, SpecVersion::V1_5).unwrap();
    assert_eq!(without_run_fields(&a), without_run_fields(&b));
}

#[test]
fn same_package_in_two_places_gives_two_components() {
    let mut contents = contents();
    let mut copy = contents.packages[3].clone();
    copy.path = "/opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA".into();
    contents.packages.push(copy.clone());
    // The very same finding twice is one component.
    contents.packages.push(copy);
    let bom = parse(&build(&image(), &contents, SpecVersion::V1_5).unwrap());
    let requests: Vec<&Value> = components(&bom)
        .iter()
        .filter(|c| c["name"] == "requests")
        .collect();
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0]["bom-ref"], requests[1]["bom-ref"]);
    assert_eq!(requests[0]["purl"], requests[1]["purl"]);
}

#[test]
fn unknown_os_gives_no_os_component_and_image_depends_on_every_package() {
    let mut contents = contents();
    contents.os = None;
    let json = build(&image(), &contents, SpecVersion::V1_5).unwrap();
    let bom = parse(&json);
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    assert!(components(&bom)
        .iter()
        .all(|c| c["type"] != "operating-system"));
    assert_eq!(
        component(&bom, "libc6")["purl"],
        "pkg:deb/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc"
    );
    assert_eq!(
        property(
            &properties(component(&bom, "libc6")),
            "aquasecurity:trivy:PkgType"
        ),
        None
    );
    let graph = dependencies(&bom);
    let root = bom_ref(&bom["metadata"]["component"]);
    assert_eq!(graph.len(), 1);
    assert_eq!(graph[&root].len(), contents.packages.len());
}

#[test]
fn complete_scan_has_no_compositions_and_no_incompleteness_property() {
    let bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    assert!(bom.get("compositions").is_none(), "{}", bom["compositions"]);
    assert!(bom["metadata"].get("properties").is_none());
    assert!(
        !String::from_utf8(build(&image(), &contents(), SpecVersion::V1_6).unwrap())
            .unwrap()
            .contains("nodebom:incomplete")
    );
}

#[test]
fn incomplete_scan_marks_the_image_an_incomplete_assembly_with_its_reasons() {
    let reasons = [
        "/var/lib/dpkg/status: stopped after 100000 stanzas (limit)",
        "layer sha256:0123: skipped 1 entry: \"etc/x\" (hard link to the layer root)",
    ];
    let incomplete = ImageContents {
        incomplete: reasons.iter().map(|r| r.to_string()).collect(),
        ..contents()
    };
    for spec in [SpecVersion::V1_5, SpecVersion::V1_6] {
        let bom = parse(&build(&image(), &incomplete, spec).unwrap());
        assert_schema_valid(
            match spec {
                SpecVersion::V1_5 => BOM_1_5_SCHEMA,
                SpecVersion::V1_6 => BOM_1_6_SCHEMA,
            },
            &bom,
        );
        let image_ref = format!("image:{}", digest("manifest"));
        assert_eq!(bom["metadata"]["component"]["bom-ref"], image_ref.as_str());
        assert_eq!(
            bom["compositions"],
            serde_json::json!([{"aggregate": "incomplete", "assemblies": [image_ref]}])
        );
        assert_eq!(
            bom["metadata"]["properties"],
            serde_json::json!([
                {"name": "nodebom:incomplete", "value": reasons[0]},
                {"name": "nodebom:incomplete", "value": reasons[1]},
            ])
        );
        // The packages found are all still there.
        assert_eq!(
            components(&bom).len(),
            components(&parse(&build(&image(), &contents(), spec).unwrap())).len()
        );
    }
}

#[test]
fn empty_image_is_a_valid_bom() {
    let json = build(&image(), &ImageContents::default(), SpecVersion::V1_5).unwrap();
    let bom = parse(&json);
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    assert!(components(&bom).is_empty());
}

#[test]
fn spec_version_parses_and_prints_as_cyclonedx_writes_it() {
    assert_eq!("1.6".parse::<SpecVersion>().unwrap(), SpecVersion::V1_6);
    assert_eq!(SpecVersion::default().to_string(), "1.5");
    assert!("1.7".parse::<SpecVersion>().is_err());
}

#[test]
fn schema_check_enforces_the_spdx_list_and_formats() {
    // Guards the harness above: the SPDX `$ref` resolves locally and formats are checked.
    let mut bom = parse(&build(&image(), &contents(), SpecVersion::V1_5).unwrap());
    bom["components"][0]["licenses"] = serde_json::json!([{"license": {"id": "Not-A-Licence"}}]);
    bom["metadata"]["timestamp"] = "yesterday".into();
    let errors = schema_errors(BOM_1_5_SCHEMA, &bom);
    assert!(
        errors.iter().any(|e| e.contains("Not-A-Licence")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("yesterday")),
        "{errors:#?}"
    );
}

#[test]
fn package_without_a_name_is_kept_without_a_purl() {
    let mut contents = contents();
    contents.packages.push(language(
        NPM,
        "",
        "1.0.0",
        &[],
        "npm",
        "app",
        "/app/node_modules/broken/package.json",
    ));
    let bom = parse(&build(&image(), &contents, SpecVersion::V1_5).unwrap());
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    let nameless = component(&bom, "");
    assert!(nameless.get("purl").is_none());
    assert!(nameless["bom-ref"]
        .as_str()
        .unwrap()
        .starts_with("nodebom-package-"));
}

/// Every package the catalogers find in their own testdata, as one image whose layers are
/// the catalogers' folders, and the fixture above: both documents, with and without a
/// known OS, must stay byte for byte what `testdata/identities.golden` holds (purls,
/// bom-refs, properties, order). `NODEBOM_UPDATE_GOLDEN=1` rewrites the file.
#[test]
fn documents_keep_the_identities_in_the_golden_file() {
    let catalogued = catalogued_testdata();
    let ecosystems: BTreeSet<Ecosystem> = catalogued
        .iter()
        .map(|found| found.package.ecosystem)
        .collect();
    assert_eq!(ecosystems.len(), 13, "one package or more per ecosystem");
    let mut without_os = contents();
    without_os.os = None;
    // Packages without a name have no purl; their bom-ref hashes a stand-in identity.
    let mut nameless = contents();
    let mut deb_without_name = Package::new(Ecosystem::Deb, "", "2.36-9");
    deb_without_name.epoch = Some(1);
    nameless.packages = vec![
        found(
            deb_without_name.with_identity(catalog::dpkg::identity),
            "dpkg",
            "debian",
            "/var/lib/dpkg/status",
        ),
        language(NPM, "", "1.0.0", &[], "npm", "app", "/app/package.json"),
    ];
    let documents = [
        ("fixture", contents()),
        ("fixture, unknown OS", without_os),
        ("packages without a name", nameless),
        (
            "catalogers' testdata on Debian 12",
            ImageContents {
                os: Some(debian_12()),
                packages: catalogued.clone(),
                incomplete: Vec::new(),
            },
        ),
        (
            "catalogers' testdata, unknown OS",
            ImageContents {
                os: None,
                packages: catalogued,
                incomplete: Vec::new(),
            },
        ),
    ];
    let mut golden = String::new();
    for (title, contents) in &documents {
        let bom = parse(&build(&image(), contents, SpecVersion::V1_5).unwrap());
        golden.push_str(&format!("# {title}\n"));
        golden.push_str(&format!("{}\n", bom["metadata"]["component"]));
        for component in components(&bom) {
            golden.push_str(&format!("{component}\n"));
        }
        for dependency in bom["dependencies"].as_array().unwrap() {
            golden.push_str(&format!("{dependency}\n"));
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/sbom/testdata/identities.golden");
    if std::env::var_os("NODEBOM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &golden).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    for (line, (got, want)) in golden.lines().zip(expected.lines()).enumerate() {
        assert_eq!(got, want, "line {} of {}", line + 1, path.display());
    }
    assert_eq!(golden.lines().count(), expected.lines().count());
}

/// What every cataloger finds in every file of every cataloger's testdata, each file at
/// its path below its `testdata/` and in a layer named after its cataloger's folder.
fn catalogued_testdata() -> Vec<FoundPackage> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/catalog");
    let catalogers = crate::catalog::all();
    let mut found_packages = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(&catalog)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("testdata").is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let testdata = folder.join("testdata");
        let layer = folder.file_name().unwrap().to_str().unwrap().to_owned();
        let mut paths = Vec::new();
        files(&testdata, &mut paths);
        paths.sort();
        for path in paths {
            let image_path = format!("/{}", path.strip_prefix(&testdata).unwrap().display());
            let metadata = std::fs::metadata(&path).unwrap();
            let meta = crate::catalog::FileMeta {
                path: &image_path,
                size: metadata.len(),
                mode: std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o7777,
            };
            for cataloger in &catalogers {
                if !cataloger.wants(&meta) {
                    continue;
                }
                let mut file = std::fs::File::open(&path).unwrap();
                // Malformed testdata is there on purpose; what does parse is what counts.
                let Ok(findings) =
                    cataloger.catalog(&meta, crate::catalog::Content::File(&mut file))
                else {
                    continue;
                };
                found_packages.extend(
                    findings
                        .packages
                        .into_iter()
                        .map(|package| found(package, cataloger.name(), &layer, &image_path)),
                );
            }
        }
    }
    found_packages
}

/// A Go program an OS package installed says so: `nodebom:osPackage` is the OS package's
/// purl when the image lists it, its name otherwise.
#[test]
fn go_module_of_a_program_an_os_package_installed_names_its_purl() {
    let mut contents = contents();
    let mut ctr = language(
        GO,
        "github.com/containerd/containerd",
        "(devel)",
        &[],
        "go-binary",
        "app",
        "/usr/bin/ctr",
    );
    ctr.package
        .properties
        .insert(crate::package::PROP_OS_PACKAGE.into(), "libc6".into());
    let mut orphan = ctr.clone();
    orphan.path = "/usr/bin/containerd".into();
    orphan.package.name = "example.com/orphan".into();
    orphan
        .package
        .properties
        .insert(crate::package::PROP_OS_PACKAGE.into(), "gone".into());
    contents.packages.extend([ctr, orphan]);
    let bom = parse(&build(&image(), &contents, SpecVersion::V1_5).unwrap());
    assert_schema_valid(BOM_1_5_SCHEMA, &bom);
    let libc6_purl = component(&bom, "libc6")["purl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        libc6_purl.starts_with("pkg:deb/debian/libc6@"),
        "{libc6_purl}"
    );
    let props = properties(component(&bom, "github.com/containerd/containerd"));
    assert_eq!(
        property(&props, "nodebom:osPackage"),
        Some(libc6_purl.as_str())
    );
    let props = properties(component(&bom, "example.com/orphan"));
    assert_eq!(property(&props, "nodebom:osPackage"), Some("gone"));
    let props = properties(component(&bom, "github.com/spf13/cobra"));
    assert_eq!(property(&props, "nodebom:osPackage"), None);
}
