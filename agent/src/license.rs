//! Licence strings as package metadata states them, sorted into SPDX ids, SPDX expressions,
//! licence URLs and free names: the one place that decides which is which.
//!
//! Catalogers keep licences as their metadata spells them (`GPL-2+`, `mit`, `Apache 2.0`,
//! `https://www.apache.org/licenses/LICENSE-2.0.txt`); the SBOM writer asks [`normalize`]
//! what each one is. Ids and expressions are matched as syft 1.18 matches them, so that
//! both tools name the same licence the same way:
//! - case and dashes do not matter (`mit` → `MIT`, `bsd-3-clause` → `BSD-3-Clause`);
//! - trailing `.0` parts of a version do not matter (Debian's `Apache-2` → `Apache-2.0`);
//! - deprecated ids become the ids SPDX replaced them with: GNU ones their `-only` /
//!   `-or-later` forms (`LGPL-2.1` → `LGPL-2.1-only`, Debian's `GPL-2+` →
//!   `GPL-2.0-or-later`), and the four others syft replaces (`BSD-2-Clause-NetBSD` →
//!   `BSD-2-Clause`, `BSD-2-Clause-FreeBSD` → `BSD-2-Clause-Views`, `bzip2-1.0.5`,
//!   `StandardML-NJ`);
//! - expressions are rebuilt from their parts (`mit or apache-2.0` → `MIT OR Apache-2.0`)
//!   and must then parse as SPDX.
//!
//! Beyond syft, for the SBOM's readers (Dependency-Track resolves SPDX ids; a name it
//! cannot match stays an unresolved licence):
//! - a licence URL that is the text of a known licence is that licence's id
//!   (`http://www.apache.org/licenses/LICENSE-2.0.html` → `Apache-2.0`, where syft keeps
//!   the URL): the SPDX list's "seeAlso" addresses of the common licences and the ones
//!   Maven poms and OSGi manifests use, compared without scheme, `www.`, case, a trailing
//!   `/` or a `.txt` / `.html` / `.php` ending; `opensource.org/licenses/<id>` and
//!   `spdx.org/licenses/<id>` name their id. A GNU licence URL names a version but not
//!   whether later ones are allowed: it gives the `-only` id, as the deprecated bare ids
//!   do. Other URLs are kept as [`Normalized::Url`];
//! - a licence name is an id when it is the SPDX list's full name of that licence
//!   (`MIT License`, `Apache License 2.0`) or one of a few spellings common in Maven poms
//!   that name exactly one licence and version (`The Apache Software License, Version
//!   2.0`, `Apache 2.0`, `Eclipse Public License - v 2.0`), in any case and spacing.
//!
//! Everything else is a name, as stated. Names that only resemble an id (`GPLv2`, `BSD`,
//! `Apache`, Debian's `Expat`) stay names: which licence or version they mean is a guess.
//! The spdx crate's imprecise matching is not used either: it works by prefix
//! (`apache-1.1` would become `Apache-2.0`, `gnu gpl v2` `GPL-3.0-only`), which would
//! state licences nobody declared.
//!
//! ```
//! use nodebom_agent::license::{normalize, Normalized};
//!
//! assert_eq!(normalize("GPL-2+"), Some(Normalized::Id("GPL-2.0-or-later".into())));
//! assert_eq!(
//!     normalize("https://www.apache.org/licenses/LICENSE-2.0.txt"),
//!     Some(Normalized::Id("Apache-2.0".into()))
//! );
//! assert_eq!(normalize("GPLv2"), Some(Normalized::Name("GPLv2".into())));
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use spdx::identifiers::{EXCEPTIONS, LICENSES};

/// Longer values are licence texts or prose, never ids or expressions.
const MAX_EXPRESSION_LEN: usize = 512;

/// SPDX list ids (of the `spdx` crate's list) that the SPDX enumeration of the official
/// CycloneDX 1.5/1.6 schema does not hold yet: a document stating one as an `id` would
/// not validate, so they are written as names. Checked against the schema by the SBOM
/// tests, which fail when either list changes.
const NOT_IN_CYCLONEDX_SCHEMA: [&str; 20] = [
    "BSD-2-Clause-pos-unchanged",
    "BSD-3-Clause-OpenWebUI",
    "BSD-Source-Code-no-disclaimer",
    "BSD-Source-alt-GPL",
    "BSD-ask-to-endorse",
    "Brian-Gladman-3-Clause-no-conversion",
    "Bugroff",
    "CC-BY-NC-3.0-IGO",
    "FDK-MPEG-H",
    "GFDL-1.1-invariants",
    "GFDL-1.1-no-invariants",
    "GFDL-1.2-invariants",
    "GFDL-1.2-no-invariants",
    "GFDL-1.3-invariants",
    "GFDL-1.3-no-invariants",
    "Hippocratic-3.0-core",
    "Informatica",
    "MVT-1.1",
    "NOASSERTION",
    "atc-game",
];

