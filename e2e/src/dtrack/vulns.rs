//! The vulnerability database, the internal analyzer that turns it into findings, and
//! the analyses users record on findings, as in Dependency-Track 4.11–4.14:
//!
//! - an analysis matches a component's purl with a vulnerability's affected packages by
//!   type, namespace and name (qualifiers ignored) and the purl's version against the
//!   affected versions; a component without a purl matches nothing (CPEs are not
//!   modelled);
//! - a finding once attached stays, with its first attribution time, until its
//!   component leaves the project; analyses never detach one;
//! - an analysis belongs to a component and a vulnerability, finding or not, and goes
//!   with the component.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use packageurl::PackageUrl;
use uuid::Uuid;

use super::model::{
    enum_name, Analysis, AnalysisComment, AnalysisJustification, AnalysisResponse, AnalysisState,
    Component, Finding, NewVulnerability,
};

/// A vulnerability in the database.
#[derive(Clone, Debug)]
pub(crate) struct Vulnerability {
    pub(crate) uuid: Uuid,
    pub(crate) spec: NewVulnerability,
    packages: Vec<AffectedPackage>,
}

/// An affected package, parsed once.
#[derive(Clone, Debug)]
struct AffectedPackage {
    package: Package,
    versions: BTreeSet<String>,
}

/// Type, namespace and name of a purl: what the internal analyzer compares.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Package {
    ty: String,
    namespace: Option<String>,
    name: String,
}

/// A vulnerability attached to a component.
#[derive(Clone, Debug)]
struct Attribution {
    component: Uuid,
    vulnerability: Uuid,
    attributed_on: i64,
}

/// A decision as `PUT /api/v1/analysis` carries it. Dependency-Track reads an absent
/// state, justification or response as NOT_SET (so it resets them), and an absent
/// `isSuppressed` or `analysisDetails` as "leave as it is".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AnalysisDecision {
    pub(crate) state: AnalysisState,
    pub(crate) justification: AnalysisJustification,
    pub(crate) response: AnalysisResponse,
    pub(crate) details: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) suppressed: Option<bool>,
}

impl AnalysisDecision {
    /// What a user sets in the UI: a state and the suppression flag.
    pub(crate) fn of(state: AnalysisState, suppressed: bool) -> AnalysisDecision {
        AnalysisDecision {
            state,
            justification: AnalysisJustification::NotSet,
            response: AnalysisResponse::NotSet,
            details: None,
            comment: None,
            suppressed: Some(suppressed),
        }
    }
}

/// Vulnerabilities, findings and analyses.
#[derive(Default)]
pub(crate) struct Vulns {
    vulnerabilities: Vec<Vulnerability>,
    /// Project → findings, in the order they were attached (Dependency-Track lists them
    /// in attribution order).
    findings: BTreeMap<Uuid, Vec<Attribution>>,
    /// (component, vulnerability) → analysis.
    analyses: BTreeMap<(Uuid, Uuid), Analysis>,
}

