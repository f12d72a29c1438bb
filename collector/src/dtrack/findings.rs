//! Dependency-Track's findings of a project (`GET /api/v1/finding/project/{uuid}`), read
//! into [`Finding`]s. DT types the parts of a finding as free-form objects, so every
//! field is optional here; a finding without a vulnerability id is skipped, and one
//! that a DT user dismissed (`NOT_AFFECTED`, `FALSE_POSITIVE`) or suppressed is left out.

use serde::Deserialize;

use crate::exposure::finding::{
    bounded_aliases, clipped, score, Analysis, Finding, Package, Severity, Vulnerability,
    MAX_FINDINGS,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFinding {
    component: RawComponent,
    vulnerability: RawVulnerability,
    analysis: RawAnalysis,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawComponent {
    name: Option<String>,
    group: Option<String>,
    version: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawVulnerability {
    vuln_id: Option<String>,
    source: Option<String>,
    aliases: Option<Vec<RawAlias>>,
    severity: Option<String>,
    cvss_v3_base_score: Option<f64>,
    cvss_v2_base_score: Option<f64>,
    epss_score: Option<f64>,
    epss_percentile: Option<f64>,
    patched_versions: Option<String>,
}

/// One alias entry: DT names each id by its source (`cveId`, `ghsaId`, `osvId`…).
#[derive(Deserialize, Default)]
#[serde(transparent)]
struct RawAlias(serde_json::Map<String, serde_json::Value>);

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawAnalysis {
    state: Option<String>,
    is_suppressed: Option<bool>,
}

/// What a findings answer held.
#[derive(Debug, Default)]
pub struct ReadFindings {
    /// Findings that count.
    pub findings: Vec<Finding>,
    /// Findings a DT user dismissed or suppressed.
    pub dismissed: usize,
    /// Entries without a vulnerability id.
    pub skipped: usize,
}

/// Reads DT's answer; an error when it is not a JSON array of objects.
pub fn read(json: &[u8]) -> Result<ReadFindings, String> {
    let raw: Vec<RawFinding> = serde_json::from_slice(json)
        .map_err(|err| format!("findings answer is not a list of findings: {err}"))?;
    let mut read = ReadFindings::default();
    for raw in raw.into_iter().take(MAX_FINDINGS) {
        let suppressed = raw.analysis.is_suppressed.unwrap_or(false);
        let state = raw.analysis.state.as_deref().unwrap_or("");
        if suppressed || Analysis::from_state(state) == Analysis::Dismissed {
            read.dismissed += 1;
            continue;
        }
        match finding(raw) {
            Some(finding) => read.findings.push(finding),
            None => read.skipped += 1,
        }
    }
    Ok(read)
}

fn finding(raw: RawFinding) -> Option<Finding> {
    let vulnerability = raw.vulnerability;
    let id = clipped(vulnerability.vuln_id.as_deref().unwrap_or("").trim());
    if id.is_empty() {
        return None;
    }
    let aliases = vulnerability
        .aliases
        .unwrap_or_default()
        .into_iter()
        .flat_map(|alias| alias.0.into_values())
        .filter_map(|value| value.as_str().map(str::to_owned));
    let component = raw.component;
    let name = match (component.group.as_deref(), component.name.as_deref()) {
        (Some(group), Some(name)) if !group.is_empty() => format!("{group}/{name}"),
        (_, name) => name.unwrap_or("").to_owned(),
    };
    Some(Finding {
        vulnerability: Vulnerability {
            aliases: bounded_aliases(&id, aliases),
            source: clipped(vulnerability.source.as_deref().unwrap_or("")),
            severity: Severity::from_name(vulnerability.severity.as_deref().unwrap_or("")),
            cvss: score(vulnerability.cvss_v3_base_score, 10.0)
                .or_else(|| score(vulnerability.cvss_v2_base_score, 10.0)),
            epss: score(vulnerability.epss_score, 1.0),
            epss_percentile: score(vulnerability.epss_percentile, 1.0),
            id,
        },
        package: Package {
            name: clipped(&name),
            version: clipped(component.version.as_deref().unwrap_or("")),
            purl: clipped(component.purl.as_deref().unwrap_or("")),
        },
        fixed_versions: clipped(vulnerability.patched_versions.as_deref().unwrap_or("")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dt_finding_becomes_a_finding_with_its_aliases_scores_and_fix() {
        let json = br#"[{"component":{"uuid":"c","name":"openssl","group":null,
            "version":"3.0.11-1~deb12u2","purl":"pkg:deb/debian/openssl@3.0.11-1~deb12u2",
            "project":"p"},
          "vulnerability":{"uuid":"v","source":"NVD","vulnId":"CVE-2024-5535",
            "aliases":[{"cveId":"CVE-2024-5535","ghsaId":"GHSA-xxxx-yyyy-zzzz"}],
            "cvssV3BaseScore":9.1,"severity":"CRITICAL","severityRank":0,
            "epssScore":0.0042,"epssPercentile":0.71,"patchedVersions":"3.0.14-1~deb12u1"},
          "analysis":{"state":"NOT_SET","isSuppressed":false},
          "matrix":"p:c:v"}]"#;
        let read = read(json).unwrap();
        assert_eq!(read.findings.len(), 1);
        let finding = &read.findings[0];
        assert_eq!(finding.vulnerability.id, "CVE-2024-5535");
        assert_eq!(finding.vulnerability.aliases, ["GHSA-xxxx-yyyy-zzzz"]);
        assert_eq!(finding.vulnerability.severity, Severity::Critical);
        assert_eq!(finding.vulnerability.cvss, Some(9.1));
        assert_eq!(finding.vulnerability.epss, Some(0.0042));
        assert_eq!(finding.package.name, "openssl");
        assert_eq!(finding.fixed_versions, "3.0.14-1~deb12u1");
    }

    #[test]
    fn dismissed_suppressed_and_idless_findings_do_not_count() {
        let json = br#"[
          {"vulnerability":{"vulnId":"CVE-1"},"analysis":{"state":"NOT_AFFECTED"}},
          {"vulnerability":{"vulnId":"CVE-2"},"analysis":{"state":"EXPLOITABLE","isSuppressed":true}},
          {"vulnerability":{"vulnId":""}},
          {"vulnerability":{"vulnId":"CVE-3","epssScore":7.0},
           "component":{"group":"org.example","name":"lib","version":"1"}}]"#;
        let read = read(json).unwrap();
        assert_eq!((read.dismissed, read.skipped), (2, 1));
        assert_eq!(read.findings.len(), 1);
        assert_eq!(read.findings[0].package.name, "org.example/lib");
        // An EPSS score above 1 is not an EPSS score.
        assert_eq!(read.findings[0].vulnerability.epss, None);
    }

    #[test]
    fn an_answer_that_is_not_a_list_is_an_error() {
        for bad in [&b"not json"[..], b"{\"a\":1}", b"[1,2]"] {
            assert!(read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
