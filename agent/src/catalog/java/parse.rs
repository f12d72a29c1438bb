//! Java archives as records: bytes in, no I/O.
//!
//! An archive is a zip. What names its packages is inside: one
//! `META-INF/maven/<group>/<artifact>/pom.properties` per Maven artifact built or shaded
//! into it (with the `pom.xml` beside it, for its licences), `META-INF/MANIFEST.MF`, and
//! for licences again, licence files (`META-INF/LICENSE.txt`). Archives inside archives
//! (a war's `WEB-INF/lib/*.jar`, a Spring Boot jar's `BOOT-INF/lib/*.jar`) are read the
//! same way, to a bounded depth and within one budget of entries and decompressed bytes
//! for the whole file, so that a zip bomb costs no more than a large real archive.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};

use xml::reader::{ParserConfig, XmlEvent};
use zip::ZipArchive;

use crate::catalog::spool::{spool, Spooled};
use crate::catalog::CatalogError;

/// What reading one file may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Archives nested deeper than this (the file itself is depth 0) are not opened.
    pub max_depth: usize,
    /// Entries of all archives in the file, together.
    pub max_entries: usize,
    /// Bytes decompressed from all nested archives and metadata files, together.
    pub max_decompressed: u64,
    /// One nested archive; it is held in memory while it is read.
    pub max_nested_archive: u64,
}

impl Limits {
    /// Well above the largest real archives: fat jars hold a few tens of thousands of
    /// entries and up to about a GiB of nested jars. Memory does not grow with these:
    /// nested archives over [`NESTED_IN_MEMORY`] are read from a temporary file.
    pub const DEFAULT: Limits = Limits {
        max_depth: 4,
        max_entries: 200_000,
        max_decompressed: 2 << 30,
        max_nested_archive: 1 << 30,
    };
}

/// A nested archive up to this size is held in memory while it is read; a larger one
/// is copied to a temporary file.
const NESTED_IN_MEMORY: u64 = 8 << 20;

/// A `pom.properties`, `pom.xml` or `MANIFEST.MF`; real ones are a few KiB.
const MAX_METADATA_FILE: u64 = 1024 * 1024;
/// A licence file; the Apache License 2.0 is 11 KiB. Larger ones are skipped.
const MAX_LICENSE_FILE: u64 = 256 * 1024;
/// Licence files kept per archive.
const MAX_LICENSE_FILES: usize = 8;
/// The licence file names syft 1.18 reads in an archive, in any case (its list, less the
/// Markdown, reStructuredText and `.code` / `.docs` variants Java archives do not use).
const LICENSE_FILE_NAMES: [&str; 24] = [
    "al2.0",
    "copying",
    "copying.txt",
    "lgpl2.1",
    "licence",
    "licence-2.0.txt",
    "licence-apache",
    "licence-apache-2.0.txt",
    "licence-mit",
    "licence.mit",
    "licence.txt",
    "license",
    "license-2.0.txt",
    "license-apache",
    "license-apache-2.0.txt",
    "license-mit",
    "license.mit",
    "license.txt",
    "mit-licence",
    "mit-licence.txt",
    "mit-license",
    "mit-license.txt",
    "mit_licence",
    "mit_license",
];
/// Licences kept per `pom.xml`; real ones state one or two.
const MAX_POM_LICENSES: usize = 32;
/// Longest licence name or URL kept from a `pom.xml`.
const MAX_LICENSE_LEN: usize = 256;
/// Manifest attributes kept per archive; real manifests have a few dozen.
const MAX_ATTRIBUTES: usize = 4096;

/// The extensions of Java archives (syft's java and Jenkins plugin types).
pub const ARCHIVE_EXTENSIONS: [&str; 5] = ["jar", "war", "ear", "jpi", "hpi"];

