//! Licence strings as package metadata states them, sorted into SPDX ids, SPDX expressions
//! and free names: the one place that decides which is which.
//!
//! Catalogers keep licences as their metadata spells them (`GPL-2+`, `mit`, `Apache 2.0`);
//! the SBOM writer asks [`normalize`] what each one is. Matching follows syft 1.18, so that
//! both tools name the same licence the same way:
//! - case and dashes do not matter (`mit` → `MIT`, `bsd-3-clause` → `BSD-3-Clause`);
//! - trailing `.0` parts of a version do not matter (Debian's `Apache-2` → `Apache-2.0`);
//! - deprecated GNU ids become their `-only` / `-or-later` forms (`LGPL-2.1` →
//!   `LGPL-2.1-only`, Debian's `GPL-2+` → `GPL-2.0-or-later`);
//! - expressions are rebuilt from their parts (`mit or apache-2.0` → `MIT OR Apache-2.0`)
//!   and must then parse as SPDX;
//! - everything else is a name, as stated. Names that only resemble an id (`Apache 2.0`,
//!   `GPLv2`, `BSD`) stay names: the spdx crate's imprecise matching works by prefix
//!   (`apache-1.1` would become `Apache-2.0`, `gnu gpl v2` `GPL-3.0-only`), which would
//!   state licences nobody declared.
//!
//! ```
//! use nodebom_agent::license::{normalize, Normalized};
//!
//! assert_eq!(normalize("GPL-2+"), Some(Normalized::Id("GPL-2.0-or-later".into())));
//! assert_eq!(normalize("Apache 2.0"), Some(Normalized::Name("Apache 2.0".into())));
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
    /// Anything else, trimmed but otherwise as stated.
    Name(String),
}

impl Normalized {
    /// The text of the id, expression or name.
    pub fn as_str(&self) -> &str {
        match self {
            Normalized::Id(s) | Normalized::Expression(s) | Normalized::Name(s) => s,
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
    Some(match expression(value) {
        Some(Term::Id(id)) if is_cyclonedx_id(id) => Normalized::Id(id.to_owned()),
        Some(Term::Id(id)) => Normalized::Name(id.to_owned()),
        Some(Term::Expression(expression)) => Normalized::Expression(expression),
        None => Normalized::Name(value.to_owned()),
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

/// The current id for a deprecated GNU one (`GPL-2.0` → `GPL-2.0-only`, `GPL-2.0+` →
/// `GPL-2.0-or-later`); other ids, deprecated or not, are kept.
fn replacement(name: &'static str, deprecated: bool) -> &'static str {
    if !deprecated {
        return name;
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
    fn plus_on_a_licence_without_an_or_later_id_is_an_expression() {
        assert_eq!(normalize("MPL-1.1+"), expr("MPL-1.1+"));
        assert_eq!(normalize("apache-2.0+"), expr("Apache-2.0+"));
    }

    #[test]
    fn names_that_only_resemble_ids_stay_names() {
        for value in [
            "Apache 2.0",
            "GPLv2",
            "BSD",
            "Expat",
            "public-domain",
            "Artistic",
            "GPL",
            "MIT License",
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
