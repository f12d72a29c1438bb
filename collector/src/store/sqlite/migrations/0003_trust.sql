-- nodebom collector schema, version 3: canonical SBOMs, their provenance and
-- completeness, and per-cluster verification of the fleet's copy.

-- What the fleet copy says about itself and who built it. Rows stored before version 3
-- keep '' (unknown) for agent_version and content_hash.
ALTER TABLE sboms ADD COLUMN agent_version      TEXT    NOT NULL DEFAULT '';
ALTER TABLE sboms ADD COLUMN content_hash       TEXT    NOT NULL DEFAULT '';
ALTER TABLE sboms ADD COLUMN incomplete         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sboms ADD COLUMN incomplete_reasons TEXT    NOT NULL DEFAULT '[]'; -- JSON array

-- Build claims per cluster: each cluster that has an image builds its SBOM once, either
-- the fleet copy (the first stored) or a check of it. Claims of version 2 move to the
-- cluster of their node.
CREATE TABLE sbom_claims_v3 (
    digest        TEXT    NOT NULL,
    cluster       TEXT    NOT NULL,
    node_id       INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    expires_at    INTEGER NOT NULL,
    failed_reason TEXT,
    PRIMARY KEY (digest, cluster)
) WITHOUT ROWID;
INSERT INTO sbom_claims_v3 (digest, cluster, node_id, expires_at, failed_reason)
    SELECT c.digest, n.cluster, c.node_id, c.expires_at, c.failed_reason
    FROM sbom_claims c JOIN nodes n ON n.id = c.node_id;
DROP TABLE sbom_claims;
ALTER TABLE sbom_claims_v3 RENAME TO sbom_claims;
CREATE INDEX sbom_claims_by_node ON sbom_claims (node_id);

-- What a cluster other than the fleet copy's found when it built the same image:
-- status 1 = verified (same content hash), 2 = conflict (different contents, same agent
-- version), 3 = unverified (different contents, but different agent versions or a fleet
-- copy without content hash). With 2 and 3 the cluster's own document is kept here and
-- is what the cluster's queries and Dependency-Track project show.
CREATE TABLE sbom_checks (
    digest             TEXT    NOT NULL REFERENCES sboms (digest) ON DELETE CASCADE,
    cluster            TEXT    NOT NULL,
    node               TEXT    NOT NULL,
    agent_version      TEXT    NOT NULL,
    status             INTEGER NOT NULL,
    note               TEXT    NOT NULL, -- why unverified; '' otherwise
    content_hash       TEXT    NOT NULL,
    checked_at         INTEGER NOT NULL,
    spec_version       TEXT,
    size               INTEGER,
    sha256             TEXT,
    component_count    INTEGER,
    incomplete         INTEGER,
    incomplete_reasons TEXT,
    document           BLOB,
    PRIMARY KEY (digest, cluster)
); -- a rowid table: rows hold documents

-- Components of the clusters' own copies.
CREATE TABLE sbom_check_components (
    component_id INTEGER NOT NULL REFERENCES components (id),
    digest       TEXT    NOT NULL,
    cluster      TEXT    NOT NULL,
    PRIMARY KEY (component_id, digest, cluster),
    FOREIGN KEY (digest, cluster) REFERENCES sbom_checks (digest, cluster) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX sbom_check_components_by_copy ON sbom_check_components (digest, cluster);