/// Whether a file name ends with a Java archive extension, in any case.
pub fn is_archive_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        ARCHIVE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// The coordinates a `pom.properties` states, and the licences of the `pom.xml` beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PomProperties {
    pub group_id: String,
    pub artifact_id: String,
    pub version: String,
    pub licenses: Vec<PomLicense>,
}

/// One `project/licenses/license` of a `pom.xml`: its `name` and `url`, trimmed, either
/// maybe empty but not both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PomLicense {
    pub name: String,
    pub url: String,
}

/// One archive, the file itself or one nested in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    /// Where it is: the file's path, then `:<entry>` per level of nesting
    /// (`/app/shop.war:WEB-INF/lib/x.jar`).
    pub location: String,
    /// Its file name without directories (`x-1.2.jar`).
    pub file_name: String,
    pub depth: usize,
    pub poms: Vec<PomProperties>,
    /// Main-section attributes of `META-INF/MANIFEST.MF`, when it has one.
    pub manifest: Option<BTreeMap<String, String>>,
    /// The texts of its licence files: those in `META-INF/` (`META-INF/LICENSE.txt`), or
    /// when there are none, those at its root, as syft looks for them.
    pub license_texts: Vec<String>,
}

/// The archives read from one file, the file itself first (when it could be opened).
#[derive(Debug, Default)]
pub struct Parsed {
    pub archives: Vec<Archive>,
    /// Why what was read may be less than what the file holds: a limit stopped the
    /// reading, a nested archive was skipped.
    pub incomplete: Vec<String>,
}

/// What may still be spent reading one file.
struct Budget {
    limits: Limits,
    entries: usize,
    bytes: u64,
    /// Whether a limit stopped the reading (the error that unwinds it is a `TooLarge`).
    stopped: bool,
    notes: Vec<String>,
}

impl Budget {
    /// Stops the reading at a limit, saying where and which.
    fn stop(&mut self, note: String, limit: u64) -> CatalogError {
        self.stopped = true;
        self.notes.push(note);
        CatalogError::TooLarge { limit }
    }

    /// Stops at `what` (an entry, a nested archive) larger than `limit`: its own bound,
    /// or what is left of the budget when that is smaller.
    fn stop_over(&mut self, location: &str, what: &str, limit: u64) -> CatalogError {
        let note = if limit == self.bytes {
            let max = self.limits.max_decompressed;
            format!("{location}: stopped after {max} decompressed bytes in all (limit)")
        } else {
            format!("{location}: stopped at {what} over {limit} bytes (limit)")
        };
        self.stop(note, limit)
    }
}

/// Reads an archive and, recursively, the archives inside it; the file itself first.
/// A nested archive that is not a readable zip is skipped; a limit stops the reading,
/// and what was read before it is kept. Both are noted.
pub fn parse_archive(
    data: impl Read + Seek,
    path: &str,
    limits: Limits,
) -> Result<Parsed, CatalogError> {
    let mut budget = Budget {
        limits,
        entries: limits.max_entries,
        bytes: limits.max_decompressed,
        stopped: false,
        notes: Vec::new(),
    };
    let mut archives = Vec::new();
    let read = read_archive(data, path.to_owned(), 0, &mut budget, &mut archives);
    match read {
        Err(err) if !budget.stopped => Err(err),
        _ => Ok(Parsed {
            archives,
            incomplete: budget.notes,
        }),
    }
}