impl Vulns {
    /// Adds a vulnerability; its id must be new for its source, and its affected purls
    /// valid and without version, qualifiers or subpath.
    pub(crate) fn add(&mut self, spec: NewVulnerability) -> Result<Uuid, String> {
        if spec.vuln_id.trim().is_empty() {
            return Err("a vulnerability needs an id".into());
        }
        if self
            .vulnerabilities
            .iter()
            .any(|v| v.spec.vuln_id == spec.vuln_id && v.spec.source == spec.source)
        {
            return Err(format!(
                "{} from {:?} is already in the database",
                spec.vuln_id, spec.source
            ));
        }
        let packages = spec
            .affects
            .iter()
            .map(|affected| {
                let purl = PackageUrl::from_str(&affected.purl)
                    .map_err(|e| format!("affected purl {}: {e}", affected.purl))?;
                if purl.version().is_some()
                    || !purl.qualifiers().is_empty()
                    || purl.subpath().is_some()
                {
                    return Err(format!(
                        "affected purl {}: give type, namespace and name only; versions go \
                         in the version list",
                        affected.purl
                    ));
                }
                Ok(AffectedPackage {
                    package: Package::of(&purl),
                    versions: affected.versions.iter().cloned().collect(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let uuid = Uuid::new_v4();
        self.vulnerabilities.push(Vulnerability {
            uuid,
            spec,
            packages,
        });
        Ok(uuid)
    }

    pub(crate) fn vulnerability(&self, uuid: Uuid) -> Option<&Vulnerability> {
        self.vulnerabilities.iter().find(|v| v.uuid == uuid)
    }

    /// Every vulnerability with this id, whatever its source.
    pub(crate) fn with_id(&self, vuln_id: &str) -> Vec<&Vulnerability> {
        self.vulnerabilities
            .iter()
            .filter(|v| v.spec.vuln_id == vuln_id)
            .collect()
    }

    /// The internal analyzer on `components` of `project`: attaches every matching
    /// vulnerability not attached yet, attributed at `at` (epoch milliseconds).
    pub(crate) fn analyze(&mut self, project: Uuid, components: &[Component], at: i64) {
        let findings = self.findings.entry(project).or_default();
        for component in components {
            let Some((package, version)) = component.purl.as_deref().and_then(parse_purl) else {
                continue;
            };
            for vulnerability in &self.vulnerabilities {
                let affected = vulnerability.packages.iter().any(|affected| {
                    affected.package == package
                        && version
                            .as_ref()
                            .is_some_and(|v| affected.versions.contains(v))
                });
                let attached = findings.iter().any(|f| {
                    f.component == component.uuid && f.vulnerability == vulnerability.uuid
                });
                if affected && !attached {
                    findings.push(Attribution {
                        component: component.uuid,
                        vulnerability: vulnerability.uuid,
                        attributed_on: at,
                    });
                }
            }
        }
    }

    /// Forgets the findings and analyses of `removed` components of `project`, as
    /// deleting a component does.
    pub(crate) fn forget_components(&mut self, project: Uuid, removed: &BTreeSet<Uuid>) {
        if let Some(findings) = self.findings.get_mut(&project) {
            findings.retain(|f| !removed.contains(&f.component));
        }
        self.analyses
            .retain(|(component, _), _| !removed.contains(component));
    }

    /// `project`'s findings, in attribution order, with their components from
    /// `components` (findings of components not there are skipped).
    pub(crate) fn findings(&self, project: Uuid, components: &[Component]) -> Vec<Finding> {
        self.findings
            .get(&project)
            .into_iter()
            .flatten()
            .filter_map(|attribution| {
                let component = components
                    .iter()
                    .find(|c| c.uuid == attribution.component)?;
                let vulnerability = self.vulnerability(attribution.vulnerability)?;
                Some(Finding {
                    component: component.clone(),
                    vulnerability: vulnerability.uuid,
                    vuln_id: vulnerability.spec.vuln_id.clone(),
                    source: vulnerability.spec.source,
                    attributed_on: attribution.attributed_on,
                    analysis: self
                        .analyses
                        .get(&(component.uuid, vulnerability.uuid))
                        .cloned(),
                })
            })
            .collect()
    }

    pub(crate) fn analysis(&self, component: Uuid, vulnerability: Uuid) -> Option<&Analysis> {
        self.analyses.get(&(component, vulnerability))
    }

    /// Records `decision` as Dependency-Track's `updateAnalysis` does: a new analysis
    /// starts at NOT_SET and unsuppressed, every change leaves a comment in the trail,
    /// then the request's own comment.
    pub(crate) fn record_analysis(
        &mut self,
        component: Uuid,
        vulnerability: Uuid,
        decision: AnalysisDecision,
        commenter: Option<&str>,
        at: i64,
    ) -> Analysis {
        let analysis = self
            .analyses
            .entry((component, vulnerability))
            .or_insert_with(|| Analysis {
                state: AnalysisState::NotSet,
                justification: AnalysisJustification::NotSet,
                response: AnalysisResponse::NotSet,
                details: None,
                suppressed: false,
                comments: Vec::new(),
            });
        let mut trail = Vec::new();
        if analysis.state != decision.state {
            trail.push(format!(
                "Analysis: {} → {}",
                enum_name(analysis.state),
                enum_name(decision.state)
            ));
        }
        if analysis.justification != decision.justification {
            trail.push(format!(
                "Justification: {} → {}",
                enum_name(analysis.justification),
                enum_name(decision.justification)
            ));
        }
        if analysis.response != decision.response {
            trail.push(format!(
                "Vendor Response: {} → {}",
                enum_name(analysis.response),
                enum_name(decision.response)
            ));
        }
        if let Some(details) = &decision.details {
            if analysis.details.as_deref().unwrap_or_default() != details {
                trail.push(format!("Details: {details}"));
            }
        }
        if let Some(suppressed) = decision.suppressed {
            if analysis.suppressed != suppressed {
                trail.push(
                    if suppressed {
                        "Suppressed"
                    } else {
                        "Unsuppressed"
                    }
                    .into(),
                );
            }
        }
        analysis.state = decision.state;
        analysis.justification = decision.justification;
        analysis.response = decision.response;
        if decision.details.is_some() {
            analysis.details = decision.details;
        }
        if let Some(suppressed) = decision.suppressed {
            analysis.suppressed = suppressed;
        }
        trail.extend(decision.comment.filter(|c| !c.trim().is_empty()));
        analysis
            .comments
            .extend(trail.into_iter().map(|comment| AnalysisComment {
                timestamp: at,
                comment,
                commenter: commenter.map(String::from),
            }));
        analysis.clone()
    }
}

impl Package {
    fn of(purl: &PackageUrl) -> Package {
        Package {
            ty: purl.ty().to_string(),
            namespace: purl.namespace().map(String::from),
            name: purl.name().to_string(),
        }
    }
}

/// The package and version of a component's purl; `None` when it is not a purl.
fn parse_purl(purl: &str) -> Option<(Package, Option<String>)> {
    let parsed = PackageUrl::from_str(purl).ok()?;
    Some((Package::of(&parsed), parsed.version().map(String::from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtrack::model::{Severity, VulnSource};

    fn component(purl: &str) -> Component {
        Component {
            uuid: Uuid::new_v4(),
            name: "c".into(),
            version: None,
            group: None,
            purl: Some(purl.into()),
        }
    }

    #[test]
    fn purls_match_on_type_namespace_name_and_exact_version_ignoring_qualifiers() {
        let mut vulns = Vulns::default();
        vulns
            .add(
                NewVulnerability::new("CVE-2024-5535", VulnSource::Nvd, Severity::Critical)
                    .affects("pkg:deb/debian/openssl", ["3.0.11-1~deb12u2"]),
            )
            .unwrap();
        let project = Uuid::new_v4();
        let components = [
            component("pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"),
            component("pkg:deb/debian/openssl@3.0.11-1~deb12u3?arch=amd64"),
            component("pkg:deb/ubuntu/openssl@3.0.11-1~deb12u2"),
            component("pkg:rpm/debian/openssl@3.0.11-1~deb12u2"),
            component("not a purl"),
        ];
        vulns.analyze(project, &components, 1);
        let found: Vec<Uuid> = vulns
            .findings(project, &components)
            .iter()
            .map(|f| f.component.uuid)
            .collect();
        assert_eq!(found, [components[0].uuid]);
    }

    #[test]
    fn affected_purls_must_not_carry_a_version_or_qualifiers() {
        let mut vulns = Vulns::default();
        for purl in ["pkg:npm/a@1", "pkg:npm/a?x=1", "not a purl"] {
            let spec =
                NewVulnerability::new("X-1", VulnSource::Osv, Severity::Low).affects(purl, ["1"]);
            assert!(vulns.add(spec).is_err(), "{purl}");
        }
        let spec = NewVulnerability::new("X-1", VulnSource::Osv, Severity::Low);
        vulns.add(spec.clone()).unwrap();
        assert!(vulns.add(spec).is_err(), "same id and source twice");
    }

    #[test]
    fn reanalysis_keeps_the_first_attribution_and_analyses_go_with_their_component() {
        let mut vulns = Vulns::default();
        let vuln = vulns
            .add(
                NewVulnerability::new("GHSA-1", VulnSource::Github, Severity::High)
                    .affects("pkg:npm/%40scope/lib", ["1.0.0"]),
            )
            .unwrap();
        let project = Uuid::new_v4();
        let components = vec![component("pkg:npm/@scope/lib@1.0.0")];
        vulns.analyze(project, &components, 10);
        vulns.analyze(project, &components, 20);
        let findings = vulns.findings(project, &components);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].attributed_on, 10);

        vulns.record_analysis(
            components[0].uuid,
            vuln,
            AnalysisDecision::of(AnalysisState::FalsePositive, true),
            None,
            30,
        );
        assert!(vulns.findings(project, &components)[0].suppressed());
        vulns.forget_components(project, &BTreeSet::from([components[0].uuid]));
        assert!(vulns.findings(project, &components).is_empty());
        assert!(vulns.analysis(components[0].uuid, vuln).is_none());
    }

    #[test]
    fn an_analysis_without_state_resets_it_and_keeps_suppression() {
        let mut vulns = Vulns::default();
        let (component, vuln) = (Uuid::new_v4(), Uuid::new_v4());
        vulns.record_analysis(
            component,
            vuln,
            AnalysisDecision::of(AnalysisState::Exploitable, true),
            None,
            1,
        );
        let analysis = vulns.record_analysis(
            component,
            vuln,
            AnalysisDecision {
                details: Some("looked again".into()),
                comment: Some("ok".into()),
                suppressed: None,
                ..AnalysisDecision::of(AnalysisState::NotSet, false)
            },
            Some("admin"),
            2,
        );
        assert_eq!(analysis.state, AnalysisState::NotSet);
        assert!(analysis.suppressed);
        let trail: Vec<&str> = analysis
            .comments
            .iter()
            .map(|c| c.comment.as_str())
            .collect();
        assert_eq!(
            trail,
            [
                "Analysis: NOT_SET → EXPLOITABLE",
                "Suppressed",
                "Analysis: EXPLOITABLE → NOT_SET",
                "Details: looked again",
                "ok"
            ]
        );
    }
}
