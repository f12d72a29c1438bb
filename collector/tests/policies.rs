//! nodebom's policies in Dependency-Track (the KEV policy of `--kev-catalog`, and the
//! policy file's KEV, EPSS, severity and licence-group policies), against the
//! Dependency-Track test server playing 4.11 and 4.14.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TestCollector;
use nodebom_collector::config::ServeArgs;
use nodebom_collector::dtrack::policy::{file, sync_spec, KevCatalog, PolicySpec};
use nodebom_collector::dtrack::DtClient;
use nodebom_e2e::dtrack::{
    ConditionOperator, ConditionSubject, DtOptions, DtServer, NewPolicy, Policy, PolicyOperator,
    ViolationState,
};

/// CISA's KEV catalog of 2025-08-25 (1,404 CVEs).
const KEV: &[u8] = include_bytes!("../../e2e/fixtures/dtrack/cisa-kev-2025-08-25.json");

fn client(dt: &DtServer) -> DtClient {
    DtClient::new(dt.url().parse().unwrap(), dt.api_key().into()).unwrap()
}

fn dt(version: &str) -> DtServer {
    DtServer::start(DtOptions {
        version: version.into(),
        ..DtOptions::default()
    })
    .unwrap()
}

/// The values of the policy's conditions on `subject`, each with its operator.
fn conditions_on(
    policy: &Policy,
    subject: ConditionSubject,
) -> BTreeSet<(ConditionOperator, String)> {
    policy
        .conditions
        .iter()
        .filter(|c| c.subject == subject)
        .map(|c| (c.operator, c.value.clone()))
        .collect()
}

fn is(values: &[&str]) -> BTreeSet<(ConditionOperator, String)> {
    values
        .iter()
        .map(|v| (ConditionOperator::Is, v.to_string()))
        .collect()
}

/// The fixture catalog without its first `drop` entries and with `extra` CVEs.
fn catalog_changed(drop: usize, extra: &[&str]) -> KevCatalog {
    let mut catalog = KevCatalog::parse(KEV).unwrap();
    let dropped: Vec<String> = catalog.entries.keys().take(drop).cloned().collect();
    for cve in dropped {
        catalog.entries.remove(&cve);
    }
    catalog
        .entries
        .extend(extra.iter().map(|cve| (cve.to_string(), Arc::default())));
    catalog
}

#[tokio::test]
async fn kev_catalog_update_touches_only_the_changed_conditions() {
    let dt = dt("4.14.2");
    let client = client(&dt);
    let spec = PolicySpec::kev_only("nodebom-kev".into(), Vec::new());
    let catalog = KevCatalog::parse(KEV).unwrap();

    let first = sync_spec(&client, &spec, Some(&catalog), &[])
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.added, catalog.entries.len());
    let policy = dt.policy("nodebom-kev").unwrap();
    assert_eq!(
        (policy.operator, policy.violation_state),
        (PolicyOperator::Any, ViolationState::Fail)
    );
    let values: BTreeSet<String> = policy.conditions.iter().map(|c| c.value.clone()).collect();
    assert_eq!(values, catalog.entries.keys().cloned().collect());
    assert!(policy
        .conditions
        .iter()
        .all(|c| c.subject == ConditionSubject::VulnerabilityId
            && c.operator == ConditionOperator::Is));

    let before = dt.counters();
    let again = sync_spec(&client, &spec, Some(&catalog), &[])
        .await
        .unwrap();
    assert_eq!((again.created, again.added, again.removed), (false, 0, 0));

    let updated = catalog_changed(2, &["CVE-2099-0001"]);
    let third = sync_spec(&client, &spec, Some(&updated), &[])
        .await
        .unwrap();
    assert_eq!((third.added, third.removed), (1, 2));
    let after = dt.counters();
    assert_eq!(after.conditions_created - before.conditions_created, 1);
    assert_eq!(after.conditions_deleted - before.conditions_deleted, 2);
    assert_eq!(after.policies_created, 1);
    assert_eq!(after.policies_deleted, 0);
    let policy = dt.policy("nodebom-kev").unwrap();
    let values: BTreeSet<String> = policy.conditions.iter().map(|c| c.value.clone()).collect();
    assert_eq!(values, updated.entries.keys().cloned().collect());
    dt.assert_conformant();
}