/// What one stated licence is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Normalized {
    /// An SPDX licence id that CycloneDX's schema lists, spelled as the list spells it.
    Id(String),
    /// A valid SPDX expression: compound, `+`, `WITH` or `LicenseRef-`.
    Expression(String),
    /// An `http(s)` URL of a licence text that names no licence known here, as stated. Only
    /// URLs that are valid IRI references are taken (no spaces, quotes or brackets), so it
    /// can be written as a CycloneDX licence `url`.
    Url(String),
    /// Anything else, trimmed but otherwise as stated.
    Name(String),
}

impl Normalized {
    /// The text of the id, expression, URL or name.
    pub fn as_str(&self) -> &str {
        match self {
            Normalized::Id(s)
            | Normalized::Expression(s)
            | Normalized::Url(s)
            | Normalized::Name(s) => s,
        }
    }
}

/// Sorts one stated licence; `None` when it is blank.
pub fn normalize(value: &str) -> Option<Normalized> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.len() > MAX_EXPRESSION_LEN {
        return Some(Normalized::Name(value.to_owned()));
    }
    let known = |id: &'static str| {
        if is_cyclonedx_id(id) {
            Normalized::Id(id.to_owned())
        } else {
            Normalized::Name(id.to_owned())
        }
    };
    Some(match expression(value) {
        Some(Term::Id(id)) => known(id),
        Some(Term::Expression(expression)) => Normalized::Expression(expression),
        None => match licence_url(value) {
            Some(url) => url_id(url).map_or_else(|| Normalized::Url(url.to_owned()), known),
            None => named_id(value).map_or_else(|| Normalized::Name(value.to_owned()), known),
        },
    })
}

/// Whether the official CycloneDX schema accepts `id` as a licence `id`.
pub fn is_cyclonedx_id(id: &str) -> bool {
    listed(id).is_some() && !NOT_IN_CYCLONEDX_SCHEMA.contains(&id)
}

/// The SPDX list entry spelled exactly `id` (`spdx::license_id` would ignore a trailing
/// `+` and find `GPL-2.0` for `GPL-2.0+`).
fn listed(id: &str) -> Option<&'static spdx::License> {
    LICENSES
        .binary_search_by(|licence| licence.name.cmp(id))
        .ok()
        .and_then(|index| LICENSES.get(index))
}

