//! Brings one DT policy in line with what nodebom wants of it, in place: conditions are
//! diffed on (subject, operator, value) and only the changed ones are added or deleted;
//! the policy itself is never recreated, since that would clear its violations.

use std::collections::{BTreeMap, BTreeSet};

use crate::dtrack::{DtClient, DtError};

/// A condition as DT stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Condition {
    /// E.g. `VULNERABILITY_ID`.
    pub subject: &'static str,
    /// E.g. `IS`.
    pub operator: &'static str,
    /// Compared value.
    pub value: String,
}

/// A policy as nodebom wants it in DT; violated when any condition holds.
#[derive(Debug, Clone)]
pub struct WantedPolicy<'a> {
    /// Name, which identifies it.
    pub name: &'a str,
    /// `FAIL`, `WARN` or `INFO`.
    pub state: &'static str,
    /// Exactly the conditions it has.
    pub conditions: BTreeSet<Condition>,
    /// Tags it is limited to, added to those it has.
    pub scope_tags: &'a [String],
    /// Create those tags first (DT 4.13+); before, they must exist.
    pub create_tags: bool,
}

/// DT's operator for a policy violated when any condition holds.
const ANY: &str = "ANY";

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicySync {
    /// The policy did not exist and was created.
    pub created: bool,
    /// Its operator or violation state were changed.
    pub updated: bool,
    /// Conditions added.
    pub added: usize,
    /// Conditions deleted.
    pub removed: usize,
}

/// Makes the DT policy `wanted.name` hold exactly `wanted.conditions`, with operator
/// ANY and `wanted.state`, touching only what differs. Conditions nodebom did not ask
/// for are deleted too: the policy belongs to nodebom.
pub async fn sync_policy(
    client: &DtClient,
    wanted: &WantedPolicy<'_>,
) -> Result<PolicySync, DtError> {
    let mut sync = PolicySync::default();
    let policy = match client.find_policy(wanted.name).await? {
        Some(policy) => policy,
        None => {
            sync.created = true;
            client.create_policy(wanted.name, ANY, wanted.state).await?
        }
    };
    if policy.operator != ANY || policy.violation_state != wanted.state {
        client.update_policy(&policy, ANY, wanted.state).await?;
        sync.updated = true;
    }
    let mut present: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for condition in &policy.policy_conditions {
        present
            .entry((
                condition.subject.as_str(),
                condition.operator.as_str(),
                condition.value.as_str(),
            ))
            .or_default()
            .push(condition.uuid.as_str());
    }
    fn key(c: &Condition) -> (&str, &str, &str) {
        (c.subject, c.operator, c.value.as_str())
    }
    let wanted_keys: BTreeSet<(&str, &str, &str)> = wanted.conditions.iter().map(key).collect();
    for condition in wanted
        .conditions
        .iter()
        .filter(|c| !present.contains_key(&key(c)))
    {
        client
            .add_condition(
                &policy.uuid,
                condition.subject,
                condition.operator,
                &condition.value,
            )
            .await?;
        sync.added += 1;
    }
    // Keep one condition per wanted key; delete duplicates and what is not wanted.
    let unwanted = present
        .iter()
        .flat_map(|(key, uuids)| uuids.iter().skip(usize::from(wanted_keys.contains(key))));
    for uuid in unwanted {
        client.delete_condition(uuid).await?;
        sync.removed += 1;
    }
    let bound: BTreeSet<&str> = policy.tags.iter().map(|tag| tag.name.as_str()).collect();
    for tag in wanted
        .scope_tags
        .iter()
        .filter(|tag| !bound.contains(tag.as_str()))
    {
        client
            .tag_policy(tag, &policy.uuid, wanted.create_tags)
            .await?;
    }
    Ok(sync)
}