fn read_archive(
    mut data: impl Read + Seek,
    location: String,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Archive>,
) -> Result<(), CatalogError> {
    // The zip crate loads the whole central directory up front, with no limit of its own.
    // Each of its entries starts with this signature, so counting them in the bytes bounds
    // the number of entries (over-counting only) before any memory is spent on them.
    let headers = count_central_headers(&mut data)?;
    if headers > budget.entries {
        let max = budget.limits.max_entries;
        let note = format!("{location}: not read, more than {max} zip entries in all (limit)");
        return Err(budget.stop(note, max as u64));
    }
    let mut zip = ZipArchive::new(data)
        .map_err(|err| CatalogError::Malformed(format!("{location}: {err}")))?;
    budget.entries -= zip.len().min(budget.entries);

    let file_name = location
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    // The archive goes first; nested ones are read (and pushed) as they are met, so only
    // one nested archive per level is held in memory at a time.
    let slot = out.len();
    out.push(Archive {
        location: location.clone(),
        file_name,
        depth,
        ..Archive::default()
    });
    // By directory, so that each `pom.properties` meets its `pom.xml` whatever their order.
    let mut poms: Vec<(String, PomProperties)> = Vec::new();
    let mut pom_licenses: HashMap<String, Vec<PomLicense>> = HashMap::new();
    let mut manifest = None;
    // Licence files in `META-INF/` (true) and at the root (false).
    let mut license_texts: Vec<(bool, String)> = Vec::new();
    // What was read before a limit stopped the reading is kept.
    let mut read_entries = || -> Result<(), CatalogError> {
        for index in 0..zip.len() {
            let mut entry = zip
                .by_index(index)
                .map_err(|err| CatalogError::Malformed(format!("{location}: {err}")))?;
            if entry.is_dir() {
                continue;
            }
            let name = entry
                .name()
                .map_err(|err| CatalogError::Malformed(format!("{location}: {err}")))?
                .into_owned();
            let maven_dir = name
                .strip_prefix("META-INF/maven/")
                .and_then(|rest| rest.rsplit_once('/'));
            if let Some((dir, "pom.properties")) = maven_dir {
                let text = read_entry(&mut entry, MAX_METADATA_FILE, budget, &location)?;
                if let Some(pom) = parse_pom_properties(&String::from_utf8_lossy(&text)) {
                    poms.push((dir.to_owned(), pom));
                }
            } else if let Some((dir, "pom.xml")) = maven_dir {
                // Licences are a nice-to-have: an oversized pom.xml is skipped, not fatal.
                if entry.size() <= MAX_METADATA_FILE {
                    let text = read_entry(&mut entry, MAX_METADATA_FILE, budget, &location)?;
                    pom_licenses.insert(dir.to_owned(), parse_pom_licenses(&text));
                }
            } else if name == "META-INF/MANIFEST.MF" {
                let text = read_entry(&mut entry, MAX_METADATA_FILE, budget, &location)?;
                manifest = Some(parse_manifest(&String::from_utf8_lossy(&text)));
            } else if let Some(in_meta_inf) = license_file(&name) {
                // Like pom.xml licences, a nice-to-have: an oversized file is skipped.
                if entry.size() <= MAX_LICENSE_FILE && license_texts.len() < MAX_LICENSE_FILES {
                    let text = read_entry(&mut entry, MAX_LICENSE_FILE, budget, &location)?;
                    license_texts.push((in_meta_inf, String::from_utf8_lossy(&text).into_owned()));
                }
            } else if depth < budget.limits.max_depth && is_archive_name(&name) {
                let inner = spool_entry(&mut entry, budget, &location)?;
                drop(entry);
                let found_before = out.len();
                match read_archive(inner, format!("{location}:{name}"), depth + 1, budget, out) {
                    // A broken nested archive is dropped whole and hides nothing else; what
                    // it cost stays spent.
                    Err(CatalogError::Malformed(err)) => {
                        out.truncate(found_before);
                        budget
                            .notes
                            .push(format!("skipped a nested archive: {err}"));
                    }
                    other => other?,
                }
            }
        }
        Ok(())
    };
    let read = read_entries();
    if let Some(archive) = out.get_mut(slot) {
        archive.poms = poms
            .into_iter()
            .map(|(dir, mut pom)| {
                pom.licenses = pom_licenses.remove(&dir).unwrap_or_default();
                pom
            })
            .collect();
        archive.manifest = manifest;
        let in_meta_inf = license_texts.iter().any(|(in_meta_inf, _)| *in_meta_inf);
        archive.license_texts = license_texts
            .into_iter()
            .filter(|(meta_inf, _)| *meta_inf == in_meta_inf)
            .map(|(_, text)| text)
            .collect();
    }
    read
}

