//! The policy file: Dependency-Track policies declared in YAML, checked against a schema
//! (unknown keys, bad values and duplicate names are errors naming the place) before
//! anything reaches DT.
//!
//! ```yaml
//! policies:
//!   - name: nodebom-exploitable
//!     state: FAIL              # FAIL (default), WARN or INFO
//!     tags: [cluster:prod-a]   # only projects with one of these tags; default: all
//!     when:                    # a component violates the policy when any holds
//!       kev: true              # its vulnerability is in CISA's KEV catalog
//!       epss: 0.5              # EPSS score at least 0.5 (DT 4.12+)
//!       severity: HIGH         # severity HIGH or worse
//!       licenseGroups: [Copyleft]  # its licence is in one of these DT licence groups
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::exposure::finding::Severity;

/// Largest policy file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most policies in a file.
const MAX_POLICIES: usize = 100;
/// DT's limit on names and condition values.
const MAX_NAME_CHARS: usize = 255;

/// What a violation of the policy means in DT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViolationState {
    /// Fails the project (the default).
    #[default]
    Fail,
    /// A warning.
    Warn,
    /// Information only.
    Info,
}

impl ViolationState {
    /// DT's name.
    pub fn name(self) -> &'static str {
        match self {
            ViolationState::Fail => "FAIL",
            ViolationState::Warn => "WARN",
            ViolationState::Info => "INFO",
        }
    }
}

/// One policy nodebom keeps in DT, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    /// The DT policy name (nodebom owns every condition of it).
    pub name: String,
    /// Violation state.
    pub state: ViolationState,
    /// Tags the policy is limited to (lower case); empty: every project.
    pub scope_tags: Vec<String>,
    /// Violated by a vulnerability in the KEV catalog.
    pub kev: bool,
    /// Violated by a vulnerability with at least this EPSS score.
    pub min_epss: Option<f64>,
    /// Violated by a vulnerability of at least this severity.
    pub min_severity: Option<Severity>,
    /// Violated by a licence in one of these DT licence groups (by name).
    pub license_groups: Vec<String>,
}

impl PolicySpec {
    /// The KEV-only policy `--kev-catalog` keeps when there is no policy file.
    pub fn kev_only(name: String, scope_tags: Vec<String>) -> Self {
        PolicySpec {
            name,
            state: ViolationState::Fail,
            scope_tags,
            kev: true,
            min_epss: None,
            min_severity: None,
            license_groups: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    policies: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(default)]
    state: ViolationState,
    #[serde(default)]
    tags: Vec<String>,
    when: RawWhen,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWhen {
    #[serde(default)]
    kev: bool,
    epss: Option<f64>,
    severity: Option<String>,
    #[serde(default)]
    license_groups: Vec<String>,
}

/// Reads and checks the policy file at `path`.
pub fn read(path: &Path) -> Result<Vec<PolicySpec>> {
    let context = || format!("policy file {}", path.display());
    let metadata = std::fs::metadata(path).map_err(Error::io(context()))?;
    if !metadata.is_file() {
        return Err(Error::Config(format!("{}: not a regular file", context())));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(Error::Config(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            context()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(Error::io(context()))?;
    parse(&text).map_err(|err| Error::Config(format!("{}: {err}", context())))
}

/// Parses and checks a policy file's text; the error names the policy or the line.
pub fn parse(text: &str) -> std::result::Result<Vec<PolicySpec>, String> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|err| err.to_string())?;
    if raw.policies.len() > MAX_POLICIES {
        return Err(format!("more than {MAX_POLICIES} policies"));
    }
    let mut specs: Vec<PolicySpec> = Vec::with_capacity(raw.policies.len());
    for (index, policy) in raw.policies.into_iter().enumerate() {
        let spec = check(policy).map_err(|err| format!("policies[{index}]: {err}"))?;
        if specs.iter().any(|other| other.name == spec.name) {
            return Err(format!(
                "policies[{index}]: the name {:?} is used twice",
                spec.name
            ));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn check(raw: RawPolicy) -> std::result::Result<PolicySpec, String> {
    let name = bounded("name", raw.name.trim())?;
    let when = raw.when;
    if let Some(epss) = when.epss {
        if !(epss > 0.0 && epss <= 1.0) {
            return Err(format!(
                "when.epss: {epss} is not a probability above 0 and at most 1"
            ));
        }
    }
    let min_severity = when
        .severity
        .as_deref()
        .map(|text| {
            Severity::parse(text).ok_or_else(|| {
                format!(
                    "when.severity: {text:?} is not one of {}",
                    Severity::ALL.map(Severity::name).join(", ")
                )
            })
        })
        .transpose()?;
    let license_groups = when
        .license_groups
        .iter()
        .map(|group| bounded("when.licenseGroups", group.trim()).map(str::to_owned))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !when.kev && when.epss.is_none() && min_severity.is_none() && license_groups.is_empty() {
        return Err(format!(
            "{name:?}: `when` needs at least one of kev, epss, severity, licenseGroups"
        ));
    }
    let scope_tags = raw
        .tags
        .iter()
        .map(|tag| bounded("tags", tag.trim()).map(str::to_lowercase))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(PolicySpec {
        name: name.to_owned(),
        state: raw.state,
        scope_tags,
        kev: when.kev,
        min_epss: when.epss,
        min_severity,
        license_groups,
    })
}

/// `value` if it is 1 to 255 characters long.
fn bounded<'a>(field: &str, value: &'a str) -> std::result::Result<&'a str, String> {
    match value.chars().count() {
        0 => Err(format!("{field}: must not be empty")),
        n if n > MAX_NAME_CHARS => Err(format!("{field}: longer than {MAX_NAME_CHARS} characters")),
        _ => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_kind_is_read() {
        let specs = parse(
            "policies:\n\
             - name: risky\n  state: WARN\n  tags: [Cluster:Prod-A]\n  when:\n    kev: true\n    epss: 0.25\n    severity: high\n    licenseGroups: [Copyleft]\n\
             - name: kev\n  when: {kev: true}\n",
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        let risky = &specs[0];
        assert_eq!(risky.state, ViolationState::Warn);
        assert_eq!(risky.scope_tags, ["cluster:prod-a"]);
        assert!(risky.kev);
        assert_eq!(risky.min_epss, Some(0.25));
        assert_eq!(risky.min_severity, Some(Severity::High));
        assert_eq!(risky.license_groups, ["Copyleft"]);
        assert_eq!(specs[1], PolicySpec::kev_only("kev".into(), Vec::new()));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                "policies:\n- name: a\n  when: {kev: true, cvss: 9}\n",
                "unknown field `cvss`",
            ),
            (
                "policies:\n- name: a\n  when: {epss: 1.5}\n",
                "policies[0]: when.epss",
            ),
            (
                "policies:\n- name: a\n  when: {severity: URGENT}\n",
                "not one of CRITICAL",
            ),
            ("policies:\n- name: a\n  when: {}\n", "needs at least one"),
            (
                "policies:\n- name: ' '\n  when: {kev: true}\n",
                "name: must not be empty",
            ),
            (
                "policies:\n- name: a\n  when: {kev: true}\n- name: a\n  when: {kev: true}\n",
                "policies[1]: the name \"a\" is used twice",
            ),
            (
                "policies:\n- name: a\n  state: DENY\n  when: {kev: true}\n",
                "unknown variant `DENY`",
            ),
            ("policies: [", "line"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