/// A value that [`expression`] recognised.
enum Term {
    /// A single licence id.
    Id(&'static str),
    Expression(String),
}

/// The value as an SPDX id or expression, rebuilt from canonical parts and checked the
/// way the CycloneDX model checks it; `None` when it is neither.
fn expression(value: &str) -> Option<Term> {
    let tokens = tokenize(value);
    if let [single] = tokens.as_slice() {
        return match licence_term(single)? {
            Licence::Id(id) => Some(Term::Id(id)),
            other => Some(Term::Expression(other.render())),
        };
    }
    let mut parts: Vec<String> = Vec::with_capacity(tokens.len());
    let mut after_with = false;
    for token in &tokens {
        let upper = token.to_ascii_uppercase();
        if matches!(upper.as_str(), "AND" | "OR" | "WITH" | "(" | ")") {
            after_with = upper == "WITH";
            parts.push(upper);
        } else if after_with {
            parts.push(exception(token)?.to_owned());
            after_with = false;
        } else {
            parts.push(licence_term(token)?.render());
        }
    }
    let rebuilt = join(&parts);
    let mode = spdx::ParseMode {
        allow_deprecated: true,
        ..spdx::ParseMode::STRICT
    };
    spdx::Expression::parse_mode(&rebuilt, mode).ok()?;
    Some(Term::Expression(rebuilt))
}

/// Words and parentheses.
fn tokenize(value: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for word in value.split_whitespace() {
        let mut rest = word;
        while !rest.is_empty() {
            let cut = rest.find(['(', ')']).unwrap_or(rest.len());
            if cut == 0 {
                tokens.push(&rest[..1]);
                rest = &rest[1..];
            } else {
                tokens.push(&rest[..cut]);
                rest = &rest[cut..];
            }
        }
    }
    tokens
}

/// Parts joined by spaces, with none inside parentheses: `(MIT OR ISC) AND Zlib`.
fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if !out.is_empty() && !out.ends_with('(') && part != ")" {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

/// One licence of an expression.
enum Licence {
    Id(&'static str),
    /// `<id>+`: that version or any later one, for licences with no `-or-later` id.
    OrLater(&'static str),
    /// `LicenseRef-…` / `DocumentRef-…:LicenseRef-…`, kept as written.
    Reference(String),
}

impl Licence {
    fn render(&self) -> String {
        match self {
            Licence::Id(id) => (*id).to_owned(),
            Licence::OrLater(id) => format!("{id}+"),
            Licence::Reference(reference) => reference.clone(),
        }
    }
}

fn licence_term(token: &str) -> Option<Licence> {
    let lower = token.to_ascii_lowercase();
    if lower.starts_with("licenseref-") || lower.starts_with("documentref-") {
        return Some(Licence::Reference(token.to_owned()));
    }
    if let Some(id) = canonical(token) {
        return Some(Licence::Id(id));
    }
    let base = canonical(token.strip_suffix('+')?)?;
    if base.ends_with("-or-later") {
        return Some(Licence::Id(base));
    }
    let or_later = base
        .strip_suffix("-only")
        .and_then(|stem| exact(&format!("{stem}-or-later")));
    Some(or_later.map_or(Licence::OrLater(base), Licence::Id))
}

/// The id of the SPDX list `token` names, exactly or loosely (see the module docs), with
/// deprecated GNU ids replaced.
fn canonical(token: &str) -> Option<&'static str> {
    if let Some(id) = exact(token) {
        return Some(id);
    }
    loose_table().get(&loose_key(token)).copied()
}

/// The id spelled exactly `token`, replaced when deprecated.
fn exact(token: &str) -> Option<&'static str> {
    let found = listed(token)?;
    Some(replacement(found.name, is_deprecated(found)))
}

fn is_deprecated(licence: &spdx::License) -> bool {
    licence.flags & spdx::flags::IS_DEPRECATED != 0
}

/// Deprecated ids that are not GNU ones, and the ids SPDX replaced them with (syft's list).
const SUCCESSORS: [(&str, &str); 4] = [
    ("BSD-2-Clause-FreeBSD", "BSD-2-Clause-Views"),
    ("BSD-2-Clause-NetBSD", "BSD-2-Clause"),
    ("StandardML-NJ", "SMLNJ"),
    ("bzip2-1.0.5", "bzip2-1.0.6"),
];

/// The current id for a deprecated one that SPDX replaced (`GPL-2.0` → `GPL-2.0-only`,
/// `GPL-2.0+` → `GPL-2.0-or-later`, [`SUCCESSORS`]); other ids, deprecated or not, are
/// kept.
fn replacement(name: &'static str, deprecated: bool) -> &'static str {
    if !deprecated {
        return name;
    }
    if let Some((_, successor)) = SUCCESSORS.iter().find(|(old, _)| *old == name) {
        return listed(successor).map_or(name, |found| found.name);
    }
    let candidate = match name.strip_suffix('+') {
        Some(stem) => format!("{stem}-or-later"),
        None => format!("{name}-only"),
    };
    listed(&candidate)
        .filter(|found| !is_deprecated(found))
        .map_or(name, |found| found.name)
}

/// Loose keys of every listed id; keys that two different ids share are left out.
fn loose_table() -> &'static HashMap<String, &'static str> {
    static TABLE: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, Option<&'static str>> = HashMap::new();
        for licence in LICENSES {
            let id = replacement(licence.name, is_deprecated(licence));
            table
                .entry(loose_key(licence.name))
                .and_modify(|existing| {
                    if *existing != Some(id) {
                        *existing = None;
                    }
                })
                .or_insert(Some(id));
        }
        table
            .into_iter()
            .filter_map(|(key, id)| Some((key, id?)))
            .collect()
    })
}

/// Lower case, no dashes, no trailing `.0` parts in version numbers: `GPL-2.0-only` and
/// `gpl-2-only` both give `gpl2only`.
fn loose_key(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut version = String::new();
    for c in id.chars().filter(|&c| c != '-') {
        if c.is_ascii_digit() || (c == '.' && !version.is_empty()) {
            version.push(c);
            continue;
        }
        push_version(&mut out, &mut version);
        out.extend(c.to_lowercase());
    }
    push_version(&mut out, &mut version);
    out
}

fn push_version(out: &mut String, version: &mut String) {
    let mut trimmed = version.as_str();
    while let Some(shorter) = trimmed.strip_suffix(".0") {
        trimmed = shorter;
    }
    out.push_str(trimmed);
    version.clear();
}

/// Licence texts by address, as [`url_key`] spells them: the SPDX list's "seeAlso" URLs of
/// the common licences, and the addresses Maven poms and OSGi manifests use for them.
/// `opensource.org` and `spdx.org` pages named by an id are found without this table.
/// Addresses of "the latest version" (`gnu.org/licenses/gpl.html`) are left out: which
/// version they meant depends on when they were written.
const LICENSE_URLS: [(&str, &str); 56] = [
    ("apache.org/licenses/license-1.0", "Apache-1.0"),
    ("apache.org/licenses/license-1.1", "Apache-1.1"),
    ("apache.org/licenses/license-2.0", "Apache-2.0"),
    ("boost.org/license_1_0", "BSL-1.0"),
    ("creativecommons.org/publicdomain/zero/1.0", "CC0-1.0"),
    (
        "creativecommons.org/publicdomain/zero/1.0/legalcode",
        "CC0-1.0",
    ),
    ("eclipse.org/legal/epl-2.0", "EPL-2.0"),
    ("eclipse.org/legal/epl-v10", "EPL-1.0"),
    ("eclipse.org/legal/epl-v20", "EPL-2.0"),
    ("eclipse.org/org/documents/edl-v10", "BSD-3-Clause"),
    ("eclipse.org/org/documents/epl-2.0/epl-2.0", "EPL-2.0"),
    ("eclipse.org/org/documents/epl-v10", "EPL-1.0"),
    ("glassfish.dev.java.net/public/cddlv1.0", "CDDL-1.0"),
    ("glassfish.java.net/public/cddl+gpl_1_1", "CDDL-1.1"),
    ("gnu.org/licenses/agpl", "AGPL-3.0-only"),
    ("gnu.org/licenses/agpl-3.0", "AGPL-3.0-only"),
    ("gnu.org/licenses/agpl-3.0-standalone", "AGPL-3.0-only"),
    ("gnu.org/licenses/fdl-1.3", "GFDL-1.3-only"),
    ("gnu.org/licenses/gpl-2.0", "GPL-2.0-only"),
    ("gnu.org/licenses/gpl-3.0", "GPL-3.0-only"),
    ("gnu.org/licenses/gpl-3.0-standalone", "GPL-3.0-only"),
    ("gnu.org/licenses/lgpl+gpl-3.0", "LGPL-3.0-only"),
    ("gnu.org/licenses/lgpl-2.1", "LGPL-2.1-only"),
    ("gnu.org/licenses/lgpl-3.0", "LGPL-3.0-only"),
    ("gnu.org/licenses/lgpl-3.0-standalone", "LGPL-3.0-only"),
    ("gnu.org/licenses/old-licenses/fdl-1.1", "GFDL-1.1-only"),
    (
        "gnu.org/licenses/old-licenses/fdl-1.1-standalone",
        "GFDL-1.1-only",
    ),
    ("gnu.org/licenses/old-licenses/fdl-1.2", "GFDL-1.2-only"),
    (
        "gnu.org/licenses/old-licenses/fdl-1.2-standalone",
        "GFDL-1.2-only",
    ),
    ("gnu.org/licenses/old-licenses/gpl-1.0", "GPL-1.0-only"),
    (
        "gnu.org/licenses/old-licenses/gpl-1.0-standalone",
        "GPL-1.0-only",
    ),
    ("gnu.org/licenses/old-licenses/gpl-2.0", "GPL-2.0-only"),
    (
        "gnu.org/licenses/old-licenses/gpl-2.0-standalone",
        "GPL-2.0-only",
    ),
    ("gnu.org/licenses/old-licenses/lgpl-2.0", "LGPL-2.0-only"),
    (
        "gnu.org/licenses/old-licenses/lgpl-2.0-standalone",
        "LGPL-2.0-only",
    ),
    ("gnu.org/licenses/old-licenses/lgpl-2.1", "LGPL-2.1-only"),
    (
        "gnu.org/licenses/old-licenses/lgpl-2.1-standalone",
        "LGPL-2.1-only",
    ),
    ("javaee.github.io/glassfish/license", "CDDL-1.1"),
    ("json.org/license", "JSON"),
    ("mit-license.org", "MIT"),
    ("mozilla.org/en-us/mpl/1.1", "MPL-1.1"),
    ("mozilla.org/en-us/mpl/2.0", "MPL-2.0"),
    ("mozilla.org/mpl/1.1", "MPL-1.1"),
    ("mozilla.org/mpl/2.0", "MPL-2.0"),
    ("mozilla.org/mpl/mpl-1.1", "MPL-1.1"),
    ("opensource.org/licenses/apache2.0", "Apache-2.0"),
    ("opensource.org/licenses/bsd-2-clause", "BSD-2-Clause"),
    ("opensource.org/licenses/bsd-3-clause", "BSD-3-Clause"),
    ("opensource.org/licenses/cddl1", "CDDL-1.0"),
    ("opensource.org/licenses/eclipse-1.0", "EPL-1.0"),
    ("opensource.org/licenses/isc-license", "ISC"),
    ("opensource.org/licenses/mit-license", "MIT"),
    ("opensource.org/licenses/mozilla1.1", "MPL-1.1"),
    ("opensource.org/licenses/zlib-license", "Zlib"),
    ("unlicense.org", "Unlicense"),
    ("zlib.net/zlib_license", "Zlib"),
];

/// Hosts whose licence pages are named by an SPDX id (`opensource.org/licenses/MIT`,
/// `spdx.org/licenses/MIT.html`).
const ID_PAGES: [&str; 3] = [
    "opensource.org/licenses/",
    "opensource.org/license/",
    "spdx.org/licenses/",
];

/// Endings that the same licence text is published under.
const URL_SUFFIXES: [&str; 6] = [".txt", ".html", ".htm", ".php", ".json", ".md"];

/// `value` when it is an `http(s)` URL that is also a valid IRI reference: printable ASCII
/// without spaces, quotes, brackets or the other characters RFC 3987 leaves out, and `%`
/// only as the start of an escape.
fn licence_url(value: &str) -> Option<&str> {
    let lower = value.get(..8)?.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        value.get(8..)?
    } else if lower.starts_with("http://") {
        value.get(7..)?
    } else {
        return None;
    };
    let allowed = |c: char| {
        c.is_ascii_graphic()
            && !matches!(
                c,
                '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`' | '[' | ']'
            )
    };
    let escapes_valid = rest.match_indices('%').all(|(at, _)| {
        rest.get(at + 1..at + 3)
            .is_some_and(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()))
    });
    let valid = !rest.is_empty() && rest.chars().all(allowed) && escapes_valid;
    valid.then_some(value)
}