/// Whether an entry is a licence file in `META-INF/` (`Some(true)`) or at the root
/// (`Some(false)`).
fn license_file(name: &str) -> Option<bool> {
    let (in_meta_inf, file) = match name.split_once('/') {
        Some((dir, file)) if dir.eq_ignore_ascii_case("META-INF") => (true, file),
        Some(_) => return None,
        None => (false, name),
    };
    LICENSE_FILE_NAMES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(file))
        .then_some(in_meta_inf)
}

/// Counts the central-directory signatures in `data`, reading it once in pieces, and
/// rewinds it.
fn count_central_headers(data: &mut (impl Read + Seek)) -> Result<usize, CatalogError> {
    const SIGNATURE: &[u8] = b"PK\x01\x02";
    let finder = memchr::memmem::Finder::new(SIGNATURE);
    let mut window = vec![0u8; 1 << 20];
    // The last bytes of the previous piece, so that a signature split between two
    // pieces is found (and none is counted twice: a kept tail is shorter than one).
    let mut kept = 0;
    let mut count = 0;
    data.rewind()?;
    loop {
        let read = data.read(&mut window[kept..])?;
        if read == 0 {
            break;
        }
        let filled = kept + read;
        count += finder.find_iter(&window[..filled]).count();
        kept = (SIGNATURE.len() - 1).min(filled);
        window.copy_within(filled - kept..filled, 0);
    }
    data.rewind()?;
    Ok(count)
}

/// Holds a nested archive where it can be sought in (memory up to [`NESTED_IN_MEMORY`],
/// a temporary file beyond), counting its bytes against the budget like any
/// decompressed entry.
fn spool_entry(
    entry: &mut impl Read,
    budget: &mut Budget,
    location: &str,
) -> Result<Spooled, CatalogError> {
    let limit = budget.limits.max_nested_archive.min(budget.bytes);
    let mut spooled = match spool(entry, 0, NESTED_IN_MEMORY, limit) {
        Ok(spooled) => spooled,
        Err(CatalogError::TooLarge { .. }) => {
            return Err(budget.stop_over(location, "a nested archive", limit));
        }
        Err(CatalogError::Io(err)) => {
            return Err(CatalogError::Malformed(format!("{location}: {err}")))
        }
        Err(other) => return Err(other),
    };
    let size = spooled.seek(SeekFrom::End(0))?;
    spooled.rewind()?;
    budget.bytes -= size.min(budget.bytes);
    Ok(spooled)
}

/// Decompresses one entry, counting what it yields (not what its header claims) against
/// the budget.
fn read_entry(
    entry: &mut impl Read,
    limit: u64,
    budget: &mut Budget,
    location: &str,
) -> Result<Vec<u8>, CatalogError> {
    let limit = limit.min(budget.bytes);
    let mut buf = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|err| CatalogError::Malformed(format!("{location}: {err}")))?;
    let read = buf.len() as u64;
    if read > limit {
        return Err(budget.stop_over(location, "an entry", limit));
    }
    budget.bytes -= read;
    Ok(buf)
}

/// `groupId`, `artifactId` and `version` of a Java properties file; `None` without an
/// artifact id. Written by hand: the format is `key=value` lines, and no maintained crate
/// reads it without pulling in far more than these three keys need.
pub fn parse_pom_properties(text: &str) -> Option<PomProperties> {
    let mut pom = PomProperties::default();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim() {
            "groupId" => pom.group_id = value,
            "artifactId" => pom.artifact_id = value,
            "version" => pom.version = value,
            _ => {}
        }
    }
    (!pom.artifact_id.is_empty()).then_some(pom)
}

