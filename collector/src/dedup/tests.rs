use super::*;
use crate::digest::Digest;
use crate::sbom::cyclonedx::Completeness;

const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn hash(seed: char) -> Digest {
    crate::digest::parse("d", &format!("sha256:{}", seed.to_string().repeat(64))).unwrap()
}

fn fleet<'a>(agent_version: &'a str, content_hash: &'a str) -> FleetCopy<'a> {
    FleetCopy {
        content_hash,
        agent_version,
        incomplete: false,
    }
}

fn upload(agent_version: &str, content_hash: Digest, incomplete: bool) -> ValidatedSbom {
    ValidatedSbom {
        manifest_digest: crate::digest::parse("d", IMAGE).unwrap(),
        agent_version: agent_version.into(),
        spec_version: "1.5".into(),
        size: 10,
        sha256: hash('e'),
        document_zstd: Vec::new(),
        components: Vec::new(),
        content_hash,
        completeness: Completeness {
            incomplete,
            reasons: Vec::new(),
        },
    }
}

fn status(fleet: FleetCopy<'_>, upload: &ValidatedSbom) -> CheckStatus {
    let node = NodeKey::new("prod-b", "b1").unwrap();
    let check = check_against(fleet, &node, upload, Timestamp::from_unix_millis(2));
    assert_eq!(check.cluster, "prod-b");
    assert_eq!(check.content_hash, upload.content_hash.to_string());
    assert_eq!(
        check.note.is_empty(),
        check.status != CheckStatus::Unverified,
        "{check:?}"
    );
    check.status
}

#[test]
fn same_contents_verify_the_fleet_copy() {
    let hash_a = hash('a');
    let stored = fleet("0.2.0", hash_a.as_str());
    assert_eq!(
        status(stored, &upload("0.2.0", hash('a'), false)),
        CheckStatus::Verified
    );
    // Equal contents verify whatever built them.
    assert_eq!(
        status(stored, &upload("0.3.0", hash('a'), false)),
        CheckStatus::Verified
    );
}

#[test]
fn other_contents_from_the_same_agent_version_are_a_conflict() {
    let hash_a = hash('a');
    let stored = fleet("0.2.0", hash_a.as_str());
    assert_eq!(
        status(stored, &upload("0.2.0", hash('b'), false)),
        CheckStatus::Conflict
    );
}

#[test]
fn other_contents_that_cannot_be_compared_are_unverified() {
    let hash_a = hash('a');
    let stored = fleet("0.2.0", hash_a.as_str());
    assert_eq!(
        status(stored, &upload("0.3.0", hash('b'), false)),
        CheckStatus::Unverified
    );
    assert_eq!(
        status(stored, &upload("0.2.0", hash('b'), true)),
        CheckStatus::Unverified
    );
    let legacy = fleet("", "");
    assert_eq!(
        status(legacy, &upload("0.2.0", hash('b'), false)),
        CheckStatus::Unverified
    );
}

fn candidate(digest: &str, claim: Option<Claim>) -> Candidate {
    Candidate {
        digest: digest.into(),
        claim,
    }
}

fn policy(max_per_node: u32) -> ClaimPolicy {
    ClaimPolicy {
        max_per_node,
        ..ClaimPolicy::default()
    }
}

const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);

#[test]
fn running_images_are_claimed_first_then_by_digest_up_to_the_free_slots() {
    let running: HashSet<String> = ["sha256:c".to_owned()].into();
    let plan = plan_claims(
        vec![
            candidate("sha256:b", None),
            candidate("sha256:a", None),
            candidate("sha256:c", None),
        ],
        &running,
        7,
        1,
        policy(3),
        NOW,
    );
    assert_eq!(plan.take, ["sha256:c", "sha256:a"]);
    assert!(plan.pending, "sha256:b waits for a free slot");
}

#[test]
fn a_live_claim_of_another_node_is_left_and_an_expired_one_is_taken_over() {
    let other = |expires_at| Claim {
        node_id: 8,
        expires_at,
        failed: false,
    };
    let plan = plan_claims(
        vec![
            candidate(
                "sha256:a",
                Some(other(NOW.saturating_add(std::time::Duration::from_secs(1)))),
            ),
            candidate("sha256:b", Some(other(NOW))),
        ],
        &HashSet::new(),
        7,
        0,
        policy(4),
        NOW,
    );
    assert_eq!(plan.take, ["sha256:b"]);
    assert!(plan.pending);
}

#[test]
fn the_nodes_own_live_claim_is_neither_taken_again_nor_pending() {
    let own = Claim {
        node_id: 7,
        expires_at: NOW.saturating_add(std::time::Duration::from_secs(60)),
        failed: false,
    };
    let plan = plan_claims(
        vec![candidate("sha256:a", Some(own))],
        &HashSet::new(),
        7,
        1,
        policy(4),
        NOW,
    );
    assert_eq!(plan, ClaimPlan::default());
    // A failure it reported keeps the image from every node until the back-off ends.
    let failed = Claim {
        failed: true,
        ..own
    };
    let plan = plan_claims(
        vec![candidate("sha256:a", Some(failed))],
        &HashSet::new(),
        7,
        0,
        policy(4),
        NOW,
    );
    assert!(plan.take.is_empty() && plan.pending);
}

#[test]
fn uploads_need_the_image_and_no_live_claim_of_another_node() {
    let node = NodeKey::new("prod-a", "a1").unwrap();
    assert!(check_upload(&node, 7, "sha256:a", false, None, NOW).is_err());
    let theirs = Claim {
        node_id: 8,
        expires_at: NOW.saturating_add(std::time::Duration::from_secs(60)),
        failed: false,
    };
    let err = check_upload(&node, 7, "sha256:a", true, Some(theirs), NOW).unwrap_err();
    assert!(err.to_string().contains("another node"), "{err}");
    assert!(check_upload(
        &node,
        7,
        "sha256:a",
        true,
        Some(Claim {
            node_id: 7,
            ..theirs
        }),
        NOW
    )
    .is_ok());
    // A node that dropped the image while uploading may finish with its claim.
    assert!(check_put(
        &node,
        7,
        "sha256:a",
        false,
        Some(Claim {
            node_id: 7,
            ..theirs
        })
    )
    .is_ok());
    assert!(check_put(&node, 7, "sha256:a", false, Some(theirs)).is_err());
}
