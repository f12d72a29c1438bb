//! Installed gemspecs as records: bytes in, no I/O.
//!
//! RubyGems writes an installed gem's specification as Ruby code, one assignment per line
//! (`s.name = "rack".freeze`). Like syft 1.18, this reads those lines as text instead of
//! evaluating Ruby. Written by hand: it is a few fixed line shapes, which no crate reads.

/// Licences kept per gem; real gems list one or two.
const MAX_LICENSES: usize = 32;

/// What an installed gemspec states about its gem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gemspec {
    pub name: String,
    pub version: String,
    pub licenses: Vec<String>,
}

/// Reads `<x>.name = "…"`, `<x>.version = "…"` and `<x>.licenses = [...]` (or a single
/// `<x>.license = "…"`) lines; the last assignment of a field wins.
pub fn parse_gemspec(text: &str) -> Gemspec {
    let mut spec = Gemspec::default();
    let mut single_license = None;
    for line in text.lines() {
        let line = line.trim().replace(".freeze", "");
        if let Some(value) = assigned(&line, "name").and_then(quoted) {
            spec.name = value.to_owned();
        } else if let Some(value) = assigned(&line, "version").and_then(quoted) {
            spec.version = value.to_owned();
        } else if let Some(list) = assigned(&line, "licenses").and_then(bracketed) {
            spec.licenses = list
                .split(',')
                .map(|item| item.trim().trim_matches(['"', '\'']).trim())
                .filter(|item| !item.is_empty())
                .take(MAX_LICENSES)
                .map(str::to_owned)
                .collect();
        } else if let Some(value) = assigned(&line, "license").and_then(quoted) {
            single_license = Some(value.to_owned());
        }
    }
    if spec.licenses.is_empty() {
        spec.licenses
            .extend(single_license.filter(|l| !l.is_empty()));
    }
    spec
}

/// What follows `.<field> =` on a line (`s.name = "x"` → ` "x"`).
fn assigned<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let mut rest = line;
    while let Some(at) = rest.find('.') {
        let after = rest.get(at + 1..)?;
        if let Some(tail) = after.strip_prefix(field) {
            if let Some(value) = tail.trim_start().strip_prefix('=') {
                // `==` is a comparison, not an assignment.
                if !value.starts_with('=') {
                    return Some(value);
                }
            }
        }
        rest = after;
    }
    None
}

/// The text between the first quote and the last one of the same kind: `"1.2.3"` →
/// `1.2.3`. A value that does not start with a quote is Ruby code, not a literal.
fn quoted(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let quote = value.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let inner = value.get(1..)?;
    let end = inner.rfind(quote)?;
    inner.get(..end)
}

/// The text inside `[...]`.
fn bracketed(value: &str) -> Option<&str> {
    let inner = value.trim_start().strip_prefix('[')?;
    let end = inner.rfind(']')?;
    inner.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_quotes_and_other_receivers_are_read() {
        let spec = parse_gemspec("spec.name    = 'nokogiri'\nspec.version = '1.16.0'\n");
        assert_eq!(
            (spec.name.as_str(), spec.version.as_str()),
            ("nokogiri", "1.16.0")
        );
    }

    #[test]
    fn similar_fields_are_not_the_version() {
        let spec = parse_gemspec(
            "s.required_rubygems_version = \">= 0\"\ns.rubygems_version = \"3.3.5\"\ns.specification_version = 4\n",
        );
        assert_eq!(spec.version, "");
    }

    #[test]
    fn computed_values_are_not_literals() {
        let spec = parse_gemspec("s.name = NAME\ns.version = Foo::VERSION\n");
        assert_eq!(spec, Gemspec::default());
    }

    #[test]
    fn singular_license_is_used_without_a_licenses_list() {
        let spec = parse_gemspec("s.license = \"BSD-2-Clause\".freeze\n");
        assert_eq!(spec.licenses, ["BSD-2-Clause"]);
        let spec = parse_gemspec("s.license = \"BSD\"\ns.licenses = [\"MIT\", \"Ruby\"]\n");
        assert_eq!(spec.licenses, ["MIT", "Ruby"]);
    }

    #[test]
    fn comparisons_are_not_assignments() {
        assert_eq!(parse_gemspec("if s.name == \"x\" then").name, "");
    }
}