/// `http://www.apache.org/licenses/LICENSE-2.0.txt` → `apache.org/licenses/license-2.0`:
/// no scheme, `www.`, query, fragment, trailing `/` or [`URL_SUFFIXES`] ending, lower case.
fn url_key(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let mut key = lower
        .split_once("://")
        .map_or(lower.as_str(), |(_, rest)| rest);
    key = key.strip_prefix("www.").unwrap_or(key);
    key = key.split(['?', '#']).next().unwrap_or_default();
    key = key.trim_end_matches('/');
    if let Some(stem) = URL_SUFFIXES
        .iter()
        .find_map(|suffix| key.strip_suffix(suffix))
    {
        key = stem;
    }
    key.trim_end_matches('/').to_owned()
}

/// The id of the licence whose text `url` is, if it is a known one.
fn url_id(url: &str) -> Option<&'static str> {
    let key = url_key(url);
    if let Some((_, id)) = LICENSE_URLS.iter().find(|(known, _)| *known == key) {
        return listed(id).map(|found| replacement(found.name, is_deprecated(found)));
    }
    let slug = ID_PAGES
        .iter()
        .find_map(|page| key.strip_prefix(page))
        .filter(|slug| !slug.is_empty() && !slug.contains('/'))?;
    canonical(slug)
}