/// The licences a `pom.xml` states for its own project (`project/licenses/license`, its
/// `name` and `url`), as syft reads them without resolving parent poms. A value that is an
/// unresolved `${property}` or longer than [`MAX_LICENSE_LEN`] counts as absent, and a
/// licence with neither is left out; malformed XML gives what was read before the error.
pub fn parse_pom_licenses(xml: &[u8]) -> Vec<PomLicense> {
    const PATH: [&str; 3] = ["project", "licenses", "license"];
    let reader = ParserConfig::new()
        .trim_whitespace(true)
        .cdata_to_characters(true)
        .ignore_comments(true)
        .create_reader(xml);
    let mut licenses = Vec::new();
    // How many of `PATH` the open elements match, and how deep they are.
    let mut matched = 0;
    let mut depth = 0;
    let mut current = PomLicense::default();
    // The `name` or `url` element of the current licence being read, and its text.
    let mut field: Option<String> = None;
    let mut text = String::new();
    for event in reader {
        match event {
            Ok(XmlEvent::StartElement { name, .. }) => {
                let local = name.local_name.as_str();
                if depth == matched && PATH.get(depth) == Some(&local) {
                    matched += 1;
                    if matched == PATH.len() {
                        current = PomLicense::default();
                    }
                } else if depth == PATH.len() && matched == PATH.len() {
                    field = matches!(local, "name" | "url").then(|| local.to_owned());
                    text.clear();
                }
                depth += 1;
            }
            Ok(XmlEvent::Characters(chars)) if field.is_some() && depth == PATH.len() + 1 => {
                text.push_str(&chars);
            }
            Ok(XmlEvent::EndElement { .. }) => {
                depth = depth.saturating_sub(1);
                if depth == PATH.len() && matched == PATH.len() {
                    let value = text.trim();
                    let value = if value.contains("${") || value.len() > MAX_LICENSE_LEN {
                        ""
                    } else {
                        value
                    };
                    match field.take().as_deref() {
                        Some("name") => value.clone_into(&mut current.name),
                        Some("url") => value.clone_into(&mut current.url),
                        _ => {}
                    }
                } else if depth + 1 == matched {
                    if matched == PATH.len() && !(current.name.is_empty() && current.url.is_empty())
                    {
                        licenses.push(std::mem::take(&mut current));
                        if licenses.len() >= MAX_POM_LICENSES {
                            break;
                        }
                    }
                    matched -= 1;
                }
            }
            Ok(XmlEvent::EndDocument) | Err(_) => break,
            Ok(_) => {}
        }
    }
    licenses
}