#[tokio::test]
async fn existing_policy_is_kept_fixed_in_place_and_scoped_to_tags() {
    let dt = dt("4.14.2");
    let seeded = dt
        .seed_policy(
            NewPolicy::new("nodebom-kev", PolicyOperator::All, ViolationState::Warn)
                .condition(
                    ConditionSubject::VulnerabilityId,
                    ConditionOperator::Is,
                    "CVE-2025-48384",
                )
                .condition(
                    ConditionSubject::VulnerabilityId,
                    ConditionOperator::Is,
                    "CVE-1999-0001",
                ),
        )
        .unwrap();
    let spec = PolicySpec::kev_only("nodebom-kev".into(), vec!["cluster:prod-a".into()]);
    let catalog = KevCatalog::parse(KEV).unwrap();

    let sync = sync_spec(&client(&dt), &spec, Some(&catalog), &[])
        .await
        .unwrap();

    assert!(sync.updated);
    assert_eq!(
        (sync.created, sync.added, sync.removed),
        (false, catalog.entries.len() - 1, 1)
    );
    let policy = dt.policy("nodebom-kev").unwrap();
    assert_eq!(policy.uuid, seeded);
    assert_eq!(
        (policy.operator, policy.violation_state),
        (PolicyOperator::Any, ViolationState::Fail)
    );
    assert_eq!(policy.tags, BTreeSet::from(["cluster:prod-a".to_string()]));
    assert_eq!(policy.conditions.len(), catalog.entries.len());
    assert_eq!(dt.counters().policies_created, 0);
    dt.assert_conformant();
}

const POLICIES: &str = "\
policies:
  - name: nodebom-likely-exploited
    state: WARN
    when:
      kev: true
      epss: 0.4
  - name: nodebom-severe
    tags: [Cluster:Prod-A]
    when:
      severity: high
  - name: nodebom-copyleft
    state: INFO
    when:
      licenseGroups: [Copyleft, Weak Copyleft]
";