/// Licence names common in Maven poms that name exactly one licence and version, as
/// [`name_key`] spells them. The SPDX list's own full names are found without this table.
const LICENSE_NAMES: [(&str, &str); 30] = [
    ("apache 2", "Apache-2.0"),
    ("apache 2.0", "Apache-2.0"),
    ("apache license 2", "Apache-2.0"),
    ("apache license v2.0", "Apache-2.0"),
    ("apache license version 2.0", "Apache-2.0"),
    ("apache license, version 2.0", "Apache-2.0"),
    ("apache software license - version 2.0", "Apache-2.0"),
    ("apache software license 2.0", "Apache-2.0"),
    ("apache software license, version 2.0", "Apache-2.0"),
    ("the apache license, version 2.0", "Apache-2.0"),
    ("the apache software license, version 2.0", "Apache-2.0"),
    ("bsd 2-clause license", "BSD-2-Clause"),
    ("bsd 3-clause license", "BSD-3-Clause"),
    ("the bsd 3-clause license", "BSD-3-Clause"),
    ("new bsd license", "BSD-3-Clause"),
    ("cddl 1.0", "CDDL-1.0"),
    ("cddl 1.1", "CDDL-1.1"),
    ("eclipse distribution license - v 1.0", "BSD-3-Clause"),
    ("eclipse distribution license v. 1.0", "BSD-3-Clause"),
    ("eclipse public license - v 1.0", "EPL-1.0"),
    ("eclipse public license - v 2.0", "EPL-2.0"),
    ("eclipse public license - version 1.0", "EPL-1.0"),
    ("eclipse public license - version 2.0", "EPL-2.0"),
    ("eclipse public license v1.0", "EPL-1.0"),
    ("eclipse public license v2.0", "EPL-2.0"),
    ("mozilla public license, version 2.0", "MPL-2.0"),
    ("mpl 2.0", "MPL-2.0"),
    ("the mit license", "MIT"),
    ("the mit license (mit)", "MIT"),
    ("the unlicense", "Unlicense"),
];