/// The main section of a manifest: `Key: value` lines up to the first blank line, a line
/// starting with a space continuing the previous value (the jar specification's format,
/// which no maintained crate reads).
pub fn parse_manifest(text: &str) -> BTreeMap<String, String> {
    let mut main = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(value) = last.as_ref().and_then(|key| main.get_mut(key)) {
                let value: &mut String = value;
                value.push_str(rest.trim_end());
            }
            continue;
        }
        match line.split_once(':') {
            Some((key, value)) if main.len() < MAX_ATTRIBUTES => {
                let key = key.trim().to_owned();
                main.insert(key.clone(), value.trim().to_owned());
                last = Some(key);
            }
            _ => last = None,
        }
    }
    main
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_counted_once_wherever_the_reads_split_them() {
        const PIECE: usize = 1 << 20;
        let mut data = vec![0u8; 3 * PIECE + 10];
        // Reads end at PIECE, 2 * PIECE - 3 and 3 * PIECE - 6 (each keeps three bytes of
        // the one before): one signature straddles each, one ends the data.
        let starts = [PIECE - 3, 2 * PIECE - 5, 3 * PIECE - 8, 3 * PIECE + 6];
        for start in starts {
            data[start..start + 4].copy_from_slice(b"PK\x01\x02");
        }
        data[100..104].copy_from_slice(b"PK\x01\x02");
        let mut reader = std::io::Cursor::new(data);
        assert_eq!(
            count_central_headers(&mut reader).unwrap(),
            starts.len() + 1
        );
        assert_eq!(reader.position(), 0);
    }

    #[test]
    fn pom_properties_keys_are_read_and_comments_skipped() {
        let pom = parse_pom_properties(
            "#Created by Apache Maven 3.6.3\ngroupId=org.slf4j\nartifactId = slf4j-nop\nversion=1.7.32\n",
        )
        .unwrap();
        assert_eq!(pom.group_id, "org.slf4j");
        assert_eq!(pom.artifact_id, "slf4j-nop");
        assert_eq!(pom.version, "1.7.32");
    }

    #[test]
    fn pom_properties_without_artifact_is_nothing() {
        assert!(parse_pom_properties("groupId=a\nversion=1\n").is_none());
        assert!(parse_pom_properties("\u{0}\u{1}garbage").is_none());
    }

    #[test]
    fn manifest_continuation_lines_join_and_later_sections_are_ignored() {
        let main = parse_manifest(
            "Manifest-Version: 1.0\r\nImport-Package: org.slf4j;version=1.7.32,or\r\n g.slf4j.helpers\r\n\r\nName: x\r\nImplementation-Title: other\r\n",
        );
        assert_eq!(
            main.get("Import-Package").map(String::as_str),
            Some("org.slf4j;version=1.7.32,org.slf4j.helpers")
        );
        assert!(!main.contains_key("Implementation-Title"));
    }

    fn pom_license(name: &str, url: &str) -> PomLicense {
        PomLicense {
            name: name.into(),
            url: url.into(),
        }
    }

    #[test]
    fn pom_licences_are_the_project_ones_with_name_and_url() {
        let xml = br#"<?xml version="1.0" encoding="ISO-8859-1"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><licenses><license><name>Parent</name></license></licenses></parent>
  <licenses>
    <license>
      <name>The Apache Software License, Version 2.0</name>
      <url>https://www.apache.org/licenses/LICENSE-2.0.txt</url>
    </license>
    <license><name><![CDATA[Eclipse Public License - v 2.0]]></name></license>
    <license><name>GNU &amp; friends</name></license>
    <license><url>https://opensource.org/licenses/MIT</url></license>
    <license><name>${project.license}</name></license>
    <license><name>   </name><comments>none</comments></license>
    <license>
      <name>${license.name}</name>
      <url>http://example.com/LICENSE</url>
      <distribution>repo</distribution>
      <extra><name>Nested</name><url>https://nested</url></extra>
    </license>
  </licenses>
</project>"#;
        assert_eq!(
            parse_pom_licenses(xml),
            [
                pom_license(
                    "The Apache Software License, Version 2.0",
                    "https://www.apache.org/licenses/LICENSE-2.0.txt"
                ),
                pom_license("Eclipse Public License - v 2.0", ""),
                pom_license("GNU & friends", ""),
                pom_license("", "https://opensource.org/licenses/MIT"),
                pom_license("", "http://example.com/LICENSE"),
            ]
        );
    }

    #[test]
    fn pom_licences_are_bounded_and_garbage_gives_none() {
        let many: String = (0..100)
            .map(|i| format!("<license><name>L{i}</name></license>"))
            .collect();
        let xml = format!("<project><licenses>{many}</licenses></project>");
        assert_eq!(parse_pom_licenses(xml.as_bytes()).len(), MAX_POM_LICENSES);
        assert!(parse_pom_licenses(b"\x00\xffnot xml").is_empty());
        assert!(parse_pom_licenses(b"").is_empty());
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert!(parse_pom_licenses(deep.as_bytes()).is_empty());
    }

    #[test]
    fn archive_names_match_in_any_case() {
        assert!(is_archive_name("x-1.0.JAR"));
        assert!(is_archive_name("plugin.hpi"));
        assert!(!is_archive_name("x.jar.sha1"));
        assert!(!is_archive_name("jar"));
    }
}