/// Syncs every policy of `text` as the collector does.
async fn sync_file(dt: &DtServer, text: &str, catalog: &KevCatalog) {
    let client = client(dt);
    let groups = client.license_groups().await.unwrap();
    for spec in file::parse(text).unwrap() {
        sync_spec(&client, &spec, Some(catalog), &groups)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_policy_file_becomes_dependency_track_policies_of_each_kind() {
    let dt = dt("4.14.2");
    let copyleft = dt.seed_license_group("Copyleft").to_string();
    let weak = dt.seed_license_group("Weak Copyleft").to_string();
    dt.seed_license_group("Permissive");
    let catalog = catalog_changed(1400, &[]);

    sync_file(&dt, POLICIES, &catalog).await;

    let likely = dt.policy("nodebom-likely-exploited").unwrap();
    assert_eq!(likely.violation_state, ViolationState::Warn);
    assert_eq!(likely.operator, PolicyOperator::Any);
    let cves: Vec<&str> = catalog.entries.keys().map(String::as_str).collect();
    assert_eq!(
        conditions_on(&likely, ConditionSubject::VulnerabilityId),
        is(&cves)
    );
    assert_eq!(
        conditions_on(&likely, ConditionSubject::Epss),
        BTreeSet::from([(
            ConditionOperator::NumericGreaterThanOrEqual,
            "0.4".to_string()
        )])
    );
    let severe = dt.policy("nodebom-severe").unwrap();
    assert_eq!(severe.violation_state, ViolationState::Fail);
    assert_eq!(
        conditions_on(&severe, ConditionSubject::Severity),
        is(&["CRITICAL", "HIGH"])
    );
    assert_eq!(severe.tags, BTreeSet::from(["cluster:prod-a".to_string()]));
    let licences = dt.policy("nodebom-copyleft").unwrap();
    assert_eq!(
        conditions_on(&licences, ConditionSubject::LicenseGroup),
        is(&[&copyleft, &weak])
    );

    // Lowering the severity adds one condition and leaves the others alone.
    let before = dt.counters();
    sync_file(
        &dt,
        &POLICIES.replace("severity: high", "severity: MEDIUM"),
        &catalog,
    )
    .await;
    let after = dt.counters();
    assert_eq!(after.conditions_created - before.conditions_created, 1);
    assert_eq!(after.conditions_deleted, before.conditions_deleted);
    assert_eq!(after.policies_created, 3);
    let severe = dt.policy("nodebom-severe").unwrap();
    assert_eq!(
        conditions_on(&severe, ConditionSubject::Severity),
        is(&["CRITICAL", "HIGH", "MEDIUM"])
    );
    dt.assert_conformant();
}

#[tokio::test]
async fn dependency_track_4_11_gets_the_policies_without_epss() {
    let dt = dt("4.11.7");
    dt.seed_license_group("Copyleft");
    dt.seed_license_group("Weak Copyleft");
    let catalog = catalog_changed(1400, &[]);

    let client = client(&dt);
    let groups = client.license_groups().await.unwrap();
    let mut synced = Vec::new();
    for spec in file::parse(POLICIES).unwrap() {
        let result = sync_spec(&client, &spec, Some(&catalog), &groups).await;
        synced.push((spec.name, result.map_err(|err| err.to_string())));
    }

    let likely = dt.policy("nodebom-likely-exploited").unwrap();
    assert!(conditions_on(&likely, ConditionSubject::Epss).is_empty());
    assert_eq!(likely.conditions.len(), catalog.entries.len());
    // 4.11 cannot limit a policy to tags: rather than judge every project, none is made.
    let (name, severe) = &synced[1];
    assert_eq!(name, "nodebom-severe");
    assert!(
        severe
            .as_ref()
            .unwrap_err()
            .contains("needs Dependency-Track 4.12"),
        "{severe:?}"
    );
    assert!(dt.policy("nodebom-severe").is_none());
    assert!(dt.policy("nodebom-copyleft").is_some());
    dt.assert_conformant();
}

#[tokio::test]
async fn an_unknown_licence_group_fails_its_policy_with_a_clear_error() {
    let dt = dt("4.14.2");
    let spec = file::parse("policies:\n- name: p\n  when: {licenseGroups: [Copyleft]}\n")
        .unwrap()
        .remove(0);
    let err = sync_spec(&client(&dt), &spec, None, &[]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no licence group named \"Copyleft\""),
        "{err}"
    );
    assert!(dt.policy("p").is_none());
}

/// A collector forwarding to `dt` with `flags`, its API key file in `dir`.
async fn serve(dt: &DtServer, dir: &Path, flags: &[&str]) -> TestCollector {
    TestCollector::forwarding_to(&dt.url(), dt.api_key(), dir, flags).await
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn kev_catalog_flag_keeps_the_policy() {
    let dt = dt("4.14.2");
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("kev.json");
    std::fs::write(&catalog, KEV).unwrap();
    let collector = serve(
        &dt,
        dir.path(),
        &["--kev-catalog", catalog.to_str().unwrap()],
    )
    .await;
    wait_for("KEV policy not kept", || {
        dt.policy("nodebom-kev")
            .is_some_and(|policy| policy.conditions.len() == 1404)
    })
    .await;
    collector.stop().await;
    assert_eq!(dt.counters().policies_created, 1);
    dt.assert_conformant();
}

#[tokio::test]
async fn the_policy_file_is_read_again_and_a_broken_edit_keeps_the_last_good_one() {
    let dt = dt("4.14.2");
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.yaml");
    std::fs::write(
        &policies,
        "policies:\n- name: severe\n  when: {severity: CRITICAL}\n",
    )
    .unwrap();
    let collector = serve(
        &dt,
        dir.path(),
        &[
            "--dtrack-policies",
            policies.to_str().unwrap(),
            "--dtrack-policy-interval",
            "200ms",
        ],
    )
    .await;
    let severities = |dt: &DtServer| {
        dt.policy("severe")
            .map(|policy| conditions_on(&policy, ConditionSubject::Severity))
    };
    wait_for("policy not created", || {
        severities(&dt) == Some(is(&["CRITICAL"]))
    })
    .await;

    std::fs::write(
        &policies,
        "policies:\n- name: severe\n  when: {severity: [HIGH}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(severities(&dt), Some(is(&["CRITICAL"])));

    std::fs::write(
        &policies,
        "policies:\n- name: severe\n  when: {severity: HIGH}\n",
    )
    .unwrap();
    wait_for("edit not applied", || {
        severities(&dt) == Some(is(&["CRITICAL", "HIGH"]))
    })
    .await;
    collector.stop().await;
    assert_eq!(dt.counters().policies_created, 1);
    dt.assert_conformant();
}

#[test]
fn bad_policy_settings_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "odt_key").unwrap();
    let policies = dir.path().join("policies.yaml");
    let resolve = |text: &str, extra: &[&str]| {
        std::fs::write(&policies, text).unwrap();
        let mut args = vec![
            "serve",
            "--dtrack-url",
            "https://dt.example.com",
            "--dtrack-api-key-file",
            key.to_str().unwrap(),
            "--dtrack-policies",
            policies.to_str().unwrap(),
        ];
        args.extend(extra);
        ServeArgs::try_parse_from(args).unwrap().resolve().map(drop)
    };
    let kev = "policies:\n- name: kev\n  when: {kev: true}\n";
    let err = resolve(kev, &[]).unwrap_err().to_string();
    assert!(err.contains("needs --kev-catalog"), "{err}");
    assert!(resolve(kev, &["--kev-catalog", "https://example.com/kev.json"]).is_ok());
    let err = resolve("policies:\n- name: a\n  when: {epss: 2}\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policies.yaml: policies[0]: when.epss"),
        "{err}"
    );
}