/// Lower case, runs of white space as one space.
fn name_key(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The id `name` names: a [`LICENSE_NAMES`] spelling or an SPDX full name.
fn named_id(name: &str) -> Option<&'static str> {
    let key = name_key(name);
    if let Some((_, id)) = LICENSE_NAMES.iter().find(|(known, _)| *known == key) {
        return listed(id).map(|found| found.name);
    }
    full_name_table().get(&key).copied()
}

/// The SPDX list's full names of more than one word, by [`name_key`]; names that two
/// different current ids share are left out. One-word full names (`BSD-Inferno-Nettverk`)
/// look like short names, which mean what their own packaging says.
fn full_name_table() -> &'static HashMap<String, &'static str> {
    static TABLE: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, Option<&'static str>> = HashMap::new();
        for licence in LICENSES {
            let key = name_key(licence.full_name);
            if !key.contains(' ') {
                continue;
            }
            let id = replacement(licence.name, is_deprecated(licence));
            table
                .entry(key)
                .and_modify(|existing| {
                    if *existing != Some(id) {
                        *existing = None;
                    }
                })
                .or_insert(Some(id));
        }
        table
            .into_iter()
            .filter_map(|(key, id)| Some((key, id?)))
            .collect()
    })
}

/// The SPDX exception id `token` names, in any case.
fn exception(token: &str) -> Option<&'static str> {
    if let Some(found) = spdx::exception_id(token) {
        return Some(found.name);
    }
    EXCEPTIONS
        .iter()
        .find(|exception| exception.name.eq_ignore_ascii_case(token))
        .map(|exception| exception.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Option<Normalized> {
        Some(Normalized::Id(s.into()))
    }
    fn expr(s: &str) -> Option<Normalized> {
        Some(Normalized::Expression(s.into()))
    }
    fn name(s: &str) -> Option<Normalized> {
        Some(Normalized::Name(s.into()))
    }

    #[test]
    fn listed_ids_are_kept() {
        for value in [
            "MIT",
            "Apache-2.0",
            "BSD-3-Clause",
            "GPL-2.0-only",
            "0BSD",
            "Zlib",
        ] {
            assert_eq!(normalize(value), id(value), "{value}");
        }
    }

    #[test]
    fn case_and_dashes_are_corrected() {
        assert_eq!(normalize("mit"), id("MIT"));
        assert_eq!(normalize(" apache-2.0 "), id("Apache-2.0"));
        assert_eq!(normalize("bsd-3-clause"), id("BSD-3-Clause"));
        assert_eq!(normalize("ZLIB"), id("Zlib"));
    }

    #[test]
    fn debian_short_names_map_to_spdx_ids() {
        assert_eq!(normalize("GPL-2"), id("GPL-2.0-only"));
        assert_eq!(normalize("GPL-2+"), id("GPL-2.0-or-later"));
        assert_eq!(normalize("LGPL-2.1+"), id("LGPL-2.1-or-later"));
        assert_eq!(normalize("Apache-2"), id("Apache-2.0"));
        assert_eq!(normalize("PSF-2"), id("PSF-2.0"));
        assert_eq!(normalize("BSD-3-clause"), id("BSD-3-Clause"));
        assert_eq!(normalize("MPL-1.1"), id("MPL-1.1"));
    }

    #[test]
    fn deprecated_gnu_ids_become_only_or_later() {
        assert_eq!(normalize("LGPL-2.1"), id("LGPL-2.1-only"));
        assert_eq!(normalize("GPL-3.0+"), id("GPL-3.0-or-later"));
        assert_eq!(normalize("AGPL-3.0"), id("AGPL-3.0-only"));
        assert_eq!(normalize("GFDL-1.3"), id("GFDL-1.3-only"));
    }

    #[test]
    fn other_deprecated_ids_are_kept() {
        assert_eq!(
            normalize("GPL-2.0-with-classpath-exception"),
            id("GPL-2.0-with-classpath-exception")
        );
    }

    #[test]
    fn deprecated_ids_with_a_successor_are_replaced() {
        // Debian's `file` and `libbsd` state `BSD-2-clause-NetBSD`.
        assert_eq!(normalize("BSD-2-clause-NetBSD"), id("BSD-2-Clause"));
        assert_eq!(normalize("BSD-2-Clause-FreeBSD"), id("BSD-2-Clause-Views"));
        assert_eq!(normalize("bzip2-1.0.5"), id("bzip2-1.0.6"));
        assert_eq!(normalize("StandardML-NJ"), id("SMLNJ"));
        assert_eq!(
            normalize("BSD-2-Clause-NetBSD OR MIT"),
            expr("BSD-2-Clause OR MIT")
        );
    }

    #[test]
    fn url_of_a_known_licence_text_is_its_id() {
        for (url, expected) in [
            // commons-io's, guava's and cdi-api's manifests.
            (
                "https://www.apache.org/licenses/LICENSE-2.0.txt",
                "Apache-2.0",
            ),
            (
                "http://www.apache.org/licenses/LICENSE-2.0.txt",
                "Apache-2.0",
            ),
            (
                "http://www.apache.org/licenses/LICENSE-2.0.html",
                "Apache-2.0",
            ),
            ("HTTPS://apache.org/licenses/LICENSE-2.0/", "Apache-2.0"),
            ("http://www.opensource.org/licenses/mit-license.php", "MIT"),
            ("https://opensource.org/licenses/MIT", "MIT"),
            (
                "https://opensource.org/license/bsd-3-clause/",
                "BSD-3-Clause",
            ),
            ("https://spdx.org/licenses/ISC.html", "ISC"),
            ("https://www.eclipse.org/legal/epl-v20.html", "EPL-2.0"),
            ("http://www.eclipse.org/legal/epl-v10.html", "EPL-1.0"),
            (
                "http://www.eclipse.org/org/documents/edl-v10.php",
                "BSD-3-Clause",
            ),
            ("https://www.mozilla.org/en-US/MPL/2.0/", "MPL-2.0"),
            (
                "https://glassfish.dev.java.net/public/CDDLv1.0.html",
                "CDDL-1.0",
            ),
            (
                "https://www.gnu.org/licenses/old-licenses/lgpl-2.1.html",
                "LGPL-2.1-only",
            ),
            ("https://www.gnu.org/licenses/gpl-3.0.txt", "GPL-3.0-only"),
            (
                "https://www.gnu.org/licenses/agpl-3.0.html#license-text",
                "AGPL-3.0-only",
            ),
            ("https://opensource.org/licenses/GPL-2.0", "GPL-2.0-only"),
        ] {
            assert_eq!(normalize(url), id(expected), "{url}");
        }
    }

    #[test]
    fn url_of_an_unknown_text_is_kept_as_a_url() {
        for url in [
            "https://github.com/fusesource/jansi/blob/master/license.txt",
            "http://www.apache.org/licenses/",
            "https://opensource.org/licenses/not-a-licence",
            "https://opensource.org/licenses/MIT/extra",
            "https://example.com/Apache%202.0",
        ] {
            assert_eq!(normalize(url), Some(Normalized::Url(url.into())), "{url}");
        }
    }

    #[test]
    fn text_that_is_no_valid_url_is_a_name() {
        for value in [
            "http://example.com/my licence",
            "https://example.com/\"quoted\"",
            "https://example.com/a[1]",
            "https://example.com/100%",
            "https://example.com/%zz",
            "ftp://example.com/LICENSE",
            "https://",
            "www.apache.org/licenses/LICENSE-2.0",
        ] {
            assert_eq!(normalize(value), name(value), "{value}");
        }
    }

    #[test]
    fn url_keys_drop_scheme_www_case_and_the_ending() {
        assert_eq!(
            url_key("https://www.Apache.org/licenses/LICENSE-2.0.txt"),
            "apache.org/licenses/license-2.0"
        );
        assert_eq!(url_key("http://mit-license.org/"), "mit-license.org");
        assert_eq!(url_key("https://x.org/a.html?lang=en#text"), "x.org/a");
    }

    #[test]
    fn full_and_common_licence_names_are_ids() {
        for (value, expected) in [
            // jansi's and cdi-api's pom.xml.
            ("The Apache Software License, Version 2.0", "Apache-2.0"),
            ("Apache License, Version 2.0", "Apache-2.0"),
            // error_prone_annotations' pom.xml.
            ("Apache 2.0", "Apache-2.0"),
            ("  apache   LICENSE 2.0 ", "Apache-2.0"),
            ("Eclipse Public License - v 2.0", "EPL-2.0"),
            ("Eclipse Distribution License - v 1.0", "BSD-3-Clause"),
            // SPDX full names.
            ("MIT License", "MIT"),
            ("GNU General Public License v2.0 only", "GPL-2.0-only"),
            (
                "GNU Lesser General Public License v2.1 or later",
                "LGPL-2.1-or-later",
            ),
            ("BSD 2-Clause NetBSD License", "BSD-2-Clause"),
        ] {
            assert_eq!(normalize(value), id(expected), "{value}");
        }
    }

    #[test]
    fn licence_tables_hold_current_cyclonedx_ids_under_normalised_keys() {
        for (key, expected) in LICENSE_URLS {
            assert_eq!(url_key(&format!("https://{key}")), key);
            assert!(is_cyclonedx_id(expected), "{expected}");
            assert!(!listed(expected).is_some_and(is_deprecated), "{expected}");
            assert_eq!(normalize(&format!("http://{key}")), id(expected), "{key}");
        }
        for (key, expected) in LICENSE_NAMES {
            assert_eq!(name_key(key), key);
            assert!(is_cyclonedx_id(expected), "{expected}");
            assert!(!listed(expected).is_some_and(is_deprecated), "{expected}");
            assert_eq!(normalize(key), id(expected), "{key}");
        }
    }

    #[test]
    fn one_word_full_names_are_not_names_of_an_id() {
        // The full name of `BSD-Inferno-Nettverk` is `BSD-Inferno-Nettverk`: a short name
        // like that is matched as an id or not at all.
        assert!(full_name_table().keys().all(|key| key.contains(' ')));
        assert_eq!(normalize("Expat"), name("Expat"));
    }

    #[test]
    fn plus_on_a_licence_without_an_or_later_id_is_an_expression() {
        assert_eq!(normalize("MPL-1.1+"), expr("MPL-1.1+"));
        assert_eq!(normalize("apache-2.0+"), expr("Apache-2.0+"));
    }

    #[test]
    fn names_that_only_resemble_ids_stay_names() {
        for value in [
            "GPLv2",
            "BSD",
            "Expat",
            "public-domain",
            "Artistic",
            "GPL",
            "Apache",
            "ASL 2.0",
            "Apache Software Licenses",
            "GNU Lesser General Public License",
            "GPL-2.0 LGPL-2.1",
            "Apache-2.0+ OR",
            "MIT/Apache-2.0",
        ] {
            assert_eq!(normalize(value), name(value), "{value}");
        }
    }

    #[test]
    fn expressions_are_rebuilt_from_canonical_parts() {
        assert_eq!(
            normalize("BSD-3-Clause OR Apache-2.0"),
            expr("BSD-3-Clause OR Apache-2.0")
        );
        assert_eq!(normalize("mit or apache-2.0"), expr("MIT OR Apache-2.0"));
        assert_eq!(
            normalize("(GPL-2+ OR Artistic-1.0)AND zlib"),
            expr("(GPL-2.0-or-later OR Artistic-1.0) AND Zlib")
        );
        assert_eq!(
            normalize("GPL-2.0-or-later with classpath-exception-2.0"),
            expr("GPL-2.0-or-later WITH Classpath-exception-2.0")
        );
        assert_eq!(
            normalize("LicenseRef-scancode-public-domain"),
            expr("LicenseRef-scancode-public-domain")
        );
    }

    #[test]
    fn expression_with_an_unknown_part_is_a_name() {
        assert_eq!(normalize("MIT OR Expat"), name("MIT OR Expat"));
        assert_eq!(
            normalize("GPL-2.0 WITH not-an-exception"),
            name("GPL-2.0 WITH not-an-exception")
        );
        assert_eq!(normalize("(MIT"), name("(MIT"));
    }

    #[test]
    fn ids_the_cyclonedx_schema_lacks_are_names() {
        assert_eq!(normalize("NOASSERTION"), name("NOASSERTION"));
    }

    #[test]
    fn blank_is_nothing_and_long_text_is_a_name() {
        assert_eq!(normalize("  \n"), None);
        let text = "Permission is hereby granted ".repeat(40);
        assert_eq!(normalize(&text), name(text.trim()));
    }

    #[test]
    fn loose_keys_drop_case_dashes_and_zero_version_parts() {
        assert_eq!(loose_key("GPL-2.0-only"), "gpl2only");
        assert_eq!(loose_key("gpl-2-only"), "gpl2only");
        assert_eq!(loose_key("OLDAP-2.0.1"), "oldap2.0.1");
        assert_eq!(loose_key("Apache-2.0.0"), "apache2");
        assert_eq!(loose_key("0BSD"), "0bsd");
    }

    #[test]
    fn every_listed_id_normalizes_to_a_current_id() {
        for licence in LICENSES {
            let normalized = normalize(licence.name);
            assert!(
                matches!(normalized, Some(Normalized::Id(_) | Normalized::Name(_))),
                "{}: {normalized:?}",
                licence.name
            );
        }
    }
}
